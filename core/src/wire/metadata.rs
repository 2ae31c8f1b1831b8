//! Tunnel metadata (`GET /v1/tunnels/{id}`), shown in the admin UI and logs.

use serde::Deserialize;

/// The fields a client uses; the service may send more, which are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TunnelMetadata {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl TunnelMetadata {
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_metadata_fields_are_ignored() {
        let m = super::TunnelMetadata::parse(
            br#"{"id":"t","name":"n","description":"d","owner":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(m.name, "n");
    }
}
