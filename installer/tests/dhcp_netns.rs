//! The real DHCP client against dnsmasq, across two network namespaces joined
//! by a veth pair: `installer net-dhcp` runs in the client namespace (as
//! `eth0`), dnsmasq serves 192.168.77.0/24 in the server namespace.
//!
//! Needs root (creating namespaces), `ip` (Debian package iproute2), `dnsmasq`
//! (dnsmasq-base) and `unshare` (util-linux, so the applied hostname stays in
//! a private UTS namespace). A missing tool or missing root FAILS the test
//! with the package to install; nothing is skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

const CLIENT_MAC: &str = "02:00:00:00:00:01";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Finds `tool` on PATH or in the sbin directories, or fails naming the package.
fn need(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path
        .split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    for dir in dirs {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "dhcp_netns needs `{tool}`, which is missing: install the Debian package {package} \
         (apt-get install -y {package})"
    );
}

fn need_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "dhcp_netns must run as root: it creates network namespaces (CI runs as root)"
    );
}

fn command(program: &Path) -> Command {
    // Tests may start processes directly; production code uses installer::sys::cmd.
    #[allow(clippy::disallowed_methods)]
    Command::new(program)
}

/// Runs a command to completion within `limit`, killing it after that.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let rendered = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {rendered}: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for the child").is_some() {
            return child.wait_with_output().expect("collect the output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect the output");
            panic!(
                "{rendered} did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check(cmd: &mut Command) -> String {
    let rendered = format!("{cmd:?}");
    let out = run(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{rendered} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by veth: `vsrv` (192.168.77.1/24) ↔ `eth0` (no address).
struct Lab {
    ip: PathBuf,
    server_ns: String,
    client_ns: String,
    dir: PathBuf,
    dnsmasq: Option<Child>,
}

impl Lab {
    fn new(label: &str, peer_up: bool) -> Lab {
        need_root();
        let ip = need("ip", "iproute2");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("inst-dhcp-{}-{n}-{label}", std::process::id());
        let dir = std::env::temp_dir().join(&base);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the lab directory");
        let lab = Lab {
            server_ns: format!("{base}-s"),
            client_ns: format!("{base}-c"),
            ip,
            dir,
            dnsmasq: None,
        };
        let (s, c) = (lab.server_ns.as_str(), lab.client_ns.as_str());
        check(command(&lab.ip).args(["netns", "add", s]));
        check(command(&lab.ip).args(["netns", "add", c]));
        check(command(&lab.ip).args([
            "link", "add", "vsrv", "netns", s, "type", "veth", "peer", "name", "eth0", "netns", c,
        ]));
        check(command(&lab.ip).args(["-n", c, "link", "set", "eth0", "address", CLIENT_MAC]));
        check(command(&lab.ip).args(["-n", s, "addr", "add", "192.168.77.1/24", "dev", "vsrv"]));
        check(command(&lab.ip).args(["-n", s, "link", "set", "lo", "up"]));
        if peer_up {
            check(command(&lab.ip).args(["-n", s, "link", "set", "vsrv", "up"]));
        }
        lab
    }

    /// Starts dnsmasq in the server namespace and waits until it serves DHCP.
    /// `options` must include `--port=0` (no DNS) or a DNS setup.
    fn start_dnsmasq(&mut self, options: &[&str]) {
        let dnsmasq = need("dnsmasq", "dnsmasq-base");
        let log = self.dir.join("dnsmasq.log");
        let log_file = std::fs::File::create(&log).expect("create the dnsmasq log");
        let leases = self.dir.join("leases");
        let mut cmd = command(&self.ip);
        cmd.args(["netns", "exec", &self.server_ns])
            .arg(&dnsmasq)
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--bind-interfaces",
                "--interface=vsrv",
                "--pid-file=",
                "--log-dhcp",
                "--dhcp-range=192.168.77.50,192.168.77.60,12h",
            ])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        self.dnsmasq = Some(cmd.spawn().expect("start dnsmasq"));
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("DHCP, IP range") {
                return;
            }
            if let Some(Ok(Some(status))) = self.dnsmasq.as_mut().map(Child::try_wait) {
                panic!("dnsmasq exited with {status}:\n{text}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dnsmasq did not start serving within 10 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `installer net-dhcp eth0 ARGS` in the client namespace, in a private UTS namespace.
    fn net_dhcp(&self, args: &[&str]) -> (Output, Duration) {
        self.net_dhcp_after("", &["--uts"], args)
    }

    /// Like [`Lab::net_dhcp`], in private `namespaces` (unshare flags), after the shell `prelude`.
    fn net_dhcp_after(
        &self,
        prelude: &str,
        namespaces: &[&str],
        args: &[&str],
    ) -> (Output, Duration) {
        let unshare = need("unshare", "util-linux");
        let mut cmd = command(&self.ip);
        cmd.args(["netns", "exec", &self.client_ns])
            .arg(unshare)
            .args(namespaces)
            .args(["--", "sh", "-c"])
            .arg(format!(
                r#"{prelude} "$0" "$@" && echo "HOSTNAME=$(cat /proc/sys/kernel/hostname)" >&2"#
            ))
            .arg(env!("CARGO_BIN_EXE_installer"))
            .args(["net-dhcp", "eth0"])
            .args(args);
        let start = Instant::now();
        let out = run(&mut cmd, Duration::from_secs(60));
        (out, start.elapsed())
    }

    /// `ip -n <client> ARGS` output.
    fn client_ip(&self, args: &[&str]) -> String {
        check(command(&self.ip).args(["-n", &self.client_ns]).args(args))
    }

    fn dnsmasq_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            #[allow(clippy::disallowed_methods)] // cleanup of the test's own namespaces
            let _ = Command::new(&self.ip)
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "net-dhcp failed ({}):\nstdout:\n{text}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

const FAST: [&str; 6] = ["--schedule", "1,2", "--jitter", "0", "--timeout", "20"];

const OPTIONS: [&str; 6] = [
    "--port=0",
    "--dhcp-option=option:router,192.168.77.1",
    "--dhcp-option=option:dns-server,192.168.77.53,192.168.77.54",
    "--dhcp-option=option:domain-name,lab.test",
    "--dhcp-option=option:mtu,1400",
    "--dhcp-host=02:00:00:00:00:01,192.168.77.55,labhost",
];

#[test]
#[ignore = "needs root, network namespaces (iproute2, unshare) and dnsmasq"]
fn lease_carries_address_router_dns_domain_hostname_and_mtu() {
    let mut lab = Lab::new("lease", true);
    lab.start_dnsmasq(&OPTIONS);
    let (out, _) = lab.net_dhcp(&FAST);
    let config = json(&out);
    assert_eq!(config["interface"], "eth0");
    assert_eq!(config["address"]["addr"], "192.168.77.55");
    assert_eq!(config["address"]["prefix"], 24);
    assert_eq!(config["gateway"], "192.168.77.1");
    assert_eq!(
        config["dns"],
        serde_json::json!(["192.168.77.53", "192.168.77.54"])
    );
    assert_eq!(config["domain"], "lab.test");
    assert_eq!(config["hostname"], "labhost");
    assert_eq!(config["mtu"], 1400);
    assert_eq!(config["routes"], serde_json::json!([]));
    assert_eq!(
        config["source"],
        serde_json::json!({"kind": "dhcp", "server": "192.168.77.1", "lease_seconds": 43200})
    );
    // Without --apply nothing is configured.
    let addrs = lab.client_ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addrs.trim().is_empty(), "eth0 got configured: {addrs}");
    // The client asked for the documented options and set the broadcast flag.
    let log = lab.dnsmasq_log();
    assert!(log.contains("121:classless-static-route"), "{log}");
    assert!(log.contains("broadcast response"), "{log}");
}

#[test]
#[ignore = "needs root, network namespaces (iproute2, unshare) and dnsmasq"]
fn apply_configures_the_namespace_and_the_doctor_passes() {
    let mut lab = Lab::new("apply", true);
    lab.start_dnsmasq(&OPTIONS);
    let root = lab.dir.join("root");
    let root_arg = root.to_string_lossy().into_owned();
    let mut args = FAST.to_vec();
    args.extend(["--apply", "--root", &root_arg, "--doctor"]);
    let (out, _) = lab.net_dhcp(&args);
    let result = json(&out);
    assert_eq!(result["config"]["address"]["addr"], "192.168.77.55");

    let addrs = lab.client_ip(&["-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains("inet 192.168.77.55/24"), "{addrs}");
    let routes = lab.client_ip(&["route"]);
    assert!(
        routes.contains("default via 192.168.77.1 dev eth0 proto dhcp"),
        "{routes}"
    );
    let link = lab.client_ip(&["link", "show", "dev", "eth0"]);
    assert!(link.contains("mtu 1400"), "{link}");
    let lo = lab.client_ip(&["-4", "-o", "addr", "show", "dev", "lo"]);
    assert!(lo.contains("inet 127.0.0.1/8"), "{lo}");

    let resolv = std::fs::read_to_string(root.join("etc/resolv.conf")).expect("resolv.conf");
    assert!(
        resolv.contains("nameserver 192.168.77.53\nnameserver 192.168.77.54\nsearch lab.test\n"),
        "{resolv}"
    );
    let hosts = std::fs::read_to_string(root.join("etc/hosts")).expect("hosts");
    assert!(
        hosts.contains("192.168.77.55\tlabhost.lab.test labhost\n"),
        "{hosts}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HOSTNAME=labhost"), "{stderr}");

    // The doctor: link, address and gateway (ARP to dnsmasq's side) pass;
    // without a backend in build.json dns and https are skipped as passes.
    let checks = result["doctor"].as_array().expect("doctor checks");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        ["link", "address", "gateway", "dns", "clock", "https"]
    );
    for c in checks {
        assert_eq!(c["ok"], true, "{c}");
    }
    assert!(
        checks[2]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("gateway 192.168.77.1 answers ARP on eth0"),
        "{}",
        checks[2]
    );
}

#[test]
#[ignore = "needs root, network namespaces (iproute2, unshare) and dnsmasq"]
fn option_121_replaces_the_router_and_routes_are_applied() {
    let mut lab = Lab::new("121", true);
    let mut options = OPTIONS.to_vec();
    options.push("--dhcp-option=121,10.9.0.0/16,192.168.77.254,0.0.0.0/0,192.168.77.2");
    lab.start_dnsmasq(&options);
    let root = lab.dir.join("root");
    let root_arg = root.to_string_lossy().into_owned();
    let mut args = FAST.to_vec();
    args.extend(["--apply", "--root", &root_arg]);
    let (out, _) = lab.net_dhcp(&args);
    let config = json(&out);
    assert_eq!(config["gateway"], "192.168.77.2");
    assert_eq!(
        config["routes"],
        serde_json::json!([{"destination": {"addr": "10.9.0.0", "prefix": 16}, "gateway": "192.168.77.254"}])
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RFC 3442"), "{stderr}");
    let routes = lab.client_ip(&["route"]);
    assert!(
        routes.contains("default via 192.168.77.2 dev eth0"),
        "{routes}"
    );
    assert!(
        routes.contains("10.9.0.0/16 via 192.168.77.254 dev eth0"),
        "{routes}"
    );
    assert!(!routes.contains("via 192.168.77.1 "), "{routes}");
}

#[test]
#[ignore = "needs root, network namespaces (iproute2, unshare) and dnsmasq"]
fn no_server_fails_with_the_specific_message_within_the_timeout() {
    let lab = Lab::new("noserver", true);
    let (out, took) = lab.net_dhcp(&["--schedule", "1,2", "--jitter", "0", "--timeout", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains(
            "net-dhcp: DHCP failed on eth0: sent 2 DISCOVERs over 3 s, no OFFER received\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "net-dhcp: hint: no DHCP server answered on eth0 — is the VM's network adapter connected?"
        ),
        "{stderr}"
    );
    // 3 s of DHCP plus a carrier wait that ends at once on veth, plus startup.
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "took {took:?}"
    );
}

#[test]
#[ignore = "needs root, network namespaces (iproute2, unshare) and dnsmasq"]
fn no_carrier_is_reported_and_dhcp_is_tried_anyway() {
    // The server side stays down, so eth0 never gets carrier.
    let lab = Lab::new("nocarrier", false);
    let (out, took) = lab.net_dhcp(&[
        "--carrier-timeout",
        "1",
        "--schedule",
        "1",
        "--jitter",
        "0",
        "--timeout",
        "2",
    ]);
    let mut stderr = String::new();
    out.stderr
        .as_slice()
        .read_to_string(&mut stderr)
        .expect("utf-8 stderr");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no carrier on eth0 after 1 s; trying DHCP anyway"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sent 2 DISCOVERs over 2 s, no OFFER received (no carrier on eth0)"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

/// Serves one HTTP request with "204 No Content" on 192.168.77.1:8080 inside
/// network namespace `ns` (the thread joins it with setns), within 60 s.
fn http_in_namespace(ns: &str) -> JoinHandle<Vec<String>> {
    let path = format!("/run/netns/{ns}");
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        // SAFETY: setns on this thread only; the descriptor is valid for the call.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns into {path}: {}",
            std::io::Error::last_os_error()
        );
        let listener = TcpListener::bind("192.168.77.1:8080").expect("bind the HTTP server");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        ready_tx.send(()).expect("signal readiness");
        let start = Instant::now();
        let mut requests = Vec::new();
        while start.elapsed() < Duration::from_secs(60) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking stream");
                    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        requests.push(line.trim_end().to_string());
                        line.clear();
                    }
                    let _ = (&stream)
                        .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                    return requests;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        requests
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the HTTP server in the namespace did not start");
    handle
}

#[test]
#[ignore = "needs root, network namespaces (iproute2, unshare) and dnsmasq"]
fn doctor_resolves_the_backend_through_the_leased_dns_and_reaches_it() {
    let mut lab = Lab::new("doctor", true);
    // dnsmasq also answers DNS for the backend's name, and leases itself as the DNS server.
    lab.start_dnsmasq(&[
        "--port=53",
        "--no-resolv",
        "--no-hosts",
        "--address=/backend.lab.test/192.168.77.1",
        "--dhcp-option=option:router,192.168.77.1",
        "--dhcp-option=option:dns-server,192.168.77.1",
        "--dhcp-option=option:domain-name,lab.test",
    ]);
    let server = http_in_namespace(&lab.server_ns);
    // Apply with root / exactly as the installer does, onto a private copy of /etc.
    let prelude = "mount -t tmpfs tmpfs /mnt && cp -a /etc/. /mnt/ && mount --bind /mnt /etc &&";
    let mut args = FAST.to_vec();
    args.extend([
        "--apply",
        "--doctor",
        "--backend-url",
        "http://backend.lab.test:8080/",
    ]);
    let (out, _) = lab.net_dhcp_after(prelude, &["--uts", "--mount"], &args);
    let result = json(&out);
    let requests = server.join().expect("the HTTP server thread");
    assert!(
        requests.first().is_some_and(|r| r == "HEAD / HTTP/1.1"),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r == "host: backend.lab.test:8080"),
        "{requests:?}"
    );
    let checks = result["doctor"].as_array().expect("doctor checks");
    for c in checks {
        assert_eq!(c["ok"], true, "{c}");
    }
    assert_eq!(
        checks[3]["detail"],
        "backend.lab.test resolves to 192.168.77.1 (via 192.168.77.1)"
    );
    assert_eq!(
        checks[5]["detail"],
        "HTTP 204 from http://backend.lab.test:8080/"
    );
}
