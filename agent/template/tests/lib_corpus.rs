//! Conformance corpus for the filter/test/lookup library: every case in
//! tests/data/lib_corpus.json was evaluated by real ansible-core 2.21.5
//! (tests/data/lib_gen.py); here the same expression runs on our library and the
//! results are compared (values exactly, int and float apart; errors as "an error").
//!
//! Runs through `Templar::render_str` ("{{ expr }}"); `LIB_CORPUS_BARE=1` uses a bare
//! minijinja environment with only this library.
//! Prints `N passed, N failed`; fails if fewer cases pass than `MIN_PASS` (raise it as
//! conformance improves). Errors that Ansible reports as a plugin's failure (`The filter
//! plugin 'ansible.builtin.X' failed: …`) must name the same plugin (`MIN_PLUGIN_NAMED`).

use std::path::PathBuf;

use agent_template::Value;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value as J;

const MIN_PASS: usize = 1465;
/// Of the errors Ansible reports as `The filter plugin 'X' failed: …` (or test plugin),
/// how many must carry the same prefix here.
const MIN_PLUGIN_NAMED: usize = 75;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn to_json(v: &Value) -> J {
    use minijinja::value::ValueKind as K;
    if let Some(dt) = v.downcast_object_ref::<agent_template::filters::path::PyDateTime>() {
        let _ = dt;
        return serde_json::json!({"__datetime__": v.to_string()});
    }
    match v.kind() {
        K::Undefined => J::String("<undefined>".into()),
        K::None => J::Null,
        K::Bool => J::Bool(v.is_true()),
        K::Number => {
            if v.is_integer() {
                if let Some(i) = v.as_i64() {
                    J::from(i)
                } else if let Ok(u) = u64::try_from(v.clone()) {
                    J::from(u)
                } else if let Ok(f) = f64::try_from(v.clone()) {
                    // Integers past u64 (IPv6 ints, sizes): the corpus JSON holds them
                    // as floats too, so they compare approximately.
                    serde_json::Number::from_f64(f)
                        .map(J::Number)
                        .unwrap_or(J::String(v.to_string()))
                } else {
                    J::String(v.to_string())
                }
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(J::Number)
                    .unwrap_or(J::String(f.to_string()))
            }
        }
        K::String => J::String(v.as_str().unwrap_or_default().to_string()),
        K::Map => {
            let mut m = serde_json::Map::new();
            if let Ok(it) = v.try_iter() {
                for k in it {
                    let val = v.get_item(&k).unwrap_or_default();
                    let key = match k.as_str() {
                        Some(s) => s.to_string(),
                        None => agent_template::filters::py_str(&k),
                    };
                    m.insert(key, to_json(&val));
                }
            }
            J::Object(m)
        }
        K::Seq | K::Iterable => J::Array(
            v.try_iter()
                .map(|it| it.map(|x| to_json(&x)).collect())
                .unwrap_or_default(),
        ),
        _ => J::String(v.to_string()),
    }
}

fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => {
            if x.is_f64() != y.is_f64() {
                return false;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) if x.is_f64() => {
                    p == q || ((p - q).abs() <= 1e-12 * p.abs().max(q.abs()))
                }
                _ => x == y,
            }
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && same(v1, v2))
        }
        _ => a == b,
    }
}

fn from_json(v: &J) -> Value {
    agent_template::filters::pyfmt::from_json_value(v.clone())
}

#[test]
fn lib_corpus() {
    let dir = data_dir();
    let files = dir.join("lib_files");
    let data_path = files.to_string_lossy().into_owned();
    // SAFETY-free: the env var the corpus reads is set before anything runs in this test binary.
    unsafe_env();
    let text = std::fs::read_to_string(dir.join("lib_corpus.json")).expect("corpus file");
    let text = text.replace("@DATA@", &data_path);
    let doc: J = serde_json::from_str(&text).expect("corpus json");
    let vars = from_json(&doc["vars"]);

    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    agent_template::filters::register(&mut env);
    agent_template::tests::register(&mut env);
    agent_template::lookups::register(&mut env);

    // LIB_CORPUS_BARE=1 runs on a bare minijinja environment with only this library.
    let use_templar = std::env::var("LIB_CORPUS_BARE").is_err();
    let templar = agent_template::Templar::new();
    let tvars = agent_template::Vars::new(vec![vars.clone()]);
    let cases = doc["cases"].as_array().expect("cases");
    let (mut pass, mut fail) = (0usize, 0usize);
    // errors Ansible reports as a plugin's failure, and how many of them name it here too
    let (mut plugin_total, mut plugin_named) = (0usize, 0usize);
    let mut report = Vec::new();
    for c in cases {
        let expr = c["expr"].as_str().unwrap_or_default();
        // Cases with their own variables (merged over the shared ones).
        let case_vars = c.get("vars").map(|extra| {
            let mut merged = doc["vars"].clone();
            if let (Some(m), Some(e)) = (merged.as_object_mut(), extra.as_object()) {
                for (k, v) in e {
                    m.insert(k.clone(), v.clone());
                }
            }
            from_json(&merged)
        });
        let vars = case_vars.clone().unwrap_or_else(|| vars.clone());
        let tvars = match case_vars {
            Some(v) => agent_template::Vars::new(vec![v]),
            None => tvars.clone(),
        };
        // As Ansible's templar, an undefined final result is an error.
        let got = if use_templar {
            templar
                .render_str(&format!("{{{{ {expr} }}}}"), &tvars)
                .map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.message)
                })
        } else {
            env.compile_expression(expr)
                .and_then(|e| e.eval(vars.clone()))
        };
        let got = got.and_then(|v| {
            if v.is_undefined() {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::UndefinedError,
                    "undefined result",
                ))
            } else {
                Ok(v)
            }
        });
        let ok = match (c.get("value"), c.get("error"), &got) {
            (Some(want), _, Ok(v)) => {
                let g = to_json(v);
                let ok = same(want, &g);
                if !ok {
                    report.push(format!("VALUE {expr}\n   want {want}\n   got  {g}"));
                }
                ok
            }
            (Some(want), _, Err(e)) => {
                report.push(format!("VALUE {expr}\n   want {want}\n   err  {e:#}"));
                false
            }
            (None, Some(want), Err(e)) => {
                // Ansible 2.19+ names the filter or test that raised: the same prefix
                let want = want.as_str().unwrap_or_default();
                let prefix = ["The filter plugin '", "The test plugin '"]
                    .iter()
                    .find(|p| want.starts_with(**p))
                    .and_then(|_| want.find(" failed: ").map(|i| &want[..i + 8]));
                if let Some(prefix) = prefix {
                    plugin_total += 1;
                    let got = e.detail().unwrap_or_default();
                    if got.contains(prefix) {
                        plugin_named += 1;
                    } else {
                        report.push(format!("PLUGIN {expr}\n   want {prefix}…\n   got  {got}"));
                    }
                }
                true
            }
            (None, Some(want), Ok(v)) => {
                report.push(format!(
                    "ERROR {expr}\n   want error {want}\n   got  {}",
                    to_json(v)
                ));
                false
            }
            _ => false,
        };
        if ok {
            pass += 1;
        } else {
            fail += 1;
        }
    }
    for r in &report {
        println!("{r}");
    }
    println!("lib_corpus: {pass} passed, {fail} failed");
    println!("lib_corpus: {plugin_named} of {plugin_total} plugin failures name the plugin");
    assert!(
        pass >= MIN_PASS,
        "conformance regressed: {pass} < {MIN_PASS}"
    );
    assert!(
        plugin_named >= MIN_PLUGIN_NAMED,
        "plugin failures that name their plugin regressed: {plugin_named} < {MIN_PLUGIN_NAMED}"
    );
}

fn unsafe_env() {
    // The generator sets LIB_CORPUS_ENV for Ansible; the runner provides the same value.
    if std::env::var("LIB_CORPUS_ENV").ok().as_deref() != Some("corpus-value") {
        // SAFETY: called at the start of this single test, before any threads read the env.
        unsafe { std::env::set_var("LIB_CORPUS_ENV", "corpus-value") };
    }
}
