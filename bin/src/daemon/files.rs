//! `--health.url-file` and `--pid.file`: written once the process serves, removed when it
//! stops, so a supervisor never reads a stale URL or pid.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file that is removed when the guard is dropped.
#[derive(Debug)]
pub struct OwnedFile {
    path: PathBuf,
}

impl OwnedFile {
    /// Writes `contents` atomically (a temporary file in the same directory, then a rename)
    /// with `mode` on Unix, so a reader sees either nothing or the whole content.
    pub fn write(path: &Path, contents: &str, mode: u32) -> io::Result<OwnedFile> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
        let tmp = match dir {
            Some(d) => d.join(format!(
                ".{}.tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            )),
            None => PathBuf::from(format!(
                ".{}.tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            )),
        };
        let result = (|| {
            let mut f = create(&tmp, mode)?;
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| OwnedFile {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OwnedFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn create(p: &Path, mode: u32) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(p)
}

/// Windows: no mode bits; the directory's ACL applies.
#[cfg(not(unix))]
fn create(p: &Path, _mode: u32) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_whole_with_mode_and_removed_on_drop() {
        let dir = std::env::temp_dir().join(format!("tc-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("health.url");
        {
            let f = OwnedFile::write(&p, "http://127.0.0.1:1\n", 0o600).unwrap();
            assert_eq!(
                fs::read_to_string(f.path()).unwrap(),
                "http://127.0.0.1:1\n"
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
            }
            let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
            assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        }
        assert!(!p.exists(), "removed when the process stops");
        let _ = fs::remove_dir_all(&dir);
    }
}
