//! PyYAML's YAML 1.1 implicit resolver (yaml/resolver.py) and the scalar constructors
//! of its SafeConstructor, written as small hand matchers instead of regular expressions.

use crate::node::Kind;

/// What a plain scalar means.
#[derive(Debug, PartialEq)]
pub(crate) enum Plain {
    /// A typed value (null, bool, int, float).
    Kind(Kind),
    /// Stays the string it is (also timestamps, and ints too big for 64 bits).
    Str,
    /// `<<`: a merge key when used as a mapping key.
    Merge,
    /// `=`: PyYAML's `tag:yaml.org,2002:value`, which has no constructor.
    Value,
}

/// Resolve a plain (unquoted, untagged) scalar as PyYAML's Resolver does.
pub(crate) fn resolve_plain(s: &str) -> Plain {
    let Some(&first) = s.as_bytes().first() else {
        return Plain::Kind(Kind::Null);
    };
    match first {
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' => {
            if let Some(b) = implicit_bool(s) {
                return Plain::Kind(Kind::Bool(b));
            }
            if matches!(s, "null" | "Null" | "NULL") {
                return Plain::Kind(Kind::Null);
            }
            Plain::Str
        }
        b'~' if s.len() == 1 => Plain::Kind(Kind::Null),
        b'<' if s == "<<" => Plain::Merge,
        b'=' if s == "=" => Plain::Value,
        b'-' | b'+' | b'.' | b'0'..=b'9' => {
            if is_float(s) {
                if let Some(f) = construct_float(s) {
                    return Plain::Kind(Kind::Float(f));
                }
                return Plain::Str;
            }
            if is_int(s) {
                return match construct_int(s) {
                    Some(Some(i)) => Plain::Kind(Kind::Int(i)),
                    _ => Plain::Str,
                };
            }
            Plain::Str
        }
        _ => Plain::Str,
    }
}

/// Whether a string, written plain, would read back as the same string (PyYAML's
/// `plain_implicit` check in the emitter): not null/bool/int/float/timestamp/merge/value.
pub(crate) fn plain_reads_as_str(s: &str) -> bool {
    match resolve_plain(s) {
        Plain::Str => !is_timestamp(s) && !is_int(s),
        _ => false,
    }
}

/// PyYAML's timestamp resolver pattern.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    // [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}
    if !(0..4).all(digit) || b.get(4) != Some(&b'-') {
        return false;
    }
    let mut i = 5;
    let take_1_2 = |i: &mut usize| -> usize {
        let start = *i;
        while *i < b.len() && *i - start < 2 && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let month = take_1_2(&mut i);
    if month == 0 || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let day = take_1_2(&mut i);
    if day == 0 {
        return false;
    }
    if i == b.len() {
        // The date-only form needs exactly two-digit month and day.
        return month == 2 && day == 2;
    }
    // (?:[Tt]|[ \t]+)
    match b[i] {
        b'T' | b't' => i += 1,
        b' ' | b'\t' => {
            while i < b.len() && matches!(b[i], b' ' | b'\t') {
                i += 1;
            }
        }
        _ => return false,
    }
    // [0-9][0-9]?:[0-9][0-9]:[0-9][0-9]
    if take_1_2(&mut i) == 0 || b.get(i) != Some(&b':') {
        return false;
    }
    i += 1;
    if !(digit(i) && digit(i + 1)) || b.get(i + 2) != Some(&b':') {
        return false;
    }
    i += 3;
    if !(digit(i) && digit(i + 1)) {
        return false;
    }
    i += 2;
    // (?:\.[0-9]*)?
    if b.get(i) == Some(&b'.') {
        i += 1;
        while digit(i) {
            i += 1;
        }
    }
    // (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?
    let mut j = i;
    while j < b.len() && matches!(b[j], b' ' | b'\t') {
        j += 1;
    }
    if j == b.len() {
        return j == i;
    }
    match b[j] {
        b'Z' => j + 1 == b.len(),
        b'-' | b'+' => {
            j += 1;
            if take_1_2(&mut j) == 0 {
                return false;
            }
            if j == b.len() {
                return true;
            }
            b[j] == b':' && digit(j + 1) && digit(j + 2) && j + 3 == b.len()
        }
        _ => false,
    }
}

fn implicit_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// `!!bool` construction: any case of the six words.
pub(crate) fn construct_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Some(true),
        "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn strip_sign(s: &[u8]) -> &[u8] {
    match s.first() {
        Some(b'-' | b'+') => &s[1..],
        _ => s,
    }
}

/// `[0-9_]*` from `i`; returns the index after.
fn digits_us(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'_') {
        i += 1;
    }
    i
}

/// `(?::[0-5]?[0-9])+` from `i`; returns the index after, or `None` if no group matched.
fn sexagesimal_groups(s: &[u8], mut i: usize) -> Option<usize> {
    let mut groups = 0;
    while i < s.len() && s[i] == b':' {
        let j = i + 1;
        // [0-5]?[0-9]: one digit, or two with the first 0-5. Greedy, but backtrack if
        // the two-digit form leaves no valid continuation is not needed: ':' or '.' or end
        // must follow, and a third digit would fail either way.
        let d1 = s.get(j).copied();
        let d2 = s.get(j + 1).copied();
        match (d1, d2) {
            (Some(a @ b'0'..=b'5'), Some(b'0'..=b'9')) => {
                let _ = a;
                i = j + 2;
            }
            (Some(b'0'..=b'9'), _) => i = j + 1,
            _ => break,
        }
        groups += 1;
    }
    (groups > 0).then_some(i)
}

/// `[eE][-+][0-9]+` from `i` (optional); returns the index after.
fn exponent(s: &[u8], i: usize) -> Option<usize> {
    if i >= s.len() {
        return Some(i);
    }
    if !matches!(s[i], b'e' | b'E') || !matches!(s.get(i + 1), Some(b'-' | b'+')) {
        return None;
    }
    let mut j = i + 2;
    let start = j;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
    }
    (j > start).then_some(j)
}

fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    // \.(?:nan|NaN|NAN) (no sign)
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let body = strip_sign(b);
    // [-+]?\.(?:inf|Inf|INF)
    if matches!(body, b".inf" | b".Inf" | b".INF") {
        return true;
    }
    // \.[0-9][0-9_]*(?:[eE][-+][0-9]+)?  (no sign)
    if b.first() == Some(&b'.') {
        if !b.get(1).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        let i = digits_us(b, 2);
        return exponent(b, i) == Some(b.len());
    }
    // [-+]?[0-9][0-9_]* then either \.[0-9_]*(exp)? or (:[0-5]?[0-9])+\.[0-9_]*
    if !body.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let i = digits_us(body, 1);
    if body.get(i) == Some(&b'.') {
        let j = digits_us(body, i + 1);
        return exponent(body, j) == Some(body.len());
    }
    if let Some(j) = sexagesimal_groups(body, i)
        && body.get(j) == Some(&b'.')
    {
        return digits_us(body, j + 1) == body.len();
    }
    false
}

fn is_int(s: &str) -> bool {
    let body = strip_sign(s.as_bytes());
    let all = |t: &[u8], f: fn(&u8) -> bool| !t.is_empty() && t.iter().all(f);
    if let Some(rest) = body.strip_prefix(b"0b") {
        return all(rest, |c| matches!(c, b'0' | b'1' | b'_'));
    }
    if let Some(rest) = body.strip_prefix(b"0x") {
        return all(rest, |c| c.is_ascii_hexdigit() || *c == b'_');
    }
    if body == b"0" {
        return true;
    }
    if let Some(rest) = body.strip_prefix(b"0") {
        return all(rest, |c| matches!(c, b'0'..=b'7' | b'_'));
    }
    if !matches!(body.first(), Some(b'1'..=b'9')) {
        return false;
    }
    let i = digits_us(body, 1);
    if i == body.len() {
        return true;
    }
    sexagesimal_groups(body, i) == Some(body.len())
}

/// `!!int` / implicit int construction (PyYAML's construct_yaml_int).
/// `None`: not an integer; `Some(None)`: does not fit in 64 bits.
pub(crate) fn construct_int(s: &str) -> Option<Option<i64>> {
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, v) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, cleaned.as_str()),
    };
    if v.is_empty() {
        return None;
    }
    let parsed: Option<i128> = if v == "0" {
        Some(0)
    } else if let Some(r) = v.strip_prefix("0b") {
        parse_radix(r, 2)?
    } else if let Some(r) = v.strip_prefix("0x") {
        parse_radix(r, 16)?
    } else if v.starts_with('0') {
        parse_radix(v, 8)?
    } else if v.contains(':') {
        let mut total: i128 = 0;
        for part in v.split(':') {
            let d: i128 = parse_radix(part, 10)??;
            total = total.checked_mul(60)?.checked_add(d)?;
        }
        Some(total)
    } else {
        // Python's int() also accepts surrounding whitespace.
        parse_radix(v.trim(), 10)?
    };
    let Some(n) = parsed else {
        return Some(None);
    };
    let n = if neg { -n } else { n };
    Some(i64::try_from(n).ok())
}

/// Digits in a radix: `None` if not digits; `Some(None)` on overflow.
fn parse_radix(s: &str, radix: u32) -> Option<Option<i128>> {
    if s.is_empty() || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(i128::from_str_radix(s, radix).ok())
}

/// `!!float` / implicit float construction (PyYAML's construct_yaml_float).
pub(crate) fn construct_float(s: &str) -> Option<f64> {
    let cleaned: String = s
        .chars()
        .filter(|&c| c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let (sign, v) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1.0, &cleaned[1..]),
        Some(b'+') => (1.0, &cleaned[1..]),
        _ => (1.0, cleaned.as_str()),
    };
    if v == ".inf" {
        return Some(sign * f64::INFINITY);
    }
    if v == ".nan" {
        return Some(f64::NAN);
    }
    if v.contains(':') {
        let mut total = 0.0f64;
        for part in v.split(':') {
            total = total * 60.0 + py_float(part)?;
        }
        return Some(sign * total);
    }
    py_float(v).map(|f| sign * f)
}

/// Python's `float()` for the forms YAML produces (`1.`, `.5`, `1e+3`, `inf`, `nan`).
fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    // Rust accepts "1." and ".5"; it also accepts "infinity"/"nan" like Python.
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Plain {
        resolve_plain(s)
    }

    #[test]
    fn bools() {
        for t in ["yes", "Yes", "YES", "true", "True", "on", "ON"] {
            assert_eq!(k(t), Plain::Kind(Kind::Bool(true)), "{t}");
        }
        for f in ["no", "No", "NO", "false", "FALSE", "off", "Off"] {
            assert_eq!(k(f), Plain::Kind(Kind::Bool(false)), "{f}");
        }
        for s in ["y", "n", "yEs", "tRUE", "On ", "Y", "N"] {
            assert_eq!(k(s), Plain::Str, "{s}");
        }
    }

    #[test]
    fn ints() {
        let cases = [
            ("0", 0),
            ("-0", 0),
            ("12", 12),
            ("+12", 12),
            ("-12", -12),
            ("0644", 420),
            ("0x1F", 31),
            ("0x_1f", 31),
            ("0b101", 5),
            ("1_000", 1000),
            ("1:30", 90),
            ("-1:00:00", -3600),
            ("00", 0),
        ];
        for (s, v) in cases {
            assert_eq!(k(s), Plain::Kind(Kind::Int(v)), "{s}");
        }
        for s in [
            "08",
            "0o17",
            "1:60",
            "0x",
            "1__:3a",
            "12a",
            "9223372036854775808",
        ] {
            assert_eq!(k(s), Plain::Str, "{s}");
        }
    }

    #[test]
    fn floats() {
        let cases = [
            ("1.5", 1.5),
            ("-1.5", -1.5),
            ("1.", 1.0),
            (".5", 0.5),
            ("6.8523015e+5", 685230.15),
            ("1.0e-3", 0.001),
            ("1_0.5", 10.5),
            ("190:20:30.15", 685230.15),
            ("-.inf", f64::NEG_INFINITY),
            (".Inf", f64::INFINITY),
        ];
        for (s, v) in cases {
            assert_eq!(k(s), Plain::Kind(Kind::Float(v)), "{s}");
        }
        assert!(matches!(k(".nan"), Plain::Kind(Kind::Float(f)) if f.is_nan()));
        for s in [
            "1e3", "1.0e5", "-.nan", "+.5", ".", "1.2.3", "inf", ".inF", "1.5e",
        ] {
            assert_eq!(k(s), Plain::Str, "{s}");
        }
    }

    #[test]
    fn nulls_and_specials() {
        for s in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(k(s), Plain::Kind(Kind::Null), "{s:?}");
        }
        assert_eq!(k("nULL"), Plain::Str);
        assert_eq!(k("<<"), Plain::Merge);
        assert_eq!(k("="), Plain::Value);
        assert_eq!(k("2001-12-14"), Plain::Str);
    }

    #[test]
    fn plain_strings_for_the_emitter() {
        for s in ["hello", "y", "1e3", "0o17", "a b"] {
            assert!(plain_reads_as_str(s), "{s}");
        }
        for s in [
            "yes",
            "",
            "~",
            "12",
            "1:30",
            "9223372036854775808",
            "2001-12-14",
            "2001-12-14 21:59:43.10 -5",
            "<<",
            "=",
            "1.5",
            ".inf",
        ] {
            assert!(!plain_reads_as_str(s), "{s}");
        }
        assert!(plain_reads_as_str("2001-1-14"));
    }

    #[test]
    fn explicit_constructors() {
        assert_eq!(construct_int("0x1F"), Some(Some(31)));
        assert_eq!(construct_int("abc"), None);
        assert_eq!(construct_int("99999999999999999999"), Some(None));
        assert_eq!(construct_float("1"), Some(1.0));
        assert_eq!(construct_float("1e3"), Some(1000.0));
        assert_eq!(construct_bool("yEs"), Some(true));
        assert_eq!(construct_bool("y"), None);
    }
}
