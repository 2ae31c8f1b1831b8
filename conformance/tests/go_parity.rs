//! Keeps `docs/go-parity.md` honest: one row per scenario of the Go end-to-end catalogue
//! (`go-runtime.md` §11, 82 of them), each with a status and its reason, and every test
//! function or trace a row names must exist — a renamed or deleted test breaks the build
//! instead of leaving the table claiming coverage that is gone.

use std::path::{Path, PathBuf};

const SCENARIOS: u32 = 82;
const STATUSES: [&str; 5] = ["covered", "partly", "not built", "different", "test hook"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// One table row: scenario number, status, references, note.
#[derive(Debug)]
struct Row {
    n: u32,
    status: String,
    refs: Vec<String>,
    note: String,
}

fn parse(table: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| 11.")) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let [num, _scenario, status, refs, note] = cells[..] else {
            return Err(format!("a row needs 5 cells: {line}"));
        };
        let n = num
            .trim_start_matches("11.")
            .parse()
            .map_err(|_| format!("bad scenario number {num:?}"))?;
        let refs = refs
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        rows.push(Row {
            n,
            status: status.to_string(),
            refs,
            note: note.to_string(),
        });
    }
    Ok(rows)
}

/// Whether `file` defines a `#[test]` function named `name`.
fn has_test(file: &str, name: &str) -> bool {
    let lines: Vec<&str> = file.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        let t = l.trim_start();
        let is_fn = t
            .strip_prefix("fn ")
            .and_then(|r| r.strip_prefix(name))
            .is_some_and(|r| r.starts_with('('));
        is_fn
            && lines[i.saturating_sub(3)..i]
                .iter()
                .any(|p| p.trim() == "#[test]")
    })
}

fn has_issue(note: &str) -> bool {
    note.split('#')
        .skip(1)
        .any(|s| s.starts_with(|c: char| c.is_ascii_digit()))
}

/// Every problem with the table, checked against the files under `root`.
fn problems(table: &str, root: &Path) -> Vec<String> {
    let rows = match parse(table) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let mut out = Vec::new();
    let numbers: Vec<u32> = rows.iter().map(|r| r.n).collect();
    if numbers != (1..=SCENARIOS).collect::<Vec<_>>() {
        out.push(format!(
            "rows must be 11.1 … 11.{SCENARIOS}, once each, in order; got {numbers:?}"
        ));
    }
    for r in &rows {
        let at = format!("row 11.{}", r.n);
        if !STATUSES.contains(&r.status.as_str()) {
            out.push(format!("{at}: unknown status {:?}", r.status));
        }
        if r.status != "not built" && r.refs.is_empty() {
            out.push(format!("{at}: {} names no test or trace", r.status));
        }
        match r.status.as_str() {
            "partly" | "not built" if !has_issue(&r.note) => {
                out.push(format!("{at}: {} without the open issue (#N)", r.status))
            }
            "different" if !r.note.contains("DESIGN §5.") => {
                out.push(format!("{at}: different without its DESIGN §5 item"))
            }
            "test hook" if r.note.is_empty() => {
                out.push(format!("{at}: test hook without saying which"))
            }
            _ => {}
        }
        for reference in &r.refs {
            if let Some(name) = reference.strip_prefix("trace:") {
                let path = root
                    .join("conformance/traces")
                    .join(format!("{name}.jsonl"));
                if !path.is_file() {
                    out.push(format!("{at}: no trace {}", path.display()));
                }
            } else if let Some((file, func)) = reference.split_once("::") {
                match std::fs::read_to_string(root.join(file)) {
                    Ok(text) if has_test(&text, func) => {}
                    Ok(_) => out.push(format!("{at}: no #[test] fn {func} in {file}")),
                    Err(e) => out.push(format!("{at}: cannot read {file}: {e}")),
                }
            } else {
                out.push(format!(
                    "{at}: {reference:?} is neither trace:NAME nor FILE::TEST"
                ));
            }
        }
    }
    out
}

#[test]
fn go_parity_table_names_only_tests_and_traces_that_exist() {
    let root = repo();
    let path = root.join("docs/go-parity.md");
    let table = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let found = problems(&table, &root);
    assert!(found.is_empty(), "docs/go-parity.md:\n{}", found.join("\n"));
}

/// The checker itself catches what it is for: a missing test, a missing trace, a renamed
/// function, a missing row and a status without its reason.
#[test]
fn go_parity_checker_rejects_broken_rows() {
    let root = repo();
    let mut table = String::new();
    for n in 1..=SCENARIOS {
        let row = match n {
            1 => "| 11.1 | x | covered | `conformance/tests/go_parity.rs::no_such_test` | |".into(),
            2 => "| 11.2 | x | covered | `trace:no_such_trace` | |".into(),
            3 => "| 11.3 | x | not built | — | later |".into(),
            4 => "| 11.4 | x | different | `trace:poll_204_storm` | because |".into(),
            5 => "| 11.5 | x | covered | `conformance/tests/go_parity.rs::repo` | |".into(),
            6 => continue,
            _ => format!("| 11.{n} | x | covered | `trace:poll_204_storm` | |"),
        };
        table.push_str(&row);
        table.push('\n');
    }
    let found = problems(&table, &root).join("\n");
    for needle in [
        "row 11.1: no #[test] fn no_such_test",
        "row 11.2: no trace",
        "row 11.3: not built without the open issue",
        "row 11.4: different without its DESIGN §5 item",
        "row 11.5: no #[test] fn repo",
        "rows must be 11.1",
    ] {
        assert!(found.contains(needle), "{needle:?} not reported:\n{found}");
    }
    let good = problems(
        &table
            .lines()
            .filter(|l| l.contains("poll_204_storm") && !l.starts_with("| 11.4 "))
            .collect::<Vec<_>>()
            .join("\n"),
        &root,
    );
    assert!(
        good.iter().all(|p| p.starts_with("rows must be")),
        "{good:?}"
    );
}
