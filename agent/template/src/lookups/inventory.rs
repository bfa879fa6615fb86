//! The `inventory_hostnames` lookup: host names matching inventory patterns, computed
//! (as Ansible does) from the `groups` variable alone: `all`, group and host names,
//! shell-style wildcards, `~regex`, and the `:`/`,` separated union, `&` intersection and
//! `!` exclusion forms, with `[i]`/`[a:b]` subscripts on a term.

use minijinja::{Error, Value};

use super::LookupCtx;
use crate::filters::{list_of, map_items, py_str};

/// The inventory as the `groups` variable describes it: groups in order, each with its hosts.
struct Inv {
    groups: Vec<(String, Vec<String>)>,
    hosts: Vec<String>,
}

impl Inv {
    fn from_groups(groups: &Value) -> Inv {
        let mut inv = Inv {
            groups: Vec::new(),
            hosts: Vec::new(),
        };
        for (g, hosts) in map_items(groups).unwrap_or_default() {
            let names: Vec<String> = list_of(&hosts)
                .unwrap_or_default()
                .iter()
                .map(py_str)
                .collect();
            for h in &names {
                if !inv.hosts.contains(h) {
                    inv.hosts.push(h.clone());
                }
            }
            inv.groups.push((py_str(&g), names));
        }
        inv
    }

    /// Hosts one pattern term names (without its `&`/`!` prefix).
    fn term(&self, term: &str) -> Result<Vec<String>, Error> {
        let (base, subscript) = split_subscript(term);
        let mut out: Vec<String> = Vec::new();
        let push = |h: &String, out: &mut Vec<String>| {
            if !out.contains(h) {
                out.push(h.clone());
            }
        };
        if base == "all" || base == "*" {
            for h in &self.hosts {
                push(h, &mut out);
            }
        } else if let Some(re) = base.strip_prefix('~') {
            let re = fancy_regex::Regex::new(re)
                .map_err(|e| crate::filters::err(format!("invalid regex in pattern: {e}")))?;
            for (g, hosts) in &self.groups {
                if re.is_match(g).unwrap_or(false) {
                    hosts.iter().for_each(|h| push(h, &mut out));
                }
            }
            for h in &self.hosts {
                if re.is_match(h).unwrap_or(false) {
                    push(h, &mut out);
                }
            }
        } else if base.contains(['*', '?', '[']) {
            for (g, hosts) in &self.groups {
                if fnmatch(&base, g) {
                    hosts.iter().for_each(|h| push(h, &mut out));
                }
            }
            for h in &self.hosts {
                if fnmatch(&base, h) {
                    push(h, &mut out);
                }
            }
        } else if let Some((_, hosts)) = self.groups.iter().find(|(g, _)| *g == base) {
            hosts.iter().for_each(|h| push(h, &mut out));
        } else if self.hosts.contains(&base) {
            out.push(base.clone());
        }
        Ok(match subscript {
            None => out,
            Some((a, b)) => {
                let n = out.len() as i64;
                let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
                match b {
                    None => {
                        let i = if a < 0 { n + a } else { a };
                        if i >= 0 && i < n {
                            vec![out[i as usize].clone()]
                        } else {
                            Vec::new()
                        }
                    }
                    Some(b) => {
                        let (s, e) = (norm(a), norm(b) + 1);
                        if s < e.min(n) {
                            out[s as usize..e.min(n) as usize].to_vec()
                        } else {
                            Vec::new()
                        }
                    }
                }
            }
        })
    }
}

/// `web[0]`, `web[1:3]`, `web[-1]`: the base and the subscript.
fn split_subscript(term: &str) -> (String, Option<(i64, Option<i64>)>) {
    if let Some(open) = term.rfind('[')
        && term.ends_with(']')
        && open > 0
    {
        let inner = &term[open + 1..term.len() - 1];
        let parsed = match inner.split_once(':') {
            Some((a, b)) => {
                let a = if a.is_empty() {
                    Some(0)
                } else {
                    a.parse().ok()
                };
                let b = if b.is_empty() {
                    Some(-1)
                } else {
                    b.parse().ok()
                };
                a.zip(b).map(|(a, b)| (a, Some(b)))
            }
            None => inner.parse().ok().map(|a| (a, None)),
        };
        if let Some(p) = parsed {
            return (term[..open].to_string(), Some(p));
        }
    }
    (term.to_string(), None)
}

/// Shell-style wildcard match (`*`, `?`, `[...]`, `[!...]`).
pub fn fnmatch(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let Some(c) = n.first() else {
                    return false;
                };
                let (neg, set) = match p[1] {
                    '!' => (true, &p[2..close]),
                    _ => (false, &p[1..close]),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && go(&p[close + 1..], &n[1..])
            }
            Some(ch) => n.first() == Some(ch) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

/// Split a pattern string on `,` and on `:` (except inside `[...]` and after `~`).
fn split_pattern(p: &str) -> Vec<String> {
    if p.trim_start().starts_with('~') {
        return vec![p.trim().to_string()];
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            ':' | ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Host names matching `patterns` against the `groups` mapping.
pub fn hostnames(groups: &Value, patterns: &[String]) -> Result<Vec<String>, Error> {
    let inv = Inv::from_groups(groups);
    let terms: Vec<String> = patterns.iter().flat_map(|p| split_pattern(p)).collect();
    // As Ansible: unions first, then intersections, then exclusions.
    let mut hosts: Vec<String> = Vec::new();
    let (mut ands, mut nots) = (Vec::new(), Vec::new());
    for t in &terms {
        if let Some(r) = t.strip_prefix('&') {
            ands.push(r.to_string());
        } else if let Some(r) = t.strip_prefix('!') {
            nots.push(r.to_string());
        } else {
            for h in inv.term(t)? {
                if !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
        }
    }
    if hosts.is_empty() && !ands.is_empty() && terms.iter().all(|t| t.starts_with(['&', '!'])) {
        hosts = inv.hosts.clone();
    }
    if hosts.is_empty() && ands.is_empty() && !nots.is_empty() {
        hosts = inv.hosts.clone();
    }
    for a in &ands {
        let keep = inv.term(a)?;
        hosts.retain(|h| keep.contains(h));
    }
    for n in &nots {
        let drop = inv.term(n)?;
        hosts.retain(|h| !drop.contains(h));
    }
    Ok(hosts)
}

/// `lookup('inventory_hostnames', 'pattern', ...)`.
pub fn inventory_hostnames(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let groups = ctx.vars.get_var("groups").unwrap_or_default();
    let mut patterns = Vec::new();
    for t in &terms {
        match list_of(t) {
            Some(l) => patterns.extend(l.iter().map(py_str)),
            None => patterns.push(py_str(t)),
        }
    }
    // Ansible answers [] when the pattern is invalid.
    Ok(hostnames(&groups, &patterns)
        .unwrap_or_default()
        .into_iter()
        .map(Value::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Value {
        Value::from_pairs(vec![
            (
                Value::from("all"),
                Value::from(vec!["web1", "web2", "db1", "solo"]),
            ),
            (Value::from("ungrouped"), Value::from(vec!["solo"])),
            (Value::from("web"), Value::from(vec!["web1", "web2"])),
            (Value::from("db"), Value::from(vec!["db1"])),
            (Value::from("prod"), Value::from(vec!["web1", "db1"])),
        ])
    }

    fn run(p: &str) -> Vec<String> {
        hostnames(&groups(), &[p.to_string()]).unwrap()
    }

    #[test]
    fn patterns() {
        assert_eq!(run("all"), ["web1", "web2", "db1", "solo"]);
        assert_eq!(run("web"), ["web1", "web2"]);
        assert_eq!(run("web:db"), ["web1", "web2", "db1"]);
        assert_eq!(run("web:&prod"), ["web1"]);
        assert_eq!(run("all:!web"), ["db1", "solo"]);
        assert_eq!(run("web*"), ["web1", "web2"]);
        assert_eq!(run("~db\\d"), ["db1"]);
        assert_eq!(run("web[1]"), ["web2"]);
        assert_eq!(run("web[0:1]"), ["web1", "web2"]);
        assert_eq!(run("solo"), ["solo"]);
        assert!(run("nothing").is_empty());
        assert!(fnmatch("w?b[0-9]", "web1"));
        assert!(!fnmatch("w[!e]b1", "web1"));
    }
}
