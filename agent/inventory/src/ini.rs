//! The INI inventory format (ansible-core `plugins/inventory/ini.py`).

use std::path::Path;
use std::sync::LazyLock;

use indexmap::IndexMap;
use minijinja::Value;
use regex::Regex;

use crate::address::{expand_hostname_range, parse_address, shlex_split};
use crate::pyliteral::literal_eval;
use crate::{Inventory, InventoryError, Source};

static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").unwrap_or_else(|e| panic!("{e}"))
});
static GROUPNAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").unwrap_or_else(|e| panic!("{e}")));

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Children,
    Vars,
}

struct Pending {
    line: usize,
    state: State,
    parents: Vec<String>,
}

/// `_parse_value`: a Python literal when `ast.literal_eval` accepts it, else the text.
pub(crate) fn parse_value(v: &str) -> Value {
    literal_eval(v).unwrap_or_else(|| Value::from(v))
}

/// Python's `str.splitlines()` line breaks.
fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if is_break {
            out.push(&text[start..i]);
            let mut next = i + c.len_utf8();
            if c == '\r'
                && let Some(&(j, '\n')) = chars.peek()
            {
                chars.next();
                next = j + 1;
            }
            start = next;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

pub(crate) fn parse(
    inv: &mut Inventory,
    path: &Path,
    text: &str,
    src: &Source,
) -> Result<(), InventoryError> {
    let file = path.display().to_string();
    let err = |line: usize, msg: String| InventoryError::new(file.clone(), line, 1, msg);
    let mut pending: IndexMap<String, Pending> = IndexMap::new();
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    for (idx, raw) in split_lines(text).into_iter().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(c) = SECTION.captures(line) {
            let name = c.get(1).map_or("", |m| m.as_str()).to_string();
            let tag = c.get(2).map(|m| m.as_str());
            state = match tag {
                None | Some("hosts") => State::Hosts,
                Some("children") => State::Children,
                Some("vars") => State::Vars,
                Some(other) => {
                    return Err(err(
                        lineno,
                        format!(
                            "Section [{name}:{other}] has unknown type: {other} (use [{name}], [{name}:children] or [{name}:vars])"
                        ),
                    ));
                }
            };
            if !inv.groups.contains_key(&name) {
                if state == State::Vars && !pending.contains_key(&name) {
                    pending.insert(
                        name.clone(),
                        Pending {
                            line: lineno,
                            state,
                            parents: Vec::new(),
                        },
                    );
                }
                inv.add_group(&name);
            }
            if state != State::Vars
                && let Some(p) = pending.get(&name)
            {
                match p.state {
                    State::Children => add_pending_children(inv, &name, &mut pending)
                        .map_err(|m| err(lineno, m))?,
                    _ => {
                        pending.shift_remove(&name);
                    }
                }
            }
            group = name;
            continue;
        } else if line.starts_with('[') && line.ends_with(']') {
            return Err(err(
                lineno,
                format!(
                    "Invalid section entry: '{line}'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters"
                ),
            ));
        }
        match state {
            State::Hosts => {
                let (hosts, port, vars) =
                    parse_host_definition(line).map_err(|m| err(lineno, m))?;
                for h in &hosts {
                    inv.add_host(h, Some(&group), port, src)
                        .map_err(|m| err(lineno, m))?;
                    for (k, v) in &vars {
                        inv.set_host_var(h, k, v.clone());
                    }
                }
            }
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(
                        lineno,
                        format!(
                            "Expected key=value, got: {line} (a [{group}:vars] section holds name=value lines)"
                        ),
                    ));
                };
                inv.set_group_var(&group, k.trim(), parse_value(v.trim()));
            }
            State::Children => {
                let Some(c) = GROUPNAME.captures(line) else {
                    return Err(err(lineno, format!("Expected group name, got: {line}")));
                };
                let child = c.get(1).map_or("", |m| m.as_str()).to_string();
                if !inv.groups.contains_key(&child) {
                    match pending.get_mut(&child) {
                        Some(p) => p.parents.push(group.clone()),
                        None => {
                            pending.insert(
                                child,
                                Pending {
                                    line: lineno,
                                    state: State::Children,
                                    parents: vec![group.clone()],
                                },
                            );
                        }
                    }
                } else {
                    inv.add_child(&group, &child).map_err(|m| err(lineno, m))?;
                }
            }
        }
    }
    if let Some((name, p)) = pending.first() {
        let msg = match p.state {
            State::Vars => format!(
                "Section [{name}:vars] not valid for undefined group '{name}'. Declare the group with a [{name}] or [{name}:children] section."
            ),
            _ => format!(
                "Section [{}:children] includes undefined group '{name}'. Declare it with a [{name}] section (it may be empty).",
                p.parents.last().map_or("", String::as_str)
            ),
        };
        return Err(err(p.line, msg));
    }
    Ok(())
}

fn add_pending_children(
    inv: &mut Inventory,
    group: &str,
    pending: &mut IndexMap<String, Pending>,
) -> Result<(), String> {
    let parents = pending
        .get(group)
        .map(|p| p.parents.clone())
        .unwrap_or_default();
    for parent in parents {
        inv.add_child(&parent, group)?;
        if pending
            .get(&parent)
            .is_some_and(|p| p.state == State::Children)
        {
            add_pending_children(inv, &parent, pending)?;
        }
    }
    pending.shift_remove(group);
    Ok(())
}

type HostDef = (Vec<String>, Option<u32>, Vec<(String, Value)>);

fn parse_host_definition(line: &str) -> Result<HostDef, String> {
    let tokens =
        shlex_split(line).map_err(|e| format!("Error parsing host definition '{line}': {e}"))?;
    let Some(first) = tokens.first() else {
        return Err(format!("Expected a host name, got: {line}"));
    };
    let (hosts, port) = expand_hostpattern(first)?;
    let mut vars = Vec::new();
    for t in &tokens[1..] {
        let Some((k, v)) = t.split_once('=') else {
            return Err(format!(
                "Expected key=value host variable assignment, got: {t} (quote values that contain spaces)"
            ));
        };
        vars.push((k.to_string(), parse_value(v)));
    }
    Ok((hosts, port, vars))
}

/// `_expand_hostpattern` with the INI plugin's extra checks.
pub(crate) fn expand_hostpattern(pattern: &str) -> Result<(Vec<String>, Option<u32>), String> {
    let (hosts, port) = expand_hostpattern_base(pattern)?;
    if pattern.trim().ends_with(':') && port.is_none() {
        return Err(format!(
            "Invalid host pattern '{pattern}' supplied, ending in ':' is not allowed, this character is reserved to provide a port."
        ));
    }
    if hosts.iter().any(|h| h.trim() == "---") {
        return Err(format!(
            "Invalid host pattern '{pattern}' supplied, '---' is normally a sign this is a YAML file."
        ));
    }
    Ok((hosts, port))
}

/// The base plugin's `_expand_hostpattern`: split off a port, expand ranges.
pub(crate) fn expand_hostpattern_base(pattern: &str) -> Result<(Vec<String>, Option<u32>), String> {
    let (host, port) = parse_address(pattern).unwrap_or_else(|| (pattern.to_string(), None));
    if host.contains('[') {
        let hosts = expand_hostname_range(&host).map_err(|e| e.0)?;
        Ok((hosts, port))
    } else {
        Ok((vec![host], port))
    }
}
