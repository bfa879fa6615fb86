//! The `getent` module: entries of a name-service database (`passwd`, `group`, `hosts`,
//! ...) as `ansible_facts.getent_<database>`, from the `getent` program as in Ansible, so
//! that every NSS source (files, LDAP, sss) answers. Read only: never changed.
//!
//! Each line becomes `key: [fields...]`, split on `:` for passwd, shadow, group and
//! gshadow and on whitespace otherwise (or on `split`); a key seen twice holds a list of
//! field lists. Exit 2 (key not found) fails unless `fail_key: false`, which sets the key
//! to null with a message.

use indexmap::IndexMap;
use minijinja::Value;

use crate::command::{Spawn, spawn};
use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Getent;

const SPEC: &[Arg] = &[
    Arg::str("database").required(),
    Arg::str("key"),
    Arg::str("service"),
    Arg::str("split"),
    Arg::bool("fail_key", true),
];

const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// `getent`'s output as Ansible's module shapes it.
fn parse(out: &str, split: Option<&str>) -> IndexMap<String, Value> {
    let mut tree: IndexMap<String, Value> = IndexMap::new();
    let mut seen: IndexMap<String, usize> = IndexMap::new();
    for line in out.lines() {
        let record: Vec<&str> = match split {
            Some(sep) => line.split(sep).collect(),
            None => line.split_whitespace().collect(),
        };
        let Some((key, rest)) = record.split_first() else {
            continue;
        };
        let fields = Value::from(rest.iter().map(|s| Value::from(*s)).collect::<Vec<_>>());
        match seen.get_mut(*key) {
            None => {
                seen.insert(key.to_string(), 1);
                tree.insert(key.to_string(), fields);
            }
            Some(n) => {
                let prev = tree.get(*key).cloned().unwrap_or_default();
                let mut all: Vec<Value> = if *n == 1 {
                    vec![prev]
                } else {
                    prev.try_iter().map(|i| i.collect()).unwrap_or_default()
                };
                all.push(fields);
                *n += 1;
                tree.insert(key.to_string(), Value::from(all));
            }
        }
    }
    tree
}

impl Module for Getent {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = ();
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(args: &Args, _o: &(), ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        let database = args.string("database").unwrap_or_default();
        let key = args.string("key");
        let split = args.string("split");
        if split.as_deref() == Some("") {
            return Err(ModuleError::new(
                "Invalid split value. The value must be a non-empty string",
            ));
        }
        let split = split.or_else(|| COLON.contains(&database.as_str()).then(|| ":".into()));
        let mut argv = vec!["getent".to_string(), database.clone()];
        argv.extend(key.clone());
        if let Some(s) = args.string("service") {
            argv.extend(["-s".to_string(), s]);
        }
        let out = spawn(&Spawn {
            argv,
            env: ctx.environment.to_vec(),
            ..Spawn::default()
        })?
        .map_err(|e| {
            ModuleError::new(format!(
                "Failed to find required executable \"getent\": {e}"
            ))
        })?;
        let tree_name = format!("getent_{database}");
        let mut plan = Plan::default();
        let facts = |tree: IndexMap<String, Value>| {
            Value::from_pairs(vec![(tree_name.clone(), Value::from_pairs(tree))])
        };
        let msg = match out.rc {
            0 => {
                plan.set("ansible_facts", facts(parse(&out.stdout, split.as_deref())));
                return Ok(plan);
            }
            1 => "Missing arguments, or database unknown.",
            2 => {
                let msg = "One or more supplied key could not be found in the database.";
                if !args.bool("fail_key") {
                    let mut tree = IndexMap::new();
                    tree.insert(key.unwrap_or_default(), Value::from(()));
                    plan.set("ansible_facts", facts(tree));
                    plan.set("msg", msg);
                    return Ok(plan);
                }
                msg
            }
            3 => "Enumeration not supported on this database.",
            _ => "Unexpected failure!",
        };
        Err(ModuleError::new(msg))
    }

    fn apply(
        _args: &Args,
        _o: (),
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn getent_in(check: bool, args: &[(&str, Value)]) -> Result<ResultMap, ModuleError> {
        let a: indexmap::IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::testctx::with_ctx(check, |ctx| crate::run::<Getent>("getent", &a, ctx))
    }

    fn getent(args: &[(&str, Value)]) -> Result<ResultMap, ModuleError> {
        getent_in(false, args)
    }

    #[test]
    fn check_mode_reads_the_same_and_changes_nothing() {
        let args = [
            ("database", Value::from("group")),
            ("key", Value::from("root")),
        ];
        let run = getent_in(false, &args).unwrap();
        let check = getent_in(true, &args).unwrap();
        assert_eq!(check["changed"], Value::from(false));
        assert_eq!(run["ansible_facts"], check["ansible_facts"]);
    }

    #[test]
    fn shapes_lines_like_ansible() {
        let t = parse("root:x:0:0:root:/root:/bin/sh\n", Some(":"));
        assert_eq!(
            t["root"],
            Value::from(vec!["x", "0", "0", "root", "/root", "/bin/sh"])
        );
        let t = parse(
            "127.0.0.1  localhost\n127.0.0.1 other a\n127.0.0.1 third\n",
            None,
        );
        assert_eq!(
            t["127.0.0.1"].to_string(),
            "[['localhost'], ['other', 'a'], ['third']]"
        );
    }

    #[test]
    fn reads_the_database_and_fails_on_a_missing_key() {
        let r = getent(&[
            ("database", Value::from("passwd")),
            ("key", Value::from("root")),
        ])
        .unwrap();
        assert_eq!(r["changed"], Value::from(false));
        let root = r["ansible_facts"]
            .get_attr("getent_passwd")
            .unwrap()
            .get_attr("root")
            .unwrap();
        assert_eq!(root.get_item(&Value::from(1)).unwrap(), Value::from("0"));
        let missing = [
            ("database", Value::from("passwd")),
            ("key", Value::from("no-such-user-here")),
        ];
        let e = getent(&missing).unwrap_err();
        assert_eq!(
            e.msg,
            "One or more supplied key could not be found in the database."
        );
        let mut lenient = missing.to_vec();
        lenient.push(("fail_key", Value::from(false)));
        let r = getent(&lenient).unwrap();
        let tree = r["ansible_facts"].get_attr("getent_passwd").unwrap();
        assert!(tree.get_attr("no-such-user-here").unwrap().is_none());
        let e = getent(&[
            ("database", Value::from("passwd")),
            ("split", Value::from("")),
        ])
        .unwrap_err();
        assert!(e.msg.starts_with("Invalid split value"), "{}", e.msg);
    }
}
