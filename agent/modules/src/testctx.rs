//! A task context for modules' unit tests.

use std::path::PathBuf;

use agent_template::{Templar, Vars};

use crate::{Ctx, FileFinder};

struct NoFiles;

impl FileFinder for NoFiles {
    fn find(&self, _kind: &str, _name: &str) -> Option<PathBuf> {
        None
    }
}

/// Run `f` with a context (no files, no vars), in check mode or not.
pub fn with_ctx<T>(check_mode: bool, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    let templar = Templar::new();
    let vars = Vars::default();
    let ctx = Ctx {
        check_mode,
        diff_mode: false,
        files: &NoFiles,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    f(&ctx)
}
