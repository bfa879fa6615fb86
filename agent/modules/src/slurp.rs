//! The `slurp` module: a file's bytes, base64-encoded (`armor`, the default) or as text.
//! Read only: never changed, same in check mode.

use base64::Engine;
use minijinja::Value;

use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Slurp;

const SPEC: &[Arg] = &[
    Arg::path("src").required().aliases(&["path"]),
    Arg::bool("armor", true),
];

impl Module for Slurp {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = ();
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(args: &Args, _o: &(), _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        let src = args.string("src").unwrap_or_default();
        let data = std::fs::read(&src).map_err(|e| {
            let msg = match e.raw_os_error() {
                Some(nix::libc::ENOENT) => format!("File not found: {src}"),
                Some(nix::libc::EACCES) => format!("File is not readable: {src}"),
                Some(nix::libc::EISDIR) => {
                    format!("Source is a directory and must be a file: {src}")
                }
                // Ansible's message lacks its f-string prefix; kept as it prints.
                _ => "Unable to slurp file: {source}".to_string(),
            };
            ModuleError::new(msg)
        })?;
        let mut plan = Plan::default();
        if args.bool("armor") {
            plan.set(
                "content",
                base64::engine::general_purpose::STANDARD.encode(&data),
            );
            plan.set("encoding", "base64");
        } else {
            plan.set("content", String::from_utf8_lossy(&data).into_owned());
            plan.set("encoding", "utf-8");
        }
        plan.set("source", Value::from(src));
        Ok(plan)
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

    fn slurp(args: &[(&str, Value)], check: bool) -> Result<ResultMap, ModuleError> {
        let a: indexmap::IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::testctx::with_ctx(check, |ctx| crate::run::<Slurp>("slurp", &a, ctx))
    }

    #[test]
    fn reads_base64_or_text_and_never_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "hello\n").unwrap();
        let p = Value::from(f.display().to_string());
        for check in [false, true] {
            let r = slurp(&[("src", p.clone())], check).unwrap();
            assert_eq!(r["content"].as_str(), Some("aGVsbG8K"));
            assert_eq!(r["encoding"].as_str(), Some("base64"));
            assert_eq!(r["source"], p);
            assert_eq!(r["changed"], Value::from(false));
        }
        let r = slurp(&[("path", p.clone()), ("armor", Value::from(false))], false).unwrap();
        assert_eq!(r["content"].as_str(), Some("hello\n"));
        assert_eq!(r["encoding"].as_str(), Some("utf-8"));
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let e = slurp(&[("src", Value::from(format!("{d}/nope")))], false).unwrap_err();
        assert_eq!(e.msg, format!("File not found: {d}/nope"));
        let e = slurp(&[("src", Value::from(d.as_str()))], false).unwrap_err();
        assert_eq!(
            e.msg,
            format!("Source is a directory and must be a file: {d}")
        );
        let e = slurp(&[], false).unwrap_err();
        assert!(e.msg.contains("src"), "{}", e.msg);
    }
}
