//! The table of bad inputs (tests/bad_inputs.json): each entry changes one
//! valid form and lists the exact errors expected. `WIZARD_BLESS=1` rewrites
//! the expected errors from the current messages (review the diff).

mod common;

use serde_json::{json, Value};

const TABLE: &str = include_str!("bad_inputs.json");
const STEPS: [&str; 7] = [
    "claim", "licence", "network", "time", "roles", "radius", "keys",
];

#[test]
fn every_base_form_is_valid() {
    for step in STEPS {
        let errors = common::run(step, &common::good(step), &common::ctx());
        assert!(errors.is_empty(), "{step}: {errors:?}");
    }
}

#[test]
fn bad_inputs_give_their_exact_messages() {
    let mut table: Vec<Value> = serde_json::from_str(TABLE).expect("table is JSON");
    assert!(
        table.len() >= 200,
        "only {} bad inputs; the rule is at least 200",
        table.len()
    );
    let bless = std::env::var_os("WIZARD_BLESS").is_some();
    let mut failures = Vec::new();
    for (i, entry) in table.iter_mut().enumerate() {
        let step = entry["step"].as_str().expect("step").to_string();
        assert!(STEPS.contains(&step.as_str()), "entry {i}: step {step}");
        let mut form = common::good(&step);
        for (path, value) in entry["set"].as_object().expect("set").clone() {
            common::set(&mut form, &path, &value);
        }
        let got: Vec<Value> = common::run(&step, &form, &common::ctx())
            .into_iter()
            .map(|e| json!([e.field, e.row, e.message]))
            .collect();
        assert!(
            !got.is_empty(),
            "entry {i} ({step} {}): accepted",
            entry["set"]
        );
        for e in &got {
            let m = e[2].as_str().expect("message");
            assert!(
                !m.chars().any(char::is_control),
                "entry {i}: control character in {m:?}"
            );
        }
        if bless {
            entry["errors"] = Value::Array(got);
        } else if entry["errors"] != Value::Array(got.clone()) {
            failures.push(format!(
                "entry {i} ({step} {}):\n  want {}\n  got  {}",
                entry["set"],
                entry["errors"],
                Value::Array(got)
            ));
        }
    }
    if bless {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/bad_inputs.json");
        let text = serde_json::to_string_pretty(&table).expect("json") + "\n";
        std::fs::write(path, text).expect("write table");
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_step_has_bad_inputs() {
    let table: Vec<Value> = serde_json::from_str(TABLE).expect("table is JSON");
    for step in STEPS {
        let n = table.iter().filter(|e| e["step"] == step).count();
        assert!(n >= 10, "{step}: only {n} bad inputs");
    }
}
