//! Every scenario, suite by suite, in the order `cargo xtask qemu-test --list`
//! shows them.

use crate::scenario::Scenario;
use crate::suites::{
    appliance, boot, faults, flows, hardware, installed, installs, journey, reference,
    restore_moved, restore_variants, secrets, serials, wizard,
};

/// All scenarios: the boot matrix, the installer flows, the serial-number
/// checks, the appliance's first boot, the installed disk's boot loaders,
/// the full installs, the install faults, the secrets scan, the reference
/// appliance, the hardware reach and the set-up wizard in a browser.
pub fn all() -> Vec<Scenario> {
    let mut v = boot::scenarios();
    v.extend(flows::scenarios());
    v.extend(serials::scenarios());
    v.extend(appliance::scenarios());
    v.extend(installed::scenarios());
    v.extend(installs::scenarios());
    v.extend(faults::scenarios());
    v.extend(secrets::scenarios());
    v.extend(reference::scenarios());
    v.extend(hardware::scenarios());
    v.extend(wizard::scenarios());
    v.extend(journey::scenarios());
    v.extend(restore_variants::scenarios());
    v.extend(restore_moved::scenarios());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Script;

    /// The names and the CI set, as `cargo xtask qemu-test --list` prints them.
    const LIST: &str = "bios-cd  (representative)
bios-usb  (representative)
bios-disk
uefi-cd
uefi-usb
uefi-disk
sb-cd
sb-usb
sb-disk  (representative)
uefi-usb-no-eltorito  (representative)
sb-usb-no-eltorito
bios-cd-vga-entry
flow-exit
flow-dhcp-e1000  (representative)
flow-dhcp-tulip
flow-manual-e1000
flow-manual-tulip  (representative)
flow-dhcp-vmxnet3
flow-dhcp-virtio
flow-no-dhcp-then-manual
flow-bad-inputs  (representative)
flow-rescue-shell  (representative)
flow-rescue-boot-entry
flow-unattended-iso  (representative)
flow-unattended-http
flow-answers-malformed  (representative)
flow-answers-unauthenticated
flow-serial-outcomes  (representative)
flow-serial-backend-down  (representative)
appliance-firstboot  (representative)
appliance-firstboot-manual
appliance-bad-record
installed-bios
installed-uefi
installed-sb
install-bios-e1000-dhcp  (representative)
install-uefi-tulip-manual
install-sb-unattended  (representative)
install-hyperv-gen1-unattended
install-vmware-pvscsi
install-kvm-virtio-uefi
reference-bios-dhcp  (representative)
reference-uefi-manual
reference-sb-unattended
install-fault-tampered  (representative)
install-fault-drops
install-fault-small-disk  (representative)
install-fault-two-disks
install-fault-kill
hyperv-gen1-dmi-no-disk
install-offline
install-secrets  (representative)
reference-bios
reference-otp
hw-dhcp-rtl8139  (representative)
hw-dhcp-ne2k_pci
hw-dhcp-pcnet
hw-dhcp-i82559er
hw-controllers
hw-install-uefi-nvme
hw-128m-until-ram-check
hw-128m-install
wizard-bios
wizard-bios-unconfirmed
wizard-bios-shutdown
journey-bios
restore-variants-bios
restore-moved-bios";

    #[test]
    fn the_list_is_unchanged() {
        let got: Vec<String> = all()
            .iter()
            .map(|s| {
                let rep = if s.representative {
                    "  (representative)"
                } else {
                    ""
                };
                format!("{}{rep}", s.name)
            })
            .collect();
        let want: Vec<&str> = LIST.lines().collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 68);
    }

    #[test]
    fn needs_are_declared() {
        let all = all();
        let find = |name: &str| all.iter().find(|s| s.name == name).unwrap();
        for name in [
            "appliance-firstboot",
            "appliance-firstboot-manual",
            "appliance-bad-record",
        ] {
            let s = find(name);
            assert!(!s.needs_iso() && s.needs_appliance(), "{name}");
        }
        for name in ["installed-bios", "installed-uefi", "installed-sb"] {
            let s = find(name);
            assert!(s.needs_iso() && s.needs_appliance(), "{name}");
        }
        // The fault scenarios serve the repository themselves.
        for name in [
            "install-fault-tampered",
            "hyperv-gen1-dmi-no-disk",
            "install-offline",
            "install-secrets",
        ] {
            let s = find(name);
            assert!(s.needs_iso() && s.needs.backend, "{name}");
        }
        // The installer's boot and flow scenarios need the ISO only.
        assert!(all
            .iter()
            .filter(|s| !matches!(s.script, Script::Custom(_)))
            .all(|s| s.needs_iso() && !s.needs_appliance() && !s.needs.backend));
    }
}
