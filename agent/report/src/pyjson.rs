//! Python-compatible text renderings of runtime values: `json.dumps` (as Ansible's
//! callbacks call it) and `str()` (used for loop item labels). The formatting itself
//! lives in `agent-py`; this module keeps the callbacks' options.

use minijinja::value::Value;

pub use agent_py::json_float as float_repr;
pub use agent_py::{py_repr, py_str};

/// Options matching the `json.dumps` keyword arguments callbacks use.
#[derive(Debug, Clone, Copy)]
pub struct JsonStyle {
    /// `indent=`: `None` gives one line with `", "` / `": "` separators.
    pub indent: Option<usize>,
    pub sort_keys: bool,
    /// `ensure_ascii=True` escapes every non-ASCII character as `\uXXXX`.
    pub ensure_ascii: bool,
}

/// `json.dumps(value, indent=..., sort_keys=..., ensure_ascii=...)`, never failing
/// (undefined is `null`, other objects their text, like Ansible's encoder).
pub fn dumps(value: &Value, style: JsonStyle) -> String {
    dumps_at(value, style, 0)
}

/// [`dumps`] for a value `level` deep in an indented document (its inner lines indented
/// to that depth).
pub fn dumps_at(value: &Value, style: JsonStyle, level: usize) -> String {
    let opts = agent_py::JsonOpts::python(style.indent, style.sort_keys, style.ensure_ascii);
    agent_py::json_dumps_lenient_at(value, &opts, level)
}

/// Entries of a map value as (key text, value), sorted when asked.
pub(crate) fn map_entries(value: &Value, sort: bool) -> Vec<(String, Value)> {
    let mut entries: Vec<(String, Value)> = match value.try_iter() {
        Ok(keys) => keys
            .map(|k| {
                let v = value.get_item(&k).unwrap_or_default();
                (agent_py::json_key_lenient(&k), v)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if sort {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
    entries
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
        assert_eq!(float_repr(f64::NAN), "NaN");
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
