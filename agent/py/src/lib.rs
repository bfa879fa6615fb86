//! Python's text forms of runtime values, shared by every crate: `repr(float)`,
//! `str()` / `repr()` of plain data, and `json.dumps` (strict, as the `to_json`
//! filters call it, and lenient, as Ansible's callbacks' encoder behaves).

use minijinja::value::{Value, ValueKind};
use std::fmt::Write as _;

/// Containers nested deeper than this are shown as `...` by `repr()`.
const MAX_REPR_DEPTH: usize = 200;

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside
/// 1e-4..1e16 (`1.0`, `0.0001`, `1e-05`, `1e+16`, `inf`, `nan`).
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7" / "1e16".
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if mant.starts_with('-') { "-" } else { "" };
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = (exp + 1) as usize;
            if digits.len() <= int_len {
                let zeros = "0".repeat(int_len - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                let (a, b) = digits.split_at(int_len);
                format!("{sign}{a}.{b}")
            }
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// A float as `json.dumps` writes it: `repr`, but `NaN` / `Infinity` / `-Infinity`.
pub fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(f)
    }
}

/// A number value's text: plain digits for ints, `float_fmt` for floats.
fn number_text(v: &Value, float_fmt: fn(f64) -> String) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) => float_fmt(f),
        Err(_) => v.to_string(),
    }
}

/// Whether Python's `str.isprintable()` is false for an assigned character
/// (Unicode 15: Cc, Cf, Co, Zl, Zp, and Zs other than the space).
fn non_printable(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        (0x0, 0x1F),
        (0x7F, 0xA0),
        (0xAD, 0xAD),
        (0x600, 0x605),
        (0x61C, 0x61C),
        (0x6DD, 0x6DD),
        (0x70F, 0x70F),
        (0x890, 0x891),
        (0x8E2, 0x8E2),
        (0x1680, 0x1680),
        (0x180E, 0x180E),
        (0x2000, 0x200F),
        (0x2028, 0x202F),
        (0x205F, 0x2064),
        (0x2066, 0x206F),
        (0x3000, 0x3000),
        (0xE000, 0xF8FF),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        (0xF0000, 0xFFFFD),
        (0x100000, 0x10FFFD),
    ];
    let c = c as u32;
    RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Python's `repr()` of a `str`, appended to `out`: single quotes unless the text
/// has a single quote and no double quote; backslash escapes for the quote, the
/// backslash and non-printable characters (`\n`, `\x85`, `\u200b`, `\U000e0001`).
pub fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if non_printable(c) => {
                let n = c as u32;
                let _ = if n < 0x100 {
                    write!(out, "\\x{n:02x}")
                } else if n < 0x10000 {
                    write!(out, "\\u{n:04x}")
                } else {
                    write!(out, "\\U{n:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `repr()` of a `str`.
pub fn str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str_repr(&mut out, s);
    out
}

/// What differs between the places that print Python text of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReprOptions {
    /// How an undefined value is shown (`None` for callbacks, `AnsibleUndefined`
    /// for filters, nothing in template output).
    pub undefined: &'static str,
}

impl ReprOptions {
    /// Undefined shown as `None` (what `"%s" % item` prints in callbacks).
    pub const PYTHON: ReprOptions = ReprOptions { undefined: "None" };
}

impl Default for ReprOptions {
    fn default() -> Self {
        ReprOptions::PYTHON
    }
}

/// Python's `repr(value)` for plain data (undefined shown as `None`).
pub fn py_repr(v: &Value) -> String {
    py_repr_with(v, ReprOptions::PYTHON)
}

/// Python's `str(value)`: strings unchanged, anything else its `repr`.
pub fn py_str(v: &Value) -> String {
    py_str_with(v, ReprOptions::PYTHON)
}

/// [`py_repr`] with explicit options.
pub fn py_repr_with(v: &Value, opts: ReprOptions) -> String {
    let mut out = String::new();
    write_repr(&mut out, v, opts);
    out
}

/// [`py_str`] with explicit options.
pub fn py_str_with(v: &Value, opts: ReprOptions) -> String {
    let mut out = String::new();
    write_str(&mut out, v, opts);
    out
}

/// Append Python's `str(value)` to `out`.
pub fn write_str(out: &mut String, v: &Value, opts: ReprOptions) {
    match v.kind() {
        ValueKind::String => out.push_str(v.as_str().unwrap_or_default()),
        _ => write_repr(out, v, opts),
    }
}

/// Append Python's `repr(value)` to `out`.
pub fn write_repr(out: &mut String, v: &Value, opts: ReprOptions) {
    repr_into(out, v, opts, 0);
}

fn repr_into(out: &mut String, v: &Value, opts: ReprOptions, depth: usize) {
    if depth > MAX_REPR_DEPTH {
        out.push_str("...");
        return;
    }
    match v.kind() {
        ValueKind::Undefined => out.push_str(opts.undefined),
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&number_text(v, float_repr)),
        ValueKind::String => write_str_repr(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(items) = v.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    repr_into(out, &item, opts, depth + 1);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = v.try_iter() {
                for (i, k) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    repr_into(out, &k, opts, depth + 1);
                    out.push_str(": ");
                    let item = v.get_item(&k).unwrap_or_default();
                    repr_into(out, &item, opts, depth + 1);
                }
            }
            out.push('}');
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// Python's type name for a value, as its error messages show it.
pub fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// Why `json.dumps` refused a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("Object of type {0} is not JSON serializable")]
    NotSerializable(&'static str),
    #[error("keys must be str, int, float, bool or None, not {0}")]
    BadKey(&'static str),
}

/// Keyword arguments of Python's `json.dumps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonOpts {
    /// `indent=` as the text of one level; `None` writes one line.
    pub indent: Option<String>,
    pub sort_keys: bool,
    /// `ensure_ascii=True` escapes every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
    /// First of `separators=` (written without trailing blanks when indenting).
    pub item_sep: String,
    /// Second of `separators=`.
    pub key_sep: String,
}

impl Default for JsonOpts {
    /// `json.dumps` defaults: one line, `", "` / `": "`, ASCII only, keys unsorted.
    fn default() -> Self {
        JsonOpts {
            indent: None,
            sort_keys: false,
            ensure_ascii: true,
            item_sep: ", ".into(),
            key_sep: ": ".into(),
        }
    }
}

impl JsonOpts {
    /// `json.dumps(indent=indent, sort_keys=..., ensure_ascii=...)` with Python's
    /// default separators for that indent.
    pub fn python(indent: Option<usize>, sort_keys: bool, ensure_ascii: bool) -> Self {
        JsonOpts {
            indent: indent.map(|n| " ".repeat(n)),
            sort_keys,
            ensure_ascii,
            item_sep: if indent.is_some() { "," } else { ", " }.into(),
            key_sep: ": ".into(),
        }
    }
}

/// Append a JSON string literal as Python's `json` writes it.
pub fn write_json_str(out: &mut String, s: &str, ensure_ascii: bool) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of characters written as they are go in one piece; a byte that needs an
    // escape (or, with `ensure_ascii`, starts a non-ASCII character) ends a run.
    let plain = |b: u8| match b {
        b'"' | b'\\' => false,
        0x20..=0x7e => true,
        0x80.. => !ensure_ascii,
        _ => false,
    };
    let bytes = s.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let run = bytes[start..].iter().take_while(|&&b| plain(b)).count();
        out.push_str(&s[start..start + run]);
        start += run;
        let Some(c) = s[start..].chars().next() else {
            break;
        };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
        start += c.len_utf8();
    }
    out.push('"');
}

/// A JSON string literal as Python's `json` writes it.
pub fn json_str(s: &str, ensure_ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s, ensure_ascii);
    out
}

/// Python `json.dumps(v, ...)`: undefined values, bytes and objects are errors,
/// as are keys that are not str, int, float, bool or None.
pub fn json_dumps(v: &Value, opts: &JsonOpts) -> Result<String, JsonError> {
    let mut out = String::new();
    Dumper {
        opts,
        lenient: false,
    }
    .value(v, 0, &mut out)?;
    Ok(out)
}

/// `json.dumps` as Ansible's callbacks run it: never fails; undefined is `null`,
/// bytes are decoded, other objects and odd keys are written as their text.
pub fn json_dumps_lenient(v: &Value, opts: &JsonOpts) -> String {
    json_dumps_lenient_at(v, opts, 0)
}

/// [`json_dumps_lenient`] for a value that sits `level` deep in an indented document:
/// its inner lines are indented as they would be there (the first line is not).
pub fn json_dumps_lenient_at(v: &Value, opts: &JsonOpts, level: usize) -> String {
    let mut out = String::new();
    // A lenient dump has no error paths.
    let _ = Dumper {
        opts,
        lenient: true,
    }
    .value(v, level, &mut out);
    out
}

/// How a lenient `json.dumps` turns a dict key into text.
pub fn json_key_lenient(k: &Value) -> String {
    json_key(k, true).unwrap_or_else(|_| k.to_string())
}

fn json_key(k: &Value, lenient: bool) -> Result<String, JsonError> {
    match k.kind() {
        ValueKind::String => Ok(k.as_str().unwrap_or_default().to_string()),
        ValueKind::Bool => Ok(if k.is_true() { "true" } else { "false" }.into()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Number => Ok(number_text(k, json_float)),
        ValueKind::Undefined if lenient => Ok("null".into()),
        _ if lenient => Ok(k.to_string()),
        _ => Err(JsonError::BadKey(type_name(k))),
    }
}

struct Dumper<'a> {
    opts: &'a JsonOpts,
    lenient: bool,
}

impl Dumper<'_> {
    fn newline(&self, level: usize, out: &mut String) {
        if let Some(ind) = &self.opts.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    }

    fn item_sep(&self) -> &str {
        if self.opts.indent.is_some() {
            self.opts.item_sep.trim_end()
        } else {
            &self.opts.item_sep
        }
    }

    /// A key's text: a string as it is, anything else as Python's encoder writes it.
    fn key_text<'k>(&self, k: &'k Value) -> Result<std::borrow::Cow<'k, str>, JsonError> {
        // (by kind: `as_str` would also give the text of UTF-8 bytes, which Python refuses)
        Ok(match (k.kind(), k.as_str()) {
            (ValueKind::String, Some(t)) => std::borrow::Cow::Borrowed(t),
            _ => std::borrow::Cow::Owned(json_key(k, self.lenient)?),
        })
    }

    /// A map's entries (key text, value), sorted when asked.
    fn entries(
        &self,
        entries: &mut [(std::borrow::Cow<'_, str>, &Value)],
        level: usize,
        out: &mut String,
    ) -> Result<(), JsonError> {
        if entries.is_empty() {
            out.push_str("{}");
            return Ok(());
        }
        if self.opts.sort_keys {
            // Stable, as Python's sort: equal texts keep their order.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.push('{');
        for (i, (key, item)) in entries.iter().enumerate() {
            if i > 0 {
                out.push_str(self.item_sep());
            }
            self.newline(level + 1, out);
            write_json_str(out, key, self.opts.ensure_ascii);
            out.push_str(&self.opts.key_sep);
            self.value(item, level + 1, out)?;
        }
        self.newline(level, out);
        out.push('}');
        Ok(())
    }

    fn value(&self, v: &Value, level: usize, out: &mut String) -> Result<(), JsonError> {
        let ensure_ascii = self.opts.ensure_ascii;
        match v.kind() {
            ValueKind::None => out.push_str("null"),
            ValueKind::Undefined if self.lenient => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number if v.is_integer() => {
                let _ = write!(out, "{v}");
            }
            ValueKind::Number => out.push_str(&number_text(v, json_float)),
            ValueKind::String => write_json_str(out, v.as_str().unwrap_or_default(), ensure_ascii),
            ValueKind::Bytes if self.lenient => {
                let s = v
                    .as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                write_json_str(out, &s, ensure_ascii)
            }
            ValueKind::Map => {
                // A plain map (what results and variables are) is read in place; any other
                // map-like object through its keys.
                if let Some(map) = v.downcast_object_ref::<indexmap::IndexMap<Value, Value>>() {
                    let mut entries = Vec::with_capacity(map.len());
                    for (k, item) in map {
                        entries.push((self.key_text(k)?, item));
                    }
                    return self.entries(&mut entries, level, out);
                }
                let mut pairs: Vec<(Value, Value)> = Vec::new();
                if let Ok(keys) = v.try_iter() {
                    for k in keys {
                        let item = v.get_item(&k).unwrap_or_default();
                        pairs.push((k, item));
                    }
                }
                let mut entries = Vec::with_capacity(pairs.len());
                for (k, item) in &pairs {
                    entries.push((self.key_text(k)?, item));
                }
                return self.entries(&mut entries, level, out);
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter().map(|i| i.collect()).unwrap_or_default();
                if items.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(self.item_sep());
                    }
                    self.newline(level + 1, out);
                    self.value(item, level + 1, out)?;
                }
                self.newline(level, out);
                out.push(']');
            }
            // Ansible's encoder falls back to the string form.
            _ if self.lenient => write_json_str(out, &v.to_string(), ensure_ascii),
            _ => return Err(JsonError::NotSerializable(type_name(v))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: &str) -> Value {
        let j: serde_json::Value = serde_json::from_str(j).unwrap();
        Value::from(minijinja::value::Serde(&j))
    }

    #[test]
    fn floats_like_python() {
        let cases = [
            (1.5, "1.5"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e20, "1e+20"),
            (1e15, "1000000000000000.0"),
            (123456789012345.0, "123456789012345.0"),
            (123456.789, "123456.789"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (-2.5e-7, "-2.5e-07"),
            (-2.5e-10, "-2.5e-10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (f, s) in cases {
            assert_eq!(float_repr(f), s, "{f:?}");
        }
        assert_eq!(json_float(f64::NAN), "NaN");
        assert_eq!(json_float(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(json_float(2.5), "2.5");
    }

    #[test]
    fn python_str_and_repr() {
        assert_eq!(py_str(&Value::from("a'b")), "a'b");
        assert_eq!(
            py_str(&v(
                r#"{"name": "one", "v": 1, "t": true, "n": null, "l": ["it's"]}"#
            )),
            r#"{'name': 'one', 'v': 1, 't': True, 'n': None, 'l': ["it's"]}"#
        );
        assert_eq!(py_repr(&Value::from("a\nb")), "'a\\nb'");
        assert_eq!(
            py_repr(&v(r#"{"a": [1, "x'y", null, true, 1.5]}"#)),
            "{'a': [1, \"x'y\", None, True, 1.5]}"
        );
        assert_eq!(py_repr(&Value::from(f64::NAN)), "nan");
    }

    #[test]
    fn undefined_per_context() {
        let l = Value::from(vec![Value::UNDEFINED]);
        assert_eq!(py_repr(&l), "[None]");
        let ansible = ReprOptions {
            undefined: "AnsibleUndefined",
        };
        assert_eq!(py_str_with(&Value::UNDEFINED, ansible), "AnsibleUndefined");
        let blank = ReprOptions { undefined: "" };
        assert_eq!(py_repr_with(&l, blank), "[]");
    }

    #[test]
    fn str_repr_escapes_like_python() {
        // Checked against Python 3.12: repr('\x85\xa0\u200b\U000e0001\U00100000')
        assert_eq!(
            str_repr("\u{85}\u{a0}\u{200b}\u{e0001}\u{100000}"),
            r"'\x85\xa0\u200b\U000e0001\U00100000'"
        );
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("'\""), r#"'\'"'"#);
        assert_eq!(str_repr("a\\b\t\u{7f}é🎉"), r"'a\\b\t\x7fé🎉'");
    }

    #[test]
    fn deep_nesting_is_cut() {
        let mut x = Value::from(1);
        for _ in 0..300 {
            x = Value::from(vec![x]);
        }
        assert!(py_repr(&x).contains("..."));
    }

    #[test]
    fn json_one_line() {
        let o = JsonOpts::python(None, true, false);
        assert_eq!(
            json_dumps(
                &v(r#"{"b": [1, 2], "a": {"z": null, "y": true}, "c": "é\n"}"#),
                &o
            )
            .unwrap(),
            r#"{"a": {"y": true, "z": null}, "b": [1, 2], "c": "é\n"}"#
        );
        assert_eq!(
            json_dumps(
                &v(r#"{"b": [1, 2], "a": {}, "c": "é"}"#),
                &JsonOpts::default()
            )
            .unwrap(),
            r#"{"b": [1, 2], "a": {}, "c": "\u00e9"}"#
        );
    }

    #[test]
    fn json_indented() {
        let o = JsonOpts::python(Some(4), true, false);
        assert_eq!(
            json_dumps(&v(r#"{"a": [], "b": {}, "c": [1]}"#), &o).unwrap(),
            "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1\n    ]\n}"
        );
    }

    #[test]
    fn json_ascii_escapes() {
        let o = JsonOpts::python(None, true, true);
        assert_eq!(
            json_dumps(&Value::from("é🎉\u{1}"), &o).unwrap(),
            r#""\u00e9\ud83c\udf89\u0001""#
        );
    }

    #[test]
    fn json_plain_maps_and_other_map_objects_dump_alike() {
        let pairs = [
            (Value::from("b"), Value::from(vec![Value::from(1)])),
            (Value::from(2), Value::from("two")),
            (Value::from("a"), Value::from(true)),
        ];
        // Value::from_pairs makes minijinja's own map (read in place); a BTreeMap object
        // is another map-like object (read through its keys).
        let plain = Value::from_pairs(pairs.iter().cloned());
        assert!(
            plain
                .downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
                .is_some()
        );
        let other = Value::from_object(std::collections::BTreeMap::from(pairs.clone()));
        for sort in [true, false] {
            let o = JsonOpts::python(Some(2), sort, true);
            let text = json_dumps(&plain, &o).unwrap();
            if sort {
                assert_eq!(text, json_dumps(&other, &o).unwrap());
                assert_eq!(
                    text,
                    "{\n  \"2\": \"two\",\n  \"a\": true,\n  \"b\": [\n    1\n  ]\n}"
                );
            } else {
                // Insertion order, non-string keys in their place.
                assert_eq!(
                    text,
                    "{\n  \"b\": [\n    1\n  ],\n  \"2\": \"two\",\n  \"a\": true\n}"
                );
            }
        }
    }

    #[test]
    fn json_bytes_keys_are_refused_in_plain_maps_too() {
        let m = Value::from_pairs([(Value::from_bytes(b"k".to_vec()), Value::from(1))]);
        assert_eq!(
            json_dumps(&m, &JsonOpts::default())
                .unwrap_err()
                .to_string(),
            "keys must be str, int, float, bool or None, not bytes"
        );
    }

    #[test]
    fn json_strict_and_lenient() {
        let o = JsonOpts::default();
        let l = Value::from(vec![Value::UNDEFINED]);
        assert_eq!(
            json_dumps(&l, &o).unwrap_err().to_string(),
            "Object of type AnsibleUndefined is not JSON serializable"
        );
        assert_eq!(json_dumps_lenient(&l, &o), "[null]");
        let m = Value::from_object(std::collections::BTreeMap::from([(
            Value::from(vec![1]),
            Value::from(1),
        )]));
        assert_eq!(
            json_dumps(&m, &o).unwrap_err().to_string(),
            "keys must be str, int, float, bool or None, not list"
        );
        assert_eq!(json_dumps_lenient(&m, &o), r#"{"[1]": 1}"#);
        let nan = Value::from_object(std::collections::BTreeMap::from([(
            Value::from(f64::NAN),
            Value::from(f64::INFINITY),
        )]));
        // Python: json.dumps({float('nan'): float('inf')}) == '{"NaN": Infinity}'
        assert_eq!(json_dumps(&nan, &o).unwrap(), r#"{"NaN": Infinity}"#);
        assert_eq!(json_key_lenient(&Value::from(true)), "true");
        assert_eq!(json_key_lenient(&Value::UNDEFINED), "null");
    }
}
