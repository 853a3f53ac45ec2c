//! Step 3, time: time zone, NTP on or off, date and time when it is off,
//! NTP servers.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::date::{Date, DateError, TimeOfDay};
use crate::names::domain_problem;
use crate::{checkbox, shown, split_list, Context, FieldError};

/// The most NTP servers.
pub const MAX_NTP: usize = 5;

/// The time form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeForm {
    /// tzdata name.
    pub time_zone: String,
    /// "Use NTP" checkbox.
    pub ntp: String,
    /// NTP servers, separated by spaces or commas.
    pub ntp_servers: String,
    /// `YYYY-MM-DD` (only with NTP off).
    pub date: String,
    /// `HH:MM` or `HH:MM:SS` (only with NTP off).
    pub time: String,
}

/// How the clock is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum Clock {
    /// From NTP servers (host names or addresses).
    Ntp {
        /// The servers, as entered (lower case).
        servers: Vec<String>,
    },
    /// Set once by hand, in the chosen time zone.
    Manual {
        /// The date.
        date: Date,
        /// The time of day.
        time: TimeOfDay,
    },
}

/// A valid time step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeSettings {
    /// tzdata name.
    pub time_zone: String,
    /// Clock source.
    pub clock: Clock,
}

fn ntp_server_problem(s: &str) -> Option<String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
            return Some(format!(
                "{ip} cannot be an NTP server: enter a server's unicast address or host name"
            ));
        }
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(format!(
            "{} is not a valid IPv4 address: enter four numbers 0-255 or a host name",
            shown(s)
        ));
    }
    domain_problem(s).map(|p| {
        format!(
            "the name {} {p}: enter a host name such as pool.ntp.org or an address",
            shown(s)
        )
    })
}

/// Checks the time step.
pub fn validate(form: &TimeForm, ctx: &Context) -> Result<TimeSettings, Vec<FieldError>> {
    let mut errors = Vec::new();
    let tz = form.time_zone.trim();
    if tz.is_empty() {
        errors.push(FieldError::new(
            "time_zone",
            "Time zone is required: choose one from the list, e.g. Europe/Berlin",
        ));
    } else if !ctx.time_zones.iter().any(|z| z == tz) {
        errors.push(FieldError::new(
            "time_zone",
            format!(
                "Time zone {} is not in the list: choose one from the list, e.g. Europe/Berlin",
                shown(tz)
            ),
        ));
    }
    let before = errors.len();
    let ntp = checkbox("ntp", "\"Use NTP\"", &form.ntp, &mut errors);
    let ntp_readable = errors.len() == before;
    let entries = split_list(&form.ntp_servers);
    let mut servers: Vec<String> = Vec::new();
    if entries.len() > MAX_NTP {
        errors.push(FieldError::new(
            "ntp_servers",
            format!(
                "NTP servers lists {} servers: enter at most {MAX_NTP}",
                entries.len()
            ),
        ));
    } else {
        for e in entries {
            let s = e.to_ascii_lowercase();
            let s = s.trim_end_matches('.').to_string();
            if let Some(p) = ntp_server_problem(&s) {
                errors.push(FieldError::new("ntp_servers", format!("NTP servers: {p}")));
            } else if servers.contains(&s) {
                errors.push(FieldError::new(
                    "ntp_servers",
                    format!("NTP servers lists {s} twice: enter each server once"),
                ));
            } else {
                servers.push(s);
            }
        }
    }
    let mut clock = None;
    if !ntp_readable {
        // Whether date and time are needed is unknown until NTP is on or off.
    } else if ntp {
        if servers.is_empty() && !errors.iter().any(|e| e.field == "ntp_servers") {
            errors.push(FieldError::new(
                "ntp_servers",
                "NTP servers: enter at least one server when NTP is on, or turn NTP off and set the date and time",
            ));
        }
        clock = Some(Clock::Ntp { servers });
    } else {
        let date = match form.date.trim() {
            "" => {
                errors.push(FieldError::new(
                    "date",
                    "Date is required when NTP is off: enter it as YYYY-MM-DD",
                ));
                None
            }
            d => match Date::parse(d) {
                Ok(d) => Some(d),
                Err(e) => {
                    let why = match e {
                        DateError::Format => "write it as YYYY-MM-DD, e.g. 2027-03-31".to_string(),
                        other => other.to_string(),
                    };
                    errors.push(FieldError::new(
                        "date",
                        format!("Date {} is not a calendar date: {why}", shown(d)),
                    ));
                    None
                }
            },
        };
        let time = match form.time.trim() {
            "" => {
                errors.push(FieldError::new(
                    "time",
                    "Time is required when NTP is off: enter it as HH:MM or HH:MM:SS (24-hour clock)",
                ));
                None
            }
            t => TimeOfDay::parse(t).or_else(|| {
                errors.push(FieldError::new(
                    "time",
                    format!("Time {} is not a time of day: enter HH:MM or HH:MM:SS between 00:00 and 23:59:59", shown(t)),
                ));
                None
            }),
        };
        if let (Some(date), Some(time)) = (date, time) {
            clock = Some(Clock::Manual { date, time });
        }
    }
    match clock {
        Some(clock) if errors.is_empty() => Ok(TimeSettings {
            time_zone: tz.to_string(),
            clock,
        }),
        _ => Err(errors),
    }
}
