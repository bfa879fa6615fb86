//! Python distributions installed for an interpreter, read from the `*.dist-info` /
//! `*.egg-info` metadata in its site directories (what `pip list` reports), without
//! running pip.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::ModuleError;

/// PEP 503 normalised name: runs of `-`, `_`, `.` become `-`, lower case.
pub fn canonical_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The interpreter a script runs with (its `#!` line), if it names one.
pub fn shebang(script: &Path) -> Option<PathBuf> {
    let mut buf = [0u8; 256];
    let n = {
        use std::io::Read;
        fs::File::open(script).ok()?.read(&mut buf).ok()?
    };
    let head = String::from_utf8_lossy(&buf[..n]);
    let line = head.strip_prefix("#!")?.lines().next()?.trim();
    let mut parts = line.split_whitespace();
    let first = parts.next()?;
    if first.ends_with("/env") {
        let name = parts.next()?;
        return crate::host::run::bin_path(name);
    }
    Some(PathBuf::from(first))
}

/// The interpreter's `sys.path` (one process).
pub fn sys_path(python: &Path) -> Result<Vec<PathBuf>, ModuleError> {
    let argv = vec![
        python.display().to_string(),
        "-c".into(),
        "import sys\nfor p in sys.path: print(p)".into(),
    ];
    let out = crate::host::run::run(&argv)?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "Unable to ask {} for its sys.path: {}",
            python.display(),
            out.stderr.trim()
        )));
    }
    Ok(out
        .stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// The site-packages directories of a virtualenv (`lib/python3*/site-packages`),
/// found without running its interpreter.
pub fn venv_site_dirs(env: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let pattern = format!("{}/{lib}/python*/site-packages", env.display());
        if let Ok(paths) = glob::glob(&pattern) {
            for p in paths.flatten() {
                let real = fs::canonicalize(&p).unwrap_or(p);
                if !out.contains(&real) {
                    out.push(real);
                }
            }
        }
    }
    out
}

/// Whether a virtualenv sees the system site-packages too (pyvenv.cfg).
pub fn venv_includes_system(env: &Path) -> bool {
    fs::read_to_string(env.join("pyvenv.cfg")).is_ok_and(|t| {
        t.lines().any(|l| {
            l.split_once('=').is_some_and(|(k, v)| {
                k.trim() == "include-system-site-packages" && v.trim().eq_ignore_ascii_case("true")
            })
        })
    })
}

/// `Name` and `Version` of a core-metadata file (METADATA / PKG-INFO).
fn read_metadata(path: &Path) -> Option<(String, String)> {
    let text = fs::read_to_string(path).ok()?;
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    Some((name?, version?))
}

/// Installed distributions in `dirs`: canonical name → (name, version). The first
/// directory that has a distribution wins, as on `sys.path`.
pub fn installed(dirs: &[PathBuf]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for dir in dirs {
        let Ok(rd) = fs::read_dir(dir) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let fname = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let meta = if fname.ends_with(".dist-info") {
                p.join("METADATA")
            } else if fname.ends_with(".egg-info") {
                if p.is_dir() {
                    p.join("PKG-INFO")
                } else {
                    p.clone()
                }
            } else {
                continue;
            };
            if let Some((name, version)) = read_metadata(&meta) {
                out.entry(canonical_name(&name)).or_insert((name, version));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_metadata() {
        assert_eq!(canonical_name("Foo_Bar.baz"), "foo-bar-baz");
        assert_eq!(canonical_name("a--b"), "a-b");
        let t = tempfile::tempdir().unwrap();
        let sp = t.path().join("lib/python3.11/site-packages");
        fs::create_dir_all(sp.join("Six-1.16.0.dist-info")).unwrap();
        fs::write(
            sp.join("Six-1.16.0.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n\nName: not-this\n",
        )
        .unwrap();
        fs::write(sp.join("old.egg-info"), "Name: Old_Pkg\nVersion: 0.1\n").unwrap();
        fs::write(
            t.path().join("pyvenv.cfg"),
            "include-system-site-packages = false\n",
        )
        .unwrap();
        let dirs = venv_site_dirs(t.path());
        assert_eq!(dirs.len(), 1);
        let got = installed(&dirs);
        assert_eq!(got["six"], ("six".into(), "1.16.0".into()));
        assert_eq!(got["old-pkg"].1, "0.1");
        assert!(!venv_includes_system(t.path()));
    }
}
