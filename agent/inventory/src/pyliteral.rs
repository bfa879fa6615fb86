//! Python's `ast.literal_eval` as Ansible's INI plugin uses it (`_parse_value`): numbers,
//! strings (all prefixes and escapes), `True`/`False`/`None`, lists, tuples, sets and
//! dicts. Tuples and sets become lists, complex numbers and `...` become strings, exactly
//! as `_parse_recursive_coerce_types_and_tag` coerces them. Anything Python would reject
//! (a syntax error or a non-literal such as a bare name) gives `None`, and the caller
//! keeps the original text as a string.

use minijinja::Value;

/// Evaluate `src` as a Python literal, or `None` when Python would not accept it.
pub fn literal_eval(src: &str) -> Option<Value> {
    // literal_eval strips leading spaces and tabs only.
    let src = src.trim_start_matches([' ', '\t']);
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
        depth: 0,
    };
    let v = p.expr_list(true)?;
    p.skip_ws();
    if p.i != p.s.len() {
        return None;
    }
    Some(v.into_value())
}

/// An evaluated literal before the final coercion.
#[derive(Debug, Clone)]
enum Lit {
    Int(i128),
    Float(f64),
    Complex(f64, f64),
    Bool(bool),
    None,
    Ellipsis,
    Str(String),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl Lit {
    fn into_value(self) -> Value {
        match self {
            Lit::Int(i) => match i64::try_from(i) {
                Ok(i) => Value::from(i),
                Err(_) => Value::from(i),
            },
            Lit::Float(f) => Value::from(f),
            Lit::Complex(re, im) => Value::from(complex_repr(re, im)),
            Lit::Bool(b) => Value::from(b),
            Lit::None => Value::from(()),
            Lit::Ellipsis => Value::from("..."),
            Lit::Str(s) => Value::from(s),
            Lit::List(items) => {
                Value::from(items.into_iter().map(Lit::into_value).collect::<Vec<_>>())
            }
            Lit::Dict(entries) => {
                let mut map = indexmap::IndexMap::new();
                for (k, v) in entries {
                    map.insert(k.key_string(), (k.into_value(), v.into_value()));
                }
                Value::from_pairs(map.into_values())
            }
        }
    }

    /// A key that identifies equal Python dict keys (for de-duplication).
    fn key_string(&self) -> String {
        match self {
            Lit::Int(i) => format!("n{i}"),
            Lit::Bool(b) => format!("n{}", i32::from(*b)),
            Lit::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => format!("n{}", *f as i128),
            Lit::Float(f) => format!("f{f}"),
            Lit::Str(s) => format!("s{s}"),
            other => format!("o{other:?}"),
        }
    }

    fn is_number(&self) -> bool {
        matches!(self, Lit::Int(_) | Lit::Float(_) | Lit::Complex(..))
    }
}

/// Python's `repr(complex)`.
fn complex_repr(re: f64, im: f64) -> String {
    fn part(f: f64) -> String {
        if f.is_infinite() {
            return if f > 0.0 { "inf".into() } else { "-inf".into() };
        }
        if f.is_nan() {
            return "nan".into();
        }
        if f.fract() == 0.0 && f.abs() < 1e16 {
            format!("{}", f as i128)
        } else {
            format!("{f}")
        }
    }
    if re == 0.0 && re.is_sign_positive() {
        format!("{}j", part(im))
    } else {
        let im_s = part(im);
        let sign = if im_s.starts_with('-') { "" } else { "+" };
        format!("({}{sign}{im_s}j)", part(re))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 100;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'#' => self.i = self.s.len(),
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A comma-separated expression list; more than one item (or a trailing comma)
    /// makes a tuple. At top level the list may be empty only inside brackets.
    fn expr_list(&mut self, top: bool) -> Option<Lit> {
        let first = self.expr()?;
        self.skip_ws();
        if self.peek() != Some(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.eat(b',') {
            self.skip_ws();
            match self.peek() {
                None => break,
                Some(b')') if !top => break,
                _ => items.push(self.expr()?),
            }
        }
        Some(Lit::List(items))
    }

    fn expr(&mut self) -> Option<Lit> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let r = self.sum();
        self.depth -= 1;
        r
    }

    /// A signed number optionally followed by `+`/`-` and an imaginary literal.
    fn sum(&mut self) -> Option<Lit> {
        let left = self.unary()?;
        self.skip_ws();
        let op = match self.peek() {
            Some(c @ (b'+' | b'-')) => c,
            _ => return Some(left),
        };
        self.i += 1;
        self.skip_ws();
        let right = self.atom()?;
        let Lit::Complex(0.0, im) = right else {
            return None;
        };
        let re = match left {
            Lit::Int(i) => i as f64,
            Lit::Float(f) => f,
            // complex + complex is not a literal.
            _ => return None,
        };
        let im = if op == b'-' { -im } else { im };
        Some(Lit::Complex(re, im))
    }

    fn unary(&mut self) -> Option<Lit> {
        self.skip_ws();
        match self.peek() {
            Some(c @ (b'-' | b'+')) => {
                self.i += 1;
                self.skip_ws();
                let v = self.atom()?;
                if !v.is_number() {
                    return None;
                }
                if c == b'+' {
                    return Some(v);
                }
                Some(match v {
                    Lit::Int(i) => Lit::Int(-i),
                    Lit::Float(f) => Lit::Float(-f),
                    Lit::Complex(re, im) => Lit::Complex(-re, -im),
                    _ => return None,
                })
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Option<Lit> {
        self.skip_ws();
        let c = self.peek()?;
        match c {
            b'[' => {
                self.i += 1;
                let items = self.items(b']')?;
                Some(Lit::List(items))
            }
            b'(' => {
                self.i += 1;
                if self.eat(b')') {
                    return Some(Lit::List(Vec::new()));
                }
                self.depth += 1;
                let v = self.expr_list(false);
                self.depth -= 1;
                let v = v?;
                if !self.eat(b')') {
                    return None;
                }
                Some(v)
            }
            b'{' => {
                self.i += 1;
                self.brace()
            }
            b'.' if self.s[self.i..].starts_with(b"...") => {
                self.i += 3;
                Some(Lit::Ellipsis)
            }
            b'0'..=b'9' | b'.' => self.number(),
            b'\'' | b'"' => self.strings(),
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = self.i;
                while let Some(&ch) = self.s.get(self.i) {
                    if ch.is_ascii_alphanumeric() || ch == b'_' || ch >= 0x80 {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                let word = &self.src[start..self.i];
                // A string prefix directly followed by a quote.
                if matches!(self.peek(), Some(b'\'' | b'"')) {
                    self.i = start;
                    return self.strings();
                }
                match word {
                    "True" => Some(Lit::Bool(true)),
                    "False" => Some(Lit::Bool(false)),
                    "None" => Some(Lit::None),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated items up to `close` (trailing comma allowed).
    fn items(&mut self, close: u8) -> Option<Vec<Lit>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            self.depth += 1;
            let v = self.expr();
            self.depth -= 1;
            items.push(v?);
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    /// After `{`: a dict or a set.
    fn brace(&mut self) -> Option<Lit> {
        if self.eat(b'}') {
            return Some(Lit::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(b':') {
            let mut entries = Vec::new();
            let v = self.expr()?;
            if !hashable(&first) {
                return None;
            }
            entries.push((first, v));
            loop {
                if self.eat(b'}') {
                    return Some(Lit::Dict(entries));
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    return Some(Lit::Dict(entries));
                }
                let k = self.expr()?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.expr()?;
                if !hashable(&k) {
                    return None;
                }
                entries.push((k, v));
            }
        }
        // A set: de-duplicated; Python's iteration order is by hash, which for small
        // ints is ascending.
        let mut items = vec![first];
        loop {
            if self.eat(b'}') {
                break;
            }
            if !self.eat(b',') {
                return None;
            }
            if self.eat(b'}') {
                break;
            }
            items.push(self.expr()?);
        }
        if !items.iter().all(hashable) {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Lit> = items
            .into_iter()
            .filter(|i| seen.insert(i.key_string()))
            .collect();
        if out
            .iter()
            .all(|i| matches!(i, Lit::Int(n) if *n >= 0 && *n < 1 << 20))
        {
            out.sort_by_key(|i| match i {
                Lit::Int(n) => *n,
                _ => 0,
            });
        }
        Some(Lit::List(out))
    }

    fn number(&mut self) -> Option<Lit> {
        let start = self.i;
        let s = self.s;
        let digits = |i: &mut usize, ok: fn(u8) -> bool| -> bool {
            // digit (_? digit)*
            if !s.get(*i).is_some_and(|&c| ok(c)) {
                return false;
            }
            *i += 1;
            loop {
                match s.get(*i) {
                    Some(&c) if ok(c) => *i += 1,
                    Some(b'_') if s.get(*i + 1).is_some_and(|&c| ok(c)) => *i += 2,
                    _ => return true,
                }
            }
        };
        let clean = |a: usize, b: usize| -> String { self.src[a..b].replace('_', "") };
        let mut i = self.i;
        // Radix integers.
        if s.get(i) == Some(&b'0') {
            let radix = match s.get(i + 1) {
                Some(b'x' | b'X') => Some(16),
                Some(b'o' | b'O') => Some(8),
                Some(b'b' | b'B') => Some(2),
                _ => None,
            };
            if let Some(radix) = radix {
                i += 2;
                if s.get(i) == Some(&b'_') {
                    i += 1;
                }
                let ok: fn(u8) -> bool = match radix {
                    16 => |c: u8| c.is_ascii_hexdigit(),
                    8 => |c: u8| (b'0'..=b'7').contains(&c),
                    _ => |c: u8| c == b'0' || c == b'1',
                };
                let ds = i;
                if !digits(&mut i, ok) {
                    return None;
                }
                if s.get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    return None;
                }
                self.i = i;
                return i128::from_str_radix(&clean(ds, i), radix)
                    .ok()
                    .map(Lit::Int);
            }
        }
        let is_dec: fn(u8) -> bool = |c| c.is_ascii_digit();
        let int_part = digits(&mut i, is_dec);
        let int_end = i;
        let mut is_float = false;
        if s.get(i) == Some(&b'.') {
            let mut j = i + 1;
            let frac = digits(&mut j, is_dec);
            if !int_part && !frac {
                return None;
            }
            i = j;
            is_float = true;
        } else if !int_part {
            return None;
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(s.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if digits(&mut j, is_dec) {
                i = j;
                is_float = true;
            } else {
                return None;
            }
        }
        let imag = matches!(s.get(i), Some(b'j' | b'J'));
        let end = i;
        if imag {
            i += 1;
        }
        // A number glued to a name or another dot is a syntax error.
        if s.get(i)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 || c == b'.')
        {
            return None;
        }
        self.i = i;
        let text = clean(start, end);
        if imag {
            let f: f64 = text.parse().ok()?;
            return Some(Lit::Complex(0.0, f));
        }
        if is_float {
            return text.parse::<f64>().ok().map(Lit::Float);
        }
        // Decimal integers may not have leading zeros (except all zeros).
        let int_text = clean(start, int_end);
        if int_text.len() > 1 && int_text.starts_with('0') && int_text.bytes().any(|c| c != b'0') {
            return None;
        }
        int_text.parse::<i128>().ok().map(Lit::Int)
    }

    /// One or more adjacent string literals (implicit concatenation).
    fn strings(&mut self) -> Option<Lit> {
        let mut out = String::new();
        let mut kind: Option<bool> = None; // Some(true) = bytes
        loop {
            self.skip_ws();
            let save = self.i;
            let Some((text, is_bytes)) = self.one_string()? else {
                self.i = save;
                break;
            };
            if kind.is_some_and(|k| k != is_bytes) {
                return None;
            }
            kind = Some(is_bytes);
            out.push_str(&text);
        }
        kind.map(|_| Lit::Str(out))
    }

    /// A single string literal at the cursor: `Ok(None)`-like `Some(None)` when the
    /// cursor is not at a string.
    #[allow(clippy::option_option)]
    fn one_string(&mut self) -> Option<Option<(String, bool)>> {
        let start = self.i;
        let mut j = self.i;
        while j < self.s.len() && self.s[j].is_ascii_alphabetic() && j - start < 3 {
            j += 1;
        }
        let prefix = self.src[start..j].to_ascii_lowercase();
        let Some(&q) = self.s.get(j) else {
            return Some(None);
        };
        if q != b'\'' && q != b'"' {
            return Some(None);
        }
        let (raw, bytes) = match prefix.as_str() {
            "" | "u" => (false, false),
            "r" => (true, false),
            "b" => (false, true),
            "br" | "rb" => (true, true),
            _ => return None, // f-strings and invalid prefixes
        };
        let triple = self.s[j..].starts_with(&[q, q, q]);
        let qlen = if triple { 3 } else { 1 };
        let body_start = j + qlen;
        let mut k = body_start;
        let body_end;
        loop {
            let c = *self.s.get(k)?;
            if c == b'\\' {
                k += 2;
                continue;
            }
            if c == b'\n' && !triple {
                return None;
            }
            if c == q && (!triple || self.s[k..].starts_with(&[q, q, q])) {
                body_end = k;
                k += qlen;
                break;
            }
            k += 1;
        }
        if k > self.s.len() {
            return None;
        }
        let body = self.src.get(body_start..body_end)?;
        if bytes && !body.is_ascii() {
            return None;
        }
        self.i = k;
        let text = if raw {
            body.to_string()
        } else {
            unescape(body, bytes)?
        };
        Some(Some((text, bytes)))
    }
}

fn hashable(l: &Lit) -> bool {
    !matches!(l, Lit::List(_) | Lit::Dict(_))
}

/// Python string escapes. `None` for an invalid `\x`/`\u` escape (a syntax error).
fn unescape(body: &str, bytes: bool) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    let mut raw_bytes: Vec<u8> = Vec::new();
    let flush = |raw: &mut Vec<u8>, out: &mut String| {
        if !raw.is_empty() {
            out.push_str(&String::from_utf8_lossy(raw));
            raw.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut raw_bytes, &mut out);
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let simple = match e {
            '\n' => Some(None),
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(ch) = simple {
            flush(&mut raw_bytes, &mut out);
            if let Some(ch) = ch {
                out.push(ch);
            }
            continue;
        }
        match e {
            '0'..='7' => {
                let mut n = e.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            n = n * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                if bytes {
                    raw_bytes.push((n & 0xff) as u8);
                } else {
                    flush(&mut raw_bytes, &mut out);
                    out.push(char::from_u32(n)?);
                }
            }
            'x' => {
                let h: String = (0..2).filter_map(|_| chars.next()).collect();
                if h.len() != 2 {
                    return None;
                }
                let n = u32::from_str_radix(&h, 16).ok()?;
                if bytes {
                    raw_bytes.push(n as u8);
                } else {
                    flush(&mut raw_bytes, &mut out);
                    out.push(char::from_u32(n)?);
                }
            }
            'u' | 'U' if !bytes => {
                let len = if e == 'u' { 4 } else { 8 };
                let h: String = (0..len).filter_map(|_| chars.next()).collect();
                if h.len() != len {
                    return None;
                }
                let n = u32::from_str_radix(&h, 16).ok()?;
                flush(&mut raw_bytes, &mut out);
                out.push(char::from_u32(n)?);
            }
            'N' if !bytes => return None,
            other => {
                flush(&mut raw_bytes, &mut out);
                out.push('\\');
                out.push(other);
            }
        }
    }
    flush(&mut raw_bytes, &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Option<String> {
        literal_eval(s).map(|v| serde_json::to_string(&v).unwrap())
    }

    #[test]
    fn scalars() {
        assert_eq!(ev("1"), Some("1".into()));
        assert_eq!(ev("-1"), Some("-1".into()));
        assert_eq!(ev("1_000"), Some("1000".into()));
        assert_eq!(ev("0x10"), Some("16".into()));
        assert_eq!(ev("0o17"), Some("15".into()));
        assert_eq!(ev("00"), Some("0".into()));
        assert_eq!(ev("010"), None);
        assert_eq!(ev("1.5"), Some("1.5".into()));
        assert_eq!(ev("01.5"), Some("1.5".into()));
        assert_eq!(ev("1e3"), Some("1000.0".into()));
        assert_eq!(ev("True"), Some("true".into()));
        assert_eq!(ev("None"), Some("null".into()));
        assert_eq!(ev("yes"), None);
        assert_eq!(ev("1abc"), None);
        assert_eq!(ev("1.2.3"), None);
        assert_eq!(ev(""), None);
        assert_eq!(ev("1 # comment"), Some("1".into()));
        assert_eq!(ev("hello # comment"), None);
        assert_eq!(ev("--1"), None);
        assert_eq!(ev("-True"), None);
        assert_eq!(ev("+5"), Some("5".into()));
    }

    #[test]
    fn strings() {
        assert_eq!(ev("'a b'"), Some("\"a b\"".into()));
        assert_eq!(ev("\"a\" 'b'"), Some("\"ab\"".into()));
        assert_eq!(ev("'a\\nb'"), Some("\"a\\nb\"".into()));
        assert_eq!(ev("r'a\\nb'"), Some("\"a\\\\nb\"".into()));
        assert_eq!(ev("b'xy'"), Some("\"xy\"".into()));
        assert_eq!(ev("f'xy'"), None);
        assert_eq!(ev("'abc"), None);
        assert_eq!(ev("'''a'b'''"), Some("\"a'b\"".into()));
        assert_eq!(ev("'\\d'"), Some("\"\\\\d\"".into()));
        assert_eq!(ev("'x' b'y'"), None);
    }

    #[test]
    fn containers() {
        assert_eq!(ev("[1, 'a', None]"), Some("[1,\"a\",null]".into()));
        assert_eq!(ev("1,2"), Some("[1,2]".into()));
        assert_eq!(ev("1,"), Some("[1]".into()));
        assert_eq!(ev("(1)"), Some("1".into()));
        assert_eq!(ev("()"), Some("[]".into()));
        assert_eq!(ev("{'a': 1, 'b': [2]}"), Some("{\"a\":1,\"b\":[2]}".into()));
        assert_eq!(ev("{3, 1, 2, 1}"), Some("[1,2,3]".into()));
        assert_eq!(ev("{[1]: 2}"), None);
        assert_eq!(ev("[1,,2]"), None);
        assert_eq!(ev("[1, 2"), None);
        assert_eq!(ev("..."), Some("\"...\"".into()));
        assert_eq!(ev("2j"), Some("\"2j\"".into()));
        assert_eq!(ev("1+2j"), Some("\"(1+2j)\"".into()));
        let deep = "[".repeat(500) + &"]".repeat(500);
        assert_eq!(ev(&deep), None);
    }
}
