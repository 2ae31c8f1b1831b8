//! The documentation is checked against the binary:
//!
//! - every relative link (and `#anchor`) in `README.md` and `docs/**/*.md` resolves to a file
//!   that exists (and a heading in it);
//! - every `tunnel-client …` command line in a shell code block is one the binary accepts:
//!   the command exists and every `--flag` appears in its `--help`;
//! - every code block marked `sh offline` is **run**, line by line, against the local
//!   control-plane emulator and demo MCP server, and each line must exit 0.
//!
//! Marking code blocks (the info string after the fence):
//!
//! - `sh offline`: runs here. Each page gets its own emulator, whose tunnel id is the one the
//!   docs use as their example ([`DOC_TUNNEL_ID`]); the environment holds the emulator's URL
//!   (`CONTROL_PLANE_BASE_URL`), its runtime and admin keys, a scratch `HOME` /
//!   `XDG_CONFIG_HOME`, `CONTROL_PLANE_POLL_TIMEOUT=2s`, and a free health port. In the
//!   command text, `http://127.0.0.1:3000/mcp` becomes the demo MCP server's URL and
//!   `127.0.0.1:8080` / `--port 8080` the free health port. A `tunnel-client run` line keeps
//!   running (in the background) while the page's later lines run, and must stop cleanly
//!   (exit 0) on SIGTERM at the end of the page. `export NAME=value` lines set the
//!   environment of later lines.
//! - `sh needs-tunnel`: needs a real tunnel, key or server; not run, only checked as above.
//! - any other `sh` / `bash` / `shell` / `console` block: checked as above.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use support::{Scratch, BIN};
use tunnel_conformance::emulator::{Emulator, EmulatorConfig};
use tunnel_conformance::mcp_stub::{McpStub, StubConfig};

/// The example tunnel id of the docs (and of the built-in samples).
const DOC_TUNNEL_ID: &str = "tunnel_0123456789abcdef0123456789abcdef";
/// The example MCP URL of the docs, replaced by the demo server's.
const DOC_MCP_URL: &str = "http://127.0.0.1:3000/mcp";
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `README.md` and every Markdown file under `docs/`.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let root = repo();
    let mut out = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut out);
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// GitHub's anchor for a heading: lower-case, punctuation dropped, spaces to `-`,
/// duplicates numbered.
fn anchors(md: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut text: Option<String> = None;
    for ev in Parser::new_ext(md, options()) {
        match ev {
            Event::Start(Tag::Heading { .. }) => text = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(s) = text.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let t = text.take().unwrap_or_default();
                let slug: String = t
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let n = seen.entry(slug.clone()).or_insert(0);
                out.insert(if *n == 0 {
                    slug.clone()
                } else {
                    format!("{slug}-{n}")
                });
                *n += 1;
            }
            _ => {}
        }
    }
    out
}

fn has_scheme(url: &str) -> bool {
    url.split_once(':').is_some_and(|(s, _)| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let md = std::fs::read_to_string(&page).unwrap();
        for ev in Parser::new_ext(&md, options()) {
            let url = match ev {
                Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => dest_url,
                _ => continue,
            };
            if has_scheme(&url) {
                continue;
            }
            checked += 1;
            let (path, frag) = match url.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (url.as_ref(), None),
            };
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {url}: no such file", rel(&page)));
                continue;
            }
            if let Some(f) = frag {
                if target.extension().is_some_and(|x| x == "md") {
                    let doc = std::fs::read_to_string(&target).unwrap();
                    if !anchors(&doc).contains(f) {
                        broken.push(format!(
                            "{}: {url}: no heading with anchor #{f} in {}",
                            rel(&page),
                            rel(&target)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} relative links found: is the walk broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_map_links_every_page() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let linked: BTreeSet<String> = Parser::new_ext(&readme, options())
        .filter_map(|ev| match ev {
            Event::Start(Tag::Link { dest_url, .. }) => {
                Some(dest_url.split('#').next().unwrap_or("").to_string())
            }
            _ => None,
        })
        .collect();
    let missing: Vec<String> = pages()
        .iter()
        .skip(1) // README.md itself
        .map(|p| rel(p))
        .filter(|p| !linked.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's documentation map does not link: {missing:?}"
    );
}

#[test]
fn anchors_follow_github() {
    let a = anchors("# Where secrets live\n## OAuth: how `ChatGPT` signs in\n## A\n## A\n");
    for want in [
        "where-secrets-live",
        "oauth-how-chatgpt-signs-in",
        "a",
        "a-1",
    ] {
        assert!(a.contains(want), "{want}: {a:?}");
    }
}

/// A shell code block.
struct Block {
    page: PathBuf,
    /// The words after the fence's language (`offline`, `needs-tunnel`).
    marks: Vec<String>,
    /// Logical lines: continuations joined, comments and blank lines dropped.
    lines: Vec<String>,
}

fn blocks(page: &Path) -> Vec<Block> {
    let md = std::fs::read_to_string(page).unwrap();
    let mut out = Vec::new();
    let mut cur: Option<(Vec<String>, String)> = None;
    for ev in Parser::new_ext(&md, options()) {
        match ev {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let mut words = info.split_whitespace().map(str::to_string);
                let lang = words.next().unwrap_or_default();
                if ["sh", "bash", "shell", "console"].contains(&lang.as_str()) {
                    cur = Some((words.collect(), String::new()));
                }
            }
            Event::Text(t) => {
                if let Some((_, body)) = cur.as_mut() {
                    body.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((marks, body)) = cur.take() {
                    let mut lines = Vec::new();
                    let mut acc = String::new();
                    for raw in body.lines() {
                        let l = raw.trim();
                        let l = l.strip_prefix("$ ").unwrap_or(l);
                        if acc.is_empty() && (l.is_empty() || l.starts_with('#')) {
                            continue;
                        }
                        match l.strip_suffix('\\') {
                            Some(head) => {
                                acc.push_str(head.trim_end());
                                acc.push(' ');
                            }
                            None => {
                                acc.push_str(l);
                                lines.push(std::mem::take(&mut acc));
                            }
                        }
                    }
                    if !acc.trim().is_empty() {
                        lines.push(acc);
                    }
                    out.push(Block {
                        page: page.to_path_buf(),
                        marks,
                        lines,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Splits a shell line into words (quotes removed), enough for flag checking.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The `tunnel-client` invocation of a line, after `NAME=value` prefixes; `None` for other
/// programs (curl, export, cargo).
fn invocation(line: &str) -> Option<Vec<String>> {
    let w = words(line);
    let start = w
        .iter()
        .position(|x| !x.contains('=') || x.starts_with('-'))?;
    (w.get(start)? == "tunnel-client").then(|| w[start + 1..].to_vec())
}

fn run_bin(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("CONTROL_PLANE_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_ADMIN_KEY")
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Why the binary would not accept `args`, if it would not.
fn not_accepted(
    args: &[String],
    help_cache: &mut HashMap<String, (i32, String)>,
) -> Option<String> {
    let Some(cmd) = args.first() else {
        return None; // bare `tunnel-client`: root help
    };
    if cmd.starts_with("--") {
        return (!["--help", "--version"].contains(&cmd.as_str()))
            .then(|| format!("unknown global flag {cmd}"));
    }
    if cmd == "help" {
        // Offline and cheap: run it exactly.
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, text) = run_bin(&a);
        return (code != 0).then(|| format!("exit {code}: {}", text.trim()));
    }
    // `dev X --help` answers with the list of X's flags in its error.
    let key = if cmd == "dev" {
        format!("dev {}", args.get(1).map(String::as_str).unwrap_or(""))
    } else {
        cmd.clone()
    };
    let (code, help) = help_cache
        .entry(key.clone())
        .or_insert_with(|| {
            let mut a: Vec<&str> = key.split_whitespace().collect();
            a.push("--help");
            run_bin(&a)
        })
        .clone();
    if code != 0 && cmd != "dev" {
        return Some(format!(
            "`tunnel-client {key} --help` exits {code}: {}",
            help.trim()
        ));
    }
    if cmd == "dev"
        && !["control-plane", "mcp-stub"].contains(&args.get(1).map(String::as_str).unwrap_or(""))
    {
        return Some("dev takes control-plane or mcp-stub".into());
    }
    for a in args {
        if let Some(flag) = a.strip_prefix("--") {
            let name = flag.split_once('=').map_or(flag, |(n, _)| n);
            let spelled = format!("--{name}");
            let found = help.match_indices(&spelled).any(|(i, _)| {
                !help[i + spelled.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            });
            if !found {
                return Some(format!("{spelled} is not in `tunnel-client {key} --help`"));
            }
        }
    }
    None
}

#[test]
fn every_documented_command_is_accepted_by_the_binary() {
    let mut cache = HashMap::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        for b in blocks(&page) {
            for line in &b.lines {
                if let Some(args) = invocation(line) {
                    checked += 1;
                    if let Some(why) = not_accepted(&args, &mut cache) {
                        problems.push(format!("{}: `{line}`: {why}", rel(&b.page)));
                    }
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} commands found: is the extraction broken?"
    );
    assert!(
        problems.is_empty(),
        "documented commands the binary does not accept:\n{}",
        problems.join("\n")
    );
}

#[test]
fn extraction_joins_continuations_and_reads_marks() {
    let dir = Scratch::new("docs-extract");
    let p = dir.path("x.md");
    std::fs::write(
        &p,
        "```sh offline\n# a comment\ntunnel-client run \\\n  --profile x\n\n$ curl -s 'a b'\n```\n\n```text\ntunnel-client nope\n```\n",
    )
    .unwrap();
    let b = blocks(&p);
    assert_eq!(b.len(), 1, "text blocks are not shell");
    assert_eq!(b[0].marks, ["offline"]);
    assert_eq!(
        b[0].lines,
        ["tunnel-client run --profile x", "curl -s 'a b'"]
    );
    assert_eq!(words("curl -s 'a b' \"\""), ["curl", "-s", "a b", ""]);
    assert_eq!(
        invocation("CONTROL_PLANE_API_KEY=x tunnel-client run --a=b"),
        Some(vec!["run".to_string(), "--a=b".to_string()])
    );
    assert_eq!(invocation("curl -s x"), None);
    let mut cache = HashMap::new();
    assert!(not_accepted(&["run".into(), "--no-such-flag".into()], &mut cache).is_some());
    assert!(not_accepted(&["runn".into()], &mut cache).is_some());
    assert!(not_accepted(
        &["run".into(), "--control-plane.tunnel-id=x".into()],
        &mut cache
    )
    .is_none());
    // A prefix of a real flag is not a real flag.
    assert!(not_accepted(&["run".into(), "--control-plane.tunnel".into()], &mut cache).is_some());
}

/// One page's offline session: the emulator, the demo MCP server, the environment and the
/// background `run`.
struct Session {
    /// Kept alive for the page's commands.
    _emu: Emulator,
    mcp: McpStub,
    scratch: Scratch,
    port: u16,
    env: BTreeMap<String, String>,
    daemon: Option<(Child, String, PathBuf)>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Session {
    fn new() -> Session {
        let emu = Emulator::start(EmulatorConfig {
            tunnel_id: DOC_TUNNEL_ID.into(),
            ..EmulatorConfig::default()
        })
        .unwrap();
        let mcp = McpStub::start(StubConfig::default()).unwrap();
        let scratch = Scratch::new("docs-offline");
        let bin_dir = scratch.path("bin");
        for d in ["bin", "home", "config"] {
            std::fs::create_dir_all(scratch.path(d)).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(BIN, bin_dir.join("tunnel-client")).unwrap();
        let port = free_port();
        let mut env = BTreeMap::new();
        let path = std::env::join_paths(std::iter::once(bin_dir.clone()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        env.insert("PATH".into(), path.to_string_lossy().into_owned());
        env.insert("HOME".into(), scratch.path("home").display().to_string());
        env.insert(
            "XDG_CONFIG_HOME".into(),
            scratch.path("config").display().to_string(),
        );
        env.insert("CONTROL_PLANE_BASE_URL".into(), emu.control_plane_url());
        env.insert("CONTROL_PLANE_API_KEY".into(), emu.api_key().into());
        env.insert("OPENAI_ADMIN_KEY".into(), emu.admin_key().into());
        env.insert("CONTROL_PLANE_POLL_TIMEOUT".into(), "2s".into());
        env.insert("HEALTH_LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
        env.insert(
            "HEALTH_URL_FILE".into(),
            scratch.path("health.url").display().to_string(),
        );
        Session {
            _emu: emu,
            mcp,
            scratch,
            port,
            env,
            daemon: None,
        }
    }

    fn substitute(&self, line: &str) -> String {
        line.replace(DOC_MCP_URL, &self.mcp.url())
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", self.port))
            .replace("--port 8080", &format!("--port {}", self.port))
    }

    fn command(&self, line: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("exec {line}"))
            .env_clear()
            .envs(&self.env)
            .current_dir(self.scratch.path("home"))
            .stdin(Stdio::null());
        c
    }

    fn health_ok(&self) -> bool {
        Command::new(BIN)
            .args([
                "health",
                "--port",
                &self.port.to_string(),
                "--require-control-plane-poll",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Runs one documented line; `Err` says why it failed.
    fn run_line(&mut self, where_: &str, original: &str) -> Result<(), String> {
        let line = self.substitute(original);
        if let Some(assign) = line.strip_prefix("export ") {
            let (k, v) = assign
                .split_once('=')
                .ok_or_else(|| format!("{where_}: `{original}`: export without ="))?;
            let v = words(v).join(" ");
            self.env.insert(k.to_string(), v);
            return Ok(());
        }
        if line.starts_with("curl ") && which("curl").is_none() {
            return Err(format!(
                "{where_}: `{original}` needs curl, which is not installed"
            ));
        }
        let is_run =
            invocation(&line).is_some_and(|a| a.first().map(String::as_str) == Some("run"));
        if is_run {
            self.stop_daemon(where_)?;
            let log = self.scratch.path("run.log");
            let mut c = self.command(&line);
            c.stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::options().append(true).open(&log).unwrap());
            let mut child = c.spawn().map_err(|e| format!("{where_}: spawn: {e}"))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !self.health_ok() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{where_}: `{original}` exited with {status} before it was ready:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    return Err(format!(
                        "{where_}: `{original}` not ready with a successful poll within 30 s:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            self.daemon = Some((child, original.to_string(), log));
            return Ok(());
        }
        let mut child = self
            .command(&line)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{where_}: spawn: {e}"))?;
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + LINE_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let output = format!("{}{}", t_out.join().unwrap(), t_err.join().unwrap());
        match status {
            Some(s) if s.success() => {
                println!("ok   {where_}: {original}");
                Ok(())
            }
            Some(s) => Err(format!(
                "{where_}: `{original}` (ran `{line}`) exited with {s}:\n{output}"
            )),
            None => Err(format!(
                "{where_}: `{original}` did not finish within {LINE_TIMEOUT:?}:\n{output}"
            )),
        }
    }

    /// SIGTERM to the background `run`; it must drain and exit 0.
    fn stop_daemon(&mut self, where_: &str) -> Result<(), String> {
        let Some((mut child, line, log)) = self.daemon.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                let logs = std::fs::read_to_string(&log).unwrap_or_default();
                return if s.success() {
                    println!("ok   {where_}: {line} (stopped with SIGTERM)");
                    Ok(())
                } else {
                    Err(format!(
                        "{where_}: `{line}` exited with {s} on SIGTERM:\n{logs}"
                    ))
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "{where_}: `{line}` did not stop within 40 s of SIGTERM"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some((mut c, _, _)) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(unix)]
#[test]
fn offline_commands_run_against_the_emulator() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for page in pages() {
        let offline: Vec<Block> = blocks(&page)
            .into_iter()
            .filter(|b| b.marks.iter().any(|m| m == "offline"))
            .collect();
        if offline.is_empty() {
            continue;
        }
        let mut s = Session::new();
        let name = rel(&page);
        for b in &offline {
            for line in &b.lines {
                ran += 1;
                if let Err(e) = s.run_line(&name, line) {
                    failures.push(e);
                }
            }
        }
        if let Err(e) = s.stop_daemon(&name) {
            failures.push(e);
        }
    }
    assert!(ran >= 8, "only {ran} offline commands found in the docs");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn marks_are_known() {
    let mut unknown = Vec::new();
    for page in pages() {
        for b in blocks(&page) {
            for m in &b.marks {
                if !["offline", "needs-tunnel"].contains(&m.as_str()) {
                    unknown.push(format!("{}: ```sh {m}", rel(&page)));
                }
            }
            if b.marks.len() > 1 {
                unknown.push(format!("{}: more than one mark: {:?}", rel(&page), b.marks));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "shell blocks take `offline` or `needs-tunnel` (see bin/tests/docs_commands.rs):\n{}",
        unknown.join("\n")
    );
}
