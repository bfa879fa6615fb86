//! Host addresses and ranges as Ansible reads them: `parse_address` (host with optional
//! `:port`, IPv4/IPv6/hostname, `[x:y]` ranges allowed), `expand_hostname_range`
//! (`web[01:10]`, `db-[a:f]`, `[1:10:2]`), and POSIX `shlex.split` with comments.

use std::sync::LazyLock;

use fancy_regex::Regex;

/// Most hosts one range pattern may expand to (Ansible has no limit and would hang); the
/// whole inventory is held to [`crate::MAX_HOSTS`].
pub const MAX_RANGE_HOSTS: usize = 100_000;

const NUM_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

fn re(src: &str) -> Regex {
    // The patterns are constants; a failure here is a programming error caught by tests.
    Regex::new(src).unwrap_or_else(|e| panic!("bad built-in regex {src}: {e}"))
}

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| re(r"^\[(.+)\]:([0-9]+)$"));
static HOSTPORT: LazyLock<Regex> = LazyLock::new(|| re(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUM_RANGE})");
    re(&format!(r"(?i)^(?:{c}\.){{3}}{c}$"))
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let v4 = format!(r"(?:{c}\.){{3}}{c}");
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}{v4}"),
        format!(r"::(?:ffff:)?{v4}"),
        format!(r"(?:0:){{5}}ffff:{v4}"),
    ];
    re(&format!(r"(?i)^({})$", alts.join("|")))
});
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    let label = format!(r"(?:\w|{ALNUM_RANGE})(?:[\w_-]|{ALNUM_RANGE})*(?<![_-])");
    re(&format!(r"(?i)^{label}(?:\.{label})*$"))
});

fn is_match(r: &Regex, s: &str) -> bool {
    r.is_match(s).unwrap_or(false)
}

/// `parse_address(address, allow_ranges=True)`: the host part and the port, or `None`
/// when the text is not a recognisable host.
pub fn parse_address(address: &str) -> Option<(String, Option<u32>)> {
    if let Some(fast) = simple_hostname(address) {
        return fast;
    }
    let mut address = address.to_string();
    let mut port = None;
    for r in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Ok(Some(c)) = r.captures(&address) {
            let host = c.get(1).map_or("", |m| m.as_str()).to_string();
            let p = c.get(2).map_or("", |m| m.as_str());
            port = Some(p.parse::<u32>().ok()?);
            address = host;
        }
    }
    if is_match(&IPV4, &address) || is_match(&IPV6, &address) || is_match(&HOSTNAME, &address) {
        Some((address, port))
    } else {
        None
    }
}

/// A fast path for the common case: plain dotted names (letters, digits, `_`, `-`),
/// optionally with `:port`. `None` when the regexes must decide.
#[allow(clippy::option_option)]
fn simple_hostname(address: &str) -> Option<Option<(String, Option<u32>)>> {
    if address.contains('[') || !address.is_ascii() {
        return None;
    }
    let (host, port) = match address.split_once(':') {
        Some((h, p))
            if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && !h.contains(':') =>
        {
            (h, Some(p.parse::<u32>().ok()?))
        }
        Some(_) => return None,
        None => (address, None),
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
            && !matches!(b[b.len() - 1], b'_' | b'-')
    };
    if host.split('.').all(label_ok) {
        Some(Some((host.to_string(), port)))
    } else {
        None
    }
}

/// Whether a host name is an IP address (for `inventory_hostname_short`).
pub fn is_ip(name: &str) -> bool {
    // Every IPv6 form holds a `:`, and an IPv4 address without one (no `[x:y]` range) is
    // digits and dots: anything else is a name, known without compiling the patterns.
    if !name.contains(':') && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    is_match(&IPV4, name) || is_match(&IPV6, name)
}

/// An invalid range, with Ansible's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError(pub String);

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// `expand_hostname_range`: every name a `[x:y(:step)]` pattern stands for, in order.
pub fn expand_hostname_range(line: &str) -> Result<Vec<String>, RangeError> {
    let mut out = Vec::new();
    expand_into(line, &mut out)?;
    Ok(out)
}

fn expand_into(line: &str, out: &mut Vec<String>) -> Result<(), RangeError> {
    if line.is_empty() {
        return Ok(());
    }
    let replaced = line.replacen('[', "|", 1).replacen(']', "|", 1);
    let parts: Vec<&str> = replaced.split('|').collect();
    let [head, nrange, tail] = parts[..] else {
        return Err(RangeError(format!(
            "host range in '{line}' must be a single [begin:end] expression per bracket"
        )));
    };
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(RangeError(
            "host range must be begin:end or begin:end:step".into(),
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    let step_s = bounds.get(2).copied().unwrap_or("1");
    if end.is_empty() {
        return Err(RangeError("host range must specify end value".into()));
    }
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err(RangeError(
                "host range must specify equal-length begin and end formats".into(),
            ));
        }
        beg.len()
    } else {
        0
    };
    let step: i64 = py_int(step_s)?;
    let mut seq: Vec<String> = Vec::new();
    let alpha = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(b), Some(e)) if step > 0 => Some((b, e)),
        _ => None,
    };
    if let Some((b, e)) = alpha {
        if b > e {
            return Err(RangeError("host range must have begin <= end".into()));
        }
        let step = usize::try_from(step).unwrap_or(1);
        seq.extend(LETTERS[b..=e].chars().step_by(step).map(|c| c.to_string()));
    } else {
        let b = py_int(beg)?;
        let e = py_int(end)?;
        if step == 0 {
            return Err(RangeError("host range step must not be zero".into()));
        }
        let count = if step > 0 {
            if e < b { 0 } else { (e - b) / step + 1 }
        } else if e > b {
            0
        } else {
            (b - e) / (-step) + 1
        };
        if count as usize > MAX_RANGE_HOSTS || out.len() + count as usize > MAX_RANGE_HOSTS {
            return Err(RangeError(format!(
                "host range '{line}' expands to more than {MAX_RANGE_HOSTS} hosts"
            )));
        }
        let mut x = b;
        for _ in 0..count {
            seq.push(x.to_string());
            x += step;
        }
    }
    for item in seq {
        let filled = if width > item.len() {
            let (sign, digits) = match item.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", item.as_str()),
            };
            format!("{sign}{}{digits}", "0".repeat(width - item.len()))
        } else {
            item
        };
        let name = format!("{head}{filled}{tail}");
        if name.contains('[') {
            expand_into(&name, out)?;
        } else {
            if out.len() >= MAX_RANGE_HOSTS {
                return Err(RangeError(format!(
                    "host range '{line}' expands to more than {MAX_RANGE_HOSTS} hosts"
                )));
            }
            out.push(name);
        }
    }
    Ok(())
}

/// Python `int(str)` for the simple forms ranges use.
fn py_int(s: &str) -> Result<i64, RangeError> {
    let t = s.trim().replace('_', "");
    t.parse::<i64>()
        .map_err(|_| RangeError(format!("invalid literal for int() with base 10: '{s}'")))
}

/// `shlex.split(line, comments=True)` in POSIX mode.
pub fn shlex_split(line: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    let mut token = String::new();
    let mut in_token = false;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_token || quoted {
                    tokens.push(std::mem::take(&mut token));
                }
                in_token = false;
                quoted = false;
            }
            '#' => break,
            '\\' => match chars.next() {
                Some(n) => {
                    token.push(n);
                    in_token = true;
                }
                None => return Err("No escaped character".into()),
            },
            '\'' => {
                quoted = true;
                in_token = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => token.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                quoted = true;
                in_token = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\')) => token.push(n),
                            Some(n) => {
                                token.push('\\');
                                token.push(n);
                            }
                            None => return Err("No escaped character".into()),
                        },
                        Some(n) => token.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            other => {
                token.push(other);
                in_token = true;
            }
        }
    }
    if in_token || quoted {
        tokens.push(token);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_address("web1"), Some(("web1".into(), None)));
        assert_eq!(
            parse_address("web1:2222"),
            Some(("web1".into(), Some(2222)))
        );
        assert_eq!(
            parse_address("10.0.0.1:22"),
            Some(("10.0.0.1".into(), Some(22)))
        );
        assert_eq!(parse_address("[::1]:22"), Some(("::1".into(), Some(22))));
        assert_eq!(parse_address("fe80::1"), Some(("fe80::1".into(), None)));
        assert_eq!(
            parse_address("web[01:03].ex.com"),
            Some(("web[01:03].ex.com".into(), None))
        );
        assert_eq!(parse_address("web-"), None);
        assert_eq!(parse_address("a b"), None);
        assert_eq!(parse_address("a..b"), None);
        assert_eq!(parse_address("a_.b"), None);
        assert_eq!(parse_address("_a.b:1"), Some(("_a.b".into(), Some(1))));
        assert_eq!(parse_address("web*"), None);
        assert!(is_ip("10.1.2.3"));
        assert!(!is_ip("web.example.com"));
        for ip in [
            "::1",
            "fe80::1",
            "10.0.[1:3].1",
            "2001:db8::[a:f]",
            "::ffff:10.1.2.3",
        ] {
            assert!(is_ip(ip), "{ip}");
        }
        for name in [
            "sandbox1",
            "10.1.2",
            "a.1.2.3",
            "web-01",
            "1.2.3.4.5",
            "256.1.1.1",
            "",
        ] {
            assert!(!is_ip(name), "{name}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(expand_hostname_range("w[1:3]").unwrap(), ["w1", "w2", "w3"]);
        assert_eq!(
            expand_hostname_range("w[01:03]x").unwrap(),
            ["w01x", "w02x", "w03x"]
        );
        assert_eq!(
            expand_hostname_range("w[1:9:4]").unwrap(),
            ["w1", "w5", "w9"]
        );
        assert_eq!(
            expand_hostname_range("db-[a:c]").unwrap(),
            ["db-a", "db-b", "db-c"]
        );
        assert_eq!(
            expand_hostname_range("h[1:2]-[a:b]").unwrap(),
            ["h1-a", "h1-b", "h2-a", "h2-b"]
        );
        assert_eq!(expand_hostname_range("w[:2]").unwrap(), ["w0", "w1", "w2"]);
        assert!(expand_hostname_range("w[01:100]").is_err());
        assert!(expand_hostname_range("w[1]").is_err());
        assert!(expand_hostname_range("w[1:]").is_err());
        assert!(expand_hostname_range("w[c:a]").is_err());
        assert!(expand_hostname_range("w[0:99999999999]").is_err());
    }

    #[test]
    fn shlex() {
        assert_eq!(
            shlex_split("a b=\"x y\" c='1 2'").unwrap(),
            ["a", "b=x y", "c=1 2"]
        );
        assert_eq!(shlex_split("a b=1#c d").unwrap(), ["a", "b=1"]);
        assert_eq!(shlex_split("a '' b").unwrap(), ["a", "", "b"]);
        assert_eq!(shlex_split(r#"a "x\"y\n""#).unwrap(), ["a", "x\"y\\n"]);
        assert!(shlex_split("a 'b").is_err());
    }
}
