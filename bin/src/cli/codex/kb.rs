//! Knowledge injected before each assistant turn (`thread/inject_items`): the best-matching
//! sections of our own docs and of the plugin's skill references, found by keyword score.
//! The prompt itself is never echoed into the item.

use serde_json::{json, Value};

use super::bundle;

const DOCS: &[(&str, &str)] = &[
    ("docs/cli.md", include_str!("../../../../docs/cli.md")),
    ("docs/run.md", include_str!("../../../../docs/run.md")),
    ("docs/stdio.md", include_str!("../../../../docs/stdio.md")),
    (
        "docs/admin-ui.md",
        include_str!("../../../../docs/admin-ui.md"),
    ),
    ("docs/codex.md", include_str!("../../../../docs/codex.md")),
];

pub const DOCS_MARKER: &str = "tunnel-client documentation excerpts, embedded in the binary.";
pub const PLUGIN_MARKER: &str = "Tunnel MCP plugin references, embedded in the binary.";

const STOP: &[&str] = &[
    "the", "and", "for", "with", "that", "this", "what", "how", "does", "from", "into", "are",
    "can", "you", "your", "about", "when", "why", "should", "would", "could", "there", "have",
    "has", "its", "not", "but", "all", "any", "use", "using", "please", "tell", "show", "explain",
];

pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for t in text
        .to_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || "_./-".contains(c)))
        .map(|t| t.trim_matches(|c: char| ".-/".contains(c)))
    {
        let keep = t.len() >= 3 || matches!(t, "id" | "ui" | "mcp");
        if keep && !STOP.contains(&t) && !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.is_empty() {
        out.push("tunnel-client".into());
    }
    out
}

struct Hit {
    path: String,
    heading: String,
    excerpt: String,
    score: usize,
}

fn best_section(path: &str, text: &str, terms: &[String], width: usize) -> Option<Hit> {
    let title = text
        .lines()
        .find(|l| l.trim_start().starts_with('#'))
        .unwrap_or("")
        .to_lowercase();
    let mut sections: Vec<(String, String)> = vec![];
    for line in text.lines() {
        if line.trim_start().starts_with('#') || sections.is_empty() {
            sections.push((line.trim().to_string(), String::new()));
        }
        let s = sections.last_mut().expect("section");
        s.1.push_str(line);
        s.1.push('\n');
    }
    let lpath = path.to_lowercase();
    sections
        .into_iter()
        .map(|(heading, body)| {
            let h = heading.to_lowercase();
            let b = body.to_lowercase();
            let mut score = 0;
            for t in terms {
                if lpath.contains(t.as_str()) {
                    score += 20;
                }
                if title.contains(t.as_str()) {
                    score += 24;
                }
                if h.contains(t.as_str()) {
                    score += 28;
                }
                score += 5 * b.matches(t.as_str()).count().min(6);
            }
            let excerpt = excerpt(&body, &b, terms, width);
            Hit {
                path: path.to_string(),
                heading,
                excerpt,
                score,
            }
        })
        .filter(|h| h.score > 0)
        .max_by_key(|h| h.score)
}

fn excerpt(body: &str, lower: &str, terms: &[String], width: usize) -> String {
    if body.len() <= width {
        return body.trim().to_string();
    }
    let first = terms
        .iter()
        .filter_map(|t| lower.find(t.as_str()))
        .min()
        .unwrap_or(0);
    let mut start = first.saturating_sub(width / 4);
    while !body.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + width).min(body.len());
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = String::new();
    if start > 0 {
        s.push_str("...\n");
    }
    s.push_str(body[start..end].trim());
    if end < body.len() {
        s.push_str("\n...");
    }
    s
}

fn render(prefix: &str, intro: &str, hits: &[Hit]) -> String {
    let mut s = format!("{intro}\n");
    for (i, h) in hits.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "{prefix}.{n}.path={}\n{prefix}.{n}.heading={}\n{prefix}.{n}.excerpt_begin\n{}\n{prefix}.{n}.excerpt_end\n",
            h.path, h.heading, h.excerpt
        ));
    }
    s
}

fn top(corpus: Vec<(String, &str)>, terms: &[String], n: usize, width: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = corpus
        .iter()
        .filter_map(|(p, t)| best_section(p, t, terms, width))
        .collect();
    hits.sort_by(|a, b| b.score.cmp(&a.score).then(a.path.cmp(&b.path)));
    hits.truncate(n);
    hits
}

/// The developer message injected before a turn, or `None` when nothing matched.
pub fn knowledge_text(prompt: &str) -> Option<String> {
    let terms = tokens(prompt);
    let docs = top(
        DOCS.iter().map(|(p, t)| (p.to_string(), *t)).collect(),
        &terms,
        3,
        1200,
    );
    let refs = top(
        bundle::references()
            .map(|(p, t)| (format!("plugin/tunnel-mcp/{p}"), t))
            .collect(),
        &terms,
        2,
        700,
    );
    let mut parts = vec![];
    if !docs.is_empty() {
        parts.push(render("knowledge.match", DOCS_MARKER, &docs));
    }
    if !refs.is_empty() {
        parts.push(render("plugin_knowledge.match", PLUGIN_MARKER, &refs));
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

pub fn knowledge_item(prompt: &str) -> Option<Value> {
    knowledge_text(prompt).map(|text| {
        json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": text}]})
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_drop_stopwords_and_short_words_but_keep_mcp() {
        assert_eq!(tokens("How do I run the MCP ui?"), vec!["run", "mcp", "ui"]);
        assert_eq!(tokens("?? a"), vec!["tunnel-client"]);
    }

    #[test]
    fn stdio_question_finds_the_stdio_doc_and_does_not_echo_the_prompt() {
        let prompt = "zqxprobe stdio child restart supervision";
        let t = knowledge_text(prompt).unwrap();
        assert!(t.contains(DOCS_MARKER));
        assert!(t.contains("knowledge.match.1.path=docs/stdio.md"), "{t}");
        assert!(!t.contains("zqxprobe"));
    }

    #[test]
    fn runtime_question_pulls_the_runtime_flows_reference() {
        let t = knowledge_text("connect a stdio MCP server through a runtime alias").unwrap();
        assert!(t.contains(PLUGIN_MARKER));
        assert!(t.contains("references/runtime-flows.md"), "{t}");
    }
}
