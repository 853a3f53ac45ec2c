//! `installer net-dhcp`: runs the real DHCP client on one interface and
//! prints the lease as a [`NetConfig`] in JSON — for debugging on a live
//! system and for the network-namespace integration test.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::system::SystemNet;
use super::{Check, NetConfig, NetOps};

/// Usage text of the subcommand.
pub const USAGE: &str = "\
usage: installer net-dhcp IFACE [--timeout SECS] [--schedule S1,S2,...] [--jitter SECS]
                                [--carrier-timeout SECS] [--apply [--root DIR] [--no-hostname]]
                                [--doctor [--backend-url URL]]

Obtains a DHCP lease on IFACE and prints it as JSON (a NetConfig) on stdout;
progress goes to stderr. --timeout is the total DHCP time (default 30),
--schedule the retransmission waits in seconds (default 4,8,16), --jitter
their random variation (default 1, 0 for exact waits) and --carrier-timeout
the wait for link (default 10). --apply configures the
lease (address, MTU, routes, DIR/etc/resolv.conf and DIR/etc/hosts with DIR
defaulting to /, and the hostname unless --no-hostname). --doctor (with
--apply) also runs the network checks, against URL instead of build.json's
backend_url when given; stdout is then {\"config\": ..., \"doctor\": [...]}.
Exit status: 0 lease obtained (and applied), 1 DHCP or apply failed, 2 usage.
";

/// Parsed arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// The interface.
    pub interface: String,
    /// Total DHCP timeout.
    pub timeout: Option<Duration>,
    /// Retransmission schedule.
    pub schedule: Option<Vec<Duration>>,
    /// Retransmission jitter.
    pub jitter: Option<Duration>,
    /// Carrier wait.
    pub carrier_timeout: Option<Duration>,
    /// Apply the lease.
    pub apply: bool,
    /// Root for etc/resolv.conf and etc/hosts.
    pub root: Option<PathBuf>,
    /// Skip sethostname.
    pub no_hostname: bool,
    /// Run the doctor after applying.
    pub doctor: bool,
    /// Backend URL for the doctor (overrides build.json).
    pub backend_url: Option<String>,
}

fn seconds_from(text: &str, option: &str, zero_ok: bool) -> Result<Duration, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{option} needs a number of seconds, not {text:?}"))?;
    if !v.is_finite() || v < 0.0 || (v == 0.0 && !zero_ok) || v > 86_400.0 {
        return Err(format!(
            "{option} must be between 0 and 86400 seconds, not {text}"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn seconds(text: &str, option: &str) -> Result<Duration, String> {
    seconds_from(text, option, false)
}

/// Parses the arguments after `net-dhcp`.
pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut interface = None;
    let mut a = Args {
        interface: String::new(),
        timeout: None,
        schedule: None,
        jitter: None,
        carrier_timeout: None,
        apply: false,
        root: None,
        no_hostname: false,
        doctor: false,
        backend_url: None,
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--timeout" => a.timeout = Some(seconds(&value("--timeout")?, "--timeout")?),
            "--carrier-timeout" => {
                a.carrier_timeout =
                    Some(seconds(&value("--carrier-timeout")?, "--carrier-timeout")?)
            }
            "--schedule" => {
                let list = value("--schedule")?;
                a.schedule = Some(
                    list.split(',')
                        .map(|s| seconds(s.trim(), "--schedule"))
                        .collect::<Result<_, _>>()?,
                );
            }
            "--jitter" => a.jitter = Some(seconds_from(&value("--jitter")?, "--jitter", true)?),
            "--root" => a.root = Some(PathBuf::from(value("--root")?)),
            "--apply" => a.apply = true,
            "--no-hostname" => a.no_hostname = true,
            "--doctor" => a.doctor = true,
            "--backend-url" => a.backend_url = Some(value("--backend-url")?),
            s if s.starts_with('-') => return Err(format!("unknown net-dhcp option {s:?}")),
            s if interface.is_none() => interface = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s:?}")),
        }
    }
    a.interface = interface.ok_or("net-dhcp needs an interface name")?;
    if (a.root.is_some() || a.no_hostname || a.doctor) && !a.apply {
        return Err("--root, --no-hostname and --doctor need --apply".into());
    }
    if a.backend_url.is_some() && !a.doctor {
        return Err("--backend-url needs --doctor".into());
    }
    Ok(a)
}

#[derive(Serialize)]
struct WithDoctor<'a> {
    config: &'a NetConfig,
    doctor: &'a [Check],
}

/// Runs `installer net-dhcp` with `args` (after the subcommand); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("installer net-dhcp: {msg}\n{USAGE}");
            return 2;
        }
    };
    let build = crate::buildinfo::BuildInfo::load(std::path::Path::new("/")).ok();
    let mut net = SystemNet::new(build.as_ref());
    if let Some(t) = a.timeout {
        net.dhcp.total = t;
    }
    if let Some(s) = a.schedule.clone() {
        net.dhcp.schedule = s;
    }
    if let Some(j) = a.jitter {
        net.dhcp.jitter = j;
    }
    if let Some(c) = a.carrier_timeout {
        net.carrier_timeout = c;
    }
    if let Some(root) = a.root.clone() {
        net.apply.root = root;
    }
    net.apply.set_hostname = !a.no_hostname;
    if let Some(url) = a.backend_url.clone() {
        net.doctor.backend_url = Some(url);
    }

    let config = match net.dhcp(&a.interface, &mut |line| eprintln!("net-dhcp: {line}")) {
        Ok(c) => c,
        Err(f) => {
            eprintln!("net-dhcp: DHCP failed on {}: {}", f.interface, f.tried);
            eprintln!("net-dhcp: hint: {}", f.hint);
            return 1;
        }
    };
    let mut checks = Vec::new();
    if a.apply {
        if let Err(e) = net.apply(&config) {
            eprintln!("net-dhcp: cannot apply the lease: {e}");
            return 1;
        }
        for line in &net.last_apply_log {
            eprintln!("net-dhcp: applied: {line}");
        }
        if a.doctor {
            checks = net.doctor(&config);
            for c in &checks {
                let mark = if c.ok { "ok" } else { "FAIL" };
                eprintln!("net-dhcp: [{mark}] {}: {}", c.name, c.detail);
            }
        }
    }
    let json = if a.doctor {
        serde_json::to_string_pretty(&WithDoctor {
            config: &config,
            doctor: &checks,
        })
    } else {
        serde_json::to_string_pretty(&config)
    };
    match json {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("net-dhcp: cannot render the lease as JSON: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_all_options() {
        let a = parse(&args(&[
            "eth0",
            "--timeout",
            "3",
            "--schedule",
            "0.5,1,2",
            "--jitter",
            "0",
            "--carrier-timeout",
            "2",
            "--apply",
            "--root",
            "/tmp/r",
            "--no-hostname",
            "--doctor",
            "--backend-url",
            "http://b.example/",
        ]))
        .unwrap();
        assert_eq!(a.interface, "eth0");
        assert_eq!(a.timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            a.schedule,
            Some(vec![
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2)
            ])
        );
        assert_eq!(a.jitter, Some(Duration::ZERO));
        assert_eq!(a.carrier_timeout, Some(Duration::from_secs(2)));
        assert!(a.apply && a.no_hostname && a.doctor);
        assert_eq!(a.root, Some(PathBuf::from("/tmp/r")));
        assert_eq!(a.backend_url.as_deref(), Some("http://b.example/"));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!(
            parse(&args(&[])).unwrap_err(),
            "net-dhcp needs an interface name"
        );
        assert!(parse(&args(&["eth0", "--timeout", "x"]))
            .unwrap_err()
            .contains("\"x\""));
        assert!(parse(&args(&["eth0", "--timeout", "-1"]))
            .unwrap_err()
            .contains("between 0 and 86400"));
        assert!(parse(&args(&["eth0", "--timeout", "0"]))
            .unwrap_err()
            .contains("between 0 and 86400"));
        assert_eq!(
            parse(&args(&["eth0", "--timeout"])).unwrap_err(),
            "--timeout needs a value"
        );
        assert!(parse(&args(&["eth0", "--bogus"]))
            .unwrap_err()
            .contains("--bogus"));
        assert!(parse(&args(&["eth0", "eth1"]))
            .unwrap_err()
            .contains("eth1"));
        assert!(parse(&args(&["eth0", "--doctor"]))
            .unwrap_err()
            .contains("need --apply"));
        assert_eq!(
            parse(&args(&["eth0", "--apply", "--backend-url", "x"])).unwrap_err(),
            "--backend-url needs --doctor"
        );
    }

    #[test]
    fn usage_exit_code_is_2() {
        assert_eq!(main(&args(&["--bogus"])), 2);
    }
}
