//! Python-compatible text forms of values: `str()` as Jinja2 output shows it under
//! Ansible (`True`, `None` as the empty string at top level, `{'a': 1}`), `repr()` for
//! values inside containers, and printf-style `%` formatting.

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};

/// How a value is written into template output (Ansible's finalize + `str()`):
/// `None` becomes the empty string, booleans `True`/`False`, lists and dicts their
/// Python repr, strings unchanged.
pub fn py_str_into(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::None => {}
        _ => py_str_inner(out, v),
    }
}

/// Python `str()` of a value (`None` is `"None"`).
pub fn py_str(v: &Value) -> String {
    let mut s = String::new();
    py_str_inner(&mut s, v);
    s
}

fn py_str_inner(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::String => out.push_str(v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => py_repr_into(out, v, 0),
        _ => py_scalar(out, v),
    }
}

fn py_scalar(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::None => out.push_str("None"),
        ValueKind::Undefined => {}
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if v.is_integer() {
                out.push_str(&v.to_string());
            } else if let Ok(f) = f64::try_from(v.clone()) {
                out.push_str(&py_float(f));
            } else {
                out.push_str(&v.to_string());
            }
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// Python's `repr()` of a float (`1.0`, `1e+20`, `inf`, `nan`).
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python switches to exponent notation: 1e+16, 1.5e-05
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Python `repr()` of a value.
pub fn py_repr(v: &Value) -> String {
    let mut s = String::new();
    py_repr_into(&mut s, v, 0);
    s
}

const MAX_REPR_DEPTH: usize = 200;

fn py_repr_into(out: &mut String, v: &Value, depth: usize) {
    if depth > MAX_REPR_DEPTH {
        out.push_str("...");
        return;
    }
    match v.kind() {
        ValueKind::String => py_repr_str(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            if let Ok(iter) = v.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_repr_into(out, &item, depth + 1);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = v.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_repr_into(out, &key, depth + 1);
                    out.push_str(": ");
                    let item = v.get_item(&key).unwrap_or_default();
                    py_repr_into(out, &item, depth + 1);
                }
            }
            out.push('}');
        }
        _ => py_scalar(out, v),
    }
}

/// Python's `repr()` of a `str`: single quotes unless the text has a single quote and
/// no double quote; escapes for backslash, the quote, and control characters.
pub fn py_repr_str(out: &mut String, s: &str) {
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
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `fmt % args` for strings: `args` is one value or a tuple/list of values.
pub fn percent_format(fmt: &str, args: &Value) -> Result<Value, Error> {
    let args: Vec<Value> = match args.kind() {
        ValueKind::Seq => args.try_iter()?.collect(),
        _ => vec![args.clone()],
    };
    // Give `%s` the Python text of values minijinja would print differently.
    let mut converted = Vec::with_capacity(args.len());
    let mut specs = conversion_chars(fmt).into_iter();
    for a in args {
        let conv = specs.next().unwrap_or('s');
        let v = match (conv, a.kind()) {
            ('r', _) => Value::from(py_repr(&a)),
            ('s', ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map) => {
                Value::from(py_str(&a))
            }
            ('s', ValueKind::Number) if !a.is_integer() => Value::from(py_str(&a)),
            ('d' | 'i', ValueKind::Bool) => Value::from(i64::from(a.is_true())),
            _ => a,
        };
        converted.push(v);
    }
    minijinja::formatting::format(minijinja::formatting::FormatStyle::Printf, fmt, &converted)
        .map(Value::from)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("string formatting failed: {e}"),
            )
        })
}

/// The conversion characters of a printf format string, in order (`%%` skipped).
fn conversion_chars(fmt: &str) -> Vec<char> {
    let mut rv = Vec::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        for d in chars.by_ref() {
            if d == '%' {
                break;
            }
            if d.is_ascii_alphabetic() {
                rv.push(d);
                break;
            }
        }
    }
    rv
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn repr_forms() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, "x", null, true, 1.5]}),
        ));
        assert_eq!(py_repr(&v), "{'a': [1, 'x', None, True, 1.5]}");
        assert_eq!(py_repr(&Value::from("it's")), "\"it's\"");
        assert_eq!(py_repr(&Value::from("a\nb")), "'a\\nb'");
        assert_eq!(py_str(&Value::from(3.0)), "3.0");
        assert_eq!(py_float(1e20), "1e+20");
        assert_eq!(py_float(1.5e-5), "1.5e-05");
        let mut s = String::new();
        py_str_into(&mut s, &Value::from(()));
        assert_eq!(s, "");
    }

    #[test]
    fn percent() {
        let args = Value::from(vec![Value::from("a"), Value::from(1)]);
        assert_eq!(percent_format("%s-%d", &args).unwrap().to_string(), "a-1");
        assert_eq!(
            percent_format("%s", &Value::from(true))
                .unwrap()
                .to_string(),
            "True"
        );
        assert_eq!(
            percent_format(
                "%05.2f|%x",
                &Value::from(vec![Value::from(1.23456), Value::from(255)])
            )
            .unwrap()
            .to_string(),
            "01.23|ff"
        );
    }
}

/// Rewrite `"literal" % operand` (Python string formatting) into
/// `("literal" | __agent_percent(operand))`. In template mode only the insides of
/// `{{ }}` and `{% %}` are expressions; in expression mode all of `src` is.
pub fn rewrite_percent_ops(src: &str, expr_mode: bool) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 32);
    let mut i = 0;
    let mut copied = 0;
    let mut in_expr = expr_mode;
    while i < b.len() {
        if !in_expr {
            if b[i] == b'{' && matches!(b.get(i + 1), Some(b'{' | b'%')) {
                in_expr = true;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match b[i] {
            b'}' | b'%' if !expr_mode && b.get(i + 1) == Some(&b'}') => {
                in_expr = false;
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                let Some(end) = string_end(b, i, q) else {
                    break;
                };
                i = end;
                // after the literal: whitespace, `%`, not `%}`
                let mut j = end;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && b[j] == b'%' && b.get(j + 1) != Some(&b'}') {
                    let mut k = j + 1;
                    while k < b.len() && b[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    if let Some(op_end) = operand_end(b, k) {
                        out.push_str(&src[copied..start]);
                        out.push('(');
                        out.push_str(&src[start..end]);
                        out.push_str(" | __agent_percent(");
                        out.push_str(&src[k..op_end]);
                        out.push_str("))");
                        copied = op_end;
                        i = op_end;
                    }
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&src[copied..]);
    out
}

/// The index just past a string literal starting at `start` (quote `q`).
fn string_end(b: &[u8], start: usize, q: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The end of a primary operand: a parenthesised group, a literal, or a name with
/// attribute, subscript and call suffixes.
fn operand_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    match b.get(i)? {
        b'(' | b'[' => i = group_end(b, i)?,
        q @ (b'"' | b'\'') => i = string_end(b, i, *q)?,
        c if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' => {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        }
        _ => return None,
    }
    // suffixes
    loop {
        match b.get(i) {
            Some(b'(' | b'[') => i = group_end(b, i)?,
            Some(b'.') => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            _ => return Some(i),
        }
    }
}

/// The index just past the bracket group opening at `start`.
fn group_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            q @ (b'"' | b'\'') => {
                i = string_end(b, i, q)?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod rewrite_unit {
    use super::rewrite_percent_ops;

    #[test]
    fn rewrites() {
        assert_eq!(
            rewrite_percent_ops("{{ \"%s-%d\" % (a, b) }}", false),
            "{{ (\"%s-%d\" | __agent_percent((a, b))) }}"
        );
        assert_eq!(
            rewrite_percent_ops("'%s' % x.y[0]", true),
            "('%s' | __agent_percent(x.y[0]))"
        );
        assert_eq!(
            rewrite_percent_ops("it's 50% {{ a }}", false),
            "it's 50% {{ a }}"
        );
        assert_eq!(
            rewrite_percent_ops("{% if a %}'%'{% endif %}", false),
            "{% if a %}'%'{% endif %}"
        );
    }
}
