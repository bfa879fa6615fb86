//! Path filters (Python's `posixpath`/`ntpath` semantics), `fileglob`, and the time
//! helpers behind `strftime` and `to_datetime`.

use std::sync::Arc;

use minijinja::value::{Object, ValueOrKwargs};
use minijinja::{Environment, Error, State, Value};

use super::{Args, add, err, list_of, py_str, type_name};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    // Ansible's `now(utc=False, fmt=None)` global: a datetime, or a string with `fmt`.
    env.add_function(
        "now",
        |kwargs: minijinja::value::Kwargs| -> Result<Value, Error> {
            let utc: Option<bool> = kwargs.get("utc")?;
            let fmt: Option<String> = kwargs.get("fmt")?;
            kwargs.assert_all_used()?;
            let tz = if utc.unwrap_or(false) {
                jiff::tz::TimeZone::UTC
            } else {
                crate::localtime::zone()
            };
            let zoned = jiff::Timestamp::now().to_zoned(tz);
            match fmt {
                // The zoned time, so that `%s` (seconds since the epoch) and `%z` work.
                Some(f) => jiff::fmt::strtime::format(f.as_str(), &zoned)
                    .map(Value::from)
                    .map_err(|e| err(e.to_string())),
                None => Ok(Value::from_object(PyDateTime {
                    dt: zoned.datetime(),
                })),
            }
        },
    );
    add(env, NS, "basename", |_, v, r| {
        unary("basename", v, r, |s| basename(s).to_string())
    });
    add(env, NS, "dirname", |_, v, r| {
        unary("dirname", v, r, |s| dirname(s).to_string())
    });
    add(env, NS, "expanduser", |_, v, r| {
        unary("expanduser", v, r, expanduser)
    });
    add(env, NS, "expandvars", |_, v, r| {
        unary("expandvars", v, r, expandvars)
    });
    add(env, NS, "normpath", |_, v, r| {
        unary("normpath", v, r, normpath)
    });
    add(env, NS, "realpath", |_, v, r| {
        unary("realpath", v, r, realpath)
    });
    add(env, NS, "win_basename", |_, v, r| {
        unary("win_basename", v, r, |s| win_split(s).1)
    });
    add(env, NS, "win_dirname", |_, v, r| {
        unary("win_dirname", v, r, |s| win_split(s).0)
    });
    add(env, NS, "relpath", relpath_filter);
    add(env, NS, "splitext", splitext_filter);
    add(env, NS, "win_splitdrive", win_splitdrive_filter);
    add(env, NS, "path_join", path_join_filter);
    add(env, NS, "commonpath", commonpath_filter);
    add(env, NS, "fileglob", fileglob_filter);
}

fn unary(
    name: &str,
    v: Value,
    rest: &[ValueOrKwargs],
    f: impl Fn(&str) -> String,
) -> Result<Value, Error> {
    Args::parse(name, rest, &[], false)?;
    match v.as_str() {
        Some(s) => Ok(Value::from(f(s))),
        None => Err(err(format!(
            "expected str, bytes or os.PathLike object, not {}",
            type_name(&v)
        ))),
    }
}

/// `os.path.basename`.
pub fn basename(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// `os.path.dirname`.
pub fn dirname(p: &str) -> &str {
    let head = match p.rfind('/') {
        Some(i) => &p[..i + 1],
        None => "",
    };
    if !head.is_empty() && !head.chars().all(|c| c == '/') {
        head.trim_end_matches('/')
    } else {
        head
    }
}

/// `os.path.join(a, *p)`.
pub fn join(parts: &[String]) -> String {
    let mut path = String::new();
    for (i, b) in parts.iter().enumerate() {
        if i == 0 || b.starts_with('/') {
            path = b.clone();
        } else if path.is_empty() || path.ends_with('/') {
            path.push_str(b);
        } else {
            path.push('/');
            path.push_str(b);
        }
    }
    path
}

/// `os.path.normpath`.
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        2
    } else if p.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for c in p.split('/') {
        if c.is_empty() || c == "." {
            continue;
        }
        if c != ".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&"..") {
            comps.push(c);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let s = format!("{}{}", "/".repeat(initial), comps.join("/"));
    if s.is_empty() { ".".into() } else { s }
}

fn abspath(p: &str) -> String {
    if p.starts_with('/') {
        normpath(p)
    } else {
        let cwd = std::env::current_dir()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        normpath(&join(&[cwd, p.to_string()]))
    }
}

/// `os.path.realpath` (non-strict: the part that does not exist is kept as written).
pub fn realpath(p: &str) -> String {
    let abs = abspath(p);
    let mut done = std::path::PathBuf::from("/");
    let comps: Vec<&str> = abs.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in comps.iter().enumerate() {
        let next = done.join(c);
        match std::fs::canonicalize(&next) {
            Ok(real) => done = real,
            Err(_) => {
                let rest = comps[i..].join("/");
                let base = done.to_string_lossy();
                let base = base.trim_end_matches('/');
                return normpath(&format!("{base}/{rest}"));
            }
        }
    }
    done.to_string_lossy().into_owned()
}

/// `os.path.relpath(path, start)`.
pub fn relpath(path: &str, start: &str) -> Result<String, Error> {
    if path.is_empty() {
        return Err(err("no path specified"));
    }
    let a = abspath(start);
    let b = abspath(path);
    let sa: Vec<&str> = a.split('/').filter(|c| !c.is_empty()).collect();
    let sb: Vec<&str> = b.split('/').filter(|c| !c.is_empty()).collect();
    let common = sa.iter().zip(sb.iter()).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = vec![".."; sa.len() - common];
    parts.extend(&sb[common..]);
    if parts.is_empty() {
        Ok(".".into())
    } else {
        Ok(parts.join("/"))
    }
}

/// `os.path.splitext`.
pub fn splitext(p: &str) -> (String, String) {
    let sep = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    if let Some(dot) = p.rfind('.')
        && dot > sep
    {
        let base = &p[sep..dot];
        if base.chars().any(|c| c != '.') {
            return (p[..dot].to_string(), p[dot..].to_string());
        }
    }
    (p.to_string(), String::new())
}

/// `os.path.expanduser`.
pub fn expanduser(p: &str) -> String {
    if !p.starts_with('~') {
        return p.to_string();
    }
    let end = p.find('/').unwrap_or(p.len());
    let user = &p[1..end];
    let home = if user.is_empty() {
        std::env::var("HOME").ok()
    } else {
        std::fs::read_to_string("/etc/passwd").ok().and_then(|s| {
            s.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 5 && f[0] == user).then(|| f[5].to_string())
            })
        })
    };
    match home {
        Some(h) => {
            let h = if h == "/" {
                String::new()
            } else {
                h.trim_end_matches('/').to_string()
            };
            let out = format!("{h}{}", &p[end..]);
            if out.is_empty() { "/".into() } else { out }
        }
        None => p.to_string(),
    }
}

/// `os.path.expandvars`: `$NAME` and `${NAME}`; unknown variables stay as written.
pub fn expandvars(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            if chars.get(i + 1) == Some(&'{') {
                if let Some(off) = chars[i + 2..].iter().position(|&c| c == '}') {
                    let name: String = chars[i + 2..i + 2 + off].iter().collect();
                    if let Ok(v) = std::env::var(&name) {
                        out.push_str(&v);
                    } else {
                        out.extend(&chars[i..i + 3 + off]);
                    }
                    i += 3 + off;
                    continue;
                }
            } else {
                let len = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .count();
                if len > 0 {
                    let name: String = chars[i + 1..i + 1 + len].iter().collect();
                    if let Ok(v) = std::env::var(&name) {
                        out.push_str(&v);
                    } else {
                        out.push('$');
                        out.push_str(&name);
                    }
                    i += 1 + len;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn win_splitdrive(p: &str) -> (String, String) {
    let b = p.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return (p[..2].to_string(), p[2..].to_string());
    }
    let norm = p.replace('/', "\\");
    if norm.starts_with("\\\\") && !norm.starts_with("\\\\\\") {
        // UNC: \\server\share
        let rest = &norm[2..];
        if let Some(i) = rest.find('\\') {
            let after = &rest[i + 1..];
            let j = after.find('\\').map(|j| 2 + i + 1 + j).unwrap_or(p.len());
            return (p[..j].to_string(), p[j..].to_string());
        }
    }
    (String::new(), p.to_string())
}

fn win_split(p: &str) -> (String, String) {
    let (d, rest) = win_splitdrive(p);
    let i = rest.rfind(['/', '\\']).map(|i| i + 1).unwrap_or(0);
    let (head, tail) = rest.split_at(i);
    let trimmed = head.trim_end_matches(['/', '\\']);
    let head = if trimmed.is_empty() { head } else { trimmed };
    (format!("{d}{head}"), tail.to_string())
}

fn win_splitdrive_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("win_splitdrive", rest, &[], false)?;
    let (a, b) = win_splitdrive(&py_str(&v));
    Ok(Value::from(vec![a, b]))
}

fn relpath_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("relpath", rest, &["start"], false)?;
    let start = a.string(0, ".");
    Ok(Value::from(relpath(&py_str(&v), &start)?))
}

fn splitext_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("splitext", rest, &[], false)?;
    let (a, b) = splitext(&py_str(&v));
    Ok(Value::from(vec![a, b]))
}

fn path_join_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("path_join", rest, &[], false)?;
    if let Some(s) = v.as_str() {
        return Ok(Value::from(s));
    }
    match list_of(&v) {
        Some(l) if !l.is_empty() => {
            let parts: Vec<String> = l.iter().map(py_str).collect();
            Ok(Value::from(join(&parts)))
        }
        Some(_) => Err(err("join() missing 1 required positional argument: 'a'")),
        None => Err(err(format!(
            "|path_join expects string or sequence, got <class '{}'> instead.",
            type_name(&v)
        ))),
    }
}

fn commonpath_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("commonpath", rest, &[], false)?;
    let Some(l) = list_of(&v) else {
        return Err(err(format!(
            "|commonpath expects sequence, got <class '{}'> instead.",
            type_name(&v)
        )));
    };
    if l.is_empty() {
        return Err(err("commonpath() arg is an empty sequence"));
    }
    let paths: Vec<String> = l.iter().map(py_str).collect();
    let abs = paths[0].starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != abs) {
        return Err(err("Can't mix absolute and relative paths"));
    }
    let split: Vec<Vec<&str>> = paths
        .iter()
        .map(|p| {
            p.split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect()
        })
        .collect();
    let first = &split[0];
    let mut n = first.len();
    for s in &split[1..] {
        n = n.min(
            first
                .iter()
                .zip(s.iter())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let prefix = if abs { "/" } else { "" };
    Ok(Value::from(format!("{prefix}{}", first[..n].join("/"))))
}

/// Files (not directories) matching a glob pattern, as Python's `glob.glob`.
pub fn fileglob(pattern: &str) -> Vec<String> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    match glob::glob_with(pattern, opts) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn fileglob_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("fileglob", rest, &[], false)?;
    Ok(Value::from(fileglob(&py_str(&v))))
}

/// Python `datetime.fromtimestamp(secs[, utc]).strftime(fmt)`.
pub fn format_time(fmt: &str, secs: f64, utc: bool) -> Result<String, Error> {
    let ts = jiff::Timestamp::from_nanosecond((secs * 1e9) as i128)
        .map_err(|e| err(format!("Invalid value for epoch value ({secs}): {e}")))?;
    let tz = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        crate::localtime::zone()
    };
    let zoned = ts.to_zoned(tz);
    jiff::fmt::strtime::format(fmt, &zoned).map_err(|e| err(e.to_string()))
}

/// A Python `datetime.datetime` as `to_datetime` returns it.
#[derive(Debug)]
pub struct PyDateTime {
    pub dt: jiff::civil::DateTime,
}

impl Object for PyDateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let d = &self.dt;
        Some(Value::from(match key.as_str()? {
            "year" => d.year() as i64,
            "month" => d.month() as i64,
            "day" => d.day() as i64,
            "hour" => d.hour() as i64,
            "minute" => d.minute() as i64,
            "second" => d.second() as i64,
            "microsecond" => (d.subsec_nanosecond() / 1000) as i64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let fmt = args.first().map(py_str).unwrap_or_default();
                jiff::fmt::strtime::format(fmt.as_str(), self.dt)
                    .map(Value::from)
                    .map_err(|e| err(e.to_string()))
            }
            "timestamp" => {
                let z = self
                    .dt
                    .to_zoned(crate::localtime::zone())
                    .map_err(|e| err(e.to_string()))?;
                Ok(Value::from(z.timestamp().as_nanosecond() as f64 / 1e9))
            }
            "isoformat" => Ok(Value::from(self.iso('T'))),
            "date" => Ok(Value::from(self.dt.date().to_string())),
            _ => Err(Error::new(
                minijinja::ErrorKind::UnknownMethod,
                format!("'datetime.datetime' object has no attribute '{method}'"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.iso(' '))
    }

    /// Datetimes compare in time order, as Python's do.
    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        Some(self.dt.cmp(&other.downcast_ref::<Self>()?.dt))
    }
}

impl PyDateTime {
    fn iso(&self, sep: char) -> String {
        let d = &self.dt;
        let mut s = format!(
            "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        );
        let us = d.subsec_nanosecond() / 1000;
        if us != 0 {
            s.push_str(&format!(".{us:06}"));
        }
        s
    }
}

/// `datetime.strptime(s, fmt)`.
pub fn parse_datetime(s: &str, fmt: &str) -> Result<Value, Error> {
    let tm = jiff::fmt::strtime::parse(fmt, s).map_err(|_| {
        err(format!(
            "time data {} does not match format {}",
            super::pyfmt::str_repr(s),
            super::pyfmt::str_repr(fmt)
        ))
    })?;
    let date = tm
        .to_date()
        .or_else(|_| jiff::civil::Date::new(1900, 1, 1))
        .map_err(|e| err(e.to_string()))?;
    let time = tm
        .to_time()
        .unwrap_or_else(|_| jiff::civil::Time::midnight());
    Ok(Value::from_object(PyDateTime {
        dt: date.to_datetime(time),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_formats_epoch_seconds() {
        let mut env = minijinja::Environment::new();
        register(&mut env);
        let out = env
            .render_str("{{ now(fmt='%s') }}", ())
            .unwrap_or_default();
        let secs: i64 = out.parse().unwrap_or(0);
        assert!(secs > 1_600_000_000, "{out}");
    }

    #[test]
    fn posix_paths() {
        assert_eq!(basename("/etc/foo.conf"), "foo.conf");
        assert_eq!(dirname("/etc/foo.conf"), "/etc");
        assert_eq!(dirname("/foo"), "/");
        assert_eq!(dirname("foo"), "");
        assert_eq!(
            join(&["/a".into(), "b".into(), "/c".into(), "d".into()]),
            "/c/d"
        );
        assert_eq!(normpath("/a/./b/../c//d/"), "/a/c/d");
        assert_eq!(normpath("../a/.."), "..");
        assert_eq!(splitext("/a/b.tar.gz"), ("/a/b.tar".into(), ".gz".into()));
        assert_eq!(splitext("/a/.bashrc"), ("/a/.bashrc".into(), "".into()));
        assert_eq!(relpath("/a/b/c", "/a/d").unwrap(), "../b/c");
    }

    #[test]
    fn times() {
        assert_eq!(
            format_time("%Y-%m-%d %H:%M:%S", 0.0, true).unwrap(),
            "1970-01-01 00:00:00"
        );
        let v = parse_datetime("2024-02-03 04:05:06", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(v.to_string(), "2024-02-03 04:05:06");
        assert_eq!(v.get_attr("month").unwrap(), Value::from(2));
        let later = parse_datetime("2024-02-03 04:05:07", "%Y-%m-%d %H:%M:%S").unwrap();
        assert!(v < later);
        assert!(later > v);
        assert_eq!(
            v,
            parse_datetime("2024-02-03 04:05:06", "%Y-%m-%d %H:%M:%S").unwrap()
        );
    }
}
