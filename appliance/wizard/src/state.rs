//! The wizard's progress: the six steps in order, what is done, which
//! buttons work, and the mapping of a completed wizard to the appliance's
//! desired state. Stored as JSON on the data partition (mode 0600: it holds
//! the new passwords until activation).

use std::net::IpAddr;

use appliance_config::state::{Addressing as StateAddressing, DesiredState, StateError};
use handover::Ipv4Cidr;
use serde::{Deserialize, Serialize};

use crate::keys::KeysChoice;
use crate::licence::LicenceStep;
use crate::network::{Addressing, Network};
use crate::radius::RadiusClients;
use crate::roles::Roles;
use crate::time::TimeSettings;

/// The format of [`WizardState`] this crate reads and writes.
pub const WIZARD_FORMAT: u32 = 1;

/// A step of the wizard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Licence agreement and licence file.
    Licence,
    /// Network.
    Network,
    /// Time and date.
    Time,
    /// Roles and passwords.
    Roles,
    /// RADIUS clients.
    Radius,
    /// Keys and activation.
    Keys,
}

impl Step {
    /// The steps in order.
    pub const ORDER: [Step; 6] = [
        Step::Licence,
        Step::Network,
        Step::Time,
        Step::Roles,
        Step::Radius,
        Step::Keys,
    ];

    /// 0-based position.
    pub fn index(self) -> usize {
        Step::ORDER.iter().position(|s| *s == self).unwrap_or(0)
    }

    /// The step after this one.
    pub fn next(self) -> Option<Step> {
        Step::ORDER.get(self.index() + 1).copied()
    }

    /// The step before this one.
    pub fn previous(self) -> Option<Step> {
        self.index().checked_sub(1).map(|i| Step::ORDER[i])
    }

    /// The page title.
    pub fn title(self) -> &'static str {
        match self {
            Step::Licence => "License Agreement",
            Step::Network => "Basic Network Configuration",
            Step::Time => "Setting the Time and Date",
            Step::Roles => "User Roles and Passwords",
            Step::Radius => "Definition of the RADIUS Clients",
            Step::Keys => "Key Generation and Database Passwords",
        }
    }
}

/// Which buttons a page enables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Buttons {
    /// "Previous".
    pub previous: bool,
    /// "Next".
    pub next: bool,
    /// "Activate" (last step only).
    pub activate: bool,
}

/// The result of one step, recorded when its form was valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// Step 1.
    Licence(LicenceStep),
    /// Step 2.
    Network(Network),
    /// Step 3.
    Time(TimeSettings),
    /// Step 4.
    Roles(Roles),
    /// Step 5.
    Radius(RadiusClients),
    /// Step 6.
    Keys(KeysChoice),
}

impl StepResult {
    /// The step it belongs to.
    pub fn step(&self) -> Step {
        match self {
            StepResult::Licence(_) => Step::Licence,
            StepResult::Network(_) => Step::Network,
            StepResult::Time(_) => Step::Time,
            StepResult::Roles(_) => Step::Roles,
            StepResult::Radius(_) => Step::Radius,
            StepResult::Keys(_) => Step::Keys,
        }
    }
}

/// A move the rules do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NavError {
    /// The step cannot be opened before the earlier ones are done.
    #[error("\"{}\" opens after the steps before it are done", .0.title())]
    NotYet(Step),
    /// A result for another page than the current one.
    #[error("the form sent is for \"{}\", but the wizard is at \"{}\"", .sent.title(), .current.title())]
    WrongStep {
        /// The step the result is for.
        sent: Step,
        /// The current step.
        current: Step,
    },
    /// Previous/Next is blocked on this page now.
    #[error("\"{}\": {what} is blocked until every field is complete and valid", .step.title())]
    Blocked {
        /// The page.
        step: Step,
        /// "Previous" or "Next".
        what: &'static str,
    },
    /// There is no step in that direction.
    #[error("there is no step {0} this one")]
    NoStep(&'static str),
}

/// Every step done: what activation needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    /// Step 1.
    pub licence: LicenceStep,
    /// Step 2.
    pub network: Network,
    /// Step 3.
    pub time: TimeSettings,
    /// Step 4.
    pub roles: Roles,
    /// Step 5.
    pub radius: RadiusClients,
    /// Step 6.
    pub keys: KeysChoice,
}

/// The wizard's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WizardState {
    /// Always [`WIZARD_FORMAT`].
    pub format: u32,
    /// The page shown.
    pub current: Step,
    /// Step 1's result.
    pub licence: Option<LicenceStep>,
    /// Step 2's result.
    pub network: Option<Network>,
    /// Step 3's result.
    pub time: Option<TimeSettings>,
    /// Step 4's result.
    pub roles: Option<Roles>,
    /// Step 5's result.
    pub radius: Option<RadiusClients>,
    /// Step 6's result.
    pub keys: Option<KeysChoice>,
}

impl Default for WizardState {
    fn default() -> Self {
        WizardState::new()
    }
}

impl WizardState {
    /// A wizard at its first step, nothing done.
    pub fn new() -> WizardState {
        WizardState {
            format: WIZARD_FORMAT,
            current: Step::Licence,
            licence: None,
            network: None,
            time: None,
            roles: None,
            radius: None,
            keys: None,
        }
    }

    /// Whether `step` has a valid result.
    pub fn is_done(&self, step: Step) -> bool {
        match step {
            Step::Licence => self.licence.is_some(),
            Step::Network => self.network.is_some(),
            Step::Time => self.time.is_some(),
            Step::Roles => self.roles.is_some(),
            Step::Radius => self.radius.is_some(),
            Step::Keys => self.keys.is_some(),
        }
    }

    /// Whether `step` may be shown: every step before it is done.
    pub fn can_open(&self, step: Step) -> bool {
        Step::ORDER[..step.index()].iter().all(|s| self.is_done(*s))
    }

    /// The buttons of the current page, given whether its form as now
    /// filled in is valid. Previous is always possible except on the first
    /// page and on the roles page while its form is incomplete; Next needs a
    /// valid form; Activate needs every step.
    pub fn buttons(&self, page_valid: bool) -> Buttons {
        let previous =
            self.current.previous().is_some() && (self.current != Step::Roles || page_valid);
        let next = self.current.next().is_some() && page_valid;
        let activate = self.current == Step::Keys
            && page_valid
            && Step::ORDER[..5].iter().all(|s| self.is_done(*s));
        Buttons {
            previous,
            next,
            activate,
        }
    }

    /// Records the current page's valid result and moves to the next page
    /// (the last page stays). A new host name undoes the roles step, whose
    /// passwords must differ from it.
    pub fn complete(&mut self, result: StepResult) -> Result<(), NavError> {
        let step = result.step();
        if step != self.current {
            return Err(NavError::WrongStep {
                sent: step,
                current: self.current,
            });
        }
        match result {
            StepResult::Licence(v) => self.licence = Some(v),
            StepResult::Network(v) => {
                if self.network.as_ref().map(|n| &n.hostname) != Some(&v.hostname) {
                    self.roles = None;
                }
                self.network = Some(v);
            }
            StepResult::Time(v) => self.time = Some(v),
            StepResult::Roles(v) => self.roles = Some(v),
            StepResult::Radius(v) => self.radius = Some(v),
            StepResult::Keys(v) => self.keys = Some(v),
        }
        if let Some(next) = step.next() {
            self.current = next;
        }
        Ok(())
    }

    /// "Previous": `page_valid` says whether the current page's form is
    /// valid as filled in (the roles page blocks Previous otherwise).
    pub fn back(&mut self, page_valid: bool) -> Result<(), NavError> {
        if !self.buttons(page_valid).previous {
            if self.current.previous().is_none() {
                return Err(NavError::NoStep("before"));
            }
            return Err(NavError::Blocked {
                step: self.current,
                what: "Previous",
            });
        }
        self.current = self.current.previous().unwrap_or(self.current);
        Ok(())
    }

    /// Opens `step` directly (a link in the step list) if it may be opened.
    pub fn open(&mut self, step: Step) -> Result<(), NavError> {
        if !self.can_open(step) {
            return Err(NavError::NotYet(step));
        }
        self.current = step;
        Ok(())
    }

    /// Every step's result, once all are done.
    pub fn completed(&self) -> Option<Completed> {
        Some(Completed {
            licence: self.licence.clone()?,
            network: self.network.clone()?,
            time: self.time.clone()?,
            roles: self.roles.clone()?,
            radius: self.radius.clone()?,
            keys: self.keys?,
        })
    }
}

/// Why a completed wizard cannot become a desired state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The desired state has no interface to configure.
    #[error("the current state has no network interface to configure")]
    NoInterface,
    /// The desired state's name servers are IPv4 only.
    #[error("DNS server {0} is IPv6; the appliance's network configuration takes IPv4 name servers only so far")]
    Ipv6Dns(IpAddr),
    /// The result does not pass the desired state's own check.
    #[error("the new configuration is invalid: {0}")]
    Invalid(#[from] StateError),
}

/// The desired state after activation: `current` with the wizard's host
/// name, domain, first interface's addressing, name servers, search list and
/// time zone. Keys, passwords, licence, RADIUS clients and the clock are
/// activation's other outputs and not part of the desired state.
pub fn to_desired_state(current: &DesiredState, c: &Completed) -> Result<DesiredState, MapError> {
    let mut s = current.clone();
    s.hostname = c.network.hostname.clone();
    s.domain = c.network.domain.clone();
    let first = s
        .network
        .interfaces
        .first_mut()
        .ok_or(MapError::NoInterface)?;
    first.addressing = match c.network.addressing {
        Addressing::Dhcp => StateAddressing::Dhcp,
        Addressing::Static {
            address,
            prefix,
            gateway,
        } => StateAddressing::Manual {
            address: Ipv4Cidr {
                addr: address,
                prefix,
            },
            gateway,
        },
    };
    s.network.dns = c
        .network
        .dns
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(a) => Ok(*a),
            IpAddr::V6(_) => Err(MapError::Ipv6Dns(*ip)),
        })
        .collect::<Result<_, _>>()?;
    s.network.search = c.network.search.clone();
    s.time_zone = c.time.time_zone.clone();
    s.validate()?;
    Ok(s)
}
