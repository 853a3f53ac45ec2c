//! The module pack on the install medium (layout:
//! `image_builder::kmod::pack`): most network and storage drivers live there
//! rather than in the initramfs, so they cost RAM only when a device needs
//! them. Once the medium is mounted, [`Pack::open`] reads the pack's index
//! (which also covers the initramfs's modules), [`PackLoader`] loads a
//! packed module by decompressing it into memory and handing the bytes to
//! `init_module(2)` (the kernel checks the signature as for a file), and
//! falls back to the initramfs's file otherwise. [`Pack::firmware_dir`] is
//! what the kernel's firmware loader is pointed at.

use super::kernel::{describe_errno, load_index, IndexError};
use super::{KernelLoader, Loaded, ModuleLoader};
use image_builder::kmod::index::{LoadStep, ModuleIndex};
use image_builder::kmod::pack;
use nix::errno::Errno;
use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The kernel's firmware search path parameter (`firmware_class.path=`).
pub const FIRMWARE_PATH_PARAM: &str = "sys/module/firmware_class/parameters/path";

/// A module pack found on a mounted medium.
#[derive(Debug)]
pub struct Pack {
    /// `<medium>/install/modules/<release>`.
    pub dir: PathBuf,
    /// `<medium>/install/firmware`, if the medium has one.
    pub firmware_dir: Option<PathBuf>,
    /// The pack's index.
    pub index: ModuleIndex,
}

/// Why no pack was opened.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The medium has no pack for this kernel (an older ISO, or another kernel).
    #[error("the medium has no module pack for kernel {release} ({dir} is missing)")]
    Missing {
        /// The running kernel's release.
        release: String,
        /// The directory looked for.
        dir: PathBuf,
    },
    /// The pack's index cannot be read.
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl Pack {
    /// Opens the pack of kernel `release` on the medium mounted at `medium`.
    pub fn open(medium: &Path, release: &str) -> Result<Pack, PackError> {
        let dir = medium.join(pack::release_dir(release));
        if !dir.is_dir() {
            return Err(PackError::Missing {
                release: release.to_string(),
                dir,
            });
        }
        let index = load_index(&dir)?;
        let firmware_dir = Some(medium.join(pack::FIRMWARE_DIR)).filter(|d| d.is_dir());
        Ok(Pack {
            dir,
            firmware_dir,
            index,
        })
    }
}

/// Loads modules from the pack when it has them, else from the initramfs.
#[derive(Debug, Clone)]
pub struct PackLoader {
    /// The initramfs's `/lib/modules/<kver>`.
    pub initramfs: KernelLoader,
    /// The pack's directory, once the medium was found.
    pub pack_dir: Option<PathBuf>,
}

impl PackLoader {
    /// A loader for the initramfs only.
    pub fn initramfs(module_dir: &Path) -> PackLoader {
        PackLoader {
            initramfs: KernelLoader {
                module_dir: module_dir.to_path_buf(),
            },
            pack_dir: None,
        }
    }
}

impl ModuleLoader for PackLoader {
    fn load(&mut self, step: &LoadStep, params: &str) -> Result<Loaded, String> {
        if let Some(dir) = &self.pack_dir {
            let path = dir.join(pack::module_file(&step.name));
            match std::fs::File::open(&path) {
                Ok(file) => {
                    let image =
                        decompress_module(file).map_err(|e| format!("{}: {e}", path.display()))?;
                    return init_module(&image, params, &step.name);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
            }
        }
        self.initramfs.load(step, params)
    }
}

/// Decompresses one packed module (a zstd frame), refusing more than
/// [`pack::MAX_MODULE_BYTES`].
pub fn decompress_module(packed: impl Read) -> Result<Vec<u8>, String> {
    let decoder =
        zstd::stream::Decoder::new(packed).map_err(|e| format!("not a zstd stream: {e}"))?;
    let mut out = Vec::new();
    let limit = pack::MAX_MODULE_BYTES as u64;
    decoder
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt packed module: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!(
            "packed module is larger than {} MiB once decompressed",
            limit >> 20
        ));
    }
    Ok(out)
}

fn init_module(image: &[u8], params: &str, name: &str) -> Result<Loaded, String> {
    let params =
        CString::new(params).map_err(|_| format!("parameters for {name} contain a NUL byte"))?;
    match nix::kmod::init_module(image, &params) {
        Ok(()) => Ok(Loaded::Now),
        Err(Errno::EEXIST) => Ok(Loaded::Already),
        Err(e) => Err(describe_errno(e)),
    }
}

/// Points the kernel's firmware loader at `dir` (under `root`, normally `/`):
/// it then looks there first, for `<name>` and `<name>.xz`.
pub fn set_firmware_path(root: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::write(
        root.join(FIRMWARE_PATH_PARAM),
        dir.as_os_str().as_encoded_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempTree;

    #[test]
    fn packed_modules_decompress_and_garbage_is_named() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let packed = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(decompress_module(&packed[..]).unwrap(), data);
        let err = decompress_module(&b"not zstd at all"[..]).unwrap_err();
        assert!(err.contains("corrupt packed module"), "{err}");
        let mut cut = packed.clone();
        cut.truncate(packed.len() / 2);
        assert!(decompress_module(&cut[..]).is_err());
    }

    #[test]
    fn a_module_bomb_is_refused() {
        let zeros = vec![0u8; pack::MAX_MODULE_BYTES + 4096];
        let packed = zstd::stream::encode_all(&zeros[..], 1).unwrap();
        let err = decompress_module(&packed[..]).unwrap_err();
        assert!(err.contains("larger than 64 MiB"), "{err}");
    }

    #[test]
    fn a_pack_is_opened_from_the_medium_and_a_missing_one_is_named() {
        let t = TempTree::new("pack");
        let err = Pack::open(t.path(), "6.1.0-56-amd64").unwrap_err();
        assert!(
            err.to_string()
                .contains("no module pack for kernel 6.1.0-56-amd64"),
            "{err}"
        );
        let dir = "install/modules/6.1.0-56-amd64";
        t.write(
            &format!("{dir}/modules.dep"),
            b"kernel/drivers/net/ethernet/realtek/r8169.ko: kernel/drivers/net/phy/libphy.ko\nkernel/drivers/net/phy/libphy.ko:\n",
        );
        t.write(
            &format!("{dir}/modules.alias"),
            b"alias pci:v000010ECd00008168sv*sd*bc*sc*i* r8169\n",
        );
        t.write("install/firmware/rtl_nic/rtl8168h-2.fw.xz", b"x");
        let p = Pack::open(t.path(), "6.1.0-56-amd64").unwrap();
        assert_eq!(
            p.index
                .modules_for_modalias("pci:v000010ECd00008168sv00001043sd00008677bc02sc00i00"),
            ["r8169"]
        );
        assert_eq!(p.firmware_dir, Some(t.path().join("install/firmware")));
        assert_eq!(p.dir, t.path().join(dir));
    }

    #[test]
    fn the_firmware_path_is_written_to_the_kernel_parameter() {
        let t = TempTree::new("fwpath");
        t.write(FIRMWARE_PATH_PARAM, b"\n");
        set_firmware_path(
            t.path(),
            Path::new("/run/installer/medium/install/firmware"),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join(FIRMWARE_PATH_PARAM)).unwrap(),
            "/run/installer/medium/install/firmware"
        );
    }
}
