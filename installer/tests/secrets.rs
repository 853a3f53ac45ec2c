//! No secret in any output: a credentialed answers URL on the command line,
//! a serial number typed with a typo, then with Y and Z swapped, then right,
//! and a failed install. Every event that can carry one of them (`started`,
//! `answers-error`, `invalid`, `serial`, `install-failed`), the console, the
//! events file, the event port, the log and the support bundle are searched
//! for the password, the token and every spelling of the serial: none may
//! hold one. TEST values only.

mod support;

use installer::answers::source;
use installer::cmdline::KernelCmdline;
use installer::event::{Event, EventSink};
use installer::flow::{AnswersInput, Outcome};
use installer::install::{DiskState, Failure, InstallError};
use installer::secret;
use support::{options, slirp_lease, verified, FakeInstall, FakeNet, FakeVendor, Run};
use vendor_repo::Serial;

const PASSWORD: &str = "TEST-pa55word";
const TOKEN: &str = "TEST-t0ken-4711";

/// The TEST serial: it has a Y and a Z, so a layout that swaps them matters.
fn serial() -> Serial {
    Serial::from_data(&[30, 1, 2, 31, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
}

/// What was typed: one symbol wrong, Y and Z swapped, right.
fn typed() -> [String; 3] {
    let right = serial().to_string();
    let mut typo = right.clone().into_bytes();
    typo[6] = if typo[6] == b'A' { b'B' } else { b'A' };
    let swapped = right
        .chars()
        .map(|c| match c {
            'Y' => 'Z',
            'Z' => 'Y',
            c => c,
        })
        .collect();
    [String::from_utf8(typo).expect("ASCII"), swapped, right]
}

/// Every text that must not appear, in lower case.
fn forbidden() -> Vec<String> {
    let mut all = vec![PASSWORD.to_string(), TOKEN.to_string()];
    for t in typed() {
        all.extend(secret::serial_variants(&t));
    }
    all.iter().map(|s| s.to_ascii_lowercase()).collect()
}

fn assert_clean(what: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for f in forbidden() {
        assert!(!lower.contains(&f), "{what} holds {f:?}:\n{text}");
    }
}

fn cmdline() -> KernelCmdline {
    KernelCmdline::parse(&format!(
        "console=ttyS0,115200n8 installer.answers=http://installer:{PASSWORD}@10.0.2.2:8080/a.json?token={TOKEN} installer.backend=https://10.0.2.2:18443/"
    ))
}

fn failed() -> Failure {
    let hash = installer::install::verify_io::VerifyError::HashMismatch {
        expected: "aa".into(),
        actual: "bb".into(),
    };
    Failure {
        error: InstallError::fetch("rootfs", hash.into()),
        disk: DiskState::NoPartitionTable,
        wipe_error: None,
        bundle: None,
    }
}

/// The answers URL is refused (plain http without a pin): the stop screen,
/// power off.
fn rejected_answers(tmp: &std::path::Path, cmdline: &KernelCmdline) -> Run {
    let mut net = FakeNet::with(&["eth0"]);
    let rejected = match source::load(tmp, cmdline, &mut net, &mut |_| {}) {
        Some(Err(r)) => r,
        other => panic!("the unauthenticated URL was not refused: {other:?}"),
    };
    Run::go(&["p"], FakeNet::with(&["eth0"]), {
        options(AnswersInput::Rejected(rejected), false)
    })
}

/// DHCP, the three serials, the default layout, agree, start; the first
/// install fails, the retry succeeds.
fn typed_serials() -> Run {
    let [typo, swapped, right] = typed();
    let mut net = FakeNet::with(&["eth0"]);
    net.leases.push_back(Ok(slirp_lease("eth0")));
    let vendor = FakeVendor {
        verdicts: [verified(&serial())].into(),
        ..FakeVendor::default()
    };
    let mut install = FakeInstall::default();
    install.results.push_back(Err(failed()));
    let input = ["d", "s", &typo, &swapped, &right, "", "", "y", "", "r"];
    Run::go_full(
        &input,
        net,
        vendor,
        install,
        options(AnswersInput::None, false),
    )
}

#[test]
fn no_output_channel_carries_a_secret() {
    let tmp = std::env::temp_dir().join(format!("installer-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let log_file = tmp.join("installer.log");
    installer::log::init(&installer::log::LogConfig {
        tag: "secrets-test".into(),
        file: log_file.clone(),
        kmsg: false,
        echo_min: None,
    });
    let cmdline = cmdline();
    // What the UI does first (ui::start).
    for v in cmdline.secret_values() {
        secret::register(&v);
    }
    let started = installer::event::started(
        "1.0.0".into(),
        "ttyS0".into(),
        installer::facts::Firmware::Bios,
        false,
        &cmdline,
    );
    let a = rejected_answers(&tmp, &cmdline);
    let b = typed_serials();
    assert_eq!(
        b.outcome,
        Outcome::Power(installer::power::PowerAction::Reboot)
    );
    assert_eq!(b.install.jobs.len(), 2, "failed, then retried");

    let mut events = vec![started];
    events.extend(a.events.iter().cloned());
    events.extend(b.events.iter().cloned());
    // Every kind of event that could carry one of the secrets was made.
    let count = |name: &str| events.iter().filter(|e| e.name() == name).count();
    assert_eq!(count("started"), 1);
    assert!(count("answers-error") >= 1, "{events:?}");
    assert_eq!(count("serial"), 1);
    assert_eq!(count("install-failed"), 1);
    let invalid: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Invalid { id, .. } if id == "serial.number"))
        .collect();
    assert_eq!(invalid.len(), 2, "the typo and the Y/Z swap: {events:?}");
    for e in &events {
        assert_clean(e.name(), &e.to_json());
        assert_clean(e.name(), &e.serial_line());
        assert_clean(e.name(), &format!("{e:?}"));
    }
    // The console: the serials were typed at a secret prompt.
    assert_clean("console", &a.term.out);
    assert_clean("console", &b.term.out);

    // The sink: events file, event port, log. A secret that slipped into a
    // message is masked there too.
    let events_file = tmp.join("events.jsonl");
    let port = tmp.join("ttyS1");
    std::fs::write(&port, b"").unwrap();
    let mut sink = EventSink::open_at(&events_file, Some(&port));
    for e in &events {
        sink.emit(e);
    }
    let [typo, swapped, right] = typed();
    sink.emit(&Event::DhcpFailed {
        interface: "eth0".into(),
        tried: format!("{right} {swapped} {typo}"),
        hint: format!("{PASSWORD} {TOKEN} {}", right.to_lowercase()),
    });
    installer::log::warn(&format!(
        "slipped: {PASSWORD} {TOKEN} {right} {swapped} {typo}"
    ));
    let events_text = std::fs::read_to_string(&events_file).unwrap();
    let port_text = std::fs::read_to_string(&port).unwrap();
    let log_text = std::fs::read_to_string(&log_file).unwrap();
    assert_eq!(events_text.lines().count(), events.len() + 1);
    assert!(log_text.contains("slipped: "), "{log_text}");
    assert_clean("events file", &events_text);
    assert_clean("event port", &port_text);
    assert_clean("log", &log_text);
    // Every line still parses as the event it was.
    for line in port_text.lines() {
        Event::from_serial_line(line).unwrap().unwrap();
    }

    // The support bundle of the failure, from those files and the collected
    // answers (which keep the serial for the next run).
    let saved = b.host.saved.clone().expect("collected answers were saved");
    assert!(saved.contains(&right), "{saved}");
    let f = failed();
    let hw = FakeInstall::default().hardware;
    let bundle = installer::install::bundle::render(
        &f,
        &hw,
        &right,
        &[
            ("events", events_text),
            ("collected answers", saved),
            ("installer log", log_text),
        ],
    );
    assert!(bundle.contains("--- installer log ---"));
    assert_clean("support bundle", &bundle);
    let _ = std::fs::remove_dir_all(&tmp);
}
