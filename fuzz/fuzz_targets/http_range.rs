//! The `Range` header parser of the repository servers
//! (`vendor_repo::http::parse_range`). The first eight bytes are the file
//! length, the rest the header value. A satisfiable range always lies
//! inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vendor_repo::http::{parse_range, Range};

fuzz_target!(|data: &[u8]| {
    let Some((len, header)) = data.split_first_chunk::<8>() else {
        return;
    };
    let len = u64::from_le_bytes(*len);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    match parse_range(Some(header), len) {
        Range::Part(first, last) => {
            assert!(first <= last, "{first}-{last} of {len}");
            assert!(last < len, "{first}-{last} of {len}");
        }
        Range::All | Range::Unsatisfiable => {}
    }
    // Small files too: the interesting lengths are near the numbers typed.
    let small = len % 4096;
    if let Range::Part(first, last) = parse_range(Some(header), small) {
        assert!(first <= last && last < small, "{first}-{last} of {small}");
    }
});
