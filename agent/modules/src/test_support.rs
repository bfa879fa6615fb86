//! Helpers for module unit tests: parameters from pairs, a context for plan.

use agent_template::{Templar, Vars};
use indexmap::IndexMap;

use crate::spec::Args;
use crate::{Ctx, FileFinder, Module, Value};

struct NoFiles;

impl FileFinder for NoFiles {
    fn find(&self, _kind: &str, _name: &str) -> Option<std::path::PathBuf> {
        None
    }
}

/// Validated parameters of module `M` from `(name, value)` pairs.
pub fn args_of<M: Module>(pairs: &[(&str, Value)]) -> Args {
    let raw: IndexMap<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    match crate::validate::<M>("test", &raw) {
        Ok(a) => a,
        Err(e) => panic!("bad test arguments: {}", e.msg),
    }
}

/// Call `f` with a context (check mode as given, diff on); panics on a module error.
pub fn ctx_run<T>(
    check_mode: bool,
    f: impl FnOnce(&Ctx<'_>) -> Result<T, crate::ModuleError>,
) -> T {
    let templar = Templar::new();
    let vars = Vars::default();
    let ctx = Ctx {
        check_mode,
        diff_mode: true,
        files: &NoFiles,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    match f(&ctx) {
        Ok(t) => t,
        Err(e) => panic!("module error: {}", e.msg),
    }
}
