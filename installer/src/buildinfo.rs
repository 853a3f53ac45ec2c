//! `/etc/installer/build.json`: facts about the build, written by the image builder.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the build information lives inside the initramfs (relative to `/`).
pub const BUILD_JSON: &str = "etc/installer/build.json";

/// The build information. Unknown fields are allowed so newer builders can add some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// Product name, e.g. `Example Appliance`.
    pub product: String,
    /// Product version, e.g. `0.1.0`.
    pub version: String,
    /// ISO 9660 volume id of the install medium, e.g. `APPLIANCE_INSTALL`.
    pub volume_id: String,
    /// SOURCE_DATE_EPOCH of the build (seconds since 1970).
    pub build_epoch: u64,
    /// `uname -r` of the kernel the image was built for.
    pub kernel_release: String,
}

/// Errors reading the build information.
#[derive(Debug, thiserror::Error)]
pub enum BuildInfoError {
    /// The file could not be read.
    #[error("cannot read build information {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("invalid build information in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl BuildInfo {
    /// Parses the JSON text of `build.json`.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads `<root>/etc/installer/build.json`.
    pub fn load(root: &Path) -> Result<Self, BuildInfoError> {
        let path = root.join(BUILD_JSON);
        let text = std::fs::read_to_string(&path).map_err(|source| BuildInfoError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|source| BuildInfoError::Parse { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape_and_ignores_unknown_fields() {
        let info = BuildInfo::parse(
            r#"{"product": "Example Appliance", "version": "0.1.0", "volume_id": "APPLIANCE_INSTALL",
                "build_epoch": 1700000000, "kernel_release": "6.1.0-56-amd64", "future": [1, 2]}"#,
        )
        .unwrap();
        assert_eq!(info.product, "Example Appliance");
        assert_eq!(info.version, "0.1.0");
        assert_eq!(info.volume_id, "APPLIANCE_INSTALL");
        assert_eq!(info.build_epoch, 1_700_000_000);
        assert_eq!(info.kernel_release, "6.1.0-56-amd64");
    }

    #[test]
    fn missing_field_is_an_error_naming_it() {
        let err = BuildInfo::parse(r#"{"product": "X"}"#).unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn load_error_names_the_file() {
        let err = BuildInfo::load(Path::new("/nonexistent-root")).unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent-root/etc/installer/build.json"),
            "{err}"
        );
    }
}
