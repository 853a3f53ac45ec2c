//! The applier's `clients.conf` check with the real `freeradius -XC` (as on
//! the appliance): the wizard's rendering of the TEST clients passes, a
//! broken file is refused with FreeRADIUS's own words.

mod support;

use std::fs;

use appliance_activate::system::{Live, System};
use appliance_wizard::radius::render_clients_conf;

#[test]
#[ignore = "needs freeradius and its configuration in /etc/freeradius/3.0 (root)"]
fn freeradius_checks_the_rendered_clients_conf() {
    assert!(
        std::path::Path::new("/etc/freeradius/3.0/radiusd.conf").exists(),
        "FreeRADIUS is not installed: apt-get install freeradius"
    );
    let dir = tempfile::tempdir().expect("temp");
    let root = dir.path();
    // The check copies the image's configuration from below the root.
    fs::create_dir_all(root.join("etc/freeradius")).expect("dir");
    let copy = appliance_activate::cmd::Cmd::new("cp")
        .arg("-a")
        .arg("/etc/freeradius/3.0")
        .arg(root.join("etc/freeradius/3.0"))
        .run();
    copy.expect("copy of /etc/freeradius/3.0");
    let w = support::wizard();
    let conf = render_clients_conf(w.radius.as_ref().expect("radius"));
    let file = root.join("clients.conf");
    fs::write(&file, &conf).expect("write");
    Live.check_clients_conf(root, &file)
        .expect("freeradius -XC accepts the rendered clients");

    fs::write(&file, conf.replace("}\n", "")).expect("write");
    let e = Live.check_clients_conf(root, &file).expect_err("refused");
    assert!(
        e.contains("FreeRADIUS does not accept the RADIUS clients") && e.contains("clients.conf"),
        "{e}"
    );
    // The check's copy is gone.
    assert!(!root.join("run/appliance/radius-check").exists());
}
