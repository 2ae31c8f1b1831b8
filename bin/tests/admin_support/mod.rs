//! Helpers for the admin UI tests: raw HTTP with any method and headers, the machine's own
//! non-loopback address, and a reader for the support bundle's `.tar.gz`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// `method path` against `base` (`http://host:port`), `Connection: close`. `Host` is the
/// base's authority unless given in `headers`.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).unwrap_or_else(|e| panic!("connect {hostport}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {hostport}\r\n"));
    }
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw)
}

pub fn get(base: &str, path: &str) -> Resp {
    request(base, "GET", path, &[], b"")
}

fn parse(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

/// This machine's address on its default route (not loopback), if it has one. No packet
/// is sent: connecting a UDP socket only picks the source address.
pub fn own_ip() -> Option<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Reads the bundle: gzip with stored deflate blocks (what the client writes), then ustar.
/// Returns (name, contents) per member.
pub fn untar_gz(gz: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "gzip magic");
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut tar)
        .expect("a valid gzip stream");
    assert!(
        gz.len() < tar.len() / 2,
        "the archive is really compressed: {} of {} bytes",
        gz.len(),
        tar.len()
    );
    let mut out = Vec::new();
    let mut p = 0;
    while p + 512 <= tar.len() && tar[p..p + 512].iter().any(|b| *b != 0) {
        let h = &tar[p..p + 512];
        let name = String::from_utf8_lossy(&h[..100])
            .trim_end_matches('\0')
            .to_string();
        let size_field = String::from_utf8_lossy(&h[124..135]).to_string();
        let size = usize::from_str_radix(size_field.trim_matches(['\0', ' ']), 8).unwrap();
        let mode = String::from_utf8_lossy(&h[100..107]).to_string();
        assert_eq!(mode, "0000600", "member {name} mode");
        let sum: u32 = h[..148]
            .iter()
            .chain([b' '; 8].iter())
            .chain(&h[156..])
            .map(|b| *b as u32)
            .sum();
        let stored = u32::from_str_radix(
            String::from_utf8_lossy(&h[148..154]).trim_matches(['\0', ' ']),
            8,
        )
        .unwrap();
        assert_eq!(sum, stored, "member {name} checksum");
        out.push((name, tar[p + 512..p + 512 + size].to_vec()));
        p += 512 + size.div_ceil(512) * 512;
    }
    out
}
