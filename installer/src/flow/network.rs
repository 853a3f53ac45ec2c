//! The network states: choosing the adapter, the manual fields with their
//! confirmation, DHCP, and applying a configuration followed by the doctor.

use super::validate::{self, AddressInput, InputError};
use super::{choice, ids, text, Flow, Halt, State, Step, Stop, DEFAULT_HOSTNAME};
use crate::answers::{KeyError, Mode, NetworkAnswers};
use crate::event::Event;
use crate::net::{Ipv4Cidr, NetConfig, Source};
use std::net::Ipv4Addr;

/// The values of the last manual pass, as text, offered as defaults when
/// the user answers "n" to "Apply this configuration?".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    address: Option<String>,
    gateway: Option<String>,
    dns: Option<String>,
    hostname: Option<String>,
    domain: Option<String>,
    search: Option<String>,
}

/// How one manual field is asked.
struct Field<'k> {
    id: &'static str,
    key: &'static str,
    prompt: &'static str,
    default: Option<&'k str>,
    optional: bool,
}

impl Flow<'_> {
    /// The network answers of the first pass, if any.
    fn net_answers(&self) -> Option<NetworkAnswers> {
        if self.answers_fresh {
            self.answers.network.clone()
        } else {
            None
        }
    }

    /// The adapter to configure: named in the answers, the only one, or asked
    /// (`id`). `None` when there is none (the caller returns to the menu).
    fn pick_interface(&mut self, id: &str) -> Step<Option<String>> {
        let list = self.p.net.interfaces();
        if let Some(name) = self.net_answers().and_then(|n| n.interface) {
            return Ok(Some(name));
        }
        match list.len() {
            0 => {
                self.show(text::NO_ADAPTER);
                if self.unattended {
                    return Err(Halt::Stop(Stop {
                        title: "no network adapter was found".into(),
                        errors: Vec::new(),
                        unchanged: self.network.is_none(),
                        report: false,
                    }));
                }
                Ok(None)
            }
            1 => {
                self.show(&format!("Network adapter: {}\n", text::adapter(&list[0])));
                Ok(Some(list[0].name.clone()))
            }
            _ if self.unattended => Err(self.missing("network.interface")),
            _ => {
                self.show(&text::adapters(&list));
                let i = self.ask(id, text::ADAPTER_PROMPT, |s| choice::interface(s, &list))?;
                Ok(Some(list[i].name.clone()))
            }
        }
    }

    /// One value: from the answers when present (checked again in context,
    /// e.g. a gateway against a typed address), else asked. Returns the value
    /// and whether it was asked.
    fn field<T>(
        &mut self,
        f: &Field<'_>,
        answer: Option<String>,
        parse: impl Fn(&str) -> Result<T, InputError>,
    ) -> Step<(T, bool)> {
        if let Some(a) = answer {
            match parse(&a) {
                Ok(v) => return Ok((v, false)),
                Err(e) => {
                    let err = KeyError::new(f.key, e.to_string());
                    if self.unattended {
                        return Err(Halt::Stop(Stop::answers(
                            "a value in the answer file does not fit",
                            vec![err],
                            self.network.is_none(),
                        )));
                    }
                    self.show(&format!("  ! {err}\n"));
                }
            }
        } else if self.unattended {
            if f.optional {
                return parse("")
                    .map(|v| (v, false))
                    .map_err(|_| self.missing(f.key));
            }
            return Err(self.missing(f.key));
        }
        let prompt = text::with_default(f.prompt, f.default, f.optional);
        let default = f.default.map(str::to_string);
        let optional = f.optional;
        let value = self.ask(f.id, &prompt, |input| {
            match (input.is_empty(), &default) {
                (true, Some(d)) => parse(d),
                // "-" clears an optional value that has a default.
                _ if optional && input == "-" => parse(""),
                _ => parse(input),
            }
        })?;
        Ok((value, true))
    }

    pub(super) fn manual(&mut self) -> Step<State> {
        let Some(interface) = self.pick_interface(ids::MANUAL_INTERFACE)? else {
            return Ok(State::Menu);
        };
        let mut answers = self.net_answers().unwrap_or_default();
        loop {
            let (config, asked) = self.manual_values(&interface, &answers)?;
            self.show(&text::summary(&config));
            if !asked {
                return Ok(State::Apply(config));
            }
            if self.ask(ids::MANUAL_CONFIRM, text::APPLY_PROMPT, choice::yes_no)? {
                return Ok(State::Apply(config));
            }
            // "n": everything is asked again, with this pass as the defaults.
            answers = NetworkAnswers::default();
            self.show("Edit the values; press Enter to keep the one in brackets.\n");
        }
    }

    /// Collects the manual fields in order; returns the configuration and
    /// whether anything was asked.
    fn manual_values(
        &mut self,
        interface: &str,
        answers: &NetworkAnswers,
    ) -> Step<(NetConfig, bool)> {
        let d = self.draft.clone();
        let mut asked = false;
        let (addr, a) = self.field(
            &Field {
                id: ids::MANUAL_ADDRESS,
                key: "network.address",
                prompt: text::ADDRESS_PROMPT,
                default: d.address.as_deref(),
                optional: false,
            },
            answers.address.clone(),
            validate::address,
        )?;
        asked |= a;
        let address = match addr {
            AddressInput::Cidr(c) => c,
            AddressInput::Bare(ip) => {
                asked = true;
                self.ask(ids::MANUAL_NETMASK, text::NETMASK_PROMPT, |s| {
                    validate::netmask(s, ip)
                })?
            }
        };
        let (gateway, a) = self.field(
            &Field {
                id: ids::MANUAL_GATEWAY,
                key: "network.gateway",
                prompt: text::GATEWAY_PROMPT,
                default: d.gateway.as_deref(),
                optional: false,
            },
            answers.gateway.clone(),
            |s| validate::gateway(s, &address),
        )?;
        asked |= a;
        let (dns, a) = self.field(
            &Field {
                id: ids::MANUAL_DNS,
                key: "network.dns",
                prompt: text::DNS_PROMPT,
                default: d.dns.as_deref(),
                optional: false,
            },
            answers.dns.as_ref().map(|v| v.join(", ")),
            |s| validate::dns_servers(&validate::split_list(s)).map_err(|e| e.error),
        )?;
        asked |= a;
        let (hostname, a) = self.field(
            &Field {
                id: ids::MANUAL_HOSTNAME,
                key: "network.hostname",
                prompt: text::HOSTNAME_PROMPT,
                default: d.hostname.as_deref(),
                optional: false,
            },
            answers.hostname.clone(),
            validate::hostname,
        )?;
        asked |= a;
        let (domain, a) = self.field(
            &Field {
                id: ids::MANUAL_DOMAIN,
                key: "network.domain",
                prompt: text::DOMAIN_PROMPT,
                default: d.domain.as_deref(),
                optional: true,
            },
            answers.domain.clone(),
            validate::domain,
        )?;
        asked |= a;
        let (search, a) = self.field(
            &Field {
                id: ids::MANUAL_SEARCH,
                key: "network.search",
                prompt: text::SEARCH_PROMPT,
                default: d.search.as_deref(),
                optional: true,
            },
            answers.search.as_ref().map(|v| v.join(", ")),
            |s| validate::search_domains(&validate::split_list(s)).map_err(|e| e.error),
        )?;
        asked |= a;
        self.draft = Draft {
            address: Some(format!("{}/{}", address.addr, address.prefix)),
            gateway: Some(gateway.map_or("none".into(), |g| g.to_string())),
            dns: Some(join(&dns)),
            hostname: Some(hostname.clone()),
            domain: domain.clone(),
            search: (!search.is_empty()).then(|| search.join(", ")),
        };
        let config = NetConfig {
            interface: interface.to_string(),
            address,
            gateway,
            dns,
            hostname,
            domain,
            search,
            mtu: None,
            routes: Vec::new(),
            source: Source::Manual,
        };
        Ok((config, asked))
    }

    pub(super) fn dhcp(&mut self) -> Step<State> {
        let Some(interface) = self.pick_interface(ids::DHCP_INTERFACE)? else {
            return Ok(State::Menu);
        };
        let overrides = self.net_answers().unwrap_or_default();
        self.show(&format!(
            "Requesting the network settings from a DHCP server on {interface}...\n"
        ));
        let term = &mut *self.p.term;
        let result = self
            .p
            .net
            .dhcp(&interface, &mut |line| term.show(&format!("  {line}\n")));
        let mut config = match result {
            Ok(c) => c,
            Err(f) => {
                self.emit(Event::DhcpFailed {
                    interface: f.interface.clone(),
                    tried: f.tried.clone(),
                    hint: f.hint.clone(),
                });
                self.show(&text::dhcp_failed(&f));
                if self.unattended {
                    return Err(Halt::Stop(Stop {
                        title: format!("DHCP on {} failed: {}", f.interface, f.tried),
                        errors: Vec::new(),
                        unchanged: self.network.is_none(),
                        report: false,
                    }));
                }
                self.show(text::DHCP_FALLBACK);
                return Ok(State::Menu);
            }
        };
        // Names from the answers replace the lease's; a lease without a
        // hostname gets the default one.
        if let Some(h) = overrides
            .hostname
            .as_deref()
            .and_then(|h| validate::hostname(h).ok())
        {
            config.hostname = h;
        }
        if let Some(d) = overrides
            .domain
            .as_deref()
            .and_then(|d| validate::domain(d).ok())
        {
            config.domain = d;
        }
        if let Some(s) = &overrides.search {
            let items: Vec<&str> = s.iter().map(String::as_str).collect();
            if let Ok(s) = validate::search_domains(&items) {
                config.search = s;
            }
        }
        if config.hostname.is_empty() {
            config.hostname = DEFAULT_HOSTNAME.to_string();
        }
        self.show(&text::lease(&config));
        Ok(State::Apply(config))
    }

    /// Applies `config`, emits `network`, runs the doctor and shows its checks.
    pub(super) fn apply_and_check(&mut self, config: NetConfig) -> Step<State> {
        self.show(&format!(
            "Applying the network configuration to {}...\n",
            config.interface
        ));
        if let Err(e) = self.p.net.apply(&config) {
            self.show(&format!(
                "  ! the configuration could not be applied: {e}\n"
            ));
            if self.unattended {
                return Err(Halt::Stop(Stop {
                    title: format!("the network configuration could not be applied: {e}"),
                    errors: Vec::new(),
                    unchanged: false,
                    report: false,
                }));
            }
            self.show("Choose M or D to try again.\n");
            return Ok(State::Menu);
        }
        let mode = match config.source {
            Source::Manual => Mode::Manual,
            Source::Dhcp { .. } => Mode::Dhcp,
        };
        self.emit(Event::Network {
            config: config.clone(),
        });
        self.show("Checking the network...\n");
        let checks = self.p.net.doctor(&config);
        self.emit(Event::Doctor {
            checks: checks.clone(),
        });
        self.show(&text::checks(&checks));
        self.network = Some((mode, config));
        Ok(State::SerialNumber)
    }
}

fn join(addrs: &[Ipv4Addr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The address as written in answer files, e.g. `192.0.2.10/24`.
pub fn cidr_text(c: &Ipv4Cidr) -> String {
    format!("{}/{}", c.addr, c.prefix)
}
