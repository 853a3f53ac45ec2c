//! The build's timestamp: every image built from one checkout carries it, so
//! that the same sources give the same bytes on every machine.

use anyhow::{Context, Result};

use crate::cmd::Cmd;
use crate::project;

/// SOURCE_DATE_EPOCH if set, else the time of the last commit.
pub fn build_epoch() -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a whole number of seconds"));
    }
    let out = Cmd::new("git")
        .args(["log", "-1", "--format=%ct"])
        .cwd(project::root())
        .read();
    match out {
        Ok(o) if !o.stdout.trim().is_empty() => o
            .stdout
            .trim()
            .parse()
            .with_context(|| format!("git printed `{}` as the commit time", o.stdout.trim())),
        _ => Ok(1_700_000_000),
    }
}
