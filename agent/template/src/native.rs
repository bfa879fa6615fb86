//! Python-compatible text forms of values: `str()` as Jinja2 output shows it under
//! Ansible (`True`, `None` as the empty string at top level, `{'a': 1}`), `repr()` for
//! values inside containers, and printf-style `%` formatting.

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, Value};
use std::fmt::Write as _;

/// How template output shows an undefined value: as nothing.
const OUTPUT_REPR: agent_py::ReprOptions = agent_py::ReprOptions { undefined: "" };

/// How a value is written into template output (Ansible's finalize + `str()`):
/// `None` becomes the empty string, booleans `True`/`False`, lists and dicts their
/// Python repr, strings unchanged.
pub fn py_str_into(out: &mut String, v: &Value) {
    match v.kind() {
        ValueKind::None => {}
        _ => agent_py::write_str(out, v, OUTPUT_REPR),
    }
}

/// Python `str()` of a value (`None` is `"None"`).
pub fn py_str(v: &Value) -> String {
    agent_py::py_str_with(v, OUTPUT_REPR)
}

/// Python `repr()` of a value.
pub fn py_repr(v: &Value) -> String {
    agent_py::py_repr_with(v, OUTPUT_REPR)
}

/// Python's `fmt % args` for strings: `args` is one value or a tuple/list of values.
pub fn percent_format(fmt: &str, args: &Value) -> Result<Value, Error> {
    let args: Vec<Value> = match args.kind() {
        ValueKind::Seq => args.try_iter()?.collect(),
        _ => vec![args.clone()],
    };
    check_widths(fmt)?;
    // Give `%s` the Python text of values minijinja would print differently.
    let mut converted = Vec::with_capacity(args.len());
    let mut specs = conversion_chars(fmt).into_iter();
    for a in args {
        let conv = specs.next().unwrap_or('s');
        let v = match (conv, a.kind()) {
            ('r', _) => Value::from(py_repr(&a)),
            ('s', ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map) => {
                Value::from(py_str(&a))
            }
            ('s', ValueKind::Number) if !a.is_integer() => Value::from(py_str(&a)),
            ('d' | 'i', ValueKind::Bool) => Value::from(i64::from(a.is_true())),
            _ => a,
        };
        converted.push(v);
    }
    minijinja::formatting::format(minijinja::formatting::FormatStyle::Printf, fmt, &converted)
        .map(Value::from)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("string formatting failed: {e}"),
            )
        })
}

/// The largest width or precision a `%` format may ask for: `'%999999999d' % 1` would
/// make a string of a gigabyte (found by fuzzing).
pub const MAX_FORMAT_WIDTH: usize = 100_000;

/// Refuse a width or precision over [`MAX_FORMAT_WIDTH`] in a printf format string.
fn check_widths(fmt: &str) -> Result<(), Error> {
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        // `%(name)`, then flags, then width, `.` precision.
        if b.get(i) == Some(&b'(') {
            while i < b.len() && b[i] != b')' {
                // minijinja 3.1's printf parser steps through the key a byte at a time and
                // panics inside a multi-byte character (found by fuzzing).
                if !b[i].is_ascii() {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "string formatting failed: a %(key) with non-ASCII characters is not supported",
                    ));
                }
                i += 1;
            }
            // Past the `)`, or at the end when there is none.
            i = (i + 1).min(b.len());
        }
        while i < b.len() && b"#0- +".contains(&b[i]) {
            i += 1;
        }
        for part in 0..2 {
            if part == 1 {
                if b.get(i) != Some(&b'.') {
                    break;
                }
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = fmt.get(start..i).unwrap_or_default();
            if !digits.is_empty()
                && digits
                    .parse::<usize>()
                    .map_or(true, |n| n > MAX_FORMAT_WIDTH)
            {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "string formatting failed: a width or precision of {digits} is over the limit of {MAX_FORMAT_WIDTH}"
                    ),
                ));
            }
        }
        // The conversion character (or a second `%`).
        i += 1;
    }
    Ok(())
}

/// The conversion characters of a printf format string, in order (`%%` skipped).
fn conversion_chars(fmt: &str) -> Vec<char> {
    let mut rv = Vec::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        for d in chars.by_ref() {
            if d == '%' {
                break;
            }
            if d.is_ascii_alphabetic() {
                rv.push(d);
                break;
            }
        }
    }
    rv
}

#[cfg(test)]
mod unit {
    use super::*;
    use agent_py::float_repr as py_float;

    #[test]
    fn repr_forms() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, "x", null, true, 1.5]}),
        ));
        assert_eq!(py_repr(&v), "{'a': [1, 'x', None, True, 1.5]}");
        assert_eq!(py_repr(&Value::from("it's")), "\"it's\"");
        assert_eq!(py_repr(&Value::from("a\nb")), "'a\\nb'");
        assert_eq!(py_str(&Value::from(3.0)), "3.0");
        assert_eq!(py_float(1e20), "1e+20");
        assert_eq!(py_float(1.5e-5), "1.5e-05");
        let mut s = String::new();
        py_str_into(&mut s, &Value::from(()));
        assert_eq!(s, "");
    }

    #[test]
    fn percent_widths_are_limited() {
        assert!(check_widths("%5d|%-3s|%.2f|%%|%(a)08.3f|%").is_ok());
        // An unclosed `%(` (found by fuzzing: this check once sliced past the end).
        for f in ["%(", "%(\nd", "%.", "%-", "ä%(u)5d"] {
            assert!(check_widths(f).is_ok(), "{f}");
        }
        // A non-ASCII key: refused here, as minijinja's parser would panic on it.
        for f in ["%(é", "%(ü)s", "%(a\u{3104}b)d"] {
            let e = percent_format(f, &Value::from(1)).unwrap_err();
            assert!(e.to_string().contains("non-ASCII"), "{f}: {e}");
        }
        for f in [
            "%2059149736d",
            "%.200000f",
            "%-0100001s",
            "%(x)999999999999999999999d",
        ] {
            let e = percent_format(f, &Value::from(1)).unwrap_err();
            assert!(e.to_string().contains("over the limit"), "{f}: {e}");
        }
        assert!(percent_format("%100000s", &Value::from(1)).is_ok());
    }

    #[test]
    fn percent() {
        let args = Value::from(vec![Value::from("a"), Value::from(1)]);
        assert_eq!(percent_format("%s-%d", &args).unwrap().to_string(), "a-1");
        assert_eq!(
            percent_format("%s", &Value::from(true))
                .unwrap()
                .to_string(),
            "True"
        );
        assert_eq!(
            percent_format(
                "%05.2f|%x",
                &Value::from(vec![Value::from(1.23456), Value::from(255)])
            )
            .unwrap()
            .to_string(),
            "01.23|ff"
        );
    }
}

/// Rewrite `"literal" % operand` (Python string formatting) into
/// `("literal" | __agent_percent(operand))`. In template mode only the insides of
/// `{{ }}` and `{% %}` are expressions; in expression mode all of `src` is.
pub fn rewrite_percent_ops(src: &str, expr_mode: bool) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 32);
    let mut i = 0;
    let mut copied = 0;
    let mut in_expr = expr_mode;
    while i < b.len() {
        if !in_expr {
            if b[i] == b'{' && matches!(b.get(i + 1), Some(b'{' | b'%')) {
                in_expr = true;
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        match b[i] {
            b'}' | b'%' if !expr_mode && b.get(i + 1) == Some(&b'}') => {
                in_expr = false;
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                let Some(end) = string_end(b, i, q) else {
                    break;
                };
                i = end;
                // after the literal: whitespace, `%`, not `%}`
                let mut j = end;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && b[j] == b'%' && b.get(j + 1) != Some(&b'}') {
                    let mut k = j + 1;
                    while k < b.len() && b[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    if let Some(op_end) = operand_end(b, k) {
                        out.push_str(&src[copied..start]);
                        out.push('(');
                        out.push_str(&src[start..end]);
                        out.push_str(" | __agent_percent(");
                        out.push_str(&src[k..op_end]);
                        out.push_str("))");
                        copied = op_end;
                        i = op_end;
                    }
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&src[copied..]);
    out
}

/// The index just past a string literal starting at `start` (quote `q`).
fn string_end(b: &[u8], start: usize, q: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The end of a primary operand: a parenthesised group, a literal, or a name with
/// attribute, subscript and call suffixes.
fn operand_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    match b.get(i)? {
        b'(' | b'[' => i = group_end(b, i)?,
        q @ (b'"' | b'\'') => i = string_end(b, i, *q)?,
        c if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-' => {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        }
        _ => return None,
    }
    // suffixes
    loop {
        match b.get(i) {
            Some(b'(' | b'[') => i = group_end(b, i)?,
            Some(b'.') => {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
            _ => return Some(i),
        }
    }
}

/// The index just past the bracket group opening at `start`.
fn group_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            q @ (b'"' | b'\'') => {
                i = string_end(b, i, q)?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod rewrite_unit {
    use super::rewrite_percent_ops;

    #[test]
    fn rewrites() {
        assert_eq!(
            rewrite_percent_ops("{{ \"%s-%d\" % (a, b) }}", false),
            "{{ (\"%s-%d\" | __agent_percent((a, b))) }}"
        );
        assert_eq!(
            rewrite_percent_ops("'%s' % x.y[0]", true),
            "('%s' | __agent_percent(x.y[0]))"
        );
        assert_eq!(
            rewrite_percent_ops("it's 50% {{ a }}", false),
            "it's 50% {{ a }}"
        );
        assert_eq!(
            rewrite_percent_ops("{% if a %}'%'{% endif %}", false),
            "{% if a %}'%'{% endif %}"
        );
    }
}

/// How backslashes in the string literals of a template are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backslashes {
    /// Ansible's string templates (task arguments, variables): literals inside `{{ }}`
    /// keep their backslashes as written (Ansible pre-escapes them, since YAML already
    /// processed escapes); literals inside `{% %}` are read as Python escapes.
    KeepInVariables,
    /// Jinja2's own reading, Python escapes everywhere (template files, includes,
    /// conditionals).
    Python,
}

/// The delimiters a template source uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delimiters<'a> {
    pub variable: (&'a str, &'a str),
    pub block: (&'a str, &'a str),
    pub comment: (&'a str, &'a str),
}

impl Default for Delimiters<'static> {
    fn default() -> Self {
        Delimiters {
            variable: ("{{", "}}"),
            block: ("{%", "%}"),
            comment: ("{#", "#}"),
        }
    }
}

/// Rewrite the string literals of a template source that contain backslashes so that
/// minijinja reads each exactly as Jinja2 under Ansible does (see [`Backslashes`]).
/// Literals come out double-quoted with only the escapes minijinja understands; line
/// breaks stay where they were. A malformed escape (`'\x4'`) is an error, as in Jinja2.
pub(crate) fn rewrite_literals<'s>(
    src: &'s str,
    mode: Backslashes,
    delims: &Delimiters<'_>,
) -> Result<std::borrow::Cow<'s, str>, String> {
    if !src.contains('\\') {
        return Ok(std::borrow::Cow::Borrowed(src));
    }
    walk_tags(src, delims, |start, end_delim, in_variable| {
        let keep = in_variable && mode == Backslashes::KeepInVariables;
        rewrite_tag(src, start, Some(end_delim), keep)
    })
}

/// Apply `on_tag` to each `{{ }}` and `{% %}` tag of a template source (not to data,
/// comments or raw blocks) and splice in the spans it returns. `on_tag` gets the index
/// just after the opener, the closing delimiter, and whether it is a `{{ }}` tag; it
/// returns the index just past the tag and the spans to replace.
fn walk_tags<'s>(
    src: &'s str,
    delims: &Delimiters<'_>,
    mut on_tag: impl FnMut(usize, &str, bool) -> Result<(usize, Spans), String>,
) -> Result<std::borrow::Cow<'s, str>, String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < src.len() {
        // data: find the next tag
        let rest = &src[i..];
        let next = [
            (delims.variable.0, 0u8),
            (delims.block.0, 1),
            (delims.comment.0, 2),
        ]
        .into_iter()
        .filter(|(d, _)| !d.is_empty())
        .filter_map(|(d, kind)| {
            rest.find(d)
                .map(|at| (at, std::cmp::Reverse(d.len()), kind))
        })
        .min();
        let Some((at, std::cmp::Reverse(dlen), kind)) = next else {
            break;
        };
        let start = i + at + dlen;
        match kind {
            2 => {
                i = src[start..]
                    .find(delims.comment.1)
                    .map_or(src.len(), |e| start + e + delims.comment.1.len());
            }
            1 if raw_block_end(src, start, delims).is_some() => {
                i = raw_block_end(src, start, delims).unwrap_or(src.len());
            }
            _ => {
                let end_delim = if kind == 0 {
                    delims.variable.1
                } else {
                    delims.block.1
                };
                let (end, spans) = on_tag(start, end_delim, kind == 0)?;
                for (from, to, lit) in spans {
                    out.push_str(&src[copied..from]);
                    out.push_str(&lit);
                    copied = to;
                }
                i = end.max(start);
            }
        }
    }
    if copied == 0 {
        return Ok(std::borrow::Cow::Borrowed(src));
    }
    out.push_str(&src[copied..]);
    Ok(std::borrow::Cow::Owned(out))
}

/// Whether a source may use `default`/`d` or `is defined`/`is undefined` (a cheap test
/// before [`rewrite_undefined_chains`]).
fn may_test_defined(src: &str) -> bool {
    src.contains("defined") || src.contains("| d") || src.contains("|d")
}

/// Ansible lets an attribute of an undefined value be undefined too, so
/// `foo.bar | default(1)` and `foo.bar is defined` work when `foo` is undefined, while
/// any other use of `foo.bar` is an error. minijinja's strict mode fails at `.bar`
/// already; so a chain of attributes and subscripts directly followed by `default`/`d`
/// or `is [not] defined`/`undefined` is rewritten to guard each step:
/// `(foo.bar if foo is defined else __agent_undefined)`.
pub(crate) fn rewrite_undefined_chains<'s>(
    src: &'s str,
    delims: &Delimiters<'_>,
) -> std::borrow::Cow<'s, str> {
    if !may_test_defined(src) {
        return std::borrow::Cow::Borrowed(src);
    }
    walk_tags(src, delims, |start, end_delim, _| {
        Ok(chain_tag(src, start, Some(end_delim)))
    })
    .unwrap_or(std::borrow::Cow::Borrowed(src))
}

/// [`rewrite_undefined_chains`] for a bare expression.
pub(crate) fn rewrite_expr_chains(expr: &str) -> std::borrow::Cow<'_, str> {
    if !may_test_defined(expr) {
        return std::borrow::Cow::Borrowed(expr);
    }
    let (_, spans) = chain_tag(expr, 0, None);
    if spans.is_empty() {
        return std::borrow::Cow::Borrowed(expr);
    }
    let mut out = String::with_capacity(expr.len() + 64);
    let mut copied = 0;
    for (from, to, text) in spans {
        out.push_str(&expr[copied..from]);
        out.push_str(&text);
        copied = to;
    }
    out.push_str(&expr[copied..]);
    std::borrow::Cow::Owned(out)
}

fn is_ident(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

fn ident_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ident(b[i]) {
        i += 1;
    }
    i
}

const KEYWORDS: &[&str] = &[
    "not",
    "and",
    "or",
    "in",
    "is",
    "if",
    "else",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
    "for",
    "recursive",
    "set",
    "with",
    "without",
    "context",
    "import",
    "from",
    "as",
];

/// The chains to guard in one tag (see [`rewrite_undefined_chains`]).
fn chain_tag(src: &str, start: usize, end_delim: Option<&str>) -> (usize, Spans) {
    let b = src.as_bytes();
    let mut spans = Vec::new();
    let mut i = start;
    while i < b.len() {
        if let Some(d) = end_delim
            && b[i..].starts_with(d.as_bytes())
        {
            return (i + d.len(), spans);
        }
        let c = b[i];
        if c == b'"' || c == b'\'' {
            match string_end(b, i, c) {
                Some(e) => i = e,
                None => return (b.len(), spans),
            }
            continue;
        }
        // `(expr).attr[key] | default(...)`: a parenthesized value followed by steps.
        if c == b'('
            && opens_group(&src[start..i])
            && let Some(group_end) = group_end(b, i)
            && let Some((chain_end, steps)) = steps_after(src, group_end)
            && follows_default_or_defined(b, chain_end)
        {
            // The group and the subscripts may hold chains of their own
            // (`(a.b | default({})).c | default(1)`).
            let mut call = format!("__agent_steps({}", rewrite_expr_chains(&src[i..group_end]));
            for step in steps {
                call.push_str(", ");
                call.push_str(&rewrite_expr_chains(&step));
            }
            call.push(')');
            spans.push((i, chain_end, call));
            i = chain_end;
            continue;
        }
        if (c == b'_' || c.is_ascii_alphabetic()) && (i == 0 || !is_ident(b[i - 1])) {
            let word_end = ident_end(b, i);
            if let Some((chain_end, cuts)) = chain_at(b, i, word_end, &src[i..word_end])
                && follows_default_or_defined(b, chain_end)
                && !after_filter_or_test(&src[start..i])
            {
                let mut guard = String::new();
                for cut in &cuts {
                    if !guard.is_empty() {
                        guard.push_str(" and ");
                    }
                    guard.push_str(&src[i..*cut]);
                    guard.push_str(" is defined");
                }
                spans.push((
                    i,
                    chain_end,
                    format!(
                        "({} if ({guard}) else __agent_undefined)",
                        &src[i..chain_end]
                    ),
                ));
                i = chain_end;
                continue;
            }
            i = word_end;
            continue;
        }
        i += 1;
    }
    (b.len(), spans)
}

/// A chain `name(.attr|[item])+` (not a call) starting at `i`: where it ends and where
/// each of its steps starts.
fn chain_at(b: &[u8], i: usize, word_end: usize, word: &str) -> Option<(usize, Vec<usize>)> {
    if KEYWORDS.contains(&word) || b[i].is_ascii_digit() {
        return None;
    }
    let mut j = word_end;
    let mut cuts = Vec::new();
    loop {
        match b.get(j) {
            Some(b'.') if b.get(j + 1).is_some_and(|c| is_ident(*c)) => {
                cuts.push(j);
                j = ident_end(b, j + 1);
            }
            Some(b'[') => {
                cuts.push(j);
                j = group_end(b, j)?;
            }
            _ => break,
        }
    }
    if cuts.is_empty() || b.get(j) == Some(&b'(') {
        return None;
    }
    Some((j, cuts))
}

/// Whether a `(` after `before` opens a group (not a call's or a filter's arguments).
fn opens_group(before: &str) -> bool {
    let t = before.trim_end();
    match t.as_bytes().last() {
        None => true,
        Some(c) if is_ident(*c) => {
            let word = t
                .rsplit(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .next();
            word.is_some_and(|w| matches!(w, "and" | "or" | "not" | "in" | "if" | "else"))
        }
        Some(c) => !matches!(c, b')' | b']' | b'}' | b'"' | b'\'' | b'.' | b'|'),
    }
}

/// The `.attr` and `[key]` steps right after a group that ends at `i` (not a slice, not
/// followed by a call): where they end, and each step as an argument of
/// `__agent_steps` (`'attr'`, a number, or the subscript's expression).
fn steps_after(src: &str, mut j: usize) -> Option<(usize, Vec<String>)> {
    let b = src.as_bytes();
    let mut steps = Vec::new();
    loop {
        match b.get(j) {
            Some(b'.') if b.get(j + 1).is_some_and(|c| is_ident(*c)) => {
                let end = ident_end(b, j + 1);
                let name = &src[j + 1..end];
                steps.push(if name.bytes().all(|c| c.is_ascii_digit()) {
                    name.to_string()
                } else {
                    format!("'{name}'")
                });
                j = end;
            }
            Some(b'[') => {
                let end = group_end(b, j)?;
                let inner = &src[j + 1..end - 1];
                if inner.contains(':') || inner.trim().is_empty() {
                    return None;
                }
                steps.push(format!("({inner})"));
                j = end;
            }
            _ => break,
        }
    }
    (!steps.is_empty() && b.get(j) != Some(&b'(')).then_some((j, steps))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn word_at(b: &[u8], i: usize) -> (&[u8], usize) {
    let e = ident_end(b, i);
    (&b[i..e], e)
}

/// Whether `| default`, `| d` or `is [not] defined`/`undefined` follows index `i`.
fn follows_default_or_defined(b: &[u8], i: usize) -> bool {
    let i = skip_ws(b, i);
    if b.get(i) == Some(&b'|') {
        let (w, _) = word_at(b, skip_ws(b, i + 1));
        return w == b"default" || w == b"d";
    }
    let (w, e) = word_at(b, i);
    if w != b"is" {
        return false;
    }
    let (mut w, e) = word_at(b, skip_ws(b, e));
    if w == b"not" {
        w = word_at(b, skip_ws(b, e)).0;
    }
    w == b"defined" || w == b"undefined"
}

/// Whether text ends in a filter bar, a dot or a test's `is [not]` (the name after it is
/// a filter or test name, not a variable).
fn after_filter_or_test(before: &str) -> bool {
    let t = before.trim_end();
    if t.ends_with(['|', '.']) {
        return true;
    }
    let mut words = t.rsplit(|c: char| !(c == '_' || c.is_ascii_alphanumeric()));
    match words.next() {
        Some("is") => true,
        Some("not") => {
            t[..t.len() - 3].trim_end().ends_with("is")
                && words.find(|w| !w.is_empty()) == Some("is")
        }
        _ => false,
    }
}

/// [`rewrite_literals`] for a bare expression (no delimiters); `keep` keeps backslashes
/// as written (an expression from `{{ }}` in a string template).
pub(crate) fn rewrite_expr_literals(
    expr: &str,
    keep: bool,
) -> Result<std::borrow::Cow<'_, str>, String> {
    if !expr.contains('\\') {
        return Ok(std::borrow::Cow::Borrowed(expr));
    }
    let (_, rewritten) = rewrite_tag(expr, 0, None, keep)?;
    let mut out = String::with_capacity(expr.len() + 16);
    let mut copied = 0;
    for (from, to, lit) in rewritten {
        out.push_str(&expr[copied..from]);
        out.push_str(&lit);
        copied = to;
    }
    out.push_str(&expr[copied..]);
    Ok(std::borrow::Cow::Owned(out))
}

/// Where `{% raw %}`'s block ends (just past `{% endraw %}`), if the block starting at
/// `start` (just after the block opener) is a raw block.
fn raw_block_end(src: &str, start: usize, delims: &Delimiters<'_>) -> Option<usize> {
    let rest = src[start..]
        .strip_prefix(['-', '+'])
        .unwrap_or(&src[start..]);
    let rest = rest.trim_start().strip_prefix("raw")?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
    if !rest.starts_with(delims.block.1) {
        return None;
    }
    let body = src.len() - rest.len();
    let mut from = body;
    loop {
        let open = from + src[from..].find(delims.block.0)?;
        let after = &src[open + delims.block.0.len()..];
        let after = after.strip_prefix(['-', '+']).unwrap_or(after).trim_start();
        if let Some(tail) = after.strip_prefix("endraw") {
            let close = src.len() - tail.len() + tail.find(delims.block.1)?;
            return Some(close + delims.block.1.len());
        }
        from = open + delims.block.0.len();
    }
}

/// The literals to replace in one tag starting at `start`: the index just past the tag
/// (its `end_delim`, or the end of `src` without one) and (from, to, new literal) spans.
type Spans = Vec<(usize, usize, String)>;

fn rewrite_tag(
    src: &str,
    start: usize,
    end_delim: Option<&str>,
    keep: bool,
) -> Result<(usize, Spans), String> {
    let b = src.as_bytes();
    let mut spans = Vec::new();
    let mut i = start;
    while i < b.len() {
        if let Some(d) = end_delim
            && b[i..].starts_with(d.as_bytes())
        {
            return Ok((i + d.len(), spans));
        }
        match b[i] {
            q @ (b'"' | b'\'') => {
                let Some(end) = string_end(b, i, q) else {
                    // unterminated: minijinja reports the syntax error
                    return Ok((b.len(), spans));
                };
                let content = &src[i + 1..end - 1];
                if content.contains('\\') {
                    let lit = if keep {
                        keep_literal(content)
                    } else {
                        python_literal(content)?
                    };
                    spans.push((i, end, lit));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    Ok((b.len(), spans))
}

/// A minijinja literal for text taken as written.
fn keep_literal(content: &str) -> String {
    let mut out = String::with_capacity(content.len() + 8);
    out.push('"');
    for c in content.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Push one decoded character in minijinja literal form.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '"' => out.push_str("\\\""),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// A minijinja literal for the value Python's `unicode-escape` codec gives the text
/// (what Jinja2's lexer does to string literals).
fn python_literal(content: &str) -> Result<String, String> {
    let mut out = String::with_capacity(content.len() + 8);
    out.push('"');
    let mut chars = content.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            match c {
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
            continue;
        }
        let Some(d) = chars.next() else {
            return Err("\\ at end of string".into());
        };
        match d {
            '\n' => {}
            '\\' => out.push_str("\\\\"),
            '\'' => out.push('\''),
            '"' => out.push_str("\\\""),
            'a' => push_escaped(&mut out, '\u{7}'),
            'b' => push_escaped(&mut out, '\u{8}'),
            'f' => push_escaped(&mut out, '\u{c}'),
            'n' => push_escaped(&mut out, '\n'),
            'r' => push_escaped(&mut out, '\r'),
            't' => push_escaped(&mut out, '\t'),
            'v' => push_escaped(&mut out, '\u{b}'),
            '0'..='7' => {
                let mut code = d.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(v) => {
                            code = code * 8 + v;
                            chars.next();
                        }
                        None => break,
                    }
                }
                push_escaped(&mut out, char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            'x' | 'u' | 'U' => {
                let (n, what) = match d {
                    'x' => (2, "truncated \\xXX escape"),
                    'u' => (4, "truncated \\uXXXX escape"),
                    _ => (8, "truncated \\UXXXXXXXX escape"),
                };
                let mut code = 0u32;
                for _ in 0..n {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(v) => {
                            code = code * 16 + v;
                            chars.next();
                        }
                        None => return Err(what.into()),
                    }
                }
                if code > 0x10ffff {
                    return Err("illegal Unicode character".into());
                }
                // a lone surrogate has no Rust form
                push_escaped(&mut out, char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            // Python's backslashreplace turns the character into an escape whose own
            // backslash pairs with this one: `\é` reads as `\xe9`
            d if !d.is_ascii() => {
                out.push_str("\\\\");
                let code = d as u32;
                let _ = match code {
                    0..=0xff => write!(out, "x{code:02x}"),
                    0x100..=0xffff => write!(out, "u{code:04x}"),
                    _ => write!(out, "U{code:08x}"),
                };
            }
            // unknown escapes (and `\N{...}`, which needs Unicode names) keep the backslash
            d => {
                out.push_str("\\\\");
                push_escaped(&mut out, d);
            }
        }
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod literal_unit {
    use super::*;

    fn t(src: &str, mode: Backslashes) -> String {
        rewrite_literals(src, mode, &Delimiters::default())
            .unwrap()
            .into_owned()
    }

    #[test]
    fn keep_in_variables() {
        let k = Backslashes::KeepInVariables;
        assert_eq!(t(r"{{ 'a\1' }}", k), r#"{{ "a\\1" }}"#);
        assert_eq!(t(r"{{ 'it\'s' }}", k), r#"{{ "it\\'s" }}"#);
        assert_eq!(t(r#"{{ "q\"x" }}"#, k), r#"{{ "q\\\"x" }}"#);
        // statements read Python escapes
        assert_eq!(
            t(r"{% set x = 'a\1\n' %}", k),
            r#"{% set x = "a\u0001\n" %}"#
        );
        // data, comments and raw blocks are left alone
        assert_eq!(t(r"it's \1 {# '\1' #}", k), r"it's \1 {# '\1' #}");
        assert_eq!(
            t(r"{% raw %}{{ '\1' }}{% endraw %}{{ '\1' }}", k),
            r#"{% raw %}{{ '\1' }}{% endraw %}{{ "\\1" }}"#
        );
        assert_eq!(t(r"{{ 'a' }}\n{{ 'b' }}", k), r"{{ 'a' }}\n{{ 'b' }}");
    }

    #[test]
    fn python_escapes() {
        let p = Backslashes::Python;
        assert_eq!(
            t(r"{{ '\1\x41\u00e9\/\q' }}", p),
            r#"{{ "\u0001Aé\\/\\q" }}"#
        );
        assert_eq!(t(r"{{ '\é' }}", p), r#"{{ "\\xe9" }}"#);
        assert_eq!(t(r"{{ '\777\a\v' }}", p), "{{ \"\u{1ff}\\u0007\\u000b\" }}");
        assert_eq!(t("{{ 'a\\\nb' }}", p), r#"{{ "ab" }}"#);
        assert_eq!(t(r#"{{ '\\ "' }}"#, p), r#"{{ "\\ \"" }}"#);
        assert!(rewrite_literals(r"{{ '\x4' }}", p, &Delimiters::default()).is_err());
        assert!(rewrite_literals(r"{{ '\U00110000' }}", p, &Delimiters::default()).is_err());
        let custom = Delimiters {
            variable: ("[[", "]]"),
            block: ("[%", "%]"),
            comment: ("[#", "#]"),
        };
        assert_eq!(
            rewrite_literals(r"{{ '\1' }}[[ '\1' ]]", p, &custom).unwrap(),
            r#"{{ '\1' }}[[ "\u0001" ]]"#
        );
    }

    #[test]
    fn undefined_chains() {
        let d = Delimiters::default();
        assert_eq!(
            rewrite_undefined_chains("{{ a.b | default(1) }}", &d),
            "{{ (a.b if (a is defined) else __agent_undefined) | default(1) }}"
        );
        assert_eq!(
            rewrite_undefined_chains("{% if a.b['c'] is not defined %}", &d),
            "{% if (a.b['c'] if (a is defined and a.b is defined) else __agent_undefined) is not defined %}"
        );
        for same in [
            "{{ a.b | upper | default(1) }}",
            "{{ a.b() | default(1) }}",
            "{{ a | default(1) }}",
            "{{ x | ansible.builtin.d }}",
            "{{ 'a.b' | d }}",
            "a.b | d",
            "{{ x is ansible.builtin.defined }}",
        ] {
            assert_eq!(rewrite_undefined_chains(same, &d), same);
        }
        assert_eq!(
            rewrite_expr_chains("x.y|d and z.w is undefined"),
            "(x.y if (x is defined) else __agent_undefined)|d and \
             (z.w if (z is defined) else __agent_undefined) is undefined"
        );
        assert!(after_filter_or_test("x is not "));
        assert!(!after_filter_or_test("x and not "));
    }

    #[test]
    fn expressions() {
        assert_eq!(
            rewrite_expr_literals(r"s | f('\1')", true).unwrap(),
            r#"s | f("\\1")"#
        );
        assert_eq!(
            rewrite_expr_literals(r"'\1' == x", false).unwrap(),
            r#""\u0001" == x"#
        );
        assert_eq!(
            rewrite_expr_literals("a == 'b'", false).unwrap(),
            "a == 'b'"
        );
    }
}
