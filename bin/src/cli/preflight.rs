//! stdio preflight, shared by `init` and `doctor` (go-cli-config.md §4.3): will the MCP
//! command start at all? The command is split with the settings layer's tokenizer (no
//! shell), its executable resolved on `PATH` (with `PATHEXT` on Windows, so `npx` finds
//! `npx.cmd`), checked for a directory / missing exec bit / broken `#!` line, and common
//! wrappers (`sh -c`, `env`, interpreters with a script) are followed up to depth 4.

use std::path::{Path, PathBuf};

use crate::config::{split_command_line, Env};

/// Why the command would not start, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightError {
    pub problem: String,
    pub fix: String,
    /// What was looked at (PATH, resolved paths, the #! line).
    pub evidence: Vec<String>,
}

impl std::fmt::Display for PreflightError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; fix: {}", self.problem, self.fix)
    }
}

/// What a passing preflight found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The resolved executable of the outermost command.
    pub executable: PathBuf,
    pub evidence: Vec<String>,
}

const MAX_DEPTH: usize = 4;

/// Checks a command line (as configured with `--mcp.command`).
pub fn check_line(line: &str, env: &dyn Env) -> Result<Preflight, PreflightError> {
    let argv = split_command_line(line).map_err(|e| PreflightError {
        problem: format!("the command line cannot be split: {e}"),
        fix: "close the quote or escape the character".into(),
        evidence: Vec::new(),
    })?;
    check_argv(&argv, env)
}

/// Checks an already split command.
pub fn check_argv(argv: &[String], env: &dyn Env) -> Result<Preflight, PreflightError> {
    let mut evidence = Vec::new();
    let exe = check(argv, env, 0, &mut evidence)?;
    Ok(Preflight {
        executable: exe,
        evidence,
    })
}

fn err(problem: String, fix: impl Into<String>, evidence: &[String]) -> PreflightError {
    PreflightError {
        problem,
        fix: fix.into(),
        evidence: evidence.to_vec(),
    }
}

fn path_dirs(env: &dyn Env) -> Vec<PathBuf> {
    env.var("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

#[cfg(windows)]
fn candidates(dir: &Path, name: &str, env: &dyn Env) -> Vec<PathBuf> {
    let exts = env
        .var("PATHEXT")
        .unwrap_or_else(|| ".COM;.EXE;.BAT;.CMD".into());
    let mut v = Vec::new();
    if Path::new(name).extension().is_some() {
        v.push(dir.join(name));
    }
    for e in exts.split(';').filter(|e| !e.is_empty()) {
        v.push(dir.join(format!("{name}{}", e.to_ascii_lowercase())));
    }
    v
}

#[cfg(not(windows))]
fn candidates(dir: &Path, name: &str, _env: &dyn Env) -> Vec<PathBuf> {
    vec![dir.join(name)]
}

#[cfg(unix)]
fn executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(p: &Path) -> bool {
    p.is_file()
}

/// Resolves a command name like the OS would when spawning it.
fn resolve(
    name: &str,
    env: &dyn Env,
    evidence: &mut Vec<String>,
) -> Result<PathBuf, PreflightError> {
    let has_sep = name.contains('/') || (cfg!(windows) && name.contains('\\'));
    if has_sep {
        let p = PathBuf::from(name);
        let shown = if p.is_relative() {
            let cwd = std::env::current_dir().unwrap_or_default();
            evidence.push(format!(
                "{name} is relative to the working directory ({}); run must start in the same directory",
                cwd.display()
            ));
            cwd.join(&p)
        } else {
            p.clone()
        };
        return check_file(&shown, name, evidence).map(|()| p);
    }
    let dirs = path_dirs(env);
    for d in &dirs {
        for c in candidates(d, name, env) {
            if c.is_file() {
                evidence.push(format!("{name} resolves to {}", c.display()));
                check_file(&c, name, evidence)?;
                return Ok(c);
            }
        }
    }
    let path_shown = env
        .var("PATH")
        .unwrap_or_else(|| "(PATH is not set)".into());
    evidence.push(format!("PATH={path_shown}"));
    Err(err(
        format!("executable {name:?} was not found on PATH"),
        format!(
            "install {name}, or give its absolute path (check with `command -v {name}` in the environment `run` starts from)"
        ),
        evidence,
    ))
}

fn check_file(p: &Path, name: &str, evidence: &mut Vec<String>) -> Result<(), PreflightError> {
    let meta = std::fs::metadata(p).map_err(|e| {
        err(
            format!("{} ({name}) cannot be used: {e}", p.display()),
            "check the path; give the absolute path of the executable",
            evidence,
        )
    })?;
    if meta.is_dir() {
        return Err(err(
            format!("{} is a directory, not an executable", p.display()),
            "point the command at the program inside it",
            evidence,
        ));
    }
    if !executable(p) {
        return Err(err(
            format!("{} is not executable", p.display()),
            format!("chmod +x {}", p.display()),
            evidence,
        ));
    }
    check_shebang(p, evidence)
}

/// A `#!` line must name an interpreter that exists.
fn check_shebang(p: &Path, evidence: &mut Vec<String>) -> Result<(), PreflightError> {
    use std::io::Read as _;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if !head.starts_with(b"#!") {
        return Ok(());
    }
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[2..line_end])
        .trim()
        .to_string();
    evidence.push(format!("{} starts with #!{line}", p.display()));
    let mut words = line.split_whitespace();
    let Some(interp) = words.next() else {
        return Err(err(
            format!("{} has an empty #! line", p.display()),
            format!(
                "correct the first line of {} (e.g. #!/usr/bin/env python3)",
                p.display()
            ),
            evidence,
        ));
    };
    let ip = Path::new(interp);
    if !ip.is_absolute() || !executable(ip) {
        return Err(err(
            format!("the #! interpreter {interp} of {} does not exist or cannot run", p.display()),
            format!("correct the first line of {} to an absolute interpreter path (e.g. #!/usr/bin/env python3)", p.display()),
            evidence,
        ));
    }
    if ip.file_name().is_some_and(|f| f == "env") {
        let next = words.find(|w| !w.starts_with('-'));
        if let Some(name) = next {
            if !name.contains('=') {
                let dirs = path_dirs(&crate::config::ProcessEnv);
                let found = dirs.iter().any(|d| executable(&d.join(name)));
                if !found {
                    return Err(err(
                        format!(
                            "the #! line of {} runs `env {name}`, but {name} is not on PATH",
                            p.display()
                        ),
                        format!(
                            "install {name}, or correct the first line of {}",
                            p.display()
                        ),
                        evidence,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The program family of an executable name (`python3.11` → `python`).
fn family(exe: &str) -> &'static str {
    let base = Path::new(exe)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or(exe)
        .to_ascii_lowercase();
    let base = base.trim_end_matches(".exe");
    let stem = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match stem {
        "sh" | "bash" | "zsh" | "dash" | "ksh" => "shell",
        "env" => "env",
        "python" | "py" => "python",
        "node" | "nodejs" => "node",
        "ruby" | "perl" | "php" => "script",
        "deno" => "deno",
        _ => "",
    }
}

fn script_readable(arg: &str, evidence: &mut Vec<String>) -> Result<(), PreflightError> {
    let p = Path::new(arg);
    if std::fs::File::open(p).is_ok() && p.is_file() {
        evidence.push(format!("script {arg} is readable"));
        return Ok(());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    Err(err(
        format!(
            "script {arg} cannot be read (working directory {})",
            cwd.display()
        ),
        format!("give the script's absolute path, or fix its permissions (ls -l {arg})"),
        evidence,
    ))
}

fn check(
    argv: &[String],
    env: &dyn Env,
    depth: usize,
    evidence: &mut Vec<String>,
) -> Result<PathBuf, PreflightError> {
    let Some(first) = argv.first() else {
        return Err(err(
            "the command is empty".into(),
            "set --mcp.command to the command line that starts your MCP server",
            evidence,
        ));
    };
    let exe = resolve(first, env, evidence)?;
    if depth >= MAX_DEPTH {
        return Ok(exe);
    }
    let rest = &argv[1..];
    match family(first) {
        "shell" => shell(rest, env, depth, evidence)?,
        "env" => {
            let mut i = 0;
            while i < rest.len() {
                let a = rest[i].as_str();
                if a == "-S" || a == "--split-string" {
                    let mut words = rest
                        .get(i + 1)
                        .map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>())
                        .unwrap_or_default();
                    words.extend(rest.iter().skip(i + 2).cloned());
                    return check(&words, env, depth + 1, evidence).map(|_| exe);
                }
                if a == "-u" || a == "-C" || a == "--unset" || a == "--chdir" {
                    i += 2;
                } else if a.starts_with('-') || a.contains('=') {
                    i += 1;
                } else {
                    break;
                }
            }
            if i < rest.len() {
                check(&rest[i..], env, depth + 1, evidence)?;
            }
        }
        "python" => interpreter(rest, &["-m", "-c"], &["-W", "-X", "-Q"], evidence)?,
        "node" => interpreter(
            rest,
            &["-e", "--eval", "-p", "--print"],
            &["-r", "--require", "--import", "--loader", "--input-type"],
            evidence,
        )?,
        "script" => interpreter(rest, &["-e", "-r", "-E"], &["-I", "-M", "-d"], evidence)?,
        "deno" => {
            let sub = rest.first().map(String::as_str);
            if sub == Some("eval") {
                return Ok(exe);
            }
            let args = if sub == Some("run") { &rest[1..] } else { rest };
            let script = args.iter().find(|a| !a.starts_with('-'));
            if let Some(s) = script {
                if !s.contains(':') {
                    script_readable(s, evidence)?;
                }
            }
        }
        _ => {}
    }
    Ok(exe)
}

/// `python -m mod`, `node -e …` need no file; otherwise the first non-option is a script.
fn interpreter(
    rest: &[String],
    inline: &[&str],
    with_value: &[&str],
    evidence: &mut Vec<String>,
) -> Result<(), PreflightError> {
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i].as_str();
        if inline.iter().any(|f| {
            a == *f || (a.starts_with(f) && f.len() == 2 && a.len() > 2 && !a.starts_with("--"))
        }) {
            return Ok(());
        }
        if a == "-" {
            return Ok(());
        }
        if with_value.contains(&a) {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return script_readable(a, evidence);
    }
    Ok(())
}

fn shell_expression(s: &str) -> bool {
    s.contains(['$', '`', '|', '&', ';', '<', '>', '(', ')', '*', '?', '~'])
}

/// `sh -c 'cmd …'` is checked recursively; `sh script.sh` needs a readable script.
fn shell(
    rest: &[String],
    env: &dyn Env,
    depth: usize,
    evidence: &mut Vec<String>,
) -> Result<(), PreflightError> {
    let mut i = 0;
    let mut dash_c = false;
    while i < rest.len() && rest[i].starts_with('-') && rest[i] != "-" && rest[i] != "--" {
        let a = &rest[i];
        if !a.starts_with("--") && a[1..].contains('c') {
            dash_c = true;
        }
        if a == "-o" || a == "+o" {
            i += 1;
        }
        i += 1;
    }
    if rest.get(i).map(String::as_str) == Some("--") {
        i += 1;
    }
    let Some(arg) = rest.get(i) else {
        return Ok(());
    };
    if !dash_c {
        return script_readable(arg, evidence);
    }
    let Ok(words) = split_command_line(arg) else {
        evidence.push(
            "the -c string is not checked: it uses shell quoting tunnel-client cannot split".into(),
        );
        return Ok(());
    };
    let start = words
        .iter()
        .position(|w| !matches!(w.as_str(), "exec" | "command" | "env") && !w.contains('='))
        .unwrap_or(words.len());
    let words = &words[start..];
    match words.first() {
        Some(w)
            if !shell_expression(w)
                && !shell_expression(arg.split_whitespace().next().unwrap_or("")) =>
        {
            check(words, env, depth + 1, evidence).map(|_| ())
        }
        _ => {
            evidence.push("the -c string is a shell expression; only its shell was checked".into());
            Ok(())
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    fn env() -> BTreeMap<String, String> {
        [(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        )]
        .into()
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tc-preflight-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn script(d: &Path, name: &str, body: &str, mode: u32) -> String {
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p.display().to_string()
    }

    #[test]
    fn finds_executables_and_names_the_fix() {
        let e = env();
        assert!(check_line("sh -c 'exec cat'", &e).is_ok());
        let x = check_line("definitely-not-installed-xyz --stdio", &e).unwrap_err();
        assert!(
            x.problem.contains("not found on PATH") && x.fix.contains("install"),
            "{x}"
        );
        let d = dir();
        let s = script(&d, "noexec.sh", "#!/bin/sh\ncat\n", 0o644);
        let x = check_line(&s, &e).unwrap_err();
        assert!(x.fix.starts_with("chmod +x"), "{x}");
        let s = script(&d, "badbang.sh", "#!/no/such/interp\ncat\n", 0o755);
        assert!(check_line(&s, &e)
            .unwrap_err()
            .problem
            .contains("#! interpreter"));
        let s = script(
            &d,
            "envbang.sh",
            "#!/usr/bin/env no-such-interp-xyz\n",
            0o755,
        );
        assert!(check_line(&s, &e)
            .unwrap_err()
            .problem
            .contains("not on PATH"));
        let x = check_line("sh -c 'exec missing-binary-xyz --x'", &e).unwrap_err();
        assert!(x.problem.contains("missing-binary-xyz"), "{x}");
        let x = check_line("sh /no/such/script.sh", &e).unwrap_err();
        assert!(x.problem.contains("cannot be read"), "{x}");
        assert!(check_line("env FOO=1 sh -c 'cat'", &e).is_ok());
        assert!(check_line(&d.display().to_string(), &e)
            .unwrap_err()
            .problem
            .contains("directory"));
        assert!(check_line("sh -c 'echo $X | cat'", &e).is_ok());
        assert!(check_line("'unterminated", &e).is_err());
    }
}
