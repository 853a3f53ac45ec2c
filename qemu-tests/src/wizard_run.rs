//! One appliance taken through the set-up wizard, as `wizard-bios` and the
//! disaster-recovery journey both need it: [`install_and_boot`] installs
//! the reference appliance (BIOS, e1000, DHCP on the serial console,
//! German keyboard) into a directory of its own and boots the disk with
//! forwards to the first lease and to the wizard's new address;
//! [`browse`] opens Chromium pinned to the printed key; [`walk`] goes
//! through every step to Activate.

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use browser_test::{wizard, Browser, Page};

use crate::harness::child::Vm;
use crate::harness::qemu::{Controller, Firmware, Forward, Network, Proto, VmConfig};
use crate::harness::tls::free_port;
use crate::install_run::{install, Drive, Install};
use crate::reference_boot::{issue_above_prompt, parse_console, ready_line, Shown, LOGIN_TIMEOUT};
use crate::scenario::RunOptions;
use crate::setup_claim::wrong_codes;
use crate::steps::{
    check_disk_booted, fetch_pinned, installed_vm, start, Installed, Machine, GUEST_ADDRESS,
    GUEST_PORT,
};
use crate::wizard_after::{self, NewPorts};
use crate::wizard_flow::{self, Inputs};

/// Login prompt → the page answers.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(180);

/// Host ports forwarded to the guest's first lease and its new address.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub old_https: u16,
    pub old_ssh: u16,
    pub new_https: u16,
    pub new_ssh: u16,
    /// UDP to FreeRADIUS's 1812 on the new address.
    pub radius: u16,
    /// HTTPS and SSH on a third address, when asked for
    /// ([`install_and_boot_also`]).
    pub extra: Option<NewPorts>,
}

impl Ports {
    pub fn new_address(&self) -> NewPorts {
        NewPorts {
            https: self.new_https,
            ssh: self.new_ssh,
        }
    }
}

/// An installed appliance, booted, at its first login prompt.
pub struct Booted {
    pub vm: Vm,
    /// The VM that boots the disk (to start it again).
    pub cfg: VmConfig,
    pub ports: Ports,
    /// What the console showed before the wizard.
    pub before: Shown,
    /// QEMU start → login prompt.
    pub login_at: Duration,
    pub installed_at: Duration,
    pub first_screen: Duration,
    /// Where its logs and disk are.
    pub dir: PathBuf,
}

/// Distinct free host ports.
fn ports(n: usize) -> Result<Vec<u16>> {
    let mut v: Vec<u16> = Vec::new();
    while v.len() < n {
        let p = free_port()?;
        if !v.contains(&p) {
            v.push(p);
        }
    }
    Ok(v)
}

/// Installs the reference appliance from `iso` into `dir` and boots it;
/// the new address is `i.address`.
pub fn install_and_boot(iso: &Path, opts: &RunOptions, dir: &Path, i: &Inputs) -> Result<Booted> {
    install_and_boot_also(iso, opts, dir, i, None)
}

/// [`install_and_boot`], with HTTPS and SSH forwarded to a third address
/// too (`Ports::extra`): where a restored configuration moves it.
pub fn install_and_boot_also(
    iso: &Path,
    opts: &RunOptions,
    dir: &Path,
    i: &Inputs,
    third: Option<Ipv4Addr>,
) -> Result<Booted> {
    fs::create_dir_all(dir)?;
    let machine = Machine {
        firmware: Firmware::Bios,
        nic: "e1000",
        bus: Controller::Ide { bus: 1, unit: None },
    };
    let done = install(
        &Install {
            machine,
            iso: iso.to_path_buf(),
            drive: Drive::InteractiveDhcp,
            keyboard: "de",
            disk_mib: 2048,
        },
        opts,
        dir,
    )?;
    let p = ports(7)?;
    let ports = Ports {
        old_https: p[0],
        old_ssh: p[1],
        new_https: p[2],
        new_ssh: p[3],
        radius: p[4],
        extra: third.map(|_| NewPorts {
            https: p[5],
            ssh: p[6],
        }),
    };
    let old: Ipv4Addr = GUEST_ADDRESS.parse()?;
    let new: Ipv4Addr = i.address.parse()?;
    let tcp = |host, guest, addr| (Proto::Tcp, Forward { host, guest }, addr);
    let installed = Installed {
        machine: &machine,
        opts,
        iso,
        dir,
        target: &done.target,
        vars: done.vars.as_deref(),
    };
    let mut cfg = installed_vm(&installed, false, Vec::new());
    if let Some(nic) = cfg.nic.as_mut() {
        let mut forwards = vec![
            tcp(ports.old_https, GUEST_PORT, old),
            tcp(ports.old_ssh, 22, old),
            tcp(ports.new_https, GUEST_PORT, new),
            tcp(ports.new_ssh, 22, new),
            (
                Proto::Udp,
                Forward {
                    host: ports.radius,
                    guest: 1812,
                },
                new,
            ),
        ];
        if let (Some(addr), Some(extra)) = (third, ports.extra) {
            forwards.push(tcp(extra.https, GUEST_PORT, addr));
            forwards.push(tcp(extra.ssh, 22, addr));
        }
        nic.network = Network::UserForwardTo(forwards);
    }
    let mut vm = start(&cfg, dir, "appliance")?.vm;
    vm.expect("login:", LOGIN_TIMEOUT)
        .context("waiting for the login prompt on ttyS0")?;
    let login_at = vm.elapsed();
    check_disk_booted(&vm.text(), false)?;
    ready_line(&mut vm, SERVICE_TIMEOUT)?;
    let screen = issue_above_prompt(&mut vm, Duration::from_secs(60))?;
    fs::write(dir.join("issue-before.txt"), &screen)?;
    let before = parse_console(&screen)?.shown;
    fetch_pinned(ports.old_https, &before.tls_colon, SERVICE_TIMEOUT)
        .context("8443 on the old address, pinned to the printed fingerprint")?;
    Ok(Booted {
        vm,
        cfg,
        ports,
        before,
        login_at,
        installed_at: done.installed_at,
        first_screen: done.first_screen,
        dir: dir.to_path_buf(),
    })
}

/// Chromium pinned to `spki` on host port `port`, screenshots under
/// `target/<shots>/` ([`browser_test::open_local`]).
pub async fn browse(spki: &str, port: u16, profile: &Path, shots: &str) -> Result<(Browser, Page)> {
    browser_test::open_local(spki, port, profile, shots).await
}

/// The whole wizard on `r`: two wrong codes and the right one, every
/// step's bad inputs, Activate (with "shut down after activation" when
/// `shutdown`).
pub async fn walk(r: &mut Page, b: &Booted, i: &Inputs, shutdown: bool) -> Result<()> {
    let licence = b.dir.join("TEST.lic");
    fs::write(&licence, wizard_flow::test_licence())?;
    let wrong = wrong_codes(&b.before.setup_code, 2)?;
    wizard::claim(r, &b.before.setup_code, &wrong).await?;
    wizard::licence(r, &licence, i).await?;
    wizard::network(r, i).await?;
    wizard::time(r, i).await?;
    wizard::roles(r, i, &b.before.setup_code).await?;
    wizard::radius(r, i).await?;
    wizard::keys_and_activate(r, i, shutdown).await
}

/// The wizard on `b` up to the confirmation on the new address (with the
/// dashboard walk), then root's console checks, which leave root's
/// `unsupported` shell open on the serial console. Screenshots go to
/// `target/<shots>/`. Returns what the console shows after the activation.
pub fn set_up(
    rt: &tokio::runtime::Runtime,
    b: &mut Booted,
    i: &Inputs,
    shots: &str,
) -> Result<Shown> {
    let before = b.before.clone();
    let dir = b.dir.clone();
    let after = rt.block_on(async {
        let (browser, mut r) = browse(
            &before.spki,
            b.ports.old_https,
            &dir.join("chromium-profile"),
            shots,
        )
        .await?;
        walk(&mut r, b, i, false).await?;
        let after = wizard_after::activation_shown(&mut r, &mut b.vm, i, &before).await?;
        browser.close().await?;
        wizard_after::confirm(&after, b.ports.new_address(), i, &dir).await?;
        anyhow::Ok(after)
    })?;
    wizard_after::console_checks(&mut b.vm, i)?;
    Ok(after)
}

/// What [`backup_in_browser`] downloads.
pub enum Backup {
    /// One file with every component.
    All(PathBuf),
    /// The database key alone and the data alone.
    Split(browser_test::backup::SplitFiles),
}

/// System → Backup in a Chromium pinned to `shown`'s key on host port
/// `port`, signed in as `i`'s Appliance Administrator; the files the page
/// offers are downloaded into `profile`'s download directory.
#[allow(clippy::too_many_arguments)] // one call's worth of plain values
pub fn backup_in_browser(
    rt: &tokio::runtime::Runtime,
    shown: &Shown,
    port: u16,
    profile: &Path,
    shots: &str,
    i: &Inputs,
    passphrase: &str,
    split: bool,
    timeout: Duration,
) -> Result<Backup> {
    let (admin, password) = i.appliance_admin;
    rt.block_on(async {
        let (browser, mut r) = browse(&shown.spki, port, profile, shots).await?;
        browser_test::dashboard::sign_in(&mut r, admin, password).await?;
        let downloads = browser_test::session::downloads(profile);
        let made = if split {
            Backup::Split(
                browser_test::backup::create_split_and_download(
                    &mut r, passphrase, &downloads, timeout,
                )
                .await?,
            )
        } else {
            Backup::All(
                browser_test::backup::create_and_download(&mut r, passphrase, &downloads, timeout)
                    .await?,
            )
        };
        browser.close().await?;
        anyhow::Ok(made)
    })
}
