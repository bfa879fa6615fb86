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

/// Files found by name in one directory (a role's `files/`).
struct DirFiles(PathBuf);

impl FileFinder for DirFiles {
    fn find(&self, _kind: &str, name: &str) -> Option<PathBuf> {
        let p = self.0.join(name);
        p.exists().then_some(p)
    }
}

/// Run `f` with a context (no files, no vars), in check mode or not.
pub fn with_ctx<T>(check_mode: bool, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    with_finder(&NoFiles, check_mode, f)
}

/// Run `f` with a context whose files are found in `dir`.
pub fn with_files<T>(dir: &std::path::Path, check_mode: bool, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    with_finder(&DirFiles(dir.to_path_buf()), check_mode, f)
}

fn with_finder<T>(files: &dyn FileFinder, check_mode: bool, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    let templar = Templar::new();
    let vars = Vars::default();
    let ctx = Ctx {
        check_mode,
        diff_mode: false,
        files,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    f(&ctx)
}
