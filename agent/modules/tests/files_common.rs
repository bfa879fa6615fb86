//! Shared helpers for the files_* tests (included with `mod`/`#[path]`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use agent_modules::registry;
use agent_modules::{Ctx, FileFinder, ModuleError, ResultMap, Value};
use agent_template::{Templar, Vars};
use indexmap::IndexMap;

/// Finds `name` under `root/files` or `root`.
pub struct Finder(pub PathBuf);

impl FileFinder for Finder {
    fn find(&self, kind: &str, name: &str) -> Option<PathBuf> {
        [self.0.join(kind).join(name), self.0.join(name)]
            .into_iter()
            .find(|p| p.exists())
    }
}

pub fn args(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub fn v(s: &str) -> Value {
    Value::from(s)
}

pub fn p(path: &Path) -> Value {
    Value::from(path.display().to_string())
}

/// Run a module by name, as a task would.
pub fn run_with(
    module: &str,
    raw: &IndexMap<String, Value>,
    root: &Path,
    check: bool,
    diff: bool,
) -> Result<ResultMap, ModuleError> {
    let templar = Templar::new();
    let vars = Vars::default();
    let finder = Finder(root.to_path_buf());
    let ctx = Ctx {
        check_mode: check,
        diff_mode: diff,
        files: &finder,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    let entry = registry::find(module).expect("module registered");
    (entry.run)(module, raw, &ctx)
}

pub fn run(module: &str, raw: &IndexMap<String, Value>) -> Result<ResultMap, ModuleError> {
    run_with(module, raw, Path::new("/nonexistent"), false, true)
}

pub fn check(module: &str, raw: &IndexMap<String, Value>) -> Result<ResultMap, ModuleError> {
    run_with(module, raw, Path::new("/nonexistent"), true, true)
}

pub fn changed(r: &ResultMap) -> bool {
    r.get("changed").is_some_and(|c| c.is_true())
}

pub fn s(r: &ResultMap, k: &str) -> String {
    r.get(k)
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .unwrap_or_default()
}

pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0)
}

/// A key of a map value; also accepts a sequence of `(key, value)` pairs (the shape
/// `Value::from_iter` gives an IndexMap).
pub fn get(v: &Value, key: &str) -> Option<Value> {
    if let Ok(x) = v.get_attr(key)
        && !x.is_undefined()
    {
        return Some(x);
    }
    v.try_iter().ok()?.find_map(|pair| {
        let k = pair.get_item_by_index(0).ok()?;
        (k.as_str() == Some(key)).then(|| pair.get_item_by_index(1).ok())?
    })
}

/// `result.diff.<side>.<key>` as a string.
pub fn diff_str(r: &ResultMap, side: &str, key: &str) -> Option<String> {
    let d = r.get("diff")?;
    let side = get(d, side)?;
    let x = get(&side, key)?;
    Some(
        x.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| x.to_string()),
    )
}
