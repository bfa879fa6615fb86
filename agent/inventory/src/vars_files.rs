//! `group_vars/` and `host_vars/` files (ansible-core `plugins/vars/host_group_vars.py`
//! with `DataLoader.find_vars_files`).
//!
//! For an entity `NAME` the first of `NAME` (a file, or a directory read recursively in
//! sorted order, skipping hidden and `~` files and taking only files with no extension
//! or `.yml`/`.yaml`/`.json`), `NAME.yml`, `NAME.yaml`, `NAME.json` that exists is used.
//! Each file must hold a mapping (or be empty); files combine with top-level replace.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use minijinja::Value;

use crate::{Inventory, InventoryError};

pub(crate) type Vars = IndexMap<String, Value>;

const EXTS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Vars files of one directory, for the inventory's groups and hosts.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirVars {
    pub groups: HashMap<String, Vars>,
    pub hosts: HashMap<String, Vars>,
    /// The directory (resolved) the files were read from; `None` for variables from
    /// outside the bundle.
    pub dir: Option<PathBuf>,
}

impl DirVars {
    /// Read `dir/group_vars/*` for every group and `dir/host_vars/*` for every host of
    /// the inventory (and for the localhost names, which may be implicit).
    pub(crate) fn load(dir: &Path, inv: &Inventory) -> Result<DirVars, InventoryError> {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let mut out = DirVars {
            dir: Some(real.clone()),
            ..DirVars::default()
        };
        let gdir = real.join("group_vars");
        if gdir.is_dir() {
            out.groups = load_entities(&gdir, inv.groups.keys().map(String::as_str))?;
        }
        let hdir = real.join("host_vars");
        if hdir.is_dir() {
            let names = inv
                .hosts
                .keys()
                .map(String::as_str)
                .chain(crate::LOCALHOST_NAMES.iter().copied());
            out.hosts = load_entities(&hdir, names)?;
        }
        Ok(out)
    }

    /// `group_vars/<name>` of this directory, for a group made after loading (`group_by`,
    /// EC2 tags); `None` when there is none or the variables come from outside the bundle.
    pub(crate) fn read_group(&self, name: &str) -> Result<Option<Vars>, InventoryError> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let gdir = dir.join("group_vars");
        if self.groups.contains_key(name) || !gdir.is_dir() {
            return Ok(None);
        }
        Ok(load_entities(&gdir, std::iter::once(name))?.remove(name))
    }
}

fn load_entities<'a>(
    dir: &Path,
    names: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Vars>, InventoryError> {
    let listing: HashSet<String> = std::fs::read_dir(dir)
        .map_err(|e| InventoryError::new(dir.display().to_string(), 0, 0, e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let mut out = HashMap::new();
    for name in names {
        if name.is_empty() || name.starts_with('/') || out.contains_key(name) {
            continue;
        }
        let files = find_vars_files(dir, name, &listing);
        if files.is_empty() {
            continue;
        }
        let mut data = Vars::new();
        for f in files {
            for (k, v) in load_vars_file(&f)? {
                data.insert(k, v);
            }
        }
        out.insert(name.to_string(), data);
    }
    Ok(out)
}

/// `find_vars_files(path, name)`: the files for one entity, in load order.
fn find_vars_files(dir: &Path, name: &str, listing: &HashSet<String>) -> Vec<PathBuf> {
    let simple = !name.contains('/');
    for ext in std::iter::once("").chain(EXTS) {
        let candidate = format!("{name}{ext}");
        let full = dir.join(&candidate);
        let exists = if simple {
            listing.contains(&candidate)
        } else {
            full.exists()
        };
        if !exists {
            continue;
        }
        if full.is_dir() {
            let mut found = Vec::new();
            dir_vars_files(&full, &mut found);
            return found;
        }
        return vec![full];
    }
    Vec::new()
}

/// `_get_dir_vars_files`: sorted, recursive, hidden and backup files skipped.
fn dir_vars_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for n in names {
        if n.starts_with('.') || n.ends_with('~') {
            continue;
        }
        let ext = crate::extension(Path::new(&n));
        let full = dir.join(&n);
        if full.is_dir() {
            if ext.is_empty() {
                dir_vars_files(&full, found);
            }
        } else if full.is_file() && (ext.is_empty() || EXTS.contains(&ext.as_str())) {
            found.push(full);
        }
    }
}

/// Read one vars file: a YAML (or JSON) mapping; empty files give nothing.
pub(crate) fn load_vars_file(path: &Path) -> Result<Vars, InventoryError> {
    let file = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| InventoryError::new(file.clone(), 0, 0, e.to_string()))?;
    // A vault-encrypted file is decrypted with the run's vault secrets.
    let text = agent_yaml::decode(&bytes, path)
        .map_err(|e| InventoryError::new(file.clone(), e.line, e.col, e.message))?;
    let doc = agent_yaml::parse_one(&text, path)
        .map_err(|e| InventoryError::new(file.clone(), e.line, e.col, e.message))?;
    let Some(doc) = doc else {
        return Ok(Vars::new());
    };
    match &doc.kind {
        agent_yaml::Kind::Map(entries) => {
            let mut out = Vars::new();
            for (k, v) in entries {
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => k.to_value().to_string(),
                };
                out.insert(key, v.to_value());
            }
            Ok(out)
        }
        agent_yaml::Kind::Null => Ok(Vars::new()),
        agent_yaml::Kind::Bool(false) => Ok(Vars::new()),
        agent_yaml::Kind::Str(s) if s.is_empty() => Ok(Vars::new()),
        agent_yaml::Kind::Seq(s) if s.is_empty() => Ok(Vars::new()),
        _ => Err(InventoryError::new(
            file,
            doc.pos.line,
            doc.pos.col,
            format!(
                "failed to combine variables, expected dicts but got a 'dict' and a '{}'; a vars file must hold a mapping of names to values",
                doc.type_name()
            ),
        )),
    }
}
