//! The licence file's signature: what `licence::issue` writes verifies with
//! the key's public half and nothing else, and every change to the signed
//! text breaks it. All keys here are TEST keys made from fixed seeds.

mod common;

use appliance_wizard::licence::{self, LicenceForm};
use vendor_repo::SecretKey;

fn fields(product: &str) -> Vec<(&'static str, String)> {
    vec![
        ("comment", "TEST LICENCE: for tests only".into()),
        ("licensee", "Example Corp".into()),
        ("product", product.into()),
        ("valid-from", "2026-01-01".into()),
        ("expire", "2027-12-31".into()),
        ("token-num", "50".into()),
        ("subscription", "standard".into()),
    ]
}

fn form(text: String) -> LicenceForm {
    LicenceForm {
        accept: "on".into(),
        licence: text,
        update_key: "VEVTVCB1cGRhdGUga2V5IC0gbm90IGEgcmVhbCBrZXk=".into(),
    }
}

#[test]
fn an_issued_licence_verifies_and_round_trips() {
    let key = SecretKey::from_seed([9; 32], true);
    let text = licence::issue(&fields("example-appliance"), |m| key.sign(m));
    let step = licence::validate_signed(&form(text.clone()), &common::ctx(), &[key.public()])
        .expect("valid");
    assert_eq!(step.licence.token_num, 50);
    // The text shown again for a recorded licence is the same file.
    assert_eq!(licence::file_text(&step.licence), text);
    // CRLF line ends do not change what was signed.
    let crlf = text.replace('\n', "\r\n");
    assert!(licence::validate_signed(&form(crlf), &common::ctx(), &[key.public()]).is_ok());
}

#[test]
fn each_failure_has_its_own_message() {
    let key = SecretKey::from_seed([9; 32], true);
    let other = SecretKey::from_seed([10; 32], true);
    let good = licence::issue(&fields("example-appliance"), |m| key.sign(m));
    let sig_msg = "Licence file is not signed by this product's vendor licence key: it was changed after it was issued, or it is for another vendor; upload the file exactly as issued";
    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (good.replace("token-num = 50", "token-num = 500"), vec!["licence"], sig_msg),
        (
            licence::issue(&fields("example-appliance"), |m| other.sign(m)),
            vec!["licence"],
            sig_msg,
        ),
        // A forged file's dates or product are not reported: the signature is.
        (
            licence::issue(&fields("other-appliance"), |m| other.sign(m)),
            vec!["licence"],
            sig_msg,
        ),
        (
            licence::issue(&fields("other-appliance"), |m| key.sign(m)),
            vec!["licence"],
            "Licence file is for the product \"other-appliance\", not example-appliance: upload the licence issued for this appliance",
        ),
    ];
    for (text, fields, want) in cases {
        let errors = licence::validate_signed(&form(text), &common::ctx(), &[key.public()])
            .expect_err("refused");
        assert_eq!(errors.iter().map(|e| e.field).collect::<Vec<_>>(), fields);
        assert_eq!(errors[0].message, want);
    }
    // No key installed: said so, not "bad signature".
    let errors = licence::validate_signed(&form(good), &common::ctx(), &[]).expect_err("no key");
    assert!(
        errors[0]
            .message
            .contains("this appliance has no vendor licence key installed"),
        "{errors:?}"
    );
}

#[test]
fn other_field_errors_stay_with_a_bad_signature() {
    let key = SecretKey::from_seed([9; 32], true);
    let other = SecretKey::from_seed([10; 32], true);
    let mut f = form(licence::issue(&fields("example-appliance"), |m| {
        other.sign(m)
    }));
    f.accept = String::new();
    f.update_key = "short".into();
    let errors =
        licence::validate_signed(&f, &common::ctx(), &[key.public()]).expect_err("refused");
    assert_eq!(
        errors.iter().map(|e| e.field).collect::<Vec<_>>(),
        ["accept", "licence", "update_key"]
    );
}
