//! System → Restore's upload: streamed to the uploads directory through a
//! temporary name, counted against the cap (and refused at once when the
//! declared length is over it), the form token first so that nothing is
//! stored for a forged form; then the request `restore-inspect.json`.

use std::sync::Arc;

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tokio::io::AsyncWriteExt;

use super::backup::{
    forbidden, now_text, refused, remove_uploads, restore_view, PendingRestore, Phase,
};
use super::handlers::{internal, see_other, session_of};
use super::jobs::{self, FieldError, JobRequest};
use super::Site;
use crate::setup::gate;

fn too_big(cap: u64) -> String {
    format!(
        "The upload is larger than {}, the most this appliance accepts: choose a backup written by System → Backup",
        jobs::size_text(cap)
    )
}

fn field_error(field: &'static str, message: String) -> Vec<FieldError> {
    vec![FieldError { field, message }]
}

/// Streams one file field to `uploads/<name>` through a temporary name;
/// `Ok(false)` when no file was chosen, `Err` with the field error when it
/// is larger than `cap` (counted over every file of the form).
async fn save_field(
    field: &mut axum::extract::multipart::Field<'_>,
    dir: &std::path::Path,
    name: &str,
    total: &mut u64,
    cap: u64,
) -> Result<bool, String> {
    let tmp = dir.join(format!(".{name}.part"));
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .await
        .map_err(|e| format!("cannot store the upload: {e}"))?;
    let mut wrote = 0u64;
    let result = loop {
        match field.chunk().await {
            Ok(Some(c)) => {
                *total += c.len() as u64;
                wrote += c.len() as u64;
                if *total > cap {
                    break Err(too_big(cap));
                }
                if let Err(e) = out.write_all(&c).await {
                    break Err(format!("cannot store the upload: {e}"));
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(format!("the upload stopped: {e}")),
        }
    };
    let result = match result {
        Ok(()) => out
            .sync_all()
            .await
            .map_err(|e| format!("cannot store the upload: {e}")),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    let empty_choice = wrote == 0 && field.file_name().is_none_or(str::is_empty);
    if empty_choice {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Ok(false);
    }
    tokio::fs::rename(&tmp, dir.join(name))
        .await
        .map_err(|e| format!("cannot store the upload: {e}"))?;
    Ok(true)
}

/// `POST /system/restore/upload` (multipart: `csrf` first, then
/// `file`, `file2`, `passphrase`).
pub async fn upload(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    if let Err(e) = gate::same_origin(&headers) {
        return forbidden(&e.0, "/system/restore");
    }
    let cap = site.cfg.backup.upload_cap;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The form's other fields and its framing take a few KiB at most.
    if declared.is_some_and(|n| n > cap + 64 * 1024) {
        let msg = too_big(cap);
        return restore_view(
            &site,
            &s,
            &field_error("file", msg),
            StatusCode::PAYLOAD_TOO_LARGE,
            false,
        )
        .await;
    }
    let dir = site.cfg.backup.uploads_dir.clone();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return internal("cannot make the uploads directory", e);
    }
    let mut csrf_ok = false;
    let mut files = Vec::new();
    let mut passphrase = String::new();
    let mut total = 0u64;
    let mut problem: Option<(StatusCode, Vec<FieldError>)> = None;
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                problem = Some((
                    StatusCode::BAD_REQUEST,
                    field_error("file", format!("The upload stopped: {e}; send it again")),
                ));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if !csrf_ok {
            // The token comes first: nothing is stored for a forged form.
            let text = if name == gate::CSRF_FIELD {
                field.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            if let Some(r) = refused(&s, &headers, &text, "/system/restore") {
                return r;
            }
            csrf_ok = true;
            continue;
        }
        match name.as_str() {
            "file" | "file2" => {
                let stored = format!("upload-{}.backup.age", files.len() + 1);
                match save_field(&mut field, &dir, &stored, &mut total, cap).await {
                    Ok(true) => files.push(stored),
                    Ok(false) => {}
                    Err(m) => {
                        let status = if total > cap {
                            StatusCode::PAYLOAD_TOO_LARGE
                        } else {
                            StatusCode::BAD_REQUEST
                        };
                        problem = Some((status, field_error("file", m)));
                        break;
                    }
                }
            }
            "passphrase" => passphrase = field.text().await.unwrap_or_default(),
            _ => {}
        }
    }
    if !csrf_ok {
        return forbidden(
            "The form has no token: open the page again and send it from there.",
            "/system/restore",
        );
    }
    if problem.is_none() && files.is_empty() {
        problem = Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            field_error("file", "Choose the backup file".into()),
        ));
    }
    if problem.is_none() && passphrase.is_empty() {
        problem = Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            field_error(
                "passphrase",
                "Enter the passphrase the backup was encrypted with".into(),
            ),
        ));
    }
    if let Some((status, errors)) = problem {
        remove_uploads(&site, &files);
        return restore_view(&site, &s, &errors, status, false).await;
    }
    let id = match gate::random_token() {
        Ok(t) => t,
        Err(e) => return internal("cannot read random bytes", e),
    };
    let r = JobRequest {
        request: "restore-inspect",
        id: &id,
        requested_at: now_text(),
        passphrase: &passphrase,
        components: &[],
        split: false,
        files: &files,
    };
    if let Err(e) = jobs::write_request(&site.cfg.backup.requests_dir, &r) {
        remove_uploads(&site, &files);
        return internal("cannot write the restore request", e);
    }
    *site.restore.lock().await = Some(PendingRestore {
        id,
        files,
        passphrase,
        phase: Phase::Inspect,
    });
    see_other("/system/restore?follow=on")
}
