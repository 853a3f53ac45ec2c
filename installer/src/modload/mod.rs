//! Kernel module loading without udev or kmod ("coldplug").
//!
//! [`Coldplug`] holds what was tried and decides what to load; the actual
//! `finit_module` call sits behind [`ModuleLoader`] so the logic is tested
//! with a fake loader. [`run_coldplug`] repeats passes over the `modalias`
//! files until a pass loads nothing new and no new device appeared for a
//! while: loading an HBA driver makes SCSI devices appear, which need
//! `sd_mod`/`sr_mod` in a later pass.

mod kernel;
pub mod pack;

pub use kernel::{describe_errno, load_index, scan_modaliases, IndexError, KernelLoader};
pub use pack::{Pack, PackError, PackLoader};

use crate::cmdline::{normalize_module_name, KernelCmdline};
use crate::event::ModuleFailure;
use image_builder::kmod::index::{LoadStep, ModuleIndex};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Outcome of one successful load call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// The kernel accepted the module.
    Now,
    /// It was already loaded (`EEXIST`).
    Already,
}

/// Loads one module file with parameters (`finit_module` in production).
pub trait ModuleLoader {
    /// Loads `step.path` (relative to `/lib/modules/<kver>`) with `params`.
    /// Returns a human-readable error on failure.
    fn load(&mut self, step: &LoadStep, params: &str) -> Result<Loaded, String>;
}

/// What happened to a module so far.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Loaded,
    Failed(String),
    /// Matched a device but blacklisted; still loaded when another module needs it.
    Blacklisted,
}

/// Coldplug bookkeeping: every module tried, the modaliases already handled,
/// and the failures to report.
pub struct Coldplug<'a, L: ModuleLoader> {
    index: &'a ModuleIndex,
    cmdline: &'a KernelCmdline,
    blacklist: BTreeSet<String>,
    loader: L,
    state: BTreeMap<String, State>,
    seen_aliases: BTreeSet<String>,
    failures: Vec<ModuleFailure>,
}

impl<'a, L: ModuleLoader> Coldplug<'a, L> {
    /// Starts with nothing loaded. Parameters and the blacklist come from `cmdline`.
    pub fn new(index: &'a ModuleIndex, cmdline: &'a KernelCmdline, loader: L) -> Self {
        Coldplug {
            index,
            cmdline,
            blacklist: cmdline.blacklist(),
            loader,
            state: BTreeMap::new(),
            seen_aliases: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// Continues with another index and loader (the module pack's, whose
    /// index covers the first one's modules too): what was loaded or failed
    /// stays so, and every modalias seen so far is matched again, since the
    /// new index may match what the first did not. Returns the number of
    /// modules that loaded. Devices not seen yet come with the next pass.
    pub fn switch_index(&mut self, index: &'a ModuleIndex, loader: L) -> usize {
        self.index = index;
        self.loader = loader;
        let seen = std::mem::take(&mut self.seen_aliases);
        self.pass(&seen)
    }

    /// Number of modules loaded (including ones the kernel already had).
    pub fn loaded_count(&self) -> usize {
        self.state.values().filter(|s| **s == State::Loaded).count()
    }

    /// Names of loaded modules, sorted.
    pub fn loaded_names(&self) -> Vec<String> {
        self.state
            .iter()
            .filter(|(_, s)| **s == State::Loaded)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Required modules that failed, in the order they failed.
    pub fn failures(&self) -> &[ModuleFailure] {
        &self.failures
    }

    /// Records a failure that is not a module load (e.g. an unreadable index).
    pub fn record_failure(&mut self, name: &str, error: &str) {
        self.failures.push(ModuleFailure {
            name: name.to_string(),
            error: error.to_string(),
        });
    }

    /// Loads a module by name with its dependencies (blacklist not applied,
    /// as with an explicit `modprobe name`). Built-in modules succeed at once.
    /// Returns the number of modules newly loaded.
    pub fn load_by_name(&mut self, name: &str) -> Result<usize, String> {
        let name = normalize_module_name(name);
        if self.index.is_builtin(&name) {
            return Ok(0);
        }
        let steps = match self.index.load_order(&name) {
            Ok(steps) => steps,
            Err(e) => {
                let error = e.to_string();
                self.state
                    .insert(name.clone(), State::Failed(error.clone()));
                self.record_failure(&name, &error);
                return Err(error);
            }
        };
        self.load_steps(&name, &steps)
    }

    /// Handles the modaliases not seen before: every shipped, non-blacklisted
    /// module matching them is loaded. Returns the number of modules newly loaded.
    pub fn pass(&mut self, modaliases: &BTreeSet<String>) -> usize {
        let before = self.loaded_count();
        let new: Vec<String> = modaliases.difference(&self.seen_aliases).cloned().collect();
        for alias in new {
            self.seen_aliases.insert(alias.clone());
            for module in self.index.modules_for_modalias(&alias) {
                if self.state.contains_key(&module) {
                    continue;
                }
                if self.blacklist.contains(&module) {
                    crate::log::info(&format!(
                        "{module}: blacklisted on the command line, not loading for {alias}"
                    ));
                    self.state.insert(module.clone(), State::Blacklisted);
                    continue;
                }
                crate::log::debug(&format!("{alias} -> {module}"));
                // Failures are recorded in `failures`; partial chains still count.
                let _ = self.load_by_name(&module);
            }
        }
        self.loaded_count() - before
    }

    /// True if there are modaliases in `modaliases` not handled yet.
    pub fn has_new(&self, modaliases: &BTreeSet<String>) -> bool {
        modaliases.difference(&self.seen_aliases).next().is_some()
    }

    /// Loads the steps for `target` in order. A required step that fails
    /// stops the chain; optional ones are only logged.
    fn load_steps(&mut self, target: &str, steps: &[LoadStep]) -> Result<usize, String> {
        let mut loaded = 0;
        for step in steps {
            match self.state.get(&step.name) {
                Some(State::Loaded) => continue,
                Some(State::Failed(e)) if step.optional => {
                    crate::log::debug(&format!(
                        "{}: optional {} failed earlier: {e}",
                        target, step.name
                    ));
                    continue;
                }
                Some(State::Failed(e)) => {
                    let error = format!("needs {}, which failed: {e}", step.name);
                    return Err(self.fail(target, error));
                }
                Some(State::Blacklisted) | None => {}
            }
            if self.index.is_builtin(&step.name) {
                continue;
            }
            let params = self.cmdline.module_params(&step.name);
            match self.loader.load(step, &params) {
                Ok(how) => {
                    let how = if how == Loaded::Now {
                        "loaded"
                    } else {
                        "already loaded"
                    };
                    let with = if params.is_empty() {
                        String::new()
                    } else {
                        format!(" with {params:?}")
                    };
                    crate::log::debug(&format!("{}: {how}{with}", step.name));
                    self.state.insert(step.name.clone(), State::Loaded);
                    loaded += 1;
                }
                Err(error) if step.optional => {
                    crate::log::info(&format!(
                        "{}: optional module not loaded: {error}",
                        step.name
                    ));
                    self.state.insert(step.name.clone(), State::Failed(error));
                }
                Err(error) => {
                    crate::log::warn(&format!("{}: cannot load: {error}", step.name));
                    self.state
                        .insert(step.name.clone(), State::Failed(error.clone()));
                    self.failures.push(ModuleFailure {
                        name: step.name.clone(),
                        error: error.clone(),
                    });
                    if step.name != target {
                        let _ = self.fail(
                            target,
                            format!("needs {}, which failed: {error}", step.name),
                        );
                    }
                    return Err(error);
                }
            }
        }
        Ok(loaded)
    }

    /// Marks `target` failed (once) and returns the error.
    fn fail(&mut self, target: &str, error: String) -> String {
        if !matches!(self.state.get(target), Some(State::Failed(_))) {
            crate::log::warn(&format!("{target}: cannot load: {error}"));
            self.state
                .insert(target.to_string(), State::Failed(error.clone()));
            self.failures.push(ModuleFailure {
                name: target.to_string(),
                error: error.clone(),
            });
        }
        error
    }
}

/// Timing of [`run_coldplug`].
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Pause between passes.
    pub interval: Duration,
    /// Stop once this long passed without new devices or newly loaded modules.
    pub quiet: Duration,
    /// Stop after this long in any case.
    pub cap: Duration,
}

impl Default for Timing {
    /// 100 ms between quiet passes, 0.3 s quiet, 20 s cap. The quiet time can
    /// be short: `finit_module` returns after the driver's probe (and its
    /// async part, e.g. libata's port scan), so the devices it finds are
    /// usually there for the next pass, which follows at once. Devices that
    /// appear later (a slow SCSI scan, a USB stick) are still handled,
    /// because waiting for the install medium keeps loading drivers.
    fn default() -> Self {
        Timing {
            interval: Duration::from_millis(100),
            quiet: Duration::from_millis(300),
            cap: Duration::from_secs(20),
        }
    }
}

/// Repeats passes with the modaliases from `scan` until one loads nothing
/// and `timing.quiet` passed without new modaliases, or `timing.cap` is
/// reached. Returns true if it finished quiet, false if it hit the cap.
pub fn run_coldplug<L: ModuleLoader>(
    cp: &mut Coldplug<'_, L>,
    scan: impl FnMut() -> BTreeSet<String>,
    timing: Timing,
) -> bool {
    run_coldplug_idle(cp, scan, timing, |_| false)
}

/// [`run_coldplug`] that gives the pauses between quiet passes to `idle`
/// first (the pause is shortened by the time it took), and at least one
/// pause after the last change even when a slow pass (a loaded host) used
/// up the quiet time. `idle` may change the coldplug (e.g.
/// [`Coldplug::switch_index`]); when it returns true (it loaded
/// something), the quiet time starts again and the next pass follows at
/// once.
pub fn run_coldplug_idle<'a, L: ModuleLoader>(
    cp: &mut Coldplug<'a, L>,
    mut scan: impl FnMut() -> BTreeSet<String>,
    timing: Timing,
    mut idle: impl FnMut(&mut Coldplug<'a, L>) -> bool,
) -> bool {
    let start = Instant::now();
    let mut last_change = start;
    let mut idled = false;
    loop {
        let aliases = scan();
        let mut changed = cp.has_new(&aliases);
        if cp.pass(&aliases) > 0 {
            changed = true;
        }
        if changed {
            last_change = Instant::now();
            idled = false;
        }
        let quiet = !changed && last_change.elapsed() >= timing.quiet;
        if quiet && idled {
            return true;
        }
        if start.elapsed() >= timing.cap {
            crate::log::warn(&format!(
                "coldplug: devices still appearing after {:?}; carrying on",
                timing.cap
            ));
            return false;
        }
        // After a change, rescan at once: what the new drivers found is
        // usually there already.
        if !changed {
            let pause = Instant::now();
            idled = true;
            if idle(cp) {
                last_change = Instant::now();
                idled = false;
                continue;
            }
            if quiet {
                return true;
            }
            if let Some(rest) = timing.interval.checked_sub(pause.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    }
}

#[cfg(test)]
mod tests;
