//! Every trace of `conformance/traces/` replayed against the sans-IO engine under virtual
//! time. The blocking and smol adapters replay the same files in their own test suites.
//!
//! `TRACE_BLESS=1 cargo test -p tunnel-conformance --test traces_core` rewrites the post
//! lines of every trace from what the engine posted (scripted answers are kept). Review the
//! diff: a blessed trace is only as right as the engine that produced it.

use std::collections::BTreeMap;

use tunnel_conformance::trace::engine::REPLAY_API_KEY;
use tunnel_conformance::trace::format::{PostLine, Req};
use tunnel_conformance::trace::{check, replay_core, suite_dir, trace_files, Subst, Trace};

fn load_all() -> Vec<(std::path::PathBuf, Trace)> {
    trace_files(&suite_dir())
        .into_iter()
        .map(|p| {
            let t = Trace::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, t)
        })
        .collect()
}

#[test]
fn suite_has_at_least_forty_traces_named_after_their_scenarios() {
    let all = load_all();
    assert!(all.len() >= 40, "only {} traces", all.len());
    for (p, t) in &all {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert_eq!(
            stem,
            t.header.name,
            "{}: file name and scenario differ",
            p.display()
        );
        assert!(
            !t.header.description.is_empty(),
            "{}: no description",
            p.display()
        );
    }
}

fn bless(t: &Trace, run: &tunnel_conformance::trace::core_replay::CoreRun) -> Trace {
    let mut posts: Vec<(u64, PostLine)> = Vec::new();
    for (rid, seen) in &run.observations.posts {
        let old = t.posts_for(rid);
        for (k, s) in seen.iter().enumerate() {
            let prev = old.get(k).map(|l| (*l).clone());
            let mut headers = BTreeMap::new();
            for name in [
                "content-type",
                "x-tunnel-shard-token",
                "x-client-request-id",
            ] {
                if let Some(v) = s.header(name) {
                    headers.insert(name.to_string(), v.to_string());
                }
            }
            let json = serde_json::from_slice(&s.body).ok();
            let line = match prev {
                Some(mut l) => {
                    l.request.json = json;
                    l.request.headers = headers;
                    l
                }
                None => PostLine {
                    request_id: rid.clone(),
                    request: Req {
                        headers,
                        json,
                        ..Req::default()
                    },
                    ..PostLine::default()
                },
            };
            posts.push((s.at_ms, line));
        }
    }
    posts.sort_by_key(|(at, _)| *at);
    let mut out = t.clone();
    out.posts = posts.into_iter().map(|(_, l)| l).collect();
    out
}

#[test]
fn every_trace_replays_on_the_core() {
    let bless_mode = std::env::var_os("TRACE_BLESS").is_some();
    let subst = Subst {
        api_key: REPLAY_API_KEY.into(),
    };
    let mut failures = Vec::new();
    let mut ran = 0;
    for (path, t) in load_all() {
        // TRACE_FILTER=substring limits the run (and a bless) to matching traces.
        if std::env::var("TRACE_FILTER").is_ok_and(|f| !t.header.name.contains(&f)) {
            continue;
        }
        if let Some(why) = t.header.skip.get("core") {
            eprintln!("skip {}: {why}", t.header.name);
            continue;
        }
        let run = match replay_core(&t) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e}", t.header.name));
                continue;
            }
        };
        ran += 1;
        if bless_mode {
            let blessed = bless(&t, &run);
            if blessed != t {
                std::fs::write(&path, blessed.to_jsonl()).unwrap();
                eprintln!("blessed {}", path.display());
            }
            continue;
        }
        if let Err(d) = check(&t, "core", &run.observations, &subst) {
            failures.push(format!(
                "{d}\n  engine events:\n{}",
                run.events
                    .iter()
                    .map(|e| format!("    {e}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} traces diverged:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("{ran} traces replayed on the core");
}

/// The suite is only worth something if a client that behaves differently fails it: each
/// mutation of a passing trace must be reported, at the right exchange, with both sides.
#[test]
fn a_trace_that_no_longer_matches_is_reported_with_both_sides() {
    let subst = Subst {
        api_key: REPLAY_API_KEY.into(),
    };
    let path = suite_dir().join("stdio_colliding_ids_remapped.jsonl");
    let good = std::fs::read_to_string(&path).unwrap();
    let verdict = |text: &str| {
        let t = Trace::parse(text).unwrap();
        let run = replay_core(&t).unwrap();
        check(&t, "core", &run.observations, &subst).map_err(|d| d.to_string())
    };
    assert!(verdict(&good).is_ok());

    // The child is expected to receive something else: the line is never matched, and what
    // the child did receive is reported.
    let quick = good.replace(
        r#""arguments":{},"name":"fast"}"#,
        r#""arguments":{},"name":"quick"}"#,
    );
    assert_ne!(quick, good);
    let e = verdict(&quick).unwrap_err();
    assert!(
        e.contains("a line to the stdio child of channel main"),
        "{e}"
    );
    assert!(e.contains(r#""name":"fast""#), "{e}");
    assert!(e.contains(r#"unmatched stdio lines: {"id":"<$id>""#), "{e}");
    assert!(e.contains(r#""name":"quick""#), "{e}");

    // The connector's id must come back: a post expecting another one diverges there.
    let e =
        verdict(&good.replacen(r#""resp_json":{"id":1"#, r#""resp_json":{"id":9"#, 1)).unwrap_err();
    assert!(e.contains("post #1 for r2"), "{e}");
    assert!(e.contains("/resp_json/id: 9, sent 1"), "{e}");
}
