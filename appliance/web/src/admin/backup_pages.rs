//! System → Backup and System → Restore (maud: every value escaped; no
//! script: a page that follows a job refreshes itself).

use maud::{html, Markup};

use super::jobs::{label, size_text, FieldError, FileSummary, JobState, JobStatus, MIN_PASSPHRASE};
use super::pages::{nav, Here};
use crate::site::layout;

/// The refresh is the user's choice (`?follow=on`): a timed refresh
/// nobody asked for fails WCAG 2.2.1.
fn follow_text(follow: bool, path: &str, secs: u32) -> Markup {
    html! {
        @if follow { "This page refreshes itself every " (secs) " seconds." }
        @else { a href={(path) "?follow=on"} { "Follow the progress (the page refreshes itself every " (secs) " seconds)" } }
    }
}

fn error_of<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

fn password_field(
    id: &'static str,
    text: &str,
    hint: Option<&str>,
    errors: &[FieldError],
) -> Markup {
    let error = error_of(errors, id);
    let invalid = error.is_some();
    let described = match (hint.is_some(), invalid) {
        (true, true) => Some(format!("{id}-hint {id}-error")),
        (true, false) => Some(format!("{id}-hint")),
        (false, true) => Some(format!("{id}-error")),
        (false, false) => None,
    };
    html! {
        div.field.invalid[invalid] {
            label for=(id) { (text) }
            @if let Some(h) = hint { p.hint id={(id) "-hint"} { (h) } }
            input type="password" id=(id) name=(id) autocomplete="new-password"
                aria-invalid=[invalid.then_some("true")] aria-describedby=[described];
            @if let Some(e) = error { div.field-error id={(id) "-error"} { p { (e) } } }
        }
    }
}

/// Where System → Backup's job is.
pub enum BackupJob {
    /// Nothing asked, or a finished job whose files are listed.
    None,
    /// Asked; the appliance has not answered yet, or is working.
    Working,
    /// The appliance refused or failed.
    Failed(String),
    /// Written.
    Done(String),
}

/// System → Backup: the form, the job, the files ready for download.
pub fn backup(
    login: &str,
    csrf: &str,
    job: &BackupJob,
    files: &[(String, u64)],
    errors: &[FieldError],
    keep_minutes: u64,
    follow: bool,
) -> String {
    let refresh = (follow && matches!(job, BackupJob::Working)).then_some(2);
    layout(
        "Backup",
        Some(nav(Here::Backup, login, csrf)),
        refresh,
        html! {
            @match job {
                BackupJob::Working => div.notice role="status" {
                    p { "The backup is being written. " (follow_text(follow, "/system/backup", 2)) }
                },
                BackupJob::Failed(m) => div.notice role="alert" { p { "The backup failed: " (m) } },
                BackupJob::Done(m) => div.notice role="status" { p { "Done: " (m) } },
                BackupJob::None => {},
            }
            @if !files.is_empty() {
                h2 { "Ready for download" }
                p.hint { "Each file is removed from the appliance once downloaded, or after "
                    (keep_minutes) " minutes." }
                ul id="downloads" {
                    @for (name, size) in files {
                        li { a href={"/system/backup/download/" (name)} download=(name) { (name) } " (" (size_text(*size)) ")" }
                    }
                }
            }
            h2 { "New backup" }
            p { "The backup holds the appliance configuration (/etc), the database encryption key, \
                 the SSL certificate and key, and the token database. Log files and the data files \
                 of flat-file user resolvers are not included. Keep the passphrase: without it \
                 the backup cannot be restored." }
            @if !errors.is_empty() {
                div.notice role="alert" { p { "The backup was not started: correct the fields below." } }
            }
            form method="post" action="/system/backup" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                (password_field("passphrase", "Passphrase",
                    Some(&format!("At least {MIN_PASSPHRASE} characters.")), errors))
                (password_field("passphrase2", "The same passphrase again", None, errors))
                fieldset {
                    legend { "Files" }
                    div { input type="radio" id="files-all" name="files" value="all" checked;
                          label for="files-all" { "One file with all components" } }
                    div { input type="radio" id="files-split" name="files" value="split";
                          label for="files-split" { "The database key alone and the data alone, as two files (store them apart)" } }
                    @if let Some(e) = error_of(errors, "files") { div.field-error { p { (e) } } }
                }
                div.buttons { button type="submit" { "Create the backup" } }
            }
        },
    )
}

/// What System → Restore shows.
pub enum RestoreView<'a> {
    /// The upload form (`notice`: a refusal of the last file).
    Upload {
        notice: Option<&'a str>,
        errors: &'a [FieldError],
        last: Option<&'a JobStatus>,
    },
    /// The file is being checked.
    Checking,
    /// What the file(s) hold, and the component choice.
    Summary {
        summaries: &'a [FileSummary],
        error: Option<&'a str>,
    },
    /// The restore (running, or its result).
    Progress(Option<&'a JobStatus>),
}

fn upload_form(csrf: &str, errors: &[FieldError], cap: u64) -> Markup {
    let file_error = error_of(errors, "file");
    html! {
        form method="post" action="/system/restore/upload" enctype="multipart/form-data" novalidate {
            input type="hidden" name="csrf" value=(csrf);
            div.field.invalid[file_error.is_some()] {
                label for="file" { "Backup file" }
                p.hint id="file-hint" { "A file written by System → Backup (its name ends in .backup.age), at most "
                    (size_text(cap)) "." }
                input type="file" id="file" name="file" aria-describedby="file-hint"
                    aria-invalid=[file_error.map(|_| "true")];
                @if let Some(e) = file_error { div.field-error { p { (e) } } }
            }
            div.field {
                label for="file2" { "Second file (optional)" }
                p.hint id="file2-hint" { "When the key and the data were stored as two files: the other one." }
                input type="file" id="file2" name="file2" aria-describedby="file2-hint";
            }
            (password_field("passphrase", "Passphrase", Some("The passphrase the backup was encrypted with."), errors))
            div.buttons { button type="submit" { "Upload and check" } }
        }
    }
}

fn progress_list(s: &JobStatus) -> Markup {
    html! {
        ul id="components" {
            @for c in &s.components {
                li { strong { (label(&c.id)) } ": " (c.message) }
            }
        }
    }
}

/// System → Restore.
pub fn restore(login: &str, csrf: &str, view: &RestoreView<'_>, cap: u64, follow: bool) -> String {
    let refresh = match view {
        RestoreView::Checking => Some(2),
        RestoreView::Progress(s) => (s.is_none_or(|s| s.state == JobState::Running)).then_some(3),
        _ => None,
    }
    .filter(|_| follow);
    layout(
        "Restore",
        Some(nav(Here::Restore, login, csrf)),
        refresh,
        html! {
            @match view {
                RestoreView::Upload { notice, errors, last } => {
                    @if let Some(s) = last {
                        @if s.job == "restore" {
                            h2 { "The last restore" }
                            div.notice role="status" { p { (s.message) } }
                            (progress_list(s))
                        }
                    }
                    @if let Some(n) = notice { div.notice role="alert" { p { "The file was refused: " (n) } } }
                    p { "Choose the backup file and enter the passphrase that was used to encrypt it. \
                         The whole file is decrypted and checked before anything is shown or changed." }
                    (upload_form(csrf, errors, cap))
                },
                RestoreView::Checking => div.notice role="status" {
                    p { "The backup is being decrypted and checked. " (follow_text(follow, "/system/restore", 2)) }
                },
                RestoreView::Summary { summaries, error } => {
                    div.notice role="status" { p { "The passphrase is correct and every file of the backup was checked." } }
                    @for s in summaries.iter() {
                        dl.facts {
                            dt { "Created" } dd { (s.created) }
                            dt { "Source" } dd { (s.hostname) }
                            dt { "Model" } dd { (s.model) }
                            dt { "Release" } dd { (s.release) }
                        }
                    }
                    form method="post" action="/system/restore" novalidate {
                        input type="hidden" name="csrf" value=(csrf);
                        fieldset {
                            legend { "Choose the data to restore" }
                            @for s in summaries.iter() {
                                @for c in &s.components {
                                    div {
                                        input type="checkbox" id={"component-" (c.id)} name="component" value=(c.id) checked;
                                        label for={"component-" (c.id)} { (label(&c.id)) " (" (c.files) " file(s), " (size_text(c.bytes)) ")" }
                                    }
                                }
                            }
                            @if let Some(e) = error { div.field-error { p { (e) } } }
                        }
                        p { "If in doubt, choose all components. Log files and the data files of flat-file \
                             user resolvers are not in the backup." }
                        div.buttons { button type="submit" { "Restore" } }
                    }
                    form method="post" action="/system/restore/cancel" {
                        input type="hidden" name="csrf" value=(csrf);
                        div.buttons.secondary { button type="submit" { "Cancel and remove the uploaded file" } }
                    }
                },
                RestoreView::Progress(s) => {
                    @match s {
                        None => div.notice role="status" { p { "The restore is starting; it goes on if the browser is closed. " (follow_text(follow, "/system/restore", 3)) } },
                        Some(s) => {
                            @match s.state {
                                JobState::Running => div.notice role="status" { p { "The restore is running; it goes on if the browser is closed. " (follow_text(follow, "/system/restore", 3)) } },
                                JobState::Failed => div.notice role="alert" { p { "The restore was refused, nothing was changed: " (s.message) } },
                                _ => div.notice role="status" { p { "Done: " (s.message) } },
                            }
                            (progress_list(s))
                            @if s.state != JobState::Running { p { a href="/system/restore" { "Restore another backup" } } }
                        }
                    }
                },
            }
        },
    )
}
