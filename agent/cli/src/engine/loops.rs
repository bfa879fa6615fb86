//! Loops: `loop:` values and `with_<lookup>:` terms turned into item lists.

use minijinja::Value;
use minijinja::value::ValueKind;

/// Lookups usable as `with_<name>` loops.
pub const LOOP_LOOKUPS: &[&str] = &[
    "items",
    "list",
    "dict",
    "fileglob",
    "together",
    "nested",
    "subelements",
    "sequence",
    "indexed_items",
    "flattened",
    "file",
    "lines",
    "first_found",
    "random_choice",
    "inventory_hostnames",
    "env",
    "template",
    "vars",
    "varnames",
    "ini",
    "csvfile",
    "password",
    "pipe",
    "url",
    "cartesian",
    "community.general.cartesian",
];

pub fn lookup_exists(name: &str) -> bool {
    LOOP_LOOKUPS.contains(&name)
}

fn as_list(v: &Value) -> Vec<Value> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            v.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        ValueKind::None | ValueKind::Undefined => Vec::new(),
        _ => vec![v.clone()],
    }
}

/// `with_items`: one level flattened.
pub fn with_items(terms: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for t in as_list(terms) {
        match t.kind() {
            ValueKind::Seq => out.extend(as_list(&t)),
            _ => out.push(t),
        }
    }
    out
}

/// `with_dict`: `{key, value}` items.
pub fn with_dict(terms: &Value) -> Result<Vec<Value>, String> {
    let terms = if terms.kind() == ValueKind::Seq {
        as_list(terms).into_iter().next().unwrap_or_default()
    } else {
        terms.clone()
    };
    if terms.kind() != ValueKind::Map {
        return Err(format!("with_dict expects a dict, got {}", terms.kind()));
    }
    let mut out = Vec::new();
    for k in terms.try_iter().map_err(|e| e.to_string())? {
        let v = terms.get_item(&k).unwrap_or_default();
        out.push(Value::from_pairs([("key", k), ("value", v)]));
    }
    Ok(out)
}

/// `with_together`: zip, padding with None.
pub fn with_together(terms: &Value) -> Vec<Value> {
    let lists: Vec<Vec<Value>> = as_list(terms).iter().map(as_list).collect();
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

/// `with_nested` / `with_cartesian`: the product.
pub fn with_nested(terms: &Value) -> Vec<Value> {
    let lists: Vec<Vec<Value>> = as_list(terms).iter().map(as_list).collect();
    let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
    for l in &lists {
        let mut next = Vec::new();
        for a in &acc {
            for x in l {
                let mut b = a.clone();
                b.push(x.clone());
                next.push(b);
            }
        }
        acc = next;
    }
    if lists.is_empty() {
        return Vec::new();
    }
    acc.into_iter().map(Value::from).collect()
}

/// `with_indexed_items`: `[index, item]`.
pub fn with_indexed_items(terms: &Value) -> Vec<Value> {
    with_items(terms)
        .into_iter()
        .enumerate()
        .map(|(i, v)| Value::from(vec![Value::from(i), v]))
        .collect()
}

/// `with_subelements`: `[list_of_dicts, 'key']` (+ optional `{skip_missing: true}`).
pub fn with_subelements(terms: &Value) -> Result<Vec<Value>, String> {
    let t = as_list(terms);
    if t.len() < 2 {
        return Err("subelements lookup expects a list of two or three items".into());
    }
    let skip_missing = t
        .get(2)
        .and_then(|f| f.get_attr("skip_missing").ok())
        .is_some_and(|v| v.is_true());
    let key = t[1]
        .as_str()
        .ok_or("the second item of subelements must be a key name")?
        .to_string();
    let mut out = Vec::new();
    let base = if t[0].kind() == ValueKind::Map {
        t[0].try_iter()
            .map_err(|e| e.to_string())?
            .map(|k| t[0].get_item(&k).unwrap_or_default())
            .collect()
    } else {
        as_list(&t[0])
    };
    for el in base {
        let mut cur = el.clone();
        let mut missing = false;
        for part in key.split('.') {
            match cur.get_attr(part) {
                Ok(v) if !v.is_undefined() => cur = v,
                _ => {
                    missing = true;
                    break;
                }
            }
        }
        if missing {
            if skip_missing {
                continue;
            }
            return Err(format!(
                "could not find '{key}' key in iterated item '{el}'"
            ));
        }
        if cur.kind() != ValueKind::Seq {
            return Err(format!("the key {key} should point to a list, got '{cur}'"));
        }
        for sub in as_list(&cur) {
            // Ansible hands out the parent without the subelement's key.
            out.push(Value::from(vec![without_key(&el, &key), sub]));
        }
    }
    Ok(out)
}

fn without_key(el: &Value, key: &str) -> Value {
    if key.contains('.') || el.kind() != ValueKind::Map {
        return el.clone();
    }
    let Ok(keys) = el.try_iter() else {
        return el.clone();
    };
    Value::from_pairs(
        keys.filter(|k| k.as_str() != Some(key))
            .map(|k| {
                let v = el.get_item(&k).unwrap_or_default();
                (k, v)
            })
            .collect::<Vec<_>>(),
    )
}

/// `with_sequence`: `start=1 end=10 stride=1 format=%d` or `count=N`, or `START-END/STRIDE:FORMAT`.
pub fn with_sequence(terms: &Value) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for term in as_list(terms) {
        let s = term.to_string();
        let (mut start, mut end, mut stride, mut count, mut fmt) =
            (1i64, None::<i64>, 1i64, None::<i64>, "%d".to_string());
        let num = |v: &str| -> Result<i64, String> {
            let v = v.trim();
            if let Some(h) = v.strip_prefix("0x") {
                i64::from_str_radix(h, 16).map_err(|_| format!("can't parse '{v}' as a number"))
            } else if let Some(o) = v
                .strip_prefix("0o")
                .or_else(|| v.strip_prefix('0').filter(|r| !r.is_empty()))
            {
                i64::from_str_radix(o, 8).map_err(|_| format!("can't parse '{v}' as a number"))
            } else {
                v.parse()
                    .map_err(|_| format!("can't parse '{v}' as a number"))
            }
        };
        if s.contains('=') {
            for kv in s.split_whitespace() {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("bad sequence argument '{kv}'"))?;
                match k {
                    "start" => start = num(v)?,
                    "end" => end = Some(num(v)?),
                    "stride" => stride = num(v)?,
                    "count" => count = Some(num(v)?),
                    "format" => fmt = v.to_string(),
                    _ => return Err(format!("unrecognized arguments to with_sequence: {k}")),
                }
            }
        } else {
            let (range, f) = s
                .split_once(':')
                .map(|(a, b)| (a, Some(b)))
                .unwrap_or((&s, None));
            if let Some(f) = f {
                fmt = f.to_string();
            }
            let (range, st) = range
                .split_once('/')
                .map(|(a, b)| (a, Some(b)))
                .unwrap_or((range, None));
            if let Some(st) = st {
                stride = num(st)?;
            }
            match range.split_once('-') {
                Some((a, b)) => {
                    start = num(a)?;
                    end = Some(num(b)?);
                }
                None => end = Some(num(range)?),
            }
        }
        if let Some(c) = count {
            if end.is_some() {
                return Err("can't specify both count and end in with_sequence".into());
            }
            end = Some(if c == 0 {
                start - stride
            } else {
                start + (c - 1) * stride
            });
            if c == 0 {
                continue;
            }
        }
        let end = end.ok_or("must specify count or end in with_sequence")?;
        if stride == 0 {
            return Err("stride must not be zero".into());
        }
        if (stride > 0 && end < start) || (stride < 0 && end > start) {
            if stride > 0 {
                return Err("to count backwards make stride negative".into());
            }
            return Err("to count forward don't make stride negative".into());
        }
        let mut i = start;
        let mut n = 0usize;
        while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
            out.push(Value::from(format_seq(&fmt, i)));
            i += stride;
            n += 1;
            if n > 1_000_000 {
                return Err("with_sequence would produce more than 1,000,000 items".into());
            }
        }
    }
    Ok(out)
}

fn format_seq(fmt: &str, i: i64) -> String {
    // Python %-format with one integer: %d, %02d, %x, %o, %s.
    let Some(p) = fmt.find('%') else {
        return fmt.to_string();
    };
    let rest = &fmt[p + 1..];
    let spec_end = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (flags, conv) = (
        &rest[..spec_end],
        rest[spec_end..].chars().next().unwrap_or('d'),
    );
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let zero = flags.starts_with('0');
    let body = match conv {
        'x' => format!("{i:x}"),
        'X' => format!("{i:X}"),
        'o' => format!("{i:o}"),
        _ => i.to_string(),
    };
    let padded = if body.len() < width {
        let pad = (if zero { "0" } else { " " }).repeat(width - body.len());
        format!("{pad}{body}")
    } else {
        body
    };
    format!(
        "{}{}{}",
        &fmt[..p],
        padded,
        &rest[(spec_end + 1).min(rest.len())..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_forms() {
        let v = with_sequence(&Value::from("start=1 end=3 format=host%02d")).unwrap();
        assert_eq!(
            v.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            ["host01", "host02", "host03"]
        );
        let v = with_sequence(&Value::from("count=2")).unwrap();
        assert_eq!(v.len(), 2);
        let v = with_sequence(&Value::from("2-10/4")).unwrap();
        assert_eq!(
            v.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
            ["2", "6", "10"]
        );
    }

    #[test]
    fn nested_and_together() {
        let t = Value::from(vec![Value::from(vec![1, 2]), Value::from(vec!["a"])]);
        assert_eq!(with_nested(&t).len(), 2);
        assert_eq!(with_together(&t).len(), 2);
    }
}
