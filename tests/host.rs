//! The host suite: every case under `host/cases/` converged by the agent on a booted test
//! host (systemd as PID 1, real apt, users, mounts), and for cases marked `differential`
//! also by real Ansible on a second host booted from the same image plus Ansible.
//!
//! Per case (see `host/README.md`): `agent check` reports changes and changes nothing
//! (verify.sh still fails), `agent apply` converges (verify.sh passes), a second apply and
//! a check report no change.
//!
//! Environment:
//! - `AGENT_HOST_TESTS=1`: run the suite (without it the suite is skipped, so that a plain
//!   `cargo test --workspace` does not boot hosts); it then fails if the machine cannot
//!   boot test hosts (needs root, unshare, nsenter, losetup, debootstrap).
//! - `AGENT_HOST_CASES`: comma-separated substrings; only cases whose name contains one run.
//! - `AGENT_BIN`: the agent binary (default `target/release/agent`, then `target/debug/agent`).
//! - `AGENT_HOST_VERBOSE=1`: print the output of every run of failing cases in full.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agent_tests::testhost::{self, Output, TestHost};
use agent_tests::{find_agent, workspace_root};
use serde_json::Value;

/// How long one playbook run may take (package installs from the mirror are slow).
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
const VERIFY_TIMEOUT: Duration = Duration::from_secs(120);
const LOOP_SIZE: &str = "256M";
/// Environment of before.sh, verify.sh and the runs, in the case directory in the host.
const CASE_ENV: &str = ".case-env";

struct HostCase {
    name: String,
    dir: PathBuf,
    before: bool,
    loop_device: bool,
    differential: bool,
}

fn load_cases(root: &Path, filter: Option<&str>) -> Result<Vec<HostCase>, String> {
    let dir = root.join("tests/host/cases");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let filters: Vec<&str> = filter
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut cases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f)) {
            continue;
        }
        for required in ["play.yml", "verify.sh"] {
            if !path.join(required).is_file() {
                return Err(format!("case {name}: {required} is missing"));
            }
        }
        cases.push(HostCase {
            before: path.join("before.sh").is_file(),
            loop_device: path.join("loop").exists(),
            differential: path.join("differential").exists(),
            name,
            dir: path,
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(cases)
}

/// `changed` and `failed` summed over the hosts of a run's `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    changed: u64,
    failed: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "changed={} failed={}", self.changed, self.failed)
    }
}

/// The counts of a run printed as one JSON document (agent `--output json`, Ansible's
/// ansible.posix.json callback): `stats` per host.
fn counts(out: &Output) -> Result<Counts, String> {
    let text = out.stdout.trim();
    // Anything printed before the document (warnings on stdout) is skipped.
    let start = text
        .find("{\n")
        .or_else(|| text.find('{'))
        .ok_or("no JSON document on stdout")?;
    let doc: Value =
        serde_json::from_str(&text[start..]).map_err(|e| format!("stdout is not JSON: {e}"))?;
    let stats = doc
        .get("stats")
        .and_then(Value::as_object)
        .ok_or("no stats in the JSON output")?;
    if stats.is_empty() {
        return Err("stats are empty (no host ran)".into());
    }
    let sum = |keys: &[&str]| -> u64 {
        stats
            .values()
            .flat_map(|h| keys.iter().map(|k| h.get(*k).and_then(Value::as_u64)))
            .map(|v| v.unwrap_or(0))
            .sum()
    };
    Ok(Counts {
        changed: sum(&["changed"]),
        // The json callback says `failures`.
        failed: sum(&["failures", "unreachable"]),
    })
}

/// One host with the case files copied to /root/host-cases/<name>.
struct Runner<'a> {
    host: &'a TestHost,
    ansible: bool,
}

struct Failure {
    reason: String,
    output: Option<Output>,
}

impl Failure {
    fn new(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            output: None,
        }
    }
    fn with(reason: impl Into<String>, out: &Output) -> Failure {
        Failure {
            reason: reason.into(),
            output: Some(out.clone()),
        }
    }
}

fn case_dir(case: &HostCase) -> String {
    format!("/root/host-cases/{}", case.name)
}

/// Quote for `sh`.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Runner<'_> {
    fn label(&self) -> &'static str {
        if self.ansible { "ansible" } else { "agent" }
    }

    /// Run `script` in the case directory, with the case's environment (`.case-env`).
    fn sh(&self, case: &HostCase, script: &str, timeout: Duration) -> Result<Output, Failure> {
        let script =
            format!("if [ -f {CASE_ENV} ]; then set -a; . ./{CASE_ENV}; set +a; fi; {script}");
        self.host
            .sh(&case_dir(case), &script, timeout)
            .map_err(|e| Failure::new(format!("{}: {e}", self.label())))
    }

    /// Copy the case in, make the loop device, run before.sh; returns the extra vars.
    fn prepare(&self, case: &HostCase) -> Result<Vec<String>, Failure> {
        self.host
            .copy_in(&case.dir, &case_dir(case))
            .map_err(|e| Failure::new(format!("copy case into {}: {e}", self.label())))?;
        let mut extra = Vec::new();
        if case.loop_device {
            let dev = self
                .host
                .loop_device(LOOP_SIZE)
                .map_err(|e| Failure::new(format!("loop device: {e}")))?;
            extra.push(format!("test_device={dev}"));
            // before.sh and verify.sh see it as $TEST_DEVICE.
            let path = format!("{}/{CASE_ENV}", case_dir(case));
            self.host
                .exec_input(
                    &["/bin/sh", "-c", "cat >\"$0\"", &path],
                    Some(format!("TEST_DEVICE={dev}\n").as_bytes()),
                    VERIFY_TIMEOUT,
                )
                .map_err(|e| Failure::new(format!("write {CASE_ENV}: {e}")))?;
        }
        if case.before {
            let out = self.sh(case, "sh ./before.sh", RUN_TIMEOUT)?;
            if !out.success() {
                return Err(Failure::with(
                    format!("{}: before.sh exited {}", self.label(), out.status),
                    &out,
                ));
            }
        }
        Ok(extra)
    }

    /// One playbook run; `check` for check mode (the agent's `check` command).
    fn run(
        &self,
        case: &HostCase,
        step: &str,
        check: bool,
        extra: &[String],
    ) -> Result<(Counts, Output), Failure> {
        let mut cmd = if self.ansible {
            let mut c = String::from(
                "ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ANSIBLE_LOCALHOST_WARNING=False \
                 ANSIBLE_INVENTORY_UNPARSED_WARNING=False ANSIBLE_NOCOLOR=1 \
                 /opt/ans/bin/ansible-playbook -c local -i localhost, play.yml",
            );
            if check {
                c.push_str(" --check --diff");
            }
            c
        } else {
            format!(
                "/usr/local/bin/agent {} play.yml --output json",
                if check { "check" } else { "apply" }
            )
        };
        for e in extra {
            cmd.push_str(&format!(" -e {}", q(e)));
        }
        let out = self.sh(case, &cmd, RUN_TIMEOUT)?;
        let counts = counts(&out).map_err(|e| {
            Failure::with(
                format!("{} {step}: {e} (exit {})", self.label(), out.status),
                &out,
            )
        })?;
        Ok((counts, out))
    }

    fn verify(&self, case: &HostCase) -> Result<Output, Failure> {
        self.sh(case, "sh ./verify.sh", VERIFY_TIMEOUT)
    }
}

/// One agent run with its expectation: changes or none, no failure, and the exit code
/// that goes with it (`check` exits 2 on drift).
fn agent_run(
    r: &Runner,
    case: &HostCase,
    step: &str,
    check: bool,
    extra: &[String],
    want_changes: bool,
) -> Result<Counts, Failure> {
    let (c, out) = r.run(case, step, check, extra)?;
    let want = if want_changes {
        "changed>0"
    } else {
        "changed=0"
    };
    if (c.changed > 0) != want_changes || c.failed > 0 {
        return Err(Failure::with(
            format!("{step}: {c}, want {want} failed=0"),
            &out,
        ));
    }
    let code = if check && want_changes { 2 } else { 0 };
    if out.status != code {
        return Err(Failure::with(
            format!("{step}: agent exited {}, want {code}", out.status),
            &out,
        ));
    }
    Ok(c)
}

/// The agent's four runs of one case; returns the changed counts of the two applies.
fn agent_case(r: &Runner, case: &HostCase) -> Result<(u64, u64), Failure> {
    let extra = r.prepare(case)?;

    agent_run(r, case, "check on the unconverged host", true, &extra, true)?;
    let v = r.verify(case)?;
    if v.success() {
        return Err(Failure::with(
            "verify.sh passes before apply (after check): check changed something, or the \
             case does not test anything",
            &v,
        ));
    }

    let c1 = agent_run(r, case, "first apply", false, &extra, true)?;
    let v = r.verify(case)?;
    if !v.success() {
        return Err(Failure::with(
            format!("verify.sh fails after the first apply (exit {})", v.status),
            &v,
        ));
    }

    let c2 = agent_run(r, case, "second apply", false, &extra, false)?;
    agent_run(r, case, "check after converging", true, &extra, false)?;
    let v = r.verify(case)?;
    if !v.success() {
        return Err(Failure::with(
            format!("verify.sh fails at the end (exit {})", v.status),
            &v,
        ));
    }
    Ok((c1.changed, c2.changed))
}

/// Real Ansible's two runs of a `differential` case, compared with the agent's.
fn ansible_case(r: &Runner, case: &HostCase, agent: (u64, u64)) -> Result<(), Failure> {
    let extra = r.prepare(case)?;
    let (c1, out) = r.run(case, "first run", false, &extra)?;
    if c1.failed > 0 {
        return Err(Failure::with(
            format!("ansible first run failed: {c1}"),
            &out,
        ));
    }
    let v = r.verify(case)?;
    if !v.success() {
        return Err(Failure::with(
            format!(
                "verify.sh fails after Ansible's run (exit {}) but passes after the agent's",
                v.status
            ),
            &v,
        ));
    }
    let (c2, out) = r.run(case, "second run", false, &extra)?;
    if c2.failed > 0 {
        return Err(Failure::with(
            format!("ansible second run failed: {c2}"),
            &out,
        ));
    }
    if (c1.changed, c2.changed) != agent {
        return Err(Failure::new(format!(
            "changed counts differ: ansible first={} second={}, agent first={} second={}",
            c1.changed, c2.changed, agent.0, agent.1
        )));
    }
    Ok(())
}

/// `task: msg` for every failed task result in a JSON run output.
fn failed_tasks(out: &Output) -> Vec<String> {
    let Some(start) = out.stdout.find('{') else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_str::<Value>(&out.stdout[start..]) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let plays = doc.get("plays").and_then(Value::as_array);
    for task in plays.into_iter().flatten().filter_map(|p| p.get("tasks")) {
        for t in task.as_array().into_iter().flatten() {
            let name = t
                .pointer("/task/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let hosts = t.get("hosts").and_then(Value::as_object);
            for result in hosts.into_iter().flat_map(|h| h.values()) {
                let failed = result.get("failed").and_then(Value::as_bool) == Some(true)
                    || result.get("unreachable").and_then(Value::as_bool) == Some(true);
                let ignored = result.get("ignore_errors").and_then(Value::as_bool) == Some(true);
                if failed && !ignored {
                    let msg = result
                        .get("msg")
                        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
                        .unwrap_or_default();
                    lines.push(format!("task {name:?} failed: {msg}"));
                }
            }
        }
    }
    lines
}

fn report_failure(case: &HostCase, f: &Failure, verbose: bool) {
    println!("FAIL {}: {}", case.name, f.reason);
    if let Some(out) = &f.output {
        let failed = failed_tasks(out);
        let text = if verbose {
            format!("--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr)
        } else if !failed.is_empty() {
            let mut t = failed.join("\n");
            if !out.stderr.trim().is_empty() {
                t.push_str(&format!("\n--- stderr\n{}", out.stderr.trim()));
            }
            t
        } else {
            out.tail(25)
        };
        for line in text.lines() {
            println!("    {line}");
        }
    }
}

/// Set by SIGINT / SIGTERM: finish the current step, stop the hosts, exit.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catch SIGINT and SIGTERM so that the hosts are stopped (their `Drop`) on the way out.
fn catch_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

fn boot(role: &str, ansible: bool) -> Result<(TestHost, Duration), String> {
    let t = Instant::now();
    let host = TestHost::boot_unique(role, ansible).map_err(|e| format!("boot {role}: {e}"))?;
    Ok((host, t.elapsed()))
}

/// `agent facts` against Ansible's `setup` on the same test host (the one with Ansible, so
/// both see the same machine): the comparison of tests/facts_compare.rs. Returns the known
/// differences, or every problem found.
fn compare_facts(host: &TestHost, agent: &Path) -> Result<Vec<String>, String> {
    use agent_tests::facts_compare::{compare, parse_setup_output};
    host.install_agent(agent).map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(120);
    let a = host
        .sh(
            "/root",
            // Ansible's network facts need `ip` (iproute2), which the image lacks; the
            // agent reads /sys and netlink itself. A fixed interpreter: no
            // `discovered_interpreter_python` in the result.
            "(command -v ip >/dev/null || { apt-get update -qq && \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }) && \
             ANSIBLE_NOCOLOR=1 ANSIBLE_DEPRECATION_WARNINGS=False \
             ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
             /opt/ans/bin/ansible -c local -i localhost, localhost -m setup",
            timeout,
        )
        .map_err(|e| e.to_string())?;
    if !a.success() {
        return Err(format!("ansible -m setup failed:\n{}", a.tail(20)));
    }
    let a = parse_setup_output(&a.stdout)?;
    let b = host
        .exec(&["/usr/local/bin/agent", "facts"], timeout)
        .map_err(|e| e.to_string())?;
    if !b.success() {
        return Err(format!("agent facts failed:\n{}", b.tail(20)));
    }
    let b: serde_json::Value =
        serde_json::from_str(&b.stdout).map_err(|e| format!("agent facts JSON: {e}"))?;
    let b = b.as_object().cloned().unwrap_or_default();
    let (problems, known) = compare(&a, &b);
    if problems.is_empty() {
        Ok(known)
    } else {
        Err(format!("facts differ:\n  {}", problems.join("\n  ")))
    }
}

fn main() -> ExitCode {
    let start = Instant::now();
    let required = std::env::var("AGENT_HOST_TESTS").is_ok_and(|v| !v.is_empty() && v != "0");
    if !required {
        println!("host suite skipped: set AGENT_HOST_TESTS=1 to boot test hosts and run it");
        return ExitCode::SUCCESS;
    }
    if let Some(why) = testhost::unavailable_reason() {
        println!("host suite cannot run: {why} (AGENT_HOST_TESTS=1 requires it)");
        return ExitCode::FAILURE;
    }
    let root = workspace_root();
    let filter = std::env::var("AGENT_HOST_CASES").ok();
    let cases = match load_cases(&root, filter.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            println!("host suite: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The facts comparison is a pseudo-case named "facts" (selected like a case).
    let facts_selected = filter
        .as_deref()
        .is_none_or(|f| f.split(',').any(|s| !s.is_empty() && "facts".contains(s)));
    if cases.is_empty() && !facts_selected {
        println!("host suite: no cases selected");
        return ExitCode::SUCCESS;
    }
    let agent = match find_agent(&root) {
        Ok(a) => a,
        Err(e) => {
            println!("host suite: {e}");
            return ExitCode::FAILURE;
        }
    };
    let verbose = std::env::var("AGENT_HOST_VERBOSE").is_ok_and(|v| v == "1");
    catch_signals();

    println!(
        "host suite: booting test hosts (the first run on a machine builds their images \
         with debootstrap and pip: several minutes)"
    );
    // Both hosts boot at once (the Ansible image may need building first).
    let need_ansible = facts_selected || cases.iter().any(|c| c.differential);
    let ansible_thread = need_ansible.then(|| std::thread::spawn(|| boot("ansible", true)));
    let agent_host = boot("agent", false);
    let ansible_host = ansible_thread.map(|t| {
        t.join()
            .unwrap_or_else(|_| Err("booting the ansible host panicked".into()))
    });
    let (agent_host, agent_boot) = match agent_host {
        Ok(h) => h,
        Err(e) => {
            println!("host suite: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ansible_host = match ansible_host {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            println!("host suite: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "host suite: {} case(s); agent host {} booted in {:.1} s{}",
        cases.len(),
        agent_host.name(),
        agent_boot.as_secs_f64(),
        match &ansible_host {
            Some((h, d)) => format!(", ansible host {} in {:.1} s", h.name(), d.as_secs_f64()),
            None => String::new(),
        }
    );
    if let Err(e) = agent_host.install_agent(&agent) {
        println!("host suite: {e}");
        return ExitCode::FAILURE;
    }

    let agent_runner = Runner {
        host: &agent_host,
        ansible: false,
    };
    let ansible_runner = ansible_host.as_ref().map(|(h, _)| Runner {
        host: h,
        ansible: true,
    });
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in &cases {
        if INTERRUPTED.load(Ordering::SeqCst) {
            println!("host suite: interrupted; stopping the hosts");
            failed += 1;
            break;
        }
        let t = Instant::now();
        let mut result = agent_case(&agent_runner, case);
        if let (Ok(changed), true, Some(r)) = (&result, case.differential, &ansible_runner) {
            result = ansible_case(r, case, *changed).map(|()| *changed);
        }
        match result {
            Ok((c1, _)) => {
                passed += 1;
                println!(
                    "ok   {} (changed={c1}{}, {:.1} s)",
                    case.name,
                    if case.differential {
                        ", same as ansible"
                    } else {
                        ""
                    },
                    t.elapsed().as_secs_f64()
                );
            }
            Err(f) => {
                failed += 1;
                report_failure(case, &f, verbose);
            }
        }
    }
    if let (true, Some((host, _))) = (facts_selected, &ansible_host) {
        let t = Instant::now();
        match compare_facts(host, &agent) {
            Ok(known) => {
                passed += 1;
                println!(
                    "ok   facts (agent facts = ansible -m setup on the Ansible host; \
                     {} known difference(s), {:.1} s)",
                    known.len(),
                    t.elapsed().as_secs_f64()
                );
                if verbose {
                    for k in known {
                        println!("     known: {k}");
                    }
                }
            }
            Err(e) => {
                failed += 1;
                println!("FAIL facts\n{e}");
            }
        }
    }
    drop(ansible_host);
    drop(agent_host);
    println!(
        "host suite: {passed} passed, {failed} failed ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
