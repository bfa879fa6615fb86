//! `local` collector (local.py): `<fact_path>/*.fact` as JSON, else INI. Executable fact
//! files are not run (no process is spawned); their entry says so, as Ansible's entry
//! for a failing script does.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    let mut f = Facts::new();
    f.insert(
        "local".into(),
        Value::Object(local_facts(&ctx.opts.fact_path)),
    );
    f
}

fn local_facts(fact_path: &str) -> Facts {
    let mut local = Facts::new();
    let Ok(rd) = std::fs::read_dir(fact_path) else {
        return local;
    };
    let mut files: Vec<std::path::PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "fact"))
        .collect();
    files.sort();
    for path in files {
        let fname = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = fname.replace(".fact", "");
        let shown = path.display().to_string();
        let md = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                local.insert(
                    base,
                    Value::from(format!("Could not stat fact ({shown}): {e}")),
                );
                continue;
            }
        };
        if md.permissions().mode() & 0o100 != 0 {
            local.insert(
                base,
                Value::from(format!(
                    "Could not execute fact script ({shown}): the agent does not run fact scripts"
                )),
            );
            continue;
        }
        let out = match std::fs::read(&path) {
            Ok(b) => match String::from_utf8(b) {
                Ok(s) => s,
                Err(_) => {
                    local.insert(
                        base,
                        Value::from(format!(
                            "error loading fact - output of running \"{shown}\" was not utf-8"
                        )),
                    );
                    continue;
                }
            },
            Err(_) => String::new(),
        };
        let fact = match serde_json::from_str::<Value>(out.trim()) {
            Ok(v) => v,
            Err(_) => match parse_ini(&out) {
                Some(m) => Value::Object(m),
                None => Value::from(format!(
                    "error loading facts as JSON or ini - please check content: {shown}"
                )),
            },
        };
        local.insert(base, fact);
    }
    local
}

/// configparser-like INI: `[section]`, `key = value` / `key: value`, lowercased keys,
/// `#`/`;` comments. None when a line is neither (configparser would raise).
pub fn parse_ini(text: &str) -> Option<Facts> {
    let mut out = Facts::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.to_string());
            out.entry(name.to_string())
                .or_insert_with(|| Value::Object(Facts::new()));
            continue;
        }
        let sec = section.as_ref()?;
        let pos = t.find(['=', ':'])?;
        let (k, v) = (t[..pos].trim().to_lowercase(), t[pos + 1..].trim());
        if let Some(Value::Object(m)) = out.get_mut(sec) {
            m.insert(k, Value::from(v));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ini() {
        let m = super::parse_ini("[general]\nName = x\ncount: 3\n").unwrap_or_default();
        assert_eq!(m["general"]["name"], "x");
        assert_eq!(m["general"]["count"], "3");
        assert!(super::parse_ini("no section\n").is_none());
    }
}
