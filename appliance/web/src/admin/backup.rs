//! The routes of System → Backup and System → Restore. The web never does
//! the work: it writes a request for the root side (`jobs`) and shows the
//! status the root side publishes. The passphrase of a checked upload is
//! kept in memory (never on a page) until the restore is asked for.
//! Downloads are streamed from disk and the file is removed once sent;
//! the upload is `upload`'s.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

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

pub(super) fn forbidden(text: &str, back: &str) -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Form refused",
        text,
        Some((back, "Back")),
    )
}

/// Same origin and the session's form token; the refusal when not.
pub(super) fn refused(
    s: &AdminSession,
    headers: &HeaderMap,
    csrf: &str,
    back: &str,
) -> Option<Response> {
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

/// A posted dashboard form: the signed-in session and the fields, or the
/// answer when there is no session (back to `/`) or the form is not this
/// session's (`back` offered).
async fn posted(
    site: &Site,
    headers: &HeaderMap,
    body: &[u8],
    back: &str,
) -> Result<(AdminSession, Fields), Response> {
    let Some(s) = session_of(site, headers).await else {
        return Err(see_other("/"));
    };
    let fields = Fields::from_urlencoded(body);
    match refused(&s, headers, &fields.get(gate::CSRF_FIELD), back) {
        Some(r) => Err(r),
        None => Ok((s, fields)),
    }
}

pub(super) fn now_text() -> String {
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
    let (s, fields) = match posted(&site, &headers, &body, "/system/backup").await {
        Ok(p) => p,
        Err(r) => return r,
    };
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

pub(super) fn remove_uploads(site: &Site, files: &[String]) {
    for f in files {
        let _ = std::fs::remove_file(site.cfg.backup.uploads_dir.join(f));
    }
}

pub(super) async fn restore_view(
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

/// `POST /system/restore`: the ticked components of the checked upload.
pub async fn restore_start(
    State(site): State<Arc<Site>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (s, fields) = match posted(&site, &headers, &body, "/system/restore").await {
        Ok(p) => p,
        Err(r) => return r,
    };
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
    if let Err(r) = posted(&site, &headers, &body, "/system/restore").await {
        return r;
    }
    let mut guard = site.restore.lock().await;
    if let Some(p) = guard.take_if(|p| p.phase == Phase::Inspect) {
        remove_uploads(&site, &p.files);
    }
    see_other("/system/restore")
}
