//! Conformance corpus: cases rendered by real ansible-core 2.21.5 (see
//! `tests/data/core_corpus.py`, which writes `tests/data/core_corpus.json`), replayed here.

use agent_template::{Templar, Value, Vars};

/// Cases where we knowingly differ from Ansible (see the crate report).
const KNOWN_DIFFS: &[&str] = &[
    // attribute of a literal: minijinja does not name the literal
    "{{ none.x }}",
];

fn py_type(v: &Value) -> &'static str {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "other",
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[test]
fn corpus() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/core_corpus.json")).expect("corpus json");
    let vars = Vars::new(vec![Value::from(minijinja::value::Serde(&data["vars"]))]);
    let templar = Templar::new();
    let (mut passed, mut failed, mut known) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in data["cases"].as_array().expect("cases") {
        let src = case["src"].as_str().unwrap_or_default();
        let got: Result<(String, serde_json::Value), String> = if case["kind"] == "c" {
            templar
                .eval_condition(src, &vars)
                .map(|b| ("bool".to_string(), serde_json::Value::Bool(b)))
                .map_err(|e| e.message)
        } else {
            templar
                .render_str(src, &vars)
                .map(|v| (py_type(&v).to_string(), to_json(&v)))
                .map_err(|e| e.message)
        };
        let ok = match (&got, case["ok"].as_bool().unwrap_or(false)) {
            (Ok((ty, val)), true) => {
                ty == case["type"].as_str().unwrap_or("") && *val == case["value"]
            }
            (Err(msg), false) => {
                let want = case["error"].as_str().unwrap_or("");
                // undefined-variable and recursion messages must match Ansible's wording
                if want.contains("is undefined")
                    || want.contains("has no attribute")
                    || want.starts_with("Recursive loop")
                    || want.contains("Conditionals must have a boolean result")
                {
                    let core = want.trim_start_matches("Error while evaluating conditional: ");
                    let core = core.split(" at '").next().unwrap_or(core);
                    msg.contains(core)
                } else {
                    true
                }
            }
            _ => false,
        };
        if ok {
            passed += 1;
        } else if KNOWN_DIFFS.contains(&src) {
            known += 1;
        } else {
            failed += 1;
            failures.push(format!("{src:?}: want {case}, got {got:?}"));
        }
    }
    eprintln!("core corpus: {passed} passed, {failed} failed, {known} known differences");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
