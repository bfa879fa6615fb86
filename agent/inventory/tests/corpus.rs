//! Differential corpus: every case under tests/data/ is loaded and compared with what
//! real ansible-core made of it (expected.json, written by tests/gen_expected.py).

use std::path::{Path, PathBuf};

use agent_inventory::Inventory;
use serde_json::{Map, Value as Json, json};

fn to_json(v: &agent_inventory::Value, case: &str) -> Json {
    let j = serde_json::to_value(v).unwrap_or(Json::Null);
    replace_case(j, case)
}

fn replace_case(j: Json, case: &str) -> Json {
    match j {
        Json::String(s) => Json::String(s.replace(case, "{CASE}")),
        Json::Array(a) => Json::Array(a.into_iter().map(|x| replace_case(x, case)).collect()),
        Json::Object(o) => Json::Object(
            o.into_iter()
                .map(|(k, v)| (k, replace_case(v, case)))
                .collect(),
        ),
        other => other,
    }
}

fn sources(case: &Path) -> Vec<PathBuf> {
    match std::fs::read_to_string(case.join("sources")) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                if l.contains(',') && !case.join(l).exists() {
                    PathBuf::from(l)
                } else {
                    case.join(l)
                }
            })
            .collect(),
        Err(_) => vec![case.join("inventory")],
    }
}

fn host_json(inv: &Inventory, host: &str, case: &str) -> Result<Json, String> {
    let vars = inv.host_vars(host).map_err(|e| e.to_string())?;
    let mut m = Map::new();
    // The implicit localhost's interpreter is this machine's: gen_expected.py leaves it
    // out (MAGIC) as well.
    for (k, v) in vars
        .iter()
        .filter(|(k, _)| *k != "ansible_python_interpreter")
    {
        m.insert(k.clone(), to_json(v, case));
    }
    Ok(json!({"group_names": inv.group_names(host), "vars": Json::Object(m)}))
}

/// What the Rust side makes of a case, in expected.json's shape.
fn actual(case: &Path, expected: &Json) -> Json {
    let case_s = case.display().to_string();
    let mut inv = match Inventory::load(&sources(case)) {
        Ok(inv) => inv,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let pb = case.join("playbook");
    if pb.is_dir()
        && let Err(e) = inv.add_playbook_dir(&pb)
    {
        return json!({"error": e.to_string()});
    }
    let mut hosts = Map::new();
    for h in inv.hosts.keys() {
        match host_json(&inv, h, &case_s) {
            Ok(j) => {
                hosts.insert(h.clone(), j);
            }
            Err(e) => return json!({"error": e}),
        }
    }
    let mut select = Vec::new();
    let empty = Vec::new();
    for item in expected
        .get("select")
        .and_then(Json::as_array)
        .unwrap_or(&empty)
    {
        let pattern = item[0].as_str().unwrap_or_default();
        let limit = item[1]
            .as_str()
            .map(|l| l.replace('@', &format!("@{case_s}/")));
        let res = match inv.select_limited(pattern, limit.as_deref()) {
            Ok(hs) => json!(hs),
            Err(_) => json!("ERROR"),
        };
        select.push(json!([pattern, item[1].clone(), res]));
    }
    let mut out = json!({
        "groups": serde_json::to_value(inv.groups_value()).unwrap_or(Json::Null),
        "hosts": Json::Object(hosts),
        "select": select,
    });
    if let Some(imp) = expected.get("implicit").and_then(Json::as_object) {
        let mut m = Map::new();
        for name in imp.keys() {
            m.insert(
                name.clone(),
                host_json(&inv, name, &case_s).unwrap_or_else(|e| json!(e)),
            );
        }
        out["implicit"] = Json::Object(m);
    }
    out
}

/// Compare; errors only need to agree that there is one.
fn diff(expected: &Json, actual: &Json) -> Option<String> {
    match (expected.get("error"), actual.get("error")) {
        (Some(_), Some(_)) => return None,
        (Some(e), None) => return Some(format!("Ansible fails ({e}) but we load it")),
        (None, Some(a)) => return Some(format!("we fail: {a}")),
        (None, None) => {}
    }
    let mut out = Vec::new();
    for key in ["groups", "select", "implicit"] {
        if expected.get(key) != actual.get(key) {
            out.push(format!(
                "{key}:\n  expected {}\n  actual   {}",
                expected.get(key).unwrap_or(&Json::Null),
                actual.get(key).unwrap_or(&Json::Null)
            ));
        }
    }
    let (eh, ah) = (&expected["hosts"], &actual["hosts"]);
    let ek: Vec<&String> = eh
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let ak: Vec<&String> = ah
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if ek != ak {
        out.push(format!("host list:\n  expected {ek:?}\n  actual   {ak:?}"));
    }
    for h in ek {
        if eh[h] != ah[h] {
            out.push(format!(
                "host {h}:\n  expected {}\n  actual   {}",
                eh[h], ah[h]
            ));
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out.join("\n"))
    }
}

#[test]
fn corpus_matches_ansible() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&data)
        .expect("tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").exists())
        .collect();
    cases.sort();
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let text = std::fs::read_to_string(case.join("expected.json")).expect("expected.json");
        let expected: Json = serde_json::from_str(&text).expect("valid expected.json");
        let got = actual(case, &expected);
        match diff(&expected, &got) {
            None => passed += 1,
            Some(d) => {
                failed += 1;
                println!(
                    "FAIL {}\n{d}\n",
                    case.file_name().unwrap_or_default().to_string_lossy()
                );
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert!(cases.len() >= 25, "corpus too small");
    assert_eq!(failed, 0, "{failed} corpus cases differ from Ansible");
}

#[test]
fn corpus_errors_are_explained() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&data)
        .expect("tests/data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    cases.sort();
    for case in cases {
        if let Err(e) = Inventory::load(&sources(&case)) {
            let name = case
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let msg = e.to_string().replace(&data.display().to_string(), "");
            println!("{name}: {msg}");
            assert!(!e.message.is_empty());
        }
    }
}
