//! The `tempfile` module: a new temporary file or directory (0600/0700), every run.
//! Like Ansible (which lacks check mode support for it), check mode skips it.

use std::path::PathBuf;

use minijinja::Value;

use crate::host::fs::path_info;
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Tempfile;

const SPEC: &[Arg] = &[
    Arg::str("state")
        .default(Def::Str("file"))
        .choices(&["file", "directory"]),
    Arg::path("path"),
    Arg::str("prefix").default(Def::Str("ansible.")),
    Arg::str("suffix").default(Def::Str("")),
];

/// What to create.
#[derive(Debug)]
pub struct Op {
    dir: PathBuf,
    directory: bool,
    prefix: String,
    suffix: String,
}

fn is_component(s: &str) -> bool {
    !s.contains('/')
}

impl Module for Tempfile {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = ();
    type Op = Op;

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(args: &Args, _o: &(), ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let prefix = args.string("prefix").unwrap_or_default();
        let suffix = args.string("suffix").unwrap_or_default();
        if !is_component(&prefix) {
            return Err(ModuleError::new(format!(
                "prefix must be a valid file name component, got '{prefix}'"
            )));
        }
        if !is_component(&suffix) {
            return Err(ModuleError::new(format!(
                "suffix must be a valid file name component, got '{suffix}'"
            )));
        }
        let mut plan = Plan::default();
        if ctx.check_mode {
            plan.set("changed", false);
            plan.set("skipped", true);
            plan.set(
                "msg",
                "remote module (tempfile) does not support check mode",
            );
            return Ok(plan);
        }
        let dir = args
            .string("path")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        plan.ops.push(Op {
            dir,
            directory: args.str("state") == Some("directory"),
            prefix,
            suffix,
        });
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: (),
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = ResultMap::new();
        for op in &plan.ops {
            let mut b = tempfile::Builder::new();
            b.prefix(&op.prefix).suffix(&op.suffix);
            let made = if op.directory {
                // Python's mkdtemp: 0700 whatever the umask.
                use std::os::unix::fs::PermissionsExt;
                b.permissions(std::fs::Permissions::from_mode(0o700));
                b.tempdir_in(&op.dir).map(|d| d.keep())
            } else {
                b.tempfile_in(&op.dir)
                    .and_then(|f| f.keep().map_err(|e| e.error))
                    .map(|(_, p)| p)
            };
            let path = made.map_err(|e| ModuleError::new(e.to_string()))?;
            out.insert("path".into(), Value::from(path.display().to_string()));
            out.extend(path_info(&path));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        assert!(is_component("ansible."));
        assert!(!is_component("a/b"));
    }
}
