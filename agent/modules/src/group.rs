//! The `group` module: a local group present (with a gid) or absent, changed through
//! groupadd / groupmod / groupdel, observed from /etc/group.

use crate::host::account::shadow_tool;
use crate::host::users::{self, GroupEntry};
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Group;

const SPEC: &[Arg] = &[
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::str("name").required(),
    Arg::bool("force", false),
    Arg::int("gid"),
    Arg::bool("system", false),
    Arg::bool("local", false),
    Arg::bool("non_unique", false),
    Arg::int("gid_min"),
    Arg::int("gid_max"),
];

/// One change, as the command line of its tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOp {
    Add(Vec<String>),
    Mod(Vec<String>),
    Del(Vec<String>),
}

impl GroupOp {
    fn tool(&self) -> (&'static str, &[String]) {
        match self {
            GroupOp::Add(a) => ("groupadd", a),
            GroupOp::Mod(a) => ("groupmod", a),
            GroupOp::Del(a) => ("groupdel", a),
        }
    }
}

fn validate(args: &Args) -> Result<(), ModuleError> {
    if args.bool("non_unique") && !args.is_set("gid") {
        return Err(ModuleError::new(
            "non_unique is True but all of the following are missing: gid",
        ));
    }
    if args.bool("force") && args.bool("local") {
        return Err(ModuleError::new(
            "force is not a valid option for local, force=True and local=True are mutually exclusive",
        ));
    }
    if args.bool("local") {
        return Err(ModuleError::new(
            "local: true (the libuser tools) is not supported by agent",
        ));
    }
    Ok(())
}

fn add_args(args: &Args, name: &str) -> Vec<String> {
    let mut cmd = Vec::new();
    if let Some(gid) = args.int("gid") {
        cmd.extend(["-g".to_string(), gid.to_string()]);
        if args.bool("non_unique") {
            cmd.push("-o".into());
        }
    }
    if args.bool("system") {
        cmd.push("-r".into());
    }
    if let Some(v) = args.int("gid_min") {
        cmd.extend(["-K".to_string(), format!("GID_MIN={v}")]);
    }
    if let Some(v) = args.int("gid_max") {
        cmd.extend(["-K".to_string(), format!("GID_MAX={v}")]);
    }
    cmd.push(name.to_string());
    cmd
}

impl Module for Group {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Option<GroupEntry>;
    type Op = GroupOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Option<GroupEntry>, ModuleError> {
        validate(args)?;
        Ok(users::group(args.str("name").unwrap_or_default()))
    }

    fn plan(
        args: &Args,
        current: &Option<GroupEntry>,
        ctx: &Ctx<'_>,
    ) -> Result<Plan<GroupOp>, ModuleError> {
        let name = args.str("name").unwrap_or_default();
        let present = args.str("state") != Some("absent");
        let mut plan = Plan::default();
        let op = match (present, current) {
            (false, Some(_)) => {
                let mut cmd = Vec::new();
                if args.bool("force") {
                    cmd.push("-f".to_string());
                }
                cmd.push(name.to_string());
                Some(GroupOp::Del(cmd))
            }
            (false, None) => None,
            (true, None) => Some(GroupOp::Add(add_args(args, name))),
            (true, Some(g)) => match args.int("gid") {
                Some(gid) if i64::from(g.gid) != gid => {
                    let mut cmd = vec!["-g".to_string(), gid.to_string()];
                    if args.bool("non_unique") {
                        cmd.push("-o".into());
                    }
                    cmd.push(name.to_string());
                    Some(GroupOp::Mod(cmd))
                }
                _ => None,
            },
        };
        let changed = op.is_some();
        // Check mode on a group that is created or removed: Ansible exits with only
        // `changed`.
        if ctx.check_mode && changed && !matches!(op, Some(GroupOp::Mod(_))) {
            plan.set("changed", true);
            plan.ops.extend(op);
            return Ok(plan);
        }
        plan.set("name", name);
        plan.set("state", args.str("state").unwrap_or("present"));
        plan.set("changed", changed);
        if let Some(g) = current
            && present
        {
            plan.set("system", args.bool("system"));
            plan.set("gid", g.gid);
        }
        plan.ops.extend(op);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        _current: Option<GroupEntry>,
        plan: &Plan<GroupOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let name = args.str("name").unwrap_or_default();
        let mut out = ResultMap::new();
        for op in &plan.ops {
            let (tool, cmd) = op.tool();
            let o = shadow_tool(tool, cmd)?;
            if o.rc != 0 {
                return Err(ModuleError::new(o.stderr.clone()).with("name", name));
            }
            if !o.stdout.is_empty() {
                out.insert("stdout".into(), Value::from(o.stdout));
            }
            if !o.stderr.is_empty() {
                out.insert("stderr".into(), Value::from(o.stderr));
            }
        }
        if let Some(g) = users::group(name) {
            out.insert("system".into(), Value::from(args.bool("system")));
            out.insert("gid".into(), Value::from(g.gid));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{args_of, ctx_run};

    fn entry(gid: u32) -> Option<GroupEntry> {
        Some(GroupEntry {
            name: "web".into(),
            gid,
            members: vec![],
        })
    }

    #[test]
    fn creates_with_gid_and_system() {
        let a = args_of::<Group>(&[
            ("name", Value::from("web")),
            ("gid", Value::from(1500)),
            ("system", Value::from(true)),
        ]);
        let p = ctx_run(false, |c| Group::plan(&a, &None, c));
        assert_eq!(
            p.ops,
            vec![GroupOp::Add(vec![
                "-g".into(),
                "1500".into(),
                "-r".into(),
                "web".into()
            ])]
        );
        assert_eq!(p.result.get("changed"), Some(&Value::from(true)));
        let p = ctx_run(true, |c| Group::plan(&a, &None, c));
        assert_eq!(
            p.result.len(),
            1,
            "check mode creation reports only changed"
        );
    }

    #[test]
    fn gid_change_and_no_change() {
        let a = args_of::<Group>(&[("name", Value::from("web")), ("gid", Value::from(1500))]);
        let p = ctx_run(false, |c| Group::plan(&a, &entry(1500), c));
        assert!(p.ops.is_empty());
        assert_eq!(p.result.get("gid"), Some(&Value::from(1500)));
        let p = ctx_run(false, |c| Group::plan(&a, &entry(1400), c));
        assert_eq!(
            p.ops,
            vec![GroupOp::Mod(vec!["-g".into(), "1500".into(), "web".into()])]
        );
    }

    #[test]
    fn absent_removes_with_force() {
        let a = args_of::<Group>(&[
            ("name", Value::from("web")),
            ("state", Value::from("absent")),
            ("force", Value::from(true)),
        ]);
        let p = ctx_run(false, |c| Group::plan(&a, &entry(1), c));
        assert_eq!(p.ops, vec![GroupOp::Del(vec!["-f".into(), "web".into()])]);
        assert!(!p.result.contains_key("gid"));
        let p = ctx_run(false, |c| Group::plan(&a, &None, c));
        assert!(p.ops.is_empty());
    }

    #[test]
    fn non_unique_needs_gid() {
        let a = args_of::<Group>(&[
            ("name", Value::from("web")),
            ("non_unique", Value::from(true)),
        ]);
        assert!(validate(&a).is_err());
    }
}
