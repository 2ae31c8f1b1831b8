//! Does a host name have a registrable domain (an eTLD+1) under the Public Suffix List?
//! Go answers with `publicsuffix.EffectiveTLDPlusOne`; the hostbus asks it to decide
//! whether an OAuth-discovered host may cover its subdomains (`co.uk`, `github.io` and
//! `localhost` may not; `example.co.uk` may).
//!
//! The list is data, not code: `public_suffix_list.txt` holds the rules one per line,
//! sorted bytewise, and a lookup is a binary search over that text. The crate this
//! replaces (`psl`) compiles the list into match arms, 650 KiB of machine code against the
//! 148 KB of text here, in a binary with a 4 MB budget; the registration it serves runs a
//! handful of times per discovery, so speed does not matter and nothing is allocated up
//! front.
//!
//! The rules are Mozilla's Public Suffix List (<https://publicsuffix.org>, MPL-2.0, both
//! the ICANN and the private sections) as shipped in the `psl` crate 2.1.247
//! (`data/rules.txt`), with CRs removed and lines sorted (`LC_ALL=C sort -u`). A test keeps
//! the file sorted; property tests compare the answers with the algorithm read literally
//! (every rule compared label by label). Where a wildcard has a more specific sibling
//! (`*.r.cloud.int.apple` beside `*.ap-north-1.r.cloud.int.apple`) this follows the list's
//! algorithm and Go; the `psl` crate did not.

/// The rules: `suffix`, `*.suffix` (wildcard) or `!name` (exception), sorted bytewise.
static RULES: &str = include_str!("public_suffix_list.txt");

/// Whether `rule` is a line of [`RULES`] (binary search over the sorted text).
fn is_rule(rule: &str) -> bool {
    let text = RULES.as_bytes();
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // `lo` is always a line start, so the line around `mid` starts at or after it.
        let start = text[lo..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(lo, |p| lo + p + 1);
        let end = text[mid..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |p| mid + p);
        match text[start..end].cmp(rule.as_bytes()) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// True when `host` (lower-case, no trailing dot) is longer than its public suffix, i.e.
/// has an eTLD+1, by the list's algorithm: an exception rule prevails, else the matching
/// rule with the most labels, else the implicit `*` (an unknown TLD is a public suffix).
pub fn has_registrable_domain(host: &str) -> bool {
    if host.is_empty() || host.split('.').any(str::is_empty) {
        return false;
    }
    // Byte offsets where each suffix starts: "a.b.c" -> 0 ("a.b.c"), 2 ("b.c"), 4 ("c").
    let starts: Vec<usize> = std::iter::once(0)
        .chain(host.match_indices('.').map(|(i, _)| i + 1))
        .collect();
    let labels = starts.len();
    // An exception `!name` makes `name` minus its first label the public suffix, which
    // always leaves `name` itself registrable.
    if starts.iter().any(|&i| is_rule(&format!("!{}", &host[i..]))) {
        return true;
    }
    let mut suffix = 1; // the implicit `*`
    for (k, &i) in starts.iter().enumerate() {
        let len = labels - k;
        if len <= suffix {
            break;
        }
        let exact = is_rule(&host[i..]);
        // `*.rest` matches any single label in front of `rest`.
        let wildcard = starts
            .get(k + 1)
            .is_some_and(|&j| is_rule(&format!("*.{}", &host[j..])));
        if exact || wildcard {
            suffix = len;
            break; // suffixes are tried longest first
        }
    }
    labels > suffix
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The list's algorithm read literally, as an independent oracle: compare the host with
    /// every rule, label by label from the right (`*` matches any one label); an exception
    /// prevails, else the match with the most labels, else `*`.
    fn oracle(host: &str) -> bool {
        if host.is_empty() || host.split('.').any(str::is_empty) {
            return false;
        }
        let h: Vec<&str> = host.rsplit('.').collect();
        let mut best = 1;
        for line in RULES.lines() {
            let (exception, rule) = match line.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, line),
            };
            let r: Vec<&str> = rule.rsplit('.').collect();
            let matches = r.len() <= h.len() && r.iter().zip(&h).all(|(a, b)| *a == "*" || a == b);
            if matches && exception {
                return h.len() > r.len() - 1;
            }
            if matches {
                best = best.max(r.len());
            }
        }
        h.len() > best
    }

    #[test]
    fn the_list_is_sorted_and_clean() {
        let lines: Vec<&str> = RULES.lines().collect();
        assert!(lines.len() > 9_000, "{} rules", lines.len());
        assert!(!RULES.contains('\r'));
        for pair in lines.windows(2) {
            assert!(
                pair[0] < pair[1],
                "not sorted: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
        for line in &lines {
            assert!(!line.is_empty() && !line.contains(' '), "{line:?}");
            assert!(is_rule(line), "{line} not found by the search");
        }
        assert!(!is_rule("not-a-rule.example") && !is_rule("") && !is_rule("zzzz"));
    }

    #[test]
    fn well_known_answers() {
        for (host, registrable) in [
            ("com", false),
            ("example.com", true),
            ("www.example.com", true),
            ("co.uk", false),
            ("example.co.uk", true),
            ("github.io", false),
            ("user.github.io", true),
            ("localhost", false),
            ("foo.localhost", true),
            // Wildcard `*.ck` with exception `!www.ck`.
            ("ck", false),
            ("anything.ck", false),
            ("a.anything.ck", true),
            ("www.ck", true),
            // `*.kawasaki.jp` with `!city.kawasaki.jp`.
            ("x.kawasaki.jp", false),
            ("city.kawasaki.jp", true),
            // `*.r.cloud.int.apple` applies although `*.ap-north-1.r.cloud.int.apple` also
            // exists (Go's answer; the `psl` crate said registrable here).
            ("ap-north-1.r.cloud.int.apple", false),
            ("x.ap-north-1.r.cloud.int.apple", false),
            ("y.x.ap-north-1.r.cloud.int.apple", true),
            ("", false),
            ("a..com", false),
        ] {
            assert_eq!(has_registrable_domain(host), registrable, "{host}");
            assert_eq!(oracle(host), registrable, "oracle on {host}");
        }
    }

    /// Every rule, with zero, one or two labels in front, gets the oracle's answer.
    #[test]
    fn every_rule_agrees_with_the_oracle() {
        let rules: Vec<&str> = RULES.lines().collect();
        // The oracle scans the whole list per host: check a spread of 300 rules.
        for rule in rules.iter().step_by(rules.len() / 300) {
            let base = rule.trim_start_matches('!').trim_start_matches("*.");
            for host in [base.to_string(), format!("x.{base}"), format!("y.x.{base}")] {
                assert_eq!(has_registrable_domain(&host), oracle(&host), "{host}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Hosts built from list labels and random ones agree with the oracle.
        #[test]
        fn random_hosts_agree_with_the_oracle(
            picks in proptest::collection::vec(0usize..10_397, 1..3),
            front in proptest::collection::vec("[a-z0-9-]{1,8}", 0..3),
        ) {
            let rules: Vec<&str> = RULES.lines().collect();
            let mut labels: Vec<String> = front;
            for p in picks {
                let r = rules[p % rules.len()];
                labels.push(r.trim_start_matches('!').trim_start_matches("*.").to_string());
            }
            let host = labels.join(".");
            prop_assert_eq!(has_registrable_domain(&host), oracle(&host), "{}", host);
        }

        /// Arbitrary text never panics the search.
        #[test]
        fn arbitrary_hosts_never_panic(host in "\\PC{0,40}") {
            let _ = has_registrable_domain(&host);
        }
    }
}
