//! ansible.builtin core filters (lib/ansible/plugins/filter/core.py).

use std::path::Path;

use base64::Engine;
use indexmap::IndexMap;
use minijinja::value::ValueOrKwargs;
use minijinja::{Environment, Error, State, Value};

use super::pyfmt::{JsonOpts, json_dumps, json_loads};
use super::pyrand::PyRandom;
use super::{
    Args, add, as_bool, err, is_map, is_seq, list_of, map_items, py_iter, py_repr, py_str,
    split_args, to_int, type_name,
};

const NS: &str = "ansible.builtin";

pub(crate) fn register(env: &mut Environment<'static>) {
    add(env, NS, "default", default);
    add(env, NS, "d", default);
    add(env, NS, "bool", to_bool_filter);
    add(env, NS, "ternary", ternary);
    add(env, NS, "mandatory", mandatory);
    add(env, NS, "to_json", to_json);
    add(env, NS, "to_nice_json", to_nice_json);
    add(env, NS, "from_json", from_json);
    add(env, NS, "to_yaml", to_yaml);
    add(env, NS, "to_nice_yaml", to_nice_yaml);
    add(env, NS, "from_yaml", from_yaml);
    add(env, NS, "from_yaml_all", from_yaml_all);
    add(env, NS, "combine", combine);
    add(env, NS, "dict2items", dict2items);
    add(env, NS, "items2dict", items2dict);
    add(env, NS, "flatten", flatten_filter);
    add(env, NS, "subelements", subelements_filter);
    add(env, NS, "extract", extract);
    add(env, NS, "b64encode", b64encode);
    add(env, NS, "b64decode", b64decode);
    add(env, NS, "unvault", unvault);
    add(env, NS, "to_uuid", to_uuid);
    add(env, NS, "quote", quote);
    add(env, NS, "comment", comment);
    add(env, NS, "type_debug", type_debug);
    add(env, NS, "split", split);
    add(env, NS, "random", random);
    add(env, NS, "shuffle", shuffle);
    add(env, NS, "strftime", strftime);
    add(env, NS, "to_datetime", to_datetime);
}

/// Ansible's `to_bool` as the `bool` filter and `when` coercions use it.
pub fn to_bool(v: &Value) -> bool {
    if let Some(b) = as_bool(v) {
        return b;
    }
    if let Some(s) = v.as_str() {
        let l = s.to_lowercase();
        return matches!(l.as_str(), "yes" | "on" | "true" | "1");
    }
    if v.is_integer() {
        return v.as_i64() == Some(1);
    }
    if v.is_number() {
        return f64::try_from(v.clone()).ok() == Some(1.0);
    }
    false
}

fn default(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("default", rest, &["default_value", "boolean"], false)?;
    let dv = a.get(0).cloned().unwrap_or_else(|| Value::from(""));
    if let Some(b) = a.get(1)
        && as_bool(b).is_none()
    {
        return Err(err(format!(
            "The 'boolean' argument must be of type 'bool', not '{}'.",
            type_name(b)
        )));
    }
    if value.is_undefined() {
        return Ok(dv);
    }
    if a.truthy(1, false) && !value.is_true() {
        return Ok(dv);
    }
    Ok(value)
}

fn to_bool_filter(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("bool", rest, &[], false)?;
    if value.is_undefined() {
        return Err(err("'value' is undefined"));
    }
    Ok(Value::from(to_bool(&value)))
}

fn ternary(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse(
        "ternary",
        rest,
        &["true_val", "false_val", "none_val"],
        false,
    )?;
    let t = a.req("ternary", 0, "true_val")?.clone();
    let f = a.req("ternary", 1, "false_val")?.clone();
    if value.is_none()
        && let Some(n) = a.some(2)
    {
        return Ok(n.clone());
    }
    Ok(if value.is_true() { t } else { f })
}

fn mandatory(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("mandatory", rest, &["msg"], false)?;
    if value.is_undefined() {
        if let Some(m) = a.some(0) {
            return Err(err(py_str(m)));
        }
        return Err(super::undefined_error(&value).with_source(super::MandatoryUndefined));
    }
    Ok(value)
}

fn json_opts(extra: &[(String, Value)], mut o: JsonOpts) -> Result<JsonOpts, Error> {
    for (k, v) in extra {
        match k.as_str() {
            "indent" => {
                o.indent = if v.is_none() {
                    None
                } else if let Some(s) = v.as_str() {
                    Some(s.to_string())
                } else {
                    let n = to_int(v).unwrap_or(0).max(0) as usize;
                    Some(" ".repeat(n))
                };
                if o.indent.is_some() && o.item_sep == ", " {
                    o.item_sep = ",".into();
                }
            }
            "sort_keys" => o.sort_keys = v.is_true(),
            "ensure_ascii" => o.ensure_ascii = v.is_true(),
            "separators" => {
                if let Some(l) = list_of(v)
                    && l.len() == 2
                {
                    o.item_sep = py_str(&l[0]);
                    o.key_sep = py_str(&l[1]);
                }
            }
            "skipkeys" | "check_circular" | "allow_nan" | "profile" | "vault_to_text"
            | "preprocess_unsafe" => {}
            other => {
                return Err(err(format!(
                    "JSONEncoder.__init__() got an unexpected keyword argument '{other}'"
                )));
            }
        }
    }
    Ok(o)
}

fn to_json(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    if !pos.is_empty() {
        return Err(err("to_json() takes 1 positional argument"));
    }
    let o = json_opts(&kw, JsonOpts::default())?;
    json_dumps(&value, &o).map(Value::from).map_err(err)
}

fn to_nice_json(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("to_nice_json", rest, &["indent", "sort_keys"], true)?;
    let indent = a.int("to_nice_json", 0, 4)?.max(0) as usize;
    let base = JsonOpts {
        indent: Some(" ".repeat(indent)),
        sort_keys: a.truthy(1, true),
        item_sep: ",".into(),
        key_sep: ": ".into(),
        ..JsonOpts::default()
    };
    let extra: Vec<(String, Value)> = a
        .extra
        .into_iter()
        .filter(|(k, _)| k != "separators")
        .collect();
    let o = json_opts(&extra, base)?;
    json_dumps(&value, &o).map(Value::from).map_err(err)
}

fn from_json(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let _ = Args::parse("from_json", rest, &["profile"], true)?;
    let s = value.as_str().ok_or_else(|| {
        err(format!(
            "the JSON object must be str, bytes or bytearray, not {}",
            type_name(&value)
        ))
    })?;
    json_loads(s).map_err(err)
}

fn yaml_opts(
    nice: bool,
    a: &Args,
    indent_slot: Option<usize>,
) -> Result<agent_yaml::EmitOptions, Error> {
    let mut o = agent_yaml::EmitOptions {
        nice,
        indent: if nice { 4 } else { 2 },
        ..agent_yaml::EmitOptions::default()
    };
    if let Some(i) = indent_slot
        && let Some(v) = a.some(i)
    {
        o.indent = to_int(v).unwrap_or(4).max(1) as usize;
    }
    for (k, v) in &a.extra {
        match k.as_str() {
            "indent" => o.indent = to_int(v).unwrap_or(2).max(1) as usize,
            "sort_keys" => o.sort_keys = v.is_true(),
            "width" => o.width = to_int(v).unwrap_or(80).max(1) as usize,
            "explicit_start" => o.explicit_start = v.is_true(),
            "default_flow_style" => o.nice = v.is_none() || !v.is_true(),
            "allow_unicode" | "encoding" => {}
            other => {
                return Err(err(format!(
                    "dump_all() got an unexpected keyword argument '{other}'"
                )));
            }
        }
    }
    Ok(o)
}

fn to_yaml(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let mut a = Args::parse("to_yaml", rest, &[], true)?;
    let (value, keep_vault) = vault_behavior(value, &mut a)?;
    // A vault value kept encrypted is `!vault |` whatever the default style (PyYAML: the
    // node's own style wins); never its plain text in another style.
    let kept = keep_vault && agent_yaml::vault::is_decrypted(&value);
    if let Some(text) = styled_scalar(&value, &mut a)?
        && !kept
    {
        return Ok(Value::from(text));
    }
    let o = agent_yaml::EmitOptions {
        keep_vault,
        ..yaml_opts(false, &a, None)?
    };
    Ok(Value::from(agent_yaml::emit(&value, &o)))
}

/// `to_yaml(vault_behavior=...)`: what becomes of decrypted vault values in the dump.
/// `decrypt` (the default) dumps their plain text, `redact` dumps `<redacted>`, `fail`
/// fails, `keep_encrypted` dumps their ciphertext (`!vault |`; the second value says
/// so). Takes the option out of `a`.
fn vault_behavior(value: Value, a: &mut Args) -> Result<(Value, bool), Error> {
    let Some(i) = a.extra.iter().position(|(k, _)| k == "vault_behavior") else {
        return Ok((value, false));
    };
    let behavior = a.extra.remove(i).1;
    if !behavior.is_true() {
        return Ok((value, false));
    }
    let behavior = py_str(&behavior);
    if !matches!(
        behavior.as_str(),
        "decrypt" | "keep_encrypted" | "redact" | "fail"
    ) {
        return Err(err(
            "The vault parameter must be one of decrypt, keep_encrypted, redact, fail",
        ));
    }
    if behavior == "decrypt" || behavior == "keep_encrypted" {
        return Ok((value, behavior == "keep_encrypted"));
    }
    fn walk(
        v: &Value,
        f: &mut dyn FnMut(&Value) -> Result<Option<Value>, Error>,
    ) -> Result<Value, Error> {
        if let Some(r) = f(v)? {
            return Ok(r);
        }
        if is_map(v) {
            let mut out = indexmap::IndexMap::new();
            for (k, item) in map_items(v).unwrap_or_default() {
                out.insert(k, walk(&item, f)?);
            }
            return Ok(Value::from_object(out));
        }
        if v.as_str().is_none()
            && let Some(items) = list_of(v)
        {
            let out: Result<Vec<Value>, Error> = items.iter().map(|x| walk(x, f)).collect();
            return Ok(Value::from(out?));
        }
        Ok(v.clone())
    }
    let value = walk(&value, &mut |v| {
        if !agent_yaml::vault::is_decrypted(v) {
            return Ok(None);
        }
        match behavior.as_str() {
            "redact" => Ok(Some(Value::from("<redacted>"))),
            _ => Err(err("Attempted to dump a vaulted value")),
        }
    })?;
    Ok((value, false))
}

/// PyYAML's `default_style` and `canonical` for a string (the only value the agent
/// dumps with them; anything else is an error that says so). Takes both options out of
/// `a`; `None` when neither is given.
fn styled_scalar(value: &Value, a: &mut Args) -> Result<Option<String>, Error> {
    let mut take = |name: &str| {
        let i = a.extra.iter().position(|(k, _)| k == name)?;
        Some(a.extra.remove(i).1)
    };
    let style = take("default_style").filter(|v| !v.is_none());
    let canonical = take("canonical").is_some_and(|v| v.is_true());
    if style.is_none() && !canonical {
        return Ok(None);
    }
    let unsupported = || {
        err(format!(
            "to_yaml: the agent supports default_style and canonical only for a one-line \
             string or a string in a block style, not {}",
            py_repr(value)
        ))
    };
    let Some(s) = value.as_str() else {
        return Err(unsupported());
    };
    let double = || serde_json::to_string(s).unwrap_or_default();
    if canonical {
        return Ok(Some(format!("---\n!!str {}\n", double())));
    }
    let style = style.as_ref().and_then(|v| v.as_str()).unwrap_or("");
    let block = |header: &str, sep: &str| {
        let chomp = match s.strip_suffix('\n') {
            None => "-",
            Some(rest) if rest.ends_with('\n') => "+",
            Some(_) => "",
        };
        let body: Vec<String> = s.lines().map(|l| format!("  {l}")).collect();
        format!("{header}{chomp}\n{}\n", body.join(sep))
    };
    let plain_lines = !s.is_empty()
        && s.lines()
            .all(|l| !l.is_empty() && !l.starts_with(' ') && !l.ends_with(' '))
        && !s.chars().any(|c| c.is_control() && c != '\n');
    Ok(Some(match style {
        "\"" => format!("{}\n", double()),
        "'" if !s.contains('\n') && !s.chars().any(char::is_control) => {
            format!("'{}'\n", s.replace('\'', "''"))
        }
        "|" if plain_lines => block("|", "\n"),
        ">" if plain_lines => block(">", "\n\n"),
        _ => return Err(unsupported()),
    }))
}

fn to_nice_yaml(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let mut a = Args::parse("to_nice_yaml", rest, &["indent"], true)?;
    let (value, keep_vault) = vault_behavior(value, &mut a)?;
    let o = agent_yaml::EmitOptions {
        keep_vault,
        ..yaml_opts(true, &a, Some(0))?
    };
    Ok(Value::from(agent_yaml::emit(&value, &o)))
}

fn from_yaml(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("from_yaml", rest, &[], false)?;
    if value.is_none() {
        return Ok(value);
    }
    let Some(s) = value.as_str() else {
        return Ok(value);
    };
    match agent_yaml::parse_one(s, Path::new("<string>")) {
        Ok(Some(n)) => Ok(n.to_value()),
        Ok(None) => Ok(Value::from(())),
        Err(e) => Err(err(e.to_string())),
    }
}

fn from_yaml_all(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("from_yaml_all", rest, &[], false)?;
    if value.is_none() {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    let Some(s) = value.as_str() else {
        return Ok(value);
    };
    match agent_yaml::parse_all(s, Path::new("<string>"), agent_yaml::Limits::default()) {
        Ok(docs) => Ok(Value::from(
            docs.iter().map(|n| n.to_value()).collect::<Vec<_>>(),
        )),
        Err(e) => Err(err(e.to_string())),
    }
}

type Dict = IndexMap<Value, Value>;

fn to_dict(v: &Value) -> Option<Dict> {
    map_items(v).map(|items| items.into_iter().collect())
}

fn dict_value(d: Dict) -> Value {
    Value::from_pairs(d)
}

/// Ansible's `merge_hash(x, y, recursive, list_merge)`: y's keys win.
pub fn merge_hash(x: &Value, y: &Value, recursive: bool, list_merge: &str) -> Result<Value, Error> {
    if !matches!(
        list_merge,
        "replace" | "keep" | "append" | "prepend" | "append_rp" | "prepend_rp"
    ) {
        return Err(err(
            "merge_hash: 'list_merge' argument can only be equal to 'replace', 'keep', 'append', 'prepend', 'append_rp' or 'prepend_rp'",
        ));
    }
    let (Some(mut xd), Some(yd)) = (to_dict(x), to_dict(y)) else {
        return Err(err(format!(
            "failed to combine variables, expected dicts but got a '{}' and a '{}'.",
            type_name(x),
            type_name(y)
        )));
    };
    for (k, yv) in yd {
        let Some(xv) = xd.get(&k).cloned() else {
            xd.insert(k, yv);
            continue;
        };
        if is_map(&xv) && is_map(&yv) {
            let nv = if recursive {
                merge_hash(&xv, &yv, recursive, list_merge)?
            } else {
                yv
            };
            xd.insert(k, nv);
            continue;
        }
        if is_seq(&xv) && is_seq(&yv) {
            let xl = list_of(&xv).unwrap_or_default();
            let yl = list_of(&yv).unwrap_or_default();
            let contains = |l: &[Value], z: &Value| l.iter().any(|e| super::py_eq(e, z));
            let merged: Vec<Value> = match list_merge {
                "replace" => yl,
                "keep" => xl,
                "append" => xl.into_iter().chain(yl).collect(),
                "prepend" => yl.into_iter().chain(xl).collect(),
                "append_rp" => xl
                    .iter()
                    .filter(|z| !contains(&yl, z))
                    .cloned()
                    .chain(yl.iter().cloned())
                    .collect(),
                _ => yl
                    .iter()
                    .cloned()
                    .chain(xl.iter().filter(|z| !contains(&yl, z)).cloned())
                    .collect(),
            };
            xd.insert(k, Value::from(merged));
            continue;
        }
        xd.insert(k, yv);
    }
    Ok(dict_value(xd))
}

fn combine(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    let mut recursive = false;
    let mut list_merge = "replace".to_string();
    for (k, v) in &kw {
        match k.as_str() {
            "recursive" => recursive = v.is_true(),
            "list_merge" => list_merge = py_str(v),
            _ => {
                return Err(err(
                    "'recursive' and 'list_merge' are the only valid keyword arguments",
                ));
            }
        }
    }
    let mut terms = vec![value];
    terms.extend(pos);
    let dicts = flatten(&terms, Some(1), true);
    if dicts.is_empty() {
        return Ok(Value::from_pairs(Vec::<(Value, Value)>::new()));
    }
    if dicts.len() == 1 {
        return Ok(dicts[0].clone());
    }
    let mut it = dicts.iter().rev();
    let mut result = it.next().cloned().unwrap_or_default();
    for d in it {
        result = merge_hash(d, &result, recursive, &list_merge)?;
    }
    Ok(result)
}

fn dict2items(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("dict2items", rest, &["key_name", "value_name"], false)?;
    let kn = a.string(0, "key");
    let vn = a.string(1, "value");
    let Some(items) = map_items(&value) else {
        return Err(err(format!(
            "dict2items requires a dictionary, got <class '{}'> instead.",
            type_name(&value)
        )));
    };
    Ok(Value::from(
        items
            .into_iter()
            .map(|(k, v)| Value::from_pairs([(kn.clone(), k), (vn.clone(), v)]))
            .collect::<Vec<_>>(),
    ))
}

fn items2dict(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("items2dict", rest, &["key_name", "value_name"], false)?;
    let kn = a.string(0, "key");
    let vn = a.string(1, "value");
    let Some(items) = list_of(&value) else {
        return Err(err(format!(
            "items2dict requires a list, got <class '{}'> instead.",
            type_name(&value)
        )));
    };
    let mut d = Dict::new();
    for it in items {
        if !is_map(&it) {
            return Err(err(format!(
                "items2dict requires a list of dictionaries, got {} instead.",
                py_repr(&value)
            )));
        }
        let k = it.get_attr(&kn).unwrap_or_default();
        let v = it.get_attr(&vn).unwrap_or_default();
        if k.is_undefined() || v.is_undefined() {
            return Err(err(format!(
                "items2dict requires each dictionary in the list to contain the keys '{kn}' and '{vn}', got {} instead.",
                py_repr(&value)
            )));
        }
        d.insert(k, v);
    }
    Ok(dict_value(d))
}

/// Ansible's `flatten(mylist, levels, skip_nulls)`.
pub fn flatten(list: &[Value], levels: Option<i64>, skip_nulls: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for e in list {
        if skip_nulls && (e.is_none() || matches!(e.as_str(), Some("None") | Some("null"))) {
            continue;
        }
        if let Some(inner) = list_of(e) {
            match levels {
                None => out.extend(flatten(&inner, None, skip_nulls)),
                Some(l) if l >= 1 => out.extend(flatten(&inner, Some(l - 1), skip_nulls)),
                Some(_) => out.push(e.clone()),
            }
        } else {
            out.push(e.clone());
        }
    }
    out
}

fn flatten_filter(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("flatten", rest, &["levels", "skip_nulls"], false)?;
    let levels = match a.some(0) {
        Some(v) => Some(to_int(v).ok_or_else(|| err("levels must be an integer"))?),
        None => None,
    };
    let items = py_iter(&value)?;
    Ok(Value::from(flatten(&items, levels, a.truthy(1, true))))
}

/// Ansible's `subelements(obj, subelements, skip_missing)` as (item, subitem) pairs.
pub fn subelements(obj: &Value, sub: &Value, skip_missing: bool) -> Result<Vec<Value>, Error> {
    let elements: Vec<Value> = if is_map(obj) {
        map_items(obj)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    } else if let Some(l) = list_of(obj) {
        l
    } else {
        return Err(err("obj must be a list of dicts or a nested dict"));
    };
    let path: Vec<Value> = if let Some(l) = list_of(sub) {
        l
    } else if let Some(s) = sub.as_str() {
        s.split('.').map(Value::from).collect()
    } else {
        return Err(err("subelements must be a list or a string"));
    };
    let mut out = Vec::new();
    for el in elements {
        let mut values = el.clone();
        let mut missing = false;
        for key in &path {
            if !is_map(&values) {
                return Err(err(format!(
                    "the key {} should point to a dictionary, got '{}'",
                    py_str(key),
                    py_str(&values)
                )));
            }
            let next = values.get_item(key).unwrap_or_default();
            if next.is_undefined() {
                if skip_missing {
                    missing = true;
                    break;
                }
                return Err(err(format!(
                    "could not find {} key in iterated item {}",
                    py_repr(key),
                    py_repr(&values)
                )));
            }
            values = next;
        }
        if missing {
            continue;
        }
        let Some(l) = list_of(&values) else {
            return Err(err(format!(
                "the key {} should point to a list, got {}",
                py_repr(path.last().unwrap_or(&Value::from(""))),
                py_repr(&values)
            )));
        };
        // Python tuples, as Ansible makes them: `(item, subitem) == [item, subitem]` is
        // false.
        for v in l {
            out.push(Value::from(minijinja::value::Tuple::from([el.clone(), v])));
        }
    }
    Ok(out)
}

fn subelements_filter(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("subelements", rest, &["subelements", "skip_missing"], false)?;
    let sub = a.req("subelements", 0, "subelements")?;
    Ok(Value::from(subelements(&value, sub, a.truthy(1, false))?))
}

fn extract(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("extract", rest, &["container", "morekeys"], false)?;
    let container = a.req("extract", 0, "container")?.clone();
    let mut keys = vec![value];
    match a.some(1) {
        None => {}
        Some(m) => match list_of(m) {
            Some(l) => keys.extend(l),
            None => keys.push(m.clone()),
        },
    }
    let mut v = container;
    for k in keys {
        let next = v.get_item(&k).unwrap_or_default();
        if next.is_undefined()
            && let Some(s) = k.as_str()
        {
            v = v.get_attr(s).unwrap_or_default();
            continue;
        }
        v = next;
    }
    Ok(v)
}

fn b64encode(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("b64encode", rest, &["encoding", "urlsafe"], false)?;
    let s = py_str(&value);
    let bytes = encode_text(&s, &a.string(0, "utf-8"))?;
    let out = if a.truthy(1, false) {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    Ok(Value::from(out))
}

fn encode_text(s: &str, encoding: &str) -> Result<Vec<u8>, Error> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(s.as_bytes().to_vec()),
        "utf-16-le" | "utf-16le" => Ok(s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()),
        "utf-16-be" | "utf-16be" => Ok(s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()),
        "latin-1" | "latin1" | "iso-8859-1" => s
            .chars()
            .map(|c| {
                u8::try_from(c as u32).map_err(|_| err("'latin-1' codec can't encode character"))
            })
            .collect(),
        "ascii" => s
            .chars()
            .map(|c| {
                if c.is_ascii() {
                    Ok(c as u8)
                } else {
                    Err(err("'ascii' codec can't encode character"))
                }
            })
            .collect(),
        other => Err(err(format!("unknown encoding: {other}"))),
    }
}

fn decode_text(b: &[u8], encoding: &str) -> Result<String, Error> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(String::from_utf8_lossy(b).into_owned()),
        "utf-16-le" | "utf-16le" => {
            let u: Vec<u16> = b
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            Ok(String::from_utf16_lossy(&u))
        }
        "utf-16-be" | "utf-16be" => {
            let u: Vec<u16> = b
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            Ok(String::from_utf16_lossy(&u))
        }
        "latin-1" | "latin1" | "iso-8859-1" => Ok(b.iter().map(|&c| c as char).collect()),
        "ascii" => Ok(String::from_utf8_lossy(b).into_owned()),
        other => Err(err(format!("unknown encoding: {other}"))),
    }
}

/// `unvault(secret, vault_id='filter_default')`: the plain text of a vaulted value or
/// vault-encrypted text, with the secret given (the run's secrets are not used); other
/// text as it is. The plain text is data: never templated.
fn unvault(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    use agent_yaml::vault::{Vaulted, decrypt_with, is_encrypted};
    let a = Args::parse("unvault", rest, &["secret", "vault_id"], false)?;
    let secret = a
        .get(0)
        .ok_or_else(|| err("unvault() missing 1 required positional argument: 'secret'"))?;
    let Some(secret) = secret.as_str() else {
        return Err(err(format!(
            "Secret passed is required to be as string, instead we got {}.",
            crate::pymethods::py_type_name(secret)
        )));
    };
    let text = match Vaulted::of(&value) {
        Some(v) => v.ciphertext().to_string(),
        None if value.kind() == minijinja::value::ValueKind::String => py_str(&value),
        None => {
            return Err(err(format!(
                "Vault should be in the form of a string, instead we got {}.",
                crate::pymethods::py_type_name(&value)
            )));
        }
    };
    if !is_encrypted(&text) {
        return Ok(value);
    }
    let plain = decrypt_with(&text, &[secret.as_bytes().to_vec()])
        .map_err(|_| err("Unable to decrypt."))?;
    Ok(Value::from_safe_string(
        String::from_utf8_lossy(&plain).into_owned(),
    ))
}

fn b64decode(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("b64decode", rest, &["encoding", "urlsafe"], false)?;
    let s = py_str(&value);
    // Python's b64decode discards characters outside the alphabet and accepts missing padding errors strictly.
    let urlsafe = a.truthy(1, false);
    let cleaned: String = s
        .chars()
        .map(|c| {
            if urlsafe {
                match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                }
            } else {
                c
            }
        })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let data = cleaned.trim_end_matches('=');
    if cleaned.len() % 4 != 0 || data.len() % 4 == 1 {
        return Err(err("Incorrect padding"));
    }
    let bytes = engine
        .decode(data.as_bytes())
        .map_err(|_| err("Incorrect padding"))?;
    Ok(Value::from(decode_text(&bytes, &a.string(0, "utf-8"))?))
}

const UUID_NAMESPACE_ANSIBLE: &str = "361e6d51-faec-444a-9079-341386da8e2e";

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s
        .trim()
        .trim_start_matches("urn:")
        .trim_start_matches("uuid:")
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `uuid.uuid5(namespace, name)` as text.
pub fn uuid5(namespace: &str, name: &str) -> Option<String> {
    use sha1::{Digest, Sha1};
    let ns = parse_uuid(namespace)?;
    let mut h = Sha1::new();
    h.update(ns);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn to_uuid(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("to_uuid", rest, &["namespace"], false)?;
    let ns = a.string(0, UUID_NAMESPACE_ANSIBLE);
    uuid5(&ns, &py_str(&value)).map(Value::from).ok_or_else(|| {
        err(format!(
            "Invalid value '{ns}' for 'namespace': badly formed hexadecimal UUID string"
        ))
    })
}

/// Python `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn quote(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("quote", rest, &[], false)?;
    let s = if value.is_none() {
        String::new()
    } else {
        py_str(&value)
    };
    Ok(Value::from(shell_quote(&s)))
}

fn comment(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("comment", rest, &["style"], true)?;
    let style = a.string(0, "plain");
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        _ => {
            return Err(err(format!(
                "Invalid style {}.",
                super::pyfmt::str_repr(&style)
            )));
        }
    };
    let kw: IndexMap<String, Value> = a.extra.into_iter().collect();
    let prepostfix = kw
        .get("decoration")
        .map(py_str)
        .unwrap_or_else(|| decoration.to_string());
    let get = |k: &str, d: String| kw.get(k).map(py_str).unwrap_or(d);
    let newline = get("newline", "\n".into());
    let beginning = get("beginning", beginning.into());
    let prefix = get("prefix", prepostfix.trim_end().to_string());
    let prefix_count = kw.get("prefix_count").and_then(to_int).unwrap_or(1).max(0) as usize;
    let decoration = get("decoration", decoration.into());
    let postfix = get("postfix", prepostfix.trim_end().to_string());
    let postfix_count = kw.get("postfix_count").and_then(to_int).unwrap_or(1).max(0) as usize;
    let end = get("end", end.into());
    let text = py_str(&value);

    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        if prefix != newline {
            out.push_str(&format!("{prefix}{newline}").repeat(prefix_count));
        } else {
            out.push_str(&newline.repeat(prefix_count));
        }
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(Value::from(out))
}

fn type_debug(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    Args::parse("type_debug", rest, &[], false)?;
    if value.is_undefined() {
        // the class of Ansible 2.19+'s undefined values
        return Ok(Value::from("UndefinedMarker"));
    }
    Ok(Value::from(type_name(&value)))
}

/// Python `str.split(sep, maxsplit)`.
pub fn py_split(s: &str, sep: Option<&str>, maxsplit: i64) -> Result<Vec<String>, Error> {
    let max = if maxsplit < 0 {
        usize::MAX
    } else {
        maxsplit as usize
    };
    match sep {
        None => {
            let mut out = Vec::new();
            let mut rest = s.trim_start();
            while !rest.is_empty() {
                if out.len() == max {
                    out.push(rest.to_string());
                    return Ok(out);
                }
                match rest.find(char::is_whitespace) {
                    Some(i) => {
                        out.push(rest[..i].to_string());
                        rest = rest[i..].trim_start();
                    }
                    None => {
                        out.push(rest.to_string());
                        rest = "";
                    }
                }
            }
            Ok(out)
        }
        Some("") => Err(err("empty separator")),
        Some(sep) => {
            if max == usize::MAX {
                Ok(s.split(sep).map(str::to_string).collect())
            } else {
                Ok(s.splitn(max.saturating_add(1), sep)
                    .map(str::to_string)
                    .collect())
            }
        }
    }
}

fn split(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("split", rest, &["sep", "maxsplit"], false)?;
    let Some(s) = value.as_str() else {
        return Err(err(format!(
            "descriptor 'split' for 'str' objects doesn't apply to a '{}' object",
            type_name(&value)
        )));
    };
    let sep = a.some(0).map(py_str);
    let max = a.int("split", 1, -1)?;
    Ok(Value::from(py_split(s, sep.as_deref(), max)?))
}

fn random(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("random", rest, &["start", "step", "seed"], false)?;
    let mut r = match a.some(2) {
        Some(seed) => PyRandom::from_value(seed),
        None => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            PyRandom::from_int((t ^ (std::process::id() as u128) << 64) as i128)
        }
    };
    if value.is_integer() && as_bool(&value).is_none() {
        let end = value.as_i64().ok_or_else(|| err("integer too large"))?;
        let start = if a.truthy(0, false) {
            a.int("random", 0, 0)?
        } else {
            0
        };
        let step = if a.truthy(1, false) {
            a.int("random", 1, 1)?
        } else {
            1
        };
        return r.randrange(start, end, step).map(Value::from).map_err(err);
    }
    if value.as_str().is_some() || is_seq(&value) || is_map(&value) {
        if a.truthy(0, false) || a.truthy(1, false) {
            return Err(err("start and step can only be used with integer values"));
        }
        let items = py_iter(&value)?;
        if items.is_empty() {
            return Err(err("Cannot choose from an empty sequence"));
        }
        let i = r.randbelow(items.len() as u128) as usize;
        return Ok(items[i].clone());
    }
    Err(err("random can only be used on sequences and integers"))
}

fn shuffle(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("shuffle", rest, &["seed"], false)?;
    let Ok(mut items) = py_iter(&value) else {
        return Ok(value);
    };
    let mut r = match a.get(0).filter(|s| s.is_true()) {
        Some(seed) => PyRandom::from_value(seed),
        None => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            PyRandom::from_int(t as i128)
        }
    };
    r.shuffle(&mut items);
    Ok(Value::from(items))
}

fn strftime(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("strftime", rest, &["second", "utc"], false)?;
    let fmt = py_str(&value);
    let secs = match a.some(0) {
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        Some(v) => super::to_f64(v)
            .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
            .ok_or_else(|| err(format!("Invalid value for epoch value ({})", py_str(v))))?,
    };
    let utc = a.truthy(1, false);
    super::path::format_time(&fmt, secs, utc).map(Value::from)
}

fn to_datetime(_: &State, value: Value, rest: &[ValueOrKwargs]) -> Result<Value, Error> {
    let a = Args::parse("to_datetime", rest, &["format"], false)?;
    let fmt = a.string(0, "%Y-%m-%d %H:%M:%S");
    super::path::parse_datetime(&py_str(&value), &fmt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(expr: &str) -> Result<Value, Error> {
        let env = crate::filters::tests::env();
        env.compile_expression(expr)?.eval(())
    }

    #[test]
    fn defaults() {
        assert_eq!(eval("x | default(5)").unwrap(), Value::from(5));
        assert_eq!(eval("'' | default(5, true)").unwrap(), Value::from(5));
        assert_eq!(eval("'' | d(5)").unwrap(), Value::from(""));
        assert!(eval("'' | default(5, 'yes')").is_err());
    }

    #[test]
    fn combine_recursive() {
        let v = eval("{'a': {'x': 1, 'l': [1]}, 'b': 2} | combine({'a': {'y': 2, 'l': [2]}}, recursive=true, list_merge='append')").unwrap();
        assert_eq!(py_repr(&v), "{'a': {'x': 1, 'l': [1, 2], 'y': 2}, 'b': 2}");
    }

    #[test]
    fn uuid_and_quote() {
        assert_eq!(
            uuid5(UUID_NAMESPACE_ANSIBLE, "test").unwrap(),
            "f4fb6740-9e00-5ac4-9581-f24b6ecfe71e"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
    }

    #[test]
    fn split_like_python() {
        assert_eq!(
            py_split("  a b  c ", None, -1).unwrap(),
            vec!["a", "b", "c"]
        );
        assert_eq!(py_split("a,b,c", Some(","), 1).unwrap(), vec!["a", "b,c"]);
    }
}
