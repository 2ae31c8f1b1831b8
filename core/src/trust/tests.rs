use rcgen::{CertificateParams, DnType, KeyPair};

use std::path::Path;

use super::*;

/// A self-signed certificate with CN `cn`, its PEM and its key's PEM.
fn cert(cn: &str) -> (String, String) {
    let mut params = CertificateParams::new(vec![format!("{cn}.test")]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_bundle_yields_its_certificates_and_skips_other_blocks() {
    let (a, key) = cert("Corp Root A");
    let (b, _) = cert("Corp Root B");
    let pem = format!("{a}{key}{b}");
    let certs = ca_bundle("/etc/corp.pem", pem.as_bytes()).unwrap();
    assert_eq!(certs.len(), 2, "the key block is not a certificate");
}

#[test]
fn a_bundle_without_certificates_names_the_file() {
    let (_, key) = cert("x");
    for pem in [String::new(), key, "not pem at all".to_string()] {
        let err = ca_bundle("/etc/corp.pem", pem.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ca-bundle \"/etc/corp.pem\": PEM bundle contained no certificates"
        );
    }
}

#[test]
fn a_client_certificate_loads_with_its_key() {
    let (chain, key) = cert("tunnel-client");
    let (certs, _key) = client_cert("c.pem", chain.as_bytes(), "k.pem", key.as_bytes()).unwrap();
    assert_eq!(certs.len(), 1);
}

#[test]
fn client_certificate_errors_name_the_file_and_never_quote_the_key() {
    let (chain, key) = cert("tunnel-client");
    let err = client_cert("c.pem", b"", "k.pem", key.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "client certificate c.pem: no PEM certificate found"
    );
    // A key file holding something else (here: the certificate) is refused by name only.
    let err = client_cert("c.pem", chain.as_bytes(), "k.pem", chain.as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "client key k.pem: not a PEM private key (PKCS#1, PKCS#8 or SEC1)"
    );
    // A key section that does not decode: the error says so without quoting it.
    let broken = "-----BEGIN PRIVATE KEY-----\n!!top-secret!!\n-----END PRIVATE KEY-----\n";
    let err = client_cert("c.pem", chain.as_bytes(), "k.pem", broken.as_bytes()).unwrap_err();
    assert!(!err.to_string().contains("top-secret"), "{err}");
    let unreadable = TrustError::unreadable(
        TrustFile::ClientKey,
        "k.pem",
        &std::io::Error::from(std::io::ErrorKind::NotFound),
    );
    assert_eq!(
        unreadable.to_string(),
        "client certificate file k.pem: entity not found"
    );
}

#[test]
fn the_report_describes_each_bundle_certificate() {
    let (a, _) = cert("Corp Root A");
    let certs = ca_bundle("/etc/corp.pem", a.as_bytes()).unwrap();
    let mut report = TrustReport::new("system cert pool", 140, Some(("/etc/corp.pem", &certs)));
    report.mcp_client_cert = true;
    assert_eq!(report.ca_bundle_cert_ids, vec![cert_id(&certs[0])]);
    let summary = report.summary();
    assert!(
        summary.starts_with(
            "tls trust summary: 140 certificate(s) from the system cert pool, plus 1 from CA bundle /etc/corp.pem: [cert_id="
        ),
        "{summary}"
    );
    assert!(summary.contains("name=\"Corp Root A\""), "{summary}");
    assert!(summary.contains("parse_status=ok"), "{summary}");
    let plain = TrustReport::new("system cert pool", 140, None);
    assert_eq!(
        plain.summary(),
        "tls trust summary: 140 certificate(s) from the system cert pool"
    );
}

/// The id is the SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints it.
#[test]
fn cert_ids_are_the_sha256_of_the_der() {
    assert_eq!(
        cert_id(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

/// `load` reads through the adapter's reader and reports what it read; an unreadable
/// bundle is named with the reader's error.
#[test]
fn load_reports_the_bundle_and_the_client_certificates() {
    let (a, _) = cert("Corp Root A");
    let opts = crate::egress::TlsOptions {
        ca_bundle: Some("/etc/corp.pem".into()),
        mcp_client_cert: Some(crate::mcp_http::ClientCertPaths {
            cert_chain: "c.pem".into(),
            private_key: "k.pem".into(),
        }),
        ..Default::default()
    };
    let read = |p: &Path| -> std::io::Result<Vec<u8>> {
        assert_eq!(p, Path::new("/etc/corp.pem"));
        Ok(a.clone().into_bytes())
    };
    let (certs, report) = load(&opts, (3, "system cert pool"), &read).unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(report.ca_bundle.as_deref(), Some("/etc/corp.pem"));
    assert!(report.mcp_client_cert && !report.control_plane_client_cert);

    let missing = |_: &Path| -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    };
    let err = load(&opts, (3, "system cert pool"), &missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        "read CA bundle \"/etc/corp.pem\": permission denied"
    );
}
