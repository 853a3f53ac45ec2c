//! Step 4, roles and passwords: LinOTP Administrator, Root Administrator
//! (user `root`) and Appliance Administrator. Next and Previous stay blocked
//! until every field is complete and valid ([`step_complete`]).

use appliance_config::setup_code::SetupCode;
use serde::{Deserialize, Serialize};

use crate::{shown, Context, FieldError, Secret};

/// Fewest characters in a password.
pub const MIN_PASSWORD: usize = 10;
/// Most bytes in a password.
pub const MAX_PASSWORD: usize = 1024;
/// The Root Administrator's user name.
pub const ROOT_USER: &str = "root";

/// The roles form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolesForm {
    /// LinOTP Administrator: user name.
    pub linotp_admin_user: String,
    /// LinOTP Administrator: password.
    pub linotp_admin_password: Secret,
    /// LinOTP Administrator: password again.
    pub linotp_admin_repeat: Secret,
    /// Root Administrator: password.
    pub root_password: Secret,
    /// Root Administrator: password again.
    pub root_repeat: Secret,
    /// Appliance Administrator: user name.
    pub appliance_admin_user: String,
    /// Appliance Administrator: password.
    pub appliance_admin_password: Secret,
    /// Appliance Administrator: password again.
    pub appliance_admin_repeat: Secret,
}

/// Every field of the form, in page order.
pub const FIELDS: [&str; 8] = [
    "linotp_admin_user",
    "linotp_admin_password",
    "linotp_admin_repeat",
    "root_password",
    "root_repeat",
    "appliance_admin_user",
    "appliance_admin_password",
    "appliance_admin_repeat",
];

/// A user name and its new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// User name.
    pub user: String,
    /// Password as typed (the server hashes it before storing the state).
    pub password: Secret,
}

/// A valid roles step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// LinOTP Administrator.
    pub linotp_admin: Account,
    /// Root Administrator (user [`ROOT_USER`]).
    pub root: Account,
    /// Appliance Administrator.
    pub appliance_admin: Account,
}

impl Roles {
    /// The form that gives these roles (each password typed twice): how a
    /// recorded step is checked again before activation.
    pub fn to_form(&self) -> RolesForm {
        RolesForm {
            linotp_admin_user: self.linotp_admin.user.clone(),
            linotp_admin_password: self.linotp_admin.password.clone(),
            linotp_admin_repeat: self.linotp_admin.password.clone(),
            root_password: self.root.password.clone(),
            root_repeat: self.root.password.clone(),
            appliance_admin_user: self.appliance_admin.user.clone(),
            appliance_admin_password: self.appliance_admin.password.clone(),
            appliance_admin_repeat: self.appliance_admin.password.clone(),
        }
    }
}

fn user_problem(user: &str) -> Option<&'static str> {
    let mut bytes = user.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if user.len() > 32 {
        Some("is longer than 32 characters")
    } else if !first_ok
        || !bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
        })
    {
        Some("must start with a lower-case letter or _ and contain only a-z, 0-9, _, - and .")
    } else {
        None
    }
}

/// What a password lacks, or `None` when it follows the rules.
fn password_problem(role: &str, password: &str, user: &str, ctx: &Context) -> Option<String> {
    if password.is_empty() {
        return Some(format!("{role}: password is required (at least {MIN_PASSWORD} characters with upper- and lower-case letters, a digit and a special character)"));
    }
    if password.chars().any(char::is_control) {
        return Some(format!("{role}: the password contains a control character: use visible characters and spaces only"));
    }
    if password.len() > MAX_PASSWORD {
        return Some(format!(
            "{role}: the password is longer than {MAX_PASSWORD} bytes: choose a shorter one"
        ));
    }
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Some(format!(
            "{role}: the password has {n} characters: use at least {MIN_PASSWORD}"
        ));
    }
    let mut missing = Vec::new();
    if !password.chars().any(char::is_uppercase) {
        missing.push("an upper-case letter");
    }
    if !password.chars().any(char::is_lowercase) {
        missing.push("a lower-case letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !password.chars().any(|c| !c.is_alphanumeric()) {
        missing.push("a special character (not a letter or digit)");
    }
    if !missing.is_empty() {
        return Some(format!("{role}: the password needs {}", missing.join(", ")));
    }
    let lower = password.to_lowercase();
    if !user.is_empty() && lower == user.to_lowercase() {
        return Some(format!("{role}: the password must not be the user name"));
    }
    if ctx
        .hostname
        .as_deref()
        .is_some_and(|h| lower == h.to_lowercase())
    {
        return Some(format!("{role}: the password must not be the host name"));
    }
    if let (Some(code), Ok(typed)) = (&ctx.setup_code, SetupCode::parse(password)) {
        if typed.canonical().eq_ignore_ascii_case(code) {
            return Some(format!("{role}: the password must not be the setup code"));
        }
    }
    None
}

struct RoleFields<'a> {
    role: &'static str,
    user_field: Option<&'static str>,
    user: &'a str,
    password_field: &'static str,
    password: &'a str,
    repeat_field: &'static str,
    repeat: &'a str,
}

/// Checks the roles step.
pub fn validate(form: &RolesForm, ctx: &Context) -> Result<Roles, Vec<FieldError>> {
    let mut errors = Vec::new();
    let roles = [
        RoleFields {
            role: "LinOTP Administrator",
            user_field: Some("linotp_admin_user"),
            user: form.linotp_admin_user.trim(),
            password_field: "linotp_admin_password",
            password: form.linotp_admin_password.expose(),
            repeat_field: "linotp_admin_repeat",
            repeat: form.linotp_admin_repeat.expose(),
        },
        RoleFields {
            role: "Root Administrator",
            user_field: None,
            user: ROOT_USER,
            password_field: "root_password",
            password: form.root_password.expose(),
            repeat_field: "root_repeat",
            repeat: form.root_repeat.expose(),
        },
        RoleFields {
            role: "Appliance Administrator",
            user_field: Some("appliance_admin_user"),
            user: form.appliance_admin_user.trim(),
            password_field: "appliance_admin_password",
            password: form.appliance_admin_password.expose(),
            repeat_field: "appliance_admin_repeat",
            repeat: form.appliance_admin_repeat.expose(),
        },
    ];
    let mut good_passwords: Vec<(&str, &str)> = Vec::new();
    for r in &roles {
        if let Some(field) = r.user_field {
            if r.user.is_empty() {
                errors.push(FieldError::new(
                    field,
                    format!("{}: user name is required, e.g. admin", r.role),
                ));
            } else if let Some(p) = user_problem(r.user) {
                errors.push(FieldError::new(
                    field,
                    format!("{}: user name {} {p}", r.role, shown(r.user)),
                ));
            } else if r.user == ROOT_USER {
                errors.push(FieldError::new(
                    field,
                    format!(
                        "{}: user name root is the Root Administrator's: choose another",
                        r.role
                    ),
                ));
            }
        }
        if let Some(m) = password_problem(r.role, r.password, r.user, ctx) {
            errors.push(FieldError::new(r.password_field, m));
        } else if let Some((other, _)) = good_passwords.iter().find(|(_, p)| *p == r.password) {
            errors.push(FieldError::new(
                r.password_field,
                format!("{}: the password is the same as the {other}'s: each role needs its own password", r.role),
            ));
        } else {
            good_passwords.push((r.role, r.password));
        }
        if r.repeat.is_empty() {
            errors.push(FieldError::new(
                r.repeat_field,
                format!("{}: repeat the password in this field", r.role),
            ));
        } else if r.repeat != r.password {
            errors.push(FieldError::new(
                r.repeat_field,
                format!(
                    "{}: the repeated password does not match: type the same password twice",
                    r.role
                ),
            ));
        }
    }
    if form.linotp_admin_user.trim() == form.appliance_admin_user.trim()
        && !form.linotp_admin_user.trim().is_empty()
        && !errors.iter().any(|e| e.field.ends_with("_user"))
    {
        errors.push(FieldError::new(
            "appliance_admin_user",
            "Appliance Administrator: user name is already the LinOTP Administrator's: choose another",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let account = |user: &str, password: &Secret| Account {
        user: user.to_string(),
        password: password.clone(),
    };
    Ok(Roles {
        linotp_admin: account(form.linotp_admin_user.trim(), &form.linotp_admin_password),
        root: account(ROOT_USER, &form.root_password),
        appliance_admin: account(
            form.appliance_admin_user.trim(),
            &form.appliance_admin_password,
        ),
    })
}

/// The fields that are filled in and valid (the page marks them green).
pub fn valid_fields(form: &RolesForm, ctx: &Context) -> Vec<&'static str> {
    let errors = validate(form, ctx).err().unwrap_or_default();
    let value = |f: &str| match f {
        "linotp_admin_user" => form.linotp_admin_user.as_str(),
        "linotp_admin_password" => form.linotp_admin_password.expose(),
        "linotp_admin_repeat" => form.linotp_admin_repeat.expose(),
        "root_password" => form.root_password.expose(),
        "root_repeat" => form.root_repeat.expose(),
        "appliance_admin_user" => form.appliance_admin_user.as_str(),
        "appliance_admin_password" => form.appliance_admin_password.expose(),
        _ => form.appliance_admin_repeat.expose(),
    };
    FIELDS
        .into_iter()
        .filter(|f| !value(f).trim().is_empty() && !errors.iter().any(|e| e.field == *f))
        .collect()
}

/// Whether Next and Previous may be enabled: every field complete and valid.
pub fn step_complete(form: &RolesForm, ctx: &Context) -> bool {
    validate(form, ctx).is_ok()
}
