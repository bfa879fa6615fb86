//! A YAML writer that produces byte-for-byte what Ansible's `to_yaml` / `to_nice_yaml`
//! produce: PyYAML's SafeRepresenter choosing node styles, and libyaml's emitter (which
//! Ansible's `AnsibleDumper` uses) laying them out: scalar style selection, quoting,
//! escapes, folding at the line width, indentation and flow collections.

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::resolve::plain_reads_as_str;

/// Python's `repr()` of a float (`1.0`, `1e+16`, `1e-05`, `inf`, `nan`).
pub(crate) use agent_py::float_repr as py_float_repr;

/// How to emit: `to_yaml` is PyYAML's default flow style; `to_nice_yaml` is block
/// style with `indent` 4. PyYAML sorts mapping keys unless `sort_keys=False`.
#[derive(Debug, Clone)]
pub struct EmitOptions {
    pub indent: usize,
    /// `default_flow_style=None` (to_yaml) versus `False` (to_nice_yaml).
    pub nice: bool,
    pub sort_keys: bool,
    pub width: usize,
    pub explicit_start: bool,
    /// `default_flow_style=True`: every collection in flow style (overrides `nice`).
    pub all_flow: bool,
    /// `vault_behavior='keep_encrypted'`: decrypted vault values are written as their
    /// ciphertext (`!vault |`), as Ansible's dumper writes them.
    pub keep_vault: bool,
}

impl Default for EmitOptions {
    /// `to_yaml`'s settings.
    fn default() -> Self {
        EmitOptions {
            indent: 2,
            nice: false,
            sort_keys: true,
            width: 80,
            explicit_start: false,
            all_flow: false,
            keep_vault: false,
        }
    }
}

impl EmitOptions {
    /// `to_nice_yaml`'s settings (indent 4, block style, sorted keys).
    pub fn nice() -> Self {
        EmitOptions {
            indent: 4,
            nice: true,
            ..EmitOptions::default()
        }
    }
}

/// Write a value as `yaml.dump(value, Dumper=AnsibleDumper, allow_unicode=True, ...)`.
pub fn emit(value: &Value, opts: &EmitOptions) -> String {
    let tree = represent(value, opts);
    let best_indent = if (2..=9).contains(&opts.indent) {
        opts.indent
    } else {
        2
    };
    let best_width = if opts.width <= 2 * best_indent {
        80
    } else {
        opts.width
    };
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
        indents: Vec::new(),
        flow_level: 0,
        best_indent: best_indent as isize,
        best_width,
    };
    if opts.explicit_start {
        e.write_indent();
        e.write_indicator("---", true, false, false);
    }
    e.node(&tree, Ctx::Root);
    // Document end: a final line break.
    e.write_indent();
    e.out
}

/// A represented node: scalars carry their text and whether it may be written plain
/// (it would read back as the same type); collections their chosen flow style.
enum Repr {
    Scalar {
        text: String,
        plain_implicit: bool,
    },
    Seq {
        items: Vec<Repr>,
        flow: bool,
    },
    Map {
        pairs: Vec<(Repr, Repr)>,
        flow: bool,
    },
    /// A vault value kept encrypted: `!vault |` and the ciphertext's lines (a styled
    /// scalar: its collection is not written in flow style).
    Vault(String),
}

impl Repr {
    fn is_scalar(&self) -> bool {
        matches!(self, Repr::Scalar { .. })
    }
}

/// PyYAML SafeRepresenter: values to nodes, with `default_flow_style` deciding flow
/// (None: flow when every child is a scalar; False: never).
fn represent(v: &Value, opts: &EmitOptions) -> Repr {
    let scalar = |text: String| Repr::Scalar {
        text,
        plain_implicit: true,
    };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => scalar("null".into()),
        ValueKind::Bool => scalar(if v.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number => {
            if v.is_integer() {
                scalar(v.to_string())
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                scalar(represent_float(f))
            }
        }
        ValueKind::Bytes => {
            let text = String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned();
            Repr::Scalar {
                plain_implicit: plain_reads_as_str(&text),
                text,
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Repr> = v
                .try_iter()
                .map(|it| it.map(|x| represent(&x, opts)).collect())
                .unwrap_or_default();
            let flow = opts.all_flow || (!opts.nice && items.iter().all(Repr::is_scalar));
            Repr::Seq { items, flow }
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter().map(|it| it.collect()).unwrap_or_default();
            if opts.sort_keys {
                sort_keys_like_python(&mut keys);
            }
            let pairs: Vec<(Repr, Repr)> = keys
                .iter()
                .map(|k| {
                    let val = v.get_item(k).unwrap_or_default();
                    (represent(k, opts), represent(&val, opts))
                })
                .collect();
            let flow = opts.all_flow
                || (!opts.nice && pairs.iter().all(|(k, x)| k.is_scalar() && x.is_scalar()));
            Repr::Map { pairs, flow }
        }
        _ if opts.keep_vault && crate::vault::ciphertext_of(v).is_some() => Repr::Vault(
            crate::vault::ciphertext_of(v)
                .unwrap_or_default()
                .to_string(),
        ),
        _ => {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            Repr::Scalar {
                plain_implicit: plain_reads_as_str(&text),
                text,
            }
        }
    }
}

/// `sorted(mapping.items())`: strings by code point, numbers numerically; mixed types
/// cannot be compared in Python, so PyYAML keeps insertion order then.
fn sort_keys_like_python(keys: &mut [Value]) {
    if keys.iter().all(|k| k.kind() == ValueKind::String) {
        keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    } else if keys
        .iter()
        .all(|k| matches!(k.kind(), ValueKind::Number | ValueKind::Bool))
    {
        let num = |k: &Value| match k.kind() {
            ValueKind::Bool => f64::from(u8::from(k.is_true())),
            _ => f64::try_from(k.clone()).unwrap_or(f64::NAN),
        };
        keys.sort_by(|a, b| num(a).total_cmp(&num(b)));
    }
}

/// SafeRepresenter.represent_float.
fn represent_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let r = py_float_repr(f).to_lowercase();
    if !r.contains('.') && r.contains('e') {
        r.replacen('e', ".0e", 1)
    } else {
        r
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Seq,
    Map,
    SimpleKey,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

/// libyaml's yaml_emitter_analyze_scalar result.
struct Analysis {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => matches!(c, ' ' | '\t' | '\0') || is_break(c),
    }
}

/// libyaml's IS_PRINTABLE.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut block_ind, mut flow_ind) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                flow_ind = true;
                block_ind = true;
            }
            if c == '?' || c == ':' {
                flow_ind = true;
                if followed_by_ws {
                    block_ind = true;
                }
            }
            if c == '-' && followed_by_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(c) {
                flow_ind = true;
            }
            if c == ':' {
                flow_ind = true;
                if followed_by_ws {
                    block_ind = true;
                }
            }
            if c == '#' && preceded_by_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = is_blankz(Some(c));
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_ind {
        a.flow_plain_allowed = false;
    }
    if block_ind {
        a.block_plain_allowed = false;
    }
    a
}

/// The libyaml emitter state that matters for layout.
struct Emitter {
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: isize,
    indents: Vec<isize>,
    flow_level: usize,
    best_indent: isize,
    best_width: usize,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(ind);
        self.column += ind.chars().count();
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            self.indent += self.best_indent;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn node(&mut self, n: &Repr, ctx: Ctx) {
        match n {
            Repr::Scalar {
                text,
                plain_implicit,
            } => self.scalar(text, *plain_implicit, ctx),
            Repr::Seq { items, flow } => {
                if self.flow_level > 0 || *flow || items.is_empty() {
                    self.flow_seq(items);
                } else {
                    self.block_seq(items, ctx);
                }
            }
            Repr::Map { pairs, flow } => {
                if self.flow_level > 0 || *flow || pairs.is_empty() {
                    self.flow_map(pairs);
                } else {
                    self.block_map(pairs);
                }
            }
            Repr::Vault(ciphertext) => self.vault(ciphertext),
        }
    }

    /// `!vault |` and the ciphertext as a literal block (in a flow collection, which a
    /// block cannot be in, as a double-quoted scalar).
    fn vault(&mut self, ciphertext: &str) {
        self.write_indicator("!vault", true, false, false);
        self.increase_indent(true, false);
        if self.flow_level > 0 {
            self.write_double(ciphertext, true);
        } else {
            let text = ciphertext.trim_end_matches('\n');
            self.write_indicator("|", true, false, false);
            self.put_break();
            self.indention = true;
            self.whitespace = true;
            for line in text.split('\n') {
                self.write_indent();
                for c in line.chars() {
                    self.put(c);
                }
                self.indention = false;
                self.put_break();
                self.indention = true;
                self.whitespace = true;
            }
        }
        self.pop_indent();
    }

    /// libyaml's yaml_emitter_check_simple_key.
    fn simple_key(n: &Repr) -> bool {
        match n {
            Repr::Scalar { text, .. } => text.len() <= 128 && !analyze(text).multiline,
            Repr::Seq { items, .. } => items.is_empty(),
            Repr::Map { pairs, .. } => pairs.is_empty(),
            Repr::Vault(_) => false,
        }
    }

    fn block_seq(&mut self, items: &[Repr], ctx: Ctx) {
        let indentless = ctx == Ctx::Map && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Ctx::Seq);
        }
        self.pop_indent();
    }

    fn block_map(&mut self, pairs: &[(Repr, Repr)]) {
        self.increase_indent(false, false);
        for (k, v) in pairs {
            self.write_indent();
            if Self::simple_key(k) {
                self.node(k, Ctx::SimpleKey);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.node(k, Ctx::Map);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.node(v, Ctx::Map);
        }
        self.pop_indent();
    }

    fn flow_seq(&mut self, items: &[Repr]) {
        self.write_indicator("[", true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            self.node(item, Ctx::Seq);
        }
        self.flow_level -= 1;
        self.pop_indent();
        self.write_indicator("]", false, false, false);
    }

    fn flow_map(&mut self, pairs: &[(Repr, Repr)]) {
        self.write_indicator("{", true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            if Self::simple_key(k) {
                self.node(k, Ctx::SimpleKey);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.node(k, Ctx::Map);
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.node(v, Ctx::Map);
        }
        self.flow_level -= 1;
        self.pop_indent();
        self.write_indicator("}", false, false, false);
    }

    /// yaml_emitter_select_scalar_style, then the writer for that style.
    fn scalar(&mut self, text: &str, plain_implicit: bool, ctx: Ctx) {
        let a = analyze(text);
        let simple_key = ctx == Ctx::SimpleKey;
        let mut style = Style::Plain;
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            let flow = self.flow_level > 0;
            if (flow && !a.flow_plain_allowed) || (!flow && !a.block_plain_allowed) {
                style = Style::Single;
            }
            if text.is_empty() && (flow || simple_key) {
                style = Style::Single;
            }
            if !plain_implicit {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.write_plain(text, allow_breaks),
            Style::Single => self.write_single(text, allow_breaks),
            Style::Double => self.write_double(text, allow_breaks),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, text: &str, allow_breaks: bool) {
        if !self.whitespace && (!text.is_empty() || self.flow_level > 0) {
            self.put(' ');
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_single(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i != 0
                    && i != n - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let code = c as u32;
                let short = match code {
                    0x00 => Some('0'),
                    0x07 => Some('a'),
                    0x08 => Some('b'),
                    0x09 => Some('t'),
                    0x0A => Some('n'),
                    0x0B => Some('v'),
                    0x0C => Some('f'),
                    0x0D => Some('r'),
                    0x1B => Some('e'),
                    0x22 => Some('"'),
                    0x5C => Some('\\'),
                    0x85 => Some('N'),
                    0xA0 => Some('_'),
                    0x2028 => Some('L'),
                    0x2029 => Some('P'),
                    _ => None,
                };
                match short {
                    Some(e) => self.put(e),
                    None => {
                        let esc = if code <= 0xFF {
                            format!("x{code:02X}")
                        } else if code <= 0xFFFF {
                            format!("u{code:04X}")
                        } else {
                            format!("U{code:08X}")
                        };
                        self.out.push_str(&esc);
                        self.column += esc.len();
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > self.best_width && i != 0 && i != n - 1
                {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(v: Value) -> String {
        emit(&v, &EmitOptions::default())
    }

    fn nice(v: Value) -> String {
        emit(&v, &EmitOptions::nice())
    }

    /// `vault_behavior='keep_encrypted'`, as ansible-core's filter_core target records
    /// it: a vault value is `!vault |` and its ciphertext, and its mapping is in block
    /// style.
    #[test]
    fn vault_values_kept_encrypted() {
        let cipher = "$ANSIBLE_VAULT;1.1;AES256\n6566\n3530\n";
        // A string value as Vaulted::plain makes it (not inlined: copies share its text).
        let plain = Value::from_safe_string("1234567\n".to_string());
        crate::vault::note_decrypted(&plain, cipher);
        let keep = EmitOptions {
            keep_vault: true,
            ..EmitOptions::default()
        };
        let block = "!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6566\n  3530\n";
        assert_eq!(emit(&plain, &keep), block);
        let m = Value::from(std::collections::BTreeMap::from([
            ("a", plain.clone()),
            ("b", plain.clone()),
        ]));
        let nested = "!vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6566\n    3530\n";
        assert_eq!(emit(&m, &keep), format!("a: {block}b: {block}"),);
        let outer = Value::from(std::collections::BTreeMap::from([("x", m.clone())]));
        assert_eq!(
            emit(&outer, &keep),
            format!("x:\n  a: {nested}  b: {nested}"),
        );
        // Without the option, the plain text.
        assert_eq!(y(m), "{a: '1234567\n\n    ', b: '1234567\n\n    '}\n");
    }

    #[test]
    fn scalars() {
        assert_eq!(y(Value::from("x")), "x\n");
        assert_eq!(y(Value::from("yes")), "'yes'\n");
        assert_eq!(y(Value::from("")), "''\n");
        assert_eq!(y(Value::from(1)), "1\n");
        assert_eq!(y(Value::from(())), "null\n");
        assert_eq!(y(Value::from(1.5)), "1.5\n");
        assert_eq!(y(Value::from(1e16)), "1.0e+16\n");
        assert_eq!(y(Value::from("a\nb")), "'a\n\n  b'\n");
        assert_eq!(y(Value::from("\tx")), "\"\\tx\"\n");
    }

    #[test]
    fn collections() {
        let m = Value::from(
            [("b", Value::from(1)), ("a", Value::from(vec![1, 2]))]
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect::<indexmap::IndexMap<Value, Value>>(),
        );
        assert_eq!(y(m.clone()), "a: [1, 2]\nb: 1\n");
        assert_eq!(nice(m), "a:\n- 1\n- 2\nb: 1\n");
        let nested = Value::from(vec![Value::from(vec![1, 2]), Value::from(vec![3])]);
        assert_eq!(y(nested.clone()), "- [1, 2]\n- [3]\n");
        assert_eq!(nice(nested), "-   - 1\n    - 2\n-   - 3\n");
        assert_eq!(y(Value::from(Vec::<i32>::new())), "[]\n");
    }

    #[test]
    fn all_flow_and_explicit_start() {
        let v = Value::from(vec![Value::from(vec![1]), Value::from("a b")]);
        let o = EmitOptions {
            all_flow: true,
            explicit_start: true,
            ..EmitOptions::default()
        };
        assert_eq!(emit(&v, &o), "--- [[1], a b]\n");
    }

    #[test]
    fn float_repr() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (123456789.125, "123456789.125"),
            (-2.5, "-2.5"),
            (1e-4, "0.0001"),
        ] {
            assert_eq!(py_float_repr(f), s);
        }
    }
}
