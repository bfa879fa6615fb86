//! `urlsplit`, `urldecode`, `urlencode` with Python `urllib.parse` semantics.

use minijinja::value::ValueOrKwargs;
use minijinja::{Environment, Error, State, Value};

use super::{Args, add, err, is_map, list_of, map_items, py_str};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "urlsplit", urlsplit_filter);
    add(env, NS, "urldecode", |_, v, r| {
        Args::parse("urldecode", r, &[], false)?;
        Ok(Value::from(unquote(&py_str(&v), true)))
    });
    add(env, NS, "urlencode", urlencode);
}

/// The parts of `urllib.parse.urlsplit`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UrlParts {
    pub scheme: String,
    pub netloc: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
}

impl UrlParts {
    fn userinfo_host(&self) -> (Option<&str>, &str) {
        match self.netloc.rfind('@') {
            Some(i) => (Some(&self.netloc[..i]), &self.netloc[i + 1..]),
            None => (None, &self.netloc),
        }
    }

    /// `username`.
    pub fn username(&self) -> Option<String> {
        self.userinfo_host()
            .0
            .map(|u| u.split(':').next().unwrap_or("").to_string())
    }

    /// `password`.
    pub fn password(&self) -> Option<String> {
        self.userinfo_host()
            .0
            .and_then(|u| u.split_once(':').map(|(_, p)| p.to_string()))
    }

    fn host_port(&self) -> (&str, Option<&str>) {
        let hp = self.userinfo_host().1;
        if let Some(rest) = hp.strip_prefix('[') {
            let (h, after) = rest.split_once(']').unwrap_or((rest, ""));
            return (h, after.strip_prefix(':'));
        }
        match hp.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    }

    /// `hostname` (lowercased, `None` when empty).
    pub fn hostname(&self) -> Option<String> {
        let h = self.host_port().0;
        if h.is_empty() {
            None
        } else {
            Some(h.to_lowercase())
        }
    }

    /// `port`.
    pub fn port(&self) -> Result<Option<i64>, Error> {
        match self.host_port().1 {
            None | Some("") => Ok(None),
            Some(p) => match p.parse::<i64>() {
                Ok(n) if (0..=65535).contains(&n) && p.chars().all(|c| c.is_ascii_digit()) => {
                    Ok(Some(n))
                }
                Ok(_) => Err(err("Port out of range 0-65535")),
                Err(_) => Err(err(format!(
                    "Port could not be cast to integer value as '{p}'"
                ))),
            },
        }
    }
}

/// `urllib.parse.urlsplit(url)`.
pub fn urlsplit(url: &str) -> UrlParts {
    let url: String = url
        .trim_start_matches(|c: char| (c as u32) <= 0x20)
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = url.as_str();
    let mut p = UrlParts::default();
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        let mut chars = cand.chars();
        if chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            p.scheme = cand.to_lowercase();
            rest = &rest[i + 1..];
        }
    }
    if let Some(r) = rest.strip_prefix("//") {
        let end = r.find(['/', '?', '#']).unwrap_or(r.len());
        p.netloc = r[..end].to_string();
        rest = &r[end..];
    }
    if let Some((a, f)) = rest.split_once('#') {
        p.fragment = f.to_string();
        rest = a;
    }
    if let Some((a, q)) = rest.split_once('?') {
        p.query = q.to_string();
        rest = a;
    }
    p.path = rest.to_string();
    p
}

fn opt(v: Option<String>) -> Value {
    v.map(Value::from).unwrap_or_else(|| Value::from(()))
}

fn urlsplit_filter(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("urlsplit", rest, &["query"], false)?;
    let p = urlsplit(&py_str(&v));
    let port = match p.port()? {
        Some(n) => Value::from(n),
        None => Value::from(()),
    };
    let fields: Vec<(&str, Value)> = vec![
        ("fragment", Value::from(p.fragment.clone())),
        ("hostname", opt(p.hostname())),
        ("netloc", Value::from(p.netloc.clone())),
        ("password", opt(p.password())),
        ("path", Value::from(p.path.clone())),
        ("port", port),
        ("query", Value::from(p.query.clone())),
        ("scheme", Value::from(p.scheme.clone())),
        ("username", opt(p.username())),
    ];
    if let Some(q) = a.some(0) {
        let q = py_str(q);
        return fields
            .into_iter()
            .find(|(k, _)| *k == q)
            .map(|(_, v)| v)
            .ok_or_else(|| err(format!("urlsplit: unknown URL component: {q}")));
    }
    Ok(Value::from_pairs(fields))
}

/// `urllib.parse.unquote` (`plus`: `unquote_plus`).
pub fn unquote(s: &str, plus: bool) -> String {
    let s = if plus {
        s.replace('+', " ")
    } else {
        s.to_string()
    };
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `urllib.parse.quote(s, safe)`.
pub fn quote(s: &str, safe: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "_.-~".contains(c) || (b < 128 && safe.contains(c)) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn qs_quote(v: &Value) -> String {
    quote(&py_str(v), "").replace("%20", "+")
}

fn urlencode(_: &State, v: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("urlencode", rest, &[], false)?;
    if let Some(s) = v.as_str() {
        return Ok(Value::from(quote(s, "/")));
    }
    let pairs: Vec<(Value, Value)> = if is_map(&v) {
        map_items(&v).unwrap_or_default()
    } else if let Some(l) = list_of(&v) {
        l.iter()
            .map(|p| {
                let pl = list_of(p).unwrap_or_default();
                (
                    pl.first().cloned().unwrap_or_default(),
                    pl.get(1).cloned().unwrap_or_default(),
                )
            })
            .collect()
    } else {
        return Ok(Value::from(quote(&py_str(&v), "/")));
    };
    Ok(Value::from(
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", qs_quote(k), qs_quote(v)))
            .collect::<Vec<_>>()
            .join("&"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_python() {
        let p = urlsplit("https://User:pw@Example.com:8080/a/b?x=1#frag");
        assert_eq!(p.scheme, "https");
        assert_eq!(p.netloc, "User:pw@Example.com:8080");
        assert_eq!(p.hostname().as_deref(), Some("example.com"));
        assert_eq!(p.port().unwrap(), Some(8080));
        assert_eq!(p.username().as_deref(), Some("User"));
        assert_eq!(p.path, "/a/b");
        assert_eq!(p.query, "x=1");
        assert_eq!(p.fragment, "frag");
        assert_eq!(unquote("a%20b+c", true), "a b c");
        assert_eq!(quote("a b/é", "/"), "a%20b/%C3%A9");
    }
}
