//! `/init` of the installer initramfs, and a small developer CLI elsewhere.
//!
//! As PID 1 it becomes the supervisor ([`installer::pid1`]); otherwise the
//! arguments choose: `ui` (the UI child PID 1 starts), `facts --root DIR`,
//! `--version`, `--help`.

fn main() {
    if nix::unistd::getpid().as_raw() == 1 {
        installer::pid1::main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(installer::cli::run(&args));
}
