//! The wizard's state as the root side reads it before an activation: its
//! own reading of `/var/lib/appliance-web/wizard.json` (never the request
//! file), every step done, and the checks of `appliance-wizard` run again
//! (passwords, licence signature) plus the time zone in this image's
//! tzdata.

use std::path::Path;

use appliance_config::fsutil::under;
use appliance_config::{keys, paths};
use appliance_wizard::state::{Completed, Step, WizardState};
use appliance_wizard::{roles, Context};
use time::OffsetDateTime;

use crate::apply::ActivationError;

fn fail(step: &'static str) -> impl Fn(String) -> ActivationError {
    move |message| ActivationError { step, message }
}

/// Reads the wizard's state file and checks it again: every step done, the
/// passwords still follow the rules, the licence's signature, the time zone.
pub fn read_wizard(
    root: &Path,
    now: OffsetDateTime,
) -> Result<(WizardState, Completed), ActivationError> {
    let path = under(root, paths::WIZARD_STATE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| fail("reading the wizard")(format!("{}: {e}", path.display())))?;
    let w: WizardState = serde_json::from_str(&text).map_err(|e| {
        fail("reading the wizard")(format!(
            "{}: {e}; go through the wizard again",
            path.display()
        ))
    })?;
    let Some(c) = w.completed() else {
        let missing = Step::ORDER
            .iter()
            .find(|s| !w.is_done(**s))
            .map_or("a step", |s| s.title());
        return Err(fail("checking the wizard")(format!(
            "the step \"{missing}\" is not done; complete it and press Activate again"
        )));
    };
    let code = keys::current_setup_code(root)
        .map_err(|e| fail("checking the wizard")(e.to_string()))?
        .map(|c| c.canonical().to_string());
    let ctx = Context {
        product: String::new(),
        today: appliance_wizard::date::Date {
            year: u16::try_from(now.year()).unwrap_or(0),
            month: u8::from(now.month()),
            day: now.day(),
        },
        time_zones: Vec::new(),
        hostname: Some(c.network.hostname.clone()),
        setup_code: code,
    };
    let form = c.roles.to_form();
    if let Err(errors) = roles::validate(&form, &ctx) {
        let list: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        return Err(fail("checking the wizard")(format!(
            "\"{}\": {}; enter the passwords again",
            Step::Roles.title(),
            list.join("; ")
        )));
    }
    let licence_keys = crate::system::licence_keys(root).map_err(fail("checking the licence"))?;
    appliance_wizard::licence::verify_signature(&c.licence.licence, &licence_keys)
        .map_err(|e| fail("checking the licence")(e.message))?;
    let zone = under(root, &format!("/usr/share/zoneinfo/{}", c.time.time_zone));
    if !zone.exists() {
        return Err(fail("checking the wizard")(format!(
            "time zone {:?}: not in this appliance's tzdata ({}); choose another in \"{}\"",
            c.time.time_zone,
            zone.display(),
            Step::Time.title()
        )));
    }
    Ok((w, c))
}
