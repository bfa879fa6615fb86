//! Jinja2 builtin filters where minijinja's version differs from Jinja2 as Ansible runs
//! it (int/float parsing and defaults, sort/dictsort arguments and type errors, list of
//! none, attr on dicts, indent with a string) and the Jinja2 builtins minijinja lacks
//! (wordcount, truncate, center, striptags). Registered under the short name and as
//! `ansible.builtin.<name>`.

use minijinja::value::{ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value};

use super::mathstuff::get_attribute;
use super::{Args, add, err, py_cmp, py_iter, py_str, type_name};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "int", f_int);
    add(env, NS, "float", f_float);
    add(env, NS, "sort", f_sort);
    add(env, NS, "dictsort", f_dictsort);
    add(env, NS, "list", f_list);
    add(env, NS, "attr", f_attr);
    add(env, NS, "indent", f_indent);
    add(env, NS, "wordcount", f_wordcount);
    add(env, NS, "truncate", f_truncate);
    add(env, NS, "center", f_center);
    add(env, NS, "striptags", f_striptags);
    add(env, NS, "replace", f_replace);
}

/// Jinja2's `replace(s, old, new, count=None)`: Python's `str(s).replace(old, new,
/// count)`, every occurrence when `count` is none or negative.
fn f_replace(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("replace", rest, &["old", "new", "count"], false)?;
    let old = py_str(a.req("replace", 0, "old")?);
    let new = py_str(a.req("replace", 1, "new")?);
    let count = a.int("replace", 2, -1)?;
    let s = py_str(&value);
    // The result's size first: a replacement that would make a huge string fails.
    let hits = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old.as_str()).count()
    };
    let hits = usize::try_from(count).map_or(hits, |n| hits.min(n));
    let size = s.len().saturating_add(hits.saturating_mul(new.len()));
    if size > crate::repeat::MAX_REPEAT_SIZE {
        return Err(err(format!(
            "replace: the result would be {size} bytes, more than {}",
            crate::repeat::MAX_REPEAT_SIZE
        )));
    }
    Ok(Value::from(match usize::try_from(count) {
        Ok(n) => s.replacen(&old, &new, n),
        Err(_) => s.replace(&old, &new),
    }))
}

/// Remove Python's digit-group underscores ("1_000"); `None` if they are misplaced.
fn strip_underscores(s: &str) -> Option<String> {
    if s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    Some(s.replace('_', ""))
}

/// Python `int(s, base)` for a string (base 0 guesses from the prefix).
pub fn py_int_str(s: &str, base: u32) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = t.to_ascii_lowercase();
    let prefixed = |p: &str| {
        lower
            .strip_prefix(p)
            .map(|r| r.trim_start_matches('_').to_string())
    };
    let (digits, radix) = match base {
        0 => {
            if let Some(r) = prefixed("0x") {
                (r, 16)
            } else if let Some(r) = prefixed("0o") {
                (r, 8)
            } else if let Some(r) = prefixed("0b") {
                (r, 2)
            } else {
                if lower.len() > 1
                    && lower.starts_with('0')
                    && !lower.trim_matches(['0', '_']).is_empty()
                {
                    return None;
                }
                (lower.clone(), 10)
            }
        }
        16 => (prefixed("0x").unwrap_or(lower.clone()), 16),
        8 => (prefixed("0o").unwrap_or(lower.clone()), 8),
        2 => (prefixed("0b").unwrap_or(lower.clone()), 2),
        b if (2..=36).contains(&b) => (lower.clone(), b),
        _ => return None,
    };
    let digits = strip_underscores(&digits)?;
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let n = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// Python `float(s)` for a string.
pub fn py_float_str(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok();
    }
    if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let cleaned = strip_underscores(&lower)?;
    cleaned.parse::<f64>().ok()
}

fn f_int(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("int", rest, &["default", "base"], false)?;
    let default = a.get(0).cloned().unwrap_or(Value::from(0));
    let base = a.int("int", 1, 10)?;
    let base = u32::try_from(base).map_err(|_| err("int() base must be >= 2 and <= 36, or 0"))?;
    if let Some(s) = value.as_str() {
        if let Some(n) = py_int_str(s, base) {
            return Ok(Value::from(n));
        }
        return Ok(match py_float_str(s) {
            Some(f) if f.is_finite() => Value::from(f.trunc() as i64),
            _ => default,
        });
    }
    match value.kind() {
        ValueKind::Bool => Ok(Value::from(value.is_true() as i64)),
        ValueKind::Number => {
            if value.is_integer() {
                Ok(value)
            } else {
                match f64::try_from(value) {
                    Ok(f) if f.is_finite() => Ok(Value::from(f.trunc() as i64)),
                    _ => Ok(default),
                }
            }
        }
        _ => Ok(default),
    }
}

fn f_float(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("float", rest, &["default"], false)?;
    let default = a.get(0).cloned().unwrap_or(Value::from(0.0));
    if let Some(s) = value.as_str() {
        return Ok(py_float_str(s).map(Value::from).unwrap_or(default));
    }
    match value.kind() {
        ValueKind::Bool => Ok(Value::from(if value.is_true() { 1.0 } else { 0.0 })),
        ValueKind::Number => Ok(f64::try_from(value).map(Value::from).unwrap_or(default)),
        _ => Ok(default),
    }
}

/// A sort key: the attribute(s) of an item, strings lower-cased unless case-sensitive.
fn sort_key(item: &Value, attrs: &[Value], case_sensitive: bool) -> Value {
    let fold = |v: Value| -> Value {
        match v.as_str() {
            Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
            _ => v,
        }
    };
    match attrs.len() {
        0 => fold(item.clone()),
        1 => fold(get_attribute(item, &attrs[0])),
        _ => Value::from(
            attrs
                .iter()
                .map(|a| fold(get_attribute(item, a)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// Stable sort with Python comparison errors.
fn sort_values(items: &mut [(Value, Value)], reverse: bool) -> Result<(), Error> {
    let mut failure = None;
    items.sort_by(|a, b| match py_cmp(&a.0, &b.0) {
        Ok(o) => {
            if reverse {
                o.reverse()
            } else {
                o
            }
        }
        Err(e) => {
            failure.get_or_insert(e);
            std::cmp::Ordering::Equal
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn f_sort(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "sort",
        rest,
        &["reverse", "case_sensitive", "attribute"],
        false,
    )?;
    let reverse = a.truthy(0, false);
    let case_sensitive = a.truthy(1, false);
    let attrs: Vec<Value> = match a.some(2) {
        Some(at) if at.as_str().is_some() => py_str(at)
            .split(',')
            .map(|p| Value::from(p.trim()))
            .collect(),
        Some(at) => vec![at.clone()],
        None => Vec::new(),
    };
    let mut items: Vec<(Value, Value)> = py_iter(&value)?
        .into_iter()
        .map(|it| (sort_key(&it, &attrs, case_sensitive), it))
        .collect();
    // Python compares the items pairwise; a list of one is never compared.
    sort_values(&mut items, reverse)?;
    Ok(Value::from(
        items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    ))
}

fn f_dictsort(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "dictsort",
        rest,
        &["case_sensitive", "by", "reverse"],
        false,
    )?;
    let case_sensitive = a.truthy(0, false);
    let by = a.string(1, "key");
    let reverse = a.truthy(2, false);
    let pos = match by.as_str() {
        "key" => 0,
        "value" => 1,
        _ => return Err(err("You can only sort by either \"key\" or \"value\"")),
    };
    let Some(pairs) = super::map_items(&value) else {
        return Err(err(format!(
            "'{}' object has no attribute 'items'",
            type_name(&value)
        )));
    };
    let mut items: Vec<(Value, Value)> = pairs
        .into_iter()
        .map(|(k, v)| {
            let key = if pos == 0 { k.clone() } else { v.clone() };
            let key = match key.as_str() {
                Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
                _ => key,
            };
            (key, Value::from(vec![k, v]))
        })
        .collect();
    sort_values(&mut items, reverse)?;
    Ok(Value::from(
        items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    ))
}

fn f_list(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("list", rest, &[], false)?;
    Ok(Value::from(py_iter(&value)?))
}

fn f_attr(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("attr", rest, &["name"], false)?;
    let name = py_str(a.req("attr", 0, "name")?);
    // Jinja2's attr() reads Python attributes only: a dict's keys are not attributes. A
    // list has none we model; groupby's (grouper, list) pairs have `grouper` and `list`.
    if super::is_map(&value) || value.as_str().is_some() {
        return Ok(Value::UNDEFINED);
    }
    Ok(value.get_attr(&name).unwrap_or(Value::UNDEFINED))
}

/// Python `str.splitlines()`.
fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let sep = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if sep {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some((j, '\n')) = it.peek().copied()
            {
                it.next();
                end = j + 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

fn f_indent(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("indent", rest, &["width", "first", "blank"], false)?;
    let indention = match a.get(0) {
        Some(w) if w.as_str().is_some() => py_str(w),
        Some(_) => " ".repeat(a.int("indent", 0, 4)?.max(0) as usize),
        None => " ".repeat(4),
    };
    let first = a.truthy(1, false);
    let blank = a.truthy(2, false);
    let s = format!("{}\n", py_str(&value));
    let lines = splitlines(&s);
    let mut rv = if blank {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut it = lines.iter();
        let mut rv = it.next().map(|l| l.to_string()).unwrap_or_default();
        let rest: Vec<String> = it
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{indention}{l}")
                }
            })
            .collect();
        if !rest.is_empty() {
            rv.push('\n');
            rv.push_str(&rest.join("\n"));
        }
        rv
    };
    if first {
        rv = format!("{indention}{rv}");
    }
    Ok(Value::from(rv))
}

fn f_wordcount(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("wordcount", rest, &[], false)?;
    let s = py_str(&value);
    let mut count = 0i64;
    let mut in_word = false;
    for c in s.chars() {
        let w = c.is_alphanumeric() || c == '_';
        if w && !in_word {
            count += 1;
        }
        in_word = w;
    }
    Ok(Value::from(count))
}

fn f_truncate(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "truncate",
        rest,
        &["length", "killwords", "end", "leeway"],
        false,
    )?;
    let s = py_str(&value);
    let length = a.int("truncate", 0, 255)?;
    let killwords = a.truthy(1, false);
    let end = a.string(2, "...");
    let leeway = a.int("truncate", 3, 5)?;
    let end_len = end.chars().count() as i64;
    if length < end_len {
        return Err(err(format!("expected length >= {end_len}, got {length}")));
    }
    if leeway < 0 {
        return Err(err(format!("expected leeway >= 0, got {leeway}")));
    }
    let n = s.chars().count() as i64;
    if n <= length + leeway {
        return Ok(Value::from(s));
    }
    let head: String = s.chars().take((length - end_len) as usize).collect();
    if killwords {
        return Ok(Value::from(format!("{head}{end}")));
    }
    let cut = match head.rfind(' ') {
        Some(i) => &head[..i],
        None => head.as_str(),
    };
    Ok(Value::from(format!("{cut}{end}")))
}

fn f_center(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("center", rest, &["width"], false)?;
    let s = py_str(&value);
    let width = a.int("center", 0, 80)?;
    let len = s.chars().count() as i64;
    if width <= len {
        return Ok(Value::from(s));
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    let right = marg - left;
    Ok(Value::from(format!(
        "{}{s}{}",
        " ".repeat(left as usize),
        " ".repeat(right as usize)
    )))
}

/// Markup.striptags: drop comments and tags, unescape entities, collapse whitespace.
pub fn striptags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("<!--") {
            match r.find("-->") {
                Some(i) => rest = &r[i + 3..],
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        } else if rest.starts_with('<')
            && let Some(i) = rest[1..].find('>')
            && !rest[1..1 + i].contains('<')
        {
            rest = &rest[i + 2..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    unescape(&collapsed)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let semi = tail.find(';').filter(|j| *j <= 10);
        let decoded = semi.and_then(|j| {
            let ent = &tail[1..j];
            let c = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => ent.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => n.parse::<u32>().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, j))
        });
        match decoded {
            Some((c, j)) => {
                out.push(c);
                rest = &tail[j + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn f_striptags(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("striptags", rest, &[], false)?;
    Ok(Value::from(striptags(&py_str(&value))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str) -> Result<Value, Error> {
        let env = crate::filters::tests::env();
        env.compile_expression(expr).unwrap().eval(())
    }

    #[test]
    fn python_int_and_float_parsing() {
        assert_eq!(py_int_str(" 12 ", 10), Some(12));
        assert_eq!(py_int_str("0x1A", 16), Some(26));
        assert_eq!(py_int_str("0b101", 0), Some(5));
        assert_eq!(py_int_str("1_000", 10), Some(1000));
        assert_eq!(py_int_str("12.5", 10), None);
        assert_eq!(py_float_str(" 2.5 "), Some(2.5));
        assert_eq!(py_float_str("x"), None);
        assert_eq!(eval("'x' | int").unwrap().as_i64(), Some(0));
        assert_eq!(eval("'12.7' | int").unwrap().as_i64(), Some(12));
        assert_eq!(eval("'x' | int(7)").unwrap().as_i64(), Some(7));
    }

    #[test]
    fn sort_and_dictsort() {
        assert!(eval("[3, 'a'] | sort").is_err());
        assert_eq!(
            eval("['b', 'A', 'c'] | sort").unwrap().to_string(),
            "['A', 'b', 'c']"
        );
        assert_eq!(
            eval("{'b': 1, 'a': 3} | dictsort(false, 'value', true)")
                .unwrap()
                .to_string(),
            "[['a', 3], ['b', 1]]"
        );
    }

    #[test]
    fn text_filters() {
        assert_eq!(eval("'ab' | center(7)").unwrap().as_str(), Some("   ab  "));
        assert_eq!(
            eval("'hello world foo bar' | truncate(9)")
                .unwrap()
                .as_str(),
            Some("hello...")
        );
        assert_eq!(eval("'a-b c' | wordcount").unwrap().as_i64(), Some(3));
        assert_eq!(striptags("<b>a</b>  &amp; <!-- x -->b"), "a & b");
        assert_eq!(
            eval("'a\\nb\\n\\nc' | indent(2)").unwrap().as_str(),
            Some("a\n  b\n\n  c")
        );
        assert!(eval("none | list").is_err());
    }
}
