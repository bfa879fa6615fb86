//! Python methods on strings, lists and dicts that roles call in templates
//! (`x.startswith(...)`, `s.split(',', 1)`, `d.items()`, ...). What
//! `minijinja_contrib::pycompat` lacks is added here; the rest is delegated to it.

use minijinja::value::{ValueKind, from_args};
use minijinja::{Error, ErrorKind, State, Value};

/// The environment's unknown-method callback.
pub fn call_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let rv = match value.kind() {
        ValueKind::String => string_method(value, method, args)?,
        ValueKind::Seq => seq_method(value, method, args)?,
        ValueKind::Map => map_method(value, method, args)?,
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                format!("cannot call method '{method}' of an undefined value"),
            ));
        }
        _ => None,
    };
    match rv {
        Some(v) => Ok(v),
        None => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
            .map_err(|e| {
                if e.kind() == ErrorKind::UnknownMethod {
                    Error::new(
                        ErrorKind::UnknownMethod,
                        format!(
                            "object of type '{}' has no attribute '{method}'",
                            py_type_name(value)
                        ),
                    )
                } else {
                    e
                }
            }),
    }
}

/// Python's type name of a value, as Ansible's messages show it.
pub fn py_type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

fn string_method(value: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let s = value.as_str().unwrap_or_default();
    Ok(Some(match method {
        "split" | "rsplit" => {
            let (sep, maxsplit): (Option<Value>, Option<i64>) = from_args(args)?;
            let sep = sep.filter(|v| !v.is_none());
            let maxsplit = maxsplit.filter(|m| *m >= 0).map(|m| m as usize);
            let parts: Vec<Value> = match (sep.as_ref().and_then(|v| v.as_str()), method) {
                (Some(""), _) => {
                    return Err(Error::new(ErrorKind::InvalidOperation, "empty separator"));
                }
                (Some(sep), "split") => match maxsplit {
                    Some(n) => s.splitn(n + 1, sep).map(Value::from).collect(),
                    None => s.split(sep).map(Value::from).collect(),
                },
                (Some(sep), _) => {
                    let mut v: Vec<Value> = match maxsplit {
                        Some(n) => s.rsplitn(n + 1, sep).map(Value::from).collect(),
                        None => s.rsplit(sep).map(Value::from).collect(),
                    };
                    v.reverse();
                    v
                }
                (None, m) => whitespace_split(s, maxsplit, m == "rsplit"),
            };
            Value::from(parts)
        }
        "zfill" => {
            let (width,): (usize,) = from_args(args)?;
            let len = s.chars().count();
            if len >= width {
                Value::from(s)
            } else {
                let pad = "0".repeat(width - len);
                match s.strip_prefix(['+', '-']) {
                    Some(rest) => Value::from(format!("{}{pad}{rest}", &s[..1])),
                    None => Value::from(format!("{pad}{s}")),
                }
            }
        }
        "index" | "rindex" | "find" | "rfind" => {
            let (sub, start, end): (&str, Option<Value>, Option<Value>) = from_args(args)?;
            let (lo, hi) = char_window(s, start.as_ref(), end.as_ref())?;
            let found = match (lo, hi) {
                (Some(lo), Some(hi)) => {
                    let hay = &s[lo..hi];
                    let at = if method.starts_with('r') {
                        hay.rfind(sub)
                    } else {
                        hay.find(sub)
                    };
                    at.map(|i| s[..lo + i].chars().count())
                }
                _ => None,
            };
            match (found, method) {
                (Some(i), _) => Value::from(i),
                (None, "find" | "rfind") => Value::from(-1),
                (None, _) => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "substring not found",
                    ));
                }
            }
        }
        "count" => {
            let (sub, start, end): (&str, Option<Value>, Option<Value>) = from_args(args)?;
            match char_window(s, start.as_ref(), end.as_ref())? {
                (Some(lo), Some(hi)) if sub.is_empty() => {
                    Value::from(s[lo..hi].chars().count() + 1)
                }
                (Some(lo), Some(hi)) => Value::from(s[lo..hi].matches(sub).count()),
                _ => Value::from(0),
            }
        }
        "center" | "ljust" | "rjust" => {
            let (width, fill): (usize, Option<&str>) = from_args(args)?;
            let fill = fill.and_then(|f| f.chars().next()).unwrap_or(' ');
            let len = s.chars().count();
            if len >= width {
                Value::from(s)
            } else {
                let total = width - len;
                let (left, right) = match method {
                    "ljust" => (0, total),
                    "rjust" => (total, 0),
                    _ => {
                        // Python puts the extra character on the left when width is odd
                        let left = total / 2 + (total & width & 1);
                        (left, total - left)
                    }
                };
                let l: String = std::iter::repeat_n(fill, left).collect();
                let r: String = std::iter::repeat_n(fill, right).collect();
                Value::from(format!("{l}{s}{r}"))
            }
        }
        "partition" | "rpartition" => {
            let (sep,): (&str,) = from_args(args)?;
            let found = if method == "partition" {
                s.find(sep)
            } else {
                s.rfind(sep)
            };
            let parts = match found {
                Some(i) => [&s[..i], sep, &s[i + sep.len()..]],
                None if method == "partition" => [s, "", ""],
                None => ["", "", s],
            };
            Value::from(parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>())
        }
        "removeprefix" => {
            let (p,): (&str,) = from_args(args)?;
            Value::from(s.strip_prefix(p).unwrap_or(s))
        }
        "removesuffix" => {
            let (p,): (&str,) = from_args(args)?;
            Value::from(s.strip_suffix(p).unwrap_or(s))
        }
        "swapcase" => {
            let () = from_args(args)?;
            Value::from(
                s.chars()
                    .flat_map(|c| {
                        if c.is_uppercase() {
                            c.to_lowercase().collect::<Vec<_>>()
                        } else {
                            c.to_uppercase().collect::<Vec<_>>()
                        }
                    })
                    .collect::<String>(),
            )
        }
        "casefold" => {
            let () = from_args(args)?;
            Value::from(s.to_lowercase())
        }
        "istitle" => {
            let () = from_args(args)?;
            Value::from(!s.is_empty() && minijinja::filters::title(s.into()) == s)
        }
        "isdecimal" => {
            let () = from_args(args)?;
            Value::from(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
        }
        "isidentifier" => {
            let () = from_args(args)?;
            let mut chars = s.chars();
            Value::from(
                chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
                    && chars.all(|c| c == '_' || c.is_alphanumeric()),
            )
        }
        "encode" => Value::from_bytes(s.as_bytes().to_vec()),
        "decode" => Value::from(s),
        _ => return Ok(None),
    }))
}

/// The byte range of `s[start:end]` (Python slice bounds counted in characters; `None`
/// values mean the ends). `(None, None)` when the window is empty and past the end, where
/// Python's `find` finds nothing even for an empty needle.
fn char_window(
    s: &str,
    start: Option<&Value>,
    end: Option<&Value>,
) -> Result<(Option<usize>, Option<usize>), Error> {
    let len = s.chars().count() as i64;
    let bound = |v: Option<&Value>, default: i64| -> Result<i64, Error> {
        match v {
            None => Ok(default),
            Some(v) if v.is_none() => Ok(default),
            Some(v) => {
                let n = i64::try_from(v.clone()).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "slice indices must be integers or None",
                    )
                })?;
                Ok(if n < 0 { (n + len).max(0) } else { n })
            }
        }
    };
    let lo = bound(start, 0)?;
    let hi = bound(end, len)?.min(len);
    if lo > len || lo > hi {
        return Ok((None, None));
    }
    let byte_at = |c: i64| s.char_indices().nth(c as usize).map_or(s.len(), |(i, _)| i);
    Ok((Some(byte_at(lo)), Some(byte_at(hi))))
}

fn whitespace_split(s: &str, maxsplit: Option<usize>, from_right: bool) -> Vec<Value> {
    let Some(max) = maxsplit else {
        return s.split_whitespace().map(Value::from).collect();
    };
    if !from_right {
        let mut rv = Vec::new();
        let mut rest = s.trim_start();
        while !rest.is_empty() {
            if rv.len() == max {
                rv.push(Value::from(rest));
                break;
            }
            match rest.find(char::is_whitespace) {
                Some(i) => {
                    rv.push(Value::from(&rest[..i]));
                    rest = rest[i..].trim_start();
                }
                None => {
                    rv.push(Value::from(rest));
                    break;
                }
            }
        }
        rv
    } else {
        let mut rv = Vec::new();
        let mut rest = s.trim_end();
        while !rest.is_empty() {
            if rv.len() == max {
                rv.push(Value::from(rest));
                break;
            }
            match rest.rfind(char::is_whitespace) {
                Some(i) => {
                    let ws_len = rest[i..].chars().next().map_or(1, char::len_utf8);
                    rv.push(Value::from(&rest[i + ws_len..]));
                    rest = rest[..i].trim_end();
                }
                None => {
                    rv.push(Value::from(rest));
                    break;
                }
            }
        }
        rv.reverse();
        rv
    }
}

fn seq_method(value: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    Ok(Some(match method {
        "index" => {
            let (what,): (&Value,) = from_args(args)?;
            match value.try_iter()?.position(|v| v == *what) {
                Some(i) => Value::from(i),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{} is not in list", crate::native::py_repr(what)),
                    ));
                }
            }
        }
        "copy" => {
            let () = from_args(args)?;
            Value::from(value.try_iter()?.collect::<Vec<_>>())
        }
        _ => return Ok(None),
    }))
}

fn map_method(value: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    Ok(Some(match method {
        "copy" => {
            let () = from_args(args)?;
            let mut pairs = Vec::new();
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                pairs.push((k, v));
            }
            Value::from_pairs(pairs)
        }
        "keys" | "values" | "items" => {
            // materialised lists, so that `| list`, indexing and `in` all work
            let () = from_args(args)?;
            let mut rv = Vec::new();
            for k in value.try_iter()? {
                rv.push(match method {
                    "keys" => k,
                    "values" => value.get_item(&k)?,
                    _ => {
                        let v = value.get_item(&k)?;
                        Value::from(vec![k, v])
                    }
                });
            }
            Value::from(rv)
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod unit {
    use super::*;

    fn s(v: &str, m: &str, args: &[Value]) -> String {
        let r = string_method(&Value::from(v), m, args).unwrap().unwrap();
        crate::native::py_repr(&r)
    }

    #[test]
    fn string_methods() {
        let p = "/etc/app/config.yml";
        let i = |v: i64| Value::from(v);
        assert_eq!(s(p, "index", &[Value::from("/"), i(1)]), "4");
        assert_eq!(s(p, "find", &[Value::from("/"), i(1), i(4)]), "-1");
        assert_eq!(s(p, "rfind", &[Value::from("/"), i(0), i(-1)]), "8");
        assert_eq!(s(p, "find", &[Value::from("/"), i(-11)]), "8");
        assert_eq!(s("abc", "find", &[Value::from(""), i(3)]), "3");
        assert_eq!(s("abc", "find", &[Value::from(""), i(4)]), "-1");
        assert_eq!(s("héllo", "find", &[Value::from("l"), i(3)]), "3");
        assert_eq!(s("banana", "count", &[Value::from("a"), i(2)]), "2");
        assert_eq!(s("abc", "count", &[Value::from("")]), "4");
        assert!(string_method(&Value::from(p), "index", &[Value::from("zz"), i(1)]).is_err());
        assert!(
            string_method(
                &Value::from(p),
                "find",
                &[Value::from("/"), Value::from("x")]
            )
            .is_err()
        );
        let bytes = string_method(&Value::from("é"), "encode", &[Value::from("utf-8")]);
        assert_eq!(bytes.unwrap().unwrap().len(), Some(2));
        assert_eq!(
            s("a,b,c", "split", &[Value::from(","), Value::from(1)]),
            "['a', 'b,c']"
        );
        assert_eq!(
            s("aXbXc", "rsplit", &[Value::from("X"), Value::from(1)]),
            "['aXb', 'c']"
        );
        assert_eq!(s(" a  b c ", "split", &[]), "['a', 'b', 'c']");
        assert_eq!(
            s(" a  b c ", "split", &[Value::from(()), Value::from(1)]),
            "['a', 'b c ']"
        );
        assert_eq!(
            s(" a  b c ", "rsplit", &[Value::from(()), Value::from(1)]),
            "[' a  b', 'c']"
        );
        assert_eq!(s("abc", "zfill", &[Value::from(5)]), "'00abc'");
        assert_eq!(s("-5", "zfill", &[Value::from(4)]), "'-005'");
        assert_eq!(s("banana", "index", &[Value::from("n")]), "2");
        assert_eq!(
            s("ab", "center", &[Value::from(5), Value::from("*")]),
            "'**ab*'"
        );
        assert_eq!(
            s("a=b=c", "partition", &[Value::from("=")]),
            "['a', '=', 'b=c']"
        );
        assert!(string_method(&Value::from("x"), "index", &[Value::from("y")]).is_err());
    }

    #[test]
    fn seq_and_map() {
        let l = Value::from(vec![1, 2, 3]);
        assert_eq!(
            seq_method(&l, "index", &[Value::from(2)]).unwrap().unwrap(),
            Value::from(1)
        );
        let m = Value::from_pairs([("a", 1), ("b", 2)]);
        let items = map_method(&m, "items", &[]).unwrap().unwrap();
        assert_eq!(crate::native::py_repr(&items), "[['a', 1], ['b', 2]]");
    }
}
