//! Live comparison of the agent's facts with real `ansible -m setup` on this machine.
//! Runs only with `DIFF_LIVE=1` (like differential.rs); `ANSIBLE_VENV` names the
//! ansible-core venv (default /work/ansible-venv; `tests/setup-ansible` makes one).
//!
//! Compared: the presence of every fact the issue lists, and equal values for those that
//! are stable between two gatherings (memfree, size_available, date_time values, uptime,
//! loadavg may differ). Known, documented differences (docs/compat.md, "setup") are
//! listed in `KNOWN` and reported, not failed.

use std::path::{Path, PathBuf};
use std::process::Command;

use agent_tests::facts_compare::{compare, parse_setup_output};
use serde_json::{Map, Value};

fn ansible_setup(venv: &Path) -> Result<Map<String, Value>, String> {
    let out = Command::new(venv.join("bin").join("ansible"))
        .args([
            "-c",
            "local",
            "-i",
            "localhost,",
            "localhost",
            "-m",
            "setup",
        ])
        .env(
            "ANSIBLE_PYTHON_INTERPRETER",
            venv.join("bin").join("python"),
        )
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .output()
        .map_err(|e| format!("running ansible: {e}"))?;
    parse_setup_output(&String::from_utf8_lossy(&out.stdout))
}

fn agent_setup() -> Map<String, Value> {
    let f = agent_facts::gather(
        &agent_facts::Options::default(),
        &mut agent_facts::Cache::new(),
    )
    .unwrap_or_default();
    agent_facts::prefixed(&f)
}

#[test]
fn agent_facts_match_ansible_setup() {
    if std::env::var_os("DIFF_LIVE").is_none() {
        eprintln!("facts_live: skipped (set DIFF_LIVE=1)");
        return;
    }
    let venv = PathBuf::from(
        std::env::var_os("ANSIBLE_VENV").unwrap_or_else(|| "/work/ansible-venv".into()),
    );
    let a = match ansible_setup(&venv) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let b = agent_setup();
    let (problems, known) = compare(&a, &b);
    for k in &known {
        eprintln!("known difference: {k}");
    }
    assert!(
        problems.is_empty(),
        "facts differ:\n{}",
        problems.join("\n")
    );
}
