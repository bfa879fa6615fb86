//! Python's text forms of values: `str()`, `repr()`, float repr and `json.dumps`.

use minijinja::Value;

pub use agent_py::{JsonOpts, float_repr, json_str, str_repr};

/// How filters show an undefined value inside `str()` / `repr()`.
const FILTER_REPR: agent_py::ReprOptions = agent_py::ReprOptions {
    undefined: "AnsibleUndefined",
};

/// Python `str(x)`.
pub fn py_str(v: &Value) -> String {
    agent_py::py_str_with(v, FILTER_REPR)
}

/// Python `repr(x)`.
pub fn py_repr(v: &Value) -> String {
    agent_py::py_repr_with(v, FILTER_REPR)
}

/// Python `json.dumps(v, ...)`.
pub fn json_dumps(v: &Value, opts: &JsonOpts) -> Result<String, String> {
    agent_py::json_dumps(v, opts).map_err(|e| e.to_string())
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
