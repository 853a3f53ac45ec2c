//! A power cut during activation (the test hook stops it where a power cut
//! would): between staging and the switch the old configuration stays;
//! after the switch the next boot finishes the new one. Never a mix.
//! One test in its own binary: the hook is an environment variable.

mod support;

use appliance_activate::apply::{self, at_boot};
use appliance_activate::status::{self, Phase};
use appliance_config::generation::Store;
use appliance_config::paths;
use support::{appliance, ctx, facts, gen_current, path, snapshot, Fake};

#[test]
fn a_power_cut_leaves_the_old_or_the_new_configuration() {
    // Cut after staging, before the switch.
    let dir = appliance("192.0.2.10/24");
    let root = dir.path();
    let before = snapshot(root);
    let sys = Fake::default();
    let cx = ctx(root, &sys, support::now(), true);
    std::env::set_var("APPLIANCE_ACTIVATE_TEST_CRASH_AT", "staged");
    let e = apply::activate(&cx, &facts(Some("192.0.2.10/24"))).expect_err("cut");
    std::env::remove_var("APPLIANCE_ACTIVATE_TEST_CRASH_AT");
    assert!(e.to_string().contains("test hook"), "{e}");
    // The staged generation is complete on disk but not current.
    assert_eq!(Store::new(root).numbers().expect("numbers"), [1, 2]);
    assert!(Store::new(root).dir(2).join("install.json").exists());
    assert_eq!(gen_current(root), 1);
    assert_eq!(snapshot(root), before, "nothing live changed");
    let boot = ctx(root, &sys, support::now(), false);
    let s = at_boot(&boot).expect("boot").expect("reported");
    assert_eq!(s.state, Phase::Failed);
    assert!(s.message.contains("nothing changed"), "{}", s.message);
    assert!(status::read_record(root).expect("record").is_none());
    assert_eq!(snapshot(root), before);
    assert_eq!(gen_current(root), 1);

    // Cut right after the switch, before anything was installed.
    let dir = appliance("192.0.2.10/24");
    let root = dir.path();
    let before = snapshot(root);
    let sys = Fake::default();
    let cx = ctx(root, &sys, support::now(), true);
    std::env::set_var("APPLIANCE_ACTIVATE_TEST_CRASH_AT", "switched");
    apply::activate(&cx, &facts(Some("192.0.2.10/24"))).expect_err("cut");
    std::env::remove_var("APPLIANCE_ACTIVATE_TEST_CRASH_AT");
    assert_eq!(gen_current(root), 2);
    assert_eq!(snapshot(root), before, "switched, not installed yet");
    let boot = ctx(root, &sys, support::now(), false);
    let s = at_boot(&boot).expect("boot").expect("finished");
    assert_eq!(s.state, Phase::Done, "{s:?}");
    let after = snapshot(root);
    for ((p, old), (_, new)) in before.iter().zip(&after) {
        if p.contains("setup-code") {
            assert!(new.is_none(), "{p}");
        } else if p != "/etc/chrony/chrony.conf" {
            assert_ne!(old, new, "{p} is the new one");
        }
    }
    assert!(path(root, paths::SETUP_DONE).exists());
    // At boot nothing is restarted (the units start after first boot).
    assert_eq!(sys.calls(), ["check clients.conf (2 clients)"]);
    // Later boots install nothing more.
    assert!(at_boot(&boot).expect("boot").is_none());
    assert_eq!(snapshot(root), after);
}
