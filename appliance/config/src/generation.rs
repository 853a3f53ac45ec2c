//! Numbered **generations** of the desired state:
//! `/etc/appliance/state/<n>/state.json` and `current`, a symbolic link to
//! `<n>` switched by renaming a new link over it. A generation directory is
//! complete before `current` points at it; generations are never changed
//! afterwards, so going back is switching `current` to an older number.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::paths;
use crate::state::{DesiredState, StateError};

/// Errors of the generation store.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `state.json` is not a valid state.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the JSON path).
        message: String,
    },
    /// The state to store is invalid.
    #[error("the new state is invalid: {0}")]
    Invalid(#[from] StateError),
    /// `current` points at something that is not a generation.
    #[error("{path}: points at {target:?}, not at a generation number")]
    BadCurrent {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> GenerationError + '_ {
    move |source| GenerationError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The store below one root directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of the appliance whose file system starts at `root`.
    pub fn new(root: &Path) -> Store {
        Store {
            dir: fsutil::under(root, paths::STATE_DIR),
        }
    }

    fn current_link(&self) -> PathBuf {
        self.dir.join("current")
    }

    /// The generation `current` points at, or `None` before the first.
    pub fn current_number(&self) -> Result<Option<u64>, GenerationError> {
        let link = self.current_link();
        match fs::read_link(&link) {
            Ok(t) => {
                let target = t.to_string_lossy().into_owned();
                target
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| GenerationError::BadCurrent { path: link, target })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(GenerationError::Io {
                path: link,
                source: e,
            }),
        }
    }

    /// Reads generation `n`.
    pub fn load(&self, n: u64) -> Result<DesiredState, GenerationError> {
        let path = self.dir.join(n.to_string()).join("state.json");
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        let mut de = serde_json::Deserializer::from_str(&text);
        let state: DesiredState =
            serde_path_to_error::deserialize(&mut de).map_err(|e| GenerationError::Parse {
                path: path.clone(),
                message: format!("{}: {}", e.path(), e.inner()),
            })?;
        state.validate().map_err(|e| GenerationError::Parse {
            path,
            message: e.to_string(),
        })?;
        Ok(state)
    }

    /// The current generation and its state, or `None` before the first.
    pub fn current(&self) -> Result<Option<(u64, DesiredState)>, GenerationError> {
        match self.current_number()? {
            Some(n) => Ok(Some((n, self.load(n)?))),
            None => Ok(None),
        }
    }

    /// Every generation number on disk, ascending.
    pub fn numbers(&self) -> Result<Vec<u64>, GenerationError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => {
                return Err(GenerationError::Io {
                    path: self.dir.clone(),
                    source: e,
                })
            }
        };
        for e in entries {
            let e = e.map_err(io_err(&self.dir))?;
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                out.push(n);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Stores `state` as a new generation and makes it current. Returns the
    /// number, or the current one when `state` equals it (nothing written).
    pub fn commit(&self, state: &DesiredState) -> Result<u64, GenerationError> {
        state.validate()?;
        if let Some((n, cur)) = self.current()? {
            if &cur == state {
                return Ok(n);
            }
        }
        let n = self.create(state, |_| Ok(()))?;
        self.switch(n)?;
        Ok(n)
    }

    /// The directory of generation `n` (which may not exist).
    pub fn dir(&self, n: u64) -> PathBuf {
        self.dir.join(n.to_string())
    }

    /// Stores `state` as a new generation **without** making it current:
    /// `fill` adds its other files to the directory while it has no number
    /// yet (a temporary name), and only the complete directory is renamed
    /// to the next number. A crash before the rename leaves a temporary
    /// directory that the next `create` removes; `current` is untouched.
    pub fn create(
        &self,
        state: &DesiredState,
        fill: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<u64, GenerationError> {
        state.validate()?;
        let n = self.numbers()?.last().map_or(1, |last| last + 1);
        let mut json = serde_json::to_string_pretty(state).map_err(|e| GenerationError::Parse {
            path: self.dir.clone(),
            message: e.to_string(),
        })?;
        json.push('\n');
        // Written under a temporary name and renamed: a generation directory
        // with a number is always complete.
        let tmp = self.dir.join(format!(".new-{n}"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let file = tmp.join("state.json");
        // 0644: the desired state holds no secret, and the dashboard (the
        // web service's own user) shows it; the secrets are in `files/`.
        fsutil::write_atomic(&file, json.as_bytes(), 0o644).map_err(io_err(&file))?;
        fill(&tmp).map_err(io_err(&tmp))?;
        let final_dir = self.dir(n);
        fs::rename(&tmp, &final_dir).map_err(io_err(&final_dir))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        Ok(n)
    }

    /// Points `current` at generation `n` (which must exist and be valid).
    pub fn switch(&self, n: u64) -> Result<(), GenerationError> {
        self.load(n)?;
        let link = self.current_link();
        fsutil::symlink_atomic(&link, &n.to_string()).map_err(io_err(&link))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state;

    #[test]
    fn generations_are_numbered_and_current_switches() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        assert!(store.current().unwrap().is_none());
        let a = state::fallback();
        assert_eq!(store.commit(&a).unwrap(), 1);
        // The same state again: no new generation.
        assert_eq!(store.commit(&a).unwrap(), 1);
        let mut b = a.clone();
        b.hostname = "second".into();
        assert_eq!(store.commit(&b).unwrap(), 2);
        assert_eq!(store.current().unwrap().unwrap(), (2, b.clone()));
        assert_eq!(store.numbers().unwrap(), vec![1, 2]);
        store.switch(1).unwrap();
        assert_eq!(store.current().unwrap().unwrap(), (1, a));
        let link = root.path().join("etc/appliance/state/current");
        assert_eq!(fs::read_link(link).unwrap(), Path::new("1"));
        let file = root.path().join("etc/appliance/state/2/state.json");
        assert_eq!(fsutil::mode_of(&file).unwrap(), Some(0o644));
    }

    #[test]
    fn an_invalid_state_is_refused_and_a_broken_file_named() {
        let root = tempfile::tempdir().unwrap();
        let store = Store::new(root.path());
        let mut bad = state::fallback();
        bad.hostname = "no_underscores".into();
        let e = store.commit(&bad).unwrap_err().to_string();
        assert!(e.contains("hostname"), "{e}");
        assert!(store.numbers().unwrap().is_empty());

        store.commit(&state::fallback()).unwrap();
        let file = root.path().join("etc/appliance/state/1/state.json");
        let text = fs::read_to_string(&file)
            .unwrap()
            .replace("\"dhcp\"", "\"carrier-pigeon\"");
        fs::write(&file, text).unwrap();
        let e = store.current().unwrap_err().to_string();
        assert!(e.contains("network.interfaces[0].addressing"), "{e}");
    }
}
