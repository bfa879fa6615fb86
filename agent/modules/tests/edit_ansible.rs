//! Replays the cases recorded from real ansible-core 2.21.5 by `edit_record.py`
//! (lineinfile, blockinfile, replace, template, command, shell) against our modules:
//! same result fields, same diff, same files afterwards.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use agent_modules::{Ctx, FileFinder, ModuleError, ResultMap, Value, registry};
use agent_template::{Templar, Vars};
use indexmap::IndexMap;
use serde_json::Value as Json;

struct AbsFinder;

impl FileFinder for AbsFinder {
    fn find(&self, _kind: &str, name: &str) -> Option<PathBuf> {
        let p = PathBuf::from(name);
        p.exists().then_some(p)
    }
}

fn subst(v: &Json, dir: &str) -> Json {
    match v {
        Json::String(s) => Json::String(s.replace("@DIR@", dir)),
        Json::Array(a) => Json::Array(a.iter().map(|x| subst(x, dir)).collect()),
        Json::Object(o) => {
            Json::Object(o.iter().map(|(k, x)| (k.clone(), subst(x, dir))).collect())
        }
        other => other.clone(),
    }
}

fn unsubst(v: &Json, dir: &str) -> Json {
    match v {
        Json::String(s) => Json::String(s.replace(dir, "@DIR@")),
        Json::Array(a) => Json::Array(a.iter().map(|x| unsubst(x, dir)).collect()),
        Json::Object(o) => Json::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), unsubst(x, dir)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn snapshot(dir: &Path, base: &Path, out: &mut serde_json::Map<String, Json>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if let Ok(target) = std::fs::read_link(&p) {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            out.insert(
                rel,
                serde_json::json!({"link": target.display().to_string()}),
            );
            continue;
        }
        if p.is_dir() {
            snapshot(&p, base, out);
            continue;
        }
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        let data = std::fs::read(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        out.insert(
            rel,
            serde_json::json!({
                "content": String::from_utf8_lossy(&data),
                "mode": format!("{mode:04o}"),
            }),
        );
    }
}

/// The first diff entry whose before/after are strings (the content diff).
fn content_diff(d: Option<&Json>) -> Option<(Json, Json)> {
    let d = d?;
    let entries: Vec<&Json> = match d {
        Json::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    entries.into_iter().find_map(|e| {
        let b = e.get("before")?;
        let a = e.get("after")?;
        (b.is_string() && a.is_string()).then(|| (b.clone(), a.clone()))
    })
}

fn to_json(r: &Result<ResultMap, ModuleError>) -> Json {
    let mut m = serde_json::Map::new();
    match r {
        Ok(res) => {
            for (k, v) in res {
                m.insert(k.clone(), serde_json::to_value(v).unwrap());
            }
            m.insert("failed".into(), Json::Bool(false));
        }
        Err(e) => {
            for (k, v) in &e.fields {
                m.insert(k.clone(), serde_json::to_value(v).unwrap());
            }
            m.insert("msg".into(), Json::String(e.msg.clone()));
            m.insert("failed".into(), Json::Bool(true));
        }
    }
    Json::Object(m)
}

/// Keys not compared for a case (Ansible-side details we do not reproduce).
fn skipped(case: &str, key: &str, failed: bool) -> bool {
    // Ansible's display cuts this message at "\r\n"; ours is complete. Failures carry
    // no `changed` of their own.
    (case, key) == ("tpl_bad_newline", "msg") || (failed && key == "changed")
}

#[test]
fn replay_ansible_recordings() {
    replay("edit_ansible.json");
}

/// The host modules that edit files (ini_file, pam_limits), recorded by `misc_record.py`
/// from community.general 10 (ansible 11).
#[test]
fn replay_misc_recordings() {
    replay("misc_ansible.json");
}

fn replay(file: &str) {
    let data = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(file),
    )
    .unwrap();
    let cases: Vec<Json> = serde_json::from_str(&data).unwrap();
    let templar = Templar::new();
    let vars = Vars::default();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let module = case["module"].as_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let dir = tmp.path().display().to_string();
        for (rel, content) in case["files"].as_object().unwrap() {
            let p = tmp.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if let Some(target) = content.get("symlink") {
                std::os::unix::fs::symlink(target.as_str().unwrap(), &p).unwrap();
                continue;
            }
            std::fs::write(&p, content.as_str().unwrap()).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let args = subst(&case["args"], &dir);
        let raw: IndexMap<String, Value> = args
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v))))
            .collect();
        let ctx = Ctx {
            check_mode: case["check"].as_bool().unwrap(),
            diff_mode: true,
            files: &AbsFinder,
            templar: &templar,
            vars: &vars,
            become_user: None,
            environment: &[],
        };
        let entry = registry::find(module).unwrap();
        let ours = unsubst(&to_json(&(entry.run)(module, &raw, &ctx)), &dir);
        let want = &case["result"];
        for (k, v) in want.as_object().unwrap() {
            if k == "diff" {
                if want["changed"] == Json::Bool(true) {
                    let w = content_diff(Some(v));
                    let o = content_diff(ours.get("diff"));
                    let same = w.as_ref().is_some_and(|(b, a)| b == a);
                    if w.is_some() && !same && w != o {
                        failures.push(format!("{name}: diff: want {w:?}, got {o:?}"));
                    }
                }
                continue;
            }
            if skipped(name, k, want["failed"] == Json::Bool(true)) {
                continue;
            }
            if ours.get(k) != Some(v) {
                failures.push(format!(
                    "{name}: {k}: want {v}, got {}",
                    ours.get(k).unwrap_or(&Json::Null)
                ));
            }
        }
        let mut after = serde_json::Map::new();
        snapshot(tmp.path(), tmp.path(), &mut after);
        let after = unsubst(&Json::Object(after), &dir);
        if after != case["after"] {
            failures.push(format!(
                "{name}: files after: want {}, got {after}",
                case["after"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from Ansible:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
