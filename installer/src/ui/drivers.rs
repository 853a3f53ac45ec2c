//! The UI's driver loading: the module index (if readable), coldplug, and
//! the summary for the `modules` event and the first screen.

use crate::cmdline::KernelCmdline;
use crate::event::ModuleFailure;
use crate::log;
use crate::modload::{self, Coldplug, Pack, PackLoader, Timing};
use crate::screen::ModulesSummary;
use image_builder::kmod::index::ModuleIndex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The SD/MMC card driver (in the module pack).
pub const MMC_CARD_MODULE: &str = "mmc_block";

/// Reads the module index of `/lib/modules/<kver>`; the error is kept as text
/// and reported as a failure.
pub fn load_index(module_dir: &Path) -> Result<ModuleIndex, String> {
    modload::load_index(module_dir).map_err(|e| {
        log::error(&e.to_string());
        e.to_string()
    })
}

/// Module loading state; without an index every call does nothing and the
/// summary reports the index as failed.
pub struct Drivers<'a> {
    coldplug: Option<Coldplug<'a, PackLoader>>,
    index_error: Option<String>,
    module_dir: PathBuf,
}

impl<'a> Drivers<'a> {
    /// Wraps the index (or its error) and the command line.
    pub fn new(
        index: Result<&'a ModuleIndex, String>,
        cmdline: &'a KernelCmdline,
        module_dir: &Path,
    ) -> Self {
        match index {
            Ok(index) => {
                let loader = PackLoader::initramfs(module_dir);
                Drivers {
                    coldplug: Some(Coldplug::new(index, cmdline, loader)),
                    index_error: None,
                    module_dir: module_dir.to_path_buf(),
                }
            }
            Err(e) => Drivers {
                coldplug: None,
                index_error: Some(e),
                module_dir: module_dir.to_path_buf(),
            },
        }
    }

    /// Loads one module by name (with dependencies); failures are logged.
    pub fn by_name(&mut self, name: &str) {
        if let Some(cp) = self.coldplug.as_mut() {
            if let Err(e) = cp.load_by_name(name) {
                log::warn(&format!("{name}: {e}"));
            }
        }
    }

    /// Coldplug until quiet (or the cap).
    pub fn coldplug(&mut self) {
        let Some(cp) = self.coldplug.as_mut() else {
            return;
        };
        let quiet = modload::run_coldplug(cp, sys_modaliases, Timing::default());
        log::info(&format!(
            "coldplug {}: {} modules loaded, {} failed",
            if quiet { "settled" } else { "hit its time cap" },
            cp.loaded_count(),
            cp.failures().len()
        ));
        log::debug(&format!("loaded modules: {}", cp.loaded_names().join(" ")));
    }

    /// One more pass for devices that appeared since.
    pub fn pass(&mut self) {
        if let Some(cp) = self.coldplug.as_mut() {
            let n = cp.pass(&sys_modaliases());
            if n > 0 {
                log::info(&format!(
                    "{n} more modules loaded while waiting for the medium"
                ));
            }
        }
    }

    /// The second stage: the module pack on the medium mounted at `medium`.
    /// Points the firmware loader at the pack's firmware, switches to the
    /// pack's index, and looks at every device again; only if that loaded
    /// something does it coldplug until quiet (so a machine the initramfs
    /// fully served pays one pass). Returns the number of modules loaded, or
    /// why there was no pack (logged; the initramfs's drivers stay).
    pub fn load_pack(&mut self, medium: &Path, release: &str) -> Result<usize, String> {
        let pack = Pack::open(medium, release).map_err(|e| {
            log::info(&format!("{e}; only the initramfs's drivers are available"));
            e.to_string()
        })?;
        if let Some(dir) = &pack.firmware_dir {
            if let Err(e) = modload::pack::set_firmware_path(Path::new("/"), dir) {
                log::warn(&format!(
                    "cannot point the firmware loader at {}: {e}",
                    dir.display()
                ));
            }
        }
        let Some(cp) = self.coldplug.take() else {
            return Err("no module index".into());
        };
        let before = cp.loaded_count();
        // The UI process lives until the installer ends; the index with it.
        let index: &'a ModuleIndex = Box::leak(Box::new(pack.index));
        let loader = PackLoader {
            pack_dir: Some(pack.dir.clone()),
            ..PackLoader::initramfs(&self.module_dir)
        };
        let mut cp = cp.with_index(index, loader);
        if cp.pass(&sys_modaliases()) > 0 {
            modload::run_coldplug(&mut cp, sys_modaliases, Timing::default());
        }
        // An SD/eMMC host finds its card after a delay, later than coldplug
        // settles; as with `sd_mod` for SCSI hosts, load the card driver
        // whenever there is a host.
        let has_mmc_host = std::fs::read_dir("/sys/class/mmc_host")
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if has_mmc_host {
            if let Err(e) = cp.load_by_name(MMC_CARD_MODULE) {
                log::warn(&format!("{MMC_CARD_MODULE}: {e}"));
            }
        }
        let loaded = cp.loaded_count() - before;
        log::info(&format!(
            "module pack {}: {loaded} more modules loaded",
            pack.dir.display()
        ));
        self.coldplug = Some(cp);
        Ok(loaded)
    }

    /// Loaded count, failures and the time given (rounded to 10 ms).
    pub fn summary(&self, elapsed: Duration) -> ModulesSummary {
        let seconds = (elapsed.as_secs_f64() * 100.0).round() / 100.0;
        match (&self.coldplug, &self.index_error) {
            (Some(cp), _) => ModulesSummary {
                loaded: cp.loaded_count(),
                failed: cp.failures().to_vec(),
                seconds,
            },
            (None, error) => ModulesSummary {
                loaded: 0,
                failed: vec![ModuleFailure {
                    name: "module index".into(),
                    error: error.clone().unwrap_or_default(),
                }],
                seconds,
            },
        }
    }
}

fn sys_modaliases() -> BTreeSet<String> {
    modload::scan_modaliases(Path::new("/sys/devices"))
}
