//! The routes of System → Backup and System → Restore. The web never does
//! the work: it writes a request for the root side (`jobs`) and shows the
//! status the root side publishes. The passphrase of a checked upload is
//! kept in memory (never on a page) until the restore is asked for.
//! Uploads are streamed to disk with a size cap; downloads are streamed
//! from disk and the file is removed once sent.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Multipart, Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::backup_pages::{self as pages, BackupJob, RestoreView};
use super::handlers::{internal, see_other, session_of};
use super::jobs::{self, FieldError, JobRequest, JobState};
use super::sessions::AdminSession;
use super::Site;
use crate::setup::forms::Fields;
use crate::setup::gate;
use crate::site::{message, page};

/// Which restore step the web waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Inspect,
    Restore,
}

/// An upload between its check and its restore. No `Debug`: it holds the
/// passphrase.
pub struct PendingRestore {
    pub id: String,
    pub files: Vec<String>,
    pub passphrase: String,
    pub phase: Phase,
}

fn forbidden(text: &str, back: &str) -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Form refused",
        text,
        Some((back, "Back")),
    )
}

/// Same origin and the session's form token; the refusal when not.
fn refused(s: &AdminSession, headers: &HeaderMap, csrf: &str, back: &str) -> Option<Response> {
    if let Err(e) = gate::same_origin(headers) {
        return Some(forbidden(&e.0, back));
    }
    if !s.csrf_ok(csrf) {
        return Some(forbidden(
            "The form's token does not belong to this session: open the page again and send it from there.",
            back,
        ));
    }
    None
}

fn now_text() -> String {
    crate::setup::activation::rfc3339_now()
}

fn request_pending(site: &Site, kind: &str) -> bool {
    site.cfg
        .backup
        .requests_dir
        .join(format!("{kind}.json"))
        .exists()
}

fn follows(q: &RawQuery) -> bool {
    q.0.as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "follow=on"))
}

async fn backup_view(
    site: &Site,
    s: &AdminSession,
    errors: &[FieldError],
    status: StatusCode,
    follow: bool,
) -> Response {
    let cfg = &site.cfg.backup;
    jobs::sweep(&cfg.backups_dir, cfg.keep, SystemTime::now());
    let mine = site.backup_job.lock().await.clone();
    let job = match mine {
        None => BackupJob::None,
        Some(_) if request_pending(site, "backup") => BackupJob::Working,
        Some(id) => match jobs::read_status(&cfg.backup_status) {
            Ok(Some(st)) if st.id == id => match st.state {
                JobState::Failed => BackupJob::Failed(st.message),
                JobState::Done => BackupJob::Done(st.message),
                _ => BackupJob::Working,
            },
            Ok(_) => BackupJob::Working,
            Err(e) => BackupJob::Failed(e),
        },
    };
    let files = jobs::backups(&cfg.backups_dir);
    page(
        status,
        pages::backup(
            &s.login,
            &s.csrf,
            &job,
            &files,
            errors,
            cfg.keep.as_secs() / 60,
            follow,
        ),
    )
}

/// `GET /system/backup`.
pub async fn backup_page(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    q: RawQuery,
) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    backup_view(&site, &s, &[], StatusCode::OK, follows(&q)).await
}

/// `POST /system/backup`: the passphrase twice and the choice of files.
pub async fn backup_create(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    let fields = Fields::from_urlencoded(&body);
    if let Some(r) = refused(
        &s,
        &headers,
        &fields.get(gate::CSRF_FIELD),
        "/system/backup",
    ) {
        return r;
    }
    let choice = match jobs::backup_form(&fields) {
        Ok(c) => c,
        Err(errors) => {
            return backup_view(&site, &s, &errors, StatusCode::UNPROCESSABLE_ENTITY, false).await
        }
    };
    let id = match gate::random_token() {
        Ok(t) => t,
        Err(e) => return internal("cannot read random bytes", e),
    };
    let all = ["all".to_string()];
    let r = JobRequest {
        request: "backup",
        id: &id,
        requested_at: now_text(),
        passphrase: &choice.passphrase,
        components: &all,
        split: choice.split,
        files: &[],
    };
    if let Err(e) = jobs::write_request(&site.cfg.backup.requests_dir, &r) {
        return internal("cannot write the backup request", e);
    }
    *site.backup_job.lock().await = Some(id);
    see_other("/system/backup?follow=on")
}

/// `GET /system/backup/download/{name}`: the file, streamed; removed once
/// sent completely.
pub async fn download(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Response {
    if session_of(&site, &headers).await.is_none() {
        return see_other("/");
    }
    let path = site.cfg.backup.backups_dir.join(&name);
    let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    if !jobs::valid_name(&name) || !regular {
        return message(
            StatusCode::NOT_FOUND,
            "No such backup",
            "This backup is not on the appliance (any more): a backup is removed once downloaded, or after a while. Create a new one.",
            Some(("/system/backup", "Back to System → Backup")),
        );
    }
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return internal("cannot open the backup", e),
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let stream = futures_util::stream::unfold(Some((file, path)), |state| async move {
        let (mut file, path) = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => {
                let _ = tokio::fs::remove_file(&path).await;
                None
            }
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(axum::body::Bytes::from(buf)), Some((file, path))))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn remove_uploads(site: &Site, files: &[String]) {
    for f in files {
        let _ = std::fs::remove_file(site.cfg.backup.uploads_dir.join(f));
    }
}

async fn restore_view(
    site: &Site,
    s: &AdminSession,
    errors: &[FieldError],
    status: StatusCode,
    follow: bool,
) -> Response {
    let cfg = &site.cfg.backup;
    let cap = cfg.upload_cap;
    let render =
        |v: RestoreView<'_>| page(status, pages::restore(&s.login, &s.csrf, &v, cap, follow));
    let st = jobs::read_status(&cfg.restore_status);
    let mut pending = site.restore.lock().await;
    let Some(p) = pending.as_ref() else {
        jobs::sweep(&cfg.uploads_dir, cfg.keep, SystemTime::now());
        let last = st.ok().flatten();
        // A restore started before the service restarted still shows.
        if let Some(l) = last
            .as_ref()
            .filter(|l| l.job == "restore" && l.state == JobState::Running)
        {
            return render(RestoreView::Progress(Some(l)));
        }
        return render(RestoreView::Upload {
            notice: None,
            errors,
            last: last.as_ref(),
        });
    };
    let kind = match p.phase {
        Phase::Inspect => "restore-inspect",
        Phase::Restore => "restore",
    };
    let st = match st {
        Ok(Some(st)) if st.id == p.id && !request_pending(site, kind) => st,
        Err(e) => return internal("cannot read the restore's status", e),
        _ => {
            return render(match p.phase {
                Phase::Inspect => RestoreView::Checking,
                Phase::Restore => RestoreView::Progress(None),
            })
        }
    };
    match (p.phase, st.state) {
        (Phase::Inspect, JobState::Inspected) => {
            let error = errors.first().map(|e| e.message.as_str());
            render(RestoreView::Summary {
                summaries: &st.summaries,
                error,
            })
        }
        (Phase::Inspect, JobState::Failed) => {
            let files = p.files.clone();
            *pending = None;
            remove_uploads(site, &files);
            render(RestoreView::Upload {
                notice: Some(&st.message),
                errors,
                last: None,
            })
        }
        (Phase::Inspect, _) => render(RestoreView::Checking),
        (Phase::Restore, state) => {
            if state != JobState::Running {
                *pending = None;
            }
            render(RestoreView::Progress(Some(&st)))
        }
    }
}

/// `GET /system/restore`.
pub async fn restore_page(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    q: RawQuery,
) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    restore_view(&site, &s, &[], StatusCode::OK, follows(&q)).await
}

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

/// `POST /system/restore`: the ticked components of the checked upload.
pub async fn restore_start(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    let fields = Fields::from_urlencoded(&body);
    if let Some(r) = refused(
        &s,
        &headers,
        &fields.get(gate::CSRF_FIELD),
        "/system/restore",
    ) {
        return r;
    }
    let inspected = match jobs::read_status(&site.cfg.backup.restore_status) {
        Ok(Some(st)) if st.state == JobState::Inspected => st,
        _ => return see_other("/system/restore"),
    };
    let mut guard = site.restore.lock().await;
    let Some(p) = guard
        .as_mut()
        .filter(|p| p.phase == Phase::Inspect && p.id == inspected.id)
    else {
        drop(guard);
        return see_other("/system/restore");
    };
    let held: Vec<String> = inspected
        .summaries
        .iter()
        .flat_map(|s| s.components.iter().map(|c| c.id.clone()))
        .collect();
    let chosen = match jobs::chosen_components(&fields, &held) {
        Ok(c) => c,
        Err(e) => {
            drop(guard);
            return restore_view(&site, &s, &[e], StatusCode::UNPROCESSABLE_ENTITY, false).await;
        }
    };
    let id = match gate::random_token() {
        Ok(t) => t,
        Err(e) => return internal("cannot read random bytes", e),
    };
    let r = JobRequest {
        request: "restore",
        id: &id,
        requested_at: now_text(),
        passphrase: &p.passphrase,
        components: &chosen,
        split: false,
        files: &p.files,
    };
    if let Err(e) = jobs::write_request(&site.cfg.backup.requests_dir, &r) {
        return internal("cannot write the restore request", e);
    }
    p.id = id;
    p.phase = Phase::Restore;
    // The root side has it now.
    p.passphrase.clear();
    see_other("/system/restore?follow=on")
}

/// `POST /system/restore/cancel`: drops the checked upload.
pub async fn restore_cancel(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(s) = session_of(&site, &headers).await else {
        return see_other("/");
    };
    let fields = Fields::from_urlencoded(&body);
    if let Some(r) = refused(
        &s,
        &headers,
        &fields.get(gate::CSRF_FIELD),
        "/system/restore",
    ) {
        return r;
    }
    let mut guard = site.restore.lock().await;
    if let Some(p) = guard.take_if(|p| p.phase == Phase::Inspect) {
        remove_uploads(&site, &p.files);
    }
    see_other("/system/restore")
}
