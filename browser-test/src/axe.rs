//! axe-core from the npm registry at test time (`npm pack
//! axe-core@VERSION`, cached under `target/test-data/`), its `axe.min.js`
//! checked against a pinned SHA-256: the repository carries no copy of it.

use std::fs;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use sha2::{Digest, Sha256};

/// The axe-core release the tests inject, and its `axe.min.js`'s SHA-256.
pub const VERSION: &str = "4.14.1";
pub const SHA256: &str = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c";

/// `axe.min.js`, fetched once into `target/test-data/axe-core/VERSION/`
/// and checked against [`SHA256`].
pub fn source(target: &Path) -> Result<String> {
    let dir = target.join("test-data/axe-core").join(VERSION);
    let file = dir.join("package/axe.min.js");
    if !file.exists() {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        crate::cmd::npm_pack(&format!("axe-core@{VERSION}"), &dir)?;
        let tgz = dir.join(format!("axe-core-{VERSION}.tgz"));
        let f = fs::File::open(&tgz).with_context(|| format!("opening {}", tgz.display()))?;
        tar::Archive::new(flate2::read::GzDecoder::new(f))
            .unpack(&dir)
            .with_context(|| format!("unpacking {}", tgz.display()))?;
    }
    let bytes = fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let sum: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    ensure!(
        sum == SHA256,
        "{} is not the pinned axe-core {VERSION} (SHA-256 {sum})",
        file.display()
    );
    String::from_utf8(bytes).context("axe.min.js is not UTF-8")
}
