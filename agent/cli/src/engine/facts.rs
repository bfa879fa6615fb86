//! Fact gathering for `setup` / `gather_facts` and the play's implicit gathering: the
//! agent-facts crate does the work; this file turns task or play parameters into its
//! options and its JSON facts into template values.

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

/// Strings of a list parameter (a list, or a comma-separated string as Ansible's
/// `type='list'` accepts).
fn list(v: Option<&Value>) -> Vec<String> {
    let Some(v) = v else { return Vec::new() };
    match v.kind() {
        ValueKind::Seq => v
            .try_iter()
            .map(|it| {
                it.map(|x| agent_modules::spec::value_to_string(&x))
                    .collect()
            })
            .unwrap_or_default(),
        ValueKind::None | ValueKind::Undefined => Vec::new(),
        _ => agent_modules::spec::value_to_string(v)
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

/// setup's options from its parameters (or the play's gather_* keywords).
pub fn options(
    gather_subset: Option<&Value>,
    filter: Option<&Value>,
    gather_timeout: Option<&Value>,
    fact_path: Option<&Value>,
) -> agent_facts::Options {
    let mut o = agent_facts::Options::default();
    let subset = list(gather_subset);
    if !subset.is_empty() {
        o.gather_subset = subset;
    }
    o.filter = list(filter);
    if let Some(t) = gather_timeout
        .map(agent_modules::spec::value_to_string)
        .and_then(|s| s.trim().parse::<u64>().ok())
    {
        o.gather_timeout = t;
    }
    if let Some(p) = fact_path.map(agent_modules::spec::value_to_string)
        && !p.is_empty()
    {
        o.fact_path = p;
    }
    o
}

/// JSON facts as template values.
pub fn to_values(f: agent_facts::Facts) -> IndexMap<String, Value> {
    f.into_iter()
        .map(|(k, v)| (k, agent_template::filters::pyfmt::from_json_value(v)))
        .collect()
}

/// The template values of the facts gathered last, by name: a later gathering (one per
/// play) converts only the facts whose JSON changed since (the costly ones, devices,
/// mounts and interfaces, rarely do).
#[derive(Default)]
pub struct ValueCache {
    last: std::collections::HashMap<String, (serde_json::Value, Value)>,
}

impl ValueCache {
    /// `to_values`, reusing the values of facts equal to the last gathering's.
    pub fn convert(&mut self, f: agent_facts::Facts) -> IndexMap<String, Value> {
        f.into_iter()
            .map(|(k, v)| {
                if let Some((json, val)) = self.last.get(&k)
                    && same(json, &v)
                {
                    return (k, val.clone());
                }
                let val = agent_template::filters::pyfmt::from_json_value(v.clone());
                self.last.insert(k.clone(), (v, val.clone()));
                (k, val)
            })
            .collect()
    }
}

/// Equal and in the same order (serde_json's `==` ignores the order of keys, which the
/// template values keep; `0.0 == -0.0` there too).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(va, vb)| same(va, vb))
        }
        (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => {
            x.is_f64() == y.is_f64() && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_parameters() {
        let o = options(
            Some(&Value::from("!all,network")),
            Some(&Value::from(vec!["ansible_eth*"])),
            Some(&Value::from(5)),
            None,
        );
        assert_eq!(o.gather_subset, vec!["!all", "network"]);
        assert_eq!(o.filter, vec!["ansible_eth*"]);
        assert_eq!(o.gather_timeout, 5);
        assert_eq!(o.fact_path, "/etc/ansible/facts.d");
        let o = options(None, None, None, None);
        assert_eq!(o.gather_subset, vec!["all"]);
    }

    #[test]
    fn gathers_basic_facts() {
        let f = agent_facts::gather_all();
        let v = to_values(f);
        assert!(v.contains_key("distribution"));
        assert!(v.get("memtotal_mb").is_some_and(|m| m.as_i64().is_some()));
    }

    #[test]
    fn cached_values_are_the_converted_ones() {
        let mut cache = ValueCache::default();
        let mut f = agent_facts::Facts::new();
        f.insert("a".into(), serde_json::json!({"x": [1, "y"]}));
        f.insert("b".into(), serde_json::json!(1));
        let first = cache.convert(f.clone());
        assert_eq!(first, to_values(f.clone()));
        f.insert("b".into(), serde_json::json!(2));
        let second = cache.convert(f.clone());
        assert_eq!(second, to_values(f));
        assert_eq!(second["b"], Value::from(2));
        assert_eq!(second["a"], first["a"]);
    }

    #[test]
    fn sameness_keeps_key_order_and_float_signs() {
        use serde_json::json;
        let a = json!({"x": 1, "y": [1.5, {"z": "s"}]});
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &json!({"y": [1.5, {"z": "s"}], "x": 1})));
        assert!(!same(&json!(0.0), &json!(-0.0)));
        assert!(!same(&json!(1), &json!(1.0)));
        assert!(same(&json!(u64::MAX), &json!(u64::MAX)));
    }
}
