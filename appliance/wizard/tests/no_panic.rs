//! Every text field of every step, set to awkward text (multi-byte
//! characters at every byte position that matters, control and bidi
//! characters, very long values), gives errors or a value, never a panic,
//! and no message carries a control character.

mod common;

use serde_json::Value;

/// The text fields of each step's form (paths for `common::set`).
fn fields(step: &str) -> Vec<String> {
    let v = common::good(step);
    let mut out = Vec::new();
    for (k, val) in v.as_object().expect("form") {
        match val {
            Value::String(_) => out.push(k.clone()),
            Value::Array(rows) => {
                for (i, row) in rows.iter().enumerate() {
                    for rk in row.as_object().expect("row").keys() {
                        out.push(format!("{k}.{i}.{rk}"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn awkward() -> Vec<String> {
    let mut v: Vec<String> = vec![
        String::new(),
        "\u{0}".into(),
        "\u{202e}evil".into(),
        "line\nbreak".into(),
        "💥".repeat(50),
        "x".repeat(70_000),
        "/".into(),
        "/0".into(),
        "::/".into(),
        "=".into(),
    ];
    // A two-byte character at each position of strings as long as the
    // base64 and address checks slice.
    for len in [13, 16, 43, 44, 86, 88] {
        for pos in 0..len {
            let mut s = "A".repeat(len - 1);
            s.insert(pos.min(s.len()), 'é');
            v.push(s);
        }
    }
    v
}

#[test]
fn awkward_text_never_panics() {
    let ctx = common::ctx();
    let values = awkward();
    let mut runs = 0;
    for step in [
        "claim", "licence", "network", "time", "roles", "radius", "keys",
    ] {
        for field in fields(step) {
            for value in &values {
                let mut form = common::good(step);
                common::set(&mut form, &field, &Value::String(value.clone()));
                for e in common::run(step, &form, &ctx) {
                    assert!(
                        !e.message.chars().any(char::is_control),
                        "{step}.{field}: control character in {:?}",
                        e.message
                    );
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 10_000, "only {runs} runs");
}

#[test]
fn awkward_licence_lines_never_panic() {
    let ctx = common::ctx();
    for value in awkward() {
        for key in [
            "licensee = Example Corp",
            "expire = 2027-12-31",
            "signature-placeholder",
        ] {
            let mut form = common::good("licence");
            let line = if key == "signature-placeholder" {
                value.clone()
            } else {
                format!("licensee = {value}")
            };
            common::set(
                &mut form,
                "licence.replace",
                &serde_json::json!([key, line]),
            );
            let _ = common::run("licence", &form, &ctx);
        }
    }
}
