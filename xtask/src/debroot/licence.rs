//! The vendor's licence key in the image: the public half of the key that
//! signs the support and subscription licences (`cargo xtask repo
//! license`), which the set-up wizard and activation check an uploaded
//! licence against (`/usr/share/appliance/licence-key.pub`).
//!
//! A vendor passes its own with `--licence-key FILE.pub`. Without it the
//! image trusts the repository's **TEST** licence key
//! ([`TEST_KEY_FILE`]): the public half of the key made from
//! [`TEST_SEED`], the seed the browser tests and the QEMU wizard flow sign
//! their TEST licences with. Its licences say TEST in their comment and
//! issuer, so they are never mistaken for a real one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use vendor_repo::PublicKey;

use crate::project;

/// Where the image keeps the key (read by appliance-web and activation).
pub const IMAGE_PATH: &str = "usr/share/appliance/licence-key.pub";

/// The TEST licence key's public half, relative to the repository root.
pub const TEST_KEY_FILE: &str = "appliance/licence-key.test.pub";

/// The seed of the TEST licence key (also `qemu_tests::wizard_flow::LICENCE_TEST_SEED`
/// and appliance-web's browser test); the test below checks [`TEST_KEY_FILE`]
/// against it.
#[cfg(test)]
pub const TEST_SEED: [u8; 32] = [9; 32];

/// Reads and checks `given` (or the TEST key) and writes it into the root
/// file system, mode 0644. A private key file is refused: it must never
/// end up in an image.
pub fn install(rootfs: &Path, given: Option<&Path>) -> Result<()> {
    let path = match given {
        Some(p) => p.to_owned(),
        None => project::root().join(TEST_KEY_FILE),
    };
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading the licence key {}", path.display()))?;
    PublicKey::from_json(&text).with_context(|| {
        format!(
            "{}: not a public key file (make one with `cargo xtask repo keygen` and pass its .pub)",
            path.display()
        )
    })?;
    let dest = rootfs.join(IMAGE_PATH);
    fs::create_dir_all(dest.parent().context("licence key path")?)?;
    fs::write(&dest, text.as_bytes()).with_context(|| format!("writing {}", dest.display()))?;
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o644))?;
    if given.is_none() {
        eprintln!(
            "licence key: the TEST licence key ({TEST_KEY_FILE}); pass --licence-key for a product"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vendor_repo::SecretKey;

    #[test]
    fn the_committed_test_key_is_the_test_seeds_public_half() {
        let committed = fs::read_to_string(project::root().join(TEST_KEY_FILE)).unwrap();
        let expected = SecretKey::from_seed(TEST_SEED, true)
            .public()
            .to_json("TEST licence key: public half of a key made from a fixed seed, for tests and demos only");
        assert_eq!(
            committed, expected,
            "rewrite {TEST_KEY_FILE} with the text above"
        );
    }

    #[test]
    fn installs_a_public_key_and_refuses_a_private_one() {
        let dir = std::env::temp_dir().join(format!("xtask-licence-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        install(&dir, None).unwrap();
        let written = dir.join(IMAGE_PATH);
        PublicKey::from_json(&fs::read_to_string(&written).unwrap()).unwrap();
        assert_eq!(
            fs::metadata(&written).unwrap().permissions().mode() & 0o777,
            0o644
        );

        let secret = dir.join("secret.json");
        fs::write(&secret, SecretKey::from_seed([1; 32], true).to_json("TEST")).unwrap();
        let err = install(&dir, Some(&secret)).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a public key file"),
            "{err:#}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
