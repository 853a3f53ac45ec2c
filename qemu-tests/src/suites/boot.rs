//! The boot matrix: {BIOS, UEFI, UEFI Secure Boot} × {CD, USB, disk} on the
//! serial entry, UEFI USB and Secure Boot USB with El Torito hidden (so the
//! 0xEF MBR partition is really used), and the default VGA entry once. Each
//! boots to the installer's first screen, checks what the installer saw
//! (firmware, Secure Boot, boot loader, console, medium) and powers off.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use protocol::{Event, MediumKind};

use crate::harness::child::last_lines;
use crate::harness::qemu::{Firmware, Medium};
use crate::harness::session::Session;
use crate::scenario::{Entry, Scenario, Script};
use crate::steps;

/// From QEMU start to the installer's first screen.
const FIRST_SCREEN_TIMEOUT: Duration = Duration::from_secs(360);

/// The matrix.
pub fn scenarios() -> Vec<Scenario> {
    let cell = |name: String, fw, m| {
        let mut s = Scenario::boot(name, fw, m);
        s.script = Script::Check(boot_check);
        s
    };
    let mut v = Vec::new();
    for fw in [Firmware::Bios, Firmware::Uefi, Firmware::SecureBoot] {
        for m in [Medium::Cd, Medium::Usb, Medium::Disk] {
            let mut s = cell(format!("{}-{}", fw.name(), m.name()), fw, m);
            s.representative = matches!(
                (fw, m),
                (Firmware::Bios, Medium::Cd)
                    | (Firmware::Bios, Medium::Usb)
                    | (Firmware::SecureBoot, Medium::Disk)
            );
            v.push(s);
        }
    }
    for (fw, representative) in [(Firmware::Uefi, true), (Firmware::SecureBoot, false)] {
        let mut s = cell(format!("{}-usb-no-eltorito", fw.name()), fw, Medium::Usb);
        s.hide_el_torito = true;
        s.representative = representative;
        v.push(s);
    }
    let mut vga = cell("bios-cd-vga-entry".into(), Firmware::Bios, Medium::Cd);
    vga.entry = Entry::Default;
    v.push(vga);
    v
}

/// First screen, what the installer saw, power off.
fn boot_check(s: &Scenario, session: &mut Session) -> Result<()> {
    session
        .expect_first_screen(FIRST_SCREEN_TIMEOUT)
        .with_context(|| {
            format!(
                "waiting for the installer's first screen; serial tail:\n{}",
                last_lines(&session.vm.text(), 30)
            )
        })?;
    check_events(s, &session.seen)?;
    let text = session.vm.text();
    if s.firmware == Firmware::SecureBoot {
        ensure!(
            text.contains("Secure boot enabled"),
            "the kernel did not log \"Secure boot enabled\""
        );
    }
    if s.hide_el_torito {
        ensure!(
            text.contains("cmdpath=(hd0,msdos2)"),
            "GRUB did not start from MBR partition 2 (the 0xEF ESP); serial tail:\n{}",
            last_lines(&text, 30)
        );
    }
    match s.entry {
        Entry::Serial => {
            session
                .vm
                .expect("installer", Duration::from_secs(30))
                .context("the first screen on the serial console")?;
            steps::exit_via_menu(session)
        }
        Entry::Default => {
            ensure!(
                text.contains("running on tty1"),
                "the serial console does not say that the installer runs on tty1; serial tail:\n{}",
                last_lines(&text, 30)
            );
            Ok(())
        }
    }
}

/// Checks what the installer reported against what the scenario booted.
pub fn check_events(s: &Scenario, evs: &[Event]) -> Result<()> {
    let Some((firmware, secure_boot, loader, console)) = evs.iter().find_map(|e| match e {
        Event::Started {
            firmware,
            secure_boot,
            loader,
            console,
            ..
        } => Some((*firmware, *secure_boot, loader.as_deref(), console.as_str())),
        _ => None,
    }) else {
        bail!("no \"started\" event");
    };
    let want_fw = if s.firmware == Firmware::Bios {
        protocol::Firmware::Bios
    } else {
        protocol::Firmware::Uefi
    };
    ensure!(
        firmware == want_fw,
        "firmware: want {want_fw:?}, installer saw {firmware:?}"
    );
    let want_sb = s.firmware == Firmware::SecureBoot;
    ensure!(
        secure_boot == want_sb,
        "secure_boot: want {want_sb}, installer saw {secure_boot}"
    );
    let want_loader = if s.firmware == Firmware::Bios {
        "isolinux"
    } else {
        "grub"
    };
    ensure!(
        loader == Some(want_loader),
        "loader: want {want_loader}, got {loader:?}"
    );
    let want_console = if s.entry == Entry::Serial {
        "ttyS0"
    } else {
        "tty1"
    };
    ensure!(
        console == want_console,
        "console: want {want_console}, got {console}"
    );
    let medium = evs.iter().find_map(|e| match e {
        Event::Medium { device, kind } => Some((device, *kind)),
        _ => None,
    });
    let Some((device, kind)) = medium else {
        let missing = evs
            .iter()
            .find(|e| matches!(e, Event::MediumMissing { .. }));
        bail!("the installer did not find its medium: {missing:?}");
    };
    let want_kind = match s.medium {
        Medium::Cd => MediumKind::Cdrom,
        Medium::Usb => MediumKind::Usb,
        Medium::Disk => MediumKind::Disk,
    };
    ensure!(
        kind == want_kind,
        "medium kind: want {want_kind:?}, got {kind:?} ({device})"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_has_nine_cells_plus_hidden_el_torito_and_vga() {
        let all = scenarios();
        assert_eq!(
            all.iter()
                .filter(|s| !s.hide_el_torito && s.entry == Entry::Serial)
                .count(),
            9
        );
        assert!(all
            .iter()
            .any(|s| s.hide_el_torito && s.firmware == Firmware::Uefi && s.medium == Medium::Usb));
        assert!(all.iter().any(|s| s.entry == Entry::Default));
        assert_eq!(all.len(), 12);
    }

    fn evs(fw: protocol::Firmware, sb: bool, loader: &str, kind: MediumKind) -> Vec<Event> {
        vec![
            Event::Started {
                version: "1".into(),
                console: "ttyS0".into(),
                firmware: fw,
                secure_boot: sb,
                loader: Some(loader.into()),
                cmdline: String::new(),
            },
            Event::Medium {
                device: "/dev/sr0".into(),
                kind,
            },
            Event::FirstScreen,
        ]
    }

    #[test]
    fn checks_what_the_installer_saw() {
        use protocol::Firmware::{Bios, Uefi};
        let sb_cd = scenarios().into_iter().find(|s| s.name == "sb-cd").unwrap();
        check_events(&sb_cd, &evs(Uefi, true, "grub", MediumKind::Cdrom)).unwrap();
        let err = check_events(&sb_cd, &evs(Uefi, false, "grub", MediumKind::Cdrom))
            .unwrap_err()
            .to_string();
        assert!(err.contains("secure_boot: want true"), "{err}");
        let err = check_events(&sb_cd, &evs(Bios, true, "isolinux", MediumKind::Cdrom))
            .unwrap_err()
            .to_string();
        assert!(err.contains("firmware: want Uefi"), "{err}");
        let err = check_events(&sb_cd, &evs(Uefi, true, "grub", MediumKind::Usb))
            .unwrap_err()
            .to_string();
        assert!(err.contains("medium kind: want Cdrom"), "{err}");
        let missing = vec![
            evs(Uefi, true, "grub", MediumKind::Cdrom)[0].clone(),
            Event::MediumMissing { seen: vec![] },
        ];
        assert!(check_events(&sb_cd, &missing)
            .unwrap_err()
            .to_string()
            .contains("did not find its medium"));
    }
}
