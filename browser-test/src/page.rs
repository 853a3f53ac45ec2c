//! One browser tab on the server under test: the keyboard (WebDriver key
//! actions: Tab, Space, arrows, Enter, text) and the checks of every page.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

/// The most bytes one page may transfer, document and assets together.
pub const PAGE_BUDGET: f64 = 100.0 * 1024.0;

/// What [`Page::check`] measured on one page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageFigures {
    /// Bytes transferred (document and assets).
    pub bytes: f64,
    /// axe-core rules that passed.
    pub axe_passes: u64,
    /// axe-core findings below serious.
    pub axe_minor: usize,
}

/// A tab on `base` (`https://host:port`, the only origin its pages may
/// load from), with axe-core's source to inject and a directory for the
/// numbered screenshots.
pub struct Page {
    pub c: Client,
    pub base: String,
    axe: String,
    shots: PathBuf,
    n: usize,
}

impl Page {
    /// `shots` is emptied and created.
    pub fn new(c: Client, base: &str, axe: String, shots: PathBuf) -> Result<Page> {
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).with_context(|| format!("creating {}", shots.display()))?;
        Ok(Page {
            c,
            base: base.trim_end_matches('/').to_string(),
            axe,
            shots,
            n: 0,
        })
    }

    /// Where the screenshots go.
    pub fn shots(&self) -> &std::path::Path {
        &self.shots
    }

    /// Opens `path` on the base origin.
    pub async fn goto(&self, path: &str) -> Result<()> {
        let url = format!("{}{path}", self.base);
        self.c
            .goto(&url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// Runs `script` with `args` and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.c
            .execute(script, args)
            .await
            .with_context(|| format!("running {script:?}"))
    }

    /// Presses and releases each key in turn.
    pub async fn keys(&self, keys: &[char]) -> Result<()> {
        let mut a = KeyActions::new("keyboard".into());
        for k in keys {
            a = a
                .then(KeyAction::Down { value: *k })
                .then(KeyAction::Up { value: *k });
        }
        self.c.perform_actions(a).await.context("key actions")
    }

    pub async fn press(&self, k: Key) -> Result<()> {
        self.keys(&[char::from(k)]).await
    }

    /// The id of the focused element (empty without one).
    pub async fn active_id(&self) -> Result<String> {
        let v = self
            .js(
                "return document.activeElement ? document.activeElement.id : ''",
                vec![],
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Tabs forward to the control `id` (the keyboard's only way there).
    pub async fn tab_to(&self, id: &str) -> Result<()> {
        for _ in 0..120 {
            if self.active_id().await? == id {
                return Ok(());
            }
            self.press(Key::Tab).await?;
        }
        bail!("Tab never reached #{id} on {}", self.path().await?)
    }

    /// Tabs to `id`, selects what is there (Ctrl+A), deletes it and types `text`.
    pub async fn type_in(&self, id: &str, text: &str) -> Result<()> {
        self.tab_to(id).await?;
        let ctrl = char::from(Key::Control);
        let bs = char::from(Key::Backspace);
        let mut a = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: ctrl })
            .then(KeyAction::Down { value: 'a' })
            .then(KeyAction::Up { value: 'a' })
            .then(KeyAction::Up { value: ctrl })
            .then(KeyAction::Down { value: bs })
            .then(KeyAction::Up { value: bs });
        for ch in text.chars() {
            a = a
                .then(KeyAction::Down { value: ch })
                .then(KeyAction::Up { value: ch });
        }
        self.c
            .perform_actions(a)
            .await
            .with_context(|| format!("typing into #{id}"))
    }

    /// The value of the control `id`.
    pub async fn value(&self, id: &str) -> Result<Value> {
        self.js(
            "const e = document.getElementById(arguments[0]); return e ? e.value : null",
            vec![json!(id)],
        )
        .await
    }

    /// Tabs to the select `id` and moves to the option `value` with Home
    /// and the arrow keys.
    pub async fn choose(&self, id: &str, value: &str) -> Result<()> {
        self.tab_to(id).await?;
        self.press(Key::Home).await?;
        for _ in 0..600 {
            if self.value(id).await? == json!(value) {
                return Ok(());
            }
            self.press(Key::Down).await?;
        }
        bail!("#{id} has no option {value:?}")
    }

    /// Whether checkbox/radio `id` is ticked.
    pub async fn checked(&self, id: &str) -> Result<bool> {
        let v = self
            .js(
                "const e = document.getElementById(arguments[0]); return e ? e.checked : null",
                vec![json!(id)],
            )
            .await?;
        v.as_bool().with_context(|| format!("no checkbox #{id}"))
    }

    /// Tabs to checkbox `id` and presses Space if it is not `on`.
    pub async fn tick(&self, id: &str, on: bool) -> Result<()> {
        self.tab_to(id).await?;
        if self.checked(id).await? != on {
            self.press(Key::Space).await?;
        }
        ensure!(self.checked(id).await? == on, "Space did not set #{id}");
        Ok(())
    }

    /// Tabs to `id` and presses Enter (in a field: the form's first
    /// button, Next), waiting for the next document.
    pub async fn enter_on(&self, id: &str) -> Result<()> {
        self.tab_to(id).await?;
        self.submit().await
    }

    /// Waits (`timeout`) for a complete document that [`Page::mark_old`]
    /// did not mark: a page still showing is not taken for the new one.
    async fn next_document(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self
                .c
                .execute(
                    "return !window.__pageOld && document.readyState === 'complete'",
                    vec![],
                )
                .await;
            if matches!(v, Ok(Value::Bool(true))) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("no new page within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn mark_old(&self) -> Result<()> {
        self.js("window.__pageOld = true; return true", vec![])
            .await
            .map(|_| ())
    }

    /// Presses Enter and waits for the next document (60 s).
    pub async fn submit(&self) -> Result<()> {
        self.mark_old().await?;
        self.press(Key::Enter).await?;
        self.next_document(Duration::from_secs(60)).await
    }

    /// Clicks the element `css` and waits for the next document (60 s).
    pub async fn click(&self, css: &str) -> Result<()> {
        self.mark_old().await?;
        self.c
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no {css}"))?
            .click()
            .await
            .with_context(|| format!("clicking {css}"))?;
        self.next_document(Duration::from_secs(60)).await
    }

    /// Waits until the document is complete (30 s).
    pub async fn loaded(&self) -> Result<()> {
        for _ in 0..300 {
            if self.js("return document.readyState", vec![]).await? == "complete" {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the page did not finish loading within 30 s")
    }

    /// The page's visible text.
    pub async fn text(&self) -> Result<String> {
        let body = self.c.find(Locator::Css("body")).await.context("no body")?;
        body.text().await.context("the body's text")
    }

    /// The current URL's path.
    pub async fn path(&self) -> Result<String> {
        Ok(self.c.current_url().await?.path().to_string())
    }

    /// Fails unless the current path is `want`, quoting the page.
    pub async fn expect_path(&self, want: &str) -> Result<()> {
        let got = self.path().await?;
        if got != want {
            bail!("at {got}, not {want}: {}", self.text().await?);
        }
        Ok(())
    }

    /// Saves a numbered screenshot `NN-name.png`.
    pub async fn screenshot(&mut self, name: &str) -> Result<()> {
        self.n += 1;
        let png = self.c.screenshot().await.context("a screenshot")?;
        let file = self.shots.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&file, png).with_context(|| format!("writing {}", file.display()))
    }

    /// The checks of every page, `name` naming its screenshot: loaded, a
    /// screenshot, every request to the base origin, at most
    /// [`PAGE_BUDGET`] bytes, axe-core without a serious or critical
    /// violation.
    pub async fn check(&mut self, name: &str) -> Result<PageFigures> {
        self.loaded().await?;
        self.screenshot(name).await?;
        let entries = self
            .js(
                "return performance.getEntries().filter(e => e.entryType === 'navigation' || e.entryType === 'resource').map(e => ({name: e.name, size: e.transferSize}))",
                vec![],
            )
            .await?;
        let entries = entries.as_array().context("performance entries")?;
        ensure!(!entries.is_empty(), "{name}: no performance entries");
        let mut total = 0.0;
        for e in entries {
            let url = e["name"].as_str().unwrap_or_default();
            ensure!(
                url.starts_with(&format!("{}/", self.base)),
                "{name}: a request to another host: {url}"
            );
            total += e["size"].as_f64().unwrap_or(0.0);
        }
        ensure!(total > 0.0, "{name}: nothing measured");
        ensure!(
            total <= PAGE_BUDGET,
            "{name}: {total} bytes transferred, more than 100 KB"
        );
        self.js(&format!("{}\n;return true;", self.axe), vec![])
            .await?;
        let v = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1]; axe.run(document).then(r => done({passes: r.passes.length, violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))})).catch(e => done({passes: 0, violations: [{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]}));",
                vec![],
            )
            .await
            .context("axe.run")?;
        let passes = v["passes"].as_u64().unwrap_or(0);
        ensure!(
            passes >= 10,
            "{name}: axe-core checked only {passes} rules: {v}"
        );
        let all = v["violations"].as_array().cloned().unwrap_or_default();
        let bad: Vec<&Value> = all
            .iter()
            .filter(|x| matches!(x["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        ensure!(bad.is_empty(), "{name}: axe-core violations: {bad:#?}");
        eprintln!(
            "page {name}: {total} bytes, axe-core: {passes} rules passed, {} findings below serious",
            all.len()
        );
        Ok(PageFigures {
            bytes: total,
            axe_passes: passes,
            axe_minor: all.len(),
        })
    }

    /// The error text shown next to the field `id` (`#id-error`, which the
    /// field names in `aria-describedby` and marks with `aria-invalid`),
    /// or `None` when the field shows no error.
    pub async fn field_error(&self, id: &str) -> Result<Option<String>> {
        let v = self
            .js(
                "const f = document.getElementById(arguments[0]); const e = document.getElementById(arguments[0] + '-error'); \
                 if (!e) return null; \
                 return {text: e.innerText, linked: !!f && (f.getAttribute('aria-describedby') || '').split(' ').includes(arguments[0] + '-error'), invalid: !!f && f.getAttribute('aria-invalid') === 'true'};",
                vec![json!(id)],
            )
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        ensure!(
            v["linked"] == true && v["invalid"] == true,
            "#{id}-error is not tied to #{id} (aria-describedby, aria-invalid): {v}"
        );
        Ok(Some(v["text"].as_str().unwrap_or_default().to_string()))
    }

    /// Every `(id, text)`: the field shows an error containing `text`.
    pub async fn expect_errors(&self, want: &[(&str, &str)]) -> Result<()> {
        for (id, text) in want {
            match self.field_error(id).await? {
                Some(got) if got.contains(text) => {}
                Some(got) => bail!(
                    "the error next to #{id} on {} is {got:?}, not {text:?}",
                    self.path().await?
                ),
                None => bail!(
                    "no field error next to #{id} on {}: {}",
                    self.path().await?,
                    self.text().await?
                ),
            }
        }
        Ok(())
    }
}
