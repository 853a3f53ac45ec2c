//! The wizard's pages: compiled maud templates (every interpolation is
//! escaped), one style sheet and one script served from the binary. Every
//! control has a `<label>`; every field error sits next to its field and
//! is tied to it with `aria-describedby`; the pages work without the
//! script, which only marks valid fields green and blocks the roles page's
//! buttons.

use appliance_wizard::keys::KeysForm;
use appliance_wizard::licence::{Licence, LicenceForm};
use appliance_wizard::network::NetworkForm;
use appliance_wizard::radius::RadiusForm;
use appliance_wizard::roles::RolesForm;
use appliance_wizard::state::{Step, WizardState};
use appliance_wizard::time::TimeForm;
use appliance_wizard::FieldError;
use maud::{html, Markup, DOCTYPE};

/// The style sheet (`/setup/assets/wizard.css`).
pub const CSS: &str = include_str!("wizard.css");
/// The script (`/setup/assets/wizard.js`): live marks and blocked buttons.
pub const JS: &str = include_str!("wizard.js");

/// The URL path segment of a step.
pub fn slug(step: Step) -> &'static str {
    match step {
        Step::Licence => "licence",
        Step::Network => "network",
        Step::Time => "time",
        Step::Roles => "roles",
        Step::Radius => "radius",
        Step::Keys => "keys",
    }
}

/// The step of a URL path segment.
pub fn step_of(slug_text: &str) -> Option<Step> {
    Step::ORDER.into_iter().find(|s| slug(*s) == slug_text)
}

/// The HTML id of a form field (`clients[2].name` → `clients-2-name`).
fn id_of(name: &str) -> String {
    name.chars()
        .filter(|c| *c != ']')
        .map(|c| if c == '[' || c == '.' { '-' } else { c })
        .collect()
}

fn layout(title: &str, progress: Option<&WizardState>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Appliance set-up" }
                link rel="stylesheet" href="/setup/assets/wizard.css";
                script src="/setup/assets/wizard.js" defer {}
            }
            body {
                header { p.brand { "Appliance set-up" } }
                @if let Some(state) = progress {
                    nav aria-label="Set-up steps" {
                        ol.steps {
                            @for step in Step::ORDER {
                                @let here = step == state.current;
                                li class=[here.then_some("current")] aria-current=[here.then_some("step")] {
                                    (step.title())
                                    @if state.is_done(step) && !here { span.done { " (done)" } }
                                }
                            }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The errors of one field (`row` for table fields).
fn errors_of<'a>(errors: &'a [FieldError], field: &str, row: Option<usize>) -> Vec<&'a str> {
    errors
        .iter()
        .filter(|e| e.field == field && e.row == row)
        .map(|e| e.message.as_str())
        .collect()
}

/// The box at the top of a page with errors: how many and links to them.
fn error_summary(errors: &[FieldError]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.error-summary role="alert" {
                h2 { "Please correct " (errors.len()) @if errors.len() == 1 { " problem" } @else { " problems" } }
                ul {
                    @for e in errors {
                        @let name = match e.row { Some(r) => format!("clients[{r}].{}", e.field), None => e.field.to_string() };
                        li { a href={ "#" (id_of(&name)) } { (e.message) } }
                    }
                }
            }
        }
    }
}

/// A labelled input with its errors after it.
struct Input<'a> {
    name: String,
    label: &'a str,
    value: &'a str,
    kind: &'a str,
    hint: Option<&'a str>,
    errors: Vec<&'a str>,
    autocomplete: &'a str,
    check: Option<&'a str>,
}

impl<'a> Input<'a> {
    fn new(name: impl Into<String>, label: &'a str, value: &'a str) -> Input<'a> {
        Input {
            name: name.into(),
            label,
            value,
            kind: "text",
            hint: None,
            errors: Vec::new(),
            autocomplete: "off",
            check: None,
        }
    }

    fn render(&self) -> Markup {
        let id = id_of(&self.name);
        let err_id = format!("{id}-error");
        let hint_id = format!("{id}-hint");
        let mut described = Vec::new();
        if self.hint.is_some() {
            described.push(hint_id.clone());
        }
        if !self.errors.is_empty() {
            described.push(err_id.clone());
        }
        let described = (!described.is_empty()).then(|| described.join(" "));
        let invalid = !self.errors.is_empty();
        html! {
            div.field.invalid[invalid] data-check=[self.check] {
                label for=(id) { (self.label) }
                @if let Some(h) = self.hint { p.hint id=(hint_id) { (h) } }
                input type=(self.kind) id=(id) name=(self.name) value=(self.value)
                    autocomplete=(self.autocomplete) spellcheck="false"
                    aria-invalid=[invalid.then_some("true")] aria-describedby=[described];
                @if self.check.is_some() { span.mark aria-hidden="true" { "✓" } }
                @if invalid {
                    div.field-error id=(err_id) {
                        @for m in &self.errors { p { (m) } }
                    }
                }
            }
        }
    }
}

fn input<'a>(name: &str, label: &'a str, value: &'a str, errors: &'a [FieldError]) -> Input<'a> {
    let mut i = Input::new(name, label, value);
    i.errors = errors_of(errors, name, None);
    i
}

/// A labelled checkbox with its errors.
fn checkbox(name: &str, label: &str, on: bool, errors: &[FieldError]) -> Markup {
    let id = id_of(name);
    let errs = errors_of(errors, name, None);
    let err_id = format!("{id}-error");
    let invalid = !errs.is_empty();
    html! {
        div.field.checkbox.invalid[invalid] {
            input type="checkbox" id=(id) name=(name) value="on" checked[on]
                aria-invalid=[invalid.then_some("true")] aria-describedby=[invalid.then_some(&err_id)];
            label for=(id) { (label) }
            @if invalid { div.field-error id=(err_id) { @for m in &errs { p { (m) } } } }
        }
    }
}

fn is_on(v: &str) -> bool {
    matches!(v.trim(), "on" | "true" | "yes" | "1")
}

fn hidden_csrf(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// Next (first, so Enter in a field means Next) and Previous, with the
/// errors of the buttons themselves (field `action`: a blocked Previous).
fn buttons(step: Step, errors: &[FieldError]) -> Markup {
    let errs = errors_of(errors, "action", None);
    html! {
        @if !errs.is_empty() {
            div.field-error id="action-error" { @for m in &errs { p { (m) } } }
        }
        div.buttons id="action" {
            @if step == Step::Keys {
                button type="submit" id="activate" name="action" value="activate" { "Activate" }
            } @else {
                button type="submit" id="next" name="action" value="next" { "Next" }
            }
            @if step.previous().is_some() {
                button type="submit" id="previous" name="action" value="previous" formnovalidate { "Previous" }
            }
        }
    }
}

fn form_page(
    state: &WizardState,
    step: Step,
    csrf: &str,
    multipart: bool,
    errors: &[FieldError],
    inner: Markup,
) -> String {
    form_page_with(
        state,
        step,
        csrf,
        multipart,
        errors,
        inner,
        Markup::default(),
    )
}

/// A step's form; `after` follows the Next/Previous buttons.
fn form_page_with(
    state: &WizardState,
    step: Step,
    csrf: &str,
    multipart: bool,
    errors: &[FieldError],
    inner: Markup,
    after: Markup,
) -> String {
    let action = format!("/setup/step/{}", slug(step));
    let enctype = if multipart {
        "multipart/form-data"
    } else {
        "application/x-www-form-urlencoded"
    };
    layout(
        step.title(),
        Some(state),
        html! {
            p.step-no { "Step " (step.index() + 1) " of " (Step::ORDER.len()) }
            (error_summary(errors))
            form method="post" action=(action) enctype=(enctype) novalidate id="step-form" data-step=(slug(step)) {
                (hidden_csrf(csrf))
                (inner)
                (buttons(step, errors))
                (after)
            }
        },
    )
    .into_string()
}

/// The claim page: the setup code, or a message (`notice`) why not now.
pub fn claim(csrf: &str, notice: Option<&str>, errors: &[FieldError]) -> String {
    let mut code = input("setup_code", "Setup code", "", errors);
    code.hint = Some("Shown on the appliance's console, e.g. 7K3M-Q9TD-2XWB-H.");
    layout(
        "Claim this appliance",
        None,
        html! {
            p { "To begin, type the setup code that the appliance's console shows. \
                 Compare the certificate fingerprint on the console with your browser's first." }
            @if let Some(n) = notice { div.notice role="alert" { p { (n) } } }
            (error_summary(errors))
            form method="post" action="/setup/claim" novalidate {
                (hidden_csrf(csrf))
                (code.render())
                div.buttons { button type="submit" { "Claim" } }
            }
        },
    )
    .into_string()
}

/// A page with one message (conflicts, refusals, the end of the wizard).
pub fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> String {
    layout(
        title,
        None,
        html! {
            div.notice role="alert" { p { (text) } }
            @if let Some((href, label)) = link { p { a href=(href) { (label) } } }
        },
    )
    .into_string()
}

/// Step 1.
pub fn licence(
    state: &WizardState,
    csrf: &str,
    form: &LicenceForm,
    recorded: Option<&Licence>,
    errors: &[FieldError],
) -> String {
    let file_errs = errors_of(errors, "licence", None);
    let file_invalid = !file_errs.is_empty();
    let mut key = input("update_key", "Update key", &form.update_key, errors);
    key.hint = Some("44 characters of base64 ending in \"=\", delivered with the licence.");
    let inner = html! {
        section.agreement aria-labelledby="agreement-title" tabindex="0" {
            h2 id="agreement-title" { "License agreement" }
            p { "This appliance's software is provided under the terms of the support and \
                 subscription agreement between you and the vendor. Using the appliance \
                 means accepting those terms." }
        }
        (checkbox("accept", "I accept the license agreement", is_on(&form.accept), errors))
        div.field.invalid[file_invalid] {
            label for="licence" { "Licence file" }
            p.hint id="licence-hint" {
                @if recorded.is_some() { "Leave empty to keep the licence below, or choose a new file." }
                @else { "The support and subscription licence file (text, at most 64 KiB)." }
            }
            input type="file" id="licence" name="licence" accept=".lic,.txt,text/plain"
                aria-invalid=[file_invalid.then_some("true")]
                aria-describedby=(if file_invalid { "licence-hint licence-error" } else { "licence-hint" });
            @if file_invalid { div.field-error id="licence-error" { @for m in &file_errs { p { (m) } } } }
        }
        @if let Some(l) = recorded {
            dl.licence {
                dt { "Licensee" } dd { (l.licensee) }
                dt { "Valid" } dd { (l.valid_from) " to " (l.expire) }
                dt { "Token limit" } dd { (l.token_num) }
                dt { "Subscription" } dd { (l.subscription) }
                @if let Some(c) = l.extra.get("comment") { dt { "Comment" } dd { (c) } }
            }
        }
        (key.render())
    };
    form_page(state, Step::Licence, csrf, true, errors, inner)
}

/// Step 2.
pub fn network(state: &WizardState, csrf: &str, f: &NetworkForm, errors: &[FieldError]) -> String {
    let mode_errs = errors_of(errors, "mode", None);
    let stat = f.mode.trim() == "static";
    let after = state
        .network
        .as_ref()
        .and_then(|n| n.url_after_activation());
    let mut address = input("address", "IP address", &f.address, errors);
    address.hint =
        Some("Static only: an IPv4 address, optionally with /prefix, e.g. 192.0.2.10/24.");
    let mut netmask = input("netmask", "Netmask", &f.netmask, errors);
    netmask.hint =
        Some("Dotted (255.255.255.0) or a prefix (/24); empty when the address has /prefix.");
    let mut search = input("search", "Search", &f.search, errors);
    search.hint = Some("Up to 6 domains, separated by spaces or commas.");
    let mut dns = input("dns", "DNS servers", &f.dns, errors);
    dns.hint = Some("1 to 3 addresses (none needed with DHCP), separated by spaces or commas.");
    let inner = html! {
        fieldset.field.invalid[!mode_errs.is_empty()] id="mode" {
            legend { "Configuration" }
            div.radio { input type="radio" id="mode-dhcp" name="mode" value="dhcp" checked[!stat]; label for="mode-dhcp" { "DHCP" } }
            div.radio { input type="radio" id="mode-static" name="mode" value="static" checked[stat]; label for="mode-static" { "Static address" } }
            @if !mode_errs.is_empty() { div.field-error { @for m in &mode_errs { p { (m) } } } }
        }
        (address.render())
        (netmask.render())
        (input("gateway", "Gateway", &f.gateway, errors).render())
        (input("hostname", "Host name", &f.hostname, errors).render())
        (input("domain", "Domain", &f.domain, errors).render())
        (search.render())
        (dns.render())
        @if let Some(url) = after {
            p.after { "After activation the appliance will be at " strong { (url) } "." }
        }
    };
    form_page(state, Step::Network, csrf, false, errors, inner)
}

/// Step 3.
pub fn time(
    state: &WizardState,
    csrf: &str,
    f: &TimeForm,
    zones: &[String],
    errors: &[FieldError],
) -> String {
    let tz_errs = errors_of(errors, "time_zone", None);
    let tz_invalid = !tz_errs.is_empty();
    let mut ntp_servers = input("ntp_servers", "NTP servers", &f.ntp_servers, errors);
    ntp_servers.hint = Some("Host names or addresses, up to 5, separated by spaces or commas.");
    let mut date = input("date", "Date", &f.date, errors);
    date.hint = Some("Only when NTP is off: YYYY-MM-DD.");
    let mut time = input("time", "Time", &f.time, errors);
    time.hint = Some("Only when NTP is off: HH:MM or HH:MM:SS, 24-hour clock.");
    let inner = html! {
        div.field.invalid[tz_invalid] {
            label for="time_zone" { "Time zone" }
            select id="time_zone" name="time_zone" aria-invalid=[tz_invalid.then_some("true")]
                aria-describedby=[tz_invalid.then_some("time_zone-error")] {
                option value="" selected[f.time_zone.is_empty()] { "Choose a time zone" }
                @for z in zones { option value=(z) selected[*z == f.time_zone] { (z) } }
            }
            @if tz_invalid { div.field-error id="time_zone-error" { @for m in &tz_errs { p { (m) } } } }
        }
        (checkbox("ntp", "Use NTP", is_on(&f.ntp), errors))
        (ntp_servers.render())
        (date.render())
        (time.render())
    };
    form_page(state, Step::Time, csrf, false, errors, inner)
}

/// Step 4. `hostname` feeds the script's check that a password is not the
/// host name (the server checks it anyway).
pub fn roles(state: &WizardState, csrf: &str, f: &RolesForm, errors: &[FieldError]) -> String {
    let pw = |name: &str, label: &'static str, rule: &'static str| {
        let mut i = input(name, label, "", errors);
        i.kind = "password";
        i.autocomplete = "new-password";
        i.check = Some(rule);
        i
    };
    let mut linotp_user = input(
        "linotp_admin_user",
        "User name",
        &f.linotp_admin_user,
        errors,
    );
    linotp_user.check = Some("user");
    let mut app_user = input(
        "appliance_admin_user",
        "User name",
        &f.appliance_admin_user,
        errors,
    );
    app_user.check = Some("user");
    let password_hint = "At least 10 characters with an upper-case and a lower-case letter, a digit and a special character.";
    let mut p1 = pw("linotp_admin_password", "Password", "password");
    p1.hint = Some(password_hint);
    let mut p2 = pw("root_password", "Password", "password");
    p2.hint = Some(password_hint);
    let mut p3 = pw("appliance_admin_password", "Password", "password");
    p3.hint = Some(password_hint);
    let host = state
        .network
        .as_ref()
        .map(|n| n.hostname.clone())
        .unwrap_or_default();
    let inner = html! {
        p { "Next and Previous stay blocked until every field is complete and valid. A field turns green when it is." }
        div data-hostname=(host) id="roles" {
            fieldset data-role="linotp_admin" {
                legend { "LinOTP Administrator" }
                (linotp_user.render())
                (p1.render())
                (pw("linotp_admin_repeat", "Repeat password", "repeat").render())
            }
            fieldset data-role="root" {
                legend { "Root Administrator (user root)" }
                (p2.render())
                (pw("root_repeat", "Repeat password", "repeat").render())
            }
            fieldset data-role="appliance_admin" {
                legend { "Appliance Administrator" }
                (app_user.render())
                (p3.render())
                (pw("appliance_admin_repeat", "Repeat password", "repeat").render())
            }
        }
    };
    form_page(state, Step::Roles, csrf, false, errors, inner)
}

/// Step 5: `rows` table rows are shown (at least the form's, plus blanks).
pub fn radius(
    state: &WizardState,
    csrf: &str,
    f: &RadiusForm,
    rows: usize,
    errors: &[FieldError],
) -> String {
    let empty = appliance_wizard::radius::ClientForm::default();
    let cell = |i: usize, field: &'static str, label: &str, value: &str, kind: &str| -> Markup {
        let name = format!("clients[{i}].{field}");
        let id = id_of(&name);
        let errs = errors_of(errors, field, Some(i));
        let invalid = !errs.is_empty();
        let err_id = format!("{id}-error");
        html! {
            td {
                label.visually-hidden for=(id) { (label) ", client " (i + 1) }
                input type=(kind) id=(id) name=(name) value=(value) autocomplete="off" spellcheck="false"
                    aria-invalid=[invalid.then_some("true")] aria-describedby=[invalid.then_some(&err_id)];
                @if invalid { div.field-error id=(err_id) { @for m in &errs { p { (m) } } } }
            }
        }
    };
    let table_errors: Vec<&FieldError> = errors
        .iter()
        .filter(|e| e.field == "clients" && e.row.is_none())
        .collect();
    let inner = html! {
        (checkbox("no_configuration", "no configuration (no RADIUS clients now)", is_on(&f.no_configuration), errors))
        @if !table_errors.is_empty() {
            div.field-error id="clients" { @for e in &table_errors { p { (e.message) } } }
        }
        table.clients {
            caption { "RADIUS clients" }
            thead { tr { th scope="col" { "Name" } th scope="col" { "Address or subnet" } th scope="col" { "Secret" } th scope="col" { "Short name" } th scope="col" { "Legacy NAS" } } }
            tbody {
                @for i in 0..rows {
                    @let c = f.clients.get(i).unwrap_or(&empty);
                    tr {
                        (cell(i, "name", "Name", &c.name, "text"))
                        (cell(i, "address", "Address or subnet", &c.address, "text"))
                        (cell(i, "secret", "Secret", c.secret.expose(), "password"))
                        (cell(i, "short_name", "Short name", &c.short_name, "text"))
                        @let lid = format!("clients-{i}-legacy");
                        td {
                            input type="checkbox" id=(lid) name={ "clients[" (i) "].legacy" } value="on" checked[is_on(&c.legacy)];
                            label.visually-hidden for=(lid) { "Legacy NAS, client " (i + 1) }
                        }
                    }
                }
            }
        }
    };
    // After Next: Enter in a field submits with the form's first button.
    let after = html! {
        div.buttons.secondary { button type="submit" id="add-row" name="action" value="add_row" formnovalidate { "Add a row" } }
    };
    form_page_with(state, Step::Radius, csrf, false, errors, inner, after)
}

/// Step 6: the key switches, the summary and Activate.
pub fn keys(
    state: &WizardState,
    csrf: &str,
    f: &KeysForm,
    summary: &str,
    errors: &[FieldError],
) -> String {
    let inner = html! {
        fieldset {
            legend { "Keys and passwords made anew at activation" }
            (checkbox("regenerate_ssh", "Regenerate SSH host keys", is_on(&f.regenerate_ssh), errors))
            (checkbox("regenerate_tls", "Regenerate the TLS certificate", is_on(&f.regenerate_tls), errors))
            (checkbox("regenerate_db_key", "Regenerate the database encryption key", is_on(&f.regenerate_db_key), errors))
            (checkbox("regenerate_db_passwords", "Regenerate the internal database passwords", is_on(&f.regenerate_db_passwords), errors))
        }
        (checkbox("shutdown", "Shut down after activation", is_on(&f.shutdown), errors))
        section aria-labelledby="summary-title" {
            h2 id="summary-title" { "Summary" }
            pre.summary tabindex="0" { (summary) }
        }
    };
    form_page(state, Step::Keys, csrf, false, errors, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip_and_ids_are_plain() {
        for s in Step::ORDER {
            assert_eq!(step_of(slug(s)), Some(s));
        }
        assert_eq!(step_of("nope"), None);
        assert_eq!(id_of("clients[3].short_name"), "clients-3-short_name");
    }

    #[test]
    fn values_are_escaped() {
        let errors = vec![FieldError::new("hostname", "bad <b>")];
        let f = NetworkForm {
            hostname: "\"><script>x</script>".into(),
            ..NetworkForm::default()
        };
        let page = network(&WizardState::new(), "tok", &f, &errors);
        assert!(!page.contains("<script>x"), "{page}");
        assert!(page.contains("&lt;script&gt;x"));
        assert!(page.contains("bad &lt;b&gt;"));
    }
}
