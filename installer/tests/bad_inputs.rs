//! The bad-input corpus (tests/bad_inputs.json): every entry is refused by
//! the real validator with the exact message, and the flow, typed the same
//! way the QEMU harness types it over serial, emits the same `invalid` event.
//!
//! An entry's `context` holds the values typed at the earlier manual prompts
//! (address, gateway, dns, hostname, domain — whichever come before `id`);
//! for `manual.netmask` the context address has no prefix length.

mod support;

use installer::flow::validate::{self, AddressInput};
use serde::Deserialize;
use std::collections::BTreeMap;
use support::{FakeNet, Run};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    context: BTreeMap<String, String>,
    input: String,
    message: String,
}

fn corpus() -> Vec<Entry> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad_inputs.json");
    let text = std::fs::read_to_string(path).expect("read tests/bad_inputs.json");
    serde_json::from_str(&text).expect("tests/bad_inputs.json has the documented shape")
}

/// The prompts before `id`, in the flow's order, with their context keys.
const ORDER: [(&str, &str); 7] = [
    ("manual.address", "address"),
    ("manual.netmask", "netmask"),
    ("manual.gateway", "gateway"),
    ("manual.dns", "dns"),
    ("manual.hostname", "hostname"),
    ("manual.domain", "domain"),
    ("manual.search", "search"),
];

fn context<'a>(e: &'a Entry, key: &str) -> &'a str {
    e.context
        .get(key)
        .unwrap_or_else(|| panic!("entry {e:?} needs context.{key}"))
}

/// Runs the entry's input through the validator its prompt uses.
fn validate_entry(e: &Entry) -> Result<(), String> {
    let msg = |r: Result<(), validate::InputError>| r.map_err(|e| e.to_string());
    match e.id.as_str() {
        "manual.address" => msg(validate::address(&e.input).map(|_| ())),
        "manual.netmask" => {
            let addr = validate::parse_ipv4(context(e, "address")).expect("a bare context address");
            msg(validate::netmask(&e.input, addr).map(|_| ()))
        }
        "manual.gateway" => {
            let Ok(AddressInput::Cidr(c)) = validate::address(context(e, "address")) else {
                panic!("entry {e:?}: context.address must be a valid CIDR");
            };
            msg(validate::gateway(&e.input, &c).map(|_| ()))
        }
        "manual.dns" => validate::dns_servers(&validate::split_list(&e.input))
            .map(|_| ())
            .map_err(|l| l.error.to_string()),
        "manual.hostname" => msg(validate::hostname(&e.input).map(|_| ())),
        "manual.domain" => msg(validate::domain(&e.input).map(|_| ())),
        "manual.search" => validate::search_domains(&validate::split_list(&e.input))
            .map(|_| ())
            .map_err(|l| l.error.to_string()),
        other => panic!("unknown id {other}"),
    }
}

#[test]
fn the_corpus_is_large_and_covers_every_manual_field() {
    let c = corpus();
    assert!(c.len() >= 40, "only {} entries", c.len());
    for (id, _) in ORDER {
        let n = c.iter().filter(|e| e.id == id).count();
        assert!(n >= 4, "{id} has only {n} entries");
    }
}

#[test]
fn every_entry_is_refused_with_its_exact_message() {
    for e in corpus() {
        match validate_entry(&e) {
            Ok(()) => panic!("{:?} was accepted at {}", e.input, e.id),
            Err(m) => assert_eq!(m, e.message, "input {:?} at {}", e.input, e.id),
        }
    }
}

#[test]
fn the_flow_emits_the_same_invalid_event_when_the_entry_is_typed() {
    for e in corpus() {
        let mut input = vec!["m".to_string()];
        let bare_address = e.id == "manual.netmask";
        for (id, key) in ORDER {
            if id == e.id {
                break;
            }
            if key == "netmask" && !bare_address {
                continue;
            }
            input.push(context(&e, key).to_string());
        }
        input.push(e.input.clone());
        let r = Run::interactive(&input, FakeNet::with(&["eth0"]));
        // The flow trims the line before it checks and reports it.
        assert_eq!(
            r.invalid(),
            [(e.id.clone(), e.input.trim().to_string(), e.message.clone())],
            "typed {input:?}"
        );
        assert_eq!(
            r.prompts().last().map(String::as_str),
            Some(e.id.as_str()),
            "the same prompt is asked again after {:?}",
            e.input
        );
        assert!(r.net.applied.is_empty());
    }
}
