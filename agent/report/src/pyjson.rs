//! Python-compatible text renderings of runtime values: `json.dumps` (as Ansible's
//! callbacks call it) and `str()` (used for loop item labels).

use minijinja::value::{Value, ValueKind};
use std::fmt::Write as _;

/// Options matching the `json.dumps` keyword arguments callbacks use.
#[derive(Debug, Clone, Copy)]
pub struct JsonStyle {
    /// `indent=`: `None` gives one line with `", "` / `": "` separators.
    pub indent: Option<usize>,
    pub sort_keys: bool,
    /// `ensure_ascii=True` escapes every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
}

/// `json.dumps(value, indent=..., sort_keys=..., ensure_ascii=...)`.
pub fn dumps(value: &Value, style: JsonStyle) -> String {
    let mut out = String::new();
    write_value(&mut out, value, style, 0);
    out
}

fn newline_indent(out: &mut String, style: JsonStyle, level: usize) {
    if let Some(n) = style.indent {
        out.push('\n');
        for _ in 0..n * level {
            out.push(' ');
        }
    }
}

fn item_sep(style: JsonStyle) -> &'static str {
    if style.indent.is_some() { "," } else { ", " }
}

/// Entries of a map value as (key text, value), sorted when asked.
pub(crate) fn map_entries(value: &Value, sort: bool) -> Vec<(String, Value)> {
    let mut entries: Vec<(String, Value)> = match value.try_iter() {
        Ok(keys) => keys
            .map(|k| {
                let v = value.get_item(&k).unwrap_or_default();
                (key_text(&k), v)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if sort {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
    entries
}

/// How `json.dumps` turns a dict key into text.
fn key_text(k: &Value) -> String {
    match k.kind() {
        ValueKind::String => k.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::None | ValueKind::Undefined => "null".to_string(),
        ValueKind::Number => number_text(k),
        _ => k.to_string(),
    }
}

fn write_value(out: &mut String, value: &Value, style: JsonStyle, level: usize) {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&number_text(value)),
        ValueKind::String => write_string(out, value.as_str().unwrap_or_default(), style),
        ValueKind::Bytes => {
            let s = value
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            write_string(out, &s, style)
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter().map(|i| i.collect()).unwrap_or_default();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep(style));
                }
                newline_indent(out, style, level + 1);
                write_value(out, item, style, level + 1);
            }
            newline_indent(out, style, level);
            out.push(']');
        }
        ValueKind::Map => {
            let entries = map_entries(value, style.sort_keys);
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep(style));
                }
                newline_indent(out, style, level + 1);
                write_string(out, k, style);
                out.push_str(": ");
                write_value(out, v, style, level + 1);
            }
            newline_indent(out, style, level);
            out.push('}');
        }
        // Anything else (callables, invalid values ...) is shown as its string form,
        // like Ansible's fallback-to-str encoder.
        _ => write_string(out, &value.to_string(), style),
    }
}

fn write_string(out: &mut String, s: &str, style: JsonStyle) {
    out.push('"');
    for c in s.chars() {
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
            c if style.ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as Python prints it (`repr` for floats, plain digits for ints).
pub(crate) fn number_text(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) => float_repr(f),
        Err(_) => v.to_string(),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, scientific outside 1e-4..1e16.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7" / "1e16".
    let sci = format!("{:e}", f);
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    let negative = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= 0 {
            let int_len = exp + 1;
            if n <= int_len {
                format!("{}{}.0", digits, "0".repeat((int_len - n) as usize))
            } else {
                format!(
                    "{}.{}",
                    &digits[..int_len as usize],
                    &digits[int_len as usize..]
                )
            }
        } else {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.clone()
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// Python's `str(value)` for the plain data Ansible passes around (`repr` inside
/// containers): what `"%s" % item` prints for loop labels.
pub fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        _ => py_repr(value),
    }
}

/// Python's `repr(value)`.
pub fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, value);
    out
}

fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if value.is_integer() {
                out.push_str(&value.to_string())
            } else {
                match f64::try_from(value.clone()) {
                    Ok(f) if f.is_nan() => out.push_str("nan"),
                    Ok(f) if f.is_infinite() => out.push_str(if f > 0.0 { "inf" } else { "-inf" }),
                    Ok(f) => out.push_str(&float_repr(f)),
                    Err(_) => out.push_str(&value.to_string()),
                }
            }
        }
        ValueKind::String => repr_str(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(items) = value.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &item);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = value.try_iter() {
                for (i, k) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &k);
                    out.push_str(": ");
                    write_repr(out, &value.get_item(&k).unwrap_or_default());
                }
            }
            out.push('}');
        }
        _ => repr_str(out, &value.to_string()),
    }
}

fn repr_str(out: &mut String, s: &str) {
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
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: &str) -> Value {
        let j: serde_json::Value = serde_json::from_str(j).unwrap();
        Value::from(minijinja::value::Serde(&j))
    }

    const ONE: JsonStyle = JsonStyle {
        indent: None,
        sort_keys: true,
        ensure_ascii: false,
    };

    #[test]
    fn one_line_sorted() {
        assert_eq!(
            dumps(
                &v(r#"{"b": [1, 2], "a": {"z": null, "y": true}, "c": "é\n"}"#),
                ONE
            ),
            r#"{"a": {"y": true, "z": null}, "b": [1, 2], "c": "é\n"}"#
        );
    }

    #[test]
    fn indented_and_empty() {
        let style = JsonStyle {
            indent: Some(4),
            ..ONE
        };
        assert_eq!(
            dumps(&v(r#"{"a": [], "b": {}, "c": [1]}"#), style),
            "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1\n    ]\n}"
        );
    }

    #[test]
    fn ascii_escapes() {
        let style = JsonStyle {
            ensure_ascii: true,
            ..ONE
        };
        assert_eq!(
            dumps(&Value::from("é🎉\u{1}"), style),
            r#""\u00e9\ud83c\udf89\u0001""#
        );
    }

    #[test]
    fn floats_like_python() {
        assert_eq!(float_repr(1.5), "1.5");
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(123456789012345.0), "123456789012345.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-2.5e-7), "-2.5e-07");
        assert_eq!(float_repr(0.1 + 0.2), "0.30000000000000004");
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
    }
}
