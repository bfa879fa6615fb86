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

/// `hostvars`: every inventory host's variables; this host's include facts and set_facts.
#[derive(Debug)]
pub struct HostVars {
    pub inventory: Arc<Inventory>,
    pub this_host: String,
    pub this_vars: Value,
    /// Hosts added at run time (add_host): name → variables.
    pub runtime: IndexMap<String, Value>,
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
        if !self.inventory.hosts.contains_key(name) {
            return None;
        }
        let mut vars = self.inventory.host_vars(name).ok()?;
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
