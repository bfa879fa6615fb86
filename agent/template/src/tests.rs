//! Jinja2 tests as Ansible has them (`is succeeded`, `is version`, `is match`, ...),
//! registered under their short names and `ansible.builtin.<name>`, plus Jinja2's own
//! type tests where minijinja's differ (`number` is true for booleans, `integer` is not).

use std::cmp::Ordering;

use minijinja::value::{Rest, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value};

use crate::filters::{
    Args, as_bool, err, is_map, is_seq, list_of, py_eq, py_iter, py_str, split_args,
};

type TestFn = fn(&State, Value, &[ValueOrKwargs]) -> Result<bool, Error>;

/// Register a test under `name` and `ansible.builtin.<name>`. As in Ansible, an undefined
/// value or argument fails (`'x' is undefined`); only `defined`/`undefined` take one.
fn add(env: &mut Environment<'static>, name: &str, f: TestFn) {
    let value_ok = matches!(name, "defined" | "undefined");
    let fqcn: std::sync::Arc<str> = std::sync::Arc::from(format!("ansible.builtin.{name}"));
    let wrap = move |state: &State, value: Value, rest: Rest<ValueOrKwargs>| {
        crate::filters::reject_undefined((!value_ok).then_some(&value), &rest.0)?;
        f(state, value, &rest.0).map_err(|e| crate::filters::plugin_failed("test", &fqcn, e))
    };
    env.add_test(name.to_string(), wrap.clone());
    env.add_test(format!("ansible.builtin.{name}"), wrap);
}

/// Register every test.
pub fn register(env: &mut Environment<'static>) {
    jinja_builtins(env);
    env.add_test("ansible._protomatter.tagged_with", tagged_with);
    for n in ["failed", "failure"] {
        add(env, n, |_, v, _| Ok(result_key(&v, "failed")?.is_true()));
    }
    for n in ["succeeded", "success", "successful"] {
        add(
            env,
            n,
            |_, v, _| Ok(!result_key(&v, "succeeded")?.is_true()),
        );
    }
    add(env, "unreachable", |_, v, _| {
        Ok(result_key_named(&v, "unreachable", "unreachable")?.is_true())
    });
    add(env, "reachable", |_, v, _| {
        Ok(!result_key_named(&v, "unreachable", "reachable")?.is_true())
    });
    add(env, "timedout", |_, v, _| {
        let t = result_key_named(&v, "timedout", "timedout")?;
        Ok(t.is_true() && t.get_attr("period").map(|p| p.is_true()).unwrap_or(false))
    });
    for n in ["changed", "change"] {
        add(env, n, changed);
    }
    for n in ["skipped", "skip"] {
        add(env, n, |_, v, _| {
            Ok(result_key_named(&v, "skipped", "skipped")?.is_true())
        });
    }
    add(env, "finished", |_, v, _| async_state(&v, "finished"));
    add(env, "started", |_, v, _| async_state(&v, "started"));
    add(env, "match", |_, v, r| regex_test(v, r, "match"));
    add(env, "search", |_, v, r| regex_test(v, r, "search"));
    add(env, "regex", |_, v, r| regex_test(v, r, ""));
    add(env, "version", version_test);
    add(env, "version_compare", version_test);
    add(env, "any", |_, v, _| {
        Ok(py_iter(&v)?.iter().any(|x| x.is_true()))
    });
    add(env, "all", |_, v, _| {
        Ok(py_iter(&v)?.iter().all(|x| x.is_true()))
    });
    add(env, "truthy", |_, v, r| truthy(v, r));
    add(env, "falsy", |_, v, r| truthy(v, r).map(|b| !b));
    // Only values loaded from `!vault` tags are vault-encrypted; plain strings never are.
    add(env, "vault_encrypted", |_, v, _| {
        Ok(agent_yaml::vault::Vaulted::of(&v).is_some() || agent_yaml::vault::is_decrypted(&v))
    });
    add(env, "vaulted_file", |_, v, _| {
        let p = py_str(&v);
        let data = std::fs::read(&p)
            .map_err(|_| err(format!("Cannot test if the file '{p}' is a vault.")))?;
        Ok(data.starts_with(b"$ANSIBLE_VAULT;"))
    });
    // files
    for n in ["directory", "is_dir"] {
        add(env, n, |_, v, _| {
            Ok(std::path::Path::new(&py_str(&v)).is_dir())
        });
    }
    for n in ["file", "is_file"] {
        add(env, n, |_, v, _| {
            Ok(std::path::Path::new(&py_str(&v)).is_file())
        });
    }
    for n in ["link", "is_link"] {
        add(env, n, |_, v, _| {
            Ok(std::path::Path::new(&py_str(&v)).is_symlink())
        });
    }
    add(env, "exists", |_, v, _| {
        Ok(std::path::Path::new(&py_str(&v)).exists())
    });
    add(env, "link_exists", |_, v, _| {
        Ok(std::fs::symlink_metadata(py_str(&v)).is_ok())
    });
    for n in ["abs", "is_abs"] {
        add(env, n, |_, v, _| Ok(py_str(&v).starts_with('/')));
    }
    for n in ["same_file", "is_same_file"] {
        add(env, n, same_file);
    }
    for n in ["mount", "is_mount"] {
        add(env, n, |_, v, _| Ok(is_mount(&py_str(&v))));
    }
    // mathstuff
    for n in ["subset", "issubset"] {
        add(env, n, |_, v, r| subset(v, r, false));
    }
    for n in ["superset", "issuperset"] {
        add(env, n, |_, v, r| subset(v, r, true));
    }
    for n in ["nan", "isnan"] {
        add(env, n, |_, v, _| {
            Ok(v.is_number()
                && !v.is_integer()
                && f64::try_from(v).map(|f| f.is_nan()).unwrap_or(false))
        });
    }
    add(env, "contains", |_, v, r| {
        let a = Args::parse("contains", r, &["value"], false)?;
        let x = a.req("contains", 0, "value")?;
        contains(&v, x)
    });
    // uri
    add(env, "uri", |_, v, r| uri_test(v, r, false));
    add(env, "url", |_, v, r| uri_test(v, r, true));
    add(env, "urn", |_, v, _| {
        Ok(crate::filters::urls::urlsplit(&py_str(&v)).scheme == "urn")
    });
    // Jinja2 type tests where minijinja differs
    add(env, "number", |_, v, _| {
        Ok(v.is_number() || as_bool(&v).is_some())
    });
    add(env, "integer", |_, v, _| {
        Ok(v.is_integer() && as_bool(&v).is_none())
    });
    add(env, "float", |_, v, _| Ok(v.is_number() && !v.is_integer()));
    add(env, "boolean", |_, v, _| Ok(as_bool(&v).is_some()));
    add(env, "string", |_, v, _| Ok(v.kind() == ValueKind::String));
    add(env, "mapping", |_, v, _| Ok(is_map(&v)));
    add(env, "sequence", |_, v, _| {
        Ok(is_seq(&v) || is_map(&v) || v.kind() == ValueKind::String)
    });
    add(env, "iterable", |_, v, _| {
        Ok(is_seq(&v) || is_map(&v) || v.kind() == ValueKind::String)
    });
    add(env, "sameas", |_, v, r| {
        let a = Args::parse("sameas", r, &["other"], false)?;
        let o = a.req("sameas", 0, "other")?;
        // Python identity holds for None/True/False and small interned values.
        Ok(match (as_bool(&v), as_bool(o)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => {
                (v.is_none() && o.is_none()) || (v.is_integer() && o.is_integer() && v == *o)
            }
            _ => false,
        })
    });
    add(env, "in", |_, v, r| {
        let a = Args::parse("in", r, &["seq"], false)?;
        contains(a.req("in", 0, "seq")?, &v)
    });
}

fn result_key_named(v: &Value, key: &str, test: &str) -> Result<Value, Error> {
    if !is_map(v) {
        return Err(err(format!("The '{test}' test expects a dictionary")));
    }
    Ok(v.get_attr(key).unwrap_or_default())
}

fn result_key(v: &Value, test: &str) -> Result<Value, Error> {
    result_key_named(v, "failed", test)
}

fn has_key(v: &Value, key: &str) -> bool {
    v.try_iter()
        .map(|mut it| it.any(|k| k.as_str() == Some(key)))
        .unwrap_or(false)
}

fn changed(_: &State, v: Value, _: &[ValueOrKwargs]) -> Result<bool, Error> {
    if !is_map(&v) {
        return Err(err("The 'changed' test expects a dictionary"));
    }
    if has_key(&v, "changed") {
        return Ok(v.get_attr("changed").unwrap_or_default().is_true());
    }
    let results = v.get_attr("results").unwrap_or_default();
    if let Some(l) = list_of(&results)
        && l.first().is_some_and(is_map)
    {
        return Ok(l
            .iter()
            .any(|r| r.get_attr("changed").map(|c| c.is_true()).unwrap_or(false)));
    }
    Ok(false)
}

fn async_state(v: &Value, key: &str) -> Result<bool, Error> {
    if !is_map(v) {
        return Err(err(format!("The '{key}' test expects a dictionary")));
    }
    if has_key(v, key) {
        return Ok(v.get_attr(key).unwrap_or_default().is_true());
    }
    Ok(true)
}

fn regex_test(v: Value, rest: &[ValueOrKwargs], mode: &str) -> Result<bool, Error> {
    let names: &[&str] = if mode.is_empty() {
        &["pattern", "ignorecase", "multiline", "match_type"]
    } else {
        &["pattern", "ignorecase", "multiline"]
    };
    let a = Args::parse(
        if mode.is_empty() { "regex" } else { mode },
        rest,
        names,
        false,
    )?;
    let mode = if mode.is_empty() {
        a.string(3, "search")
    } else {
        mode.to_string()
    };
    if !matches!(mode.as_str(), "search" | "match" | "fullmatch") {
        return Err(err(
            "Invalid match_type specified. Expected one of: search, match, fullmatch.",
        ));
    }
    if v.is_undefined() {
        return Err(err("'value' is undefined"));
    }
    let s = py_str(&v);
    let pattern = a.string(0, "");
    let pattern = match mode.as_str() {
        "match" => format!("\\A(?:{pattern})"),
        "fullmatch" => format!("\\A(?:{pattern})\\z"),
        _ => pattern,
    };
    let re = crate::filters::regex::compile(&pattern, a.truthy(1, false), a.truthy(2, false))?;
    re.is_match(&s).map_err(|e| err(e.to_string()))
}

fn truthy(v: Value, rest: &[ValueOrKwargs]) -> Result<bool, Error> {
    let a = Args::parse("truthy", rest, &["convert_bool"], false)?;
    if a.truthy(0, false) {
        if let Some(b) = as_bool(&v) {
            return Ok(b);
        }
        let s = py_str(&v).to_lowercase();
        if matches!(s.as_str(), "y" | "yes" | "on" | "1" | "true" | "t" | "1.0") {
            return Ok(true);
        }
        if matches!(s.as_str(), "n" | "no" | "off" | "0" | "false" | "f" | "0.0") {
            return Ok(false);
        }
        // Not a boolean-like value: `boolean()` raises TypeError, which the test catches
        // and falls back to Python's truthiness.
    }
    Ok(v.is_true())
}

fn same_file(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let a = Args::parse("same_file", rest, &["b"], false)?;
    let b = py_str(a.req("same_file", 0, "b")?);
    let ma = std::fs::metadata(py_str(&v)).map_err(|e| err(e.to_string()))?;
    let mb = std::fs::metadata(&b).map_err(|e| err(e.to_string()))?;
    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
}

fn is_mount(p: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return false;
    };
    if m.file_type().is_symlink() {
        return false;
    }
    let parent = format!("{}/..", p.trim_end_matches('/'));
    let Ok(pm) = std::fs::metadata(parent) else {
        return false;
    };
    m.dev() != pm.dev() || m.ino() == pm.ino()
}

fn contains(seq: &Value, x: &Value) -> Result<bool, Error> {
    if let Some(s) = seq.as_str() {
        return Ok(s.contains(&py_str(x)));
    }
    Ok(py_iter(seq)?.iter().any(|e| py_eq(e, x)))
}

fn subset(v: Value, rest: &[ValueOrKwargs], superset: bool) -> Result<bool, Error> {
    let (pos, _) = split_args(rest);
    let Some(b) = pos.first() else {
        return Err(err("missing required argument"));
    };
    let la = py_iter(&v)?;
    let lb = py_iter(b)?;
    let (small, big) = if superset { (&lb, &la) } else { (&la, &lb) };
    Ok(small.iter().all(|x| big.iter().any(|y| py_eq(x, y))))
}

fn uri_test(v: Value, rest: &[ValueOrKwargs], url: bool) -> Result<bool, Error> {
    let a = Args::parse(if url { "url" } else { "uri" }, rest, &["schemes"], false)?;
    let Some(s) = v.as_str() else {
        return Ok(false);
    };
    let p = crate::filters::urls::urlsplit(s);
    if let Some(schemes) = a.some(0) {
        let ok = match list_of(schemes) {
            Some(l) => l.iter().any(|x| x.as_str() == Some(p.scheme.as_str())),
            None => py_str(schemes).contains(p.scheme.as_str()),
        };
        if !ok {
            return Ok(false);
        }
    }
    if url {
        return Ok(!p.netloc.is_empty() || p.scheme == "file");
    }
    Ok(true)
}

// ---------------------------------------------------------------- versions

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Num(u128),
    Str(String),
}

fn loose_parts(s: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() {
            let st = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let t: String = chars[st..i].iter().collect();
            out.push(Part::Num(t.parse().unwrap_or(u128::MAX)));
        } else if c.is_ascii_lowercase() {
            let st = i;
            while i < chars.len() && chars[i].is_ascii_lowercase() {
                i += 1;
            }
            out.push(Part::Str(chars[st..i].iter().collect()));
        } else if c == '.' {
            i += 1;
        } else {
            // any other run of characters is its own component
            let st = i;
            while i < chars.len()
                && !chars[i].is_ascii_digit()
                && !chars[i].is_ascii_lowercase()
                && chars[i] != '.'
            {
                i += 1;
            }
            out.push(Part::Str(chars[st..i].iter().collect()));
        }
    }
    out
}

fn loose_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let pa = loose_parts(a);
    let pb = loose_parts(b);
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x, y) {
            (Part::Num(m), Part::Num(n)) => m.cmp(n),
            (Part::Str(m), Part::Str(n)) => m.cmp(n),
            (Part::Num(_), Part::Str(_)) => {
                return Err(err(
                    "Version comparison failed: '<' not supported between instances of 'int' and 'str'",
                ));
            }
            (Part::Str(_), Part::Num(_)) => {
                return Err(err(
                    "Version comparison failed: '<' not supported between instances of 'str' and 'int'",
                ));
            }
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(pa.len().cmp(&pb.len()))
}

type Strict = ([u64; 3], Option<(char, u64)>);

fn strict_parse(s: &str) -> Result<Strict, Error> {
    let bad = || {
        err(format!(
            "Version comparison failed: invalid version number '{s}'"
        ))
    };
    let (nums, pre) = match s.find(['a', 'b']) {
        Some(i) => (&s[..i], Some(&s[i..])),
        None => (s, None),
    };
    let parts: Vec<&str> = nums.split('.').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    let mut v = [0u64; 3];
    for (i, p) in parts.iter().enumerate() {
        v[i] = p.parse().map_err(|_| bad())?;
    }
    let pre = match pre {
        None => None,
        Some(p) => {
            let (t, n) = p.split_at(1);
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            Some((
                t.chars().next().unwrap_or('a'),
                n.parse().map_err(|_| bad())?,
            ))
        }
    };
    Ok((v, pre))
}

fn strict_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (va, pa) = strict_parse(a)?;
    let (vb, pb) = strict_parse(b)?;
    Ok(va.cmp(&vb).then(match (pa, pb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }))
}

fn semver_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    fn parse(s: &str) -> Result<([u64; 3], Vec<String>), Error> {
        let bad = || {
            err(format!(
                "Version comparison failed: invalid semantic version '{s}'"
            ))
        };
        let core = s.split('+').next().unwrap_or("");
        let (nums, pre) = match core.split_once('-') {
            Some((n, p)) => (n, p.split('.').map(str::to_string).collect()),
            None => (core, Vec::new()),
        };
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut v = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || (p.len() > 1 && p.starts_with('0')) {
                return Err(bad());
            }
            v[i] = p.parse().map_err(|_| bad())?;
        }
        Ok((v, pre))
    }
    let (va, pa) = parse(a)?;
    let (vb, pb) = parse(b)?;
    let o = va.cmp(&vb);
    if o != Ordering::Equal {
        return Ok(o);
    }
    Ok(match (pa.is_empty(), pb.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            for (x, y) in pa.iter().zip(pb.iter()) {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return Ok(o);
                }
            }
            pa.len().cmp(&pb.len())
        }
    })
}

/// Ansible's `version_compare(value, version, operator, strict, version_type)`.
pub fn version_compare(
    value: &str,
    version: &str,
    operator: &str,
    strict: bool,
    version_type: Option<&str>,
) -> Result<bool, Error> {
    if value.is_empty() {
        return Err(err("Input version value cannot be empty"));
    }
    if version.is_empty() {
        return Err(err("Version parameter to compare against cannot be empty"));
    }
    let kind = if strict {
        "strict"
    } else {
        version_type.unwrap_or("loose")
    };
    let op = match operator {
        "==" | "=" | "eq" => "eq",
        "<" | "lt" => "lt",
        "<=" | "le" => "le",
        ">" | "gt" => "gt",
        ">=" | "ge" => "ge",
        "!=" | "<>" | "ne" => "ne",
        _ => {
            return Err(err(format!(
                "Invalid operator type ({operator}). Must be one of '==', '=', 'eq', '<', 'lt', '<=', 'le', '>', 'gt', '>=', 'ge', '!=', '<>', 'ne'"
            )));
        }
    };
    let ord = match kind {
        "loose" => loose_cmp(value, version)?,
        "strict" => strict_cmp(value, version)?,
        "semver" | "semantic" => semver_cmp(value, version)?,
        "pep440" => pep440_cmp(value, version)?,
        other => {
            return Err(err(format!(
                "Invalid version type ({other}). Must be one of 'loose', 'strict', 'semver', 'semantic', 'pep440'"
            )));
        }
    };
    Ok(match op {
        "eq" => ord == Ordering::Equal,
        "ne" => ord != Ordering::Equal,
        "lt" => ord == Ordering::Less,
        "le" => ord != Ordering::Greater,
        "gt" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

/// A PEP 440 version as `packaging.version.Version` orders it: epoch, release (trailing
/// zeros do not count), then pre-release, post-release, dev-release and local label.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    /// (0 a dev-only release, 1 a pre-release (phase, n), 2 none): pre-releases sort first.
    pre: (u8, u8, u64),
    /// None sorts before any post-release.
    post: Option<u64>,
    /// (0 dev n, 1 none): a dev release sorts first.
    dev: (u8, u64),
    local: Vec<(u8, u64, String)>,
}

fn pep440_parse(text: &str) -> Result<Pep440, Error> {
    let invalid = || {
        err(format!(
            "Version comparison failed: Invalid version: '{text}'"
        ))
    };
    let s = text.trim().to_ascii_lowercase();
    let s = s.strip_prefix('v').unwrap_or(&s);
    let (s, local) = match s.split_once('+') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let (epoch, s) = match s.split_once('!') {
        Some((e, r)) => (e.parse().map_err(|_| invalid())?, r),
        None => (0, s),
    };
    let b = s.as_bytes();
    let mut i = 0;
    let number = |i: &mut usize| -> Option<u64> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        s[start..*i].parse().ok()
    };
    let mut release = vec![number(&mut i).ok_or_else(invalid)?];
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        release.push(number(&mut i).ok_or_else(invalid)?);
    }
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    // The separators PEP 440 allows before a label (normalized away).
    let sep = |i: &mut usize| {
        if *i < b.len() && matches!(b[*i], b'.' | b'-' | b'_') {
            *i += 1;
        }
    };
    let word = |i: &mut usize, words: &[&str]| -> Option<String> {
        let rest = &s[*i..];
        let w = words.iter().find(|w| rest.starts_with(**w))?;
        *i += w.len();
        Some((*w).to_string())
    };
    let mut pre = None;
    let mut j = i;
    sep(&mut j);
    if let Some(w) = word(
        &mut j,
        &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"],
    ) {
        let phase = match w.as_str() {
            "alpha" | "a" => 0,
            "beta" | "b" => 1,
            _ => 2,
        };
        sep(&mut j);
        pre = Some((phase, number(&mut j).unwrap_or(0)));
        i = j;
    }
    let mut post = None;
    let mut j = i;
    if j < b.len() && b[j] == b'-' && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1;
        post = number(&mut j);
        i = j;
    } else {
        sep(&mut j);
        if word(&mut j, &["post", "rev", "r"]).is_some() {
            sep(&mut j);
            post = Some(number(&mut j).unwrap_or(0));
            i = j;
        }
    }
    let mut dev = None;
    let mut j = i;
    sep(&mut j);
    if word(&mut j, &["dev"]).is_some() {
        sep(&mut j);
        dev = Some(number(&mut j).unwrap_or(0));
        i = j;
    }
    if i != b.len() {
        return Err(invalid());
    }
    let local = match local {
        None => Vec::new(),
        Some("") => return Err(invalid()),
        Some(l) => l
            .split(['.', '-', '_'])
            .map(|p| match p.parse::<u64>() {
                // Numeric segments sort after alphanumeric ones.
                Ok(n) => (1, n, String::new()),
                Err(_) => (0, 0, p.to_string()),
            })
            .collect(),
    };
    let pre = match (pre, post, dev) {
        (None, None, Some(_)) => (0, 0, 0),
        (Some((phase, n)), _, _) => (1, phase, n),
        (None, _, _) => (2, 0, 0),
    };
    Ok(Pep440 {
        epoch,
        release,
        pre,
        post,
        dev: dev.map_or((1, 0), |n| (0, n)),
        local,
    })
}

fn pep440_cmp(a: &str, b: &str) -> Result<Ordering, Error> {
    let (a, b) = (pep440_parse(a)?, pep440_parse(b)?);
    // Releases compare as if padded with zeros.
    let len = a.release.len().max(b.release.len());
    let pad = |r: &[u64]| {
        let mut r = r.to_vec();
        r.resize(len, 0);
        r
    };
    Ok(a.epoch
        .cmp(&b.epoch)
        .then_with(|| pad(&a.release).cmp(&pad(&b.release)))
        .then_with(|| a.pre.cmp(&b.pre))
        .then_with(|| a.post.cmp(&b.post))
        .then_with(|| a.dev.cmp(&b.dev))
        .then_with(|| a.local.cmp(&b.local)))
}

fn version_test(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<bool, Error> {
    let a = Args::parse(
        "version_compare",
        rest,
        &["version", "operator", "strict", "version_type"],
        false,
    )?;
    let version = a.req("version_compare", 0, "version")?;
    if a.some(2).is_some() && a.some(3).is_some() {
        return Err(err("Cannot specify both 'strict' and 'version_type'"));
    }
    let vt = a.some(3).map(py_str);
    let value = if v.is_true() {
        py_str(&v)
    } else {
        String::new()
    };
    let version = if version.is_true() {
        py_str(version)
    } else {
        String::new()
    };
    version_compare(
        &value,
        &version,
        &a.string(1, "eq"),
        a.truthy(2, false),
        vt.as_deref(),
    )
}

/// The other argument of a comparison test (`x is eq(y)`).
fn other(name: &str, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(name, rest, &["b"], false)?;
    a.get(0).cloned().ok_or_else(|| {
        err(format!(
            "{name}() missing 1 required positional argument: 'b'"
        ))
    })
}

/// Jinja2's own tests that minijinja provides, registered again through [`add`] so that
/// undefined input fails as in Ansible and `ansible.builtin.<name>` works.
fn jinja_builtins(env: &mut Environment<'static>) {
    use minijinja::tests as t;
    add(env, "defined", |_, v, _| Ok(t::is_defined(&v)));
    add(env, "undefined", |_, v, _| Ok(t::is_undefined(&v)));
    add(env, "none", |_, v, _| Ok(t::is_none(&v)));
    // The agent's "safe" flag marks untrusted data (crate::untrusted), not Markup; values
    // are never Markup in the agent, as Ansible's are only after `| safe`/`| e`.
    for n in ["escaped", "safe"] {
        add(env, n, |_, _, _| Ok(false));
    }
    add(env, "odd", |_, v, _| Ok(t::is_odd(v)));
    add(env, "even", |_, v, _| Ok(t::is_even(v)));
    add(env, "divisibleby", |_, v, r| {
        Ok(t::is_divisibleby(&v, &other("divisibleby", r)?))
    });
    add(env, "true", |_, v, _| Ok(t::is_true(&v)));
    add(env, "false", |_, v, _| Ok(t::is_false(&v)));
    add(env, "lower", |_, v, _| Ok(t::is_lower(&v)));
    add(env, "upper", |_, v, _| Ok(t::is_upper(&v)));
    for n in ["eq", "equalto"] {
        add(env, n, |_, v, r| Ok(t::is_eq(&v, &other("eq", r)?)));
    }
    add(env, "ne", |_, v, r| Ok(t::is_ne(&v, &other("ne", r)?)));
    for n in ["lt", "lessthan"] {
        add(env, n, |_, v, r| Ok(t::is_lt(&v, &other("lt", r)?)));
    }
    add(env, "le", |_, v, r| Ok(t::is_le(&v, &other("le", r)?)));
    for n in ["gt", "greaterthan"] {
        add(env, n, |_, v, r| Ok(t::is_gt(&v, &other("gt", r)?)));
    }
    add(env, "ge", |_, v, r| Ok(t::is_ge(&v, &other("ge", r)?)));
    add(env, "filter", |s, v, _| {
        Ok(v.as_str().is_some_and(|n| t::is_filter(s, n)))
    });
    add(env, "test", |s, v, _| {
        Ok(v.as_str().is_some_and(|n| t::is_test(s, n)))
    });
}

/// ansible-core's internal `ansible._protomatter.tagged_with` test, for the one tag the
/// agent tracks: `TrustedAsTemplate`, a string that may be templated (written in a
/// playbook, role or vars file; not computed or registered: see [`crate::untrusted`]).
/// Ansible's other tags (`Origin`, `VaultedValue`, ...) are not tracked, and asking for
/// one fails rather than answer wrongly.
fn tagged_with(value: Value, tag: String) -> Result<bool, Error> {
    const KNOWN: &[&str] = &[
        "Origin",
        "VaultedValue",
        "SourceWasEncrypted",
        "Deprecated",
        "_JinjaConstTemplate",
    ];
    match tag.as_str() {
        "TrustedAsTemplate" => Ok(value.kind() == ValueKind::String && !value.is_safe()),
        t if KNOWN.contains(&t) => Err(err(format!(
            "The agent does not track the {t:?} tag (only 'TrustedAsTemplate')."
        ))),
        t => Err(err(format!("Unknown tag name {t:?}."))),
    }
}

#[cfg(test)]
mod unit {
    #[test]
    fn pep440_order_matches_packaging() {
        // Each expected ordering from Python's packaging.version.Version.
        for (a, b, want) in [
            ("1.0.dev0", "1.0a1", -1),
            ("1.0a1", "1.0b2", -1),
            ("1.0b2", "1.0rc1", -1),
            ("1.0rc1", "1.0", -1),
            ("1.0", "1.0.post1", -1),
            ("1.0", "1.0.0", 0),
            ("2.14.0rc1", "2.14.0", -1),
            ("1!1.0", "2.0", 1),
            ("1.0+local", "1.0", 1),
            ("1.0-1", "1.0", 1),
            ("1.0.post1.dev0", "1.0.post1", -1),
            ("1.0a1.dev1", "1.0a1", -1),
            ("1.0c1", "1.0rc1", 0),
            ("v1.2", "1.2", 0),
            ("1.0+abc.5", "1.0+abc.abc", 1),
            ("1.0.dev1", "1.0.dev2", -1),
        ] {
            let got = pep440_cmp(a, b).unwrap() as i32;
            assert_eq!(got, want, "{a} vs {b}");
        }
        assert!(pep440_cmp("abc", "1.0").is_err());
        assert!(pep440_cmp("1.0+", "1.0").is_err());
    }

    use super::*;

    #[test]
    fn versions() {
        assert!(version_compare("1.10", "1.9", ">", false, None).unwrap());
        assert!(version_compare("2.0a1", "2.0", "<", true, None).unwrap());
        assert!(version_compare("1.0.0-alpha", "1.0.0", "lt", false, Some("semver")).unwrap());
        assert!(version_compare("1.2", "1.2", "==", false, None).unwrap());
        assert!(version_compare("1.a", "1.1", "<", false, None).is_err());
        assert!(version_compare("1.2.3.4", "1.2", "<", true, None).is_err());
    }

    #[test]
    fn tests_in_env() {
        let mut env = Environment::new();
        register(&mut env);
        crate::filters::register(&mut env);
        let t = |e: &str| {
            env.compile_expression(e)
                .unwrap()
                .eval(())
                .unwrap()
                .is_true()
        };
        assert!(t("{'changed': true} is changed"));
        assert!(t(
            "{'results': [{'changed': false}, {'changed': true}]} is changed"
        ));
        assert!(t("{'failed': false} is succeeded"));
        assert!(t("'foobar' is match('foo')"));
        assert!(!t("'xfoobar' is match('foo')"));
        assert!(t("'xfoobar' is search('foo')"));
        assert!(t("'1.2.3' is version('1.2', '>=')"));
        assert!(t("true is number"));
        assert!(!t("true is integer"));
        assert!(t("[1, 2] is subset([1, 2, 3])"));
        assert!(t("'https://x.org/a' is url"));
    }
}
