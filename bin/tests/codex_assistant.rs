//! `codex assistant` against the fake Codex: one-shot, stdin, failures, and the REPL on a
//! pseudo-terminal (including device-code login and `/model`).
#![cfg(unix)] // symlinked fake codex, modes, a pty

mod codex_support;

use codex_support::*;
use serde_json::Value;

fn captured(sb: &Sandbox) -> Vec<Value> {
    std::fs::read_to_string(sb.root.join("capture.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sandbox(tag: &str) -> Sandbox {
    let mut sb = Sandbox::new(tag, true);
    let cap = sb.root.join("capture.jsonl").display().to_string();
    sb.set("FAKE_CODEX_CAPTURE", &cap);
    sb
}

#[test]
fn one_shot_streams_the_reply_with_default_params_and_knowledge() {
    let sb = sandbox("oneshot");
    let o = sb.run(&[
        "codex",
        "assistant",
        "How",
        "do",
        "I",
        "run",
        "a",
        "stdio",
        "MCP",
        "server?",
    ]);
    let out = ok(&o);
    assert_eq!(out, "assistant heard: How do I run a stdio MCP server?\n");
    let err = text(&o.stderr);
    assert!(
        err.contains("assistant> waiting for response...\n"),
        "{err}"
    );
    let msgs = captured(&sb);
    let by = |m: &str| {
        msgs.iter()
            .find(|v| v["method"] == m)
            .cloned()
            .unwrap_or_else(|| panic!("no {m}"))
    };
    let ts = by("thread/start");
    assert_eq!(ts["params"]["approvalPolicy"], "never");
    assert_eq!(ts["params"]["sandbox"], "workspace-write");
    assert_eq!(ts["params"]["cwd"], sb.root.display().to_string());
    assert!(ts["params"]["developerInstructions"]
        .as_str()
        .unwrap()
        .contains("Stay focused on this workspace root: "));
    let turn = by("turn/start");
    assert_eq!(turn["params"]["effort"], "medium");
    assert_eq!(turn["params"]["sandboxPolicy"]["type"], "workspaceWrite");
    assert!(turn["params"].get("model").is_none());
    let inject = by("thread/inject_items");
    let kb = inject["params"]["items"][0]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(kb.contains("docs/stdio.md"), "{kb}");
    assert!(
        !kb.contains("How do I run a stdio MCP server?"),
        "the prompt is not echoed"
    );
    // The inject comes before the turn.
    let pos = |m: &str| msgs.iter().position(|v| v["method"] == m).unwrap();
    assert!(pos("thread/inject_items") < pos("turn/start"));
    assert!(msgs.iter().all(|v| v.get("jsonrpc").is_none()));
}

#[test]
fn prompt_from_stdin_flags_and_empty_stdin() {
    let sb = sandbox("stdin");
    let o = sb.run_stdin(
        &[
            "codex",
            "assistant",
            "--model",
            "gpt-x",
            "--effort",
            "high",
            "--cwd",
            "/w",
        ],
        "  from a pipe \n",
    );
    assert_eq!(ok(&o), "assistant heard: from a pipe\n");
    let turn = captured(&sb)
        .into_iter()
        .find(|v| v["method"] == "turn/start")
        .unwrap();
    assert_eq!(turn["params"]["model"], "gpt-x");
    assert_eq!(turn["params"]["effort"], "high");
    assert_eq!(turn["params"]["cwd"], "/w");
    let e = fail(&sb.run_stdin(&["codex", "assistant"], "   \n"));
    assert!(
        e.contains("assistant prompt is required when stdin is empty"),
        "{e}"
    );
}

#[test]
fn scenarios_that_still_answer() {
    for (scenario, stderr_has) in [
        ("final_only", ""),
        (
            "retry_then_ok",
            "assistant> Codex is retrying: Reconnecting... 2/5",
        ),
        ("garbage_line", ""),
        ("huge_line", ""),
        (
            "server_request",
            "declined a item/commandExecution/requestApproval request from Codex",
        ),
    ] {
        let mut sb = sandbox(scenario);
        sb.set("FAKE_CODEX_SCENARIO", scenario);
        let o = sb.run(&["codex", "assistant", "ping"]);
        assert_eq!(ok(&o), "assistant heard: ping\n", "{scenario}");
        assert!(
            text(&o.stderr).contains(stderr_has),
            "{scenario}: {}",
            text(&o.stderr)
        );
    }
    let mut sb = sandbox("interrupted");
    sb.set("FAKE_CODEX_SCENARIO", "interrupted");
    let o = sb.run(&["codex", "assistant", "ping"]);
    assert_eq!(
        ok(&o),
        "",
        "an interrupted turn ends quietly and successfully"
    );
}

#[test]
fn failures_name_the_cause() {
    let mut sb = sandbox("fail");
    sb.set("FAKE_CODEX_SCENARIO", "turn_error");
    let e = fail(&sb.run(&["codex", "assistant", "x"]));
    assert!(
        e.contains("assistant turn failed: ") && e.contains("mock says bad request"),
        "{e}"
    );

    sb.set("FAKE_CODEX_SCENARIO", "exit_mid_turn");
    let e = fail(&sb.run(&["codex", "assistant", "x"]));
    assert!(
        e.contains("assistant bridge stopped: exit status: 3"),
        "{e}"
    );

    sb.set("FAKE_CODEX_SCENARIO", "stall_after_turn_start")
        .set("TUNNEL_CLIENT_CODEX_TURN_IDLE_TIMEOUT", "1s");
    let e = fail(&sb.run(&["codex", "assistant", "x"]));
    assert!(
        e.contains("assistant turn stalled after turn/start: turn 01a21435-"),
        "{e}"
    );
    assert!(e.contains("produced no completion or output for 1s"), "{e}");
    assert!(
        e.contains("recent stderr: turn started but no completion arrived"),
        "{e}"
    );

    sb.set("FAKE_CODEX_SCENARIO", "ok")
        .set("FAKE_CODEX_AUTH", "logged_out");
    let e = fail(&sb.run(&["codex", "assistant", "x"]));
    assert!(e.contains("Codex is logged out; rerun `tunnel-client codex assistant` in a terminal to complete device-code login"), "{e}");

    sb.set("FAKE_CODEX_SCENARIO", "no_app_server");
    let e = fail(&sb.run(&["codex", "assistant", "x"]));
    assert!(e.contains("start codex app-server bridge: "), "{e}");
}

#[test]
fn repl_on_a_terminal_logs_in_switches_model_and_keeps_the_thread() {
    let mut sb = sandbox("repl");
    sb.set("FAKE_CODEX_AUTH", "logged_out");
    let mut pty = Pty::spawn(sb.command(&["codex", "assistant"]));
    pty.expect("Codex login required.");
    pty.expect("Open: https://auth.openai.com/codex/device");
    pty.expect("Code: ABCD-EFGH");
    pty.expect("Waiting for login completion (timeout 5m0s)...");
    pty.expect("Codex login complete.");
    pty.expect("Starting Codex assistant. Type /exit to quit");
    pty.expect("you> ");
    pty.send("/model");
    pty.expect("model> model=default reasoning=medium");
    pty.send("/model gpt-x high");
    pty.expect("model> model=gpt-x reasoning=high");
    pty.send("first question");
    pty.expect("assistant heard: first question");
    pty.expect_n("you> ", 4);
    pty.send("/model - low");
    pty.expect("model> model=gpt-x reasoning=low");
    pty.send("second question");
    pty.expect("assistant heard: second question");
    pty.send("/new");
    pty.expect("Starting a fresh chat on the next prompt.");
    pty.send("third");
    pty.expect("assistant heard: third");
    pty.send("/exit");
    assert!(pty.wait().success(), "{}", pty.seen());
    let seen = pty.seen();
    assert!(
        seen.contains("\rassistant> waiting for response... "),
        "spinner on a TTY"
    );
    let msgs = captured(&sb);
    let turns: Vec<&Value> = msgs
        .iter()
        .filter(|v| v["method"] == "turn/start")
        .collect();
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[0]["params"]["model"], "gpt-x");
    assert_eq!(turns[0]["params"]["effort"], "high");
    assert_eq!(turns[1]["params"]["effort"], "low");
    assert_eq!(
        turns[0]["params"]["threadId"], turns[1]["params"]["threadId"],
        "same thread"
    );
    assert_ne!(
        turns[1]["params"]["threadId"], turns[2]["params"]["threadId"],
        "/new starts another"
    );
    assert_eq!(
        msgs.iter()
            .filter(|v| v["method"] == "thread/start")
            .count(),
        2
    );
}

#[test]
fn repl_login_failure_and_eof() {
    let mut sb = sandbox("replfail");
    sb.set("FAKE_CODEX_AUTH", "logged_out")
        .set("FAKE_CODEX_LOGIN", "fail");
    let mut pty = Pty::spawn(sb.command(&["codex", "assistant"]));
    pty.expect("Codex login failed: Login was not completed");
    assert_eq!(pty.wait().code(), Some(1));

    sb.set("FAKE_CODEX_LOGIN", "offline");
    let mut pty = Pty::spawn(sb.command(&["codex", "assistant"]));
    pty.expect("start Codex device-code login: account/login/start: failed to request device code");
    assert_eq!(pty.wait().code(), Some(1));

    sb.set("FAKE_CODEX_AUTH", "chatgpt");
    let mut pty = Pty::spawn(sb.command(&["codex", "assistant"]));
    pty.expect("you> ");
    pty.send("\x04"); // ^D on an empty line: EOF
    assert!(pty.wait().success(), "{}", pty.seen());
}
