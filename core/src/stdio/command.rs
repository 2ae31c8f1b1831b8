//! What an adapter is told about a stdio channel — the command ([`StdioTarget`]), how its
//! child is supervised ([`StdioOptions`]), why it could not start ([`StdioCommandError`]) —
//! and the `PATH` search for its program ([`find_program`]).
//!
//! Pure data and pure logic shared by both adapters, so `tunnel_blocking::StdioTarget` and
//! `tunnel_smol::StdioTarget` are one type with one set of defaults and one operator-facing
//! error text. The file system is not touched here: the adapter passes the `PATH` value and
//! the "is this an executable file" check to [`find_program`].

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::channel::ChannelName;

use super::MuxConfig;

/// A stdio MCP server (`--mcp.command`): one child process for the channel, started when
/// the runtime starts and supervised for its whole life.
///
/// `argv` is the command already split into words (the settings layer tokenises
/// `--mcp.command` shell-style; no shell ever runs). `argv[0]` is looked up on `PATH` at
/// start unless it contains a path separator; a missing program fails the start with the
/// adapter's `StartError::StdioCommand`. The child inherits the client's environment and
/// working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioTarget {
    pub channel: ChannelName,
    pub argv: Vec<String>,
}

impl StdioTarget {
    pub fn new<S: Into<String>>(channel: ChannelName, argv: impl IntoIterator<Item = S>) -> Self {
        StdioTarget {
            channel,
            argv: argv.into_iter().map(Into::into).collect(),
        }
    }
}

/// How stdio children are supervised. `Default` is what `tunnel-client run` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdioOptions {
    /// First restart delay after a child went away; doubles (with jitter) per consecutive
    /// failure up to `restart_max`. Restarts never stop: the client keeps serving the other
    /// channels and reports the channel not ready meanwhile.
    pub restart_min: Duration,
    pub restart_max: Duration,
    /// A child that ran at least this long starts the backoff over when it goes away (one
    /// crash a day should not wait `restart_max`).
    pub restart_reset_after: Duration,
    /// Shutdown: after closing the child's stdin, how long it may take to exit before it is
    /// sent SIGTERM, and one more second before SIGKILL (process group on Unix).
    pub shutdown_grace: Duration,
    /// Longest stdout line (one JSON-RPC message) accepted from a child; longer ones are
    /// dropped and logged.
    pub max_line_bytes: usize,
    /// Replay the last successful `initialize` (and `notifications/initialized`) into a
    /// restarted child, so connectors that initialised the old one keep working.
    pub replay_initialize: bool,
    /// How long a replayed `initialize` may take before the child is restarted again.
    pub replay_timeout: Duration,
    /// Retired request ids remembered per child (late responses to them are discarded).
    pub max_retired: usize,
}

impl Default for StdioOptions {
    fn default() -> Self {
        let mux = MuxConfig::default();
        StdioOptions {
            restart_min: Duration::from_millis(100),
            restart_max: Duration::from_secs(30),
            restart_reset_after: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(2),
            max_line_bytes: mux.max_line_bytes,
            replay_initialize: mux.replay_initialize,
            replay_timeout: mux.replay_timeout,
            max_retired: mux.max_retired,
        }
    }
}

impl StdioOptions {
    /// The multiplexer settings these options imply; `ttl` bounds requests without a
    /// deadline (`--mcp.connection-max-ttl`).
    pub fn mux_config(&self, ttl: Duration) -> MuxConfig {
        MuxConfig {
            max_line_bytes: self.max_line_bytes,
            max_retired: self.max_retired,
            ttl,
            replay_initialize: self.replay_initialize,
            replay_timeout: self.replay_timeout,
            ..MuxConfig::default()
        }
    }
}

/// Why a stdio MCP server could not be started.
#[derive(Debug)]
pub enum StdioCommandError {
    /// The command line is empty.
    Empty,
    /// A bare program name that no `PATH` directory holds as an executable file.
    NotOnPath,
    /// A path (absolute or relative) that is not an executable file.
    NotExecutable,
    /// The operating system refused to start it.
    Spawn(std::io::Error),
    /// It did not start in time (the blocking adapter's supervisor thread did not answer).
    Timeout,
}

impl fmt::Display for StdioCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StdioCommandError::Empty => f.write_str("the command is empty"),
            StdioCommandError::NotOnPath => f.write_str(
                "no such executable in any PATH directory (install it, fix PATH, or give its full path)",
            ),
            StdioCommandError::NotExecutable => {
                f.write_str("the file does not exist or is not executable")
            }
            StdioCommandError::Spawn(e) => write!(f, "{e}"),
            StdioCommandError::Timeout => f.write_str("it did not start within 10 s"),
        }
    }
}

impl std::error::Error for StdioCommandError {}

impl StdioCommandError {
    /// The operator-facing start error of an adapter (`StartError::StdioCommand`), e.g.
    /// `channel main: cannot start the stdio MCP server "npx": no such executable in any
    /// PATH directory (install it, fix PATH, or give its full path)`.
    pub fn describe(&self, channel: &ChannelName, command: &str) -> String {
        format!("channel {channel}: cannot start the stdio MCP server {command:?}: {self}")
    }
}

/// The file to execute for `program`, searched the way `execvp` would, minus one hazard.
///
/// Resolving up front turns a typo into a start error naming the channel and the command,
/// instead of a child that fails to spawn on every restart. A name with a path separator
/// is only checked; a bare name is looked for in each directory of `path` (the value of
/// `PATH`), where an empty entry — which a shell reads as "the current directory" — is
/// skipped, so a stray file in the working directory is never picked up implicitly.
///
/// On Windows a bare name without an extension is tried with each `pathext` extension
/// (`PATHEXT`, default `.COM;.EXE;.BAT;.CMD`), so `npx` finds `npx.cmd`.
///
/// `is_executable` is the adapter's file-system check ("an executable regular file").
pub fn find_program(
    program: &str,
    path: Option<&OsStr>,
    pathext: Option<&str>,
    is_executable: impl Fn(&Path) -> bool,
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
        for name in candidates(program, pathext) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(StdioCommandError::NotOnPath)
}

fn has_separator(program: &str) -> bool {
    program.contains('/') || (cfg!(windows) && program.contains('\\'))
}

fn candidates(program: &str, pathext: Option<&str>) -> Vec<String> {
    if !cfg!(windows) || Path::new(program).extension().is_some() {
        return vec![program.to_string()];
    }
    pathext
        .unwrap_or(".COM;.EXE;.BAT;.CMD")
        .split(';')
        .filter(|e| !e.is_empty())
        .map(|e| format!("{program}{e}"))
        .collect()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A fake file system: these paths are executables.
    fn fs(files: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| files.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn bare_names_are_searched_in_path_order_and_empty_entries_skipped() {
        let path = Some(OsStr::new(":/a:/b:/c"));
        let found = find_program("srv", path, None, fs(&["/b/srv", "/c/srv", "srv"])).unwrap();
        assert_eq!(found, PathBuf::from("/b/srv"));
        // `srv` in the working directory (the empty entry) is never found.
        assert!(matches!(
            find_program("srv", Some(OsStr::new(":/a")), None, fs(&["srv", "./srv"])),
            Err(StdioCommandError::NotOnPath)
        ));
        assert!(matches!(
            find_program("srv", None, None, fs(&["/b/srv"])),
            Err(StdioCommandError::NotOnPath)
        ));
    }

    #[test]
    fn paths_are_checked_not_searched() {
        let path = Some(OsStr::new("/bin"));
        assert_eq!(
            find_program("./x/srv", path, None, fs(&["./x/srv"])).unwrap(),
            PathBuf::from("./x/srv")
        );
        assert!(matches!(
            find_program("./x/srv", path, None, fs(&["/bin/srv"])),
            Err(StdioCommandError::NotExecutable)
        ));
        assert!(matches!(
            find_program("", path, None, fs(&[])),
            Err(StdioCommandError::Empty)
        ));
    }

    #[test]
    fn start_errors_name_the_fix() {
        let text = StdioCommandError::NotOnPath.to_string();
        assert!(
            text.contains("PATH") && text.contains("full path"),
            "{text}"
        );
    }

    #[test]
    fn options_map_onto_the_mux_config() {
        let opts = StdioOptions {
            max_line_bytes: 10,
            max_retired: 3,
            replay_initialize: false,
            ..StdioOptions::default()
        };
        let mux = opts.mux_config(Duration::from_secs(7));
        assert_eq!(
            (
                mux.max_line_bytes,
                mux.max_retired,
                mux.ttl,
                mux.replay_initialize
            ),
            (10, 3, Duration::from_secs(7), false)
        );
        assert_eq!(
            StdioOptions::default().restart_min,
            Duration::from_millis(100)
        );
    }
}
