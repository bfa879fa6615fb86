//! List-shaping lookups: items, dict, sequence, subelements, together, nested,
//! indexed_items, random_choice.

use minijinja::value::ValueKind;
use minijinja::{Error, Value};

use super::LookupCtx;
use crate::filters::{err, is_map, list_of, map_items, py_str, to_int};

/// `LookupBase._flatten`: one level.
fn flatten1(terms: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    for t in terms {
        match list_of(&t) {
            Some(l) => out.extend(l),
            None => out.push(t),
        }
    }
    out
}

/// `items`: the terms flattened one level.
pub fn items(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    Ok(flatten1(terms))
}

/// `dict`: `{key, value}` pairs of each dict term.
pub fn dict(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let terms = if terms.len() == 1 && !is_map(&terms[0]) {
        list_of(&terms[0]).unwrap_or(terms)
    } else {
        terms
    };
    let mut out = Vec::new();
    for t in terms {
        let Some(items) = map_items(&t) else {
            return Err(err(format!(
                "the 'dict' lookup plugin expects a dictionary, got '{}' of type <class '{}'>)",
                crate::filters::py_str(&t),
                crate::filters::type_name(&t)
            )));
        };
        for (k, v) in items {
            out.push(Value::from_pairs([("key", k), ("value", v)]));
        }
    }
    Ok(out)
}

fn parse_int(s: &str) -> Result<i64, Error> {
    let t = s.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = t.to_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16)
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8)
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2)
    } else {
        lower.parse::<i64>()
    }
    .map_err(|_| err(format!("invalid literal for int() with base 0: '{s}'")))?;
    Ok(if neg { -v } else { v })
}

/// A decimal integer option (Ansible's config `integer` type).
fn parse_dec(s: &str) -> Result<i64, Error> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| err(format!("Invalid value provided for 'integer': '{s}'")))
}

/// Python `fmt % i` for a format with exactly one integer conversion.
pub fn percent_format_int(fmt: &str, i: i64) -> Result<String, Error> {
    let mut out = String::new();
    let chars: Vec<char> = fmt.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        if chars[k] != '%' {
            out.push(chars[k]);
            k += 1;
            continue;
        }
        k += 1;
        if chars.get(k) == Some(&'%') {
            out.push('%');
            k += 1;
            continue;
        }
        let mut flags = String::new();
        while k < chars.len() && "-+ 0#".contains(chars[k]) {
            flags.push(chars[k]);
            k += 1;
        }
        let mut width = String::new();
        while k < chars.len() && chars[k].is_ascii_digit() {
            width.push(chars[k]);
            k += 1;
        }
        let width: usize = width.parse().unwrap_or(0);
        let conv = chars
            .get(k)
            .copied()
            .ok_or_else(|| err("incomplete format"))?;
        k += 1;
        let body = match conv {
            'd' | 'i' | 'u' | 's' => i.abs().to_string(),
            'x' => format!("{:x}", i.abs()),
            'X' => format!("{:X}", i.abs()),
            'o' => format!("{:o}", i.abs()),
            'f' | 'F' => format!("{:.6}", i.abs() as f64),
            c => return Err(err(format!("unsupported format character '{c}'"))),
        };
        let prefix = match (flags.contains('#'), conv) {
            (true, 'x') => "0x",
            (true, 'X') => "0X",
            (true, 'o') => "0o",
            _ => "",
        };
        let sign = if i < 0 {
            "-"
        } else if flags.contains('+') {
            "+"
        } else if flags.contains(' ') {
            " "
        } else {
            ""
        };
        let len = sign.len() + prefix.len() + body.len();
        let pad = width.saturating_sub(len);
        if flags.contains('-') {
            out.push_str(&format!("{sign}{prefix}{body}{}", " ".repeat(pad)));
        } else if flags.contains('0') && conv != 's' {
            out.push_str(&format!("{sign}{prefix}{}{body}", "0".repeat(pad)));
        } else {
            out.push_str(&format!("{}{sign}{prefix}{body}", " ".repeat(pad)));
        }
    }
    Ok(out)
}

/// `sequence`: `start=1 end=10 stride=1 format=%d` (or `[start-]end[/stride][:format]`).
pub fn sequence(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    // With neither terms nor keywords there is nothing to generate (Ansible: []); with
    // keywords only, one empty term carries them.
    if terms.is_empty() && ctx.kwargs.is_empty() {
        return Ok(out);
    }
    let terms = if terms.is_empty() {
        vec![Value::from("")]
    } else {
        terms
    };
    for term in terms {
        let mut start = 1i64;
        let mut end: Option<i64> = None;
        let mut count: Option<i64> = None;
        let mut stride = 1i64;
        let mut format = "%d".to_string();
        let opt_int = |v: &Value| -> Result<i64, Error> {
            match to_int(v) {
                Some(i) if v.as_str().is_none() => Ok(i),
                _ => parse_int(&py_str(v)),
            }
        };
        for (k, v) in &ctx.kwargs {
            match k.as_str() {
                "start" => start = opt_int(v)?,
                "end" => end = Some(opt_int(v)?),
                "count" => count = Some(opt_int(v)?),
                "stride" => stride = opt_int(v)?,
                "format" => format = py_str(v),
                _ => {}
            }
        }
        let t = py_str(&term);
        let t = t.trim();
        if !t.is_empty() {
            if t.contains('=') {
                for part in t.split_whitespace() {
                    let (k, v) = part
                        .split_once('=')
                        .ok_or_else(|| err(format!("can't parse arg {part}=... in sequence")))?;
                    // Ansible validates these as config options of the plugin.
                    let opt = |name: &str, v: &str| {
                        parse_dec(v).map_err(|e| {
                            err(format!(
                                "Config '{name}' for 'sequence' lookup plugin from 'Direct' has an invalid value: {}",
                                e.detail().unwrap_or_default()
                            ))
                        })
                    };
                    match k {
                        "start" => start = opt("start", v)?,
                        "end" => end = Some(opt("end", v)?),
                        "count" => count = Some(opt("count", v)?),
                        "stride" => stride = opt("stride", v)?,
                        "format" => format = v.to_string(),
                        _ => {
                            return Err(err(format!(
                                "unrecognized arguments to with_sequence: ['{k}']"
                            )));
                        }
                    }
                }
            } else {
                // [start-]end[/stride][:format]
                let (rest, fmt) = match t.split_once(':') {
                    Some((r, f)) => (r, Some(f)),
                    None => (t, None),
                };
                let (rest, st) = match rest.split_once('/') {
                    Some((r, s)) => (r, Some(s)),
                    None => (rest, None),
                };
                // A value that is no number fails as the plugin's integer option.
                let opt = |name: &str, v: &str| {
                    parse_int(v).map_err(|_| {
                        err(format!(
                            "Config '{name}' for 'sequence' lookup plugin from 'Direct' has an invalid value: Invalid value provided for 'integer': '{v}'"
                        ))
                    })
                };
                match rest.split_once('-') {
                    Some((a, b)) if !a.is_empty() => {
                        start = opt("start", a)?;
                        end = Some(opt("end", b)?);
                    }
                    _ => end = Some(opt("end", rest)?),
                }
                if let Some(s) = st {
                    stride = opt("stride", s)?;
                }
                if let Some(f) = fmt {
                    format = f.to_string();
                }
            }
        }
        match (count, end) {
            (None, None) => return Err(err("must specify count or end in with_sequence")),
            (Some(_), Some(_)) => {
                return Err(err("can't specify both count and end in with_sequence"));
            }
            (Some(c), None) => {
                if c != 0 {
                    end = Some(start + c * stride - 1);
                } else {
                    start = 0;
                    end = Some(0);
                    stride = 0;
                }
            }
            _ => {}
        }
        let end = end.unwrap_or(0);
        if stride > 0 && end < start {
            return Err(err("to count backwards make stride negative"));
        }
        if stride < 0 && end > start {
            return Err(err("to count forward don't make stride negative"));
        }
        if format.matches('%').count() != 1 {
            return Err(err(format!("bad formatting string: {format}")));
        }
        if stride == 0 {
            continue;
        }
        let adjust = if stride >= 0 { 1 } else { -1 };
        let stop = end + adjust;
        let mut i = start;
        let mut n = 0usize;
        while (stride > 0 && i < stop) || (stride < 0 && i > stop) {
            out.push(Value::from(percent_format_int(&format, i)?));
            i += stride;
            n += 1;
            if n > 10_000_000 {
                return Err(err("sequence too long"));
            }
        }
    }
    Ok(out)
}

/// `subelements`: terms `[list_or_dict, 'key.path', {skip_missing: bool}]`.
pub fn subelements(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    const EXPECTS: &str = "subelements lookup expects a list of two or three items, ";
    if terms.len() < 2 || terms.len() > 3 {
        return Err(err(EXPECTS));
    }
    let sub = &terms[1];
    let first_ok = is_map(&terms[0]) || matches!(terms[0].kind(), ValueKind::Seq);
    if !first_ok || sub.as_str().is_none() {
        return Err(err(format!(
            "{EXPECTS}first a dict or a list, second a string pointing to the subkey"
        )));
    }
    let mut skip = ctx.opt_bool("skip_missing", false);
    if let Some(flags) = terms.get(2) {
        if !is_map(flags) {
            return Err(err(format!(
                "{EXPECTS}the optional third item must be a dict with flags ('skip_missing',)"
            )));
        }
        skip = flags
            .get_attr("skip_missing")
            .map(|v| v.is_true())
            .unwrap_or(false);
    }
    let mut elements = terms[0].clone();
    if is_map(&elements) {
        // a registered result that was skipped as a whole gives nothing
        if elements
            .get_attr("skipped")
            .is_ok_and(|v| !v.is_undefined() && (v.kind() != ValueKind::Bool || v.is_true()))
        {
            return Ok(Vec::new());
        }
        // a dict of dicts: iterate its values
        let vals: Vec<Value> = map_items(&elements)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        elements = Value::from(vals);
    }
    let list = list_of(&elements).unwrap_or_default();
    let keys: Vec<&str> = sub.as_str().unwrap_or_default().split('.').collect();
    let list: Vec<Value> = list
        .into_iter()
        .filter(|e| !e.get_attr("skipped").map(|s| s.is_true()).unwrap_or(false))
        // With skip_missing, an element whose path runs into something other than a dict
        // (e.g. `key:` left empty) is skipped too, as Ansible's lookup does.
        .filter(|e| !skip || !path_hits_non_dict(e, &keys))
        .collect();
    let pairs = crate::filters::core::subelements(&Value::from(list), sub, skip)?;
    // The lookup (unlike the filter) pops the sub-list out of the parent it hands out.
    let path: Vec<&str> = sub.as_str().unwrap_or_default().split('.').collect();
    Ok(pairs
        .into_iter()
        .map(
            |pair| match (pair.get_item_by_index(0), pair.get_item_by_index(1)) {
                (Ok(parent), Ok(child)) => Value::from(vec![without_path(&parent, &path), child]),
                _ => pair,
            },
        )
        .collect())
}

/// Walking `keys` (all but the last) from `v` meets a present value that is not a dict.
fn path_hits_non_dict(v: &Value, keys: &[&str]) -> bool {
    let mut cur = v.clone();
    for k in keys.iter().take(keys.len().saturating_sub(1)) {
        let Some(items) = map_items(&cur) else {
            return true;
        };
        match items.into_iter().find(|(key, _)| key.as_str() == Some(*k)) {
            Some((_, next)) if map_items(&next).is_some() => cur = next,
            Some(_) => return true,
            None => return false,
        }
    }
    false
}

/// `v` with the key at `path` (dotted, nested dicts) removed.
fn without_path(v: &Value, path: &[&str]) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return v.clone();
    };
    let Some(items) = map_items(v) else {
        return v.clone();
    };
    Value::from_pairs(
        items
            .into_iter()
            .filter_map(|(k, val)| {
                if k.as_str() != Some(first) {
                    Some((k, val))
                } else if rest.is_empty() {
                    None
                } else {
                    Some((k, without_path(&val, rest)))
                }
            })
            .collect::<Vec<_>>(),
    )
}

/// `together`: transpose the term lists, padding with `None`.
pub fn together(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let lists: Vec<Vec<Value>> = terms
        .iter()
        .map(|t| list_of(t).unwrap_or_else(|| vec![t.clone()]))
        .collect();
    if lists.is_empty() {
        return Err(err(
            "with_together requires at least one element in each list",
        ));
    }
    let n = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..n)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| Value::from(())))
                    .collect::<Vec<_>>(),
            )
        })
        .collect())
}

/// `nested`: the cartesian product of the term lists, each combination flattened.
pub fn nested(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    if terms.is_empty() {
        return Err(err(
            "with_nested requires at least one element in the nested list",
        ));
    }
    let lists: Vec<Vec<Value>> = terms
        .iter()
        .map(|t| list_of(t).unwrap_or_else(|| vec![t.clone()]))
        .collect();
    let mut result: Vec<Vec<Value>> = lists[0].iter().map(|x| vec![x.clone()]).collect();
    for l in &lists[1..] {
        let mut next = Vec::new();
        for r in &result {
            for y in l {
                let mut c = r.clone();
                match list_of(y) {
                    Some(inner) => c.extend(inner),
                    None => c.push(y.clone()),
                }
                next.push(c);
            }
        }
        result = next;
    }
    Ok(result.into_iter().map(Value::from).collect())
}

/// `indexed_items`: `[index, item]` pairs.
pub fn indexed_items(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let items = if terms.len() == 1 {
        list_of(&terms[0]).unwrap_or(terms)
    } else {
        terms
    };
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, v)| Value::from(vec![Value::from(i as i64), v]))
        .collect())
}

/// `random_choice`: one random term.
pub fn random_choice(terms: Vec<Value>) -> Result<Vec<Value>, Error> {
    let terms = flatten1(terms);
    if terms.is_empty() {
        return Ok(terms);
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut r = crate::filters::pyrand::PyRandom::from_int(seed as i128);
    let i = r.randbelow(terms.len() as u128) as usize;
    Ok(vec![terms[i].clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf() {
        assert_eq!(percent_format_int("host%02d", 3).unwrap(), "host03");
        assert_eq!(percent_format_int("0x%04x", 255).unwrap(), "0x00ff");
    }

    #[test]
    fn subelements_skip_missing_skips_empty_intermediate_keys() {
        let vars = super::super::MapVars(Value::from(()));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        let pairs = |kv: Vec<(&str, Value)>| Value::from_pairs(kv);
        let data = Value::from(vec![
            pairs(vec![
                ("id", Value::from("x")),
                (
                    "a",
                    pairs(vec![(
                        "b",
                        pairs(vec![(
                            "l",
                            Value::from(vec![Value::from(1), Value::from(2)]),
                        )]),
                    )]),
                ),
            ]),
            pairs(vec![("id", Value::from("y"))]),
            pairs(vec![
                ("id", Value::from("z")),
                ("a", pairs(vec![("b", Value::from(()))])),
            ]),
        ]);
        let terms = vec![
            data,
            Value::from("a.b.l"),
            pairs(vec![("skip_missing", Value::from(true))]),
        ];
        let out = subelements(terms, &ctx).unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn sequences() {
        let vars = super::super::MapVars(Value::from(()));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        let s = |t: &str| {
            sequence(vec![Value::from(t)], &ctx)
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(s("start=1 end=5"), "1 2 3 4 5");
        assert_eq!(s("4-8/2:host%02d"), "host04 host06 host08");
        assert_eq!(s("start=10 end=0 stride=-5"), "10 5 0");
        assert_eq!(s("count=3 start=0"), "0 1 2");
    }
}
