//! The bad-input corpus of answer files (tests/bad_answers.json): broken
//! syntax, other encodings, oversized and deeply nested files, duplicate
//! keys, wrong types and unknown keys at every level, bad values. Each file
//! is refused by `installer::answers::parse_bytes` (what
//! `installer validate-answers` and the installer use) with exactly the
//! listed messages, in order; none is accepted and none panics.
//!
//! An entry's bytes are `text`, or `hex`, or `repeat` (`prefix`, then
//! `unit` `count` times, then `suffix`) for the big ones.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Repeat {
    prefix: String,
    unit: String,
    count: usize,
    suffix: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    hex: Option<String>,
    #[serde(default)]
    repeat: Option<Repeat>,
    errors: Vec<String>,
}

impl Entry {
    fn bytes(&self) -> Vec<u8> {
        match (&self.text, &self.hex, &self.repeat) {
            (Some(t), None, None) => t.as_bytes().to_vec(),
            (None, Some(h), None) => hex::decode(h).expect("hex entries are hex"),
            (None, None, Some(r)) => {
                let mut b = r.prefix.as_bytes().to_vec();
                for _ in 0..r.count {
                    b.extend_from_slice(r.unit.as_bytes());
                }
                b.extend_from_slice(r.suffix.as_bytes());
                b
            }
            _ => panic!("{}: give exactly one of text, hex, repeat", self.name),
        }
    }
}

fn read<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_file_is_refused_with_its_exact_messages() {
    let corpus: Vec<Entry> = read("bad_answers.json");
    for e in &corpus {
        assert!(!e.errors.is_empty(), "{}: no expected message", e.name);
        match installer::answers::parse_bytes(&e.bytes()) {
            Ok(f) => panic!("{}: accepted as {f:?}", e.name),
            Err(errors) => {
                let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
                assert_eq!(got, e.errors, "{}", e.name);
            }
        }
    }
}

#[test]
fn names_are_unique() {
    let corpus: Vec<Entry> = read("bad_answers.json");
    let mut names: Vec<&str> = corpus.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(n, names.len(), "two entries share a name");
}

/// The size of the whole bad-input corpus (manual network fields, choice
/// prompts, answer files). `cargo test -p installer --test bad_answers --
/// --nocapture corpus_size` prints it.
#[test]
fn corpus_size_is_at_least_200() {
    let count = |name: &str| read::<Vec<serde_json::Value>>(name).len();
    let (manual, choices, answers) = (
        count("bad_inputs.json"),
        count("bad_choices.json"),
        count("bad_answers.json"),
    );
    let total = manual + choices + answers;
    println!(
        "bad-input corpus: {total} cases ({manual} manual network, {choices} choice prompts, {answers} answer files)"
    );
    assert!(total >= 200, "only {total} cases");
}
