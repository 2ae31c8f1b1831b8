//! The doctor report: checks, the text layout of the Go client (so scripts that read
//! `CHECK`/`RESULT`/`FAILED_CHECKS` lines keep working), `--explain` blocks and `--json`.

use std::fmt::Write as _;

use serde::Serialize;

/// A check's outcome. WARN is ours (Go has PASS/FAIL/SKIP): a finding that does not stop
/// `run` but deserves attention. Only FAIL makes the result `fail` (exit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "SKIP")]
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: String,
    pub status: Status,
    pub summary: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<String>,
}

impl Check {
    pub fn new(id: &str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            id: id.to_string(),
            status,
            summary: summary.into(),
            why: String::new(),
            evidence: Vec::new(),
            next: Vec::new(),
        }
    }
    pub fn pass(id: &str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Pass, summary)
    }
    pub fn fail(id: &str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Fail, summary)
    }
    pub fn warn(id: &str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Warn, summary)
    }
    pub fn skip(id: &str, summary: impl Into<String>) -> Check {
        Check::new(id, Status::Skip, summary)
    }
    pub fn why(mut self, w: impl Into<String>) -> Check {
        self.why = w.into();
        self
    }
    pub fn evidence(mut self, e: impl IntoIterator<Item = impl Into<String>>) -> Check {
        self.evidence.extend(e.into_iter().map(Into::into));
        self
    }
    pub fn next(mut self, n: impl IntoIterator<Item = impl Into<String>>) -> Check {
        self.next.extend(n.into_iter().map(Into::into));
        self
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub result: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// `next` is the command to run when everything passed; it is dropped on failure.
    pub fn new(checks: Vec<Check>, next: String) -> Report {
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.id.clone())
            .collect();
        let ok = failed.is_empty();
        Report {
            result: if ok { "ok" } else { "fail" },
            failed_checks: failed,
            next: if ok { next } else { String::new() },
            checks,
        }
    }

    pub fn ok(&self) -> bool {
        self.result == "ok"
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn text(&self, explain: bool) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let _ = writeln!(
                out,
                "CHECK {:<24} {:<4} {}",
                c.id,
                c.status.as_str(),
                c.summary
            );
        }
        if self.ok() {
            out.push_str("\nRESULT ok\n");
            if !self.next.is_empty() {
                let _ = writeln!(out, "NEXT   {}", self.next);
            }
        } else {
            out.push_str("\nRESULT fail\n");
            let _ = writeln!(out, "FAILED_CHECKS {}", self.failed_checks.join(","));
            out.push_str("EXIT_CODE 2\n");
        }
        if !explain {
            return out;
        }
        for c in self.checks.iter().filter(|c| c.status != Status::Pass) {
            let _ = write!(out, "\nCHECK {}   {}\n", c.id, c.status.as_str());
            if !c.why.is_empty() {
                let _ = write!(out, "Why this matters:\n  {}\n", c.why);
            }
            if !c.evidence.is_empty() {
                out.push_str("\nEvidence:\n");
                for e in &c.evidence {
                    let _ = writeln!(out, "  - {e}");
                }
            }
            if !c.next.is_empty() {
                out.push_str("\nWhat to do next:\n");
                for (i, n) in c.next.iter().enumerate() {
                    let _ = writeln!(out, "  {}. {n}", i + 1);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_go_client() {
        let r = Report::new(
            vec![
                Check::pass("config_source", "flags/environment only"),
                Check::fail("tunnel_id", "tunnel ID is required")
                    .why("w")
                    .evidence(["e"])
                    .next(["n1", "n2"]),
            ],
            "tunnel-client run".into(),
        );
        let t = r.text(true);
        assert!(
            t.starts_with("CHECK config_source            PASS flags/environment only\n"),
            "{t}"
        );
        assert!(
            t.contains("\nRESULT fail\nFAILED_CHECKS tunnel_id\nEXIT_CODE 2\n"),
            "{t}"
        );
        assert!(t.contains("\nCHECK tunnel_id   FAIL\nWhy this matters:\n  w\n\nEvidence:\n  - e\n\nWhat to do next:\n  1. n1\n  2. n2\n"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(j["result"], "fail");
        assert!(j.get("next").is_none());
        assert_eq!(j["checks"][1]["status"], "FAIL");
        assert!(j["checks"][0].get("why").is_none());
    }
}
