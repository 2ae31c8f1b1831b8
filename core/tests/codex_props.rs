//! Property test of the Codex app-server session: any mix of recorded server lines, server
//! requests with colliding ids, truncated and random lines keeps the invariants of
//! `check_codex_app_server` (every server request answered once, nothing we write malformed,
//! a turn ends at most once).

#[path = "../../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;

const TRANSCRIPTS: &str = include_str!("data/codex-app-server-0.169.0-transcripts.jsonl");

fn server_lines() -> Vec<String> {
    TRANSCRIPTS
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["dir"] == "out")
        .map(|r| r["msg"].to_string())
        .collect()
}

fn line() -> impl Strategy<Value = String> {
    let recorded = server_lines();
    prop_oneof![
        4 => proptest::sample::select(recorded.clone()),
        2 => (proptest::sample::select(recorded), any::<usize>())
            .prop_map(|(l, cut)| l[..l.floor_char_boundary_compat(cut % (l.len() + 1))].to_string()),
        2 => (0u64..8, "[a-z/]{1,30}").prop_map(|(id, m)| format!(r#"{{"id":{id},"method":"{m}","params":{{}}}}"#)),
        1 => (0u64..8).prop_map(|id| format!(r#"{{"id":{id},"result":{{"turn":{{"id":"t{id}"}}}}}}"#)),
        1 => "\\PC{0,40}",
    ]
}

trait Floor {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}
impl Floor for String {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn session_invariants_hold_for_any_server_output(lines in proptest::collection::vec(line(), 0..40)) {
        checks::check_codex_app_server(lines.join("\n").as_bytes());
    }
}
