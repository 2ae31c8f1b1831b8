//! Helpers shared by the integration tests: a ureq agent and a minimal fake tunnel client.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use tunnel_conformance::emulator::Emulator;

/// An HTTP reply reduced to what tests look at.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An agent that reports every status as a response and never waits long.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

fn reply(mut r: ureq::http::Response<ureq::Body>) -> Reply {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Result<Reply, ureq::Error> {
    let mut rq = agent.get(url);
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    rq.call().map(reply)
}

pub fn post(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Reply, ureq::Error> {
    let mut rq = agent.post(url);
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    rq.send(body).map(reply)
}

pub fn delete(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, ureq::Error> {
    let mut rq = agent.delete(url);
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    rq.call().map(reply)
}

/// The headers a well-behaved tunnel client sends on every control-plane request.
pub fn cp_headers(emu: &Emulator) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {}", emu.api_key())),
        ("Accept".into(), "application/json".into()),
        ("User-Agent".into(), "oai-tunnel-client/0.0.0-test".into()),
        ("X-Tunnel-Client-Name".into(), "oai-tunnel-client".into()),
        ("X-Tunnel-Client-Version".into(), "0.0.0-test".into()),
    ]
}

pub fn refs(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `GET …/poll?<query>` as a client would.
pub fn poll(agent: &ureq::Agent, emu: &Emulator, query: &str) -> Reply {
    let url = format!(
        "{}/v1/tunnels/{}/poll?{query}",
        emu.control_plane_url(),
        emu.tunnel_id()
    );
    get(agent, &url, &refs(&cp_headers(emu))).expect("poll")
}

/// `POST …/response` with a shard token.
pub fn post_response(agent: &ureq::Agent, emu: &Emulator, token: &str, payload: &Value) -> Reply {
    post_response_raw(agent, emu, token, &payload.to_string()).expect("post response")
}

pub fn post_response_raw(
    agent: &ureq::Agent,
    emu: &Emulator,
    token: &str,
    body: &str,
) -> Result<Reply, ureq::Error> {
    let url = format!(
        "{}/v1/tunnels/{}/response",
        emu.control_plane_url(),
        emu.tunnel_id()
    );
    let mut h = cp_headers(emu);
    h.push(("Content-Type".into(), "application/json".into()));
    h.push(("X-Tunnel-Shard-Token".into(), token.into()));
    post(agent, &url, &refs(&h), body)
}

/// Polls until one command arrives (bounded).
pub fn poll_one(agent: &ureq::Agent, emu: &Emulator) -> Value {
    for _ in 0..20 {
        let r = poll(agent, emu, "limit=1&timeout_ms=500");
        if r.status == 200 {
            return r.json()["commands"][0].clone();
        }
        assert_eq!(r.status, 204, "unexpected poll answer: {}", r.body);
    }
    panic!("no command within 10 s");
}

/// Our schema of the control-plane contract, kept in the repository
/// (`conformance/contract/README.md`) so the schema checks run on every checkout.
pub fn openapi() -> Value {
    serde_json::from_str(include_str!("../../contract/contract.schema.json"))
        .expect("contract.schema.json parses")
}
