//! The YAML inventory format (ansible-core `plugins/inventory/yaml.py`).

use std::path::Path;

use agent_yaml::{Kind, Node};

use crate::ini::expand_hostpattern_base;
use crate::{Inventory, InventoryError, Source};

/// A YAML inventory failure. `is_structural` is set when the file was a YAML mapping
/// (so it was meant as a YAML inventory and this error is the useful one).
#[derive(Debug)]
pub(crate) struct YamlInvError {
    pub error: InventoryError,
    pub is_structural: bool,
}

/// Python's `type(x)` text for messages.
fn py_type(n: &Node) -> String {
    format!("<class '{}'>", n.type_name())
}

/// Python `repr`-ish text of a scalar key for messages.
fn py_scalar(n: &Node) -> String {
    match &n.kind {
        Kind::Null => "None".into(),
        Kind::Bool(true) => "True".into(),
        Kind::Bool(false) => "False".into(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(f) => f.to_string(),
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => s.clone(),
        Kind::Seq(_) => "[...]".into(),
        Kind::Map(_) => "{...}".into(),
    }
}

/// A variable name from a mapping key (Ansible keeps non-string keys; we name them by
/// their text).
fn key_text(n: &Node) -> String {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => s.clone(),
        _ => py_scalar(n),
    }
}

pub(crate) fn parse(
    inv: &mut Inventory,
    path: &Path,
    text: &str,
    src: &Source,
) -> Result<(), YamlInvError> {
    let file = path.display().to_string();
    let plain = |line: usize, col: usize, msg: String| YamlInvError {
        error: InventoryError::new(file.clone(), line, col, msg),
        is_structural: false,
    };
    let doc = agent_yaml::parse_one(text, path).map_err(|e| plain(e.line, e.col, e.message))?;
    let Some(doc) = doc else {
        return Err(plain(0, 0, "Parsed empty YAML file".into()));
    };
    let Some(entries) = doc.as_map() else {
        let msg = if is_falsy(&doc) {
            "Parsed empty YAML file".to_string()
        } else {
            format!(
                "YAML inventory has invalid structure, it should be a dictionary, got: {}",
                py_type(&doc)
            )
        };
        return Err(plain(doc.pos.line, doc.pos.col, msg));
    };
    if entries.is_empty() {
        return Err(plain(0, 0, "Parsed empty YAML file".into()));
    }
    if doc.get("plugin").is_some_and(|p| !is_falsy(p)) {
        return Err(YamlInvError {
            error: InventoryError::new(
                file.clone(),
                doc.pos.line,
                doc.pos.col,
                "inventory plugin configuration files (a 'plugin:' key) are not supported; use a static INI or YAML inventory",
            ),
            is_structural: true,
        });
    }
    let mut p = YamlParser {
        inv,
        file: &file,
        src,
    };
    for (k, v) in entries {
        p.group(k, v).map_err(|error| YamlInvError {
            error,
            is_structural: true,
        })?;
    }
    Ok(())
}

fn is_falsy(n: &Node) -> bool {
    match &n.kind {
        Kind::Null => true,
        Kind::Bool(b) => !b,
        Kind::Int(i) => *i == 0,
        Kind::Float(f) => *f == 0.0,
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => s.is_empty(),
        Kind::Seq(s) => s.is_empty(),
        Kind::Map(m) => m.is_empty(),
    }
}

struct YamlParser<'a> {
    inv: &'a mut Inventory,
    file: &'a str,
    src: &'a Source,
}

impl YamlParser<'_> {
    fn err(&self, n: &Node, msg: impl Into<String>) -> InventoryError {
        InventoryError::new(self.file, n.pos.line, n.pos.col, msg)
    }

    /// `_parse_group`: returns the group name (even when the data was skipped).
    fn group(&mut self, key: &Node, data: &Node) -> Result<String, InventoryError> {
        let name = match &key.kind {
            Kind::Str(s) | Kind::Unsafe(s) => s.clone(),
            _ => py_scalar(key),
        };
        let is_map = data.as_map().is_some();
        if !is_map && !data.is_null() {
            tracing::warn!(
                "{}:{}: Skipping '{name}' as this is not a valid group definition",
                self.file,
                key.pos
            );
            return Ok(name);
        }
        if !matches!(key.kind, Kind::Str(_) | Kind::Unsafe(_)) {
            return Err(self.err(
                key,
                format!(
                    "Invalid group name supplied, expected a string but got {} for {name}",
                    py_type(key)
                ),
            ));
        }
        if name.is_empty() {
            return Err(self.err(key, "Invalid empty/false group name provided"));
        }
        self.inv.add_group(&name);
        let Some(entries) = data.as_map() else {
            return Ok(name);
        };
        for section in ["vars", "children", "hosts"] {
            if let Some(v) = data.get(section)
                && !v.is_null()
                && v.as_map().is_none()
                && v.as_str().is_none()
            {
                return Err(self.err(
                    v,
                    format!(
                        "Invalid \"{section}\" entry for \"{name}\" group, requires a dictionary, found \"{}\" instead.",
                        py_type(v)
                    ),
                ));
            }
        }
        for (k, v) in entries {
            let key_s = key_text(k);
            // A string is shorthand for a one-entry mapping (for the three sections).
            let single: Option<Vec<(Node, Node)>> = match (&v.kind, key_s.as_str()) {
                (Kind::Str(_) | Kind::Unsafe(_), "vars" | "children" | "hosts") => Some(vec![(
                    v.clone(),
                    Node {
                        pos: v.pos,
                        kind: Kind::Null,
                    },
                )]),
                _ => None,
            };
            let items: &[(Node, Node)] = match (&single, v.as_map()) {
                (Some(s), _) => s,
                (None, Some(m)) => m,
                (None, None) => {
                    if !v.is_null() {
                        tracing::warn!(
                            "{}:{}: Skipping key ({key_s}) in group ({name}) as it is not a mapping, it is a {}",
                            self.file,
                            k.pos,
                            py_type(v)
                        );
                    }
                    continue;
                }
            };
            match key_s.as_str() {
                "vars" => {
                    for (vk, vv) in items {
                        self.inv.set_group_var(&name, &key_text(vk), vv.to_value());
                    }
                }
                "children" => {
                    for (ck, cv) in items {
                        let child = self.group(ck, cv)?;
                        self.inv
                            .add_child(&name, &child)
                            .map_err(|m| self.err(ck, m))?;
                    }
                }
                "hosts" => {
                    for (hk, hv) in items {
                        let Some(pattern) = hk.as_str() else {
                            return Err(self.err(
                                hk,
                                format!(
                                    "Host pattern {} must be a string. Enclose integers/floats in quotation marks.",
                                    py_scalar(hk)
                                ),
                            ));
                        };
                        let (hosts, port) =
                            expand_hostpattern_base(pattern).map_err(|m| self.err(hk, m))?;
                        let vars: &[(Node, Node)] = match (&hv.kind, hv.as_map()) {
                            (_, Some(m)) => m,
                            _ if is_falsy(hv) => &[],
                            _ => {
                                return Err(self.err(
                                    hv,
                                    format!(
                                        "Invalid data from file, expected dictionary and got:\n\n{}",
                                        py_scalar(hv)
                                    ),
                                ));
                            }
                        };
                        for h in &hosts {
                            self.inv
                                .add_host(h, Some(&name), port, self.src)
                                .map_err(|m| self.err(hk, m))?;
                            for (vk, vv) in vars {
                                self.inv.set_host_var(h, &key_text(vk), vv.to_value());
                            }
                        }
                    }
                }
                other => {
                    tracing::warn!(
                        "{}:{}: Skipping unexpected key ({other}) in group ({name}), only \"vars\", \"children\" and \"hosts\" are valid",
                        self.file,
                        k.pos
                    );
                }
            }
        }
        Ok(name)
    }
}
