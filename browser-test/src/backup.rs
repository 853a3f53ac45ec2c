//! System → Backup and System → Restore on the dashboard as the Appliance
//! Administrator uses them: the passphrase twice, Create,
//! the download through the browser; the upload with the passphrase, the
//! summary of what the file holds, the component choice, Restore, and the
//! message of success per component. Every page gets [`Page::check`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::Page;

/// Reloads `path` until its text contains one of `done` (returned) or
/// one of `failed` (an error), within `timeout`.
async fn until(
    r: &mut Page,
    path: &str,
    done: &[&str],
    failed: &[&str],
    timeout: Duration,
) -> Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        r.goto(path).await?;
        let text = r.text().await?;
        if let Some(f) = failed.iter().find(|f| text.contains(*f)) {
            bail!("{path}: {f}: {text}");
        }
        if done.iter().any(|d| text.contains(d)) {
            return Ok(text);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{path} did not show {done:?} within {timeout:?}: {text}");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// System → Backup: a backup of every component in one file, downloaded
/// by the page (its link fetched in the browser) into `downloads`;
/// returns the file's path.
pub async fn create_and_download(
    r: &mut Page,
    passphrase: &str,
    downloads: &Path,
    timeout: Duration,
) -> Result<PathBuf> {
    let files = create(r, passphrase, downloads, timeout, false).await?;
    match <[PathBuf; 1]>::try_from(files) {
        Ok([file]) => Ok(file),
        Err(files) => bail!("one file was to be offered, the page offered {files:?}"),
    }
}

/// The key file and the data file of a backup written as two files.
#[derive(Debug, Clone)]
pub struct SplitFiles {
    /// `…_key.backup.age`: the database key alone.
    pub key: PathBuf,
    /// `…_data.backup.age`: every other component.
    pub data: PathBuf,
}

/// System → Backup with "the database key alone and the data alone, as two
/// files": both downloaded by the page into `downloads`.
pub async fn create_split_and_download(
    r: &mut Page,
    passphrase: &str,
    downloads: &Path,
    timeout: Duration,
) -> Result<SplitFiles> {
    let files = create(r, passphrase, downloads, timeout, true).await?;
    let named = |end: &str| {
        files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(end))
            .cloned()
            .with_context(|| format!("no file ending in {end} among {files:?}"))
    };
    ensure!(files.len() == 2, "two files were to be offered: {files:?}");
    Ok(SplitFiles {
        key: named("_key.backup.age")?,
        data: named("_data.backup.age")?,
    })
}

/// The form (two different passphrases refused first, then the right
/// ones; `split` chooses two files), the job followed until the files
/// are offered, and every offered file downloaded.
async fn create(
    r: &mut Page,
    passphrase: &str,
    downloads: &Path,
    timeout: Duration,
    split: bool,
) -> Result<Vec<PathBuf>> {
    r.goto("/system/backup").await?;
    r.check("backup").await?;
    // Two passphrases that differ first: refused next to the field.
    r.type_in("passphrase", passphrase).await?;
    r.type_in("passphrase2", &format!("{passphrase}x")).await?;
    r.submit().await?;
    let errors = r
        .js(
            "return [...document.querySelectorAll('.field-error')].map(e => e.textContent.trim())",
            vec![],
        )
        .await?;
    ensure!(
        errors.as_array().is_some_and(|a| !a.is_empty()),
        "two different passphrases were not refused: {}",
        r.text().await?
    );
    r.check("backup-errors").await?;
    r.type_in("passphrase", passphrase).await?;
    r.type_in("passphrase2", passphrase).await?;
    if split {
        // The radio group is the next Tab stop; the arrow key moves the
        // choice.
        r.tab_to("files-all").await?;
        r.press(fantoccini::key::Key::Down).await?;
        ensure!(
            r.checked("files-split").await?,
            "the arrow key did not choose the two files"
        );
        r.click("form[action='/system/backup'] button[type=submit]")
            .await?;
    } else {
        r.submit().await?;
    }
    until(
        r,
        "/system/backup",
        &["Ready for download"],
        &["The backup failed"],
        timeout,
    )
    .await?;
    r.check("backup-ready").await?;
    let names = r
        .js(
            "return [...document.querySelectorAll('#downloads a')].map(a => a.getAttribute('download'))",
            vec![],
        )
        .await?;
    let names = strings(&names);
    ensure!(!names.is_empty(), "no file to download on System → Backup");
    let mut files = Vec::new();
    for (i, name) in names.iter().enumerate() {
        files.push(download(r, i, name, downloads).await?);
    }
    Ok(files)
}

/// The page itself fetches its `i`-th download link (same session, same
/// pinned connection) and hands the bytes over as hex; the file is
/// removed from the appliance once sent, so there is one download.
async fn download(r: &mut Page, i: usize, name: &str, downloads: &Path) -> Result<PathBuf> {
    ensure!(
        name.ends_with(".backup.age") && !name.contains('/'),
        "an odd file name: {name}"
    );
    let got = r
        .js(
            "const a = document.querySelectorAll('#downloads a')[arguments[0]]; \
             return fetch(a.href, {credentials: 'same-origin'}).then(async resp => ({ \
               status: resp.status, \
               disposition: resp.headers.get('content-disposition') || '', \
               hex: Array.from(new Uint8Array(await resp.arrayBuffer()), b => b.toString(16).padStart(2, '0')).join('') }))",
            vec![json!(i)],
        )
        .await?;
    ensure!(got["status"] == 200, "downloading {name}: {got}");
    let disposition = got["disposition"].as_str().unwrap_or_default();
    ensure!(
        disposition.starts_with("attachment") && disposition.contains(name),
        "the download of {name} is not an attachment: {disposition:?}"
    );
    let bytes = unhex(got["hex"].as_str().unwrap_or_default())
        .with_context(|| format!("the bytes of {name}"))?;
    ensure!(!bytes.is_empty(), "{name} is empty");
    std::fs::create_dir_all(downloads)?;
    let file = downloads.join(name);
    std::fs::write(&file, &bytes).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

fn unhex(text: &str) -> Result<Vec<u8>> {
    ensure!(text.len().is_multiple_of(2), "an odd number of hex digits");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).with_context(|| format!("not hex at {i}")))
        .collect()
}

/// What the summary page showed before the restore.
#[derive(Debug, Clone)]
pub struct Summary {
    pub text: String,
    /// The component ids offered (ticked by default).
    pub components: Vec<String>,
}

/// System → Restore: uploads `file` with `passphrase`, waits for the
/// check, returns the summary (nothing is restored yet).
pub async fn upload(
    r: &mut Page,
    file: &Path,
    passphrase: &str,
    timeout: Duration,
) -> Result<Summary> {
    upload_files(r, &[file], passphrase, timeout).await
}

/// System → Restore with one file, or a backup's key file and data file
/// (the second in the form's "Second file"): uploads them with
/// `passphrase`, waits for the check, returns the summary (nothing is
/// restored yet).
pub async fn upload_files(
    r: &mut Page,
    files: &[&Path],
    passphrase: &str,
    timeout: Duration,
) -> Result<Summary> {
    ensure!(
        matches!(files.len(), 1 | 2),
        "the form takes one or two files, not {}",
        files.len()
    );
    r.goto("/system/restore").await?;
    r.check("restore").await?;
    for (id, file) in ["file", "file2"].iter().zip(files) {
        r.tab_to(id).await?;
        r.c.active_element()
            .await?
            .send_keys(file.to_str().context("a UTF-8 backup path")?)
            .await?;
    }
    r.type_in("passphrase", passphrase).await?;
    r.submit().await?;
    let text = until(
        r,
        "/system/restore",
        &["Choose the data to restore"],
        &["The file was refused"],
        timeout,
    )
    .await?;
    r.check("restore-summary").await?;
    let ids = r
        .js(
            "return [...document.querySelectorAll('input[name=component]')].map(e => e.value)",
            vec![],
        )
        .await?;
    let components = strings(&ids);
    Ok(Summary { text, components })
}

/// On the summary page: keeps `chosen` ticked (the others unticked),
/// Restore, and waits until every chosen component has its message of
/// success. Returns the final page's text.
pub async fn restore(r: &mut Page, chosen: &[&str], timeout: Duration) -> Result<String> {
    r.js(
        "for (const e of document.querySelectorAll('input[name=component]')) { e.checked = arguments[0].includes(e.value); } return true",
        vec![json!(chosen)],
    )
    .await?;
    r.click("form[action='/system/restore'] button[type=submit]")
        .await?;
    let text = until(
        r,
        "/system/restore",
        &["Done: "],
        &["The restore was refused"],
        timeout,
    )
    .await?;
    r.check("restore-done").await?;
    Ok(text)
}

/// The strings of a JSON array a page's script returned (none if it is
/// not one).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}
