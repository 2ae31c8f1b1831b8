//! A `.tar.gz` writer by hand, for the support bundle.
//!
//! Why by hand: the Go client's bundle is a `.tar.gz`, and support tooling (and people)
//! expect to `tar xzf` it. A tar header is 512 bytes of fixed fields, and gzip accepts
//! *stored* (uncompressed) deflate blocks, so a valid archive needs ~100 lines and a CRC-32
//! table instead of a compression crate. The price is size: the bundle is not compressed
//! (a full 2000-event log buffer is a few hundred KB).

use std::time::SystemTime;

/// One archive member.
pub struct Member<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// Builds a ustar archive of `members` (mode 0600, owner 0) and gzips it.
pub fn tar_gz(members: &[Member<'_>], mtime: SystemTime) -> Vec<u8> {
    gzip_stored(&tar(members, mtime), mtime)
}

/// A ustar archive.
pub fn tar(members: &[Member<'_>], mtime: SystemTime) -> Vec<u8> {
    let secs = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut out = Vec::new();
    for m in members {
        let mut h = [0u8; 512];
        let name = m.name.as_bytes();
        let n = name.len().min(100);
        h[..n].copy_from_slice(&name[..n]);
        octal(&mut h[100..108], 0o600);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], m.data.len() as u64);
        octal(&mut h[136..148], secs);
        h[148..156].copy_from_slice(b"        ");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        let field = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(field.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(m.data);
        let pad = (512 - m.data.len() % 512) % 512;
        out.resize(out.len() + pad, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Writes `v` as zero-padded octal filling the field but its last byte (a NUL).
fn octal(field: &mut [u8], v: u64) {
    let width = field.len() - 1;
    let s = format!("{v:0width$o}");
    let s = &s.as_bytes()[s.len().saturating_sub(width)..];
    field[..width].copy_from_slice(s);
    field[width] = 0;
}

/// gzip (RFC 1952) around deflate stored blocks (RFC 1951 §3.2.4).
pub fn gzip_stored(data: &[u8], mtime: SystemTime) -> Vec<u8> {
    let secs = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 32);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0]);
    out.extend_from_slice(&secs.to_le_bytes());
    out.extend_from_slice(&[0, 255]);
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3, reflected, as gzip uses).
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut c = !0u32;
    for b in data {
        c = table[((c ^ *b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn system_tar_reads_the_archive() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let members = [
            Member {
                name: "manifest.json",
                data: b"{}\n",
            },
            Member {
                name: "admin/status.json",
                data: b"{\"a\":1}\n",
            },
            Member {
                name: "big.bin",
                data: &big,
            },
            Member {
                name: "empty.txt",
                data: b"",
            },
        ];
        let gz = tar_gz(&members, SystemTime::now());
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let dir = std::env::temp_dir().join(format!("tc-targz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("b.tar.gz");
        std::fs::write(&file, &gz).unwrap();
        let Ok(out) = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&file)
            .arg("-C")
            .arg(&dir)
            .output()
        else {
            eprintln!("SKIP: no tar on PATH");
            return;
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(dir.join("big.bin")).unwrap(), big);
        assert_eq!(
            std::fs::read_to_string(dir.join("admin/status.json")).unwrap(),
            "{\"a\":1}\n"
        );
        assert_eq!(std::fs::read(dir.join("empty.txt")).unwrap().len(), 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("manifest.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
