//! The response payload POSTed to `/v1/tunnels/{id}/response`.
//!
//! Constructors per `resp_type` make the contract's pairing rules unrepresentable to break:
//! acknowledgements never carry `resp_json`, responses and notifications always do, and the
//! payload is always a JSON object (the schema says `resp_json` is an object or null).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::channel::ChannelName;

/// Every `resp_type` the client can post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RespType {
    JsonRpcResponse,
    JsonRpcNotify,
    NotifyAck,
    SessionTerminationResponse,
    OAuthDiscoveryResponse,
}

impl RespType {
    pub fn as_str(self) -> &'static str {
        match self {
            RespType::JsonRpcResponse => "jsonrpc_response",
            RespType::JsonRpcNotify => "jsonrpc_notify",
            RespType::NotifyAck => "notify_ack",
            RespType::SessionTerminationResponse => "session_termination_response",
            RespType::OAuthDiscoveryResponse => "oauth_discovery_response",
        }
    }

    /// Whether this payload ends the command (everything but `jsonrpc_notify`).
    pub fn is_terminal(self) -> bool {
        self != RespType::JsonRpcNotify
    }
}

/// Headers in the wire form: canonical name → values in order.
pub type RespHeaders = BTreeMap<String, Vec<String>>;

/// A payload for the response endpoint.
#[derive(Debug, Clone)]
pub struct ResponsePayload {
    request_id: String,
    channel: ChannelName,
    resp_json: Option<Box<RawValue>>,
    resp_headers: RespHeaders,
    resp_code: u16,
    resp_type: RespType,
}

/// `resp_json` must be a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject;

fn require_object(json: Box<RawValue>) -> Result<Box<RawValue>, NotAnObject> {
    if json.get().trim_start().starts_with('{') {
        Ok(json)
    } else {
        Err(NotAnObject)
    }
}

impl ResponsePayload {
    /// A terminal JSON-RPC response (the target's, verbatim, or a synthesized error).
    pub fn jsonrpc_response(
        request_id: &str,
        channel: &ChannelName,
        json: Box<RawValue>,
        resp_code: u16,
        resp_headers: RespHeaders,
    ) -> Result<Self, NotAnObject> {
        Ok(Self::build(
            request_id,
            channel,
            Some(require_object(json)?),
            resp_code,
            resp_headers,
            RespType::JsonRpcResponse,
        ))
    }

    /// A notification or server→client request relayed before the terminal response.
    pub fn jsonrpc_notify(
        request_id: &str,
        channel: &ChannelName,
        json: Box<RawValue>,
        resp_code: u16,
        resp_headers: RespHeaders,
    ) -> Result<Self, NotAnObject> {
        Ok(Self::build(
            request_id,
            channel,
            Some(require_object(json)?),
            resp_code,
            resp_headers,
            RespType::JsonRpcNotify,
        ))
    }

    /// Acknowledges a JSON-RPC notification (or a client response) with the target's status.
    pub fn notify_ack(
        request_id: &str,
        channel: &ChannelName,
        resp_code: u16,
        resp_headers: RespHeaders,
    ) -> Self {
        Self::build(
            request_id,
            channel,
            None,
            resp_code,
            resp_headers,
            RespType::NotifyAck,
        )
    }

    /// The outcome of a `session_termination` command.
    pub fn session_termination(
        request_id: &str,
        channel: &ChannelName,
        resp_code: u16,
        resp_headers: RespHeaders,
    ) -> Self {
        Self::build(
            request_id,
            channel,
            None,
            resp_code,
            resp_headers,
            RespType::SessionTerminationResponse,
        )
    }

    /// The outcome of an `oauth_discovery` command (headers are not allowlisted here).
    pub fn oauth_discovery(
        request_id: &str,
        channel: &ChannelName,
        json: Box<RawValue>,
        resp_code: u16,
        resp_headers: RespHeaders,
    ) -> Result<Self, NotAnObject> {
        Ok(Self::build(
            request_id,
            channel,
            Some(require_object(json)?),
            resp_code,
            resp_headers,
            RespType::OAuthDiscoveryResponse,
        ))
    }

    fn build(
        request_id: &str,
        channel: &ChannelName,
        resp_json: Option<Box<RawValue>>,
        resp_code: u16,
        resp_headers: RespHeaders,
        resp_type: RespType,
    ) -> Self {
        ResponsePayload {
            request_id: request_id.to_string(),
            channel: channel.clone(),
            resp_json,
            resp_headers: resp_headers
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect(),
            resp_code,
            resp_type,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }
    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }
    pub fn resp_type(&self) -> RespType {
        self.resp_type
    }
    pub fn resp_code(&self) -> u16 {
        self.resp_code
    }
    pub fn resp_json(&self) -> Option<&RawValue> {
        self.resp_json.as_deref()
    }
    pub fn resp_headers(&self) -> &RespHeaders {
        &self.resp_headers
    }

    /// The exact body bytes to POST (field order as in the contract; `resp_json` verbatim).
    pub fn to_body(&self) -> Vec<u8> {
        // ok: serialising plain strings, maps of strings and validated raw JSON cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Serialize for ResponsePayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("request_id", &self.request_id)?;
        m.serialize_entry("channel", self.channel.as_str())?;
        if let Some(json) = &self.resp_json {
            m.serialize_entry("resp_json", json)?;
        }
        if !self.resp_headers.is_empty() {
            m.serialize_entry("resp_headers", &self.resp_headers)?;
        }
        if self.resp_code != 0 {
            m.serialize_entry("resp_code", &self.resp_code)?;
        }
        m.serialize_entry("resp_type", self.resp_type.as_str())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn body_has_contract_field_order_and_verbatim_json() {
        let mut h = RespHeaders::new();
        h.insert("Content-Type".into(), vec!["application/json".into()]);
        let p = ResponsePayload::jsonrpc_response(
            "r1",
            &ChannelName::main(),
            raw(r#"{"jsonrpc":"2.0","id":1,"result":{"b":1,"a":"<&>"}}"#),
            200,
            h,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(p.to_body()).unwrap(),
            r#"{"request_id":"r1","channel":"main","resp_json":{"jsonrpc":"2.0","id":1,"result":{"b":1,"a":"<&>"}},"resp_headers":{"Content-Type":["application/json"]},"resp_code":200,"resp_type":"jsonrpc_response"}"#
        );
    }

    #[test]
    fn acks_carry_no_payload_and_empty_headers_are_omitted() {
        let p = ResponsePayload::notify_ack("r", &ChannelName::main(), 202, RespHeaders::new());
        assert_eq!(
            String::from_utf8(p.to_body()).unwrap(),
            r#"{"request_id":"r","channel":"main","resp_code":202,"resp_type":"notify_ack"}"#
        );
    }

    #[test]
    fn resp_json_must_be_an_object() {
        assert_eq!(
            ResponsePayload::jsonrpc_notify(
                "r",
                &ChannelName::main(),
                raw("[1]"),
                200,
                RespHeaders::new()
            )
            .unwrap_err(),
            NotAnObject
        );
    }
}
