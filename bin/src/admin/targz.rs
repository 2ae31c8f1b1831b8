//! The support bundle's `.tar.gz`, as the Go client's: support tooling (and people) expect
//! to `tar xzf` it. A ustar header is 512 bytes of fixed fields, written here; the gzip
//! layer is `flate2` (pure-Rust miniz_oxide backend), so the bundle is really compressed
//! (logs and JSON shrink several times over).

use std::io::Write as _;
use std::time::SystemTime;

/// One archive member.
pub struct Member<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// Builds a ustar archive of `members` (mode 0600, owner 0) and gzips it.
pub fn tar_gz(members: &[Member<'_>], mtime: SystemTime) -> Vec<u8> {
    gzip(&tar(members, mtime), mtime)
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

/// gzip (RFC 1952) with real deflate compression (`flate2`, miniz_oxide backend). The
/// header carries `mtime`, as Go's `gzip.Writer` does with the archive's time.
pub fn gzip(data: &[u8], mtime: SystemTime) -> Vec<u8> {
    let secs = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let mut enc = flate2::GzBuilder::new().mtime(secs).write(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetitive_text_is_really_compressed() {
        let log = "{\"level\":\"INFO\",\"message\":\"poll returned 0 command(s)\"}\n".repeat(2000);
        let gz = tar_gz(
            &[Member {
                name: "tunnel-client.logs.ndjson",
                data: log.as_bytes(),
            }],
            SystemTime::now(),
        );
        assert!(gz.len() * 10 < log.len(), "{} of {}", gz.len(), log.len());
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
            panic!("`tar` is needed on PATH to check the archive (apt-get install tar)");
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
