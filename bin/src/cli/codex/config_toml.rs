//! The `config.toml` section editor, with the line rules the Go installer and its bundled
//! Python installer share, so all three produce the same file:
//!
//! * a line that starts with `[` and ends with `]` (no trimming) opens a section named by
//!   the text between the outer brackets (`[[a]]` is named `[a]`); text before the first
//!   header is an unnamed section;
//! * removal drops sections whose name matches exactly, with their lines (comments in the
//!   section go with it);
//! * rendering joins each section's lines with `\n`, strips leading/trailing newlines of
//!   each chunk, drops empty chunks, joins chunks with one blank line, ends with one `\n`.
//!
//! A file that needs no change is never rewritten, so untouched files stay byte for byte.
//! `\r` of CRLF files is kept inside lines (and, as in Go, hides a header that ends in `\r`).

/// One section: its header name (None for the preamble) and its lines.
#[derive(Debug, Clone, PartialEq)]
struct Section<'a> {
    name: Option<&'a str>,
    lines: Vec<&'a str>,
}

fn header_name(line: &str) -> Option<&str> {
    if line.len() >= 2 && line.starts_with('[') && line.ends_with(']') {
        Some(&line[1..line.len() - 1])
    } else {
        None
    }
}

fn split(text: &str) -> Vec<Section<'_>> {
    let mut out = vec![Section {
        name: None,
        lines: vec![],
    }];
    for line in text.split('\n') {
        match header_name(line) {
            Some(name) => out.push(Section {
                name: Some(name),
                lines: vec![line],
            }),
            None => out.last_mut().expect("preamble").lines.push(line),
        }
    }
    out
}

fn render(sections: &[Section<'_>], extra: Option<&str>) -> String {
    let mut chunks: Vec<String> = sections
        .iter()
        .map(|s| s.lines.join("\n").trim_matches('\n').to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(e) = extra {
        chunks.push(e.to_string());
    }
    if chunks.is_empty() {
        return String::new();
    }
    let mut s = chunks.join("\n\n");
    s.push('\n');
    s
}

/// The section name our installer owns for a marketplace.
pub fn plugin_section(plugin: &str, marketplace: &str) -> String {
    format!("plugins.\"{plugin}@{marketplace}\"")
}

/// Remove every section named `name`. `None` when there was none (leave the file alone).
pub fn remove_section(text: &str, name: &str) -> Option<String> {
    let sections = split(text);
    let kept: Vec<Section<'_>> = sections
        .iter()
        .filter(|s| s.name != Some(name))
        .cloned()
        .collect();
    if kept.len() == sections.len() {
        return None;
    }
    Some(render(&kept, None))
}

/// Replace section `name` with `[name]\nenabled = true`, appended at the end.
pub fn enable_section(text: &str, name: &str) -> String {
    let kept: Vec<Section<'_>> = split(text)
        .into_iter()
        .filter(|s| s.name != Some(name))
        .collect();
    render(&kept, Some(&format!("[{name}]\nenabled = true")))
}

/// Keys `<plugin>@<marketplace>` of `[plugins."<plugin>@…"]` sections that contain a line
/// which, trimmed, is exactly `enabled = true` (so `enabled=true` does not count, as in Go).
pub fn enabled_plugin_keys(text: &str, plugin: &str) -> Vec<String> {
    let prefix = format!("plugins.\"{plugin}@");
    split(text)
        .iter()
        .filter_map(|s| {
            let name = s.name?;
            let inner = name.strip_prefix(&prefix)?.strip_suffix('"')?;
            let on = s.lines[1..].iter().any(|l| l.trim() == "enabled = true");
            on.then(|| format!("{plugin}@{inner}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: &str = "plugins.\"tunnel-mcp@debug\"";

    #[test]
    fn empty_file_gets_exactly_the_section() {
        assert_eq!(
            enable_section("", SEC),
            "[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n"
        );
    }

    #[test]
    fn other_content_is_kept_and_install_is_idempotent() {
        let text = "# my settings\nmodel = \"gpt-x\"\n\n[plugins.\"other@mkt\"]\nenabled = true\n# keep me\n\n[mcp_servers.a]\ncommand = \"x\"\n";
        let once = enable_section(text, SEC);
        assert_eq!(
            once,
            format!("{}\n[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n", text)
        );
        assert_eq!(enable_section(&once, SEC), once, "no duplicate section");
        assert_eq!(remove_section(&once, SEC).as_deref(), Some(text));
    }

    #[test]
    fn remove_without_section_leaves_file_untouched() {
        let crlf = "a = 1\r\n\r\n[x]\r\nb = 2\r\n";
        assert_eq!(remove_section(crlf, SEC), None);
    }

    #[test]
    fn crlf_lines_keep_their_carriage_returns() {
        let crlf = "# c\r\nmodel = \"m\"\r\n";
        let out = enable_section(crlf, SEC);
        assert!(out.starts_with("# c\r\nmodel = \"m\"\r\n"), "{out:?}");
        assert!(out.ends_with("[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n"));
    }

    #[test]
    fn header_rules_match_go() {
        // Trailing comment or spaces: not a header, so not removed.
        let t = "[plugins.\"tunnel-mcp@debug\"] # c\nenabled = true\n";
        assert_eq!(remove_section(t, SEC), None);
        // Array headers are sections named [name].
        let arr = "[[servers]]\nname = 1\n[plugins.\"tunnel-mcp@debug\"]\nenabled = true\n";
        assert_eq!(remove_section(arr, SEC).unwrap(), "[[servers]]\nname = 1\n");
        // Single-quoted spelling is another section.
        let sq = "[plugins.'tunnel-mcp@debug']\nenabled = true\n";
        assert_eq!(remove_section(sq, SEC), None);
    }

    #[test]
    fn enabled_keys_need_the_exact_line() {
        let t = "[plugins.\"tunnel-mcp@debug\"]\nenabled=true\n\n[plugins.\"tunnel-mcp@corp\"]\n  enabled = true  \n\n[plugins.\"tunnel-mcp@off\"]\nenabled = false\n\n[plugins.\"other@x\"]\nenabled = true\n";
        assert_eq!(
            enabled_plugin_keys(t, "tunnel-mcp"),
            vec!["tunnel-mcp@corp"]
        );
    }
}
