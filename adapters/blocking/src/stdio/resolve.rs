//! Finding the program of a stdio command on `PATH`, once, at start.
//!
//! Resolving up front turns a typo into a start error naming the channel and the command,
//! instead of a child that fails to spawn on every restart. No shell is involved, so this
//! is the same lookup `execvp` would do, minus one hazard: an empty `PATH` entry (which a
//! shell reads as "the current directory") is skipped, so a stray file in the working
//! directory can never be picked up implicitly.
//!
//! On Windows a bare name is tried with each `PATHEXT` extension, so `npx` finds `npx.cmd`
//! (std runs `.cmd`/`.bat` files through `cmd.exe` with its own argument escaping).

use std::path::{Path, PathBuf};

use crate::options::StdioCommandError;

/// The file to execute for `program`.
pub(crate) fn resolve(program: &str) -> Result<PathBuf, StdioCommandError> {
    resolve_in(program, std::env::var_os("PATH").as_deref())
}

fn has_separator(program: &str) -> bool {
    program.contains('/') || (cfg!(windows) && program.contains('\\'))
}

pub(crate) fn resolve_in(
    program: &str,
    path: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, StdioCommandError> {
    if program.is_empty() {
        return Err(StdioCommandError::Empty);
    }
    if has_separator(program) {
        let p = PathBuf::from(program);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(StdioCommandError::NotExecutable)
        };
    }
    for dir in std::env::split_paths(path.unwrap_or_default()) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        for name in candidates(program) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(StdioCommandError::NotOnPath)
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

#[cfg(windows)]
fn candidates(program: &str) -> Vec<String> {
    if Path::new(program).extension().is_some() {
        return vec![program.to_string()];
    }
    let exts = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into());
    exts.split(';')
        .filter(|e| !e.is_empty())
        .map(|e| format!("{program}{e}"))
        .collect()
}

#[cfg(not(windows))]
fn candidates(program: &str) -> Vec<String> {
    vec![program.to_string()]
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
