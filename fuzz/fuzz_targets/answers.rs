//! The answer-file parser (`installer::answers::parse_bytes`): size and
//! encoding, JSON syntax, shape with key paths, then every value check.
//! Whatever the bytes, the result is a file or a list of errors, each with a
//! message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Bytes as read from a file: size and encoding first, then the parser.
    match installer::answers::parse_bytes(data) {
        Ok(file) => {
            // A file that parsed has no value errors left to find.
            assert!(installer::answers::check_values(&file).is_empty());
            let _ = installer::answers::unattended_gaps(&file, &[]);
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                assert!(!e.message.is_empty(), "an error without a message: {e:?}");
                let _ = e.to_string();
            }
        }
    }
});
