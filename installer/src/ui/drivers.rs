//! The UI's driver loading: the module index (if readable), coldplug, and
//! the summary for the `modules` event and the first screen.

use crate::cmdline::KernelCmdline;
use crate::event::ModuleFailure;
use crate::install::system::MEDIUM_MOUNT;
use crate::log;
use crate::medium::{self, Scan};
use crate::modload::{self, Coldplug, Pack, PackLoader, Timing};
use crate::screen::ModulesSummary;
use crate::sys::mount;
use image_builder::kmod::index::ModuleIndex;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// What came of the module pack, once tried: the number of modules
    /// loaded since switching to its index, or why there was none.
    pack: Option<Result<usize, String>>,
}

impl<'a> Drivers<'a> {
    /// Prepares loading from `module_dir` with `index` (or its error).
    pub fn new(
        index: Result<&'a ModuleIndex, String>,
        cmdline: &'a KernelCmdline,
        module_dir: &Path,
    ) -> Self {
        let (coldplug, index_error) = match index {
            Ok(index) => {
                let loader = PackLoader::initramfs(module_dir);
                (Some(Coldplug::new(index, cmdline, loader)), None)
            }
            Err(e) => (None, Some(e)),
        };
        Drivers {
            coldplug,
            index_error,
            module_dir: module_dir.to_path_buf(),
            pack: None,
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

    /// Coldplug until quiet (or the cap). Given the volume id of the install
    /// medium (and the root its `/dev` and `/sys` are under), the pauses
    /// between quiet passes look for the medium; once it is there it is
    /// mounted and the coldplug switches to its module pack, so the pack's
    /// drivers load within this coldplug and the pack costs the first
    /// prompt no time of its own. Returns the medium's scan if it was found.
    pub fn coldplug(&mut self, medium: Option<(&Path, &str)>) -> Option<Scan> {
        let cp = self.coldplug.as_mut()?;
        let started = Instant::now();
        let module_dir = self.module_dir.as_path();
        let mut found: Option<Scan> = None;
        let mut pack: Option<(usize, Result<usize, String>)> = None;
        let idle = |cp: &mut Coldplug<'a, PackLoader>| {
            let Some((root, volume_id)) = medium.filter(|_| found.is_none()) else {
                return false;
            };
            let scan = medium::scan(root, volume_id);
            let Some(device) = scan.found.as_ref().map(|m| m.device.clone()) else {
                log::debug(&format!("no install medium yet: {:?}", scan.seen));
                return false;
            };
            log::info(&format!(
                "install medium {volume_id:?} found on {device} after {:.1} s, during coldplug",
                started.elapsed().as_secs_f64()
            ));
            found = Some(scan);
            let before = cp.loaded_count();
            let result = switch_to_pack(cp, &device, module_dir);
            let loaded = result.as_ref().is_ok_and(|n| *n > 0);
            pack = Some((before, result));
            loaded
        };
        let quiet = modload::run_coldplug_idle(cp, sys_modaliases, Timing::default(), idle);
        if let Some((before, result)) = pack {
            if result.is_ok() {
                load_card_driver(cp);
            }
            self.pack = Some(result.map(|_| cp.loaded_count() - before));
        }
        log::info(&format!(
            "coldplug {}: {} modules loaded, {} failed",
            if quiet { "settled" } else { "hit its time cap" },
            cp.loaded_count(),
            cp.failures().len()
        ));
        log::debug(&format!("loaded modules: {}", cp.loaded_names().join(" ")));
        found
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

    /// The second stage: the module pack on the install medium `device`,
    /// unless [`Drivers::coldplug`] already switched to it. Mounts the
    /// medium, points the firmware loader at the pack's firmware, switches
    /// to the pack's index and matches every device again; only if that
    /// loaded something does it coldplug until quiet (so a machine the
    /// initramfs fully served pays one pass). Returns the number of modules
    /// loaded since the switch, or why there was no pack (logged; the
    /// initramfs's drivers stay).
    pub fn load_pack(&mut self, device: &str) -> Result<usize, String> {
        if let Some(done) = &self.pack {
            return done.clone();
        }
        let Some(cp) = self.coldplug.as_mut() else {
            return Err("no module index".into());
        };
        let before = cp.loaded_count();
        let result = switch_to_pack(cp, device, &self.module_dir).map(|n| {
            if n + cp.pass(&sys_modaliases()) > 0 {
                modload::run_coldplug(cp, sys_modaliases, Timing::default());
            }
            load_card_driver(cp);
            cp.loaded_count() - before
        });
        self.pack = Some(result.clone());
        result
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

/// Mounts the install medium `device`, opens the module pack for the
/// kernel of `module_dir` on it, points the firmware loader at the pack's
/// firmware and switches `cp` to the pack's index. Returns the number of
/// modules that matching the devices seen so far loaded.
fn switch_to_pack<'a>(
    cp: &mut Coldplug<'a, PackLoader>,
    device: &str,
    module_dir: &Path,
) -> Result<usize, String> {
    let t = Instant::now();
    let medium = Path::new(MEDIUM_MOUNT);
    if let Err(e) = mount::mount_medium(device, MEDIUM_MOUNT) {
        log::warn(&format!(
            "install medium {device} not mounted ({e}): no module pack"
        ));
        return Err(e.to_string());
    }
    let release = module_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pack = Pack::open(medium, &release).map_err(|e| {
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
    // The UI process lives until the installer ends; the index with it.
    let index: &'a ModuleIndex = Box::leak(Box::new(pack.index));
    let loader = PackLoader {
        pack_dir: Some(pack.dir.clone()),
        ..PackLoader::initramfs(module_dir)
    };
    let loaded = cp.switch_index(index, loader);
    log::info(&format!(
        "switched to the module pack {} in {:.2} s: {loaded} modules loaded for the devices seen so far",
        pack.dir.display(),
        t.elapsed().as_secs_f64()
    ));
    Ok(loaded)
}

/// An SD/eMMC host finds its card after a delay, later than coldplug
/// settles; as with `sd_mod` for SCSI hosts, the card driver is loaded
/// whenever there is a host.
fn load_card_driver(cp: &mut Coldplug<'_, PackLoader>) {
    let has_mmc_host = std::fs::read_dir("/sys/class/mmc_host")
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if has_mmc_host {
        if let Err(e) = cp.load_by_name(MMC_CARD_MODULE) {
            log::warn(&format!("{MMC_CARD_MODULE}: {e}"));
        }
    }
}

fn sys_modaliases() -> BTreeSet<String> {
    modload::scan_modaliases(Path::new("/sys/devices"))
}
