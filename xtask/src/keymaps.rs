//! Console keymaps for the installer: every layout of [`table::LAYOUTS`] is
//! compiled at image build time from the pinned Debian packages,
//!
//! ```text
//! perl ckbcomp -I<xkb-data>/usr/share/X11/xkb -model pc105 -layout L -variant V > L.kmap
//! loadkeys -b -u L.kmap > L.bkeymap
//! ```
//!
//! and shipped as `usr/share/keymaps/<code>.bkeymap` plus `index.json`
//! (`[{"code","name","xkb_layout","xkb_variant"}]`, "us" first).
//!
//! **Which XKB data?** `ckbcomp` looks for each file in its `-I` directories
//! first, then *silently* in `/etc/console-setup/ckb`, `/usr/share/X11/xkb`
//! and `/etc/X11/xkb` of the build host (`@xdirs` and `xfilename` in ckbcomp).
//! So we run it under a small perl prelude that logs every file it opens
//! (an override of `CORE::GLOBAL::open`), and [`verify::provenance`] fails the
//! build unless every file read lies inside the pinned xkb-data tree.
//!
//! Outputs are cached under `.cache/keymaps/<key>/` (override the parent with
//! `KEYMAPS_CACHE`), where the key hashes the pinned package versions, the
//! commands and the table; the cache directory also keeps the `.kmap` text,
//! the list of XKB files each layout read (`<code>.sources`) and the exact
//! commands (`commands.sh`).

mod table;
mod verify;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{anyhow, bail, Context, Result};
use image_builder::cpio::Archive;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cmd::Cmd;
use crate::inputs::Inputs;
use crate::lockfile::{Lock, Role};
use crate::project;
pub use table::{Layout, LAYOUTS};

/// Where the keymaps live in the initramfs (the installer reads them there).
pub const ARCHIVE_DIR: &str = "usr/share/keymaps";
/// The list of layouts next to the keymaps.
pub const INDEX: &str = "index.json";
/// The keyboard model passed to ckbcomp (and written to the target).
const MODEL: &str = "pc105";
/// Bump when the commands or checks change, so cached keymaps are rebuilt.
const PIPELINE: &str = "keymaps-v1";

/// Runs the script named by the first argument (ckbcomp) after making every
/// `open` print `xtask-open<TAB>args…` on stderr. ckbcomp only opens
/// bareword handles; anything else stops the build.
const TRACE_PRELUDE: &str = concat!(
    "BEGIN { require Symbol; *CORE::GLOBAL::open = sub (*;$@) { my $h = shift; ",
    "die \"xtask: ckbcomp opened a non-bareword handle\\n\" if !defined $h || ref $h; ",
    "my $fh = Symbol::qualify_to_ref($h, scalar caller); ",
    "print STDERR join(\"\\t\", \"xtask-open\", @_), \"\\n\"; ",
    "return @_ > 1 ? CORE::open($fh, $_[0], @_[1 .. $#_]) : CORE::open($fh, $_[0]); }; } ",
    "$0 = shift @ARGV; -r $0 or die \"xtask: cannot read $0\\n\"; do $0; die $@ if $@;"
);

/// Adds `usr/share/keymaps/<code>.bkeymap` for every layout and
/// `usr/share/keymaps/index.json` to the initramfs, compiling them first
/// unless the cache has them.
pub fn add_to_archive(archive: &mut Archive, inputs: &Inputs) -> Result<()> {
    for (path, data) in ensure(inputs)? {
        archive.add_file(&path, 0o644, data)?;
    }
    Ok(())
}

/// The files to ship, as (archive path, contents), sorted by path; each
/// keymap already validated.
pub fn ensure(inputs: &Inputs) -> Result<Vec<(String, Vec<u8>)>> {
    let root = cache_root();
    let dir = root.join(cache_key(&inputs.lock));
    if dir.join(INDEX).is_file() {
        match load(&dir) {
            Ok(files) => return Ok(files),
            Err(e) => {
                eprintln!(
                    "cached keymaps in {} are unusable ({e:#}); compiling them again",
                    dir.display()
                );
                fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
        }
    }
    let tools = Tools::from_inputs(inputs)?;
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let tmp = root.join(format!(".tmp-{}-{}", PIPELINE, crate::inputs::unique()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    eprintln!(
        "compiling {} console keymaps into {}",
        LAYOUTS.len(),
        dir.display()
    );
    let result = compile_all(&tools, &tmp).and_then(|()| {
        fs::write(tmp.join(INDEX), render_index(&LAYOUTS)?)?;
        match fs::rename(&tmp, &dir) {
            Ok(()) => Ok(()),
            // Another build finished the same key first; use its result.
            Err(_) if dir.join(INDEX).is_file() => Ok(()),
            Err(e) => Err(anyhow!(e).context(format!("moving keymaps to {}", dir.display()))),
        }
    });
    let _ = fs::remove_dir_all(&tmp);
    result?;
    load(&dir)
}

/// `.cache/keymaps` in the repository, or `$KEYMAPS_CACHE`.
fn cache_root() -> PathBuf {
    std::env::var_os("KEYMAPS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| project::root().join(".cache").join("keymaps"))
}

/// Hash of everything the keymaps depend on: the pinned console-setup,
/// xkb-data and kbd, the commands, the checks' version and the table.
fn cache_key(lock: &Lock) -> String {
    let mut h = Sha256::new();
    h.update(format!("{PIPELINE}\n{MODEL}\n{TRACE_PRELUDE}\n"));
    for role in [Role::ConsoleSetup, Role::XkbData, Role::Kbd] {
        let p = lock.get(role);
        h.update(format!("{} {} {}\n", p.package, p.version, p.sha256));
    }
    for l in &LAYOUTS {
        let p = l.probe;
        h.update(format!(
            "{}\t{}\t{}\t{}\t{} {} {}\n",
            l.code, l.name, l.xkb_layout, l.xkb_variant, p.map, p.keycode, p.ch
        ));
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Reads and validates a finished cache directory.
fn load(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let index = fs::read(dir.join(INDEX))?;
    if index != render_index(&LAYOUTS)?.as_bytes() {
        bail!("{INDEX} does not match the layout table");
    }
    let mut files = vec![(format!("{ARCHIVE_DIR}/{INDEX}"), index)];
    for l in &LAYOUTS {
        let path = dir.join(format!("{}.bkeymap", l.code));
        let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        check(&data, l).with_context(|| format!("checking {}", path.display()))?;
        files.push((format!("{ARCHIVE_DIR}/{}.bkeymap", l.code), data));
    }
    files.sort();
    Ok(files)
}

/// The shape and the probe key of one compiled keymap.
fn check(data: &[u8], layout: &Layout) -> Result<()> {
    verify::bkeymap(data)?;
    verify::probe(data, layout)
}

/// `index.json`: the table without the probes, in table order ("us" first).
fn render_index(layouts: &[Layout]) -> Result<String> {
    #[derive(Serialize)]
    struct Entry<'a> {
        code: &'a str,
        name: &'a str,
        xkb_layout: &'a str,
        xkb_variant: &'a str,
    }
    let entries: Vec<Entry<'_>> = layouts
        .iter()
        .map(|l| Entry {
            code: l.code,
            name: l.name,
            xkb_layout: l.xkb_layout,
            xkb_variant: l.xkb_variant,
        })
        .collect();
    Ok(serde_json::to_string_pretty(&entries)? + "\n")
}

/// The pinned tools and data.
struct Tools {
    ckbcomp: PathBuf,
    xkb: PathBuf,
    loadkeys: PathBuf,
}

impl Tools {
    fn from_inputs(inputs: &Inputs) -> Result<Tools> {
        let xkb = inputs.root(Role::XkbData).join("usr/share/X11/xkb");
        if !xkb.join("rules/base").is_file() {
            let pin = inputs.lock.get(Role::XkbData);
            bail!(
                "{} {} has no usr/share/X11/xkb/rules/base",
                pin.package,
                pin.version
            );
        }
        Ok(Tools {
            ckbcomp: inputs.file(Role::ConsoleSetup, "usr/bin/ckbcomp")?,
            xkb,
            loadkeys: inputs.file(Role::Kbd, "bin/loadkeys")?,
        })
    }

    /// `perl -e <trace prelude> ckbcomp -I<xkb> -model pc105 -layout L -variant V`.
    fn ckbcomp(&self, l: &Layout) -> Cmd {
        let mut include = OsString::from("-I");
        include.push(&self.xkb);
        Cmd::new("perl")
            .env("LC_ALL", "C")
            .env("PERL_HASH_SEED", "0")
            .env("PERL_PERTURB_KEYS", "0")
            .args(["-e", TRACE_PRELUDE])
            .arg(&self.ckbcomp)
            .arg(include)
            .args(["-model", MODEL, "-layout", l.xkb_layout])
            .args(["-variant", l.xkb_variant])
    }

    /// `loadkeys -b -u <kmap>`: the binary keymap on stdout.
    fn loadkeys(&self, kmap: &Path) -> Cmd {
        Cmd::new(&self.loadkeys)
            .env("LC_ALL", "C")
            .args(["-b", "-u"])
            .arg(kmap)
    }
}

/// Compiles every layout into `dir`, two or more at a time.
fn compile_all(tools: &Tools, dir: &Path) -> Result<()> {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let mut results: Vec<(usize, Result<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(l) = LAYOUTS.get(i) else { break };
                        done.push((i, compile(tools, l, dir)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![(0, Err(anyhow!("a keymap worker panicked")))])
            })
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let mut script = String::from(
        "#!/bin/sh -e\n# The commands that produced these keymaps; run from this directory.\n",
    );
    for (_, r) in results {
        script.push_str(&r?);
    }
    fs::write(dir.join("commands.sh"), script)?;
    Ok(())
}

/// Compiles and checks one layout; returns its commands as shell lines.
fn compile(tools: &Tools, l: &Layout, dir: &Path) -> Result<String> {
    let kmap = dir.join(format!("{}.kmap", l.code));
    let bin = dir.join(format!("{}.bkeymap", l.code));
    let ckbcomp = tools.ckbcomp(l);
    let out = ckbcomp
        .read_raw()
        .with_context(|| format!("compiling the {} keymap", l.code))?;
    let (opened, _warnings) = verify::split_trace(&out.stderr);
    let sources = verify::provenance(&opened, &tools.xkb, l)
        .with_context(|| format!("`{}`", ckbcomp.render()))?;
    if out.stdout.is_empty()
        || out
            .stdout
            .split(|&b| b == b'\n')
            .any(|line| line.starts_with(b"include"))
    {
        bail!(
            "`{}` printed no keymap or one with `include` lines, which loadkeys would resolve on the host",
            ckbcomp.render()
        );
    }
    fs::write(&kmap, &out.stdout)?;
    fs::write(
        dir.join(format!("{}.sources", l.code)),
        sources.join("\n") + "\n",
    )?;
    let loadkeys = tools.loadkeys(&kmap);
    let data = loadkeys
        .read_raw()
        .with_context(|| format!("converting the {} keymap", l.code))?
        .stdout;
    check(&data, l).with_context(|| format!("`{}`", loadkeys.render()))?;
    fs::write(&bin, &data)?;
    // The script refers to the files by name: `dir` is renamed when complete.
    let kmap_name = format!("{}.kmap", l.code);
    Ok(format!(
        "{} > {kmap_name}\n{} > {}.bkeymap\n",
        ckbcomp.render(),
        tools.loadkeys(Path::new(&kmap_name)).render(),
        l.code
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lists_every_layout_us_first_without_probes() {
        let text = render_index(&LAYOUTS).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let list = v.as_array().unwrap();
        assert_eq!(list.len(), LAYOUTS.len());
        assert_eq!(
            list[0],
            serde_json::json!({"code": "us", "name": "English (US)", "xkb_layout": "us", "xkb_variant": ""})
        );
        let de = list.iter().find(|e| e["code"] == "de").unwrap();
        assert_eq!(de["xkb_layout"], "de");
        assert_eq!(de["xkb_variant"], "nodeadkeys");
        assert_eq!(
            de.as_object().unwrap().len(),
            4,
            "only the four documented keys"
        );
        assert!(text.ends_with("}\n]\n"));
    }

    #[test]
    fn ckbcomp_command_uses_the_pinned_tree_and_renders_for_a_shell() {
        let t = Tools {
            ckbcomp: "/p/console-setup/usr/bin/ckbcomp".into(),
            xkb: "/p/xkb-data/usr/share/X11/xkb".into(),
            loadkeys: "/p/kbd/bin/loadkeys".into(),
        };
        let de = table::find("de").unwrap();
        let line = t.ckbcomp(de).render();
        assert!(
            line.starts_with("LC_ALL=C PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 perl -e '"),
            "{line}"
        );
        assert!(
            line.ends_with(
                "' /p/console-setup/usr/bin/ckbcomp -I/p/xkb-data/usr/share/X11/xkb \
                 -model pc105 -layout de -variant nodeadkeys"
            ),
            "{line}"
        );
        assert_eq!(
            t.loadkeys(Path::new("/c/de.kmap")).render(),
            "LC_ALL=C /p/kbd/bin/loadkeys -b -u /c/de.kmap"
        );
        let us = t.ckbcomp(&LAYOUTS[0]).render();
        assert!(us.ends_with("-layout us -variant ''"), "{us}");
    }

    #[test]
    fn cache_key_follows_the_pins_of_the_keymap_tools_only() {
        let lock = crate::inputs::read_lock().unwrap();
        let key = cache_key(&lock);
        assert_eq!(key.len(), 16);
        assert_eq!(key, cache_key(&lock), "deterministic");
        let bump = |role: Role| {
            let mut l = lock.clone();
            for p in l.pins.iter_mut().filter(|p| p.role == role) {
                p.version.push_str("+1");
            }
            cache_key(&l)
        };
        assert_eq!(bump(Role::Kernel), key, "the kernel does not matter");
        assert_ne!(bump(Role::XkbData), key, "xkb-data does");
        assert_ne!(bump(Role::ConsoleSetup), key, "console-setup does");
        assert_ne!(bump(Role::Kbd), key, "kbd does");
    }
}

/// The real pipeline on the pinned packages (fetched by `cargo xtask inputs`
/// if the cache lacks them; the tests fail if that is impossible).
#[cfg(test)]
mod pinned_tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-keymaps-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn tools() -> Tools {
        let inputs = crate::inputs::ensure()
            .expect("the pinned Debian packages are needed: run `cargo xtask inputs`");
        Tools::from_inputs(&inputs).unwrap()
    }

    #[test]
    #[ignore = "needs the pinned Debian packages (apt-get download): ckbcomp, loadkeys"]
    fn de_compiles_from_the_pinned_xkb_data_with_z_on_keycode_21() {
        let t = tools();
        let dir = scratch("de");
        let de = table::find("de").unwrap();
        let commands = compile(&t, de, &dir).unwrap();
        let data = fs::read(dir.join("de.bkeymap")).unwrap();
        // 128 modifier maps, as measured: 7 + 256 + 128·256.
        assert_eq!(data.len(), 33_031);
        assert_eq!(verify::bkeymap(&data).unwrap(), 128);
        // 0x107 + 21·2: keycode 21 of the plain map is KT_LETTER 'z'.
        assert_eq!(verify::entry(&data, 0, 21), Some(0x0B7A));
        assert_eq!(
            verify::entry(&data, 0, 44),
            Some(0x0B79),
            "keycode 44 is 'y'"
        );
        let sources = fs::read_to_string(dir.join("de.sources")).unwrap();
        assert!(sources.lines().any(|l| l == "symbols/de"), "{sources}");
        assert!(sources.lines().any(|l| l == "rules/base"), "{sources}");
        assert!(
            commands.contains("-layout de -variant nodeadkeys > de.kmap\n"),
            "{commands}"
        );
        assert!(
            commands.ends_with("/bin/loadkeys -b -u de.kmap > de.bkeymap\n"),
            "{commands}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[ignore = "needs the pinned Debian packages (apt-get download): ckbcomp, loadkeys"]
    fn an_xkb_dir_without_the_files_is_never_silently_replaced_by_the_hosts() {
        let mut t = tools();
        let empty = scratch("empty-xkb");
        t.xkb = empty.clone();
        let out = scratch("empty-out");
        let err = compile(&t, table::find("de").unwrap(), &out).unwrap_err();
        let msg = format!("{err:#}");
        // With the host's xkb-data installed, ckbcomp falls back to it and the
        // provenance check must catch that; without it, ckbcomp itself fails.
        assert!(
            msg.contains("outside the pinned xkb-data tree") || msg.contains("Can not find file"),
            "{msg}"
        );
        assert!(!out.join("de.bkeymap").exists());
        fs::remove_dir_all(&empty).unwrap();
        fs::remove_dir_all(&out).unwrap();
    }
}
