//! What the `tls trust summary` says about each `--ca-bundle` certificate (Go's trust
//! report, go-harpoon-oauth-security.md §3.1): subject and issuer common names, the full
//! subject when it has no CN, and the validity window in RFC 3339 UTC.
//!
//! A small DER walk over the few fields needed instead of an X.509 crate (the ones that
//! parse everything cost hundreds of KB for four strings). Input is whatever the operator's
//! PEM file holds, so nothing here may panic: every length is checked, and a certificate
//! that cannot be read gets a `parse_status` naming the problem instead of fields.

/// The fields shown for one certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertInfo {
    pub subject_cn: Option<String>,
    /// The subject as Go's `pkix.Name.String()` shows it (`CN=…,O=…,C=…`, most specific
    /// attribute first), for certificates without a CN.
    pub subject: String,
    pub issuer_cn: Option<String>,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub not_before: Option<String>,
    pub not_after: Option<String>,
}

impl CertInfo {
    /// Go's `name`: the subject CN, else the full subject.
    pub fn name(&self) -> String {
        self.subject_cn
            .clone()
            .unwrap_or_else(|| self.subject.clone())
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One DER element: tag, contents, and what follows it.
fn tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = buf.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in the fields read here
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(buf: &[u8], want: u8) -> Result<(&[u8], &[u8]), &'static str> {
    match tlv(buf) {
        Some((tag, body, rest)) if tag == want => Ok((body, rest)),
        Some(_) => Err("unexpected DER element"),
        None => Err("truncated or malformed DER"),
    }
}

/// Reads a DER certificate. The error is Go-like `parse_status` text.
pub fn parse(der: &[u8]) -> Result<CertInfo, String> {
    read(der).map_err(|e| format!("x509: {e}"))
}

fn read(der: &[u8]) -> Result<CertInfo, &'static str> {
    let (cert, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if let Some((0xa0, _, r)) = tlv(rest) {
        rest = r;
    }
    let (_, r) = expect(rest, 0x02).map_err(|_| "missing serial number")?;
    let (_, r) = expect(r, SEQUENCE).map_err(|_| "missing signature algorithm")?;
    let (issuer, r) = expect(r, SEQUENCE).map_err(|_| "missing issuer")?;
    let (validity, r) = expect(r, SEQUENCE).map_err(|_| "missing validity")?;
    let (subject, _) = expect(r, SEQUENCE).map_err(|_| "missing subject")?;
    let (nb, vr) = time(validity)?;
    let (na, _) = time(vr)?;
    let subject_attrs = name(subject)?;
    let issuer_attrs = name(issuer)?;
    let cn = |attrs: &[(&'static str, String)]| {
        attrs
            .iter()
            .find(|(k, _)| *k == "CN")
            .map(|(_, v)| v.clone())
    };
    Ok(CertInfo {
        subject_cn: cn(&subject_attrs),
        subject: subject_attrs
            .iter()
            .rev()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        issuer_cn: cn(&issuer_attrs),
        not_before: Some(nb),
        not_after: Some(na),
    })
}

/// The attributes of a `Name` this report shows, in certificate order.
fn name(mut buf: &[u8]) -> Result<Vec<(&'static str, String)>, &'static str> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (set, rest) = expect(buf, SET).map_err(|_| "malformed name")?;
        buf = rest;
        let mut atvs = set;
        while !atvs.is_empty() {
            let (atv, r) = expect(atvs, SEQUENCE).map_err(|_| "malformed name")?;
            atvs = r;
            let (oid, r) = expect(atv, OID).map_err(|_| "malformed name")?;
            let Some((tag, value, _)) = tlv(r) else {
                return Err("malformed name");
            };
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            out.push((key, string(tag, value)));
        }
    }
    Ok(out)
}

/// A directory string as text (BMPString decoded as UTF-16BE; others as UTF-8/Latin-1).
fn string(tag: u8, v: &[u8]) -> String {
    let s = if tag == 0x1e {
        let units: Vec<u16> = v
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        match std::str::from_utf8(v) {
            Ok(s) => s.to_string(),
            Err(_) => v.iter().map(|&b| b as char).collect(),
        }
    };
    // One line in a log: no control characters.
    s.chars().filter(|c| !c.is_control()).collect()
}

/// A `Time` as RFC 3339 UTC, and what follows it.
fn time(buf: &[u8]) -> Result<(String, &[u8]), &'static str> {
    let (tag, body, rest) = tlv(buf).ok_or("missing validity time")?;
    let digits = std::str::from_utf8(body).map_err(|_| "malformed time")?;
    let digits = digits.strip_suffix('Z').ok_or("time not in UTC")?;
    let full = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy: u32 = digits[..2].parse().map_err(|_| "malformed time")?;
            // RFC 5280: YY >= 50 is 19YY.
            format!("{}{digits}", if yy >= 50 { "19" } else { "20" })
        }
        (GENERALIZED_TIME, 14) => digits.to_string(),
        _ => return Err("malformed time"),
    };
    if !full.bytes().all(|b| b.is_ascii_digit()) {
        return Err("malformed time");
    }
    let f = |a: usize, b: usize| &full[a..b];
    Ok((
        format!(
            "{}-{}-{}T{}:{}:{}Z",
            f(0, 4),
            f(4, 6),
            f(6, 8),
            f(8, 10),
            f(10, 12),
            f(12, 14)
        ),
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DER element (short or long length form).
    fn el(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if body.len() < 0x80 {
            v.push(body.len() as u8);
        } else {
            v.extend([0x82, (body.len() >> 8) as u8, body.len() as u8]);
        }
        v.extend_from_slice(body);
        v
    }

    fn rdn(oid_last: u8, tag: u8, value: &str) -> Vec<u8> {
        let atv = [el(OID, &[0x55, 0x04, oid_last]), el(tag, value.as_bytes())].concat();
        el(SET, &el(SEQUENCE, &atv))
    }

    fn cert(issuer: &[u8], subject: &[u8], nb: &[u8], na: &[u8]) -> Vec<u8> {
        let tbs = [
            el(0xa0, &el(0x02, &[2])),
            el(0x02, &[1, 2, 3]),
            el(SEQUENCE, &el(OID, &[0x2a, 0x86, 0x48])),
            el(SEQUENCE, issuer),
            el(SEQUENCE, &[nb, na].concat()),
            el(SEQUENCE, subject),
            el(SEQUENCE, &[0; 200]), // key: long-form length
        ]
        .concat();
        el(
            SEQUENCE,
            &[el(SEQUENCE, &tbs), el(SEQUENCE, &[]), el(0x03, &[0])].concat(),
        )
    }

    #[test]
    fn names_and_validity_are_read() {
        let issuer = [rdn(0x06, 0x13, "US"), rdn(0x03, 0x0c, "Corp Root CA")].concat();
        let subject = [rdn(0x0a, 0x0c, "Corp"), rdn(0x0b, 0x0c, "Net")].concat();
        let der = cert(
            &issuer,
            &subject,
            &el(UTC_TIME, b"250101120000Z"),
            &el(GENERALIZED_TIME, b"20501231235959Z"),
        );
        let info = parse(&der).unwrap();
        assert_eq!(info.issuer_cn.as_deref(), Some("Corp Root CA"));
        assert_eq!(info.subject_cn, None);
        assert_eq!(info.subject, "OU=Net,O=Corp");
        assert_eq!(info.name(), "OU=Net,O=Corp");
        assert_eq!(info.not_before.as_deref(), Some("2025-01-01T12:00:00Z"));
        assert_eq!(info.not_after.as_deref(), Some("2050-12-31T23:59:59Z"));
        let old = cert(
            &issuer,
            &issuer,
            &el(UTC_TIME, b"991231000000Z"),
            &el(UTC_TIME, b"491231000000Z"),
        );
        let info = parse(&old).unwrap();
        assert_eq!(info.name(), "Corp Root CA");
        assert_eq!(info.not_before.as_deref(), Some("1999-12-31T00:00:00Z"));
        assert_eq!(info.not_after.as_deref(), Some("2049-12-31T00:00:00Z"));
    }

    #[test]
    fn broken_certificates_are_reported_not_panicked_on() {
        assert!(parse(b"").unwrap_err().starts_with("x509: "));
        assert!(parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        let issuer = rdn(0x03, 0x0c, "CA");
        let bad_time = cert(
            &issuer,
            &issuer,
            &el(UTC_TIME, b"2501011200Z"),
            &el(UTC_TIME, b"x"),
        );
        assert_eq!(parse(&bad_time).unwrap_err(), "x509: malformed time");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn mutated_certificates_never_panic(i in 0usize..400, b in any::<u8>()) {
            let issuer = rdn(0x03, 0x1e, "\u{0}C\u{0}A");
            let mut der = cert(&issuer, &issuer, &el(UTC_TIME, b"250101120000Z"), &el(UTC_TIME, b"260101120000Z"));
            let n = der.len();
            der[i % n] = b;
            let _ = parse(&der);
        }
    }
}
