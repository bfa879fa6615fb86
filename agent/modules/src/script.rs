//! The `script` module: a script from the role's or playbook's `files/`, run on the host
//! with its arguments, as Ansible's `script` action does — copied into a private
//! temporary directory with the execute bit, then run through `/bin/sh -c` (with
//! `executable` in front when given), from `chdir`. Always `changed`; a non-zero exit is
//! a failure with `non-zero return code`. `creates`/`removes` are tested with plain
//! existence (no globbing, unlike `command`). In check mode it runs nothing: `changed`
//! when `creates` or `removes` is set, else skipped.

use std::os::unix::fs::PermissionsExt;

use minijinja::Value;

use crate::command::{CmdOp, Spawn, shlex_quote, shlex_split, spawn};
use crate::host::users;
use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Script;

const SPEC: &[Arg] = &[
    Arg::str("_raw_params"),
    Arg::str("cmd"),
    Arg::str("creates"),
    Arg::str("removes"),
    Arg::str("chdir"),
    Arg::str("executable"),
    // Vault decryption of the script: the agent's files are never vaulted here.
    Arg::bool("decrypt", true),
];

/// What observe settles: the command line (script name first) and why not to run, if so.
#[derive(Debug)]
pub struct Observed {
    raw: String,
    skip: Option<String>,
}

fn exists(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

impl Module for Script {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = CmdOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let raw = args.str("_raw_params").filter(|s| !s.is_empty());
        let cmd = args.str("cmd").filter(|s| !s.is_empty());
        let raw = match (raw, cmd) {
            (Some(_), Some(_)) => {
                return Err(ModuleError::new(
                    "parameters are mutually exclusive: _raw_params|cmd",
                ));
            }
            (None, None) => {
                return Err(ModuleError::new(
                    "one of the following is required: _raw_params, cmd",
                ));
            }
            (Some(s), None) | (None, Some(s)) => s.to_string(),
        };
        let skip = if let Some(c) = args.str("creates").filter(|s| !s.is_empty())
            && exists(c)
        {
            Some(format!("{c} exists, matching creates option"))
        } else if let Some(r) = args.str("removes").filter(|s| !s.is_empty())
            && !exists(r)
        {
            Some(format!("{r} does not exist, matching removes option"))
        } else {
            None
        };
        Ok(Observed { raw, skip })
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<CmdOp>, ModuleError> {
        let mut plan = Plan::default();
        if let Some(why) = &o.skip {
            plan.set("changed", false);
            plan.set("skipped", true);
            plan.set("msg", why.as_str());
            return Ok(plan);
        }
        if let Some(d) = args.str("chdir").filter(|d| !d.is_empty())
            && !d.starts_with('/')
        {
            return Err(ModuleError::new(format!(
                "chdir {d} must be an absolute path for a Unix-aware remote node"
            )));
        }
        let script = source(&o.raw)?;
        if ctx.files.find("files", &script).is_none() {
            return Err(ModuleError::new(format!(
                "Could not find or access '{script}' on the Ansible Controller."
            )));
        }
        if ctx.check_mode {
            if args.is_set("creates") || args.is_set("removes") {
                plan.set("changed", true);
            } else {
                plan.set("changed", false);
                plan.set("skipped", true);
                plan.set("msg", "Check mode is not supported for this task.");
            }
            return Ok(plan);
        }
        plan.ops.push(CmdOp::Run);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        _plan: &Plan<CmdOp>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let script = source(&o.raw)?;
        // The controller's part (finding the script, the private copy for the user it
        // runs as) is root's, also while the task becomes another user.
        let (tmp, copy) = crate::host::creds::as_controller(|| {
            let found = ctx.files.find("files", &script).ok_or_else(|| {
                ModuleError::new(format!(
                    "Could not find or access '{script}' on the Ansible Controller."
                ))
            })?;
            // Ansible's remote temporary directory: private, removed afterwards.
            let tmp = tempfile::Builder::new()
                .prefix("ansible-tmp-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()
                .map_err(|e| ModuleError::new(format!("temporary directory: {e}")))?;
            let name = found
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "script".into());
            let copy = tmp.path().join(&name);
            std::fs::copy(&found, &copy).map_err(|e| ModuleError::io("copying", &found, &e))?;
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| ModuleError::io("chmod", &copy, &e))?;
            if let Some(user) = ctx.become_user {
                // The script must be readable by the user it runs as.
                if let Some(pw) = users::user(user) {
                    let owner = Some(nix::unistd::Uid::from_raw(pw.uid));
                    for p in [tmp.path(), copy.as_path()] {
                        nix::unistd::chown(p, owner, None)
                            .map_err(|e| ModuleError::new(format!("chown {}: {e}", p.display())))?;
                    }
                }
            }
            Ok::<_, ModuleError>((tmp, copy))
        })?;
        // As Ansible: every occurrence of the script's name in the line becomes the copy.
        let target = o.raw.trim().replace(&script, &copy.display().to_string());
        let mut line = match args.str("executable").filter(|e| !e.is_empty()) {
            Some(exe) => format!("{exe} {target}"),
            None => target,
        };
        if let Some(d) = args.str("chdir").filter(|d| !d.is_empty()) {
            line = format!("cd {} && {line}", shlex_quote(d));
        }
        let out = spawn(&Spawn {
            argv: vec!["/bin/sh".into(), "-c".into(), line],
            env: ctx.environment.to_vec(),
            become_user: ctx.become_user.map(str::to_string),
            ..Spawn::default()
        })?
        .map_err(|e| ModuleError::new(format!("Failed to run /bin/sh: {e}")).with("rc", 127))?;
        crate::host::creds::as_controller(|| drop(tmp));
        let mut r = ResultMap::new();
        r.insert("rc".into(), Value::from(out.rc));
        r.insert("stdout".into(), Value::from(out.stdout.as_str()));
        r.insert("stderr".into(), Value::from(out.stderr.as_str()));
        r.insert("changed".into(), Value::from(true));
        if out.rc != 0 {
            let mut e = ModuleError::new("non-zero return code");
            e.fields = r;
            return Err(e);
        }
        Ok(r)
    }
}

/// The script's name: the first word of the line, shell-split as Ansible does.
fn source(raw: &str) -> Result<String, ModuleError> {
    let parts = shlex_split(raw.trim()).map_err(ModuleError::new)?;
    parts
        .into_iter()
        .next()
        .ok_or_else(|| ModuleError::new("no script given"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        dir: &std::path::Path,
        args: &[(&str, &str)],
        check: bool,
    ) -> Result<ResultMap, ModuleError> {
        let a: indexmap::IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        crate::testctx::with_files(dir, check, |ctx| crate::run::<Script>("script", &a, ctx))
    }

    #[test]
    fn runs_a_copy_with_its_arguments_from_chdir() {
        let dir = tempfile::tempdir().unwrap();
        // Not executable, as role files often are not: the copy gets the execute bit.
        std::fs::write(
            dir.path().join("show.sh"),
            "#!/bin/sh\necho \"$1|$2|$(pwd)\"\necho err >&2\n",
        )
        .unwrap();
        let r = run(
            dir.path(),
            &[("_raw_params", "show.sh 'a b' c"), ("chdir", "/")],
            false,
        )
        .unwrap();
        assert_eq!(r["stdout"].as_str(), Some("a b|c|/\n"));
        assert_eq!(r["stderr"].as_str(), Some("err\n"));
        assert_eq!(r["rc"], Value::from(0));
        assert_eq!(r["changed"], Value::from(true));
        assert_eq!(r["stdout_lines"], Value::from(vec![Value::from("a b|c|/")]));

        // With an interpreter, the script needs no shebang.
        std::fs::write(dir.path().join("p.sh"), "echo via $0\n").unwrap();
        let r = run(
            dir.path(),
            &[("cmd", "p.sh"), ("executable", "/bin/sh")],
            false,
        )
        .unwrap();
        assert!(r["stdout"].as_str().unwrap().starts_with("via /"), "{r:?}");
    }

    #[test]
    fn fails_on_a_non_zero_exit_and_on_a_missing_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.sh"), "#!/bin/sh\necho out\nexit 3\n").unwrap();
        let e = run(dir.path(), &[("_raw_params", "bad.sh")], false).unwrap_err();
        assert_eq!(e.msg, "non-zero return code");
        assert_eq!(e.fields["rc"], Value::from(3));
        assert_eq!(e.fields["stdout"].as_str(), Some("out\n"));
        let e = run(dir.path(), &[("_raw_params", "nope.sh")], false).unwrap_err();
        assert!(
            e.msg.starts_with("Could not find or access 'nope.sh'"),
            "{}",
            e.msg
        );
        let e = run(
            dir.path(),
            &[("_raw_params", "bad.sh"), ("chdir", "rel")],
            false,
        )
        .unwrap_err();
        assert!(e.msg.contains("must be an absolute path"), "{}", e.msg);
        let e = run(
            dir.path(),
            &[("_raw_params", "bad.sh"), ("cmd", "bad.sh")],
            false,
        )
        .unwrap_err();
        assert!(e.msg.contains("mutually exclusive"), "{}", e.msg);
    }

    #[test]
    fn creates_removes_and_check_mode_run_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        std::fs::write(
            dir.path().join("touch.sh"),
            format!("#!/bin/sh\ntouch {}\n", marker.display()),
        )
        .unwrap();
        let here = dir.path().display().to_string();
        let r = run(
            dir.path(),
            &[("_raw_params", "touch.sh"), ("creates", &here)],
            false,
        )
        .unwrap();
        assert_eq!(r["skipped"], Value::from(true));
        assert_eq!(
            r["msg"].as_str(),
            Some(format!("{here} exists, matching creates option").as_str())
        );
        let r = run(
            dir.path(),
            &[("_raw_params", "touch.sh"), ("removes", "/nonexistent")],
            false,
        )
        .unwrap();
        assert_eq!(r["changed"], Value::from(false));
        let r = run(dir.path(), &[("_raw_params", "touch.sh")], true).unwrap();
        assert_eq!(r["skipped"], Value::from(true));
        let r = run(
            dir.path(),
            &[("_raw_params", "touch.sh"), ("removes", &here)],
            true,
        )
        .unwrap();
        assert_eq!(r["changed"], Value::from(true));
        assert!(!marker.exists());
        // Idempotence as Ansible has it: `creates` names what the script makes.
        let m = marker.display().to_string();
        let r = run(
            dir.path(),
            &[("_raw_params", "touch.sh"), ("creates", &m)],
            false,
        )
        .unwrap();
        assert_eq!(r["changed"], Value::from(true));
        let r = run(
            dir.path(),
            &[("_raw_params", "touch.sh"), ("creates", &m)],
            false,
        )
        .unwrap();
        assert_eq!(r["changed"], Value::from(false));
    }

    #[test]
    fn the_script_is_the_first_shell_word() {
        assert_eq!(source(" a.sh \"x y\" z").unwrap(), "a.sh");
        assert_eq!(source("'my script.sh' 1").unwrap(), "my script.sh");
        assert!(source("   ").is_err());
    }
}
