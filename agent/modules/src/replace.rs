//! The `replace` module, and Python `re` semantics on top of fancy-regex (used by
//! `lineinfile` and `blockinfile` too): pattern translation, `search`, `subn` and
//! replacement templates (`\1`, `\g<name>`, `\n`).

use std::collections::HashMap;

use crate::lineinfile::{self as text, EditOp, TextFile};
use crate::spec::{Arg, Args, Def, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

/// A compiled Python regular expression.
#[derive(Debug)]
pub(crate) struct PyRegex {
    re: fancy_regex::Regex,
    groups: usize,
    names: HashMap<String, usize>,
}

/// One match: the spans of every group (0 is the whole match).
#[derive(Debug, Clone)]
pub(crate) struct PyMatch {
    spans: Vec<Option<(usize, usize)>>,
}

impl PyMatch {
    pub(crate) fn start(&self) -> usize {
        self.spans.first().copied().flatten().map_or(0, |s| s.0)
    }
    pub(crate) fn end(&self) -> usize {
        self.spans.first().copied().flatten().map_or(0, |s| s.1)
    }
    pub(crate) fn group(&self, i: usize) -> Option<(usize, usize)> {
        self.spans.get(i).copied().flatten()
    }
}

/// Whether `{` at `s` starts a Python repetition (`{m}`, `{m,}`, `{,n}`, `{m,n}`);
/// returns its length and the Rust form.
fn quantifier(s: &[char]) -> Option<(usize, String)> {
    let close = s.iter().position(|&c| c == '}')?;
    let inner: String = s[1..close].iter().collect();
    let (lo, hi) = match inner.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (inner.as_str(), None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if !digits(lo) || !hi.is_none_or(digits) || (lo.is_empty() && hi.is_none()) {
        return None;
    }
    let lo = if lo.is_empty() { "0" } else { lo };
    let rust = match hi {
        None => format!("{{{lo}}}"),
        Some("") => format!("{{{lo},}}"),
        Some(hi) => format!("{{{lo},{hi}}}"),
    };
    Some((close + 1, rust))
}

/// Read `n` hex digits after `\x`/`\u`/`\U` at `s[i..]`.
fn hex_escape(s: &[char], i: usize, n: usize) -> Option<char> {
    let digits: String = s.get(i..i + n)?.iter().collect();
    if digits.len() != n || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&digits, 16)
        .ok()
        .and_then(char::from_u32)
}

/// A literal char as a regex atom.
fn lit(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii() {
        c.to_string()
    } else {
        format!("\\{c}")
    }
}

/// Translate a Python pattern to fancy-regex syntax. `multiline` is re.MULTILINE (then
/// `$` already means end of line; otherwise Python's `$` also matches before a final
/// newline, which Rust's does not).
fn translate(pattern: &str, mut multiline: bool) -> Result<String, String> {
    let s: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    // Leading global flags: `(?im)`; Python's `a`, `u` and `L` have no Rust form.
    if s.len() > 2 && s[0] == '(' && s[1] == '?' {
        let mut j = 2;
        while j < s.len() && "aiLmsux".contains(s[j]) {
            j += 1;
        }
        if j > 2 && j < s.len() && s[j] == ')' {
            let flags: String = s[2..j].iter().filter(|c| "imsx".contains(**c)).collect();
            multiline |= flags.contains('m');
            if !flags.is_empty() {
                out.push_str(&format!("(?{flags})"));
            }
            i = j + 1;
        }
    }
    while i < s.len() {
        let c = s[i];
        match c {
            '\\' => {
                let Some(&n) = s.get(i + 1) else {
                    return Err("bad escape (end of pattern)".into());
                };
                i += 2;
                match n {
                    'Z' => out.push_str(r"\z"),
                    'x' => {
                        let ch = hex_escape(&s, i, 2).ok_or_else(|| {
                            format!("incomplete escape \\x at position {}", i - 2)
                        })?;
                        i += 2;
                        out.push_str(&lit(ch));
                    }
                    'u' | 'U' => {
                        let len = if n == 'u' { 4 } else { 8 };
                        let ch = hex_escape(&s, i, len).ok_or_else(|| {
                            format!("incomplete escape \\{n} at position {}", i - 2)
                        })?;
                        i += len;
                        out.push_str(&lit(ch));
                    }
                    '0' => out.push_str(r"\x00"),
                    c if c.is_ascii_alphanumeric() => {
                        if !"AbBdDsSwWntrfva123456789".contains(c) {
                            return Err(format!("bad escape \\{c} at position {}", i - 2));
                        }
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push_str(&lit(c)),
                }
            }
            '[' => {
                // A character class: copied, with Rust's nested-class and set-operation
                // characters escaped.
                out.push('[');
                i += 1;
                if s.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                let mut first = true;
                loop {
                    let Some(&c) = s.get(i) else {
                        return Err(format!(
                            "unterminated character set at position {}",
                            pattern.len()
                        ));
                    };
                    i += 1;
                    match c {
                        ']' if !first => break,
                        '\\' => {
                            let Some(&n) = s.get(i) else {
                                return Err("bad escape (end of pattern)".into());
                            };
                            i += 1;
                            match n {
                                'b' => out.push_str(r"\x08"),
                                'x' | 'u' | 'U' => {
                                    let len = match n {
                                        'x' => 2,
                                        'u' => 4,
                                        _ => 8,
                                    };
                                    let ch = hex_escape(&s, i, len)
                                        .ok_or_else(|| format!("incomplete escape \\{n}"))?;
                                    i += len;
                                    out.push_str(&lit(ch));
                                }
                                c if c.is_ascii_alphanumeric() => {
                                    if !"dDsSwWntrfva".contains(c) {
                                        return Err(format!("bad escape \\{c}"));
                                    }
                                    out.push('\\');
                                    out.push(c);
                                }
                                c => out.push_str(&lit(c)),
                            }
                        }
                        '[' | '&' | '~' | ']' => {
                            out.push('\\');
                            out.push(c);
                        }
                        '-' if s.get(i) == Some(&'-') => out.push_str(r"\-"),
                        c => out.push(c),
                    }
                    first = false;
                }
                out.push(']');
            }
            '{' => match quantifier(&s[i..]) {
                Some((len, q)) if i > 0 => {
                    out.push_str(&q);
                    i += len;
                }
                _ => {
                    out.push_str(r"\{");
                    i += 1;
                }
            },
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            '$' if !multiline => {
                out.push_str(r"(?:\z|(?=\n\z))");
                i += 1;
            }
            '(' if s.get(i + 1) == Some(&'?') && s.get(i + 2) == Some(&'#') => {
                // A comment group.
                while i < s.len() && s[i] != ')' {
                    i += 1;
                }
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

impl PyRegex {
    /// Compile a Python pattern; `multiline`/`dotall` are re.MULTILINE / re.DOTALL.
    pub(crate) fn new(pattern: &str, multiline: bool, dotall: bool) -> Result<PyRegex, String> {
        let mut translated = translate(pattern, multiline)?;
        let mut flags = String::new();
        if multiline {
            flags.push('m');
        }
        if dotall {
            flags.push('s');
        }
        if !flags.is_empty() {
            translated = format!("(?{flags}){translated}");
        }
        let re = fancy_regex::RegexBuilder::new(&translated)
            .build()
            .map_err(|e| e.to_string())?;
        let mut names = HashMap::new();
        let mut groups = 0;
        for (i, name) in re.capture_names().enumerate() {
            groups = i;
            if let Some(n) = name {
                names.insert(n.to_string(), i);
            }
        }
        Ok(PyRegex { re, groups, names })
    }

    /// The number of groups (without group 0).
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// `re.search(text[pos:])`, positions relative to the whole text.
    pub(crate) fn search_from(&self, text: &str, pos: usize) -> Result<Option<PyMatch>, String> {
        let caps = self
            .re
            .captures_from_pos(text, pos)
            .map_err(|e| e.to_string())?;
        Ok(caps.map(|c| PyMatch {
            spans: (0..=self.groups)
                .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                .collect(),
        }))
    }

    pub(crate) fn search(&self, text: &str) -> Result<Option<PyMatch>, String> {
        self.search_from(text, 0)
    }

    pub(crate) fn is_match(&self, text: &str) -> Result<bool, String> {
        Ok(self.search(text)?.is_some())
    }

    /// The group number for a name.
    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.names.get(name).copied()
    }

    /// Every non-overlapping match, as Python's `re.finditer` (an empty match right
    /// after a non-empty one is allowed; two empty matches at one place are not).
    pub(crate) fn find_all(&self, text: &str) -> Result<Vec<PyMatch>, String> {
        let mut out: Vec<PyMatch> = Vec::new();
        let mut pos = 0;
        let mut prev_empty_at: Option<usize> = None;
        while pos <= text.len() {
            let Some(m) = self.search_from(text, pos)? else {
                break;
            };
            let empty = m.start() == m.end();
            if empty && prev_empty_at == Some(m.start()) {
                // No second empty match at one place: retry one character further.
                let Some(ch) = text[m.start()..].chars().next() else {
                    break;
                };
                pos = m.start() + ch.len_utf8();
                continue;
            }
            prev_empty_at = if empty { Some(m.end()) } else { None };
            pos = m.end();
            out.push(m);
        }
        Ok(out)
    }

    /// `re.subn(pattern, repl, text)`.
    pub(crate) fn subn(&self, text: &str, repl: &PyTemplate) -> Result<(String, usize), String> {
        let matches = self.find_all(text)?;
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in &matches {
            out.push_str(&text[last..m.start()]);
            out.push_str(&repl.expand(text, m));
            last = m.end();
        }
        out.push_str(&text[last..]);
        Ok((out, matches.len()))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Group(usize),
}

/// A parsed replacement template (Python's `match.expand` / `re.sub` repl).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PyTemplate {
    parts: Vec<Part>,
}

impl PyTemplate {
    /// Parse `repl` against `re`'s groups, with Python's errors.
    pub(crate) fn parse(repl: &str, re: &PyRegex) -> Result<PyTemplate, String> {
        let s: Vec<char> = repl.chars().collect();
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut i = 0;
        let group_ref = |n: usize, pos: usize| -> Result<Part, String> {
            if n > re.groups() {
                Err(format!("invalid group reference {n} at position {pos}"))
            } else {
                Ok(Part::Group(n))
            }
        };
        while i < s.len() {
            let c = s[i];
            if c != '\\' {
                cur.push(c);
                i += 1;
                continue;
            }
            let pos = i;
            let Some(&n) = s.get(i + 1) else {
                return Err(format!("bad escape (end of pattern) at position {pos}"));
            };
            i += 2;
            let part = match n {
                'g' => {
                    if s.get(i) != Some(&'<') {
                        return Err(format!("missing < at position {i}"));
                    }
                    let Some(close) = s[i..].iter().position(|&c| c == '>') else {
                        return Err(format!(
                            "missing >, unterminated name at position {}",
                            i + 1
                        ));
                    };
                    let name: String = s[i + 1..i + close].iter().collect();
                    i += close + 1;
                    if name.is_empty() {
                        return Err(format!("missing group name at position {}", pos + 3));
                    }
                    if name.chars().all(|c| c.is_ascii_digit()) {
                        let n: usize = name
                            .parse()
                            .map_err(|_| format!("invalid group reference {name}"))?;
                        group_ref(n, pos + 3)?
                    } else if let Some(idx) = re.group_index(&name) {
                        Part::Group(idx)
                    } else if name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphabetic() || c == '_')
                        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                    {
                        return Err(format!("unknown group name '{name}'"));
                    } else {
                        return Err(format!(
                            "bad character in group name '{name}' at position {}",
                            pos + 3
                        ));
                    }
                }
                '0' => {
                    // Octal escape: up to two more octal digits.
                    let mut v = 0u32;
                    let mut k = 0;
                    while k < 2 && s.get(i).is_some_and(|c| ('0'..='7').contains(c)) {
                        v = v * 8 + s[i].to_digit(8).unwrap_or(0);
                        i += 1;
                        k += 1;
                    }
                    cur.push(char::from_u32(v).unwrap_or('\0'));
                    continue;
                }
                d if d.is_ascii_digit() => {
                    let octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
                    if ('0'..='7').contains(&d) && octal(s.get(i)) && octal(s.get(i + 1)) {
                        let v = [d, s[i], s[i + 1]]
                            .iter()
                            .fold(0u32, |a, c| a * 8 + c.to_digit(8).unwrap_or(0));
                        if v > 0o377 {
                            return Err(format!(
                                "octal escape value \\{d}{}{} outside of range 0-0o377 at position {pos}",
                                s[i],
                                s[i + 1]
                            ));
                        }
                        i += 2;
                        cur.push(char::from_u32(v).unwrap_or('\0'));
                        continue;
                    }
                    let mut n = d.to_digit(10).unwrap_or(0) as usize;
                    if let Some(d2) = s.get(i).and_then(|c| c.to_digit(10)) {
                        n = n * 10 + d2 as usize;
                        i += 1;
                    }
                    group_ref(n, pos + 1)?
                }
                'a' => Part::Lit("\x07".into()),
                'b' => Part::Lit("\x08".into()),
                'f' => Part::Lit("\x0c".into()),
                'n' => Part::Lit("\n".into()),
                'r' => Part::Lit("\r".into()),
                't' => Part::Lit("\t".into()),
                'v' => Part::Lit("\x0b".into()),
                '\\' => Part::Lit("\\".into()),
                c if c.is_ascii_alphabetic() => {
                    return Err(format!("bad escape \\{c} at position {pos}"));
                }
                c => Part::Lit(format!("\\{c}")),
            };
            match part {
                Part::Lit(l) => cur.push_str(&l),
                g => {
                    if !cur.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut cur)));
                    }
                    parts.push(g);
                }
            }
        }
        if !cur.is_empty() {
            parts.push(Part::Lit(cur));
        }
        Ok(PyTemplate { parts })
    }

    /// The replacement for one match (an unmatched group gives "").
    pub(crate) fn expand(&self, text: &str, m: &PyMatch) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.push_str(l),
                Part::Group(g) => {
                    if let Some((a, b)) = m.group(*g) {
                        out.push_str(&text[a..b]);
                    }
                }
            }
        }
        out
    }
}

/// Compile, with the module's error wording.
pub(crate) fn compile(
    pattern: &str,
    multiline: bool,
    dotall: bool,
) -> Result<PyRegex, ModuleError> {
    PyRegex::new(pattern, multiline, dotall)
        .map_err(|e| ModuleError::new(format!("Invalid regular expression '{pattern}': {e}")))
}

pub struct Replace;

const SPEC: &[Arg] = &[
    Arg::path("path")
        .required()
        .aliases(&["dest", "destfile", "name"]),
    Arg::str("regexp").required(),
    Arg::str("replace").default(Def::Str("")),
    Arg::str("after"),
    Arg::str("before"),
    Arg::bool("backup", false),
    Arg::str("validate"),
    Arg::str("encoding").default(Def::Str("utf-8")),
];

impl Module for Replace {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = TextFile;
    type Op = EditOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<TextFile, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let file = TextFile::read(args, path, text::Newlines::Universal)?;
        if file.is_dir {
            return Err(ModuleError::new(format!("Path {path} is a directory !")).with("rc", 256));
        }
        if file.content.is_none() {
            return Err(ModuleError::new(format!("Path {path} does not exist !")).with("rc", 257));
        }
        Ok(file)
    }

    fn plan(args: &Args, file: &TextFile, _ctx: &Ctx<'_>) -> Result<Plan<EditOp>, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let contents = file.content.clone().unwrap_or_default();
        let mut plan = Plan::default();
        plan.set("rc", 0);
        let after = args.str("after").filter(|s| !s.is_empty());
        let before = args.str("before").filter(|s| !s.is_empty());
        let pattern = match (after, before) {
            (Some(a), Some(b)) => format!("{a}(?P<subsection>.*?){b}"),
            (Some(a), None) => format!("{a}(?P<subsection>.*)"),
            (None, Some(b)) => format!("(?P<subsection>.*){b}"),
            (None, None) => String::new(),
        };
        let (section, range) = if pattern.is_empty() {
            (contents.as_str(), 0..contents.len())
        } else {
            let re = compile(&pattern, false, true)?;
            let sub = re.group_index("subsection").unwrap_or(1);
            match re.search(&contents).map_err(ModuleError::new)? {
                Some(m) => {
                    let (a, b) = m.group(sub).unwrap_or((0, 0));
                    (&contents[a..b], a..b)
                }
                None => {
                    plan.set(
                        "msg",
                        format!(
                            "Pattern for before/after params did not match the given file: {pattern}"
                        ),
                    );
                    return Ok(plan);
                }
            }
        };
        let regexp = args.str("regexp").unwrap_or_default();
        let mre = compile(regexp, true, false)?;
        let repl = args.str("replace").unwrap_or_default();
        let template = PyTemplate::parse(repl, &mre).map_err(|e| {
            ModuleError::new(format!("Unable to process replace due to error: {e}"))
        })?;
        let (replaced, count) = mre.subn(section, &template).map_err(ModuleError::new)?;
        let mut msg = String::new();
        if count > 0 && replaced != section {
            let new = format!(
                "{}{}{}",
                &contents[..range.start],
                replaced,
                &contents[range.end..]
            );
            msg = format!("{count} replacements made");
            plan.diff.push(Diff {
                before: Value::from(contents.as_str()),
                after: Value::from(new.as_str()),
                before_header: Some(path.to_string()),
                after_header: Some(path.to_string()),
            });
            text::plan_write(&mut plan, args, file, &new, args.bool("backup"))?;
        }
        text::plan_file_attrs(&mut plan, args, file, &mut msg, None)?;
        plan.set("msg", msg);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        file: TextFile,
        plan: &Plan<EditOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        text::apply_edit(args, &file, plan, "backup_file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(pat: &str, repl: &str, text: &str) -> (String, usize) {
        let re = PyRegex::new(pat, true, false).unwrap();
        let t = PyTemplate::parse(repl, &re).unwrap();
        re.subn(text, &t).unwrap()
    }

    #[test]
    fn python_dollar_matches_before_final_newline() {
        let re = PyRegex::new("^foo$", false, false).unwrap();
        assert!(re.is_match("foo\n").unwrap());
        assert!(re.is_match("foo").unwrap());
        assert!(!re.is_match("foo\nbar").unwrap());
    }

    #[test]
    fn literal_braces_and_classes() {
        let re = PyRegex::new("{mark}", false, false).unwrap();
        assert!(re.is_match("# {mark} x").unwrap());
        let re = PyRegex::new("a{2}b{,1}c", false, false).unwrap();
        assert!(re.is_match("aac").unwrap());
        let re = PyRegex::new("[[]x[&~]", false, false).unwrap();
        assert!(re.is_match("[x&").unwrap());
        let re = PyRegex::new(r"[]a]+\Z", false, false).unwrap();
        assert!(re.is_match("a]a").unwrap());
    }

    #[test]
    fn lookaround_and_backreference() {
        let re = PyRegex::new(r"(?<=key=)(\w+) \1", false, false).unwrap();
        assert!(re.is_match("key=ab ab").unwrap());
        let re = PyRegex::new(r"(?P<w>\w+) (?P=w)", false, false).unwrap();
        assert!(re.is_match("xy xy").unwrap());
    }

    #[test]
    fn subn_with_templates() {
        assert_eq!(
            sub(r"(\w+)=(\w+)", r"\2=\1", "a=b c=d"),
            ("b=a d=c".into(), 2)
        );
        assert_eq!(
            sub(r"(?P<k>\w+)=", r"\g<k>:\g<0>\n", "a="),
            ("a:a=\n".into(), 1)
        );
        assert_eq!(sub(r"^", "# ", "a\nb\n"), ("# a\n# b\n# ".into(), 3));
        assert_eq!(sub("x*", "-", "abxd"), ("-a-b--d-".into(), 5));
        assert_eq!(sub("(a)|b", r"[\1]", "ab"), ("[a][]".into(), 2));
    }

    #[test]
    fn template_errors() {
        let re = PyRegex::new("(a)", false, false).unwrap();
        assert_eq!(
            PyTemplate::parse(r"\2", &re).unwrap_err(),
            "invalid group reference 2 at position 1"
        );
        assert_eq!(
            PyTemplate::parse(r"\q", &re).unwrap_err(),
            r"bad escape \q at position 0"
        );
        assert_eq!(
            PyTemplate::parse(r"\g<x>", &re).unwrap_err(),
            "unknown group name 'x'"
        );
        assert_eq!(
            PyTemplate::parse(r"a\.\101", &re).unwrap().parts,
            vec![Part::Lit(r"a\.A".into())]
        );
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(PyRegex::new("(", false, false).is_err());
        assert!(PyRegex::new(r"\q", false, false).is_err());
        assert!(PyRegex::new("[a", false, false).is_err());
    }
}
