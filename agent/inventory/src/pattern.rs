//! Host patterns (ansible-core `inventory/manager.py`): `split_host_pattern`,
//! `order_patterns`, `_evaluate_patterns`, `_match_one_pattern` with subscripts,
//! globs and `~regex`, and `--limit` with `@file`.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::address::parse_address;
use crate::{Inventory, InventoryError, LOCALHOST_NAMES};

// The two built-in patterns are regex_lite's (built in microseconds at each start, where
// `regex` builds a UTF-8 automaton for `.`); their `\s` is ASCII whitespace only.
static SPLIT: LazyLock<regex_lite::Regex> = LazyLock::new(|| {
    regex_lite::Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").unwrap_or_else(|e| panic!("{e}"))
});
static SUBSCRIPT: LazyLock<regex_lite::Regex> = LazyLock::new(|| {
    regex_lite::Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
        .unwrap_or_else(|e| panic!("{e}"))
});

/// `split_host_pattern`: `a,b[1], c[2:3]` → `["a", "b[1]", "c[2:3]"]`; without commas a
/// `:`-separated list unless the whole text is a host address or range.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        SPLIT
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The `--limit` patterns: split, with `@file` replaced by the file's lines.
pub(crate) fn limit_patterns(limit: &str) -> Result<Vec<String>, InventoryError> {
    let mut out = Vec::new();
    for x in split_host_pattern(limit) {
        if let Some(file) = x.strip_prefix('@') {
            let path = std::path::Path::new(file);
            if !path.exists() {
                return Err(InventoryError::general(format!(
                    "Unable to find limit file {file}"
                )));
            }
            if !path.is_file() {
                return Err(InventoryError::general(format!(
                    "Limit starting with \"@\" must be a file, not a directory: {file}"
                )));
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                InventoryError::new(file, 0, 0, format!("cannot read limit file: {e}"))
            })?;
            out.extend(text.split('\n').map(|l| l.trim().to_string()));
        } else {
            out.push(x);
        }
    }
    Ok(out)
}

/// `order_patterns`: plain patterns, then `&` intersections, then `!` exclusions; `all`
/// when there is no plain one.
fn order_patterns(patterns: &[String]) -> Vec<&str> {
    let mut regular = Vec::new();
    let mut inter = Vec::new();
    let mut excl = Vec::new();
    for p in patterns {
        if p.is_empty() {
            continue;
        }
        if p.starts_with('!') {
            excl.push(p.as_str());
        } else if p.starts_with('&') {
            inter.push(p.as_str());
        } else {
            regular.push(p.as_str());
        }
    }
    if regular.is_empty() {
        regular.push("all");
    }
    regular.into_iter().chain(inter).chain(excl).collect()
}

/// `_evaluate_patterns` followed by de-duplication.
pub(crate) fn select(inv: &Inventory, patterns: &[String]) -> Result<Vec<String>, InventoryError> {
    let mut hosts: Vec<String> = Vec::new();
    for p in order_patterns(patterns) {
        if inv.hosts.contains_key(p) {
            hosts.push(p.to_string());
            continue;
        }
        let that = match_one_pattern(inv, p)?;
        if p.starts_with('!') {
            let that: HashSet<&String> = that.iter().collect();
            hosts.retain(|h| !that.contains(h));
        } else if p.starts_with('&') {
            let that: HashSet<&String> = that.iter().collect();
            hosts.retain(|h| that.contains(h));
        } else {
            let existing: HashSet<String> = hosts.iter().cloned().collect();
            hosts.extend(that.into_iter().filter(|h| !existing.contains(h)));
        }
    }
    let mut seen = HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    Ok(hosts)
}

fn match_one_pattern(inv: &Inventory, pattern: &str) -> Result<Vec<String>, InventoryError> {
    let pattern = pattern.strip_prefix(['&', '!']).unwrap_or(pattern);
    if pattern.is_empty() {
        return Ok(Vec::new());
    }
    let (expr, subscript) = split_subscript(pattern);
    let (hosts, _) = enumerate_matches(inv, expr)?;
    apply_subscript(hosts, subscript).ok_or_else(|| {
        InventoryError::general(format!(
            "No hosts matched the subscripted pattern '{pattern}'"
        ))
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    Range(i64, i64),
}

fn split_subscript(pattern: &str) -> (&str, Option<Subscript>) {
    if pattern.starts_with('~') {
        return (pattern, None);
    }
    let Some(c) = SUBSCRIPT.captures(pattern) else {
        return (pattern, None);
    };
    let base = c.get(1).map_or(pattern, |m| m.as_str());
    if let Some(idx) = c.get(2) {
        return match idx.as_str().parse() {
            Ok(i) => (base, Some(Subscript::Index(i))),
            Err(_) => (pattern, None),
        };
    }
    let start = c.get(3).and_then(|m| m.as_str().parse().ok());
    let end = match c.get(5).map_or("", |m| m.as_str()) {
        "" => Some(-1),
        e => e.parse().ok(),
    };
    if c.get(4).is_some_and(|m| m.as_str() == "-") {
        tracing::warn!("Use [x:y] inclusive subscripts instead of [x-y] which has been removed");
    }
    match (start, end) {
        (Some(s), Some(e)) => (base, Some(Subscript::Range(s, e))),
        _ => (pattern, None),
    }
}

/// `_apply_subscript`; `None` for an index out of range.
fn apply_subscript(hosts: Vec<String>, sub: Option<Subscript>) -> Option<Vec<String>> {
    let Some(sub) = sub else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    let index = |i: i64| -> Option<Vec<String>> {
        let i = if i < 0 { len + i } else { i };
        if i < 0 || i >= len {
            None
        } else {
            Some(vec![hosts[i as usize].clone()])
        }
    };
    match sub {
        Subscript::Index(i) => index(i),
        Subscript::Range(start, 0) => index(start),
        Subscript::Range(start, end) => {
            let end = if end == -1 { len - 1 } else { end };
            let s = start.clamp(0, len) as usize;
            let e = (end + 1).clamp(0, len) as usize;
            Some(if s < e {
                hosts[s..e].to_vec()
            } else {
                Vec::new()
            })
        }
    }
}

/// A compiled `fnmatch` glob or `~regex`.
enum Matcher {
    Plain(String),
    Re(Regex),
    Fancy(fancy_regex::Regex),
}

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, InventoryError> {
        let bad = || InventoryError::general(format!("Invalid host list pattern: {pattern}"));
        if let Some(re) = pattern.strip_prefix('~') {
            let anchored = format!(r"\A(?:{re})");
            return match Regex::new(&anchored) {
                Ok(r) => Ok(Matcher::Re(r)),
                Err(_) => fancy_regex::Regex::new(&anchored)
                    .map(Matcher::Fancy)
                    .map_err(|_| bad()),
            };
        }
        if !pattern.contains(['*', '?', '[']) {
            return Ok(Matcher::Plain(pattern.to_string()));
        }
        Regex::new(&fnmatch_translate(pattern))
            .map(Matcher::Re)
            .map_err(|_| bad())
    }

    fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::Plain(p) => p == s,
            Matcher::Re(r) => r.is_match(s),
            Matcher::Fancy(r) => r.is_match(s).unwrap_or(false),
        }
    }
}

/// `fnmatch.translate`: a full-match regex for a shell glob (case-sensitive).
fn fnmatch_translate(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut out = String::from(r"(?s)\A(?:");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                while i < chars.len() && chars[i] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                } else {
                    let mut body: String = chars[i..j].iter().collect();
                    i = j + 1;
                    let negate = body.starts_with('!');
                    if negate {
                        body.remove(0);
                    }
                    let mut class = String::new();
                    for (k, ch) in body.chars().enumerate() {
                        match ch {
                            '\\' | '[' | '&' | '~' | '|' => {
                                class.push('\\');
                                class.push(ch);
                            }
                            '^' if k == 0 && !negate => class.push_str(r"\^"),
                            _ => class.push(ch),
                        }
                    }
                    if class.is_empty() {
                        // `[]` or `[!]`: Python makes these never / always match one char.
                        out.push_str(if negate { "." } else { "[^\\s\\S]" });
                    } else {
                        out.push('[');
                        if negate {
                            out.push('^');
                        }
                        out.push_str(&class);
                        out.push(']');
                    }
                }
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(r")\z");
    out
}

/// The patterns of `patterns` that match no group and no host, as Ansible names them
/// when it warns "Could not match supplied host pattern, ignoring: …" (without `&`, `!`
/// and a subscript; `all` always matches).
pub(crate) fn unmatched(inv: &Inventory, patterns: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for p in order_patterns(patterns) {
        if inv.hosts.contains_key(p) {
            continue;
        }
        let p = p.strip_prefix(['&', '!']).unwrap_or(p);
        if p.is_empty() {
            continue;
        }
        let (expr, _) = split_subscript(p);
        if let Ok((hosts, false)) = enumerate_matches(inv, expr)
            && hosts.is_empty()
            && expr != "all"
            && !out.iter().any(|o| o == expr)
        {
            out.push(expr.to_string());
        }
    }
    out
}

/// `_enumerate_matches`: hosts of matching groups, matching hosts, implicit localhost;
/// and whether a group matched.
fn enumerate_matches(
    inv: &Inventory,
    pattern: &str,
) -> Result<(Vec<String>, bool), InventoryError> {
    let m = Matcher::new(pattern)?;
    let mut results: Vec<String> = Vec::new();
    let mut matched_group = false;
    for (name, hosts) in inv.groups_map() {
        if m.is_match(name) {
            matched_group = true;
            results.extend(hosts.iter().cloned());
        }
    }
    if !matched_group || pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']) {
        results.extend(inv.hosts.keys().filter(|h| m.is_match(h)).cloned());
    }
    if results.is_empty() && LOCALHOST_NAMES.contains(&pattern) {
        // Ansible's `get_host`: an inventory localhost-like host, else the implicit one.
        results.push(inv.localhost_for(pattern));
    }
    Ok((results, matched_group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(
            split_host_pattern("a,b[1], c[2:3] , d"),
            ["a", "b[1]", "c[2:3]", "d"]
        );
        assert_eq!(split_host_pattern("web:&db:!x"), ["web", "&db", "!x"]);
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
        assert_eq!(split_host_pattern("web*"), ["web*"]);
        assert_eq!(split_host_pattern("  "), Vec::<String>::new());
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            split_subscript("web[1]"),
            ("web", Some(Subscript::Index(1)))
        );
        assert_eq!(
            split_subscript("web[-1]"),
            ("web", Some(Subscript::Index(-1)))
        );
        assert_eq!(
            split_subscript("web[1:]"),
            ("web", Some(Subscript::Range(1, -1)))
        );
        assert_eq!(split_subscript("~web[1]"), ("~web[1]", None));
        let hs: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            apply_subscript(hs.clone(), Some(Subscript::Index(-1))).unwrap(),
            ["c"]
        );
        assert_eq!(
            apply_subscript(hs.clone(), Some(Subscript::Range(1, 5))).unwrap(),
            ["b", "c"]
        );
        assert_eq!(
            apply_subscript(hs.clone(), Some(Subscript::Range(1, 0))).unwrap(),
            ["b"]
        );
        assert!(apply_subscript(hs, Some(Subscript::Index(3))).is_none());
    }

    #[test]
    fn globs() {
        let r = Regex::new(&fnmatch_translate("web*.ex?.com")).unwrap();
        assert!(r.is_match("web1.exa.com"));
        assert!(!r.is_match("web1.exa.comx"));
        let r = Regex::new(&fnmatch_translate("db[!0-4]")).unwrap();
        assert!(r.is_match("db5"));
        assert!(!r.is_match("db3"));
        let r = Regex::new(&fnmatch_translate("a[b")).unwrap();
        assert!(r.is_match("a[b"));
    }
}
