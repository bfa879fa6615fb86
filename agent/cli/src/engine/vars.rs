//! Variable layers for one task, in Ansible's precedence order (highest first), and the
//! `hostvars` object.

use std::sync::Arc;

use agent_inventory::Inventory;
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::{Enumerator, Object, ObjectRepr};

/// Turn a map into a template value.
pub fn map_value(m: &IndexMap<String, Value>) -> Value {
    Value::from_pairs(m.iter().map(|(k, v)| (k.clone(), v.clone())))
}

/// Mark every string inside a value as data that is never templated again (registered
/// results, facts): Ansible's "unsafe".
pub fn mark_unsafe(v: &Value) -> Value {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::String if !v.is_safe() => {
            Value::from_safe_string(v.as_str().unwrap_or_default().to_string())
        }
        ValueKind::Seq => Value::from(
            v.try_iter()
                .map(|it| it.map(|x| mark_unsafe(&x)).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
        ValueKind::Map => {
            let Ok(keys) = v.try_iter() else {
                return v.clone();
            };
            Value::from_pairs(keys.map(|k| {
                let val = v.get_item(&k).unwrap_or_default();
                (k, mark_unsafe(&val))
            }))
        }
        _ => v.clone(),
    }
}

/// A task's result as `register` keeps it: untrusted, as a module's result comes back to
/// Ansible as plain data, except what the controller put there itself: each loop item
/// (under its `ansible_loop_var`, in `results` too), and, when `own_facts`, the facts of
/// an action that runs on the controller (`set_fact`, `include_vars`), which keep the trust
/// of the values they were given.
pub fn registered(r: &IndexMap<String, Value>, own_facts: bool) -> Value {
    fn entry(m: &IndexMap<String, Value>, own_facts: bool) -> Value {
        let loop_var = m
            .get("ansible_loop_var")
            .and_then(|v| v.as_str())
            .unwrap_or("item")
            .to_string();
        Value::from_pairs(m.iter().map(|(k, v)| {
            let kept = (k == &loop_var && m.contains_key("ansible_loop_var"))
                || (own_facts && k == "ansible_facts");
            let v = if kept {
                untrusted_templates(v)
            } else if k == "results" && v.kind() == minijinja::value::ValueKind::Seq {
                Value::from(
                    v.try_iter()
                        .map(|it| {
                            it.map(|x| match as_index_map(&x) {
                                Some(m) => entry(&m, own_facts),
                                None => mark_unsafe(&x),
                            })
                            .collect::<Vec<_>>()
                        })
                        .unwrap_or_default(),
                )
            } else {
                mark_unsafe(v)
            };
            (k.clone(), v)
        }))
    }
    entry(r, own_facts)
}

/// A value kept trusted in a registered result, but with any string that holds a template
/// marked as data: the agent renders a variable whole when it is read, where Ansible
/// renders only the part read, so a registered `include_vars` result with a template
/// that cannot be rendered yet would fail every use of the result.
fn untrusted_templates(v: &Value) -> Value {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::String
            if !v.is_safe() && v.as_str().is_some_and(agent_template::Templar::is_template) =>
        {
            mark_unsafe(v)
        }
        ValueKind::Seq => Value::from(
            v.try_iter()
                .map(|it| it.map(|x| untrusted_templates(&x)).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
        ValueKind::Map => match as_index_map(v) {
            Some(m) => {
                Value::from_pairs(m.iter().map(|(k, x)| (k.clone(), untrusted_templates(x))))
            }
            None => v.clone(),
        },
        _ => v.clone(),
    }
}

/// A dict value's entries (string keys), or `None` for anything else.
fn as_index_map(v: &Value) -> Option<IndexMap<String, Value>> {
    if v.kind() != minijinja::value::ValueKind::Map {
        return None;
    }
    let keys = v.try_iter().ok()?;
    Some(
        keys.map(|k| (k.to_string(), v.get_item(&k).unwrap_or_default()))
            .collect(),
    )
}

/// `hostvars`: every inventory host's variables; this host's include facts and set_facts.
#[derive(Debug)]
pub struct HostVars {
    pub inventory: Arc<Inventory>,
    pub this_host: String,
    pub this_vars: Value,
    /// Hosts added at run time (add_host): name → variables.
    pub runtime: IndexMap<String, Value>,
    /// Several hosts in one run: what the other hosts set (facts, set_fact, registered
    /// results, include_vars), over their inventory variables.
    pub peers: Option<Arc<super::lockstep::Lockstep>>,
}

impl Object for HostVars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if name == self.this_host {
            return Some(self.this_vars.clone());
        }
        if let Some(v) = self.runtime.get(name) {
            return Some(v.clone());
        }
        let set = self.peers.as_ref().and_then(|p| p.published(name));
        if !self.inventory.hosts.contains_key(name) {
            return set.map(|s| map_value(&s));
        }
        let mut vars = self.inventory.host_vars(name).ok()?;
        if let Some(set) = set {
            vars.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        vars.insert("inventory_hostname".into(), Value::from(name));
        vars.insert(
            "inventory_hostname_short".into(),
            Value::from(name.split('.').next().unwrap_or(name)),
        );
        vars.insert(
            "group_names".into(),
            Value::from(self.inventory.group_names(name)),
        );
        Some(map_value(&vars))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<Value> = self
            .inventory
            .hosts
            .keys()
            .map(|k| Value::from(k.as_str()))
            .collect();
        if !self.inventory.hosts.contains_key(&self.this_host) {
            names.push(Value::from(self.this_host.as_str()));
        }
        names.extend(self.runtime.keys().map(|k| Value::from(k.as_str())));
        Enumerator::Values(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registered result is untrusted except the loop items and a controller action's
    /// own facts.
    #[test]
    fn registered_results_keep_only_the_controllers_values_trusted() {
        let item = |r: &Value, path: &[&str]| {
            let mut v = r.clone();
            for p in path {
                v = match p.parse::<usize>() {
                    Ok(i) => v.get_item(&Value::from(i)).unwrap(),
                    Err(_) => v.get_attr(p).unwrap(),
                };
            }
            v
        };
        let mut entry = IndexMap::new();
        entry.insert("x".to_string(), Value::from("1 == 1"));
        entry.insert("stdout".to_string(), Value::from("{{ x }}"));
        entry.insert("ansible_loop_var".to_string(), Value::from("x"));
        let mut r = IndexMap::new();
        r.insert("results".to_string(), Value::from(vec![map_value(&entry)]));
        r.insert(
            "ansible_facts".to_string(),
            Value::from_pairs([("foo", Value::from("bar"))]),
        );
        r.insert("msg".to_string(), Value::from("text"));
        let module = registered(&r, false);
        assert!(!item(&module, &["results", "0", "x"]).is_safe());
        assert!(item(&module, &["results", "0", "stdout"]).is_safe());
        assert!(item(&module, &["ansible_facts", "foo"]).is_safe());
        assert!(item(&module, &["msg"]).is_safe());
        let action = registered(&r, true);
        assert!(!item(&action, &["ansible_facts", "foo"]).is_safe());
        assert!(item(&action, &["msg"]).is_safe());
    }
}
