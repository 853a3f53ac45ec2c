//! `appliance-firstboot request`'s handling of the web's request files:
//! each removed, handled in order (rotate-code, activate, confirm), the
//! status file written; a request file's content is never trusted.

mod support;

use std::fs;

use appliance_activate::request::handle_all;
use appliance_activate::status::{self, Phase};
use appliance_config::fsutil::under;
use appliance_config::{keys, paths};
use support::{appliance, ctx, facts, gen_current, Fake};

fn drop_request(root: &std::path::Path, kind: &str, body: &str) {
    let dir = under(root, paths::REQUESTS_DIR);
    fs::create_dir_all(&dir).expect("dir");
    fs::write(dir.join(format!("{kind}.json")), body).expect("request");
}

#[test]
fn requests_are_handled_once_in_order_and_removed() {
    let dir = appliance("10.0.2.15/24");
    let root = dir.path();
    let sys = Fake::default();
    let cx = ctx(root, &sys, support::now(), true);
    let code_before = keys::current_setup_code(root).expect("code").expect("some");
    let verifier_before = fs::read(under(root, paths::SETUP_HASH)).expect("verifier");

    // A rotation and an activation at once; the content means nothing.
    drop_request(root, "rotate-code", "{}");
    drop_request(root, "activate", r#"{"root_password": "ignored"}"#);
    let done = handle_all(&cx, &facts(Some("10.0.2.15/24"))).expect("handled");
    let kinds: Vec<&str> = done.done.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["rotate-code", "activate"]);
    assert!(
        done.done[0].1.contains("the console shows the new one"),
        "{:?}",
        done.done
    );
    assert_ne!(
        keys::current_setup_code(root).expect("code").expect("some"),
        code_before
    );
    assert_ne!(
        fs::read(under(root, paths::SETUP_HASH)).expect("verifier"),
        verifier_before
    );
    assert_eq!(
        fs::read_to_string(under(root, paths::SETUP_COUNTER)).expect("counter"),
        "1\n"
    );
    let requests = under(root, paths::REQUESTS_DIR);
    assert_eq!(
        fs::read_dir(&requests).expect("dir").count(),
        0,
        "all removed"
    );
    assert_eq!(
        status::read(root).expect("status").state,
        Phase::PendingConfirm
    );

    // The same activation again is refused: one is pending.
    drop_request(root, "activate", "{}");
    let done = handle_all(&cx, &facts(None)).expect("handled");
    assert!(
        done.done[0]
            .1
            .starts_with("failed: starting: an activation"),
        "{:?}",
        done.done
    );
    // The page keeps showing the pending activation.
    assert_eq!(
        status::read(root).expect("status").state,
        Phase::PendingConfirm
    );

    // The confirmation makes it final; a second one is ignored.
    drop_request(root, "confirm", "{}");
    let done = handle_all(&cx, &facts(None)).expect("handled");
    assert!(done.done[0].1.contains("set up"), "{:?}", done.done);
    assert_eq!(status::read(root).expect("status").state, Phase::Done);
    assert_eq!(gen_current(root), 2);
    drop_request(root, "confirm", "{}");
    drop_request(root, "rotate-code", "{}");
    let done = handle_all(&cx, &facts(None)).expect("handled");
    assert_eq!(
        done.done,
        [
            (
                "rotate-code".to_string(),
                "the appliance is set up; there is no setup code to rotate".to_string()
            ),
            (
                "confirm".to_string(),
                "nothing waits for a confirmation; ignored".to_string()
            ),
        ]
    );
    assert_eq!(fs::read_dir(&requests).expect("dir").count(), 0);
}
