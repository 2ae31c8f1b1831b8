//! The operator's trust material, from the bytes of its files: the `--ca-bundle`
//! certificates, a client certificate chain and its key, and the trust report that the
//! startup log, `/api/system` and the support bundle show.
//!
//! Reading the files, the platform's roots and building a TLS configuration are the
//! adapters' part. What a file must contain, what an operator is told when it does not, and
//! what the `tls trust summary` line says are decided once, here, so that the blocking and
//! the smol adapter cannot drift apart (they did: smol's summary listed ids only).

pub mod cert_info;

use std::fmt;
use std::path::Path;

pub use cert_info::CertInfo;
use rustls_pki_types::pem::PemObject;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Which of the operator's files a [`TrustError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustFile {
    CaBundle,
    ClientCertificate,
    ClientKey,
}

/// A trust file that cannot be used, in the Go client's words where it has them. Never
/// quotes file contents: a key file's parse error could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustError {
    /// The file could not be read (missing, permissions).
    Unreadable {
        file: TrustFile,
        path: String,
        error: String,
    },
    /// `--ca-bundle` holds no `CERTIFICATE` block.
    NoCaCertificates { path: String },
    /// A client certificate file with a broken PEM section.
    BadClientCertificate { path: String, error: String },
    /// A client certificate file without any certificate.
    NoClientCertificate { path: String },
    /// A key file without a PKCS#1, PKCS#8 or SEC1 private key.
    NoPrivateKey { path: String },
}

impl TrustError {
    /// The error for a file the adapter could not read.
    pub fn unreadable(file: TrustFile, path: &str, error: &std::io::Error) -> TrustError {
        TrustError::Unreadable {
            file,
            path: path.to_string(),
            error: error.to_string(),
        }
    }
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::Unreadable {
                file: TrustFile::CaBundle,
                path,
                error,
            } => write!(f, "read CA bundle \"{path}\": {error}"),
            TrustError::Unreadable { path, error, .. } => {
                write!(f, "client certificate file {path}: {error}")
            }
            TrustError::NoCaCertificates { path } => write!(
                f,
                "invalid ca-bundle \"{path}\": PEM bundle contained no certificates"
            ),
            TrustError::BadClientCertificate { path, error } => {
                write!(f, "client certificate {path}: {error}")
            }
            TrustError::NoClientCertificate { path } => {
                write!(f, "client certificate {path}: no PEM certificate found")
            }
            TrustError::NoPrivateKey { path } => write!(
                f,
                "client key {path}: not a PEM private key (PKCS#1, PKCS#8 or SEC1)"
            ),
        }
    }
}

impl std::error::Error for TrustError {}

/// The certificates of a `--ca-bundle` file. Other PEM blocks (keys, parameters) and
/// sections that do not decode are skipped, as the Go client skips them; a bundle with no
/// certificate at all is an error rather than a silent no-op.
pub fn ca_bundle(path: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TrustError::NoCaCertificates {
            path: path.to_string(),
        });
    }
    Ok(certs)
}

/// A client certificate chain (leaf first) and its private key, from their PEM files.
pub fn client_cert(
    chain_path: &str,
    chain_pem: &[u8],
    key_path: &str,
    key_pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TrustError> {
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(chain_pem) {
        match item {
            Ok(c) => chain.push(c),
            Err(e) => {
                return Err(TrustError::BadClientCertificate {
                    path: chain_path.to_string(),
                    error: e.to_string(),
                })
            }
        }
    }
    if chain.is_empty() {
        return Err(TrustError::NoClientCertificate {
            path: chain_path.to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TrustError::NoPrivateKey {
        path: key_path.to_string(),
    })?;
    Ok((chain, key))
}

/// How the adapters read a file (`std::fs::read`): the core itself does no I/O.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

/// The operator's `--ca-bundle` (if any) read and checked, and the report of the store it
/// makes with `platform_certs` roots from `source`. Returns the bundle's certificates, to
/// add to the platform roots; the report's client-certificate flags follow `opts`.
pub fn load(
    opts: &crate::egress::TlsOptions,
    (platform_certs, source): (usize, &'static str),
    read: ReadFile<'_>,
) -> Result<(Vec<CertificateDer<'static>>, TrustReport), TrustError> {
    let bundle = match &opts.ca_bundle {
        Some(path) => {
            let shown = path.display().to_string();
            let pem =
                read(path).map_err(|e| TrustError::unreadable(TrustFile::CaBundle, &shown, &e))?;
            let certs = ca_bundle(&shown, &pem)?;
            Some((shown, certs))
        }
        None => None,
    };
    let mut report = TrustReport::new(
        source,
        platform_certs,
        bundle.as_ref().map(|(p, c)| (p.as_str(), c.as_slice())),
    );
    report.control_plane_client_cert = opts.control_plane_client_cert.is_some();
    report.mcp_client_cert = opts.mcp_client_cert.is_some();
    Ok((bundle.map(|(_, c)| c).unwrap_or_default(), report))
}

/// A client certificate chain and key from their files ([`client_cert`]).
pub fn load_client_cert(
    paths: &crate::mcp_http::ClientCertPaths,
    read: ReadFile<'_>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TrustError> {
    let (chain_path, key_path) = (
        paths.cert_chain.display().to_string(),
        paths.private_key.display().to_string(),
    );
    let chain = read(&paths.cert_chain)
        .map_err(|e| TrustError::unreadable(TrustFile::ClientCertificate, &chain_path, &e))?;
    let key = read(&paths.private_key)
        .map_err(|e| TrustError::unreadable(TrustFile::ClientKey, &key_path, &e))?;
    client_cert(&chain_path, &chain, &key_path, &key)
}

/// A certificate's id in logs: the hex SHA-256 of its DER, as the Go client prints it (and
/// as `openssl x509 -noout -fingerprint -sha256` shows it, without the colons).
pub fn cert_id(der: &[u8]) -> String {
    crate::sha256::hex_prefix(der, 32)
}

/// What the trust store holds (Go's trust report): where the roots came from, how many,
/// and the operator's bundle by path and per certificate. No certificate contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustReport {
    /// `system cert pool`, or the built-in Mozilla roots when the platform has none.
    pub source: &'static str,
    pub system_certs: usize,
    /// `--ca-bundle`, as configured.
    pub ca_bundle: Option<String>,
    /// Hex SHA-256 ids of the bundle's certificates ([`cert_id`]).
    pub ca_bundle_cert_ids: Vec<String>,
    /// Each bundle certificate as Go's trust report lists it.
    pub ca_bundle_certs: Vec<BundleCert>,
    /// A client certificate is configured for the control plane / for MCP servers (mTLS).
    pub control_plane_client_cert: bool,
    pub mcp_client_cert: bool,
}

impl TrustReport {
    /// The report of a store made of `system_certs` platform roots from `source` plus, when
    /// configured, the bundle at `path` with `bundle` in it.
    pub fn new(
        source: &'static str,
        system_certs: usize,
        bundle: Option<(&str, &[CertificateDer<'_>])>,
    ) -> TrustReport {
        let certs = bundle.map(|(_, c)| c).unwrap_or_default();
        TrustReport {
            source,
            system_certs,
            ca_bundle: bundle.map(|(p, _)| p.to_string()),
            ca_bundle_cert_ids: certs.iter().map(|c| cert_id(c)).collect(),
            ca_bundle_certs: certs.iter().map(|c| BundleCert::new(c)).collect(),
            control_plane_client_cert: false,
            mcp_client_cert: false,
        }
    }

    /// The report as `/api/system` shows it for these bindings: a client certificate given
    /// per binding counts as much as the common one.
    pub fn with_binding_certs(mut self, targets: &[crate::mcp_http::HttpTarget]) -> TrustReport {
        self.mcp_client_cert |= targets.iter().any(|t| t.client_cert.is_some());
        self
    }

    /// Logs [`TrustReport::summary`]: at info level when there is a bundle to check, else
    /// at debug level (nothing an operator configured).
    pub fn log_summary(&self) {
        match self.ca_bundle {
            Some(_) => log::info!("{}", self.summary()),
            None => log::debug!("{}", self.summary()),
        }
    }

    /// The `tls trust summary` startup line: each bundle certificate described, or just the
    /// root count when there is no bundle (logged at debug level then: nothing to check).
    pub fn summary(&self) -> String {
        match &self.ca_bundle {
            Some(p) => format!(
                "tls trust summary: {} certificate(s) from the {}, plus {} from CA bundle {p}: [{}]",
                self.system_certs,
                self.source,
                self.ca_bundle_certs.len(),
                self.ca_bundle_certs
                    .iter()
                    .map(BundleCert::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            None => format!(
                "tls trust summary: {} certificate(s) from the {}",
                self.system_certs, self.source
            ),
        }
    }
}

/// One `--ca-bundle` certificate in the trust report (Go's `extra_bundle.certificates[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCert {
    pub cert_id: String,
    /// `Ok` with the fields, or the `parse_status` text (the certificate is still added to
    /// the roots: the TLS library, not this report, decides whether it can anchor a chain).
    pub info: Result<CertInfo, String>,
}

impl BundleCert {
    pub fn new(der: &[u8]) -> BundleCert {
        BundleCert {
            cert_id: cert_id(der),
            info: cert_info::parse(der),
        }
    }

    /// `cert_id=… name="…" subject_cn="…" issuer_cn="…" not_before=… not_after=…` (or the
    /// parse status), for the summary line.
    pub fn describe(&self) -> String {
        match &self.info {
            Ok(i) => format!(
                "cert_id={} name={:?} subject_cn={:?} issuer_cn={:?} not_before={} not_after={} parse_status=ok",
                self.cert_id,
                i.name(),
                i.subject_cn.as_deref().unwrap_or(""),
                i.issuer_cn.as_deref().unwrap_or(""),
                i.not_before.as_deref().unwrap_or("-"),
                i.not_after.as_deref().unwrap_or("-"),
            ),
            Err(e) => format!("cert_id={} parse_status={e:?}", self.cert_id),
        }
    }
}

#[cfg(test)]
mod tests;
