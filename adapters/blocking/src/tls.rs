//! ureq agents: one configuration for the control plane, one per MCP binding.
//!
//! Every agent: `http_status_as_error(false)` (a 401 or a 503 with `Retry-After` is an
//! answer, not an error), no redirects (the control plane never redirects, and the MCP side
//! must not re-send a command cross-origin — DESIGN §5.6), keep-alive pooling (ureq's pool
//! per agent). Trust: the platform's roots, plus the operator's CA bundle when configured.

use std::sync::Arc;
use std::time::Duration;

use tunnel_core::trust::{self, PrivateKeyDer, TrustError};
use ureq::config::Config;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
use ureq::Proxy;

use crate::http_timing::Timing;
use crate::options::{ClientCertPaths, StartError, TlsOptions};

/// The trust store shared by every agent. Kept in one `Arc` because ureq only shares pooled
/// TLS configuration between configs whose roots are the same allocation.
#[derive(Clone)]
pub struct Trust {
    roots: RootCerts,
    report: Arc<TrustReport>,
}

pub use tunnel_core::trust::{BundleCert, TrustReport};

/// The platform's roots, read once per process: the system store an enterprise adds its CA
/// to (`update-ca-certificates`, the macOS keychain, the Windows store, or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`), as the Go client's system pool. Where there is none (scratch and
/// distroless images) the compiled-in Mozilla roots stand in, and the log says so.
fn platform_roots() -> &'static (Vec<Certificate<'static>>, &'static str) {
    static ROOTS: std::sync::OnceLock<(Vec<Certificate<'static>>, &'static str)> =
        std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in found.errors.iter().take(3) {
            log::debug!("system trust store: {e}");
        }
        if found.certs.is_empty() {
            let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            (
                mozilla,
                "built-in Mozilla roots (no system trust store found)",
            )
        } else {
            let certs = found
                .certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            (certs, "system cert pool")
        }
    })
}

impl Trust {
    /// The platform roots plus, when configured, the operator's CA bundle (additive, as
    /// `--ca-bundle` is in Go). Errors use Go's words.
    pub fn load(opts: &TlsOptions) -> Result<Trust, StartError> {
        let (system, source) = platform_roots();
        let (extra, report) = trust::load(opts, (system.len(), source), &|p| std::fs::read(p))?;
        let mut certs = system.clone();
        certs.extend(
            extra
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned()),
        );
        static SUMMARY: std::sync::Once = std::sync::Once::new();
        SUMMARY.call_once(|| report.log_summary());
        Ok(Trust {
            roots: RootCerts::Specific(Arc::new(certs)),
            report: Arc::new(report),
        })
    }

    /// What this store holds ([`TrustReport`]).
    pub fn report(&self) -> &Arc<TrustReport> {
        &self.report
    }

    /// A rustls client configuration trusting the same roots, for the connections ureq
    /// does not make (the proxy health checker's TLS to an `https://` proxy).
    pub fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>, StartError> {
        let mut store = rustls::RootCertStore::empty();
        if let RootCerts::Specific(certs) = &self.roots {
            for c in certs.iter() {
                // A root rustls cannot use is skipped, as Go skips what it cannot parse.
                let _ = store.add(rustls::pki_types::CertificateDer::from(c.der().to_vec()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(store).with_no_client_auth()))
            .map_err(|e| StartError::Tls(format!("proxy health checker TLS: {e}")))
    }

    fn tls_config(&self, client: Option<ClientCert>) -> TlsConfig {
        TlsConfig::builder()
            .root_certs(self.roots.clone())
            .client_cert(client)
            .build()
    }
}

/// Loads a PEM certificate chain and private key (what they must hold: `tunnel_core::trust`).
pub fn load_client_cert(paths: &ClientCertPaths) -> Result<ClientCert, StartError> {
    let (chain, key) = trust::load_client_cert(paths, &|p| std::fs::read(p))?;
    let chain: Vec<_> = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    // ureq takes the key from PEM (its key-kind type is not public): re-encode the DER
    // the core decoded rather than read the file a second time.
    let key = PrivateKey::from_pem(&pem_of(&key)).map_err(|_| {
        StartError::from(TrustError::NoPrivateKey {
            path: paths.private_key.display().to_string(),
        })
    })?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

/// `key` as PEM, for ureq's key constructor. The text holds the secret only as long as
/// this call chain; it is never logged.
fn pem_of(key: &PrivateKeyDer<'_>) -> Vec<u8> {
    use base64::Engine as _;
    let label = match key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let body = base64::engine::general_purpose::STANDARD.encode(key.secret_der());
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n").into_bytes()
}

/// The control-plane agent configuration (`doctor`, the admin CLI): the explicit proxy if
/// configured, else ureq's reading of the environment. `run` builds its agents through
/// `egress` instead, with the route `tunnel_core::proxy_route` decides.
pub fn control_plane_config(trust: &Trust, opts: &TlsOptions) -> Result<Config, StartError> {
    let proxy = match &opts.control_plane_proxy {
        Some(url) => Some(crate::egress::parse_proxy(url, "control-plane")?),
        None => Proxy::try_from_env(),
    };
    let client = opts
        .control_plane_client_cert
        .as_ref()
        .map(load_client_cert)
        .transpose()?;
    Ok(control_plane_with(trust, client, proxy, None))
}

/// The control-plane configuration with a given client certificate and ureq proxy.
pub(crate) fn control_plane_with(
    trust: &Trust,
    client: Option<ClientCert>,
    proxy: Option<Proxy>,
    timing: Option<Timing>,
) -> Config {
    let builder = Config::builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy)
        .tls_config(trust.tls_config(client))
        .timeout_connect(Some(Duration::from_secs(30)))
        // Requests carry the engine's own User-Agent; ureq must not add or replace one.
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept_encoding(ureq::config::AutoHeaderValue::None)
        .input_buffer_size(CONTROL_PLANE_BUFFER)
        .output_buffer_size(CONTROL_PLANE_BUFFER)
        // Keep-alive for every concurrent response POST (up to pool::MAX_POSTERS) plus
        // the poll: ureq's default keeps 10 idle in all, so past that each POST paid a
        // new TCP (+TLS) handshake — another round trip — and a socket in TIME_WAIT.
        .max_idle_connections_per_host(crate::pool::MAX_POSTERS + 1)
        .max_idle_connections(crate::pool::MAX_POSTERS + 1);
    match timing {
        Some(t) => builder.middleware(t).build(),
        None => builder.build(),
    }
}

/// Per-connection buffers. ureq's default is 128 KiB each way, allocated per connection
/// and zeroed, so 64 pooled MCP connections held ~16 MiB. The input buffer still holds the
/// largest response head ureq accepts (64 KiB, its default limit). Request bodies are
/// written through the output buffer in pieces, but the request head must fit in it whole,
/// so it too stays at 64 KiB: forwarded connector headers (large JWTs, cookies) can exceed
/// 16 KiB, which the large-header test shows failing with a smaller buffer.
const INPUT_BUFFER: usize = 64 * 1024;
const OUTPUT_BUFFER: usize = 64 * 1024;

/// Control-plane buffers, each way. Its request heads are the engine's own (a bearer token,
/// the tunnel headers) and its response heads the service's, a few hundred bytes; bodies
/// stream through the buffer in pieces. A quarter of the MCP size keeps a posting burst's
/// extra connections cheap (a pooled connection holds both buffers until it is recycled).
const CONTROL_PLANE_BUFFER: usize = 16 * 1024;

/// An MCP agent configuration (`doctor`): the common explicit MCP proxy if configured,
/// else none. `run` builds one agent per binding through `egress`.
pub fn mcp_config(
    trust: &Trust,
    opts: &TlsOptions,
    connect_timeout: Duration,
) -> Result<Config, StartError> {
    let proxy = opts
        .mcp_proxy
        .as_deref()
        .map(|u| crate::egress::parse_proxy(u, "MCP"))
        .transpose()?;
    let client = opts
        .mcp_client_cert
        .as_ref()
        .map(load_client_cert)
        .transpose()?;
    Ok(mcp_with(trust, client, proxy, connect_timeout, None))
}

/// An MCP configuration with a given client certificate and ureq proxy.
pub(crate) fn mcp_with(
    trust: &Trust,
    client: Option<ClientCert>,
    proxy: Option<Proxy>,
    connect_timeout: Duration,
    timing: Option<Timing>,
) -> Config {
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
    match timing {
        Some(t) => builder.middleware(t).build(),
        None => builder.build(),
    }
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
        .map(|u| crate::egress::parse_proxy(u, "Harpoon"))
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
        assert!(
            err.contains("read CA bundle \"/nonexistent/ca.pem\""),
            "{err}"
        );
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
        assert!(
            err.contains("PEM bundle contained no certificates"),
            "{err}"
        );
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
