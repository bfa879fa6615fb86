//! regex_replace / regex_search / regex_findall / regex_escape with Python `re`
//! semantics on fancy-regex: Python syntax (`(?P=name)`, `\Z`, `$` before a final
//! newline) is translated, and replacement templates (`\1`, `\g<name>`) are expanded
//! the way `re.sub` does.

use std::cell::RefCell;
use std::collections::HashMap;

use fancy_regex::{Captures, Regex};
use minijinja::value::ValueOrKwargs;
use minijinja::{Environment, Error, State, Value};

use super::{Args, add, err, py_str, split_args};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "regex_replace", regex_replace);
    add(env, NS, "regex_search", regex_search);
    add(env, NS, "regex_findall", regex_findall);
    add(env, NS, "regex_escape", regex_escape);
}

/// Translate a Python `re` pattern into fancy-regex syntax.
pub fn translate(pattern: &str, multiline: bool) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let Some(&n) = chars.get(i + 1) else {
                out.push('\\');
                i += 1;
                continue;
            };
            if !in_class && n == 'Z' {
                out.push_str("\\z");
            } else {
                out.push('\\');
                out.push(n);
            }
            i += 2;
            continue;
        }
        if in_class {
            if c == ']' {
                in_class = false;
            } else if c == '[' {
                out.push('\\');
                out.push('[');
                i += 1;
                continue;
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
                i += 1;
                // A `]` or `^]` right after the opening is literal in Python.
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
            }
            '(' if chars.get(i + 1) == Some(&'?')
                && chars.get(i + 2) == Some(&'P')
                && chars.get(i + 3) == Some(&'=') =>
            {
                let rest: String = chars[i + 4..].iter().collect();
                if let Some(end) = rest.find(')') {
                    out.push_str(&format!("\\k<{}>", &rest[..end]));
                    i += 4 + rest[..end].chars().count() + 1;
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            '$' if !multiline => {
                out.push_str("(?=\\n?\\z)");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn inline_multiline(pattern: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("(?")
        && let Some(end) = rest.find(')')
    {
        let flags = &rest[..end];
        return flags.chars().all(|c| c.is_ascii_alphabetic()) && flags.contains('m');
    }
    false
}

thread_local! {
    static CACHE: RefCell<HashMap<(String, bool, bool), Regex>> = RefCell::new(HashMap::new());
}

/// Compile a Python pattern with the `re.I` / `re.M` flags.
pub fn compile(pattern: &str, ignorecase: bool, multiline: bool) -> Result<Regex, Error> {
    let key = (pattern.to_string(), ignorecase, multiline);
    if let Some(r) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(r);
    }
    let ml = multiline || inline_multiline(pattern);
    let mut flags = String::new();
    if ignorecase {
        flags.push('i');
    }
    if ml {
        flags.push('m');
    }
    let body = translate(pattern, ml);
    let full = if flags.is_empty() {
        body
    } else {
        format!("(?{flags}){body}")
    };
    let re = Regex::new(&full).map_err(|e| {
        let e = e.to_string();
        // Python's wording for the commonest mistake (`*` with nothing before it).
        let e = match e.strip_prefix("Parsing error at position ") {
            Some(rest) if rest.contains("Target of repeat operator is invalid") => {
                format!("{e} (nothing to repeat)")
            }
            _ => e,
        };
        err(format!("Invalid regular expression {pattern:?}: {e}"))
    })?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 256 {
            c.clear();
        }
        c.insert(key, re.clone());
    });
    Ok(re)
}

fn group_text(caps: &Captures<'_, str>, name: &str) -> Result<String, Error> {
    let m = if let Ok(n) = name.parse::<usize>() {
        if n >= caps.len() {
            return Err(err(format!("invalid group reference {n}")));
        }
        caps.get(n)
    } else {
        caps.name(name)
    };
    Ok(m.map(|m| m.as_str().to_string()).unwrap_or_default())
}

/// Expand a Python `re.sub` replacement template for one match.
pub fn expand(template: &str, caps: &Captures<'_, str>) -> Result<String, Error> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            return Err(err("bad escape (end of pattern)"));
        };
        match n {
            'g' => {
                if chars.get(i + 2) != Some(&'<') {
                    return Err(err("missing <"));
                }
                let rest: String = chars[i + 3..].iter().collect();
                let end = rest
                    .find('>')
                    .ok_or_else(|| err("missing >, unterminated name"))?;
                let name = &rest[..end];
                out.push_str(&group_text(caps, name)?);
                i += 3 + name.chars().count() + 1;
            }
            '0' => {
                let mut j = i + 2;
                let mut v = 0u32;
                while j < chars.len() && j < i + 4 && ('0'..='7').contains(&chars[j]) {
                    v = v * 8 + chars[j].to_digit(8).unwrap_or(0);
                    j += 1;
                }
                out.push(char::from_u32(v).unwrap_or('\0'));
                i = j;
            }
            '1'..='9' => {
                let mut j = i + 1;
                let mut num = String::new();
                while j < chars.len() && num.len() < 2 && chars[j].is_ascii_digit() {
                    num.push(chars[j]);
                    j += 1;
                }
                out.push_str(&group_text(caps, &num)?);
                i = j;
            }
            'n' => {
                out.push('\n');
                i += 2;
            }
            't' => {
                out.push('\t');
                i += 2;
            }
            'r' => {
                out.push('\r');
                i += 2;
            }
            'f' => {
                out.push('\u{c}');
                i += 2;
            }
            'v' => {
                out.push('\u{b}');
                i += 2;
            }
            'a' => {
                out.push('\u{7}');
                i += 2;
            }
            'b' => {
                out.push('\u{8}');
                i += 2;
            }
            '\\' => {
                out.push('\\');
                i += 2;
            }
            c if c.is_ascii_alphabetic() => {
                return Err(err(format!("bad escape \\{c} at position {i}")));
            }
            c => {
                out.push('\\');
                out.push(c);
                i += 2;
            }
        }
    }
    Ok(out)
}

/// Python `re.subn(pattern, repl, s, count)`.
pub fn subn(re: &Regex, repl: &str, s: &str, count: usize) -> Result<(String, usize), Error> {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut n = 0;
    let mut pos = 0;
    while pos <= s.len() {
        if count > 0 && n >= count {
            break;
        }
        let caps = match re.captures_from_pos(s, pos) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(err(e.to_string())),
        };
        let Some(m) = caps.get(0) else { break };
        out.push_str(&s[last..m.start()]);
        out.push_str(&expand(repl, &caps)?);
        last = m.end();
        n += 1;
        pos = if m.start() == m.end() {
            next_char(s, m.end())
        } else {
            m.end()
        };
    }
    out.push_str(&s[last..]);
    Ok((out, n))
}

fn next_char(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len() + 1;
    }
    let mut j = i + 1;
    while j < s.len() && !s.is_char_boundary(j) {
        j += 1;
    }
    j
}

fn regex_replace(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "regex_replace",
        rest,
        &[
            "pattern",
            "replacement",
            "ignorecase",
            "multiline",
            "count",
            "mandatory_count",
        ],
        false,
    )?;
    let s = if value.is_none() {
        "None".to_string()
    } else {
        py_str(&value)
    };
    let pattern = a.string(0, "");
    let repl = a.string(1, "");
    let re = compile(&pattern, a.truthy(2, false), a.truthy(3, false))?;
    let count = a.int("regex_replace", 4, 0)?.max(0) as usize;
    let mandatory = a.int("regex_replace", 5, 0)?;
    let (out, subs) = subn(&re, &repl, &s, count)?;
    if mandatory != 0 && mandatory != subs as i64 {
        return Err(err(format!(
            "'{pattern}' should match {mandatory} times, but matches {count} times in '{s}'"
        )));
    }
    Ok(Value::from(out))
}

fn regex_findall(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "regex_findall",
        rest,
        &["regex", "multiline", "ignorecase"],
        false,
    )?;
    let s = py_str(&value);
    let pattern = py_str(a.req("regex_findall", 0, "regex")?);
    let re = compile(&pattern, a.truthy(2, false), a.truthy(1, false))?;
    let mut out = Vec::new();
    let ngroups = re.captures_len() - 1;
    let mut pos = 0;
    while pos <= s.len() {
        let caps = match re.captures_from_pos(&s, pos) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(err(e.to_string())),
        };
        let Some(m) = caps.get(0) else { break };
        let item = match ngroups {
            0 => Value::from(m.as_str()),
            1 => Value::from(caps.get(1).map(|g| g.as_str()).unwrap_or("")),
            _ => Value::from(
                (1..=ngroups)
                    .map(|i| Value::from(caps.get(i).map(|g| g.as_str()).unwrap_or("")))
                    .collect::<Vec<_>>(),
            ),
        };
        out.push(item);
        pos = if m.start() == m.end() {
            next_char(&s, m.end())
        } else {
            m.end()
        };
    }
    Ok(Value::from(out))
}

fn regex_search(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    let s = py_str(&value);
    let Some(pattern) = pos.first() else {
        return Err(err(
            "regex_search() missing 1 required positional argument: 'regex'",
        ));
    };
    let pattern = py_str(pattern);
    let mut groups: Vec<String> = Vec::new();
    for arg in &pos[1..] {
        let a = py_str(arg);
        if let Some(r) = a.strip_prefix("\\g<") {
            let name = r.split('>').next().unwrap_or("");
            groups.push(name.to_string());
        } else if let Some(r) = a.strip_prefix('\\') {
            let d: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
            if d.is_empty() {
                return Err(err("Unknown argument"));
            }
            groups.push(d);
        } else {
            return Err(err("Unknown argument"));
        }
    }
    let mut ic = false;
    let mut ml = false;
    for (k, v) in &kw {
        match k.as_str() {
            "ignorecase" => ic = v.is_true(),
            "multiline" => ml = v.is_true(),
            _ => {}
        }
    }
    let re = compile(&pattern, ic, ml)?;
    let caps = re.captures(&s).map_err(|e| err(e.to_string()))?;
    let Some(caps) = caps else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map(|m| m.as_str()).unwrap_or("")));
    }
    let mut out = Vec::new();
    for g in groups {
        let m = if let Ok(n) = g.parse::<usize>() {
            if n >= caps.len() {
                return Err(err("no such group"));
            }
            caps.get(n)
        } else {
            if !re.capture_names().any(|n| n == Some(g.as_str())) {
                return Err(err("no such group"));
            }
            caps.name(&g)
        };
        out.push(match m {
            Some(m) => Value::from(m.as_str()),
            None => Value::from(()),
        });
    }
    Ok(Value::from(out))
}

/// Python `re.escape`.
pub fn py_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn regex_escape(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("regex_escape", rest, &["re_type"], false)?;
    let s = py_str(&value);
    match a.string(0, "python").as_str() {
        "python" => Ok(Value::from(py_escape(&s))),
        "posix_basic" => {
            let mut out = String::new();
            for c in s.chars() {
                if "].[^$*\\".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
            Ok(Value::from(out))
        }
        "posix_extended" => Err(err("Regex type (posix_extended) not yet implemented")),
        t => Err(err(format!("Invalid regex type ({t})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_repeat_as_python_says() {
        let e = compile("*", false, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("nothing to repeat"), "{e}");
    }

    fn sub(p: &str, r: &str, s: &str) -> String {
        subn(&compile(p, false, false).unwrap(), r, s, 0).unwrap().0
    }

    #[test]
    fn python_sub() {
        assert_eq!(sub(r"(?P<x>a)(b)", r"\2\g<x>\g<1>", "abc"), "baac");
        assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
        assert_eq!(sub("$", "!", "a\n"), "a!\n!");
        assert_eq!(sub(r"(a)|b", r"[\1]", "ab"), "[a][]");
        assert_eq!(sub(r"(?P<x>\w)(?P=x)", r"\1", "aab"), "ab");
    }

    #[test]
    fn escapes() {
        assert_eq!(py_escape("a.b*c d"), r"a\.b\*c\ d");
    }
}
