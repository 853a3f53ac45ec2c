//! The first-boot handover record as the appliance reads it
//! (`handover::Handover::parse`): JSON, then validation. A record that
//! parses must render and parse back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match handover::Handover::parse(text) {
        Ok(h) => {
            let _ = h.masked_serial();
            let json = h.to_json_pretty().expect("a parsed record renders");
            let again = handover::Handover::parse(&json).expect("a rendered record parses");
            assert_eq!(again, h);
        }
        Err(e) => {
            let _ = (e.path(), e.to_string());
        }
    }
});
