//! The ids of the `prompt` and `invalid` events: one per place the flow
//! waits for input (docs/events.md lists them). The installer asks with
//! them and the harness answers by them.

/// The main menu (M/D/E/K/S).
pub const MENU: &str = "menu";
/// "Exit the installation? [y/n]".
pub const EXIT_CONFIRM: &str = "exit.confirm";
/// "(R)eboot or (P)ower off?" after confirming the exit.
pub const EXIT_ACTION: &str = "exit.action";
/// Picking the adapter for manual configuration (only with several).
pub const MANUAL_INTERFACE: &str = "manual.interface";
/// The IPv4 address (CIDR or bare).
pub const MANUAL_ADDRESS: &str = "manual.address";
/// The netmask, after a bare address.
pub const MANUAL_NETMASK: &str = "manual.netmask";
/// The default gateway.
pub const MANUAL_GATEWAY: &str = "manual.gateway";
/// The DNS servers.
pub const MANUAL_DNS: &str = "manual.dns";
/// The hostname.
pub const MANUAL_HOSTNAME: &str = "manual.hostname";
/// The domain (optional).
pub const MANUAL_DOMAIN: &str = "manual.domain";
/// The search domains (optional).
pub const MANUAL_SEARCH: &str = "manual.search";
/// "Apply this configuration? [y/n]".
pub const MANUAL_CONFIRM: &str = "manual.confirm";
/// Picking the adapter for DHCP (only with several).
pub const DHCP_INTERFACE: &str = "dhcp.interface";
/// The serial-number screen: s (enter it), k, m (network menu), e.
pub const SERIAL_MENU: &str = "serial.menu";
/// The serial number itself (an empty line goes back to the screen).
pub const SERIAL_NUMBER: &str = "serial.number";
/// "Retry? [y/n]" after the backend refused or could not be asked.
pub const SERIAL_RETRY: &str = "serial.retry";
/// "Press Enter to continue" after a verified serial.
pub const SERIAL_CONTINUE: &str = "serial.continue";
/// The keyboard layout list (hotkey K and the keyboard step).
pub const KEYBOARD_LAYOUT: &str = "keyboard.layout";
/// Picking the disk (only when several qualify and nothing selects one).
pub const INSTALL_DISK: &str = "install.disk";
/// "Start the installation? [y/n]" (all data on the disk will be lost).
pub const INSTALL_AGREE: &str = "install.agree";
/// "Check the data above one last time. Press Enter to start".
pub const INSTALL_START: &str = "install.start";
/// Retry, shell, reboot or power off after a failed install.
pub const INSTALL_FAILED: &str = "install.failed";
/// Reboot or power off after the install (`finish: wait`).
pub const READY_ACTION: &str = "ready.action";
/// Reboot, power off or shell on the stop screen (bad answers).
pub const STOP_ACTION: &str = "stop.action";

/// Every id, in the order above.
pub const ALL: &[&str] = &[
    MENU,
    EXIT_CONFIRM,
    EXIT_ACTION,
    MANUAL_INTERFACE,
    MANUAL_ADDRESS,
    MANUAL_NETMASK,
    MANUAL_GATEWAY,
    MANUAL_DNS,
    MANUAL_HOSTNAME,
    MANUAL_DOMAIN,
    MANUAL_SEARCH,
    MANUAL_CONFIRM,
    DHCP_INTERFACE,
    SERIAL_MENU,
    SERIAL_NUMBER,
    SERIAL_RETRY,
    SERIAL_CONTINUE,
    KEYBOARD_LAYOUT,
    INSTALL_DISK,
    INSTALL_AGREE,
    INSTALL_START,
    INSTALL_FAILED,
    READY_ACTION,
    STOP_ACTION,
];
