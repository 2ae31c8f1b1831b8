//! Probing a runtime's health listener: `/healthz` and `/readyz` (500 ms each) from the URL
//! its health URL file holds, with every field reported (an agent reads `ok`, `status`,
//! `body` and `error` without guessing which are absent).

use serde::Serialize;

use crate::cli::health::{probe_health, Endpoint};

/// One endpoint's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointProbe {
    pub url: String,
    pub ok: bool,
    pub status: u16,
    pub body: String,
    pub error: String,
}

impl From<Endpoint> for EndpointProbe {
    fn from(e: Endpoint) -> Self {
        EndpointProbe {
            url: e.url,
            ok: e.ok,
            status: e.status,
            body: e.body,
            error: e.error,
        }
    }
}

/// Both endpoints of one base URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthProbe {
    pub base_url: String,
    pub healthz: EndpointProbe,
    pub readyz: EndpointProbe,
}

impl HealthProbe {
    /// `<base>/ui`.
    pub fn ui_url(&self) -> String {
        ui_url(&self.base_url)
    }
    /// Why the runtime is or is not ready: `/readyz`'s body (`ready`, `mcp startup probe
    /// pending`, …) or the error reaching it.
    pub fn readiness_reason(&self) -> String {
        if !self.readyz.body.is_empty() {
            self.readyz.body.clone()
        } else {
            self.readyz.error.clone()
        }
    }
}

pub fn ui_url(base: &str) -> String {
    if base.trim().is_empty() {
        String::new()
    } else {
        format!("{}/ui", base.trim_end_matches('/'))
    }
}

/// Probes the health URL as its file holds it; `None` for an empty or unusable URL.
pub fn probe(raw: &str) -> Option<HealthProbe> {
    probe_health(raw).map(|(base_url, h, r)| HealthProbe {
        base_url,
        healthz: h.into(),
        readyz: r.into(),
    })
}
