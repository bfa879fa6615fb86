//! Ansible's filters (ansible.builtin core, mathstuff, urls, urlsplit, encryption) and the
//! common collection filters, one file per family. Where minijinja has a builtin of the
//! same name that behaves differently, Ansible's behaviour wins.
//!
//! Every filter is registered under its short name and its FQCN
//! (`ansible.builtin.to_json`, `ansible.utils.ipaddr`, `community.general.json_query`).

pub mod core;
pub mod hash;
pub mod jinja;
pub mod json_query;
pub mod mathstuff;
pub mod net;
pub mod path;
pub mod pyfmt;
pub mod pyrand;
pub mod regex;
pub mod urls;

use minijinja::value::{Kwargs, Rest, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};

pub use pyfmt::{py_repr, py_str, str_repr};

/// The signature every filter in this library has: the piped value and the raw
/// positional/keyword arguments, parsed Python-style with [`Args`].
pub type FilterFn = fn(&State, Value, &[ValueOrKwargs]) -> Result<Value, Error>;

/// Register every filter.
pub fn register(env: &mut Environment<'static>) {
    core::register(env);
    jinja::register(env);
    mathstuff::register(env);
    regex::register(env);
    hash::register(env);
    path::register(env);
    urls::register(env);
    net::register(env);
    json_query::register(env);
    guard_builtins(env);
}

/// `select`/`reject`/`selectattr`/`rejectattr` with a test that does not exist fail with
/// Jinja2's "No test named" whatever the items are: Jinja2 reads a missing attribute as
/// undefined and then calls the test, so the unknown name is what fails, before
/// Ansible's missing-attribute check could.
fn unknown_test_precheck(
    state: &mut State,
    name: &str,
    rest: &[ValueOrKwargs],
) -> Result<(), Error> {
    let (pos, _) = split_args(rest);
    let test = match name {
        "select" | "reject" => pos.first(),
        "selectattr" | "rejectattr" => pos.get(1),
        _ => None,
    };
    let Some(test) = test.and_then(|t| t.as_str()) else {
        return Ok(());
    };
    match state.perform_test(test, &[Value::from(())]) {
        Err(e) if e.kind() == ErrorKind::UnknownTest => Err(Error::new(
            ErrorKind::UnknownTest,
            format!("test '{test}' is unknown"),
        )),
        _ => Ok(()),
    }
}

/// Ansible fails when an item lacks the attribute a filter reads (`groupby('a')`,
/// `map(attribute='a')` without a default, `selectattr('a')` with a test other than
/// defined/undefined, `sum`/`join` with `attribute`): `object of type 'dict' has no
/// attribute 'a'`. Jinja2's `default` of groupby does not help under Ansible.
fn attribute_precheck(name: &str, value: &Value, rest: &[ValueOrKwargs]) -> Result<(), Error> {
    let (pos, kw) = split_args(rest);
    let kwarg = |k: &str| kw.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let attr = match name {
        "groupby" | "sum" => pos.first().cloned().or_else(|| kwarg("attribute")),
        "join" => pos.get(1).cloned().or_else(|| kwarg("attribute")),
        // `map('name', attribute=...)` hands its keyword arguments to the named filter.
        "map" if pos.is_empty() => {
            kwarg("attribute").filter(|_| kwarg("default").is_none_or(|d| d.is_none()))
        }
        "selectattr" | "rejectattr" => {
            let test = pos.get(1).and_then(|t| t.as_str().map(str::to_string));
            let test = test
                .as_deref()
                .map(|t| t.trim_start_matches("ansible.builtin."));
            if matches!(test, Some("defined" | "undefined")) {
                None
            } else {
                pos.first().cloned()
            }
        }
        _ => None,
    };
    let Some(attr) = attr.filter(|a| !a.is_none()) else {
        return Ok(());
    };
    let Ok(items) = value.try_iter() else {
        return Ok(());
    };
    let parts: Vec<Value> = match attr.as_str() {
        Some(path) => path
            .split('.')
            .map(|p| match p.parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => Value::from(p),
            })
            .collect(),
        None => vec![attr.clone()],
    };
    for item in items {
        let mut cur = item;
        for part in &parts {
            let mut next = cur.get_item(part).unwrap_or_default();
            if next.is_undefined()
                && part.is_integer()
                && let Ok(alt) = cur.get_item(&Value::from(part.to_string()))
            {
                next = alt;
            }
            if next.is_undefined() {
                let shown = match part.as_str() {
                    Some(s) => format!("'{s}'"),
                    None => part.to_string(),
                };
                return Err(err(format!(
                    "object of type '{}' has no attribute {shown}",
                    type_name(&cur)
                )));
            }
            cur = next;
        }
    }
    Ok(())
}

/// Jinja2's `map('filter', ..., key=value)` passes keyword arguments to the filter, and
/// `attribute` only means attribute mapping when no filter is named. minijinja reads
/// `attribute` first and drops the keyword arguments of a named filter, so that case is
/// mapped here. `None` when there is nothing to fix.
fn map_filter_with_kwargs(
    state: &mut State,
    value: &Value,
    rest: &[ValueOrKwargs],
) -> Result<Option<Value>, Error> {
    let (pos, kw) = split_args(rest);
    let Some(name) = pos.first() else {
        return Ok(None);
    };
    if kw.is_empty() {
        return Ok(None);
    }
    let Some(name) = name.as_str() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "filter name must be a string",
        ));
    };
    let kwargs = Value::from(Kwargs::from_iter(kw));
    let mut out = Vec::new();
    for item in value.try_iter()? {
        let mut args = Vec::with_capacity(pos.len() + 1);
        args.push(item);
        args.extend(pos.iter().skip(1).cloned());
        args.push(kwargs.clone());
        out.push(state.apply_filter(name, &args)?);
    }
    Ok(Some(Value::from(out)))
}

/// Prefix of the hidden names the guarded Jinja2 builtins are kept under.
const BUILTIN_PREFIX: &str = "\u{1}builtin:";

/// Jinja2 builtins that minijinja provides: each is kept under a hidden name and registered
/// again behind the undefined check (an undefined input is the result), and its failures
/// are reported as Ansible reports a filter plugin's.
fn guard_builtins(env: &mut Environment<'static>) {
    macro_rules! guard {
        ($($name:literal => $f:path),* $(,)?) => {$(
            env.add_filter(format!("{BUILTIN_PREFIX}{}", $name), $f);
            let wrap = |state: &mut State, value: Value, rest: Rest<ValueOrKwargs>| {
                // An undefined input is the result, as Ansible's filters give back the
                // first undefined argument (it fails where the result is used).
                if let Some(u) = first_undefined(Some(&value), &rest.0) {
                    return Ok(u);
                }
                // An undefined item fails a join, as printing it fails in Ansible
                // (minijinja's join would print it as nothing).
                if $name == "join"
                    && let Some(u) = value
                        .as_object()
                        .filter(|_| value.kind() == minijinja::value::ValueKind::Seq)
                        .and_then(|_| value.try_iter().ok())
                        .and_then(|mut it| it.find(Value::is_undefined))
                {
                    return Err(undefined_error(&u));
                }
                crate::reject_vaulted($name, &value, &rest.0)?;
                unknown_test_precheck(state, $name, &rest.0)?;
                attribute_precheck($name, &value, &rest.0)?;
                if $name == "map"
                    && let Some(mapped) = map_filter_with_kwargs(state, &value, &rest.0)?
                {
                    return Ok(mapped);
                }
                // The agent's "safe" strings are untrusted data (crate::untrusted), not
                // Markup: `escape` escapes them and `format` does not escape into them.
                let value = match value.as_str() {
                    Some(text) if value.is_safe() && matches!($name, "escape" | "e" | "format") => {
                        Value::from(text)
                    }
                    _ => value,
                };
                let mut args = Vec::with_capacity(rest.0.len() + 1);
                args.push(value);
                args.extend(rest.0.iter().map(|a| Value::clone(a)));
                state
                    .apply_filter(&format!("{BUILTIN_PREFIX}{}", $name), &args)
                    .map_err(|e| plugin_failed("filter", concat!("ansible.builtin.", $name), e))
            };
            env.add_filter($name, wrap);
            env.add_filter(concat!("ansible.builtin.", $name), wrap);
        )*};
    }
    guard!(
        "escape" => minijinja::filters::escape,
        "e" => minijinja::filters::escape,
        "format" => minijinja::filters::format,
        "pprint" => minijinja::filters::pprint,
        "tojson" => minijinja::filters::tojson,
        "map" => minijinja::filters::map,
        "select" => minijinja::filters::select,
        "reject" => minijinja::filters::reject,
        "selectattr" => minijinja::filters::selectattr,
        "rejectattr" => minijinja::filters::rejectattr,
        "join" => minijinja::filters::join,
        "groupby" => minijinja::filters::groupby,
        "sum" => minijinja::filters::sum,
        "round" => minijinja::filters::round,
        "upper" => minijinja::filters::upper,
        "lower" => minijinja::filters::lower,
        "title" => minijinja::filters::title,
        "length" => minijinja::filters::length,
        "count" => minijinja::filters::length,
        "items" => minijinja::filters::items,
        "trim" => minijinja::filters::trim,
        "abs" => minijinja::filters::abs,
        "first" => minijinja::filters::first,
        "last" => minijinja::filters::last,
        "string" => minijinja::filters::string,
        "slice" => minijinja::filters::slice,
        "batch" => minijinja::filters::batch,
        "capitalize" => minijinja::filters::capitalize,
        "reverse" => minijinja::filters::reverse,
    );
}

/// Filters that take an undefined value, as in Ansible (every other filter fails with
/// `'x' is undefined`).
const TAKES_UNDEFINED: &[&str] = &["default", "d", "mandatory", "type_debug"];
/// Filters whose arguments may be undefined (used only when needed).
const ARGS_MAY_BE_UNDEFINED: &[&str] = &["default", "d", "ternary"];
/// Collection filters that Ansible knows by their FQCN only (the short names of
/// `json_query` and, through ansible.netcommon's routing, `ipaddr`/`ipv4`/`ipv6` resolve).
const FQCN_ONLY: &[&str] = &[
    "ipwrap",
    "ipmath",
    "ipsubnet",
    "nthhost",
    "network_in_usable",
    "dict_kv",
    "from_csv",
];

/// The error for using an undefined value: it carries the value's origin, so the
/// render reports it as Ansible does (`'foo' is undefined`).
pub(crate) fn undefined_error(v: &Value) -> Error {
    match bool::try_from(v.clone()) {
        Err(e) => e,
        Ok(_) => Error::new(ErrorKind::UndefinedError, "undefined value"),
    }
}

/// The cause of `mandatory`'s failure on an undefined value without a message: the
/// error conversion (errors.rs) says `Mandatory variable 'NAME' not defined.` with the
/// name of the value's expression, which only the template's VM knows.
#[derive(Debug)]
pub(crate) struct MandatoryUndefined;

impl std::fmt::Display for MandatoryUndefined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mandatory variable not defined.")
    }
}

impl std::error::Error for MandatoryUndefined {}

/// Fail on an undefined value or argument (keyword arguments included).
pub(crate) fn reject_undefined(value: Option<&Value>, rest: &[ValueOrKwargs]) -> Result<(), Error> {
    match first_undefined(value, rest) {
        Some(u) => Err(undefined_error(&u)),
        None => Ok(()),
    }
}

/// The first undefined among the value and the arguments (keyword arguments included),
/// as ansible-core's `get_first_marker_arg` finds it.
pub(crate) fn first_undefined(value: Option<&Value>, rest: &[ValueOrKwargs]) -> Option<Value> {
    if let Some(v) = value
        && v.is_undefined()
    {
        return Some(v.clone());
    }
    for a in rest {
        let a: &Value = a;
        if a.is_undefined() {
            return Some(a.clone());
        }
        if a.is_kwargs()
            && let Ok(k) = Kwargs::try_from(a.clone())
        {
            for name in k.args() {
                if let Ok(val) = k.peek::<Value>(name)
                    && val.is_undefined()
                {
                    return Some(val);
                }
            }
        }
    }
    None
}

/// Register one filter under `<namespace>.<name>` and (unless Ansible knows it by its
/// FQCN only) under `name`. Undefined input is given back, except to the filters that
/// take it.
pub(crate) fn add(env: &mut Environment<'static>, namespace: &str, name: &str, f: FilterFn) {
    let value_ok = TAKES_UNDEFINED.contains(&name);
    let args_ok = ARGS_MAY_BE_UNDEFINED.contains(&name);
    let fqcn: std::sync::Arc<str> = std::sync::Arc::from(format!("{namespace}.{name}"));
    let wrap = move |state: &State, value: Value, rest: Rest<ValueOrKwargs>| {
        // An undefined input is the result (Ansible's filters give back the first
        // undefined argument, which fails where it is used), except for the filters made
        // to take one.
        if let Some(u) = first_undefined(
            (!value_ok).then_some(&value),
            if args_ok { &[] } else { &rest.0 },
        ) {
            return Ok(u);
        }
        crate::reject_vaulted(&fqcn, &value, &rest.0)?;
        f(state, value, &rest.0).map_err(|e| plugin_failed("filter", &fqcn, e))
    };
    if !(namespace != "ansible.builtin" && FQCN_ONLY.contains(&name)) {
        env.add_filter(name.to_string(), wrap.clone());
    }
    env.add_filter(format!("{namespace}.{name}"), wrap);
}

/// An error raised by a filter or test as Ansible 2.19+ reports it: `The filter plugin
/// 'ansible.builtin.NAME' failed: CAUSE`. Undefined values are not the plugin's failure
/// and pass through unchanged, and so does an error that already names a plugin.
pub(crate) fn plugin_failed(kind: &str, fqcn: &str, e: Error) -> Error {
    let mandatory = || std::error::Error::source(&e).is_some_and(|s| s.is::<MandatoryUndefined>());
    if e.kind() == ErrorKind::UndefinedError || mandatory() {
        return e;
    }
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if detail.starts_with("The filter plugin '") || detail.starts_with("The test plugin '") {
        return e;
    }
    Error::new(
        e.kind(),
        format!("The {kind} plugin '{fqcn}' failed: {detail}"),
    )
}

/// A filter/plugin error with Ansible's message.
pub(crate) fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Python-style arguments: positional slots by parameter name, filled by position or
/// keyword; keywords that name no parameter are kept in `extra` when allowed.
#[derive(Debug, Default)]
pub(crate) struct Args {
    slots: Vec<Option<Value>>,
    pub extra: Vec<(String, Value)>,
}

/// Split raw filter arguments into positional values and keyword arguments.
pub(crate) fn split_args(rest: &[ValueOrKwargs]) -> (Vec<Value>, Vec<(String, Value)>) {
    let mut pos = Vec::new();
    let mut kw = Vec::new();
    for v in rest {
        let v: &Value = v;
        if v.is_kwargs() {
            if let Ok(k) = Kwargs::try_from(v.clone()) {
                for name in k.args() {
                    if let Ok(val) = k.peek::<Value>(name) {
                        kw.push((name.to_string(), val));
                    }
                }
            }
        } else {
            pos.push(v.clone());
        }
    }
    (pos, kw)
}

impl Args {
    /// Parse `rest` against the parameter `names` of filter `fname`.
    pub fn parse(
        fname: &str,
        rest: &[ValueOrKwargs],
        names: &[&str],
        allow_extra: bool,
    ) -> Result<Args, Error> {
        let (pos, kw) = split_args(rest);
        let mut slots: Vec<Option<Value>> = vec![None; names.len()];
        if pos.len() > names.len() {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                format!(
                    "{fname}() takes {} positional arguments but {} were given",
                    names.len() + 1,
                    pos.len() + 1
                ),
            ));
        }
        for (i, v) in pos.into_iter().enumerate() {
            slots[i] = Some(v);
        }
        let mut extra = Vec::new();
        for (k, v) in kw {
            match names.iter().position(|n| *n == k) {
                Some(i) => {
                    if slots[i].is_some() {
                        return Err(Error::new(
                            ErrorKind::TooManyArguments,
                            format!("{fname}() got multiple values for argument '{k}'"),
                        ));
                    }
                    slots[i] = Some(v);
                }
                None if allow_extra => extra.push((k, v)),
                None => {
                    return Err(Error::new(
                        ErrorKind::TooManyArguments,
                        format!("{fname}() got an unexpected keyword argument '{k}'"),
                    ));
                }
            }
        }
        Ok(Args { slots, extra })
    }

    /// The argument in slot `i`, if given (an explicit `none` counts as given).
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.slots.get(i).and_then(|s| s.as_ref())
    }

    /// The argument in slot `i` unless missing or `none`.
    pub fn some(&self, i: usize) -> Option<&Value> {
        self.get(i).filter(|v| !v.is_none() && !v.is_undefined())
    }

    /// A required argument.
    pub fn req(&self, fname: &str, i: usize, name: &str) -> Result<&Value, Error> {
        self.get(i).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                format!("{fname}() missing 1 required positional argument: '{name}'"),
            )
        })
    }

    /// Python truthiness of slot `i`, or `default`.
    pub fn truthy(&self, i: usize, default: bool) -> bool {
        self.get(i).map(|v| v.is_true()).unwrap_or(default)
    }

    /// Slot `i` as a string (Python `str()`), or `default`.
    pub fn string(&self, i: usize, default: &str) -> String {
        match self.some(i) {
            Some(v) => py_str(v),
            None => default.to_string(),
        }
    }

    /// Slot `i` as an integer, or `default`.
    pub fn int(&self, fname: &str, i: usize, default: i64) -> Result<i64, Error> {
        match self.some(i) {
            None => Ok(default),
            Some(v) => to_int(v)
                .ok_or_else(|| err(format!("{fname}: expected an integer, got {}", py_repr(v)))),
        }
    }
}

/// An integer from an int, a bool, an integral float or a numeric string.
pub(crate) fn to_int(v: &Value) -> Option<i64> {
    if let Some(b) = as_bool(v) {
        return Some(b as i64);
    }
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if let Ok(f) = f64::try_from(v.clone())
        && v.is_number()
    {
        return Some(f as i64);
    }
    v.as_str().and_then(|s| s.trim().parse::<i64>().ok())
}

/// A float from any number.
pub(crate) fn to_f64(v: &Value) -> Option<f64> {
    if let Some(b) = as_bool(v) {
        return Some(if b { 1.0 } else { 0.0 });
    }
    if v.is_number() {
        return f64::try_from(v.clone()).ok();
    }
    None
}

/// The boolean if `v` is a bool.
pub(crate) fn as_bool(v: &Value) -> Option<bool> {
    if v.kind() == minijinja::value::ValueKind::Bool {
        Some(v.is_true())
    } else {
        None
    }
}

/// Whether `v` is a list-like value (Python sequence that is not a string or a mapping).
pub(crate) fn is_seq(v: &Value) -> bool {
    matches!(
        v.kind(),
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Iterable
    )
}

/// Whether `v` is a mapping.
pub(crate) fn is_map(v: &Value) -> bool {
    v.kind() == minijinja::value::ValueKind::Map && !v.is_kwargs()
}

/// The items of a list-like value.
pub(crate) fn list_of(v: &Value) -> Option<Vec<Value>> {
    if is_seq(v) {
        v.try_iter().ok().map(|it| it.collect())
    } else {
        None
    }
}

/// Iterate like Python `list(x)`: lists, dict keys, string characters.
pub(crate) fn py_iter(v: &Value) -> Result<Vec<Value>, Error> {
    if let Some(s) = v.as_str() {
        return Ok(s.chars().map(|c| Value::from(c.to_string())).collect());
    }
    if v.is_undefined() || v.is_none() || v.is_number() || as_bool(v).is_some() {
        return Err(err(format!("'{}' object is not iterable", type_name(v))));
    }
    Ok(v.try_iter()?.collect())
}

/// The key/value pairs of a mapping.
pub(crate) fn map_items(v: &Value) -> Option<Vec<(Value, Value)>> {
    if !is_map(v) {
        return None;
    }
    let keys: Vec<Value> = v.try_iter().ok()?.collect();
    Some(
        keys.into_iter()
            .map(|k| {
                let val = v.get_item(&k).unwrap_or(Value::UNDEFINED);
                (k, val)
            })
            .collect(),
    )
}

/// Python's type name for a value (`str`, `int`, `float`, `bool`, `list`, `dict`, `NoneType`).
pub(crate) fn type_name(v: &Value) -> &'static str {
    use minijinja::value::ValueKind as K;
    match v.kind() {
        K::Undefined => "AnsibleUndefined",
        K::None => "NoneType",
        K::Bool => "bool",
        K::Number => {
            if v.is_integer() {
                "int"
            } else {
                "float"
            }
        }
        K::String => "str",
        K::Bytes => "bytes",
        K::Seq | K::Iterable => "list",
        K::Map => "dict",
        K::Plain => "object",
        K::Invalid => "object",
        _ => "object",
    }
}

/// Python `==` between two values (1 == 1.0 == True; containers compare deeply).
pub(crate) fn py_eq(a: &Value, b: &Value) -> bool {
    match (as_bool(a), as_bool(b)) {
        (Some(x), Some(y)) => return x == y,
        (Some(x), None) if b.is_number() => return to_f64(b) == Some(x as i64 as f64),
        (None, Some(y)) if a.is_number() => return to_f64(a) == Some(y as i64 as f64),
        (Some(_), None) | (None, Some(_)) => return false,
        _ => {}
    }
    if is_map(a) && is_map(b) {
        let (Some(ia), Some(ib)) = (map_items(a), map_items(b)) else {
            return false;
        };
        return ia.len() == ib.len()
            && ia.iter().all(|(k, v)| {
                ib.iter()
                    .find(|(k2, _)| py_eq(k, k2))
                    .is_some_and(|(_, v2)| py_eq(v, v2))
            });
    }
    if is_seq(a) && is_seq(b) {
        let (Some(la), Some(lb)) = (list_of(a), list_of(b)) else {
            return false;
        };
        return la.len() == lb.len() && la.iter().zip(lb.iter()).all(|(x, y)| py_eq(x, y));
    }
    a == b
}

/// Python ordering for sorting/min/max: numbers with numbers, strings with strings.
pub(crate) fn py_cmp(a: &Value, b: &Value) -> Result<std::cmp::Ordering, Error> {
    if let (Some(x), Some(y)) = (to_f64(a), to_f64(b)) {
        return x.partial_cmp(&y).ok_or_else(|| err("cannot compare nan"));
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Ok(x.cmp(y));
    }
    if is_seq(a) && is_seq(b) {
        let la = list_of(a).unwrap_or_default();
        let lb = list_of(b).unwrap_or_default();
        for (x, y) in la.iter().zip(lb.iter()) {
            let o = py_cmp(x, y)?;
            if o != std::cmp::Ordering::Equal {
                return Ok(o);
            }
        }
        return Ok(la.len().cmp(&lb.len()));
    }
    Err(err(format!(
        "'<' not supported between instances of '{}' and '{}'",
        type_name(a),
        type_name(b)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn env() -> Environment<'static> {
        let mut env = Environment::new();
        register(&mut env);
        crate::tests::register(&mut env);
        env
    }

    #[test]
    fn fqcn_alias_registered() {
        let env = env();
        let v = env
            .compile_expression("[3, 1] | ansible.builtin.flatten")
            .unwrap()
            .eval(())
            .unwrap();
        assert_eq!(v.len(), Some(2));
    }

    #[test]
    fn py_eq_numbers() {
        assert!(py_eq(&Value::from(1), &Value::from(1.0)));
        assert!(py_eq(&Value::from(true), &Value::from(1)));
        assert!(!py_eq(&Value::from("1"), &Value::from(1)));
    }

    #[test]
    fn map_passes_keyword_arguments_to_a_named_filter() {
        let env = env();
        let eval = |e: &str| {
            env.compile_expression(e)
                .unwrap()
                .eval(())
                .map(|v| v.to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            eval("[[{'p': 1}], [{'p': 2}]] | map('map', attribute='p') | map('list') | list")
                .unwrap(),
            "[[1], [2]]"
        );
        assert_eq!(
            eval("[[1, 3], [2]] | map('sort', reverse=true) | list").unwrap(),
            "[[3, 1], [2]]"
        );
        // Attribute mapping is unchanged, and still fails on a missing attribute.
        assert_eq!(
            eval("[{'p': 1}] | map(attribute='p') | list").unwrap(),
            "[1]"
        );
        assert!(eval("[{'q': 1}] | map(attribute='p') | list").is_err());
    }
}
