//! `docs/configuration.md` is generated from the settings table: this test fails when the
//! committed page differs from what the table renders, so the page cannot drift from the
//! flags, env vars and YAML keys the binary accepts.
//!
//! Regenerate after changing `bin/src/config/table.rs`:
//! `TUNNEL_DOCS_BLESS=1 cargo test -p tunnel-client --test docs_config`

use std::path::PathBuf;

use tunnel_client::config::reference;

#[test]
fn configuration_page_matches_the_settings_table() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(reference::PAGE);
    let want = reference::markdown();
    if std::env::var_os("TUNNEL_DOCS_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "{} is out of date with bin/src/config/table.rs (first difference at line {}):\n  page:  {:?}\n  table: {:?}\nregenerate it: TUNNEL_DOCS_BLESS=1 cargo test -p tunnel-client --test docs_config",
            reference::PAGE,
            line + 1,
            have.lines().nth(line).unwrap_or("<end of page>"),
            want.lines().nth(line).unwrap_or("<end of page>"),
        );
    }
}
