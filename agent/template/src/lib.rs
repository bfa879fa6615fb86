//! Jinja2 as Ansible renders it, on minijinja.
//!
//! [`Templar`] is the one entry point the engine and modules use. It owns a minijinja
//! environment set up the way Ansible sets up Jinja2 (undefined is an error, no
//! autoescape, `trim_blocks` for template files, Python method compatibility) with
//! Ansible's filters, tests and lookups registered.
//!
//! Variables are passed as a [`Vars`] context: layers of raw values (highest precedence
//! first). A raw value that holds a template is rendered only when it is used, and may
//! refer to other variables (Ansible's lazy templating). A variable that refers to itself
//! is an error, not a hang.
//!
//! # Limits
//!
//! Every render runs with a fuel budget of [`FUEL`] minijinja instructions (roughly one
//! per operation, plus one per 64 bytes of produced data), so a loop over a huge range or
//! a runaway macro fails quickly instead of hanging; nesting (macros, includes, recursive
//! loops) is limited to [`RECURSION_LIMIT`] levels; lazy variables may nest at most
//! [`vars::MAX_LAZY_DEPTH`] deep, and a self-reference fails at once. `*` may repeat a
//! string or a list to at most [`repeat::MAX_REPEAT_SIZE`] items and characters.
//!
//! # Undefined values
//!
//! As in Ansible: printing an undefined value, using it as a whole template's value, as
//! a condition, in `for`, with an operator or in a typed filter is an error naming it
//! (`'foo' is undefined`, `object of type 'dict' has no attribute 'zz'`), while
//! `is defined`, `default()` and attributes of undefined values followed by them
//! (`foo.bar | default(1)`, `foo.bar is defined`) work (minijinja's strict mode, plus a
//! source rewrite that guards such attribute chains).
//!
//! # String literals and native types
//!
//! Backslashes in string literals are read as Ansible reads them: kept as written inside
//! `{{ }}` of string templates (YAML already processed them), Python escapes in `{% %}`,
//! conditionals and template files. A string template whose only output is one value
//! keeps that value's type (`{% set x = 1 %}{{ x }}` is `1`); one that prints nothing
//! is `None`.

pub mod epoch;
pub mod filters;
pub mod localtime;
pub mod lookups;
pub mod tests;

mod errors;
mod native;
pub mod origin;
mod pymethods;
pub mod repeat;
mod undef;
mod vars;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

pub use minijinja::Value;
use minijinja::value::{Rest, ValueKind};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

pub use native::{py_repr, py_str};
use vars::Scope;

/// Fuel (minijinja instructions) one render may use; see the crate docs.
pub const FUEL: u64 = 20_000_000;
/// Nesting limit for macros, includes and recursive loops.
pub const RECURSION_LIMIT: usize = 200;
/// Bytes one render may print through `{{ }}` (a macro's or `set` block's output counts
/// once inside it and again each time it is printed; literal text is bounded by the fuel):
/// a runaway loop fails with a clear error long before the process runs out of memory.
pub const MAX_PRINTED: usize = 256 << 20;

/// An error from rendering: what failed, and in which template (file or string) and line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// The template file, if the error happened in one.
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// The failure is an undefined variable or attribute (Ansible's
    /// `AnsibleUndefinedVariable`).
    pub undefined: bool,
}

impl TemplateError {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> TemplateError {
        TemplateError {
            message: message.into(),
            file: None,
            line: None,
            undefined: false,
        }
    }
}

/// Where to find files for the `file`/`template` lookups, `first_found` and
/// `{% include %}` (role `templates/`/`files/`, then the playbook directory).
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    pub dirs: Vec<PathBuf>,
}

/// Layers of variables, highest precedence first; see the crate docs.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub layers: Vec<Value>,
}

impl Vars {
    pub fn new(layers: Vec<Value>) -> Vars {
        Vars { layers }
    }
}

/// Per-render options a template file may change (also through a `#jinja2:` header).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileOptions {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub newline_sequence: String,
    pub block_start_string: String,
    pub block_end_string: String,
    pub variable_start_string: String,
    pub variable_end_string: String,
    pub comment_start_string: String,
    pub comment_end_string: String,
    pub output_encoding: String,
    /// Jinja2's `keep_trailing_newline` (only a `#jinja2:` header sets it).
    pub keep_trailing_newline: bool,
    /// Jinja2's line statements and line comments (`#jinja2: line_statement_prefix: "%"`;
    /// empty: off).
    pub line_statement_prefix: String,
    pub line_comment_prefix: String,
    /// The `src` argument as the user wrote it (`template_path`); defaults to the path.
    pub template_path: Option<String>,
    /// The destination (`template_destpath`).
    pub dest_path: Option<String>,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            trim_blocks: true,
            lstrip_blocks: false,
            newline_sequence: "\n".into(),
            block_start_string: "{%".into(),
            block_end_string: "%}".into(),
            variable_start_string: "{{".into(),
            variable_end_string: "}}".into(),
            comment_start_string: "{#".into(),
            comment_end_string: "#}".into(),
            output_encoding: "utf-8".into(),
            keep_trailing_newline: false,
            line_statement_prefix: String::new(),
            line_comment_prefix: String::new(),
            template_path: None,
            dest_path: None,
        }
    }
}

/// Prefix of the loader names of string templates (the rest is the source).
const STR_PREFIX: &str = "\u{1}str:";
/// Prefix of the loader names of single expressions from `{{ }}` in string templates
/// (the rest is the expression; its string literals keep their backslashes).
const EXPR_PREFIX: &str = "\u{1}expr:";
/// Prefix of the loader names of conditionals (string literals read Python escapes).
const COND_PREFIX: &str = "\u{1}cond:";
/// The value of `omit`: a task argument that renders to exactly this is left out.
pub const OMIT: &str = "__omit_place_holder__6f1b0c9a2d4e8b3f7a5c1d9e0b2a4c6e8f1a3b5d";
/// The variable a compiled expression stores its value in.
const RESULT_VAR: &str = "__agent_result";
/// How many compiled strings the environment keeps before it starts afresh: a playbook
/// of 10,000 tasks has as many distinct argument strings, and a compiled template
/// takes about 10 KB (minijinja reserves room for 128 instructions).
const MAX_CACHED_STRINGS: usize = 1000;

struct Inner {
    /// The environment for strings in tasks and vars; compiled templates are cached in
    /// it by source (through its loader), up to [`MAX_CACHED_STRINGS`] of them (see
    /// [`Templar::env`]).
    env: RwLock<Environment<'static>>,
    /// How many templates the loader compiled since the cache was last cleared.
    loaded: Arc<AtomicUsize>,
    /// Which sources are exactly one expression, by source.
    single_expr: Mutex<HashMap<String, Option<String>>>,
    /// Environments of template files that include nothing, with the file compiled in,
    /// by syntax options, name and text (see `file::render`): a role that renders the
    /// same template in many tasks compiles it, and sets up its environment, once.
    file_envs: Mutex<HashMap<file::EnvKey, Arc<Environment<'static>>>>,
}

/// The templating engine. Cheap to clone.
#[derive(Clone)]
pub struct Templar {
    inner: Arc<Inner>,
}

/// The syntax (delimiters and whitespace handling) of templates with these options.
fn syntax_config(opts: &FileOptions) -> Result<minijinja::syntax::SyntaxConfig, TemplateError> {
    minijinja::syntax::SyntaxConfig::builder()
        .block_delimiters(
            opts.block_start_string.clone(),
            opts.block_end_string.clone(),
        )
        .variable_delimiters(
            opts.variable_start_string.clone(),
            opts.variable_end_string.clone(),
        )
        .comment_delimiters(
            opts.comment_start_string.clone(),
            opts.comment_end_string.clone(),
        )
        .trim_blocks(opts.trim_blocks)
        .lstrip_blocks(opts.lstrip_blocks)
        .keep_trailing_newline(opts.keep_trailing_newline)
        .line_statement_prefix(opts.line_statement_prefix.clone())
        .line_comment_prefix(opts.line_comment_prefix.clone())
        .build()
        .map_err(|e| TemplateError::new(format!("invalid template syntax options: {e}")))
}

/// Set up an environment as Ansible sets up Jinja2, with the given syntax options.
/// The filters, tests, functions and settings are registered once per process; each
/// environment starts as a copy of that one (its tables are shared until changed).
fn build_env(opts: &FileOptions) -> Result<Environment<'static>, TemplateError> {
    static BASE: std::sync::LazyLock<Environment<'static>> = std::sync::LazyLock::new(base_env);
    let mut env = BASE.clone();
    env.set_syntax(syntax_config(opts)?);
    Ok(env)
}

/// The environment every template starts from, with the default syntax.
fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    // strict: using an undefined value is an error (printing, iterating, testing its
    // truth, passing it to a filter); attributes of undefined values are handled by
    // rewriting `x.y | default(..)` and `x.y is defined` (see `native`)
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(true);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_formatter(|out, _state, value| {
        if value.is_undefined() {
            // strict mode fails on undefined values before the formatter; what reaches
            // it is the silent undefined of an if-expression without else: it prints
            // nothing but is one of the outputs Jinja2's native concat joins
            OUTPUTS.with(|o| {
                if let Some(top) = o.borrow_mut().last_mut() {
                    top.record(None);
                }
            });
            return Ok(());
        }
        // A `!vault` value that does not decrypt, or a lazy list or dict with a part that
        // fails, fails the render where it is printed (never printed as "").
        if let Some(v) = Vaulted::of(value)
            && let Err(e) = v.plain()
        {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                Vaulted::undecryptable(&e),
            ));
        }
        if vars::lazy_live()
            && matches!(value.kind(), ValueKind::Seq | ValueKind::Map)
            && let Err(e) = vars::materialize(value, 0)
        {
            let kind = if e.undefined {
                minijinja::ErrorKind::UndefinedError
            } else {
                minijinja::ErrorKind::InvalidOperation
            };
            return Err(minijinja::Error::new(kind, e.message));
        }
        let mut s = String::new();
        native::py_str_into(&mut s, value);
        OUTPUTS.with(|o| {
            if let Some(top) = o.borrow_mut().last_mut() {
                top.record(Some(value));
                top.printed = top.printed.saturating_add(s.len());
                if top.printed > MAX_PRINTED {
                    return Err(minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!(
                            "the rendered output is larger than {} MiB (the agent's limit \
                             for one template)",
                            MAX_PRINTED >> 20
                        ),
                    ));
                }
            }
            Ok(())
        })?;
        out.write_str(&s).map_err(minijinja::Error::from)
    });
    env.set_unknown_method_callback(pymethods::call_method);
    // `omit` is a templating global in Ansible 2.19+ (the engine also sets it as a variable)
    env.add_global("omit", OMIT);
    env.add_function("undef", undef::undef);
    // Jinja2's global functions that minijinja keeps in its contrib crate
    env.add_function("joiner", minijinja_contrib::globals::joiner);
    env.add_function("cycler", minijinja_contrib::globals::cycler);
    env.add_function(repeat::MUL_FUNCTION, repeat::mul);
    // ansible-core's internal filter (its tests use it): the origin noted for the value.
    env.add_filter("ansible._protomatter.origin", |v: Value| {
        v.as_str()
            .and_then(origin::of)
            .map_or(Value::from(()), Value::from)
    });
    // ansible-core's internal top-level finalize (its tests use it): the value as plain
    // data, so that groupby's (grouper, list) pairs compare equal to lists.
    env.add_filter("ansible._protomatter.finalize", |v: Value| plain_data(&v));
    // `(expr).a[k] | default(...)` (native.rs rewrites it to this): each step of an
    // undefined value is undefined, as Ansible lets such a chain reach `default`.
    env.add_function("__agent_steps", |base: Value, steps: Rest<Value>| {
        let mut cur = base;
        for step in steps.iter() {
            if cur.is_undefined() {
                return cur;
            }
            let next = match step.as_str() {
                Some(name) => cur.get_attr(name),
                None => cur.get_item(step),
            };
            cur = next.unwrap_or(Value::UNDEFINED);
        }
        cur
    });
    env.add_filter("__agent_percent", |fmt: &str, args: Value| {
        native::percent_format(fmt, &args)
    });
    filters::register(&mut env);
    tests::register(&mut env);
    lookups::register(&mut env);
    env
}

thread_local! {
    /// What the renders in progress on this thread printed through `{{ }}`, innermost
    /// last (see [`OutputFrame`]).
    static OUTPUTS: std::cell::RefCell<Vec<Outputs>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The values one render printed: how many, and the first.
#[derive(Default)]
pub(crate) struct Outputs {
    count: usize,
    first: Option<Value>,
    /// Every value printed after the first was a string equal to the first's text: a
    /// macro (or a `set` block) whose body printed only the first value, its result
    /// printed. Jinja2's native environment joins a macro's output with the same
    /// native concat, so such a macro returns the value itself.
    chain: bool,
    /// The first value's text, made once while the chain holds.
    first_text: Option<String>,
    /// Bytes printed so far (see [`MAX_PRINTED`]).
    printed: usize,
}

impl Outputs {
    /// One value printed (`None`: the silent undefined of an if-expression without else).
    fn record(&mut self, value: Option<&Value>) {
        self.count += 1;
        if self.count == 1 {
            self.first = value.cloned();
            // only a value that is not text can be taken back (see `native`)
            self.chain = value
                .is_some_and(|v| !matches!(v.kind(), ValueKind::String | ValueKind::Undefined));
            return;
        }
        if !self.chain {
            return;
        }
        let Some(s) = value
            .filter(|v| v.kind() == ValueKind::String)
            .and_then(Value::as_str)
        else {
            self.chain = false;
            self.first_text = None;
            return;
        };
        let text = match (&self.first_text, &self.first) {
            (Some(t), _) => t,
            (None, Some(f)) => self.first_text.insert(native::py_str(f)),
            (None, None) => {
                self.chain = false;
                return;
            }
        };
        if text != s {
            self.chain = false;
            self.first_text = None;
        }
    }

    /// Jinja2's native concat of a render whose text is `out`: the one value printed
    /// alone (or through macros that printed only it) keeps its type; `None` when the
    /// text is a string in Ansible too.
    pub(crate) fn native(self, out: &str, allow_chain: bool) -> Option<Value> {
        if self.count == 0 && out.is_empty() {
            return Some(Value::from(()));
        }
        let v = self
            .first
            .filter(|_| self.count == 1 || (allow_chain && self.chain))?;
        (!matches!(v.kind(), ValueKind::String | ValueKind::Undefined)
            && (native::py_str(&v) == out || (v.is_none() && out.is_empty())))
        .then(|| finalize(v))
    }
}

/// Records what one render prints (Jinja2's native concat: a template whose only
/// output is one value keeps that value's type). Nested renders get their own frame;
/// the frame is dropped when the render ends, even on error.
pub(crate) struct OutputFrame(());

impl OutputFrame {
    pub(crate) fn push() -> OutputFrame {
        OUTPUTS.with(|o| o.borrow_mut().push(Outputs::default()));
        OutputFrame(())
    }

    /// What was printed so far in this frame.
    pub(crate) fn take(&self) -> Outputs {
        OUTPUTS.with(|o| {
            o.borrow_mut()
                .last_mut()
                .map(std::mem::take)
                .unwrap_or_default()
        })
    }
}

impl Drop for OutputFrame {
    fn drop(&mut self) {
        OUTPUTS.with(|o| o.borrow_mut().pop());
    }
}

/// Whether a raw value holds a template anywhere (strings marked unsafe never do).
use agent_yaml::vault::Vaulted;

pub(crate) fn needs_templating(v: &Value) -> bool {
    match v.kind() {
        ValueKind::String => !v.is_safe() && v.as_str().is_some_and(Templar::is_template),
        ValueKind::Seq | ValueKind::Map => match plain_container(v) {
            Some(Container::Seq(items)) => items.iter().any(needs_templating),
            Some(Container::Map(map)) => map
                .iter()
                .any(|(k, v)| needs_templating(k) || needs_templating(v)),
            None => false,
        },
        // A `!vault` value is decrypted (or refused) when it leaves the templates.
        ValueKind::Plain => Vaulted::of(v).is_some(),
        _ => false,
    }
}

/// A `!vault` value as it leaves the templates: its plain text (data, never templated),
/// or Ansible's error when no secret opens it.
fn open_vaulted(v: &Vaulted) -> Result<Value, TemplateError> {
    v.plain().map_err(|e| {
        TemplateError::new(format!(
            "Error rendering template: {}",
            Vaulted::undecryptable(&e)
        ))
    })
}

thread_local! {
    /// A `!vault` variable that does not decrypt was read on this thread: filters check
    /// their arguments for one from then on.
    static UNDECRYPTABLE_READ: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) fn note_undecryptable_read() {
    UNDECRYPTABLE_READ.with(|c| c.set(true));
}

/// A filter given a `!vault` value that does not decrypt fails as Ansible's do
/// ("Attempt to use undecryptable variable"); `unvault` opens it itself.
pub(crate) fn reject_vaulted(
    name: &str,
    value: &Value,
    rest: &[minijinja::value::ValueOrKwargs],
) -> Result<(), minijinja::Error> {
    if !UNDECRYPTABLE_READ.with(std::cell::Cell::get) || name.rsplit('.').next() == Some("unvault")
    {
        return Ok(());
    }
    let args = rest.iter().map(|a| &**a);
    for v in std::iter::once(value).chain(args) {
        if holds_vaulted(v, 0)
            && let Err(e) = open_all(v, 0)
        {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                e.message,
            ));
        }
    }
    Ok(())
}

/// `v` with every `!vault` value in it opened ([`open_vaulted`]).
fn open_all(v: &Value, depth: usize) -> Result<Value, TemplateError> {
    if depth > 64 {
        return Ok(v.clone());
    }
    if let Some(vaulted) = Vaulted::of(v) {
        return open_vaulted(&vaulted);
    }
    match plain_container(v) {
        Some(Container::Seq(items)) => items
            .iter()
            .map(|i| open_all(i, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::from),
        Some(Container::Map(map)) => map
            .iter()
            .map(|(k, i)| Ok((k.clone(), open_all(i, depth + 1)?)))
            .collect::<Result<indexmap::IndexMap<Value, Value>, TemplateError>>()
            .map(Value::from_object),
        None => Ok(v.clone()),
    }
}

/// Whether a value holds a `!vault` value (inside lists and dicts too).
pub(crate) fn holds_vaulted(v: &Value, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    match v.kind() {
        ValueKind::Plain => Vaulted::of(v).is_some(),
        ValueKind::Seq | ValueKind::Map => match plain_container(v) {
            Some(Container::Seq(items)) => items.iter().any(|i| holds_vaulted(i, depth + 1)),
            Some(Container::Map(map)) => map.values().any(|i| holds_vaulted(i, depth + 1)),
            None => false,
        },
        _ => false,
    }
}

thread_local! {
    /// See [`Templar::template_value_keeping_undefined`].
    static KEEP_UNDEFINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static TEMPLATED_CONDITIONAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static CONST_TEMPLATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether an expression evaluated on this thread since the last call had a string
/// constant holding a template (`when: x == '{{ y }}'`), which Ansible warns about:
/// "Jinja constant strings should not contain embedded templates."
pub fn take_const_template() -> bool {
    CONST_TEMPLATE.with(|c| c.replace(false))
}

/// The string constants of an expression that hold templates, when every template in the
/// expression is inside one (else `None`). Quotes are Jinja2's: `'…'` or `"…"`, with
/// backslash escapes.
fn const_templates(expr: &str) -> Option<Vec<std::ops::Range<usize>>> {
    if !Templar::is_template(expr) {
        return None;
    }
    let b = expr.as_bytes();
    let mut found = Vec::new();
    let mut outside = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            if i >= b.len() {
                return None;
            }
            i += 1;
            if Templar::is_template(&expr[start + 1..i - 1]) {
                found.push(start..i);
            }
            outside.push(' ');
        } else {
            let ch = expr[i..].chars().next()?;
            outside.push(ch);
            i += ch.len_utf8();
        }
    }
    (!found.is_empty() && !Templar::is_template(&outside)).then_some(found)
}

/// Whether a conditional evaluated on this thread since the last call was wholly a
/// template that gave a value (`when: "{{ flag }}"`), which Ansible deprecates: "Conditionals
/// should not be surrounded by templating delimiters such as {{ }} or {% %}."
pub fn take_templated_conditional() -> bool {
    TEMPLATED_CONDITIONAL.with(|c| c.replace(false))
}

/// Ansible's message for a template or expression that is not trusted.
pub const UNTRUSTED: &str = "Encountered untrusted template or expression.";

/// Ansible's message for a conditional that is (or whose template gives) an empty string.
pub const EMPTY_CONDITIONAL: &str = "Empty conditional expressions are not allowed.";

/// Ansible's `is_possibly_all_template`: a string that starts with a Jinja2 delimiter and
/// ends with one.
pub fn is_possibly_all_template(s: &str) -> bool {
    ["{{", "{%", "{#"].iter().any(|m| s.starts_with(m))
        && ["}}", "%}", "#}"].iter().any(|m| s.ends_with(m))
}

/// Ansible's trust model (2.19+): only strings written in playbooks, roles, inventories and
/// vars files are templates. Whatever a template computes (text it printed, a filter's or
/// a lookup's result, a constant) is data: it is never templated again, and it cannot be
/// a conditional's expression. The agent marks such strings with minijinja's "safe" flag,
/// as it marks registered results and `!unsafe` values. Strings inside lists and dicts are
/// marked too; other objects (hostvars, ranges) are left alone.
pub fn untrusted(v: Value) -> Value {
    match v.kind() {
        ValueKind::String if !v.is_safe() => {
            Value::from_safe_string(v.as_str().unwrap_or_default().to_string())
        }
        ValueKind::Seq | ValueKind::Map if holds_trusted(&v, 0) => match plain_container(&v) {
            Some(Container::Seq(items)) => {
                Value::from(items.iter().cloned().map(untrusted).collect::<Vec<_>>())
            }
            Some(Container::Map(map)) => Value::from_object(
                map.iter()
                    .map(|(k, item)| (untrusted(k.clone()), untrusted(item.clone())))
                    .collect::<indexmap::IndexMap<Value, Value>>(),
            ),
            None => v,
        },
        _ => v,
    }
}

/// Whether a plain list or dict holds a string not yet marked untrusted.
fn holds_trusted(v: &Value, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    match v.kind() {
        ValueKind::String => !v.is_safe(),
        _ => match plain_container(v) {
            Some(Container::Seq(items)) => items.iter().any(|i| holds_trusted(i, depth + 1)),
            Some(Container::Map(map)) => map
                .iter()
                .any(|(k, i)| holds_trusted(k, depth + 1) || holds_trusted(i, depth + 1)),
            None => false,
        },
    }
}

/// Whether an expression only names a variable or a part of one (`a`, `a.b`, `a['b']`,
/// `a[0]`): its value is the variable's own, and keeps its trust (Ansible returns the
/// same object).
fn is_var_path(expr: &str) -> bool {
    let mut e = expr.trim();
    while let Some(inner) = e.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        e = inner.trim();
    }
    let b = e.as_bytes();
    let ident = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && (b[*i] == b'_' || b[*i].is_ascii_alphanumeric()) {
            *i += 1;
        }
        *i > start && !b[start].is_ascii_digit()
    };
    let mut i = 0;
    if !ident(&mut i) || NOT_PLAIN_NAMES.contains(&&e[..i]) {
        return false;
    }
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                if !ident(&mut i) {
                    return false;
                }
            }
            b'[' => {
                i += 1;
                if i < b.len() && (b[i] == b'\'' || b[i] == b'"') {
                    let q = b[i];
                    i += 1;
                    while i < b.len() && b[i] != q && b[i] != b'\\' {
                        i += 1;
                    }
                    if i >= b.len() || b[i] != q {
                        return false;
                    }
                    i += 1;
                } else {
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i == start {
                        return false;
                    }
                }
                if i >= b.len() || b[i] != b']' {
                    return false;
                }
                i += 1;
            }
            _ => return false,
        }
    }
    true
}

enum Container<'a> {
    Seq(&'a [Value]),
    Map(&'a indexmap::IndexMap<Value, Value>),
}

/// Lists and dicts that hold data (from YAML, JSON, set_fact); other objects (engine
/// objects such as hostvars, ranges, macros) are left alone.
/// The item of a plain list (by index; negative counts from the end) or dict (by key).
pub(crate) fn plain_item(v: &Value, key: &Value) -> Option<Value> {
    match plain_container(v)? {
        Container::Map(map) => map.get(key).cloned(),
        Container::Seq(items) => {
            let i = i64::try_from(key.clone()).ok()?;
            let i = if i < 0 { i + items.len() as i64 } else { i };
            usize::try_from(i).ok().and_then(|i| items.get(i)).cloned()
        }
    }
}

/// Whether a value is a plain list or dict ([`plain_container`]).
/// `v` as plain lists and dicts all the way down (sequence-like objects, such as
/// groupby's `(grouper, list)` pairs, become lists).
fn plain_data(v: &Value) -> Value {
    match v.kind() {
        ValueKind::Seq => Value::from(
            v.try_iter()
                .map(|it| it.map(|x| plain_data(&x)).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
        ValueKind::Map => {
            let keys: Vec<Value> = v.try_iter().map(Iterator::collect).unwrap_or_default();
            let map: indexmap::IndexMap<Value, Value> = keys
                .into_iter()
                .map(|k| {
                    let item = v.get_item(&k).unwrap_or_default();
                    (k, plain_data(&item))
                })
                .collect();
            Value::from_object(map)
        }
        _ => v.clone(),
    }
}

pub(crate) fn is_plain_container(v: &Value) -> bool {
    plain_container(v).is_some()
}

fn plain_container(v: &Value) -> Option<Container<'_>> {
    if let Some(seq) = v.downcast_object_ref::<Vec<Value>>() {
        return Some(Container::Seq(seq.as_slice()));
    }
    // A tuple (subelements' pairs) holds values as a list does; what leaves the
    // templates is a list, as Ansible's finalize makes it.
    if let Some(t) = v.downcast_object_ref::<minijinja::value::Tuple>() {
        return Some(Container::Seq(&t[..]));
    }
    v.downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
        .map(Container::Map)
}

/// Count the newlines at the end of a string (`\n`, `\r\n` and `\r` each count once).
fn trailing_newlines(s: &str) -> usize {
    let mut n = 0;
    let mut rest = s;
    loop {
        if let Some(r) = rest.strip_suffix("\r\n") {
            rest = r;
        } else if let Some(r) = rest.strip_suffix('\n').or_else(|| rest.strip_suffix('\r')) {
            rest = r;
        } else {
            return n;
        }
        n += 1;
    }
}

/// The expression inside `{{ expr }}` when the whole source (less one trailing
/// newline) is that one expression.
fn single_expression_candidate(src: &str) -> Option<&str> {
    let s = src.strip_suffix('\n').unwrap_or(src);
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.trim().is_empty() {
        return None;
    }
    Some(inner)
}

/// A piece of a [`simple_template`]: plain text, or `{{ name }}`.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Names that are not variables inside `{{ }}` (literals, operators, and names
/// minijinja treats specially).
const NOT_PLAIN_NAMES: &[&str] = &[
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "loop", "self", "super", "caller", "varargs", "kwargs",
];

/// A string template made only of plain text and `{{ name }}` with plain variable names
/// (`"{{ out }}/d1"`), the most common argument template: such a template is valid and
/// renders to its text with each variable's printed value, so it is rendered without
/// compiling it (on success only; anything else takes the full path). Sources that end
/// in a newline are left to the full path (minijinja's trailing-newline handling).
fn simple_template(s: &str) -> Option<Vec<Piece<'_>>> {
    if s.contains("{%") || s.contains("{#") || s.ends_with('\n') || s.ends_with('\r') {
        return None;
    }
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let name = after[..end].trim_matches(' ');
        let mut chars = name.chars();
        let plain = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !NOT_PLAIN_NAMES.contains(&name);
        if !plain {
            return None;
        }
        pieces.push(Piece::Var(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    pieces
        .iter()
        .any(|p| matches!(p, Piece::Var(_)))
        .then_some(pieces)
}

impl Templar {
    pub fn new() -> Self {
        let env = match build_env(&FileOptions::default()) {
            Ok(env) => env,
            // the default options are valid; an empty environment is a safe fallback
            Err(_) => Environment::new(),
        };
        Templar::with_env(env)
    }

    fn with_env(mut env: Environment<'static>) -> Self {
        let loaded = Arc::new(AtomicUsize::new(0));
        let counter = loaded.clone();
        env.set_loader(move |name| {
            counter.fetch_add(1, Ordering::Relaxed);
            let syntax = |e: String| {
                minijinja::Error::new(
                    minijinja::ErrorKind::SyntaxError,
                    format!("invalid string literal: {e}"),
                )
            };
            if let Some(src) = name.strip_prefix(STR_PREFIX) {
                let src = native::rewrite_literals(
                    src,
                    native::Backslashes::KeepInVariables,
                    &native::Delimiters::default(),
                )
                .map_err(syntax)?;
                let src = native::rewrite_undefined_chains(&src, &native::Delimiters::default());
                let src = rewrite_percent(&src, false);
                check_kwargs(&src)?;
                Ok(Some(guard_repeats(&src).into_owned()))
            } else if let Some((expr, keep)) = name
                .strip_prefix(EXPR_PREFIX)
                .map(|e| (e, true))
                .or_else(|| name.strip_prefix(COND_PREFIX).map(|e| (e, false)))
            {
                let expr = native::rewrite_expr_literals(expr, keep).map_err(syntax)?;
                let expr = native::rewrite_expr_chains(&expr);
                let expr = rewrite_percent(&expr, true);
                let src = format!(
                    "{{% set {RESULT_VAR} = ({expr}\n) %}}{{% if {RESULT_VAR} is undefined %}}{{{{ {RESULT_VAR} }}}}{{% endif %}}"
                );
                check_kwargs(&src)?;
                Ok(Some(match &*STRING_SYNTAX {
                    Some(syntax) => repeat::guard_repeats_owned(src, syntax),
                    None => src,
                }))
            } else {
                Ok(None)
            }
        });
        Templar {
            inner: Arc::new(Inner {
                env: RwLock::new(env),
                loaded,
                single_expr: Mutex::new(HashMap::new()),
                file_envs: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The string environment. When it holds more than [`MAX_CACHED_STRINGS`] compiled
    /// templates and no render is using it, its cache is emptied first.
    fn env(&self) -> RwLockReadGuard<'_, Environment<'static>> {
        if self.inner.loaded.load(Ordering::Relaxed) > MAX_CACHED_STRINGS
            && let Ok(mut env) = self.inner.env.try_write()
        {
            env.clear_templates();
            self.inner.loaded.store(0, Ordering::Relaxed);
        }
        self.inner.env.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A file environment made earlier for this key (see `file::render`).
    fn cached_file_env(&self, key: &file::EnvKey) -> Option<Arc<Environment<'static>>> {
        let cache = self
            .inner
            .file_envs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.get(key).cloned()
    }

    fn cache_file_env(&self, key: file::EnvKey, env: Arc<Environment<'static>>) {
        let mut cache = self
            .inner
            .file_envs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // a bound: runs render few distinct templates, but a loop over generated
        // sources must not grow without limit
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(key, env);
    }

    /// Check that a string template compiles (syntax only; nothing is rendered). The
    /// compiled template is cached, so a later render of the same string is cheaper.
    pub fn check_syntax(&self, s: &str) -> Result<(), TemplateError> {
        if !Templar::is_template(s) || simple_template(s).is_some() {
            return Ok(());
        }
        let src = rewrite_percent(s, false);
        let name = format!("{STR_PREFIX}{src}");
        self.env()
            .get_template(&name)
            .map(|_| ())
            .map_err(|e| TemplateError::new(e.to_string()))
    }

    /// Whether a string would be changed by templating (has `{{`, `{%` or `{#`).
    pub fn is_template(s: &str) -> bool {
        s.contains("{{") || s.contains("{%") || s.contains("{#")
    }

    /// Render a string with native types: a string that is exactly one `{{ expr }}`
    /// keeps the expression's type; anything else is a string. Strings with no
    /// template come back unchanged.
    pub fn render_str(&self, s: &str, vars: &Vars) -> Result<Value, TemplateError> {
        if !Templar::is_template(s) {
            return Ok(Value::from(s));
        }
        begin_render();
        let scope = Scope::new(self, vars);
        let rv = self.render_str_scoped(s, &scope);
        finish(rv, &scope)
    }

    /// Render every string inside a value (lists and dicts recursively), native types.
    pub fn template_value(&self, v: &Value, vars: &Vars) -> Result<Value, TemplateError> {
        if !needs_templating(v) {
            return Ok(v.clone());
        }
        begin_render();
        let scope = Scope::new(self, vars);
        let rv = self.template_value_scoped(v, &scope, true);
        finish(rv, &scope)
    }

    /// [`Templar::template_value`], except that undefined values inside a list or dict
    /// an expression gives stay in it (as Ansible's undefined markers do) instead of
    /// failing the render; first_found leaves them out of its terms.
    pub fn template_value_keeping_undefined(
        &self,
        v: &Value,
        vars: &Vars,
    ) -> Result<Value, TemplateError> {
        let outer = KEEP_UNDEFINED.with(|k| k.replace(true));
        let r = self.template_value(v, vars);
        KEEP_UNDEFINED.with(|k| k.set(outer));
        r
    }

    /// Evaluate a bare Jinja2 expression (`when`, `changed_when`, `failed_when`, `until`).
    /// An expression wrapped in `{{ }}` is rendered first (deprecated in Ansible, but
    /// still accepted).
    pub fn eval_expr(&self, expr: &str, vars: &Vars) -> Result<Value, TemplateError> {
        begin_render();
        let scope = Scope::new(self, vars);
        let rv = self.eval_expr_scoped(expr, &scope);
        finish(rv, &scope)
    }

    /// Evaluate a conditional as Ansible 2.19+ does: the result must be a boolean
    /// (a bare string such as `"false"` is an error, not a truthy value), and an
    /// undefined variable is an error.
    ///
    /// A conditional wholly wrapped in `{{ }}` (deprecated in Ansible) is its expression's
    /// value; when that value is a string, the string is the expression (indirection, as
    /// `when: "{{ check }}"` with `check: "x == 1"`), but only a trusted one: a computed
    /// or registered string fails with [`UNTRUSTED`]. So does a conditional made of several
    /// templates (`{{ a }} == {{ b }}`) whose text comes out as a string.
    pub fn eval_condition(&self, expr: &str, vars: &Vars) -> Result<bool, TemplateError> {
        let cond_err = |e: TemplateError| TemplateError {
            message: format!("Error while evaluating conditional: {}", e.message),
            ..e
        };
        let trimmed = expr.trim();
        let v = if let Some(inner) = self.single_expression(trimmed) {
            // As Ansible's `template()` of the conditional: string constants in it are
            // not rendered (only a bare expression's are).
            let v = {
                begin_render();
                let scope = Scope::new(self, vars);
                let rv = self.eval_native(inner.trim(), &scope, &inner, COND_PREFIX);
                finish(rv, &scope)
            }
            .map_err(cond_err)?;
            let v = if is_var_path(&inner) { v } else { untrusted(v) };
            if v.is_none() {
                return Err(TemplateError::new(EMPTY_CONDITIONAL));
            }
            match v.as_str() {
                Some(s) if s.trim().is_empty() => {
                    return Err(TemplateError::new(EMPTY_CONDITIONAL));
                }
                Some(_) if v.is_safe() => return Err(TemplateError::new(UNTRUSTED)),
                Some(s) => {
                    let s = s.trim().to_string();
                    self.eval_expr(&s, vars).map_err(cond_err)?
                }
                None => {
                    TEMPLATED_CONDITIONAL.with(|c| c.set(true));
                    v
                }
            }
        } else if is_possibly_all_template(trimmed) {
            let v = self.render_str(trimmed, vars).map_err(cond_err)?;
            if v.kind() == ValueKind::String {
                return Err(TemplateError::new(UNTRUSTED));
            }
            TEMPLATED_CONDITIONAL.with(|c| c.set(true));
            v
        } else {
            self.eval_expr(expr, vars).map_err(cond_err)?
        };
        match v.kind() {
            ValueKind::Bool => Ok(v.is_true()),
            _ => Err(TemplateError::new(format!(
                "Conditional result ({}) was derived from value of type '{}' at '{expr}'. \
                 Conditionals must have a boolean result.",
                if v.is_true() { "True" } else { "False" },
                pymethods::py_type_name(&v),
            ))),
        }
    }

    fn eval_expr_scoped(&self, expr: &str, scope: &Arc<Scope>) -> Result<Value, TemplateError> {
        let trimmed = expr.trim();
        // `x == '{{ y }}'`: each string constant that holds a template is rendered on its
        // own and its value takes the constant's place (Ansible 2.19's
        // `_render_jinja_const_template`, deprecated with a warning); the rendered text is
        // never read as part of the expression.
        if let Some(consts) = const_templates(trimmed) {
            CONST_TEMPLATE.with(|c| c.set(true));
            let mut src = trimmed.to_string();
            let mut bound = Vec::with_capacity(consts.len());
            for (i, range) in consts.iter().enumerate().rev() {
                let text = self.eval_native(&trimmed[range.clone()], scope, expr, COND_PREFIX)?;
                let rendered = self.render_str_scoped(text.as_str().unwrap_or_default(), scope)?;
                let name = format!("__agent_const_{i}");
                src.replace_range(range.clone(), &name);
                bound.push((name, rendered));
            }
            let child = scope.with_layer(Value::from_pairs(bound));
            return self.eval_native(&src, &child, expr, COND_PREFIX);
        }
        if Templar::is_template(trimmed) {
            let v = self.render_str_scoped(trimmed, scope)?;
            // The agent renders an expression's embedded templates (`x == "{{ y }}"`)
            // as text first: what it gives is the trusted expression itself.
            return match v.as_str() {
                Some(s) if !s.trim().is_empty() => {
                    self.eval_native(s.trim(), scope, expr, COND_PREFIX)
                }
                _ => Ok(v),
            };
        }
        if trimmed.is_empty() {
            return Err(TemplateError::new("Empty expression"));
        }
        self.eval_native(trimmed, scope, expr, COND_PREFIX)
    }

    /// Evaluate an expression to its value; an undefined result is an error naming it.
    /// `prefix` ([`EXPR_PREFIX`] or [`COND_PREFIX`]) says how string literals are read.
    fn eval_native(
        &self,
        expr: &str,
        scope: &Arc<Scope>,
        source: &str,
        prefix: &str,
    ) -> Result<Value, TemplateError> {
        let name = format!("{prefix}{expr}");
        let env = self.env();
        let tmpl = env
            .get_template(&name)
            .map_err(|e| errors::convert(&e, source, None, Some((self, scope))))?;
        let ctx = Value::from_dyn_object(scope.clone());
        let _frame = OutputFrame::push();
        let captured = tmpl
            .render_captured(ctx)
            .map_err(|e| errors::convert(&e, source, None, Some((self, scope))))?;
        let v = captured.state().lookup(RESULT_VAR).unwrap_or_default();
        if v.is_undefined() {
            if let Some(hint) = undef::take_hint() {
                return Err(TemplateError {
                    message: hint,
                    file: None,
                    line: None,
                    undefined: true,
                });
            }
            // the silent undefined of `a if false` (a strict undefined failed above)
            return Err(TemplateError::new(format!(
                "Error rendering template: Type 'Undefined' is unsupported for variable \
                 storage. (in template: {source:?})"
            )));
        }
        if holds_undefined(&v, 0) && !KEEP_UNDEFINED.with(std::cell::Cell::get) {
            // `[foo]` / `{'a': foo}`: Jinja2 fails when Ansible finalizes the value;
            // minijinja builds the literal. Name the first undefined variable written.
            let name = identifiers(expr).into_iter().find(|n| {
                scope.lookup(n).is_none() && self.inner_env().globals().all(|(g, _)| g != *n)
            });
            let core = match name {
                Some(n) => format!("'{n}' is undefined"),
                None => "an undefined value is part of the result".to_string(),
            };
            return Err(TemplateError {
                message: format!("{core} (in template: {source:?})"),
                file: None,
                line: None,
                undefined: true,
            });
        }
        Ok(v)
    }

    /// Which expression, if any, a source is exactly (cached by source).
    fn single_expression(&self, src: &str) -> Option<String> {
        let mut cache = self
            .inner
            .single_expr
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(src) {
            return hit.clone();
        }
        let found = single_expression_candidate(src).and_then(|inner| {
            let name = format!("{EXPR_PREFIX}{inner}");
            self.env()
                .get_template(&name)
                .ok()
                .map(|_| inner.to_string())
        });
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(src.to_string(), found.clone());
        found
    }

    pub(crate) fn render_str_scoped(
        &self,
        s: &str,
        scope: &Arc<Scope>,
    ) -> Result<Value, TemplateError> {
        if !Templar::is_template(s) {
            return Ok(Value::from(s));
        }
        if let Some(v) = render_simple(s, scope) {
            return Ok(v);
        }
        if let Some(expr) = self.single_expression(s) {
            let v = finalize(self.eval_native(&expr, scope, s, EXPR_PREFIX)?);
            // `"{{ s }}\n"`: a string result keeps the trailing newline (Ansible 2.21);
            // any other type is returned natively without it.
            if s.ends_with('\n')
                && let Some(text) = v.as_str()
            {
                return Ok(Value::from_safe_string(format!("{text}\n")));
            }
            // A variable's own value keeps its trust; anything computed is not trusted.
            return Ok(if is_var_path(&expr) { v } else { untrusted(v) });
        }
        let src = rewrite_percent(s, false);
        let name = format!("{STR_PREFIX}{src}");
        let env = self.env();
        let tmpl = env
            .get_template(&name)
            .map_err(|e| errors::convert(&e, s, None, Some((self, scope))))?;
        let ctx = Value::from_dyn_object(scope.clone());
        let frame = OutputFrame::push();
        let mut out = tmpl
            .render(ctx)
            .map_err(|e| errors::convert(&e, s, None, Some((self, scope))))?;
        let printed = frame.take();
        drop(frame);
        // Jinja2's native concat: nothing printed is None, one value printed alone
        // keeps its type
        if let Some(v) = printed.native(&out, false) {
            return Ok(untrusted(v));
        }
        let missing = trailing_newlines(s).saturating_sub(trailing_newlines(&out));
        for _ in 0..missing {
            out.push('\n');
        }
        Ok(Value::from_safe_string(out))
    }

    /// Render the strings in a value; dict keys too when `keys` (task arguments), not
    /// for variables (Ansible leaves the keys of a variable's dicts alone).
    pub(crate) fn template_value_scoped(
        &self,
        v: &Value,
        scope: &Arc<Scope>,
        keys: bool,
    ) -> Result<Value, TemplateError> {
        if !needs_templating(v) {
            return Ok(v.clone());
        }
        match plain_container(v) {
            Some(Container::Seq(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(keep_undefined(
                        self.template_value_scoped(item, scope, keys),
                    )?);
                }
                Ok(Value::from(out))
            }
            Some(Container::Map(map)) => {
                let mut out = indexmap::IndexMap::with_capacity(map.len());
                for (k, item) in map {
                    let k = if keys {
                        self.template_value_scoped(k, scope, keys)?
                    } else {
                        k.clone()
                    };
                    out.insert(
                        k,
                        keep_undefined(self.template_value_scoped(item, scope, keys))?,
                    );
                }
                Ok(Value::from_pairs(out))
            }
            None => match v.as_str() {
                Some(s) => self.render_str_scoped(s, scope),
                None => match Vaulted::of(v) {
                    Some(vaulted) => open_vaulted(&vaulted),
                    None => Ok(v.clone()),
                },
            },
        }
    }

    /// Render a template file for the `template` module / lookup.
    pub fn render_file(
        &self,
        path: &Path,
        vars: &Vars,
        search: &SearchPaths,
        opts: &FileOptions,
    ) -> Result<String, TemplateError> {
        let source = std::fs::read_to_string(path).map_err(|e| TemplateError {
            file: Some(path.to_path_buf()),
            ..TemplateError::new(format!("could not read template {}: {e}", path.display()))
        })?;
        self.render_file_source(path, &source, vars, search, opts)
    }

    /// Render template text as if read from `path` (see [`Templar::render_file`]).
    pub fn render_file_source(
        &self,
        path: &Path,
        source: &str,
        vars: &Vars,
        search: &SearchPaths,
        opts: &FileOptions,
    ) -> Result<String, TemplateError> {
        self.with_file_source(path, source, opts, |body, opts| {
            file::render(self, path, body, None, vars, search, opts)
        })
    }

    /// [`Templar::render_file_source`] of a file whose `stat` (links followed) the caller
    /// just made: `template_uid` and `template_mtime` come from it.
    pub fn render_file_source_stat(
        &self,
        path: &Path,
        source: &str,
        stat: &std::fs::Metadata,
        vars: &Vars,
        search: &SearchPaths,
        opts: &FileOptions,
    ) -> Result<String, TemplateError> {
        self.with_file_source(path, source, opts, |body, opts| {
            file::render(self, path, body, Some(stat), vars, search, opts)
        })
    }

    /// [`Templar::render_file_source`] with Jinja2's native concat (the `template`
    /// lookup): a file whose only output is one value gives that value, not its text.
    pub fn render_file_source_native(
        &self,
        path: &Path,
        source: &str,
        vars: &Vars,
        search: &SearchPaths,
        opts: &FileOptions,
    ) -> Result<Value, TemplateError> {
        self.with_file_source(path, source, opts, |body, opts| {
            file::render_native(self, path, body, None, vars, search, opts)
        })
    }

    /// What every render of a template file does around `render`: decrypt a vault file,
    /// read its `#jinja2:` header, render the body with the options it gives, and fail
    /// when an undecryptable vault value was printed.
    fn with_file_source<T>(
        &self,
        path: &Path,
        source: &str,
        opts: &FileOptions,
        render: impl FnOnce(&str, &FileOptions) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        let decrypted = vault_source(path, source)?;
        let source = decrypted.as_deref().unwrap_or(source);
        let (opts, body) = file_header(path, source, opts)?;
        begin_render();
        let r = render(body, &opts);
        undef::clear();
        vault_checked(r)
    }
}

/// A template file's options after its `#jinja2:` header, and the body after it.
fn file_header<'a>(
    path: &Path,
    source: &'a str,
    opts: &FileOptions,
) -> Result<(FileOptions, &'a str), TemplateError> {
    file::apply_header(source, opts).map_err(|message| TemplateError {
        file: Some(path.to_path_buf()),
        line: Some(1),
        ..TemplateError::new(message)
    })
}

/// Render a [`simple_template`] without minijinja: what the full path gives when every
/// variable is defined (`None` when the source is not simple or a variable is not
/// defined: the full path then renders it, with its errors).
fn render_simple(s: &str, scope: &Arc<Scope>) -> Option<Value> {
    let pieces = simple_template(s)?;
    if let [Piece::Var(name)] = pieces.as_slice() {
        // `{{ name }}` alone keeps the value's type (the single-expression path)
        return scope.lookup(name).map(finalize);
    }
    let mut out = String::new();
    let mut printed = 0;
    let mut first = None;
    for p in &pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => {
                let v = scope.lookup(name)?;
                // A vaulted value, or a list or dict while lazy ones exist: the full path
                // prints it (and fails where a part fails).
                if v.kind() == ValueKind::Plain
                    || (vars::lazy_live() && matches!(v.kind(), ValueKind::Seq | ValueKind::Map))
                {
                    return None;
                }
                native::py_str_into(&mut out, &v);
                printed += 1;
                if printed == 1 {
                    first = Some(v);
                }
            }
        }
    }
    // as the full path: one value printed alone keeps its type
    if printed == 1
        && let Some(v) = first
        && !matches!(v.kind(), ValueKind::String | ValueKind::Undefined)
        && native::py_str(&v) == out
    {
        return Some(finalize(v));
    }
    Some(Value::from_safe_string(out))
}

mod file;

/// Turn what minijinja handed back into a plain value (iterables into lists).
/// Whether an undefined value sits inside a list or dict (a few levels deep).
fn holds_undefined(v: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match v.kind() {
        ValueKind::Seq | ValueKind::Map => match plain_container(v) {
            Some(Container::Seq(items)) => items
                .iter()
                .any(|i| i.is_undefined() || holds_undefined(i, depth + 1)),
            Some(Container::Map(map)) => map
                .values()
                .any(|i| i.is_undefined() || holds_undefined(i, depth + 1)),
            None => false,
        },
        _ => false,
    }
}

/// The bare names an expression uses as variables, in order: not inside string literals,
/// not attributes (`.x`), filters or tests (`| f`, `is t`), calls (`f(`) or keyword
/// arguments (`k=`), and not Jinja2's own words.
fn identifiers(expr: &str) -> Vec<&str> {
    const WORDS: &[&str] = &[
        "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if",
        "else",
    ];
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    let mut prev_sig: u8 = b' ';
    let mut prev_word = "";
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
                prev_sig = c;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            let next = expr[i..].trim_start().as_bytes().first().copied();
            let is_var = !WORDS.contains(&word)
                && prev_sig != b'.'
                && prev_sig != b'|'
                && prev_word != "is"
                && next != Some(b'(')
                && !(next == Some(b'=') && expr[i..].trim_start().as_bytes().get(1) != Some(&b'='));
            if is_var && !out.contains(&word) {
                out.push(word);
            }
            prev_word = word;
            prev_sig = b'a';
            continue;
        }
        if !c.is_ascii_whitespace() {
            prev_sig = c;
            prev_word = "";
        }
        i += 1;
    }
    out
}

fn finalize(v: Value) -> Value {
    if v.kind() == ValueKind::Iterable {
        if let Ok(iter) = v.try_iter() {
            return Value::from(iter.collect::<Vec<_>>());
        }
    }
    v
}

/// Report a failure recorded inside the scope ahead of the render's own result.
/// A vault-encrypted template file's plain text (decrypted with the run's vault
/// passwords, as Ansible's template action reads it); `None` for any other text.
fn vault_source(path: &Path, source: &str) -> Result<Option<String>, TemplateError> {
    let Some(plain) = agent_yaml::vault::decrypt_if_encrypted(source.as_bytes()) else {
        return Ok(None);
    };
    let plain = plain.map_err(|e| TemplateError {
        file: Some(path.to_path_buf()),
        ..TemplateError::new(format!(
            "could not read template {}: it is vault-encrypted and did not decrypt: {e}",
            path.display()
        ))
    })?;
    String::from_utf8(plain)
        .map(Some)
        .map_err(|_| TemplateError {
            file: Some(path.to_path_buf()),
            ..TemplateError::new(format!(
                "could not read template {}: its decrypted text is not UTF-8",
                path.display()
            ))
        })
}

/// What a top-level render starts with: no undefined hint and no printed vaulted value
/// left from before.
fn begin_render() {
    undef::clear();
    agent_yaml::vault::take_printed_undecryptable();
}

/// A template file's render fails when a `!vault` value that does not decrypt was turned
/// into text in it (never written as "").
fn vault_checked<T>(r: Result<T, TemplateError>) -> Result<T, TemplateError> {
    match agent_yaml::vault::take_printed_undecryptable() {
        Some(e) if r.is_ok() => Err(TemplateError::new(format!(
            "Error rendering template: {}",
            Vaulted::undecryptable(&e)
        ))),
        _ => r,
    }
}

/// Whether undefined items are kept in containers now
/// ([`Templar::template_value_keeping_undefined`]).
pub(crate) fn keeping_undefined() -> bool {
    KEEP_UNDEFINED.with(std::cell::Cell::get)
}

/// An item of a list or dict that came out undefined: an undefined value in its place
/// while [`Templar::template_value_keeping_undefined`] runs, else the error.
fn keep_undefined(r: Result<Value, TemplateError>) -> Result<Value, TemplateError> {
    match r {
        Err(e) if e.undefined && KEEP_UNDEFINED.with(std::cell::Cell::get) => {
            undef::clear();
            Ok(Value::UNDEFINED)
        }
        other => other,
    }
}

fn finish(rv: Result<Value, TemplateError>, scope: &Scope) -> Result<Value, TemplateError> {
    // What leaves the templates holds no lazy container.
    let rv = match rv {
        Ok(v) if vars::lazy_live() => vars::materialize(&v, 0),
        other => other,
    };
    undef::clear();
    // A `!vault` value that does not decrypt, turned into text: the render fails (its
    // text is never used). Taken first, so that no later render sees it.
    let printed = agent_yaml::vault::take_printed_undecryptable();
    if let Some(fatal) = scope.take_fatal() {
        return Err(fatal);
    }
    if let Some(e) = printed {
        return Err(TemplateError::new(format!(
            "Error rendering template: {}",
            Vaulted::undecryptable(&e)
        )));
    }
    // A `!vault` value given back (read from a variable, from hostvars, ...) is opened.
    if agent_yaml::vault::any_vaulted()
        && let Ok(v) = &rv
        && holds_vaulted(v, 0)
    {
        return open_all(v, 0);
    }
    match rv {
        Err(e) if e.undefined => Err(scope.take_undefined().map_or(e, |inner| TemplateError {
            message: inner.message,
            ..inner
        })),
        other => other,
    }
}

/// The syntax of string templates and expressions (the default options).
static STRING_SYNTAX: std::sync::LazyLock<Option<minijinja::syntax::SyntaxConfig>> =
    std::sync::LazyLock::new(|| syntax_config(&FileOptions::default()).ok());

/// A string template or expression that gives one keyword argument twice fails to
/// compile, as Python's compiler fails Jinja2's code for it (see
/// [`repeat::repeated_kwarg`]).
fn check_kwargs(src: &str) -> Result<(), minijinja::Error> {
    match STRING_SYNTAX
        .as_ref()
        .and_then(|syntax| repeat::repeated_kwarg(src, syntax))
    {
        Some(name) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("Error rendering template: keyword argument repeated: {name}"),
        )),
        None => Ok(()),
    }
}

/// String templates' `*` with a limit on repetition (see [`repeat`]).
fn guard_repeats(src: &str) -> std::borrow::Cow<'_, str> {
    match &*STRING_SYNTAX {
        Some(syntax) => repeat::guard_repeats(src, syntax),
        None => std::borrow::Cow::Borrowed(src),
    }
}

/// Python's `"fmt" % args` is not a minijinja operator: rewrite a string literal followed
/// by `%` and an operand into a call of the `__agent_percent` filter.
fn rewrite_percent(src: &str, expr_mode: bool) -> std::borrow::Cow<'_, str> {
    if !src.contains('%') {
        return std::borrow::Cow::Borrowed(src);
    }
    std::borrow::Cow::Owned(native::rewrite_percent_ops(src, expr_mode))
}

impl Default for Templar {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod identifier_tests {
    use super::identifiers;

    #[test]
    fn identifiers_are_the_variables_an_expression_names() {
        assert_eq!(identifiers("[foo]"), ["foo"]);
        assert_eq!(
            identifiers("{'a': b.c, 'd': e | default(f, true)} if g is defined else h(k=1)"),
            ["b", "e", "f", "g"]
        );
        assert_eq!(identifiers("x == 'y z' and not w"), ["x", "w"]);
    }
}

#[cfg(test)]
mod trust_tests {
    use super::{const_templates, is_var_path};

    #[test]
    fn string_constants_holding_templates_are_found() {
        let src = r#"x == '{{ y }}' and z == "a{{ w }}" and q == 'plain'"#;
        let found: Vec<&str> = const_templates(src)
            .unwrap()
            .into_iter()
            .map(|r| &src[r])
            .collect();
        assert_eq!(found, ["'{{ y }}'", "\"a{{ w }}\""]);
        // escaped quotes stay inside the constant
        let src = r#"x == 'it\'s {{ y }}'"#;
        assert_eq!(const_templates(src).unwrap().len(), 1);
        // a template outside any constant, an unterminated constant, none at all
        assert!(const_templates("{{ a }} == '{{ b }}'").is_none());
        assert!(const_templates("x == '{{ y }}").is_none());
        assert!(const_templates("x == 'y'").is_none());
        // multi-byte text around them
        assert_eq!(const_templates("é == 'ü{{ y }}'").unwrap().len(), 1);
    }

    #[test]
    fn variable_paths_keep_their_trust() {
        for e in [
            "a",
            " a.b ",
            "a[0]",
            "a['k']",
            "a[\"k\"].b",
            "(a)",
            "((a.b))",
        ] {
            assert!(is_var_path(e), "{e}");
        }
        for e in [
            "a | d", "a + b", "'a'", "a()", "true", "a[b]", "a[-1]", "(a).b", "1",
        ] {
            assert!(!is_var_path(e), "{e}");
        }
    }
}
