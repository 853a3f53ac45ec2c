//! First boot (and every boot): the desired state from the current
//! generation — or, the first time, from the handover record — rendered and
//! applied, the keys made if missing, `/run/appliance/resolv.conf`, and the
//! console text. The same [`refresh`] serves `watch`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use handover::{Handover, NetMode};

use crate::apply::{self, ApplyReport};
use crate::console;
use crate::fsutil::{self, under};
use crate::generation::Store;
use crate::issue::{self, ConsoleFacts};
use crate::keymap;
use crate::keys::{self, KeyReport};
use crate::paths;
use crate::render;
use crate::state::{self, DesiredState, LayoutEntry};

/// Where things are; production uses [`Options::production`].
#[derive(Debug, Clone)]
pub struct Options {
    /// The appliance's root directory (`/`).
    pub root: PathBuf,
    /// The handover record (absolute, not below `root`).
    pub handover: PathBuf,
    /// Where the console text is printed.
    pub consoles: Vec<PathBuf>,
}

impl Options {
    /// `/`, `/run/appliance/handover.json`, the kernel's consoles.
    pub fn production() -> Options {
        Options {
            root: PathBuf::from("/"),
            handover: PathBuf::from(paths::HANDOVER),
            consoles: console::kernel_consoles(),
        }
    }
}

/// What a boot did; shown in the journal (never the setup code).
#[derive(Debug, Default)]
pub struct Outcome {
    /// The generation in use.
    pub generation: u64,
    /// Whether it was made now from the handover record (or the fallback).
    pub new_generation: bool,
    /// Files written and units to restart.
    pub applied: ApplyReport,
    /// Keys made and kept.
    pub keys: KeyReport,
    /// Problems that did not stop the boot (unknown keyboard, no record).
    pub warnings: Vec<String>,
    /// What happened to the VGA console's keymap (see [`load_keymap`]).
    pub console_keymap: String,
}

/// Errors that stop first boot.
#[derive(Debug, thiserror::Error)]
pub enum FirstBootError {
    /// The generation store failed.
    #[error(transparent)]
    Generation(#[from] crate::generation::GenerationError),
    /// The state cannot be rendered.
    #[error("the desired state cannot be rendered: {0}")]
    State(#[from] state::StateError),
    /// Writing the files failed.
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    /// Making a key failed.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// Writing a runtime file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn load_layouts(root: &Path, warnings: &mut Vec<String>) -> Vec<LayoutEntry> {
    let path = under(root, paths::KEYMAP_INDEX);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            warnings.push(format!("{}: not a keyboard list: {e}", path.display()));
            Vec::new()
        }),
        Err(e) => {
            warnings.push(format!("{}: {e}", path.display()));
            Vec::new()
        }
    }
}

/// The current state, or the first one made from the handover record (or
/// the fallback when there is none). Returns (generation, state, made now,
/// the record's DHCP lease address for the certificate).
fn desired_state(
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<(u64, DesiredState, bool, Option<Ipv4Addr>), FirstBootError> {
    let store = Store::new(&opts.root);
    let record = match std::fs::read_to_string(&opts.handover) {
        Ok(text) => match Handover::parse(&text) {
            Ok(h) => Some(h),
            Err(e) => {
                warnings.push(format!("{}: {e}", opts.handover.display()));
                None
            }
        },
        Err(e) => {
            warnings.push(format!("{}: {e}", opts.handover.display()));
            None
        }
    };
    let lease = record
        .as_ref()
        .filter(|h| h.network.mode == NetMode::Dhcp)
        .and_then(|h| h.network.address.map(|a| a.addr));
    if let Some((n, st)) = store.current()? {
        return Ok((n, st, false, lease));
    }
    let st = match &record {
        Some(h) => {
            let layouts = load_layouts(&opts.root, warnings);
            let (st, notes) = state::from_handover(h, &layouts);
            warnings.extend(notes);
            match st.validate() {
                Ok(()) => st,
                Err(e) => {
                    warnings.push(format!(
                        "the handover record gives an unusable state ({e}): DHCP on every Ethernet adapter, US keyboard"
                    ));
                    state::fallback()
                }
            }
        }
        None => {
            warnings.push(
                "no usable handover record: DHCP on every Ethernet adapter, US keyboard".into(),
            );
            state::fallback()
        }
    };
    let n = store.commit(&st)?;
    Ok((n, st, true, lease))
}

/// Name servers and search domains systemd-networkd learnt (all links).
pub fn learnt_dns(root: &Path) -> (Vec<Ipv4Addr>, Vec<String>) {
    let mut dns = Vec::new();
    let mut domains = Vec::new();
    let dir = under(root, paths::NETIF_LINKS);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            let (d, s) = render::parse_netif_link(&text);
            dns.extend(d);
            domains.extend(s);
        }
    }
    (dns, domains)
}

/// Writes `/run/appliance/resolv.conf` when it changed.
pub fn write_resolv(root: &Path, st: &DesiredState) -> Result<(), FirstBootError> {
    let (dns, domains) = learnt_dns(root);
    let text = render::resolv_conf(st, &dns, &domains);
    let path = under(root, paths::RUN_RESOLV);
    let same = fsutil::read_if_exists(&path)
        .ok()
        .flatten()
        .is_some_and(|b| b == text.as_bytes());
    if !same {
        fsutil::write_atomic(&path, text.as_bytes(), 0o644)
            .map_err(|source| FirstBootError::Io { path, source })?;
    }
    Ok(())
}

/// How [`refresh`] prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Print {
    /// Only when the text changed.
    OnChange,
    /// In any case (the first look of a boot).
    Always,
}

/// Renders the console text for `addresses`, writes the issue file and, when
/// it changed (or with [`Print::Always`]), prints it on the consoles,
/// followed by the ready line when `ready` and there is an address.
/// Returns whether it printed.
pub fn refresh(
    root: &Path,
    st: &DesiredState,
    addresses: &[IpAddr],
    consoles: &[PathBuf],
    print: Print,
    ready: bool,
) -> Result<bool, FirstBootError> {
    let fp = keys::fingerprints(root);
    let code = keys::current_setup_code(root)?;
    let facts = ConsoleFacts {
        state: st,
        addresses,
        fingerprints: &fp,
        setup_code: code.as_ref(),
    };
    let text = issue::text(&facts);
    let path = under(root, paths::ISSUE);
    let changed =
        console::write_issue(root, &text).map_err(|source| FirstBootError::Io { path, source })?;
    let force = print == Print::Always;
    if changed || force {
        let mut out = format!("\n{text}");
        if ready && !addresses.is_empty() {
            let tty1 = under(root, keymap::TTY1);
            let keys = keymap::top_row(&tty1)
                .map_err(|e| eprintln!("cannot read the keymap of {}: {e}", tty1.display()))
                .ok();
            out.push_str(&issue::ready_line(&facts, keys.as_deref()));
            out.push('\n');
        }
        for (c, e) in console::print(consoles, &out) {
            eprintln!("cannot print the console text on {}: {e}", c.display());
        }
    }
    if changed || force {
        let reload = under(root, paths::AGETTY_RELOAD);
        console::reload_gettys(root).map_err(|source| FirstBootError::Io {
            path: reload,
            source,
        })?;
    }
    Ok(changed || force)
}

/// Loads the desired keyboard layout into the kernel from the image's
/// compiled keymaps and writes [`keymap::LOADED_MARK`], so Debian's slower
/// `keyboard-setup`/`console-setup` units are skipped; when there is no
/// compiled keymap for the layout (or no virtual terminal), nothing is
/// marked and those units load it as before. Returns what happened.
pub fn load_keymap(root: &Path, st: &DesiredState) -> String {
    let code = &st.keyboard.code;
    let file = keymap::bkeymap_path(root, code);
    match keymap::load(&file, &under(root, keymap::TTY0)) {
        Ok(skipped) => {
            let mark = under(root, keymap::LOADED_MARK);
            match fsutil::write_atomic(&mark, format!("{code}\n").as_bytes(), 0o644) {
                Ok(()) => {
                    format!("{code} loaded ({skipped} entries unknown to this kernel skipped)")
                }
                Err(e) => format!(
                    "{code} loaded, but {} cannot be written ({e}): console-setup loads it again",
                    mark.display()
                ),
            }
        }
        Err(e) => format!("{code} not loaded here ({e}): keyboard-setup loads it"),
    }
}

/// Runs first boot. `now` dates a new TLS certificate.
pub fn run(opts: &Options, now: time::OffsetDateTime) -> Result<Outcome, FirstBootError> {
    let mut out = Outcome::default();
    let (n, st, new, lease) = desired_state(opts, &mut out.warnings)?;
    out.generation = n;
    out.new_generation = new;
    let rendered = render::render(&st)?;
    out.applied = apply::apply(&opts.root, &rendered)?;
    out.console_keymap = load_keymap(&opts.root, &st);
    write_resolv(&opts.root, &st)?;
    let mut ips: Vec<IpAddr> = st.static_addresses().into_iter().map(IpAddr::V4).collect();
    ips.extend(lease.map(IpAddr::V4));
    out.keys = keys::ensure(&opts.root, &st, &ips, now)?;
    // Before the network is up only the static addresses are known, and
    // not yet assigned: no ready line. The `watch` service shows the
    // assigned ones and the ready line.
    let shown: Vec<IpAddr> = st.static_addresses().into_iter().map(IpAddr::V4).collect();
    refresh(
        &opts.root,
        &st,
        &shown,
        &opts.consoles,
        Print::Always,
        false,
    )?;
    Ok(out)
}
