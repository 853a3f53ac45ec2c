//! The keyboard layout step (also reached with the K hotkey) and the
//! collected answers.

use super::network::cidr_text;
use super::{choice, ids, text, Flow, Step, DEFAULT_LAYOUT};
use crate::answers::{AnswerFile, Mode, NetworkAnswers, VERSION};
use crate::event::Event;

impl Flow<'_> {
    /// Lists the layouts and asks for one (preselected: the earlier choice,
    /// else the first, "us"); applies it and emits `keyboard`.
    pub(super) fn choose_layout(&mut self) -> Step<()> {
        let layouts = self.p.keyboard.layouts();
        if layouts.is_empty() {
            self.show(text::NO_LAYOUTS);
            return Ok(());
        }
        let current = self.layout.clone().unwrap_or(DEFAULT_LAYOUT.into());
        let default = layouts.iter().position(|l| l.code == current).unwrap_or(0);
        self.show(&text::layouts(&layouts, default));
        if !self.on_vt {
            self.show(text::SERIAL_KEYBOARD_NOTE);
        }
        let prompt = text::layout_prompt(&layouts[default].code);
        let i = self.ask(ids::KEYBOARD_LAYOUT, &prompt, |s| {
            choice::layout(s, &layouts, default)
        })?;
        self.apply_layout(&layouts[i].code);
        Ok(())
    }

    fn apply_layout(&mut self, code: &str) {
        let applied = match self.p.keyboard.apply(code) {
            Ok(()) => {
                self.show(&format!("Keyboard layout: {code}\n"));
                true
            }
            Err(e) => {
                self.show(&format!(
                    "  ! the keyboard layout {code} could not be loaded: {e}\n"
                ));
                false
            }
        };
        self.layout = Some(code.to_string());
        self.emit(Event::Keyboard {
            layout: code.to_string(),
            applied,
        });
    }

    /// The keyboard step: from the answers, the default when nobody
    /// can be asked, else the list.
    pub(super) fn keyboard_step(&mut self) -> Step<()> {
        if let Some(code) = self.answers.keyboard.clone() {
            self.apply_layout(&code);
            return Ok(());
        }
        if self.unattended {
            let code = self.layout.clone().unwrap_or(DEFAULT_LAYOUT.into());
            self.apply_layout(&code);
            return Ok(());
        }
        self.choose_layout()
    }

    /// What was configured, in the answer-file schema (no `finish`).
    pub(super) fn collected(&self) -> AnswerFile {
        let network = self.network.as_ref().map(|(mode, c)| match mode {
            Mode::Manual => NetworkAnswers {
                mode: Some(Mode::Manual),
                interface: Some(c.interface.clone()),
                address: Some(cidr_text(&c.address)),
                gateway: Some(c.gateway.map_or("none".into(), |g| g.to_string())),
                dns: Some(c.dns.iter().map(ToString::to_string).collect()),
                hostname: Some(c.hostname.clone()),
                domain: Some(c.domain.clone().unwrap_or_default()),
                search: Some(c.search.clone()),
            },
            Mode::Dhcp => NetworkAnswers {
                mode: Some(Mode::Dhcp),
                interface: Some(c.interface.clone()),
                ..NetworkAnswers::default()
            },
        });
        AnswerFile {
            version: VERSION,
            network,
            serial: self
                .serial
                .as_ref()
                .map(|v| crate::secret::Secret::new(v.serial.to_string())),
            keyboard: self.layout.clone(),
            disk: None,
            partition_table: None,
            erase_disk: None,
            finish: None,
        }
    }
}
