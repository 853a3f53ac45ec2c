//! The bad-input corpus of the choice prompts (tests/bad_choices.json): the
//! serial number, the disk and the keyboard layout. Every entry is refused
//! by the function the prompt uses, with the exact message; keyboard
//! entries are also typed into the flow, which must answer with the same
//! `invalid` event and ask again.
//!
//! The disk list is `sda`, `vdb`, `nvme0n1` (in that order); the layouts
//! are the fake keyboard's `us`, `de`, `fr`.

mod support;

use installer::flow::choice;
use installer::flow::validate::InputError;
use serde::Deserialize;
use support::{FakeKeyboard, FakeNet, Run};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    input: String,
    message: String,
}

fn corpus() -> Vec<Entry> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad_choices.json");
    let text = std::fs::read_to_string(path).expect("read tests/bad_choices.json");
    serde_json::from_str(&text).expect("tests/bad_choices.json has the documented shape")
}

fn refusal(e: &Entry) -> Option<String> {
    match e.id.as_str() {
        // The prompt hands an empty line back as "no serial"; everything
        // else goes through the parser.
        "serial.number" => vendor_repo::Serial::parse(&e.input)
            .err()
            .map(|err| InputError::from(err).to_string()),
        "install.disk" => {
            let disks = [
                support::disk("sda", 20, "QM00001"),
                support::disk("vdb", 40, "QM00002"),
                support::disk("nvme0n1", 64, "QM00003"),
            ];
            choice::disk(&e.input, &disks)
                .err()
                .map(|err| err.to_string())
        }
        "keyboard.layout" => choice::layout(&e.input, &FakeKeyboard::default().layouts, 0)
            .err()
            .map(|err| err.to_string()),
        other => panic!("unknown id {other}"),
    }
}

#[test]
fn the_corpus_covers_every_choice_prompt() {
    let c = corpus();
    for id in ["serial.number", "install.disk", "keyboard.layout"] {
        let n = c.iter().filter(|e| e.id == id).count();
        assert!(n >= 10, "{id} has only {n} entries");
    }
}

#[test]
fn every_entry_is_refused_with_its_exact_message() {
    for e in corpus() {
        match refusal(&e) {
            None => panic!("{:?} was accepted at {}", e.input, e.id),
            Some(m) => assert_eq!(m, e.message, "input {:?} at {}", e.input, e.id),
        }
    }
}

#[test]
fn the_flow_refuses_bad_layouts_with_the_same_event() {
    for e in corpus().iter().filter(|e| e.id == "keyboard.layout") {
        let r = Run::interactive(&["k", e.input.as_str()], FakeNet::with(&["eth0"]));
        assert_eq!(
            r.invalid(),
            [(e.id.clone(), e.input.clone(), e.message.clone())],
            "typed k, then {:?}",
            e.input
        );
        assert_eq!(
            r.prompts().last().map(String::as_str),
            Some("keyboard.layout"),
            "the layout is asked again after {:?}",
            e.input
        );
    }
}
