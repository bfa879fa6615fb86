//! Reading YAML files once, and variable files (vars_files, include_vars, role vars and
//! defaults, group_vars) as ordered maps.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_yaml::{Kind, Node};
use indexmap::IndexMap;
use minijinja::Value;

use super::error::{LoadError, Loc};

/// A parsed YAML file: its name (for messages) and first document.
pub struct YamlFile {
    pub name: Arc<str>,
    pub root: Option<Node>,
}

/// Warnings found while reading YAML (duplicate keys), as Ansible prints them; the
/// engine shows and clears them ([`take_warnings`]).
static WARNINGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The warnings collected so far, emptied.
pub fn take_warnings() -> Vec<String> {
    WARNINGS
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default()
}

/// Add a warning found while loading (shown before the run, as Ansible's parser shows it).
pub fn push_warning(message: String) {
    if let Ok(mut all) = WARNINGS.lock() {
        all.push(message);
    }
}

/// Read and parse one YAML file (one document at most).
pub fn read_yaml(path: &Path) -> Result<YamlFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::io(path, e))?;
    let src = agent_yaml::decode(&bytes, path)?;
    let name: Arc<str> = Arc::from(path.display().to_string());
    let (mut docs, warnings) =
        agent_yaml::parse_all_with_warnings(&src, path, agent_yaml::Limits::default())?;
    if docs.len() > 1 {
        let second = &docs[1];
        // PyYAML points at the `---` that starts the second document.
        let mut pos = second.pos;
        if let Some(n) = src
            .lines()
            .take(second.pos.line)
            .enumerate()
            .skip(1)
            .filter(|(_, l)| l.starts_with("---"))
            .map(|(n, _)| n)
            .last()
        {
            pos = agent_yaml::Pos {
                line: n + 1,
                col: 1,
            };
        }
        return Err(LoadError::at(
            Loc::new(&name, pos),
            "expected a single document in the stream, but found another document",
        ));
    }
    if !warnings.is_empty()
        && let Ok(mut all) = WARNINGS.lock()
    {
        for w in warnings {
            let at = Loc {
                file: name.clone(),
                line: w.line,
                col: w.col,
            };
            let tail = if w.message.starts_with("Found duplicate mapping key") {
                "Using last defined value only."
            } else {
                ""
            };
            all.push(
                format!("{}\n{}{tail}", w.message, super::error::origin(&at))
                    .trim_end()
                    .to_string(),
            );
        }
    }
    Ok(YamlFile {
        name,
        root: docs.pop(),
    })
}

/// A variables file: a mapping (or empty). Anything else is an error at its position.
pub fn read_vars_file(path: &Path) -> Result<IndexMap<String, Value>, LoadError> {
    let f = read_yaml(path)?;
    node_to_vars(&f.name, f.root.as_ref())
}

/// A mapping node as variables.
pub fn node_to_vars(
    file: &Arc<str>,
    node: Option<&Node>,
) -> Result<IndexMap<String, Value>, LoadError> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return Ok(out) };
    match &node.kind {
        Kind::Null => {}
        Kind::Map(entries) => {
            for (k, v) in entries {
                let key = match &k.kind {
                    Kind::Str(s) => s.clone(),
                    other => scalar_key(other).ok_or_else(|| {
                        LoadError::at(Loc::new(file, k.pos), "variable names must be strings")
                    })?,
                };
                out.insert(key, v.to_value());
            }
        }
        _ => {
            return Err(LoadError::at(
                Loc::new(file, node.pos),
                format!(
                    "vars file must hold a dictionary (mapping) of variable names to values, but this is a {}",
                    node.type_name()
                ),
            ));
        }
    }
    Ok(out)
}

fn scalar_key(k: &Kind) -> Option<String> {
    match k {
        Kind::Int(i) => Some(i.to_string()),
        Kind::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        _ => None,
    }
}

/// The first of `dir/main.yml`, `dir/main.yaml`, `dir/main` (file) or `dir/main/`
/// (a directory of such files) that exists, for role parts and `*_from`.
pub fn find_main(dir: &Path, stem: &str) -> Vec<PathBuf> {
    for ext in [".yml", ".yaml", "", ".json"] {
        let p = dir.join(format!("{stem}{ext}"));
        if p.is_file() {
            return vec![p];
        }
    }
    let d = dir.join(stem);
    if d.is_dir() {
        return vars_dir_files(&d);
    }
    Vec::new()
}

/// The files of a vars directory, sorted, recursively, with YAML/JSON extensions or none.
pub fn vars_dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            out.extend(vars_dir_files(&p));
        } else {
            match p.extension().and_then(|e| e.to_str()) {
                None | Some("yml") | Some("yaml") | Some("json") => out.push(p),
                _ => {}
            }
        }
    }
    out
}
