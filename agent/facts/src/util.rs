//! Helpers shared by the collectors: Ansible's `get_file_content` semantics, fnmatch and
//! `bytes_to_human`.

use std::path::Path;

use serde_json::Value;

use crate::Facts;

/// Ansible's `get_file_content(path)`: the stripped text, `None` when the file is missing,
/// unreadable or empty after stripping.
pub fn read(path: impl AsRef<Path>) -> Option<String> {
    let text = std::fs::read(path.as_ref()).ok()?;
    let text = String::from_utf8_lossy(&text);
    let t = text.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// The file's text as is (no stripping), `None` when unreadable.
pub fn read_raw(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read(path.as_ref())
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Ansible's `get_file_lines`: lines of the stripped content.
pub fn lines(path: impl AsRef<Path>) -> Vec<String> {
    read(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

pub fn exists(path: impl AsRef<Path>) -> bool {
    path.as_ref().exists()
}

/// A string value, or JSON null for `None` (Python's `None`).
pub fn opt(v: Option<String>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

/// A map from pairs.
pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Facts::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Python's `fnmatch.fnmatch` on POSIX (case-sensitive): `*`, `?`, `[seq]`, `[!seq]`.
pub fn fnmatch(name: &str, pat: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    fn go(n: &[char], p: &[char]) -> bool {
        let (mut ni, mut pi) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() {
                match p[pi] {
                    '*' => {
                        star = Some((pi, ni));
                        pi += 1;
                        continue;
                    }
                    '?' => {
                        ni += 1;
                        pi += 1;
                        continue;
                    }
                    '[' => {
                        if let Some((matched, len)) = class(&p[pi..], n[ni]) {
                            if matched {
                                ni += 1;
                                pi += len;
                                continue;
                            }
                        } else if n[ni] == '[' {
                            ni += 1;
                            pi += 1;
                            continue;
                        }
                    }
                    c => {
                        if c == n[ni] {
                            ni += 1;
                            pi += 1;
                            continue;
                        }
                    }
                }
            }
            match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
    // `[...]` at the start of `p`: Some((matches, pattern length)) or None when unterminated.
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        let mut i = 1;
        let negate = i < p.len() && p[i] == '!';
        if negate {
            i += 1;
        }
        let start = i;
        let mut matched = false;
        while i < p.len() {
            if p[i] == ']' && i > start {
                return Some((matched != negate, i + 1));
            }
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                if p[i] <= c && c <= p[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if p[i] == c {
                    matched = true;
                }
                i += 1;
            }
        }
        None
    }
    go(&n, &p)
}

/// Ansible's `bytes_to_human`: "%.2f %s" with Bytes, KB, MB, GB, ...
pub fn bytes_to_human(size: f64) -> String {
    const RANGES: [(&str, u32); 8] = [
        ("Y", 80),
        ("Z", 70),
        ("E", 60),
        ("P", 50),
        ("T", 40),
        ("G", 30),
        ("M", 20),
        ("K", 10),
    ];
    for (suffix, shift) in RANGES {
        let limit = 2f64.powi(shift as i32);
        if size >= limit {
            return format!("{:.2} {suffix}B", size / limit);
        }
    }
    format!("{size:.2} Bytes")
}

/// Python's `str.split()` then `[0]`, or "" when empty.
pub fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap_or_default().to_string()
}

/// Ansible's `get_bin_path`: the executable `name` on PATH plus the sbin directories.
pub fn bin_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(["/sbin", "/usr/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.is_file() && m.permissions().mode() & 0o111 != 0
                })
                .unwrap_or(false)
        })
}

/// [`bin_path`] as an existence test.
pub fn bin_exists(name: &str) -> bool {
    bin_path(name).is_some()
}

/// A compiled regular expression for the collectors' fixed patterns, compiled once per
/// process. `regex_lite`: these patterns are matched against a few small files, and
/// `regex` would build a UTF-8 automaton (hundreds of KB) for each `.` or `\w` at every
/// start of the agent. Its `\d`, `\w` and `\s` are ASCII-only (Python's are Unicode):
/// the files these patterns read (os-release, cpuinfo, cgroup) are ASCII. `None` for a
/// pattern that does not compile.
pub fn regex(pattern: &str) -> Option<regex_lite::Regex> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex_lite::Regex>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(r) = cache.get(pattern) {
        return r.clone();
    }
    let r = regex_lite::Regex::new(pattern).ok();
    cache.insert(pattern.to_string(), r.clone());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_patterns() {
        assert!(fnmatch("ansible_distribution", "ansible_distr*"));
        assert!(fnmatch("ansible_eth0", "ansible_eth?"));
        assert!(fnmatch("ansible_eth0", "ansible_eth[0-9]"));
        assert!(!fnmatch("ansible_eth0", "ansible_eth[!0-9]"));
        assert!(fnmatch("abc", "*"));
        assert!(!fnmatch("abc", "ab"));
        assert!(fnmatch("a*c", "a[*]c"));
        assert!(fnmatch("ansible_mounts", "*mounts"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(0.0), "0.00 Bytes");
        assert_eq!(bytes_to_human(512.0), "512.00 Bytes");
        assert_eq!(bytes_to_human(268435456.0), "256.00 MB");
        assert_eq!(bytes_to_human(270553174016.0), "251.97 GB");
    }
}
