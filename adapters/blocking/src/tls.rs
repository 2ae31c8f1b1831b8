//! ureq agents: one configuration for the control plane, one per MCP binding.
//!
//! Every agent: `http_status_as_error(false)` (a 401 or a 503 with `Retry-After` is an
//! answer, not an error), no redirects (the control plane never redirects, and the MCP side
//! must not re-send a command cross-origin — DESIGN §5.6), keep-alive pooling (ureq's pool
//! per agent). Trust: the Mozilla roots, plus the operator's CA bundle when configured.

use std::sync::Arc;
use std::time::Duration;

use ureq::config::Config;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::Proxy;

use crate::http_timing::Timing;
use crate::options::{ClientCertPaths, StartError, TlsOptions};

/// The trust store shared by every agent. Kept in one `Arc` because ureq only shares pooled
/// TLS configuration between configs whose roots are the same allocation.
#[derive(Clone)]
pub struct Trust {
    roots: RootCerts,
}

impl Trust {
    pub fn load(opts: &TlsOptions) -> Result<Trust, StartError> {
        let Some(path) = &opts.ca_bundle else {
            return Ok(Trust {
                roots: RootCerts::WebPki,
            });
        };
        let pem = std::fs::read(path)
            .map_err(|e| StartError::Tls(format!("CA bundle {}: {e}", path.display())))?;
        let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()))
            .collect();
        let before = certs.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(StartError::Tls(format!(
                        "CA bundle {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        if certs.len() == before {
            return Err(StartError::Tls(format!(
                "CA bundle {}: no PEM certificate found",
                path.display()
            )));
        }
        log::info!(
            "trusting {} certificate(s) from CA bundle {} in addition to the built-in roots",
            certs.len() - before,
            path.display()
        );
        Ok(Trust {
            roots: RootCerts::Specific(Arc::new(certs)),
        })
    }

    fn tls_config(&self, client: Option<ClientCert>) -> TlsConfig {
        TlsConfig::builder()
            .root_certs(self.roots.clone())
            .client_cert(client)
            .build()
    }
}

/// Loads a PEM certificate chain and private key.
pub fn load_client_cert(paths: &ClientCertPaths) -> Result<ClientCert, StartError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| StartError::Tls(format!("client certificate file {}: {e}", p.display())))
    };
    let chain_pem = read(&paths.cert_chain)?;
    let mut chain = Vec::new();
    for item in ureq::tls::parse_pem(&chain_pem) {
        match item {
            Ok(PemItem::Certificate(c)) => chain.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(StartError::Tls(format!(
                    "client certificate {}: {e}",
                    paths.cert_chain.display()
                )))
            }
        }
    }
    if chain.is_empty() {
        return Err(StartError::Tls(format!(
            "client certificate {}: no PEM certificate found",
            paths.cert_chain.display()
        )));
    }
    let key_pem = read(&paths.private_key)?;
    // Never echo key material or the parse error's details (they may quote the file).
    let key = PrivateKey::from_pem(&key_pem).map_err(|_| {
        StartError::Tls(format!(
            "client key {}: not a PEM private key (PKCS#1, PKCS#8 or SEC1)",
            paths.private_key.display()
        ))
    })?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

fn parse_proxy(url: &str, what: &str) -> Result<Proxy, StartError> {
    // The URL may carry credentials: never put it into the message.
    Proxy::new(url).map_err(|_| {
        StartError::Tls(format!(
            "{what} proxy: not a valid http/https/socks proxy URL"
        ))
    })
}

/// The control-plane agent configuration.
pub fn control_plane_config(trust: &Trust, opts: &TlsOptions) -> Result<Config, StartError> {
    control_plane_config_timed(trust, opts, None)
}

/// [`control_plane_config`] with the runtime's HTTP timing middleware, when it has one.
pub(crate) fn control_plane_config_timed(
    trust: &Trust,
    opts: &TlsOptions,
    timing: Option<Timing>,
) -> Result<Config, StartError> {
    let client = opts
        .control_plane_client_cert
        .as_ref()
        .map(load_client_cert)
        .transpose()?;
    let proxy = match &opts.control_plane_proxy {
        Some(url) => Some(parse_proxy(url, "control-plane")?),
        None => Proxy::try_from_env(),
    };
    let builder = Config::builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy)
        .tls_config(trust.tls_config(client))
        .timeout_connect(Some(Duration::from_secs(30)))
        // Requests carry the engine's own User-Agent; ureq must not add or replace one.
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .input_buffer_size(INPUT_BUFFER)
        .output_buffer_size(OUTPUT_BUFFER)
        // Keep-alive for every concurrent response POST (up to pool::MAX_POSTERS) plus
        // the poll: ureq's default keeps 10 idle in all, so past that each POST paid a
        // new TCP (+TLS) handshake — another round trip — and a socket in TIME_WAIT.
        .max_idle_connections_per_host(crate::pool::MAX_POSTERS + 1)
        .max_idle_connections(crate::pool::MAX_POSTERS + 1);
    Ok(match timing {
        Some(t) => builder.middleware(t).build(),
        None => builder.build(),
    })
}

/// Per-connection buffers. ureq's default is 128 KiB each way, allocated per connection
/// and zeroed, so 64 pooled MCP connections held ~16 MiB. The input buffer still holds the
/// largest response head ureq accepts (64 KiB, its default limit). Request bodies are
/// written through the output buffer in pieces, but the request head must fit in it whole,
/// so it too stays at 64 KiB: forwarded connector headers (large JWTs, cookies) can exceed
/// 16 KiB, which the large-header test shows failing with a smaller buffer.
const INPUT_BUFFER: usize = 64 * 1024;
const OUTPUT_BUFFER: usize = 64 * 1024;

/// An MCP binding's agent configuration.
pub fn mcp_config(
    trust: &Trust,
    opts: &TlsOptions,
    connect_timeout: Duration,
) -> Result<Config, StartError> {
    mcp_config_timed(trust, opts, connect_timeout, None)
}

/// [`mcp_config`] with the runtime's HTTP timing middleware, when it has one.
pub(crate) fn mcp_config_timed(
    trust: &Trust,
    opts: &TlsOptions,
    connect_timeout: Duration,
    timing: Option<Timing>,
) -> Result<Config, StartError> {
    let client = opts
        .mcp_client_cert
        .as_ref()
        .map(load_client_cert)
        .transpose()?;
    let proxy = opts
        .mcp_proxy
        .as_deref()
        .map(|u| parse_proxy(u, "MCP"))
        .transpose()?;
    let builder = Config::builder()
        .http_status_as_error(false)
        // Never follow a redirect: headers (Authorization, session ids) must not be re-sent
        // to another origin. The 3xx is handed to the engine like any other status.
        .max_redirects(0)
        .proxy(proxy)
        .tls_config(trust.tls_config(client))
        .timeout_connect(Some(connect_timeout))
        // Only the headers the core computed go to the MCP server (Go sends no tunnel UA).
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .input_buffer_size(INPUT_BUFFER)
        .output_buffer_size(OUTPUT_BUFFER)
        .max_idle_connections_per_host(16)
        .max_idle_connections(64);
    Ok(match timing {
        Some(t) => builder.middleware(t).build(),
        None => builder.build(),
    })
}

/// The agent configuration of the requests the engine makes on the `harpoon` channel:
/// the MCP settings without the MCP client certificate, through the Harpoon proxy
/// (`--harpoon.http-proxy`, else the global one), never following a redirect (the engine
/// decides each hop before it exists).
pub(crate) fn harpoon_config_timed(
    trust: &Trust,
    opts: &TlsOptions,
    connect_timeout: Duration,
    timing: Option<Timing>,
) -> Result<Config, StartError> {
    let proxy = opts
        .harpoon_proxy
        .as_deref()
        .map(|u| parse_proxy(u, "Harpoon"))
        .transpose()?;
    let builder = Config::builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy)
        .tls_config(trust.tls_config(None))
        .timeout_connect(Some(connect_timeout))
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .input_buffer_size(INPUT_BUFFER)
        .output_buffer_size(OUTPUT_BUFFER);
    Ok(match timing {
        Some(t) => builder.middleware(t).build(),
        None => builder.build(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_bundle_is_a_clear_error() {
        let opts = TlsOptions {
            ca_bundle: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = Trust::load(&opts)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CA bundle /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ca_bundle_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("tb-ca-{}", std::process::id()));
        std::fs::write(&dir, "not pem").unwrap();
        let opts = TlsOptions {
            ca_bundle: Some(dir.clone()),
            ..TlsOptions::default()
        };
        let err = Trust::load(&opts)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&dir);
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn bad_proxy_url_does_not_leak_credentials() {
        let opts = TlsOptions {
            mcp_proxy: Some("ftp://user:s3cret@proxy:1".into()),
            ..TlsOptions::default()
        };
        let trust = Trust::load(&TlsOptions::default()).unwrap();
        let err = mcp_config(&trust, &opts, Duration::from_secs(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
