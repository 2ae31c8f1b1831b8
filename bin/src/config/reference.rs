//! `docs/configuration.md`, rendered from the settings table.
//!
//! The page is generated so that it cannot drift from what the binary parses: the test
//! `bin/tests/docs_config.rs` fails when the committed page differs from [`markdown`], and
//! `TUNNEL_DOCS_BLESS=1 cargo test -p tunnel-client --test docs_config` rewrites it.

use std::fmt::Write as _;

use super::help::group;
use super::table::{Command, Kind, Sep, Setting, Status, SETTINGS};

/// The committed page, relative to the repository root.
pub const PAGE: &str = "docs/configuration.md";

/// Text for a table cell: `|` escaped, `<`/`>` as entities (so `<name>` is not HTML).
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A code span for a table cell (`|` must still be escaped inside it in GFM tables).
fn code(s: &str) -> String {
    format!("`{}`", s.replace('|', "\\|"))
}

fn value_form(k: Kind) -> &'static str {
    match k {
        Kind::Str => "string",
        Kind::Path => "path, `env:VAR` or `file:/path`",
        Kind::Proxy => "proxy URL or `env:VAR`",
        Kind::Int => "integer",
        Kind::Bool => "boolean (a bare flag means true)",
        Kind::Duration => "duration (`500ms`, `30s`, `1m30s`)",
        Kind::List(Sep::Comma) => "list; repeat the flag; env comma-separated",
        Kind::List(Sep::Newline) => "list; repeat the flag; env one per line",
        Kind::List(Sep::SemicolonOrNewline) => "list; repeat the flag; env `;` or one per line",
        Kind::Headers => "`Name: Value`; repeat the flag; env split on `,`/`;`; YAML map",
        Kind::McpServerUrls => "URL or `channel=C,url=U[,…]`; repeatable; env one per line",
        Kind::McpCommands => "command line or `channel=C,command=…`; repeatable; env one per line",
        Kind::HarpoonTargets => "`label=…,url=…[,…]`; repeatable",
        Kind::Secret => "flag/YAML: `env:VAR` or `file:/path`; env var: the literal value",
    }
}

fn flag_cell(s: &Setting) -> String {
    let mut out = code(s.flag);
    if let Some(a) = s.alias {
        let _ = write!(out, "<br>alias {}", code(a));
    }
    out
}

fn env_cell(s: &Setting) -> String {
    if s.env.is_empty() {
        return "–".into();
    }
    s.env
        .iter()
        .map(|e| code(e))
        .collect::<Vec<_>>()
        .join(", then ")
}

fn notes(s: &Setting) -> String {
    let mut out = cell(s.help);
    let mut marks = Vec::new();
    if s.secret {
        marks.push("**secret**: never printed, logged or put in bundles".to_string());
    }
    if s.status == Status::NotYet {
        marks.push("**not supported yet**: a non-default value stops `run`".to_string());
    }
    match s.commands {
        [Command::Run] => marks.push("`run` only".into()),
        [Command::Doctor] => marks.push("`doctor` only".into()),
        _ => {}
    }
    for m in marks {
        let _ = write!(out, "<br>{m}");
    }
    out
}

/// The whole page.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Configuration reference\n\n\
<!-- Generated from bin/src/config/table.rs by bin/src/config/reference.rs. Do not edit by hand:\n\
     TUNNEL_DOCS_BLESS=1 cargo test -p tunnel-client --test docs_config -->\n\n\
Every setting of `tunnel-client run` and `tunnel-client doctor`, from the one table the\n\
binary parses its flags, environment variables and YAML profiles with. `tunnel-client run\n\
--help` prints the same list. The names are the Go client's, so a Go command line, env file\n\
or profile works unchanged.\n\n\
## Where a value comes from\n\n\
1. a flag (`--control-plane.tunnel-id tunnel_…` or `--control-plane.tunnel-id=tunnel_…`);\n\
2. else its environment variable; a variable that is set but empty hides the YAML value\n   \
and the default applies;\n\
3. else the YAML key of the selected file (`--config`, `--profile` or `--profile-file`);\n\
4. else the default.\n\n\
Flags with a dash alias (`--control-plane-tunnel-id`) accept it only when the canonical\n\
flag is not given. Secrets are never literal on the command line or in a profile: the flag\n\
and the YAML key take a reference, `env:VAR` (the variable holds the value) or\n\
`file:/path` (the file does). `doctor` shows which source won for each value, never the\n\
secret itself.\n\n\
Settings marked **not supported yet** are parsed and validated so that a Go profile loads,\n\
but `run` and `doctor` stop with ``` `NAME` is not supported yet (set by ORIGIN) ``` when\n\
one is set to anything but its default. Remove the setting to run this version.\n\n\
Environment variables outside this table that the client reads: `OPENAI_ADMIN_KEY`\n\
(`tunnel-client admin` only), `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY`\n\
(control-plane requests, when no explicit proxy is set; see [enterprise.md](enterprise.md)),\n\
`XDG_CONFIG_HOME` and `HOME` (the default profile directory), `VISUAL` / `EDITOR`\n\
(`profiles edit`).\n\n\
`doctor` also takes `--offline` (skip every network probe); the other commands (`init`,\n\
`profiles`, `admin`, `health`, `dev`) have flags of their own: see [cli.md](cli.md),\n\
[run.md](run.md) and `tunnel-client <command> --help`.\n",
    );
    let mut last = "";
    for s in SETTINGS {
        let g = group(s.name());
        if g != last {
            let _ = write!(
                out,
                "\n## {g}\n\n| flag | env var | YAML key | default | value | meaning |\n|---|---|---|---|---|---|\n"
            );
            last = g;
        }
        let default = match s.default {
            None => "–".to_string(),
            Some("") => "empty".to_string(),
            Some(d) => code(d),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            flag_cell(s),
            env_cell(s),
            s.yaml.map(code).unwrap_or_else(|| "–".into()),
            default,
            value_form(s.kind),
            notes(s),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_row_with_its_marks() {
        let page = markdown();
        for s in SETTINGS {
            let row = page
                .lines()
                .find(|l| l.starts_with(&format!("| `{}`", s.flag)))
                .unwrap_or_else(|| panic!("no row for {}", s.flag));
            assert_eq!(
                row.contains("not supported yet"),
                s.status == Status::NotYet
            );
            assert_eq!(row.contains("**secret**"), s.secret, "{}", s.flag);
            for e in s.env {
                assert!(row.contains(e), "{} lacks {e}", s.flag);
            }
            if let Some(y) = s.yaml {
                assert!(row.contains(y), "{} lacks {y}", s.flag);
            }
        }
    }
}
