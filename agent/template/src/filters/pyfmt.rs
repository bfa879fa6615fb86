//! Python's text forms of values: `str()`, `repr()`, float repr and `json.dumps`.

use minijinja::Value;
use minijinja::value::ValueKind;

use super::{as_bool, is_map, is_seq, list_of, map_items};

/// Python `repr(float)`: shortest round-trip digits, exponent form outside 1e-4..1e16.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let s = if exp >= 0 {
            if n <= exp + 1 {
                format!("{digits}{}.0", "0".repeat((exp + 1 - n) as usize))
            } else {
                let (a, b) = digits.split_at((exp + 1) as usize);
                format!("{a}.{b}")
            }
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

fn num_str(v: &Value) -> String {
    if v.is_integer() {
        v.to_string()
    } else {
        match f64::try_from(v.clone()) {
            Ok(f) => float_repr(f),
            Err(_) => v.to_string(),
        }
    }
}

/// Python `str(x)`.
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => py_repr(v),
    }
}

/// Python `repr(str)`.
pub fn str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// Python `repr(x)`.
pub fn py_repr(v: &Value) -> String {
    if let Some(b) = as_bool(v) {
        return if b { "True".into() } else { "False".into() };
    }
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined".into(),
        ValueKind::None => "None".into(),
        ValueKind::Number => num_str(v),
        ValueKind::String => str_repr(v.as_str().unwrap_or_default()),
        _ if is_map(v) => {
            let items = map_items(v).unwrap_or_default();
            let parts: Vec<String> = items
                .iter()
                .map(|(k, val)| format!("{}: {}", py_repr(k), py_repr(val)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        _ if is_seq(v) => {
            let items = list_of(v).unwrap_or_default();
            let parts: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        _ => v.to_string(),
    }
}

/// Options of Python's `json.dumps` that Ansible's filters pass.
#[derive(Debug, Clone)]
pub struct JsonOpts {
    pub indent: Option<String>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
    pub item_sep: String,
    pub key_sep: String,
}

impl Default for JsonOpts {
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

/// A JSON string literal as Python writes it.
pub fn json_str(s: &str, ensure_ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
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
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python `json.dumps(v, ...)`.
pub fn json_dumps(v: &Value, opts: &JsonOpts) -> Result<String, String> {
    let mut out = String::new();
    dump(v, opts, 0, &mut out)?;
    Ok(out)
}

fn key_text(k: &Value) -> Result<String, String> {
    if let Some(b) = as_bool(k) {
        return Ok(if b { "true" } else { "false" }.into());
    }
    match k.kind() {
        ValueKind::String => Ok(k.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Number => Ok(num_str(k)),
        _ => Err(format!(
            "keys must be str, int, float, bool or None, not {}",
            super::type_name(k)
        )),
    }
}

fn newline(opts: &JsonOpts, level: usize, out: &mut String) {
    if let Some(ind) = &opts.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

fn dump(v: &Value, opts: &JsonOpts, level: usize, out: &mut String) -> Result<(), String> {
    if let Some(b) = as_bool(v) {
        out.push_str(if b { "true" } else { "false" });
        return Ok(());
    }
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Undefined => {
            return Err("Object of type AnsibleUndefined is not JSON serializable".into());
        }
        ValueKind::Number => {
            if v.is_integer() {
                out.push_str(&v.to_string());
            } else {
                let f = f64::try_from(v.clone()).map_err(|e| e.to_string())?;
                if f.is_nan() {
                    out.push_str("NaN");
                } else if f.is_infinite() {
                    out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
                } else {
                    out.push_str(&float_repr(f));
                }
            }
        }
        ValueKind::String => {
            out.push_str(&json_str(v.as_str().unwrap_or_default(), opts.ensure_ascii))
        }
        _ if is_map(v) => {
            let mut items = map_items(v).unwrap_or_default();
            if items.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            let mut keyed: Vec<(String, Value)> = Vec::with_capacity(items.len());
            for (k, val) in items.drain(..) {
                keyed.push((key_text(&k)?, val));
            }
            if opts.sort_keys {
                keyed.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            let sep = if opts.indent.is_some() {
                opts.item_sep.trim_end()
            } else {
                &opts.item_sep
            };
            for (i, (k, val)) in keyed.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(opts, level + 1, out);
                out.push_str(&json_str(k, opts.ensure_ascii));
                out.push_str(&opts.key_sep);
                dump(val, opts, level + 1, out)?;
            }
            newline(opts, level, out);
            out.push('}');
        }
        _ if is_seq(v) => {
            let items = list_of(v).unwrap_or_default();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            let sep = if opts.indent.is_some() {
                opts.item_sep.trim_end()
            } else {
                &opts.item_sep
            };
            for (i, val) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(opts, level + 1, out);
                dump(val, opts, level + 1, out)?;
            }
            newline(opts, level, out);
            out.push(']');
        }
        _ => {
            return Err(format!(
                "Object of type {} is not JSON serializable",
                super::type_name(v)
            ));
        }
    }
    Ok(())
}

/// Parse JSON text into a value (Python `json.loads`, accepting NaN/Infinity).
pub fn json_loads(s: &str) -> Result<Value, String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    Ok(from_json_value(v))
}

/// Convert a serde_json value into a minijinja value, keeping int/float apart.
pub fn from_json_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s),
        serde_json::Value::Array(a) => {
            Value::from(a.into_iter().map(from_json_value).collect::<Vec<_>>())
        }
        serde_json::Value::Object(o) => {
            Value::from_pairs(o.into_iter().map(|(k, v)| (k, from_json_value(v))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_python() {
        assert_eq!(float_repr(1.0), "1.0");
        assert_eq!(float_repr(0.1), "0.1");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(123456.789), "123456.789");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(-2.5e-10), "-2.5e-10");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
    }

    #[test]
    fn reprs() {
        let v = super::from_json_value(serde_json::json!({"a": [1, "x'y", null, true, 1.5]}));
        assert_eq!(py_repr(&v), "{'a': [1, \"x'y\", None, True, 1.5]}");
    }

    #[test]
    fn json_like_python() {
        let v = super::from_json_value(serde_json::json!({"b": [1, 2], "a": {}, "c": "é"}));
        assert_eq!(
            json_dumps(&v, &JsonOpts::default()).unwrap(),
            r#"{"b": [1, 2], "a": {}, "c": "\u00e9"}"#
        );
        let nice = JsonOpts {
            indent: Some("    ".into()),
            sort_keys: true,
            item_sep: ",".into(),
            ..JsonOpts::default()
        };
        assert_eq!(
            json_dumps(&v, &nice).unwrap(),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2\n    ],\n    \"c\": \"\\u00e9\"\n}"
        );
    }
}
