//! The differential suite: every case under `differential/cases/` is run with the agent
//! (three runs) and compared with `expected.json`, recorded with real ansible-playbook.
//!
//! Environment:
//! - `AGENT_BIN`: the agent binary (default: `target/release/agent`, then `target/debug/agent`).
//! - `DIFF_CASES`: comma-separated substrings; only cases whose name contains one run.
//! - `DIFF_LIVE=1`: instead of the agent, re-run real Ansible for the cases listed in
//!   `differential/live-cases` (`DIFF_LIVE=all`: every case) and check the recordings.
//! - `ANSIBLE_VENV`: the ansible-core venv for live mode (default `/work/ansible-venv`).
//! - `DIFF_VERBOSE=1`: print every difference and the run's output for failing cases.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use agent_tests::{
    Case, Expected, RcMode, Runner, compare_run, find_agent, load_cases, run_case, set_umask,
    workspace_root,
};

fn live_runner(root: &Path) -> Result<Runner, String> {
    let venv = PathBuf::from(
        std::env::var_os("ANSIBLE_VENV").unwrap_or_else(|| "/work/ansible-venv".into()),
    );
    if !venv.join("bin").join("ansible-playbook").is_file() {
        let record = root.join("tests").join("differential").join("record");
        let status = std::process::Command::new(&record)
            .arg("--setup-venv")
            .env("ANSIBLE_VENV", &venv)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", record.display()))?;
        if !status.success() {
            return Err(format!("{} --setup-venv failed", record.display()));
        }
    }
    Ok(Runner::Ansible { venv })
}

fn live_sample(cases: Vec<Case>, differential: &Path, all: bool) -> Result<Vec<Case>, String> {
    if all {
        return Ok(cases);
    }
    let list = differential.join("live-cases");
    let text = std::fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
    let wanted = agent_tests::parse_args_file(&text);
    for name in &wanted {
        if !cases.iter().any(|c| &c.name == name) {
            return Err(format!("{}: no case named {name}", list.display()));
        }
    }
    Ok(cases
        .into_iter()
        .filter(|c| wanted.contains(&c.name))
        .collect())
}

fn main() -> ExitCode {
    let root = workspace_root();
    let differential = root.join("tests").join("differential");
    let filter = std::env::var("DIFF_CASES").ok();
    let live = std::env::var("DIFF_LIVE")
        .ok()
        .filter(|v| !v.is_empty() && v != "0");
    let verbose = std::env::var("DIFF_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");

    let cases = match load_cases(&differential.join("cases"), filter.as_deref()) {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let setup = match &live {
        Some(v) => live_runner(&root).and_then(|runner| {
            live_sample(cases, &differential, v == "all").map(|c| (runner, c, RcMode::Exact))
        }),
        None => find_agent(&root).map(|bin| (Runner::Agent(bin), cases, RcMode::Agent)),
    };
    let (runner, cases, rc_mode) = match setup {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("differential-logs");
    match &runner {
        Runner::Agent(bin) => println!("differential: agent {}", bin.display()),
        Runner::Ansible { venv } => println!(
            "differential (live): ansible-playbook in {}",
            venv.display()
        ),
    }
    println!("logs under {}", logs.display());

    // Cases the agent does not pass yet, each with its reason (agent runs only). A listed
    // case that passes is a failure too, so that the list stays true.
    let known: std::collections::BTreeMap<String, String> = if rc_mode == RcMode::Agent {
        std::fs::read_to_string(differential.join("known-failures"))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (name, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                (name.to_string(), why.trim().to_string())
            })
            .collect()
    } else {
        Default::default()
    };
    set_umask();
    let started = Instant::now();
    let (mut passed, mut failed, mut known_failed) = (0usize, 0usize, 0usize);
    // Printed output against Ansible's recorded output. Runs listed in
    // known-output-diffs (CASE/RUN reason) may differ; any other difference fails the case,
    // and a listed run that now matches fails too, so that the list stays true.
    let (mut same_output, mut compared_output) = (0usize, 0usize);
    let mut output_differs = Vec::new();
    let known_output: std::collections::BTreeMap<String, String> =
        std::fs::read_to_string(differential.join("known-output-diffs"))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (name, why) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                (name.to_string(), why.trim().to_string())
            })
            .collect();
    for case in &cases {
        let expected = match Expected::load(&case.expected_path()) {
            Ok(e) => e,
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e}", case.name);
                continue;
            }
        };
        let runs = match run_case(case, &runner, &logs) {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                println!("FAIL {}: {e}", case.name);
                continue;
            }
        };
        let mut output_problems = Vec::new();
        if rc_mode == RcMode::Agent {
            for (run, _, output) in &runs {
                let Ok(want) =
                    std::fs::read_to_string(case.dir.join("output").join(format!("{run}.txt")))
                else {
                    continue;
                };
                compared_output += 1;
                let key = format!("{}/{run}", case.name);
                let (want_n, got_n) = (
                    agent_tests::normalise_output(&want),
                    agent_tests::normalise_output(output),
                );
                // `order:` entries: the output may list things in directory order (Python's
                // glob does not sort), so the lines are compared as a set.
                let unordered = known_output
                    .get(&key)
                    .is_some_and(|why| why.starts_with("order:"));
                let same = if unordered {
                    let mut a: Vec<&str> = want_n.lines().collect();
                    let mut b: Vec<&str> = got_n.lines().collect();
                    a.sort_unstable();
                    b.sort_unstable();
                    a == b
                } else {
                    want_n == got_n
                };
                let listed = known_output.contains_key(&key) && !unordered;
                match (same, listed) {
                    (true, false) => same_output += 1,
                    (true, true) => {
                        same_output += 1;
                        output_problems.push(format!(
                            "{run}: output matches Ansible's now; remove {key} from tests/differential/known-output-diffs"
                        ));
                    }
                    (false, true) => output_differs.push(key),
                    (false, false) => {
                        output_differs.push(key.clone());
                        output_problems.push(format!(
                            "{run}: printed output differs from Ansible's (DIFF_VERBOSE=1 shows it)"
                        ));
                        if verbose {
                            for line in text_diff(
                                &agent_tests::normalise_output(&want),
                                &agent_tests::normalise_output(output),
                            ) {
                                println!("    {line}");
                            }
                        }
                    }
                }
            }
        }
        let mut diffs = output_problems;
        for (run, actual, _) in &runs {
            match expected.runs.get(run) {
                Some(want) => diffs.extend(compare_run(run, want, actual, rc_mode)),
                None => diffs.push(format!("{run}: not in expected.json")),
            }
        }
        if diffs.is_empty() {
            if known.contains_key(&case.name) {
                failed += 1;
                println!(
                    "FAIL {}: passes now; remove it from tests/differential/known-failures",
                    case.name
                );
            } else {
                passed += 1;
                println!("ok {}", case.name);
            }
            continue;
        }
        if let Some(why) = known.get(&case.name) {
            known_failed += 1;
            println!("known {}: {why} [{}]", case.name, diffs[0]);
            continue;
        }
        failed += 1;
        let shown: Vec<&str> = diffs.iter().take(3).map(String::as_str).collect();
        let more = if diffs.len() > 3 {
            format!(" (+{} more)", diffs.len() - 3)
        } else {
            String::new()
        };
        println!("FAIL {}: {}{more}", case.name, shown.join("; "));
        if verbose {
            for d in &diffs {
                println!("    {d}");
            }
            for (run, _, output) in &runs {
                println!("    --- {run} output ---");
                for line in output.lines() {
                    println!("    | {line}");
                }
            }
        }
    }
    eprintln!("({:.1}s)", started.elapsed().as_secs_f64());
    if compared_output > 0 {
        println!(
            "output identical to Ansible's (after normalising paths and timings): {same_output} of {compared_output} runs"
        );
        if verbose {
            println!("output differs: {}", output_differs.join(" "));
        }
    }
    if known_failed > 0 {
        println!("known failures (tests/differential/known-failures): {known_failed}");
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The lines of `want` and `got` that differ (a small positional diff for messages).
fn text_diff(want: &str, got: &str) -> Vec<String> {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let mut out = Vec::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i).copied(), g.get(i).copied());
        if a != b {
            out.push(format!(
                "line {}: ansible {:?}",
                i + 1,
                a.unwrap_or("<none>")
            ));
            out.push(format!(
                "line {}: agent   {:?}",
                i + 1,
                b.unwrap_or("<none>")
            ));
            if out.len() >= 8 {
                break;
            }
        }
    }
    out
}
