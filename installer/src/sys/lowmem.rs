//! Keeping the installer inside small RAM (a whole install with `-m 128`,
//! where about 14 MiB are free when the install starts).
//!
//! Two levers, each a pure plan and one applier:
//! - [`SYSCTLS`]: kernel limits written to `/proc/sys` by PID 1 at start.
//!   TCP receive buffers (socket memory cannot be reclaimed; autotuning
//!   lets a fast local server grow one socket's queue to 6 MiB) and dirty
//!   page cache of the target disk (bounded in bytes, so writeback starts
//!   early and clean pages can be dropped).
//! - [`loaded_module_files`]: once the module pack is loaded, the `.ko`
//!   files of the initramfs whose module is loaded (the kernel holds its
//!   own copy, so the file in the never-freed initramfs is dead weight).
//!   Modules not loaded stay: a device plugged in later may need them.

use std::path::{Path, PathBuf};

/// `(key under /proc/sys, value)`.
pub const SYSCTLS: [(&str, &str); 5] = [
    // min, default, max receive buffer of one TCP socket: 512 KiB at most
    // still fills a LAN link; the kernel's default max is 6 MiB.
    ("net/ipv4/tcp_rmem", "4096 131072 524288"),
    ("net/core/rmem_max", "524288"),
    // Dirty page cache: background writeback from 1 MiB, writers throttled
    // at 4 MiB (the default is 10 % / 20 % of available memory).
    ("vm/dirty_background_bytes", "1048576"),
    ("vm/dirty_bytes", "4194304"),
    // Give back freed slab objects (dentries, inodes) more readily.
    ("vm/vfs_cache_pressure", "200"),
];

/// Writes [`SYSCTLS`] under `proc_sys` (`/proc/sys`); returns what failed
/// as `key: error` (the install still runs, only with the kernel's limits).
pub fn apply_sysctls(proc_sys: &Path) -> Vec<String> {
    SYSCTLS
        .iter()
        .filter_map(|(key, value)| {
            std::fs::write(proc_sys.join(key), value)
                .err()
                .map(|e| format!("{key}: {e}"))
        })
        .collect()
}

/// The module name of a `.ko` file name (`sr_mod.ko` → `sr_mod`,
/// `ehci-hcd.ko` → `ehci_hcd`), or `None` for anything else.
pub fn module_name(file_name: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".ko")?;
    (!stem.is_empty()).then(|| stem.replace('-', "_"))
}

/// The `.ko` files under `module_dir` (recursively) whose module
/// `is_loaded` says is loaded, sorted.
pub fn loaded_module_files(module_dir: &Path, is_loaded: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![module_dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                dirs.push(path);
            } else if ft.is_file() {
                let name = e.file_name();
                if module_name(&name.to_string_lossy()).is_some_and(|m| is_loaded(&m)) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    out
}

/// A loadable module is loaded when `/sys/module/<name>/initstate` says
/// `live` (built-in modules have no `initstate`).
pub fn sys_module_live(sys_module: &Path, name: &str) -> bool {
    std::fs::read_to_string(sys_module.join(name).join("initstate"))
        .is_ok_and(|s| s.trim() == "live")
}

/// Removes the initramfs files of loaded modules under `module_dir`;
/// returns (files removed, bytes freed).
pub fn free_loaded_modules(module_dir: &Path, sys_module: &Path) -> (usize, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for path in loaded_module_files(module_dir, |m| sys_module_live(sys_module, m)) {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if std::fs::remove_file(&path).is_ok() {
            files += 1;
            bytes += len;
        }
    }
    (files, bytes)
}

/// `MemAvailable` in KiB from the text of `/proc/meminfo`.
pub fn mem_available_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
}

/// Logs `MemAvailable` (info: the log file and the kernel log) with `when`.
pub fn log_mem_available(when: &str) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    if let Some(kib) = mem_available_kib(&text) {
        crate::log::info(&format!("MemAvailable {when}: {kib} KiB"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_from_meminfo() {
        let text = "MemTotal:          82000 kB\nMemFree:  1000 kB\nMemAvailable:      14336 kB\n";
        assert_eq!(mem_available_kib(text), Some(14336));
        assert_eq!(mem_available_kib("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn module_names_follow_the_kernel() {
        assert_eq!(module_name("sr_mod.ko").as_deref(), Some("sr_mod"));
        assert_eq!(module_name("ehci-hcd.ko").as_deref(), Some("ehci_hcd"));
        assert_eq!(module_name("modules.dep"), None);
        assert_eq!(module_name(".ko"), None);
    }

    #[test]
    fn only_loaded_modules_are_freed() {
        let dir = crate::testutil::TempTree::new("lowmem");
        let mods = dir.path().join("lib/modules/6.1.0/kernel");
        std::fs::create_dir_all(mods.join("drivers/net")).unwrap();
        std::fs::create_dir_all(mods.join("fs/ext4")).unwrap();
        std::fs::write(mods.join("drivers/net/e1000.ko"), vec![0u8; 100]).unwrap();
        std::fs::write(mods.join("fs/ext4/ext4.ko"), vec![0u8; 50]).unwrap();
        std::fs::write(dir.path().join("lib/modules/6.1.0/modules.dep"), "x").unwrap();
        let sys = dir.path().join("sys/module");
        std::fs::create_dir_all(sys.join("e1000")).unwrap();
        std::fs::write(sys.join("e1000/initstate"), "live\n").unwrap();
        // Built in: a directory without `initstate`.
        std::fs::create_dir_all(sys.join("ext4")).unwrap();
        let (files, bytes) = free_loaded_modules(&dir.path().join("lib/modules/6.1.0"), &sys);
        assert_eq!((files, bytes), (1, 100));
        assert!(!mods.join("drivers/net/e1000.ko").exists());
        assert!(mods.join("fs/ext4/ext4.ko").exists());
        assert!(dir.path().join("lib/modules/6.1.0/modules.dep").exists());
    }

    #[test]
    fn sysctl_failures_name_the_key() {
        let dir = crate::testutil::TempTree::new("lowmem");
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        std::fs::create_dir_all(dir.path().join("vm")).unwrap();
        let failed = apply_sysctls(dir.path());
        assert_eq!(
            failed,
            vec!["net/core/rmem_max: No such file or directory (os error 2)"]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("net/ipv4/tcp_rmem")).unwrap(),
            "4096 131072 524288"
        );
    }
}
