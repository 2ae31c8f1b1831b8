//! `codex assistant [prompt…]`: ask Codex about this tunnel-client, through the app-server
//! bridge. One-shot with arguments (or piped stdin), a REPL on a terminal, device-code login
//! on a terminal, the turn's text streamed to stdout as it arrives.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tunnel_core::codex::{sandbox, Event, TurnStep, TurnTracker};

use super::bridge::{fmt_duration, Bridge};
use super::kb;
use super::status::parse_duration;
use crate::cli::args::{Args, CliError};

const EFFORTS: [&str; 3] = ["low", "medium", "high"];

const BASE_INSTRUCTIONS: &str = "\
You are the tunnel-client assistant. Treat the request as being about tunnel-client, the \
customer-run agent of Secure MCP Tunnel, unless the user clearly says otherwise.
Work inside the tunnel-client workspace; avoid broad repository scans and read only the files \
the question needs.
Prefer tunnel-client's own CLI (`tunnel-client help`, `doctor`, `profiles`, `codex status`, \
`runtimes …`) and its embedded help over guessing.
Keep streamed progress short: a sentence per step, then the answer.
Answer for a terminal user: do not describe browser-only UI flows.";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub cwd: String,
    pub model: String,
    pub model_provider: String,
    pub approval_policy: String,
    pub sandbox: String,
    pub developer_instructions: String,
    pub effort: String,
    pub summary: String,
    pub login_timeout: Duration,
}

impl Settings {
    pub fn defaults(cwd: &str) -> Settings {
        Settings {
            cwd: cwd.to_string(),
            model: String::new(),
            model_provider: String::new(),
            approval_policy: "never".into(),
            sandbox: "workspace-write".into(),
            developer_instructions: String::new(),
            effort: "medium".into(),
            summary: String::new(),
            login_timeout: Duration::from_secs(300),
        }
    }
}

pub fn developer_instructions(s: &Settings) -> String {
    let base = format!(
        "{BASE_INSTRUCTIONS}\nStay focused on this workspace root: {}",
        s.cwd
    );
    let extra = s.developer_instructions.trim();
    if extra.is_empty() {
        base
    } else if extra.contains(BASE_INSTRUCTIONS) {
        extra.to_string()
    } else {
        format!("{base}\n\n{extra}")
    }
}

pub fn thread_params(s: &Settings) -> Value {
    let mut p = json!({
        "experimentalRawEvents": false,
        "cwd": s.cwd,
        "approvalPolicy": s.approval_policy,
        "sandbox": sandbox::kebab(&s.sandbox),
        "developerInstructions": developer_instructions(s),
        "persistExtendedHistory": false,
        "ephemeral": true,
    });
    if !s.model.is_empty() {
        p["model"] = json!(s.model);
    }
    if !s.model_provider.is_empty() {
        p["modelProvider"] = json!(s.model_provider);
    }
    p
}

pub fn turn_params(s: &Settings, thread: &str, text: &str) -> Value {
    let mut p = json!({
        "threadId": thread,
        "input": [{"type": "text", "text": text}],
        "cwd": s.cwd,
        "approvalPolicy": s.approval_policy,
        "sandboxPolicy": {"type": sandbox::camel(&s.sandbox)},
        "effort": s.effort,
    });
    if !s.model.is_empty() {
        p["model"] = json!(s.model);
    }
    if !s.summary.is_empty() {
        p["summary"] = json!(s.summary);
    }
    p
}

/// `/model`, `/model X`, `/model M R` (M `-` keeps the model). Returns the line to show.
pub fn model_command(s: &mut Settings, rest: &str) -> String {
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [] => {}
        [x] if EFFORTS.contains(&x.to_lowercase().as_str()) => s.effort = x.to_lowercase(),
        [x] => s.model = (*x).to_string(),
        [m, r, ..] => {
            let r = r.to_lowercase();
            if !EFFORTS.contains(&r.as_str()) {
                return format!(
                    "model> unknown reasoning {r:?}; expected one of: low, medium, high"
                );
            }
            if *m != "-" {
                s.model = (*m).to_string();
            }
            s.effort = r;
        }
    }
    format!(
        "model> model={} reasoning={}",
        if s.model.is_empty() {
            "default"
        } else {
            &s.model
        },
        if s.effort.is_empty() {
            "medium"
        } else {
            &s.effort
        }
    )
}

/// `--cwd`, else a tunnel-client checkout above `$BUILD_WORKING_DIRECTORY`, else the cwd.
fn resolve_cwd(flag: &str) -> String {
    if !flag.trim().is_empty() {
        return flag.trim().to_string();
    }
    if let Ok(b) = std::env::var("BUILD_WORKING_DIRECTORY") {
        let mut dir: Option<&Path> = Some(Path::new(&b));
        while let Some(d) = dir {
            if is_checkout(d) {
                return d.display().to_string();
            }
            dir = d.parent();
        }
    }
    std::env::current_dir()
        .unwrap_or_else(|_| PathBuf::from("."))
        .display()
        .to_string()
}

fn is_checkout(d: &Path) -> bool {
    d.join("Cargo.toml").is_file() && d.join("core").is_dir() && d.join("bin/src/main.rs").is_file()
}

pub fn run(args: &[String]) -> Result<(), CliError> {
    let mut s = Settings::defaults("");
    let mut cwd_flag = String::new();
    let mut words = vec![];
    let mut flags = vec![];
    let valued = [
        "cwd",
        "model",
        "model-provider",
        "approval-policy",
        "sandbox-type",
        "developer-instructions",
        "effort",
        "summary",
        "login-timeout",
    ];
    let mut it = args.iter();
    while let Some(w) = it.next() {
        if let Some(name) = w.strip_prefix("--") {
            flags.push(w.clone());
            if !name.contains('=') && valued.contains(&name) {
                if let Some(v) = it.next() {
                    flags.push(v.clone());
                }
            }
        } else {
            words.push(w.clone());
        }
    }
    let mut a = Args::new("codex assistant", &flags);
    while let Some(f) = a.next_flag()? {
        match f.as_str() {
            "cwd" => cwd_flag = a.value("cwd")?,
            "model" => s.model = a.value("model")?,
            "model-provider" => s.model_provider = a.value("model-provider")?,
            "approval-policy" => s.approval_policy = a.value("approval-policy")?,
            "sandbox-type" => s.sandbox = a.value("sandbox-type")?,
            "developer-instructions" => {
                s.developer_instructions = a.value("developer-instructions")?
            }
            "effort" => s.effort = a.value("effort")?,
            "summary" => s.summary = a.value("summary")?,
            "login-timeout" => {
                let v = a.value("login-timeout")?;
                s.login_timeout = parse_duration(&v).ok_or_else(|| {
                    CliError::Usage(format!(
                        "codex assistant: --login-timeout {v:?}: use e.g. 5m, 90s"
                    ))
                })?;
            }
            "help" | "h" => {
                println!("Usage: tunnel-client codex assistant [prompt...] [--cwd DIR] [--model M] [--model-provider P] [--approval-policy never] [--sandbox-type workspace-write] [--developer-instructions TEXT] [--effort medium] [--summary S] [--login-timeout 5m]\n\nWith a prompt (or piped stdin): one answer. On a terminal without one: a chat (/model, /new, /exit).");
                return Ok(());
            }
            other => return Err(a.unknown(other, &valued)),
        }
    }
    s.cwd = resolve_cwd(&cwd_flag);
    let interactive = std::io::stdin().is_terminal();

    let mut bridge = Bridge::start(Duration::from_secs(25))
        .map_err(|e| CliError::Io(format!("start codex app-server bridge: {e}")))?;
    ensure_login(&mut bridge, interactive, s.login_timeout)?;

    let prompt = words.join(" ").trim().to_string();
    if !prompt.is_empty() {
        let thread = start_thread(&mut bridge, &s)?;
        return ask(&mut bridge, &s, &thread, &prompt);
    }
    if !interactive {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::Io(format!("read prompt from stdin: {e}")))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(CliError::Usage(
                "assistant prompt is required when stdin is empty".into(),
            ));
        }
        let thread = start_thread(&mut bridge, &s)?;
        return ask(&mut bridge, &s, &thread, text);
    }
    repl(&mut bridge, &mut s)
}

fn ensure_login(b: &mut Bridge, interactive: bool, timeout: Duration) -> Result<(), CliError> {
    if !b.snapshot().needs_login() {
        return Ok(());
    }
    if !interactive {
        return Err(CliError::Config(
            "Codex is logged out; rerun `tunnel-client codex assistant` in a terminal to complete device-code login".into(),
        ));
    }
    let r = b
        .call(
            "account/login/start",
            json!({"type": "chatgptDeviceCode"}),
            Duration::from_secs(120),
        )
        .map_err(|e| CliError::Io(format!("start Codex device-code login: {e}")))?;
    let kind = r["type"].as_str().unwrap_or("");
    if kind != "chatgptDeviceCode" {
        return Err(CliError::Io(format!(
            "unexpected login response type {kind:?}"
        )));
    }
    eprintln!("Codex login required.");
    eprintln!("Open: {}", r["verificationUrl"].as_str().unwrap_or(""));
    eprintln!("Code: {}", r["userCode"].as_str().unwrap_or(""));
    eprintln!(
        "Waiting for login completion (timeout {})...",
        fmt_duration(timeout)
    );
    let until = Instant::now() + timeout;
    loop {
        let snap = b.snapshot();
        if !snap.account.kind.is_empty() {
            eprintln!("Codex login complete.");
            return Ok(());
        }
        if !snap.login.pending && !snap.login.error.is_empty() {
            return Err(CliError::Io(format!(
                "Codex login failed: {}",
                snap.login.error
            )));
        }
        if let Some(d) = b.exited() {
            return Err(CliError::Io(format!("assistant bridge stopped: {d}")));
        }
        if Instant::now() >= until {
            return Err(CliError::Io("timed out waiting for Codex login".into()));
        }
        // Events are only needed for their side effects on the snapshot here.
        let _ = b.next_event((Instant::now() + Duration::from_millis(500)).min(until));
    }
}

fn start_thread(b: &mut Bridge, s: &Settings) -> Result<String, CliError> {
    let r = b
        .call("thread/start", thread_params(s), Duration::from_secs(120))
        .map_err(|e| CliError::Io(format!("start assistant thread: {e}")))?;
    r["thread"]["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Io("start assistant thread: the response has no thread id".into()))
}

fn idle_limit() -> Duration {
    std::env::var("TUNNEL_CLIENT_CODEX_TURN_IDLE_TIMEOUT")
        .ok()
        .and_then(|v| parse_duration(v.trim()))
        .unwrap_or(Duration::from_secs(120))
}

struct Spinner {
    tty: bool,
    on: bool,
    frame: usize,
}

impl Spinner {
    fn start(tty: bool) -> Spinner {
        if !tty {
            eprintln!("assistant> waiting for response...");
        }
        let mut s = Spinner {
            tty,
            on: true,
            frame: 0,
        };
        s.tick();
        s
    }
    fn tick(&mut self) {
        if self.tty && self.on {
            let c = ['|', '/', '-', '\\'][self.frame % 4];
            self.frame += 1;
            eprint!("\rassistant> waiting for response... {c}");
        }
    }
    fn stop(&mut self) {
        if self.tty && self.on {
            eprint!("\r\x1b[2K");
        }
        self.on = false;
    }
}

/// One prompt: inject knowledge, start the turn, stream it.
pub fn ask(b: &mut Bridge, s: &Settings, thread: &str, prompt: &str) -> Result<(), CliError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(CliError::Usage("assistant prompt is required".into()));
    }
    if let Some(item) = kb::knowledge_item(prompt) {
        b.call(
            "thread/inject_items",
            json!({"threadId": thread, "items": [item]}),
            Duration::from_secs(120),
        )
        .map_err(|e| CliError::Io(format!("inject assistant knowledge base context: {e}")))?;
    }
    let mut tracker = TurnTracker::new();
    let mut spinner = Spinner::start(std::io::stderr().is_terminal());
    let resp = match b.call(
        "turn/start",
        turn_params(s, thread, prompt),
        Duration::from_secs(120),
    ) {
        Ok(r) => r,
        Err(e) => {
            spinner.stop();
            return Err(CliError::Io(format!("start assistant turn: {e}")));
        }
    };
    let mut out = std::io::stdout().lock();
    let mut printed = false;
    let idle = idle_limit();
    let mut last = Instant::now();
    let mut pending = tracker.on_response(&resp);
    loop {
        for step in pending.drain(..) {
            match step {
                TurnStep::Delta(d) => {
                    if !printed {
                        spinner.stop();
                        eprint!("assistant> ");
                        printed = true;
                    }
                    let _ = out.write_all(d.as_bytes());
                    let _ = out.flush();
                }
                TurnStep::Retrying(m) => {
                    spinner.stop();
                    eprintln!("assistant> Codex is retrying: {m}");
                }
                TurnStep::Finished { final_text, .. } => {
                    spinner.stop();
                    if let Some(t) = final_text {
                        eprint!("assistant> ");
                        let _ = out.write_all(t.as_bytes());
                        printed = true;
                    }
                    if printed {
                        let _ = out.write_all(b"\n");
                    }
                    let _ = out.flush();
                    return Ok(());
                }
                TurnStep::Failed(m) => {
                    spinner.stop();
                    if printed {
                        let _ = out.write_all(b"\n");
                        let _ = out.flush();
                    }
                    return Err(CliError::Io(b.with_diagnostics(&m)));
                }
            }
        }
        let tick = Instant::now() + Duration::from_millis(120);
        let deadline = tick.min(last + idle);
        match b.next_event(deadline) {
            Some(Event::Notification(n)) => {
                if tracker.concerns(&n) {
                    last = Instant::now();
                }
                pending = tracker.on_notice(&n);
            }
            Some(Event::ServerRequest { method, answer }) => {
                last = Instant::now();
                spinner.stop();
                eprintln!("assistant> {answer} a {method} request from Codex");
            }
            Some(Event::Exited(d)) => {
                spinner.stop();
                return Err(CliError::Io(
                    b.with_diagnostics(&format!("assistant bridge stopped: {d}")),
                ));
            }
            Some(_) => {}
            None => {
                if b.exited().is_some() && Instant::now() < last + idle {
                    spinner.stop();
                    return Err(CliError::Io(
                        b.with_diagnostics("assistant event stream closed unexpectedly"),
                    ));
                }
                if Instant::now() >= last + idle {
                    spinner.stop();
                    let id = tracker.turn_id().unwrap_or("?").to_string();
                    return Err(CliError::Io(b.with_diagnostics(&format!(
                        "assistant turn stalled after turn/start: turn {id} produced no completion or output for {}",
                        fmt_duration(idle)
                    ))));
                }
                spinner.tick();
            }
        }
    }
}

fn repl(b: &mut Bridge, s: &mut Settings) -> Result<(), CliError> {
    eprintln!("Starting Codex assistant. Type /exit to quit, /new to start a fresh chat, and /model to inspect or change model/reasoning.");
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut thread: Option<String> = None;
    let mut line = String::new();
    loop {
        eprint!("you> ");
        line.clear();
        let n = std::io::Read::take(&mut input, 1 << 20)
            .read_line(&mut line)
            .map_err(|e| CliError::Io(format!("read prompt: {e}")))?;
        if n == 0 {
            eprintln!();
            return Ok(());
        }
        let text = line.trim();
        match text {
            "" => continue,
            "/exit" | "/quit" => return Ok(()),
            "/new" => {
                thread = None;
                eprintln!("Starting a fresh chat on the next prompt.");
                continue;
            }
            _ => {}
        }
        if text == "/model" || text.starts_with("/model ") {
            eprintln!("{}", model_command(s, &text["/model".len()..]));
            continue;
        }
        let t = match &thread {
            Some(t) => t.clone(),
            None => {
                let t = start_thread(b, s)?;
                thread = Some(t.clone());
                t
            }
        };
        ask(b, s, &t, text)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_command_forms() {
        let mut s = Settings::defaults("/w");
        assert_eq!(
            model_command(&mut s, ""),
            "model> model=default reasoning=medium"
        );
        assert_eq!(
            model_command(&mut s, " HIGH"),
            "model> model=default reasoning=high"
        );
        assert_eq!(
            model_command(&mut s, "gpt-x"),
            "model> model=gpt-x reasoning=high"
        );
        assert_eq!(
            model_command(&mut s, "- low"),
            "model> model=gpt-x reasoning=low"
        );
        assert_eq!(
            model_command(&mut s, "gpt-y medium extra"),
            "model> model=gpt-y reasoning=medium"
        );
        assert_eq!(
            model_command(&mut s, "gpt-z extreme"),
            "model> unknown reasoning \"extreme\"; expected one of: low, medium, high"
        );
        assert_eq!(s.model, "gpt-y", "a rejected form changes nothing");
        // Go's quirk, kept: an unknown single word is a model name.
        model_command(&mut s, "xhigh");
        assert_eq!(s.model, "xhigh");
    }

    #[test]
    fn params_use_the_spellings_codex_accepts() {
        let mut s = Settings::defaults("/w");
        s.sandbox = "workspaceWrite".into();
        let t = thread_params(&s);
        assert_eq!(t["sandbox"], "workspace-write");
        assert_eq!(t["approvalPolicy"], "never");
        let di = t["developerInstructions"].as_str().unwrap();
        assert!(di.contains("Treat the request as being about tunnel-client"));
        assert!(di.contains("avoid broad repository scans"));
        assert!(di.contains("Stay focused on this workspace root: /w"));
        let u = turn_params(&s, "T", "hi");
        assert_eq!(u["sandboxPolicy"]["type"], "workspaceWrite");
        assert_eq!(u["effort"], "medium");
        assert!(u.get("model").is_none());
    }
}
