//! The dashboard's backup and restore jobs as the root side publishes them
//! (`/run/appliance/backup.json`, `/run/appliance/restore.json`, 0644, no
//! secrets) and the web service reads them: one definition for both sides.

use serde::{Deserialize, Serialize};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Running,
    /// `restore-inspect`: checked; the summary is there.
    Inspected,
    Done,
    Failed,
}

/// One file's summary, as the restore's pop-up shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub created: String,
    pub hostname: String,
    pub model: String,
    pub release: String,
    #[serde(default)]
    pub install_id: String,
    pub components: Vec<ComponentSize>,
}

/// A component in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSize {
    pub id: String,
    pub files: usize,
    pub bytes: u64,
}

/// A component of a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentProgress {
    pub id: String,
    /// `waiting`, `working` (the message says on what), `restored`,
    /// `not-restored`.
    pub state: String,
    pub message: String,
}

/// The status file (the root side writes every key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// `backup`, `restore-inspect` or `restore`.
    pub job: String,
    pub id: String,
    pub state: JobState,
    #[serde(default)]
    pub message: String,
    /// `backup`: the files written into the backups directory.
    #[serde(default)]
    pub files: Vec<String>,
    /// `restore-inspect`: what the file(s) hold.
    #[serde(default)]
    pub summaries: Vec<FileSummary>,
    /// `restore`: each chosen component.
    #[serde(default)]
    pub components: Vec<ComponentProgress>,
}

impl JobStatus {
    /// A status without files, summaries or components yet.
    pub fn new(job: &str, id: &str, state: JobState, message: impl Into<String>) -> JobStatus {
        JobStatus {
            job: job.into(),
            id: id.into(),
            state,
            message: message.into(),
            files: vec![],
            summaries: vec![],
            components: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_round_trips_and_missing_lists_default() {
        let s = JobStatus::new("restore", "r1", JobState::Running, "restoring");
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"state\":\"running\""), "{text}");
        assert_eq!(serde_json::from_str::<JobStatus>(&text).unwrap(), s);
        let short: JobStatus =
            serde_json::from_str(r#"{"job":"backup","id":"b","state":"done"}"#).unwrap();
        assert_eq!(short, JobStatus::new("backup", "b", JobState::Done, ""));
    }
}
