//! Parsing of the single-letter and list choices: the main menu, yes/no,
//! reboot/power off, and picking an adapter or a keyboard layout.

use super::validate::{shown, InputError};
use crate::keyboard::Layout;
use crate::net::Interface;
use crate::power::PowerAction;

/// A main-menu choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuChoice {
    /// (M) manual network configuration.
    Manual,
    /// (D) network configuration by DHCP.
    Dhcp,
    /// (E) exit the installation.
    Exit,
    /// (K) keyboard layout.
    Keyboard,
    /// (S) rescue shell.
    Shell,
}

/// What the main menu asks for.
pub const MENU_EXPECTED: &str = "type M, D, E, K or S and press Enter";
/// What a yes/no question asks for.
pub const YES_NO_EXPECTED: &str = "type y or n and press Enter";
/// What the reboot/power-off question asks for.
pub const POWER_EXPECTED: &str = "type r to reboot or p to power off, then press Enter";
/// What the stop screen asks for.
pub const STOP_EXPECTED: &str =
    "type r to reboot, p to power off or s for a rescue shell, then press Enter";

fn word(input: &str) -> String {
    input.trim().to_ascii_lowercase()
}

fn refused(input: &str, expected: &'static str) -> InputError {
    let t = input.trim();
    if t.is_empty() {
        InputError::NothingTyped { expected }
    } else {
        InputError::NotAChoice {
            input: shown(t),
            expected,
        }
    }
}

/// Parses a main-menu line: the letter (any case) or the word.
pub fn menu(input: &str) -> Result<MenuChoice, InputError> {
    match word(input).as_str() {
        "m" | "manual" => Ok(MenuChoice::Manual),
        "d" | "dhcp" => Ok(MenuChoice::Dhcp),
        "e" | "exit" => Ok(MenuChoice::Exit),
        "k" | "keyboard" => Ok(MenuChoice::Keyboard),
        "s" | "shell" => Ok(MenuChoice::Shell),
        _ => Err(refused(input, MENU_EXPECTED)),
    }
}

/// A choice on the serial-number screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialMenu {
    /// (S) enter the serial number.
    Enter,
    /// (K) keyboard layout, before typing a long number.
    Keyboard,
    /// (M) back to the network menu.
    Network,
    /// (E) exit the installation.
    Exit,
}

/// What the serial-number screen asks for.
pub const SERIAL_MENU_EXPECTED: &str =
    "type s to enter the serial number (or K, M, E) and press Enter";

/// Parses the serial-number screen's `s`, `k`, `m` or `e`.
pub fn serial_menu(input: &str) -> Result<SerialMenu, InputError> {
    match word(input).as_str() {
        "s" | "serial" => Ok(SerialMenu::Enter),
        "k" | "keyboard" => Ok(SerialMenu::Keyboard),
        "m" | "menu" | "network" => Ok(SerialMenu::Network),
        "e" | "exit" => Ok(SerialMenu::Exit),
        _ => Err(refused(input, SERIAL_MENU_EXPECTED)),
    }
}

/// What the failure screen asks for.
pub const AFTER_FAILURE_EXPECTED: &str =
    "type r to retry, s for a shell, b to reboot or p to power off, then press Enter";

/// Parses the failure screen's `r`, `s`, `b` or `p`.
pub fn after_failure(input: &str) -> Result<super::install::AfterFailure, InputError> {
    use super::install::AfterFailure;
    match word(input).as_str() {
        "r" | "retry" => Ok(AfterFailure::Retry),
        "s" | "shell" => Ok(AfterFailure::Shell),
        "b" | "reboot" => Ok(AfterFailure::Power(PowerAction::Reboot)),
        "p" | "poweroff" | "power off" => Ok(AfterFailure::Power(PowerAction::PowerOff)),
        _ => Err(refused(input, AFTER_FAILURE_EXPECTED)),
    }
}

/// Picks a disk by list number (1-based) or name (`sda`, `/dev/sda`).
pub fn disk(input: &str, list: &[crate::facts::hw::Disk]) -> Result<usize, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(InputError::NothingTyped {
            expected: "type the number of a disk and press Enter",
        });
    }
    let name = t.trim_start_matches("/dev/");
    list_number(t, list.len())
        .or_else(|| list.iter().position(|d| d.name == name))
        .ok_or_else(|| InputError::NotInList {
            input: shown(t),
            count: list.len(),
            what: "a disk name",
        })
}

/// Parses `y`/`yes` or `n`/`no`.
pub fn yes_no(input: &str) -> Result<bool, InputError> {
    match word(input).as_str() {
        "y" | "yes" => Ok(true),
        "n" | "no" => Ok(false),
        _ => Err(refused(input, YES_NO_EXPECTED)),
    }
}

/// Parses `r`/`reboot` or `p`/`poweroff`/`power off`.
pub fn power(input: &str) -> Result<PowerAction, InputError> {
    match word(input).as_str() {
        "r" | "reboot" => Ok(PowerAction::Reboot),
        "p" | "poweroff" | "power off" => Ok(PowerAction::PowerOff),
        _ => Err(refused(input, POWER_EXPECTED)),
    }
}

/// A choice on the stop screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopChoice {
    /// Reboot or power off.
    Power(PowerAction),
    /// Start a rescue shell.
    Shell,
}

/// Parses the stop screen's `r`, `p` or `s`.
pub fn stop(input: &str) -> Result<StopChoice, InputError> {
    match word(input).as_str() {
        "s" | "shell" => Ok(StopChoice::Shell),
        _ => power(input)
            .map(StopChoice::Power)
            .map_err(|_| refused(input, STOP_EXPECTED)),
    }
}

/// A 1-based list number, if `t` is one within `count`.
fn list_number(t: &str, count: usize) -> Option<usize> {
    let n: usize = t.parse().ok()?;
    (1..=count).contains(&n).then(|| n - 1)
}

/// Picks an adapter by list number (1-based) or name; returns its index.
pub fn interface(input: &str, list: &[Interface]) -> Result<usize, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(InputError::NothingTyped {
            expected: "type the number of an adapter and press Enter",
        });
    }
    list_number(t, list.len())
        .or_else(|| list.iter().position(|i| i.name == t))
        .ok_or_else(|| InputError::NotInList {
            input: shown(t),
            count: list.len(),
            what: "an adapter name",
        })
}

/// Picks a layout by list number (1-based) or code; empty input takes
/// `default` (an index into `list`). Returns the index.
pub fn layout(input: &str, list: &[Layout], default: usize) -> Result<usize, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Ok(default);
    }
    let lower = t.to_ascii_lowercase();
    list_number(t, list.len())
        .or_else(|| list.iter().position(|l| l.code == lower))
        .ok_or_else(|| InputError::NotInList {
            input: shown(t),
            count: list.len(),
            what: "a layout code such as de",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifaces() -> Vec<Interface> {
        ["eth0", "eth1"]
            .iter()
            .map(|n| Interface {
                name: n.to_string(),
                driver: None,
                mac: String::new(),
                link: None,
            })
            .collect()
    }

    fn layouts() -> Vec<Layout> {
        ["us", "de", "fr"]
            .iter()
            .map(|c| Layout {
                code: c.to_string(),
                name: c.to_uppercase(),
                xkb_layout: c.to_string(),
                xkb_variant: String::new(),
            })
            .collect()
    }

    #[test]
    fn menu_letters_and_words() {
        assert_eq!(menu(" m "), Ok(MenuChoice::Manual));
        assert_eq!(menu("D"), Ok(MenuChoice::Dhcp));
        assert_eq!(menu("exit"), Ok(MenuChoice::Exit));
        assert_eq!(menu("k"), Ok(MenuChoice::Keyboard));
        assert_eq!(menu("S"), Ok(MenuChoice::Shell));
        assert_eq!(
            menu("").unwrap_err().to_string(),
            "nothing typed; type M, D, E, K or S and press Enter"
        );
        assert_eq!(
            menu("x").unwrap_err().to_string(),
            "\"x\" is not a choice here; type M, D, E, K or S and press Enter"
        );
    }

    #[test]
    fn yes_no_power_and_stop() {
        assert_eq!(yes_no("Y"), Ok(true));
        assert_eq!(yes_no("no"), Ok(false));
        assert!(yes_no("maybe").is_err());
        assert_eq!(power("R"), Ok(PowerAction::Reboot));
        assert_eq!(power("power off"), Ok(PowerAction::PowerOff));
        assert_eq!(
            power("s").unwrap_err().to_string(),
            "\"s\" is not a choice here; type r to reboot or p to power off, then press Enter"
        );
        assert_eq!(stop("s"), Ok(StopChoice::Shell));
        assert_eq!(stop("p"), Ok(StopChoice::Power(PowerAction::PowerOff)));
        assert!(stop("q")
            .unwrap_err()
            .to_string()
            .contains("s for a rescue shell"));
    }

    #[test]
    fn lists_by_number_or_name() {
        let l = ifaces();
        assert_eq!(interface("2", &l), Ok(1));
        assert_eq!(interface("eth0", &l), Ok(0));
        assert_eq!(
            interface("3", &l).unwrap_err().to_string(),
            "\"3\" is not in the list; type a number from 1 to 2 or an adapter name"
        );
        assert!(interface("", &l).is_err());
        let k = layouts();
        assert_eq!(layout("", &k, 1), Ok(1));
        assert_eq!(layout("FR", &k, 0), Ok(2));
        assert_eq!(layout("1", &k, 2), Ok(0));
        assert_eq!(
            layout("xx", &k, 0).unwrap_err().to_string(),
            "\"xx\" is not in the list; type a number from 1 to 3 or a layout code such as de"
        );
    }
}
