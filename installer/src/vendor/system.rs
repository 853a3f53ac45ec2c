//! The real [`VendorOps`]: the ISO's vendor settings, HTTPS through
//! [`crate::backend::fetch`] with only the vendor CA trusted, the system clock.

use super::verify::{self, Fetch, FetchFailure};
use super::{Problem, SerialCheck, VendorConfig, VendorOps};
use crate::backend::fetch::{Client, FetchError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vendor_repo::{Seen, Serial};

/// HTTPS with the pinned CA.
pub struct HttpsFetch {
    client: Client,
}

impl Fetch for HttpsFetch {
    fn get(&mut self, url: &str, max: u64) -> Result<Vec<u8>, FetchFailure> {
        self.client.get(url, max).map_err(|e| match e {
            FetchError::NotFound { .. } => FetchFailure::NotFound,
            other => FetchFailure::Problem(problem(&other)),
        })
    }
}

/// Sorts a fetch error into the kinds the screen and events use.
fn problem(e: &FetchError) -> Problem {
    let kind = match e {
        FetchError::Dns { .. }
        | FetchError::Refused { .. }
        | FetchError::Timeout { .. }
        | FetchError::Unreachable { .. } => "unreachable",
        FetchError::TlsUntrusted { .. }
        | FetchError::TlsExpired { .. }
        | FetchError::TlsOther { .. }
        | FetchError::BadCa { .. } => "tls",
        _ => "backend",
    };
    Problem {
        kind,
        detail: e.to_string(),
        hint: e.hint(),
    }
}

/// The installer's backend access.
pub struct SystemVendor {
    product: String,
    build_epoch: u64,
    backend: Result<(VendorConfig, Box<dyn Fetch>), Problem>,
    seen: Seen,
}

impl SystemVendor {
    /// From the vendor settings as loaded by the UI (shared with the install).
    pub fn new(
        product: String,
        build_epoch: u64,
        config: Result<VendorConfig, super::config::ConfigError>,
    ) -> SystemVendor {
        let backend = config
            .map_err(|e| Problem {
                kind: "not-configured",
                detail: format!("this installer's vendor settings are unusable: {e}"),
                hint: "the ISO was built without a backend; ask your vendor for a complete ISO"
                    .into(),
            })
            .and_then(|config| {
                let client = Client::new(&config.ca_pem, Duration::from_secs(15))
                    .map_err(|e| problem(&e))?;
                Ok((config, Box::new(HttpsFetch { client }) as Box<dyn Fetch>))
            });
        SystemVendor {
            product,
            build_epoch,
            backend,
            seen: Seen::default(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl VendorOps for SystemVendor {
    fn product(&self) -> String {
        self.product.clone()
    }

    fn backend_url(&self) -> String {
        match &self.backend {
            Ok((c, _)) => c.backend_url.clone(),
            Err(_) => "(no backend configured)".into(),
        }
    }

    fn check_serial(&mut self, serial: &Serial) -> SerialCheck {
        match &mut self.backend {
            Ok((config, fetch)) => verify::check_serial(
                config,
                fetch.as_mut(),
                &mut self.seen,
                now(),
                self.build_epoch,
                serial,
            ),
            Err(p) => SerialCheck::Problem(p.clone()),
        }
    }

    fn pause(&mut self, seconds: u64) {
        std::thread::sleep(Duration::from_secs(seconds));
    }
}
