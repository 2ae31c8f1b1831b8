//! Finding the program of a stdio command on `PATH`, once, at start.
//!
//! The rules (no shell, empty `PATH` entries skipped, `PATHEXT` on Windows) are the core's
//! [`find_program`], shared with the smol adapter; this module reads `PATH`/`PATHEXT` and
//! checks files. On Windows std runs the `.cmd`/`.bat` files found this way through
//! `cmd.exe` with its own argument escaping.

use std::path::{Path, PathBuf};

use tunnel_core::stdio::{find_program, StdioCommandError};

/// The file to execute for `program`.
pub(crate) fn resolve(program: &str) -> Result<PathBuf, StdioCommandError> {
    resolve_in(program, std::env::var_os("PATH").as_deref())
}

/// The search itself is the core's (pure); this module supplies the environment and the
/// file system.
pub(crate) fn resolve_in(
    program: &str,
    path: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, StdioCommandError> {
    let pathext = std::env::var("PATHEXT").ok();
    find_program(program, path, pathext.as_deref(), is_executable)
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn bare_names_are_found_on_path_and_empty_entries_skipped() {
        let found = resolve_in("sh", Some(OsStr::new(":/nonexistent:/bin:/usr/bin"))).unwrap();
        assert!(found.ends_with("sh") && found.is_absolute(), "{found:?}");
        assert!(matches!(
            resolve_in("no-such-program-xyz", Some(OsStr::new("/bin:/usr/bin"))),
            Err(StdioCommandError::NotOnPath)
        ));
        assert!(matches!(
            resolve_in("sh", None),
            Err(StdioCommandError::NotOnPath)
        ));
    }

    #[test]
    fn paths_are_checked_not_searched() {
        assert!(resolve_in("/bin/sh", None).is_ok());
        assert!(matches!(
            resolve_in("./no/such/file", None),
            Err(StdioCommandError::NotExecutable)
        ));
        // A directory is not a program.
        assert!(matches!(
            resolve_in("/tmp/", None),
            Err(StdioCommandError::NotExecutable)
        ));
        assert!(matches!(
            resolve_in("", None),
            Err(StdioCommandError::Empty)
        ));
    }
}
