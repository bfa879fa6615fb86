//! Building [`Node`] trees from saphyr-parser's event stream, with PyYAML's (YAML 1.1)
//! meaning for plain scalars, tags, anchors, merge keys and duplicate keys.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};

use crate::node::{Kind, Node, Pos};
use crate::resolve::{Plain, construct_bool, construct_float, construct_int, resolve_plain};

/// Limits that keep hostile input from exhausting memory or time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most nodes an alias expansion may produce in one document (billion laughs).
    pub max_nodes: usize,
    /// Deepest nesting accepted.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_nodes: 1_000_000,
            max_depth: 256,
        }
    }
}

/// A YAML error at a place in a file (1-based line and column).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Something legal but suspicious, such as a duplicate mapping key (Ansible warns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlWarning {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// Ansible's wording, e.g. `Found duplicate mapping key 'x'.`
    pub message: String,
}

impl std::fmt::Display for YamlWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} Using last defined value only.",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Parse every document of a YAML stream.
pub fn parse_all(src: &str, file: &Path, limits: Limits) -> Result<Vec<Node>, YamlError> {
    parse_all_with_warnings(src, file, limits).map(|(docs, _)| docs)
}

/// Parse every document of a YAML stream, also returning warnings (duplicate keys).
pub fn parse_all_with_warnings(
    src: &str,
    file: &Path,
    limits: Limits,
) -> Result<(Vec<Node>, Vec<YamlWarning>), YamlError> {
    let first = parse_src(src, file, limits);
    let Err(e) = &first else { return first };
    if !e.message.starts_with("invalid indentation") || flow_depth_before(src, e.line) == 0 {
        return first;
    }
    // PyYAML does not check indentation inside a flow collection (`key: {` ... `}` closing
    // at column 0); saphyr wants such lines indented past the enclosing block. Leading
    // spaces inside a flow collection mean nothing, so indent each line saphyr refuses and
    // parse again (columns on those lines move right).
    let mut fixed = src.to_string();
    let mut line = e.line;
    for _ in 0..2000 {
        fixed = indent_line(&fixed, line);
        match parse_src(&fixed, file, limits) {
            Err(e)
                if e.message.starts_with("invalid indentation")
                    && flow_depth_before(&fixed, e.line) > 0 =>
            {
                line = e.line;
            }
            Err(_) => return first,
            ok => return ok,
        }
    }
    first
}

/// `src` with one space put before line `line` (1-based).
fn indent_line(src: &str, line: usize) -> String {
    let mut out = String::with_capacity(src.len() + 1);
    for (i, l) in src.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

/// How many flow collections (`[`, `{`) are open at the start of line `line` (1-based), by a
/// light scan that knows quotes, comments and where a node may start. Only used to decide
/// whether an indentation error is inside a flow collection.
fn flow_depth_before(src: &str, line: usize) -> usize {
    let mut depth = 0usize;
    for l in src.lines().take(line.saturating_sub(1)) {
        let chars: Vec<char> = l.chars().collect();
        let mut i = 0;
        // Where a node may start: after indentation, `- `, `? `, `: ` in block context;
        // anywhere after `[ { , :` or a space inside a flow collection.
        let mut node_start = true;
        while i < chars.len() {
            let c = chars[i];
            match c {
                ' ' | '\t' => {
                    if depth > 0 {
                        node_start = true;
                    }
                }
                '#' if i == 0 || chars[i - 1] == ' ' || chars[i - 1] == '\t' => break,
                '[' | '{' if node_start || depth > 0 => {
                    depth += 1;
                    node_start = true;
                }
                ']' | '}' if depth > 0 => {
                    depth -= 1;
                    node_start = false;
                }
                ',' if depth > 0 => node_start = true,
                '"' | '\'' if node_start => {
                    // A quoted scalar: skip to its end on this line (a multi-line quoted
                    // scalar is rare enough here to ignore).
                    let mut j = i + 1;
                    while j < chars.len() {
                        if c == '"' && chars[j] == '\\' {
                            j += 2;
                            continue;
                        }
                        if chars[j] == c {
                            if c == '\'' && chars.get(j + 1) == Some(&'\'') {
                                j += 2;
                                continue;
                            }
                            break;
                        }
                        j += 1;
                    }
                    i = j;
                    node_start = false;
                }
                '-' | '?' | ':'
                    if depth == 0 && chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t') =>
                {
                    node_start = true;
                }
                ':' if depth > 0 => node_start = true,
                _ => node_start = false,
            }
            i += 1;
        }
    }
    depth
}

/// What PyYAML's reader accepts: tab, newlines and printable characters (YAML 1.1 `c-printable`).
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// The checks PyYAML makes before parsing: no control characters, and a `%YAML`
/// directive, if any, of version 1.x.
fn check_reader(src: &str, file: &Path) -> Result<(), YamlError> {
    let err = |line: usize, col: usize, message: String| YamlError {
        file: file.display().to_string(),
        line,
        col,
        message,
    };
    for (i, l) in src.split('\n').enumerate() {
        if let Some((col, c)) = l.chars().enumerate().find(|(_, c)| !printable(*c)) {
            return Err(err(
                i + 1,
                col + 1,
                format!(
                    "unacceptable character #x{:04x}: special characters are not allowed",
                    u32::from(c)
                ),
            ));
        }
    }
    for (i, l) in src.lines().enumerate() {
        let t = l.trim_start_matches('\u{feff}');
        if let Some(rest) = t.strip_prefix("%YAML") {
            let v = rest.split_whitespace().next().unwrap_or("");
            if v.split('.').next() != Some("1") {
                return Err(err(
                    i + 1,
                    1,
                    format!("found incompatible YAML document (version 1.* is required, not {v})"),
                ));
            }
        } else if !(t.is_empty() || t.starts_with('#') || t.starts_with('%')) {
            break;
        }
    }
    Ok(())
}

/// `bytes` as UTF-8 text, or an error naming the line and column of the first byte that
/// is not (as PyYAML, which reads files as UTF-8).
pub fn decode(bytes: &[u8], file: &Path) -> Result<String, YamlError> {
    // A vault-encrypted file is read as its plain text (Ansible's loader decrypts any
    // file it loads), with the run's vault secrets.
    if let Some(plain) = crate::vault::decrypt_if_encrypted(bytes) {
        let plain = plain.map_err(|e| YamlError {
            file: file.display().to_string(),
            line: 1,
            col: 1,
            message: format!(
                "the file is vault-encrypted and did not decrypt: {e} (give the password with \
                 --vault-password-file or ANSIBLE_VAULT_PASSWORD_FILE)"
            ),
        })?;
        return decode(&plain, file);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
            let byte = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
            Err(YamlError {
                file: file.display().to_string(),
                line,
                col,
                message: format!(
                    "'utf-8' codec can't decode byte 0x{byte:02x} in position {}: the file is not valid UTF-8",
                    e.valid_up_to()
                ),
            })
        }
    }
}

fn parse_src(
    src: &str,
    file: &Path,
    limits: Limits,
) -> Result<(Vec<Node>, Vec<YamlWarning>), YamlError> {
    check_reader(src, file)?;
    let mut b = Builder {
        parser: Parser::new_from_str(src),
        src,
        file: file.display().to_string(),
        limits,
        anchors: Vec::new(),
        nodes: 0,
        warnings: Vec::new(),
        anchor_names: Vec::new(),
        cursor: (0, 0),
    };
    let docs = b.stream()?;
    Ok((docs, b.warnings))
}

/// Parse a stream that must hold at most one document; an empty stream is `None`.
pub fn parse_one(src: &str, file: &Path) -> Result<Option<Node>, YamlError> {
    let mut docs = parse_all(src, file, Limits::default())?;
    match docs.len() {
        0 => Ok(None),
        1 => Ok(docs.pop()),
        _ => Err(YamlError {
            file: file.display().to_string(),
            line: docs[1].pos.line,
            col: docs[1].pos.col,
            message: "expected a single document in the stream, but found another document".into(),
        }),
    }
}

/// How strings under construction are marked: `!unsafe` makes every string inside unsafe.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Normal,
    Unsafe,
}

/// A finished anchored node and how many nodes it expands to.
struct Anchored {
    node: Node,
    size: usize,
}

struct Builder<'a> {
    parser: Parser<'a, StrInput<'a>>,
    src: &'a str,
    file: String,
    limits: Limits,
    /// Indexed by saphyr's anchor id; `None` while the anchored node is being built.
    anchors: Vec<Option<Anchored>>,
    /// Nodes produced in the current document, aliases counted at full size.
    nodes: usize,
    warnings: Vec<YamlWarning>,
    /// Anchor names defined in the current document, with where (libyaml rejects repeats).
    anchor_names: Vec<(String, Pos)>,
    /// A (char index, byte index) point in `src`, to map saphyr's char offsets to bytes.
    cursor: (usize, usize),
}

fn pos_of(m: Marker) -> Pos {
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

fn is_core(tag: &Tag, suffix: &str) -> bool {
    tag.handle == "tag:yaml.org,2002:" && tag.suffix == suffix
}

/// A key of a mapping as Python would print it in a message (`'x'`, `1`, `True`).
fn py_repr(n: &Node) -> String {
    match &n.kind {
        Kind::Null => "None".into(),
        Kind::Bool(true) => "True".into(),
        Kind::Bool(false) => "False".into(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(f) => crate::emit::py_float_repr(*f),
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\'', "\\'"))
            }
        }
        Kind::Seq(_) => "[...]".into(),
        Kind::Map(_) => "{...}".into(),
    }
}

/// Python equality of two hashable keys (`1 == 1.0 == True`).
fn key_eq(a: &Kind, b: &Kind) -> bool {
    fn num(k: &Kind) -> Option<f64> {
        match k {
            Kind::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Kind::Int(i) => Some(*i as f64),
            Kind::Float(f) => Some(*f),
            _ => None,
        }
    }
    match (a, b) {
        (Kind::Int(x), Kind::Int(y)) => x == y,
        (Kind::Null, Kind::Null) => true,
        (
            Kind::Str(x) | Kind::Unsafe(x) | Kind::Vault(x),
            Kind::Str(y) | Kind::Unsafe(y) | Kind::Vault(y),
        ) => x == y,
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Whether a key's source text was (most likely) a single Latin-1 character, which
/// CPython shares as one object.
fn one_char(n: &Node) -> bool {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) => {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (None, _) => true,
                (Some(c), None) => (c as u32) < 256,
                _ => false,
            }
        }
        Kind::Int(i) => (0..10).contains(i),
        Kind::Null => true,
        _ => false,
    }
}

/// A mapping key reduced to what Python's dict compares (`1 == 1.0 == True`).
#[derive(PartialEq, Eq, Hash)]
enum HashKey<'a> {
    Str(&'a str),
    Int(i64),
    FloatBits(u64),
    Null,
    /// Never equal to anything else (collections are rejected before this).
    Unique(usize),
}

impl<'a> HashKey<'a> {
    fn of(k: &'a Kind, index: usize) -> Self {
        match k {
            Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => HashKey::Str(s),
            Kind::Int(i) => HashKey::Int(*i),
            Kind::Bool(b) => HashKey::Int(i64::from(*b)),
            Kind::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => HashKey::Int(*f as i64),
            // NaN never equals itself in Python.
            Kind::Float(f) if f.is_nan() => HashKey::Unique(index),
            Kind::Float(f) => HashKey::FloatBits(f.to_bits()),
            Kind::Null => HashKey::Null,
            Kind::Seq(_) | Kind::Map(_) => HashKey::Unique(index),
        }
    }
}

/// Turn every string inside a node into an unsafe string.
fn make_unsafe(n: &mut Node) {
    match &mut n.kind {
        Kind::Str(s) => n.kind = Kind::Unsafe(std::mem::take(s)),
        Kind::Seq(items) => items.iter_mut().for_each(make_unsafe),
        Kind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            make_unsafe(k);
            make_unsafe(v);
        }),
        _ => {}
    }
}

/// Translate saphyr's wording into PyYAML's where they differ.
fn scan_message(info: &str) -> Cow<'static, str> {
    if info.starts_with("unexpected character") {
        return "found character that cannot start any token".into();
    }
    if info.starts_with("tabs disallowed") || info.contains("tab") {
        return "found a tab character where indentation is expected (tabs cannot be used for indentation in YAML)".into();
    }
    if info.contains("recursion limit exceeded") {
        return "nesting too deep (recursion limit exceeded)".into();
    }
    if info.contains("unknown anchor") {
        return "found undefined alias".into();
    }
    if info.contains("did not find expected ',' or ']'") {
        return "while parsing a flow sequence, did not find expected ',' or ']'".into();
    }
    Cow::Owned(info.to_string())
}

impl<'a> Builder<'a> {
    fn err_at(&self, pos: Pos, message: impl Into<String>) -> YamlError {
        YamlError {
            file: self.file.clone(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }

    fn scan_err(&self, e: &ScanError) -> YamlError {
        let m = e.marker();
        let mut pos = pos_of(*m);
        let info = e.info();
        let message = scan_message(info);
        if info.contains("tab") {
            // Point at the tab itself, as PyYAML does: on the marker's line, else on the
            // first later line indented with a tab (saphyr may stop at the line before).
            if let Some(line) = self.src.lines().nth(m.line().saturating_sub(1))
                && let Some(i) = line.chars().position(|c| c == '\t')
            {
                pos.col = i + 1;
            } else if let Some((n, i)) =
                self.src
                    .lines()
                    .enumerate()
                    .skip(m.line())
                    .find_map(|(n, l)| {
                        let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
                        indent.chars().position(|c| c == '\t').map(|i| (n, i))
                    })
            {
                pos.line = n + 1;
                pos.col = i + 1;
            }
        } else if let Some(d) = self.unknown_directive(m.line()) {
            return d;
        } else if info.contains("quoted scalar, found unexpected end of stream")
            || (info.contains("invalid indentation in quoted scalar") && !self.quote_closes(*m))
        {
            // PyYAML reports the end of the stream, not the opening quote.
            pos = self.end_pos();
            return self.err_at(
                pos,
                format!(
                    "while scanning a quoted scalar (started at line {}, column {}), found unexpected end of stream",
                    m.line(),
                    m.col() + 1
                ),
            );
        }
        self.err_at(pos, message)
    }

    /// libyaml rejects directives other than %YAML and %TAG; saphyr skips them and fails
    /// later. Report the directive, when one comes before the error.
    fn unknown_directive(&self, upto_line: usize) -> Option<YamlError> {
        for (i, line) in self.src.lines().enumerate().take(upto_line) {
            if line.starts_with("---") {
                return None;
            }
            if let Some(rest) = line.strip_prefix('%') {
                let name = rest.split_whitespace().next().unwrap_or("");
                if name != "YAML" && name != "TAG" {
                    return Some(self.err_at(
                        Pos {
                            line: i + 1,
                            col: name.chars().count() + 2,
                        },
                        format!(
                            "while scanning a directive: found unknown directive name '%{name}'"
                        ),
                    ));
                }
            }
        }
        None
    }

    /// Whether the quoted scalar opening at `m` is closed anywhere later in the source.
    fn quote_closes(&self, m: Marker) -> bool {
        let text: String = self.src.chars().skip(m.index()).collect();
        let mut chars = text.chars();
        match chars.next() {
            Some('\'') => chars.as_str().contains('\''),
            Some('"') => {
                let mut esc = false;
                for c in chars {
                    match c {
                        '\\' if !esc => esc = true,
                        '"' if !esc => return true,
                        _ => esc = false,
                    }
                }
                false
            }
            _ => true,
        }
    }

    /// The position just past the end of the source (PyYAML's end-of-stream mark).
    fn end_pos(&self) -> Pos {
        let line = self.src.matches('\n').count() + 1;
        let last = self.src.rsplit('\n').next().unwrap_or("");
        Pos {
            line,
            col: last.chars().count() + 1,
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(self.scan_err(&e)),
            None => Err(self.err_at(self.end_pos(), "unexpected end of stream")),
        }
    }

    fn stream(&mut self) -> Result<Vec<Node>, YamlError> {
        let mut docs = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(docs),
                Event::DocumentStart(_) => {
                    self.anchors.clear();
                    self.anchor_names.clear();
                    self.nodes = 0;
                    let (ev, span) = self.next()?;
                    let (node, _) = self.node(ev, span, 0, Ctx::Normal)?;
                    docs.push(node);
                }
                other => {
                    let msg = format!("unexpected {other:?} outside a document");
                    return Err(self.err_at(pos_of(span.start), msg));
                }
            }
        }
    }

    fn count(&mut self, n: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(self.err_at(
                pos,
                format!(
                    "document expands to more than {} nodes (too many alias expansions: a \"billion laughs\" document?)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    /// The byte offset of saphyr's char index `idx` (scanning on from the last lookup).
    fn byte_offset(&mut self, idx: usize) -> usize {
        let (mut c, mut b) = if idx >= self.cursor.0 {
            self.cursor
        } else {
            (0, 0)
        };
        let mut chars = self.src[b..].chars();
        while c < idx {
            match chars.next() {
                Some(ch) => {
                    c += 1;
                    b += ch.len_utf8();
                }
                None => break,
            }
        }
        self.cursor = (c, b);
        b
    }

    /// saphyr starts a block scalar (`key: |`) at its first content line; PyYAML (and so
    /// Ansible's error origins) at the `|` or `>` indicator.
    fn block_scalar_start(&mut self, start: Marker, pos: Pos) -> Pos {
        let off = self.byte_offset(start.index());
        let before = &self.src[..off];
        let trimmed = before.trim_end_matches([' ', '\t', '\n', '\r']);
        // The indicator line, without a trailing comment, chomping or indentation marks.
        let line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let line = &trimmed[line_start..];
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        let ind = line
            .trim_end()
            .trim_end_matches(['+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
        if !(ind.ends_with('|') || ind.ends_with('>')) {
            return pos;
        }
        let col = ind[..ind.len() - 1].chars().count() + 1;
        let line_no = trimmed[..line_start].matches('\n').count() + 1;
        Pos { line: line_no, col }
    }

    /// saphyr starts an indentless block sequence (`key:\n- a`) at its first item;
    /// PyYAML starts it at the `-`. Move back to the dash when one precedes on the line.
    fn seq_start(&mut self, start: Marker, pos: Pos) -> Pos {
        let off = self.byte_offset(start.index());
        let before = &self.src[..off];
        let trimmed = before.trim_end_matches(' ');
        if trimmed.ends_with('-') && !self.src[off..].starts_with('[') {
            let back = before.len() - trimmed.len() + 1;
            if back < pos.col {
                return Pos {
                    line: pos.line,
                    col: pos.col - back,
                };
            }
        }
        pos
    }

    /// Record the anchor written in a node's properties at `start`; libyaml (which
    /// Ansible uses) rejects an anchor defined twice in one document.
    fn check_anchor(&mut self, start: Marker) -> Result<(), YamlError> {
        let off = self.byte_offset(start.index());
        let mut rest = &self.src[off..];
        // Properties: `&name` and `!tag` in either order, separated by blanks.
        for _ in 0..2 {
            rest = rest.trim_start_matches([' ', '\t', '\n', '\r']);
            if let Some(r) = rest.strip_prefix('&') {
                let end = r
                    .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
                    .unwrap_or(r.len());
                let name = &r[..end];
                let pos = pos_of(start);
                if let Some((_, first)) = self.anchor_names.iter().find(|(n, _)| n == name) {
                    // Point at the second definition, as libyaml does.
                    let col = pos.col + (self.src[off..].len() - rest.len());
                    let first = *first;
                    return Err(self.err_at(
                        Pos { line: pos.line, col },
                        format!(
                            "found duplicate anchor '{name}'; first occurrence at line {}, column {}",
                            first.line, first.col
                        ),
                    ));
                }
                let col = pos.col + (self.src[off..].len() - rest.len());
                self.anchor_names.push((
                    name.to_string(),
                    Pos {
                        line: pos.line,
                        col,
                    },
                ));
                return Ok(());
            }
            if rest.starts_with('!') {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                rest = &rest[end..];
                continue;
            }
            break;
        }
        Ok(())
    }

    fn set_anchor(&mut self, id: usize, value: Option<Anchored>) {
        if id == 0 {
            return;
        }
        if self.anchors.len() <= id {
            self.anchors.resize_with(id + 1, || None);
        }
        self.anchors[id] = value;
    }

    /// Build one node (and everything under it) starting from event `ev`.
    /// Returns the node and its expanded size.
    fn node(
        &mut self,
        ev: Event<'a>,
        span: Span,
        depth: usize,
        ctx: Ctx,
    ) -> Result<(Node, usize), YamlError> {
        let pos = pos_of(span.start);
        if depth > self.limits.max_depth {
            return Err(self.err_at(
                pos,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        match ev {
            Event::Alias(id) => {
                let Some(Some(a)) = self.anchors.get(id) else {
                    return Err(self.err_at(
                        pos,
                        "found a recursive alias (an alias to a node that contains it)",
                    ));
                };
                let size = a.size;
                self.count(size, pos)?;
                // Safe: just checked it exists.
                let mut node = match self.anchors.get(id) {
                    Some(Some(a)) => a.node.clone(),
                    _ => Node {
                        pos,
                        kind: Kind::Null,
                    },
                };
                if ctx == Ctx::Unsafe {
                    make_unsafe(&mut node);
                }
                Ok((node, size))
            }
            Event::Scalar(value, style, anchor, tag) => {
                let pos = if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    self.block_scalar_start(span.start, pos)
                } else {
                    pos
                };
                self.count(1, pos)?;
                if anchor != 0 {
                    self.check_anchor(span.start)?;
                }
                let node = Node {
                    pos,
                    kind: self.scalar(value, style, tag.as_deref(), pos, ctx)?,
                };
                if anchor != 0 {
                    self.set_anchor(
                        anchor,
                        Some(Anchored {
                            node: node.clone(),
                            size: 1,
                        }),
                    );
                }
                Ok((node, 1))
            }
            Event::SequenceStart(anchor, tag) => {
                let pos = self.seq_start(span.start, pos);
                self.count(1, pos)?;
                if anchor != 0 {
                    self.check_anchor(span.start)?;
                }
                let ctx = self.collection_ctx(tag.as_deref(), "seq", pos, ctx)?;
                self.set_anchor(anchor, None);
                let mut items = Vec::new();
                let mut size = 1usize;
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let (item, n) = self.node(ev, span, depth + 1, ctx)?;
                    size = size.saturating_add(n);
                    items.push(item);
                }
                let node = Node {
                    pos,
                    kind: Kind::Seq(items),
                };
                if anchor != 0 {
                    self.set_anchor(
                        anchor,
                        Some(Anchored {
                            node: node.clone(),
                            size,
                        }),
                    );
                }
                Ok((node, size))
            }
            Event::MappingStart(anchor, tag) => {
                self.count(1, pos)?;
                if anchor != 0 {
                    self.check_anchor(span.start)?;
                }
                let set = tag.as_deref().is_some_and(|t| is_core(t, "set"));
                let ctx = self.collection_ctx(tag.as_deref(), "map", pos, ctx)?;
                self.set_anchor(anchor, None);
                let mut size = 1usize;
                let mut raw: Vec<(Node, Node)> = Vec::new();
                let mut merge: Vec<(Node, Node)> = Vec::new();
                let mut has_merge = false;
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let kev = ev;
                    let is_merge =
                        matches!(&kev, Event::Scalar(v, ScalarStyle::Plain, _, None) if v == "<<");
                    let is_value_key =
                        matches!(&kev, Event::Scalar(v, ScalarStyle::Plain, _, None) if v == "=");
                    let (key, kn) = if is_value_key {
                        self.count(1, pos_of(span.start))?;
                        let mut k = Node {
                            pos: pos_of(span.start),
                            kind: Kind::Str("=".into()),
                        };
                        if ctx == Ctx::Unsafe {
                            make_unsafe(&mut k);
                        }
                        (k, 1)
                    } else if is_merge {
                        self.count(1, pos_of(span.start))?;
                        (
                            Node {
                                pos: pos_of(span.start),
                                kind: Kind::Str("<<".into()),
                            },
                            1,
                        )
                    } else {
                        self.node(kev, span, depth + 1, ctx)?
                    };
                    let (vev, vspan) = self.next()?;
                    let (value, vn) = self.node(vev, vspan, depth + 1, ctx)?;
                    size = size.saturating_add(kn).saturating_add(vn);
                    if is_merge {
                        has_merge = true;
                        self.merge_into(&mut merge, value, pos)?;
                        continue;
                    }
                    if matches!(key.kind, Kind::Seq(_) | Kind::Map(_)) {
                        return Err(self.err_at(
                            key.pos,
                            format!(
                                "while constructing a mapping (line {}, column {}): found unhashable key (a {} cannot be a mapping key; quote templates such as \"{{{{ var }}}}\")",
                                pos.line,
                                pos.col,
                                key.type_name()
                            ),
                        ));
                    }
                    raw.push((key, value));
                }
                let entries = if has_merge {
                    merge.append(&mut raw);
                    merge
                } else {
                    raw
                };
                let mut entries = self.dedupe(entries);
                if set {
                    for (_, v) in entries.iter_mut() {
                        v.kind = Kind::Null;
                    }
                }
                let node = Node {
                    pos,
                    kind: Kind::Map(entries),
                };
                if anchor != 0 {
                    self.set_anchor(
                        anchor,
                        Some(Anchored {
                            node: node.clone(),
                            size,
                        }),
                    );
                }
                Ok((node, size))
            }
            other => Err(self.err_at(pos, format!("unexpected {other:?}"))),
        }
    }

    /// PyYAML 6.0.4's flatten_mapping for one `<<` value: a mapping, or a list of
    /// mappings, whose entries are appended in order. PyYAML skips a merged key whose
    /// scalar is the very same Python object as one already merged: the same source node
    /// (an alias used twice), or a one-character string (CPython caches those). Other
    /// repeats stay, so later mappings in a list win for longer keys, as in Ansible.
    fn merge_into(
        &self,
        merge: &mut Vec<(Node, Node)>,
        value: Node,
        map_pos: Pos,
    ) -> Result<(), YamlError> {
        fn push(merge: &mut Vec<(Node, Node)>, entries: Vec<(Node, Node)>) {
            for (k, v) in entries {
                let same = merge.iter().any(|(mk, _)| {
                    key_eq(&mk.kind, &k.kind) && (mk.pos == k.pos || (one_char(mk) && one_char(&k)))
                });
                if !same {
                    merge.push((k, v));
                }
            }
        }
        match value.kind {
            Kind::Map(entries) => push(merge, entries),
            Kind::Seq(items) => {
                let mut subs = Vec::with_capacity(items.len());
                for item in items {
                    match item.kind {
                        Kind::Map(entries) => subs.push(entries),
                        _ => {
                            return Err(self.err_at(
                                item.pos,
                                format!(
                                    "while constructing a mapping (line {}, column {}): expected a mapping for merging, but found {}",
                                    map_pos.line,
                                    map_pos.col,
                                    node_id(&item.kind)
                                ),
                            ));
                        }
                    }
                }
                for entries in subs {
                    push(merge, entries);
                }
            }
            other => {
                return Err(self.err_at(
                    value.pos,
                    format!(
                        "while constructing a mapping (line {}, column {}): expected a mapping or list of mappings for merging, but found {}",
                        map_pos.line,
                        map_pos.col,
                        node_id(&other)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Python dict semantics: a repeated key keeps its first position and takes the last
    /// value. Each repeat is warned about, as Ansible does.
    fn dedupe(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let n = entries.len();
        if n <= 16
            && !(1..n).any(|i| (0..i).any(|j| key_eq(&entries[j].0.kind, &entries[i].0.kind)))
        {
            // The common case: a small map without repeats, checked without allocating.
            return entries;
        }
        // For each entry, the earlier entry whose key it repeats (if any).
        let mut first: Vec<Option<usize>> = vec![None; n];
        if n <= 16 {
            // Small maps dominate; a linear scan beats hashing here.
            for i in 1..entries.len() {
                first[i] = (0..i).find(|&j| {
                    first[j].is_none() && key_eq(&entries[j].0.kind, &entries[i].0.kind)
                });
            }
        } else {
            let mut seen: HashMap<HashKey<'_>, usize> = HashMap::with_capacity(entries.len());
            for (i, (k, _)) in entries.iter().enumerate() {
                match seen.entry(HashKey::of(&k.kind, i)) {
                    std::collections::hash_map::Entry::Occupied(o) => first[i] = Some(*o.get()),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(i);
                    }
                }
            }
        }
        if first.iter().all(Option::is_none) {
            return entries;
        }
        // Entry index -> its index in the output.
        let mut slot_of: Vec<usize> = vec![0; entries.len()];
        let mut out: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
        for (i, (k, v)) in entries.into_iter().enumerate() {
            match first[i] {
                Some(j) => {
                    self.warnings.push(YamlWarning {
                        file: self.file.clone(),
                        line: k.pos.line,
                        col: k.pos.col,
                        message: format!("Found duplicate mapping key {}.", py_repr(&k)),
                    });
                    let slot = slot_of[j];
                    slot_of[i] = slot;
                    if let Some(e) = out.get_mut(slot) {
                        e.1 = v;
                    }
                }
                None => {
                    slot_of[i] = out.len();
                    out.push((k, v));
                }
            }
        }
        out
    }

    /// Check a collection's tag; returns the context for its children.
    fn collection_ctx(
        &self,
        tag: Option<&Tag>,
        want: &str,
        pos: Pos,
        ctx: Ctx,
    ) -> Result<Ctx, YamlError> {
        let Some(tag) = tag else { return Ok(ctx) };
        if tag.handle == "!" && tag.suffix == "unsafe" {
            return Ok(Ctx::Unsafe);
        }
        if tag.handle.is_empty() && tag.suffix == "!" {
            return Ok(ctx);
        }
        if tag.handle == "tag:yaml.org,2002:" {
            let ok = match want {
                "seq" => tag.suffix == "seq",
                _ => matches!(tag.suffix.as_str(), "map" | "set"),
            };
            if ok {
                return Ok(ctx);
            }
            let found = if want == "seq" { "sequence" } else { "mapping" };
            if matches!(
                tag.suffix.as_str(),
                "str" | "int" | "float" | "bool" | "null" | "timestamp" | "binary"
            ) {
                return Err(self.err_at(
                    pos,
                    format!("expected a scalar node for the tag '{tag}', but found {found}"),
                ));
            }
            if matches!(tag.suffix.as_str(), "map" | "seq" | "set") {
                return Err(self.err_at(
                    pos,
                    format!(
                        "expected a {} node for the tag '{tag}', but found {found}",
                        tag.suffix
                    ),
                ));
            }
        }
        if tag.handle == "!" && tag.suffix == "vault" {
            return Err(self.err_at(pos, "the '!vault' tag requires a string value"));
        }
        Err(self.err_at(
            pos,
            format!("could not determine a constructor for the tag '{tag}'"),
        ))
    }

    fn scalar(
        &self,
        value: Cow<'a, str>,
        style: ScalarStyle,
        tag: Option<&Tag>,
        pos: Pos,
        ctx: Ctx,
    ) -> Result<Kind, YamlError> {
        let plain = style == ScalarStyle::Plain;
        let Some(tag) = tag else {
            return self.implicit(value, plain, pos, ctx);
        };
        if tag.handle == "!" {
            match tag.suffix.as_str() {
                // Ansible re-resolves the tagged scalar as if it were plain.
                "unsafe" => return self.implicit(value, true, pos, Ctx::Unsafe),
                "vault" | "vault-encrypted" => {
                    return match self.implicit(value, true, pos, ctx)? {
                        Kind::Str(s) | Kind::Unsafe(s) => Ok(Kind::Vault(s)),
                        _ => Err(self.err_at(
                            pos,
                            format!("the '!{}' tag requires a string value", tag.suffix),
                        )),
                    };
                }
                _ => {}
            }
        }
        if tag.handle.is_empty() && tag.suffix == "!" {
            // `!` is the non-specific tag: resolved exactly as if untagged.
            return self.implicit(value, plain, pos, ctx);
        }
        if tag.handle == "tag:yaml.org,2002:" {
            let bad = |what: &str| {
                self.err_at(
                    pos,
                    format!("could not convert the value {value:?} for the tag '{tag}' ({what})"),
                )
            };
            return match tag.suffix.as_str() {
                "str" | "timestamp" => Ok(str_kind(value, ctx)),
                "null" => Ok(Kind::Null),
                "bool" => construct_bool(&value)
                    .map(Kind::Bool)
                    .ok_or_else(|| bad("not a boolean")),
                "int" => match construct_int(&value) {
                    Some(Some(i)) => Ok(Kind::Int(i)),
                    Some(None) => Err(bad("integer out of range")),
                    None => Err(bad("not an integer")),
                },
                "float" => construct_float(&value)
                    .map(Kind::Float)
                    .ok_or_else(|| bad("not a number")),
                "map" | "seq" | "set" => Err(self.err_at(
                    pos,
                    format!(
                        "expected a {} node for the tag '{tag}', but found scalar",
                        tag.suffix
                    ),
                )),
                _ => Err(self.err_at(
                    pos,
                    format!("could not determine a constructor for the tag '{tag}'"),
                )),
            };
        }
        Err(self.err_at(
            pos,
            format!("could not determine a constructor for the tag '{tag}'"),
        ))
    }

    fn implicit(
        &self,
        value: Cow<'a, str>,
        plain: bool,
        pos: Pos,
        ctx: Ctx,
    ) -> Result<Kind, YamlError> {
        if !plain {
            return Ok(str_kind(value, ctx));
        }
        match resolve_plain(&value) {
            Plain::Kind(k) => Ok(k),
            Plain::Str => Ok(str_kind(value, ctx)),
            Plain::Merge => Err(self.err_at(
                pos,
                "could not determine a constructor for the tag 'tag:yaml.org,2002:merge' (a plain '<<' is only meaningful as a mapping key)",
            )),
            Plain::Value => Err(self.err_at(
                pos,
                "could not determine a constructor for the tag 'tag:yaml.org,2002:value' (quote a lone '=')",
            )),
        }
    }
}

fn str_kind(value: Cow<'_, str>, ctx: Ctx) -> Kind {
    match ctx {
        Ctx::Normal => Kind::Str(value.into_owned()),
        Ctx::Unsafe => Kind::Unsafe(value.into_owned()),
    }
}

fn node_id(k: &Kind) -> &'static str {
    match k {
        Kind::Seq(_) => "sequence",
        Kind::Map(_) => "mapping",
        _ => "scalar",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_collection_closing_at_column_zero_parses_as_in_pyyaml() {
        let src = "a: {\n  \"x\": [\n 1,\n2\n],\n\"y\": \"z, {\"\n}\nb: [1,\n2]\n";
        let docs = parse_all(src, Path::new("t.yml"), Limits::default()).expect("parses");
        assert_eq!(
            format!("{:?}", docs[0].to_value()),
            "{'a': {'x': [1, 2], 'y': 'z, {'}, 'b': [1, 2]}"
        );
        // Bad block indentation stays an error.
        assert!(parse_all("a:\n  b: 1\n c: 2\n", Path::new("t.yml"), Limits::default()).is_err());
        assert_eq!(flow_depth_before("a: {\n  b: [1,\n", 3), 2);
        assert_eq!(flow_depth_before("a: b[1\n# {\nc: '{'\n", 4), 0);
    }

    #[test]
    fn block_scalars_start_at_their_indicator() {
        let n = p("a: |\n  x\nb: >- # note\n  y\n");
        assert_eq!(n.get("a").map(|v| v.pos), Some(Pos { line: 1, col: 4 }));
        assert_eq!(n.get("b").map(|v| v.pos), Some(Pos { line: 3, col: 4 }));
    }

    fn p(src: &str) -> Node {
        match parse_one(src, Path::new("t.yml")) {
            Ok(Some(n)) => n,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn perr(src: &str) -> YamlError {
        match parse_all(src, Path::new("t.yml"), Limits::default()) {
            Err(e) => e,
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }

    #[test]
    fn scalars_resolve_like_pyyaml() {
        let n = p("a: yes\nb: 'yes'\nc: 0644\nd: 1e3\ne: 1:30\nf: ~\ng:\nh: y\n");
        let m = n.as_map().unwrap_or_default();
        let kinds: Vec<&Kind> = m.iter().map(|(_, v)| &v.kind).collect();
        assert_eq!(
            kinds,
            vec![
                &Kind::Bool(true),
                &Kind::Str("yes".into()),
                &Kind::Int(420),
                &Kind::Str("1e3".into()),
                &Kind::Int(90),
                &Kind::Null,
                &Kind::Null,
                &Kind::Str("y".into()),
            ]
        );
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("- name: x\n  debug:\n    msg: hi\n");
        assert_eq!(n.pos, Pos { line: 1, col: 1 });
        let task = &n.as_seq().unwrap_or_default()[0];
        assert_eq!(task.pos, Pos { line: 1, col: 3 });
        let msg = task.get("debug").and_then(|d| d.get("msg"));
        assert_eq!(msg.map(|m| m.pos), Some(Pos { line: 3, col: 10 }));
        let n = p("key:\n- a\n- [b]\nk2:\n  -   c\n");
        assert_eq!(n.get("key").map(|s| s.pos), Some(Pos { line: 2, col: 1 }));
        let inner = n.get("key").and_then(|s| s.as_seq()).map(|s| s[1].pos);
        assert_eq!(inner, Some(Pos { line: 3, col: 3 }));
        assert_eq!(n.get("k2").map(|s| s.pos), Some(Pos { line: 5, col: 3 }));
    }

    #[test]
    fn merge_keys_and_duplicates() {
        let src =
            "b: &b {x: 1, y: 2}\nc: &c {y: 5, z: 6}\nm:\n  <<: [*b, *c]\n  x: 3\n  k: 1\n  k: 2\n";
        let (docs, warnings) =
            parse_all_with_warnings(src, Path::new("t.yml"), Limits::default()).unwrap_or_default();
        let m = docs[0].get("m").map(Node::to_value).map(|v| v.to_string());
        assert_eq!(m.as_deref(), Some("{'x': 3, 'y': 2, 'z': 6, 'k': 2}"));
        let msgs: Vec<String> = warnings
            .iter()
            .map(|w| format!("{}:{} {}", w.line, w.col, w.message))
            .collect();
        assert_eq!(
            msgs,
            vec![
                "5:3 Found duplicate mapping key 'x'.",
                "7:3 Found duplicate mapping key 'k'."
            ]
        );
    }

    #[test]
    fn unsafe_and_vault_tags() {
        let n = p(
            "a: !unsafe '{{ x }}'\nb: !unsafe 12\nc: !unsafe [x, {y: z}]\nd: !vault |\n  $ANSIBLE\n",
        );
        assert_eq!(
            n.get("a").map(|x| &x.kind),
            Some(&Kind::Unsafe("{{ x }}".into()))
        );
        assert_eq!(n.get("b").map(|x| &x.kind), Some(&Kind::Int(12)));
        let c = n
            .get("c")
            .map(|c| format!("{:?}", c.kind))
            .unwrap_or_default();
        assert!(
            c.contains("Unsafe(\"x\")") && c.contains("Unsafe(\"z\")"),
            "{c}"
        );
        assert_eq!(
            n.get("d").map(|x| &x.kind),
            Some(&Kind::Vault("$ANSIBLE\n".into()))
        );
    }

    #[test]
    fn duplicates_in_large_maps() {
        let mut src: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        src.push_str("k3: again\n1: a\ntrue: b\n");
        let (docs, warnings) = parse_all_with_warnings(&src, Path::new("t.yml"), Limits::default())
            .unwrap_or_default();
        let m = docs[0].as_map().unwrap_or_default();
        assert_eq!(m.len(), 41);
        assert_eq!(m[3].1.kind, Kind::Str("again".into()));
        assert_eq!(m[40].1.kind, Kind::Str("b".into()));
        assert_eq!(warnings.len(), 2);
        assert_eq!(warnings[1].message, "Found duplicate mapping key True.");
    }

    #[test]
    fn billion_laughs_fails_fast() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = perr(&src);
        assert!(e.message.contains("billion laughs"), "{e}");
    }

    #[test]
    fn depth_limit() {
        let src = "[".repeat(300) + &"]".repeat(300);
        let e = perr(&src);
        assert!(e.message.contains("nesting"), "{e}");
    }

    #[test]
    fn errors_carry_positions() {
        let e = perr("a:\n\tb: 1\n");
        assert_eq!((e.line, e.col), (2, 1), "{e}");
        let e = perr("a: @x\n");
        assert_eq!((e.line, e.col), (1, 4));
        assert!(e.message.contains("cannot start any token"));
        let e = perr("key: {{ foo }}\n");
        assert!(e.message.contains("unhashable"), "{e}");
        let e = perr("a: !foo x\n");
        assert!(e.message.contains("'!foo'"), "{e}");
        assert!(e.to_string().starts_with("t.yml:1:4: "), "{e}");
    }

    #[test]
    fn empty_streams() {
        assert_eq!(parse_one("", Path::new("x")).ok(), Some(None));
        assert_eq!(
            parse_one("# only a comment\n", Path::new("x")).ok(),
            Some(None)
        );
        assert!(parse_one("a: 1\n---\nb: 2\n", Path::new("x")).is_err());
    }
}
