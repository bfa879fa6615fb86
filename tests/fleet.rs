//! The reference fleet on booted test hosts (issue 6): the roles under `roles/` with the
//! `sandbox` inventory (every role on one host, `sandbox1`), converged by the agent and
//! then by real Ansible on a second host, and their states compared.
//!
//! On the agent host: first apply converges; nginx answers /health; a request through nginx
//! to the app makes a session that redis-cli reads back from Redis; a second apply and a
//! check change nothing; drift (a line of nginx.conf edited, redis stopped) is reported by
//! check as exactly those tasks and repaired by apply. Then `tests/fleet/snapshot.sh` records
//! the state. On a host booted from the Ansible image, ansible-playbook converges the same
//! site twice (the second run changes nothing); its snapshot must equal the agent's.
//!
//! The storage play is skipped (`--skip-tags storage`: its own test needs a loop device);
//! when `roles/storage` is not there, a stub stands in so that the site loads.
//!
//! Environment: `AGENT_HOST_TESTS=1` runs it (skipped otherwise), `AGENT_BIN` the agent
//! binary (default target/release/agent, then target/debug/agent), `AGENT_FLEET_ANSIBLE=0`
//! skips the Ansible half, `AGENT_HOST_VERBOSE=1` prints whole outputs of failing runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agent_tests::testhost::{self, Output, TestHost};
use agent_tests::{find_agent, workspace_root};
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(900);
const SHORT: Duration = Duration::from_secs(120);
/// Where the site is copied inside the hosts.
const SITE: &str = "/root/fleet";
/// The test hosts share the build machine's network: nginx moves off 80/443 so that it
/// cannot collide with other test hosts (the storage role's apache listens on 80).
const HTTP_PORT: u16 = 18080;
const HTTPS_PORT: u16 = 18443;
const REDIS_PASSWORD: &str = "sandbox-sessions-Kq3v9Tz2";

fn copy_dir(src: &Path, dst: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    let entries = std::fs::read_dir(src).map_err(|e| format!("{}: {e}", src.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", src.display()))?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        if from.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
        }
    }
    Ok(())
}

/// roles/, inventories/ and snapshot.sh in a temporary directory (with a stub storage role
/// when the real one is not there yet).
fn stage_site(root: &Path) -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    copy_dir(&root.join("roles"), &dir.path().join("roles"))?;
    copy_dir(&root.join("inventories"), &dir.path().join("inventories"))?;
    std::fs::copy(
        root.join("tests/fleet/snapshot.sh"),
        dir.path().join("snapshot.sh"),
    )
    .map_err(|e| format!("snapshot.sh: {e}"))?;
    let storage = dir.path().join("roles/storage/tasks");
    if !storage.join("main.yml").is_file() {
        std::fs::create_dir_all(&storage).map_err(|e| format!("{}: {e}", storage.display()))?;
        std::fs::write(
            storage.join("main.yml"),
            "---\n- name: the storage role is not on this branch\n  ansible.builtin.debug:\n    msg: stub\n",
        )
        .map_err(|e| format!("stub storage role: {e}"))?;
    }
    Ok(dir)
}

/// A step that failed, with the output that shows why.
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

impl From<testhost::HostError> for Failure {
    fn from(e: testhost::HostError) -> Failure {
        Failure::new(e.to_string())
    }
}

fn sh(host: &TestHost, script: &str, timeout: Duration) -> Result<Output, Failure> {
    Ok(host.sh(SITE, script, timeout)?)
}

/// Run a shell script that must succeed; its stdout.
fn sh_ok(host: &TestHost, what: &str, script: &str) -> Result<String, Failure> {
    let out = sh(host, script, SHORT)?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(Failure::with(format!("{what}: exit {}", out.status), &out))
    }
}

/// A run's JSON document (agent `--output json`, Ansible's ansible.posix.json callback).
fn json_doc(out: &Output) -> Result<Value, String> {
    let text = out.stdout.trim();
    let start = text
        .find("{\n")
        .or_else(|| text.find('{'))
        .ok_or("no JSON document on stdout")?;
    serde_json::from_str(&text[start..]).map_err(|e| format!("stdout is not JSON: {e}"))
}

/// What a run did: summed counts and the names of the tasks that changed something.
#[derive(Debug, Default)]
struct Run {
    changed: u64,
    failed: u64,
    changed_tasks: BTreeSet<String>,
    failed_tasks: Vec<String>,
}

fn summarize(out: &Output) -> Result<Run, String> {
    let doc = json_doc(out)?;
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
    let mut run = Run {
        changed: sum(&["changed"]),
        failed: sum(&["failures", "unreachable"]),
        ..Run::default()
    };
    let plays = doc.get("plays").and_then(Value::as_array);
    for task in plays.into_iter().flatten().filter_map(|p| p.get("tasks")) {
        for t in task.as_array().into_iter().flatten() {
            let name = t
                .pointer("/task/name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let hosts = t.get("hosts").and_then(Value::as_object);
            for r in hosts.into_iter().flat_map(|h| h.values()) {
                if r.get("changed").and_then(Value::as_bool) == Some(true) {
                    run.changed_tasks.insert(name.clone());
                }
                let failed = r.get("failed").and_then(Value::as_bool) == Some(true)
                    || r.get("unreachable").and_then(Value::as_bool) == Some(true);
                if failed && r.get("ignore_errors").and_then(Value::as_bool) != Some(true) {
                    let msg = r
                        .get("msg")
                        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
                        .unwrap_or_default();
                    run.failed_tasks.push(format!("{name}: {msg}"));
                }
            }
        }
    }
    Ok(run)
}

const SITE_ARGS: &str =
    "-i inventories/sandbox roles/site.yml --limit sandbox1 --skip-tags storage";

fn extra_vars() -> String {
    format!("-e web_http_port={HTTP_PORT} -e web_https_port={HTTPS_PORT}")
}

/// One run of the site; `ansible` picks ansible-playbook, `check` check mode.
fn run_site(host: &TestHost, ansible: bool, check: bool, step: &str) -> Result<Run, Failure> {
    let cmd = if ansible {
        format!(
            "ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ANSIBLE_NOCOLOR=1 \
             /opt/ans/bin/ansible-playbook -c local {SITE_ARGS} {}{}",
            extra_vars(),
            if check { " --check --diff" } else { "" }
        )
    } else {
        format!(
            "/usr/local/bin/agent {} {SITE_ARGS} {} --output json",
            if check { "check" } else { "apply" },
            extra_vars()
        )
    };
    let label = if ansible { "ansible" } else { "agent" };
    let t = Instant::now();
    let out = sh(host, &cmd, RUN_TIMEOUT)?;
    let run = summarize(&out)
        .map_err(|e| Failure::with(format!("{label} {step}: {e} (exit {})", out.status), &out))?;
    if run.failed > 0 {
        return Err(Failure::with(
            format!(
                "{label} {step}: {} failure(s): {}",
                run.failed,
                run.failed_tasks.join("; ")
            ),
            &out,
        ));
    }
    if !ansible {
        let want = if check && run.changed > 0 { 2 } else { 0 };
        if out.status != want {
            return Err(Failure::with(
                format!("{label} {step}: exit {}, want {want}", out.status),
                &out,
            ));
        }
    }
    println!(
        "  {label} {step}: changed={} ({:.1} s)",
        run.changed,
        t.elapsed().as_secs_f64()
    );
    Ok(run)
}

fn expect_no_change(run: &Run, what: &str) -> Result<(), Failure> {
    if run.changed == 0 {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "{what}: changed={}, want 0 (changed: {:?})",
            run.changed, run.changed_tasks
        )))
    }
}

/// nginx answers /health on HTTP and HTTPS, HTTP redirects the rest to HTTPS, and a request
/// through nginx to the app makes a session that is in Redis; the cookie keeps it.
fn check_service(host: &TestHost) -> Result<(), Failure> {
    let health = sh_ok(
        host,
        "GET /health over HTTP",
        &format!("curl -fsS --max-time 10 http://127.0.0.1:{HTTP_PORT}/health"),
    )?;
    if health.trim() != "ok" {
        return Err(Failure::new(format!("/health said {health:?}")));
    }
    sh_ok(
        host,
        "GET /health over HTTPS",
        &format!("curl -fksS --max-time 10 https://127.0.0.1:{HTTPS_PORT}/health"),
    )?;
    let redirect = sh_ok(
        host,
        "GET / over HTTP",
        &format!(
            "curl -sS --max-time 10 -o /dev/null -w '%{{http_code}} %{{redirect_url}}' \
             http://127.0.0.1:{HTTP_PORT}/x"
        ),
    )?;
    if !redirect.starts_with("301 https://") {
        return Err(Failure::new(format!(
            "HTTP / should redirect to HTTPS, got {redirect:?}"
        )));
    }
    let first = sh_ok(
        host,
        "GET / through nginx",
        &format!(
            "rm -f /tmp/fleet-cookies; curl -fksS --max-time 10 -c /tmp/fleet-cookies \
             https://127.0.0.1:{HTTPS_PORT}/hello"
        ),
    )?;
    let doc: Value = serde_json::from_str(first.trim())
        .map_err(|e| Failure::new(format!("the app's answer is not JSON ({e}): {first:?}")))?;
    let sid = doc
        .get("session")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new(format!("no session in {first:?}")))?
        .to_string();
    if doc.get("hits").and_then(Value::as_u64) != Some(1) {
        return Err(Failure::new(format!(
            "first request: want hits=1 in {first:?}"
        )));
    }
    let second = sh_ok(
        host,
        "GET / with the session cookie",
        &format!(
            "curl -fksS --max-time 10 -b /tmp/fleet-cookies https://127.0.0.1:{HTTPS_PORT}/again"
        ),
    )?;
    let doc2: Value = serde_json::from_str(second.trim())
        .map_err(|e| Failure::new(format!("the app's answer is not JSON ({e}): {second:?}")))?;
    if doc2.get("session").and_then(Value::as_str) != Some(sid.as_str())
        || doc2.get("hits").and_then(Value::as_u64) != Some(2)
    {
        return Err(Failure::new(format!(
            "with the cookie: want session {sid} and hits=2, got {second:?}"
        )));
    }
    // Read back directly from Redis, with the password.
    let stored = sh_ok(
        host,
        "redis-cli HGETALL",
        &format!(
            "redis-cli --no-auth-warning -a {REDIS_PASSWORD} HGET session:{sid} hits; \
             redis-cli --no-auth-warning -a {REDIS_PASSWORD} HGET session:{sid} last_path; \
             redis-cli --no-auth-warning -a {REDIS_PASSWORD} TTL session:{sid}"
        ),
    )?;
    let lines: Vec<&str> = stored.lines().map(str::trim).collect();
    let ttl_ok = lines
        .get(2)
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| t > 0);
    if lines.first() != Some(&"2") || lines.get(1) != Some(&"/again") || !ttl_ok {
        return Err(Failure::new(format!(
            "session:{sid} in Redis: want hits 2, last_path /again and a TTL, got {lines:?}"
        )));
    }
    // Without the password Redis refuses.
    let anon = sh(
        host,
        &format!("redis-cli HGET session:{sid} hits 2>&1"),
        SHORT,
    )?;
    if !anon.stdout.contains("NOAUTH") {
        return Err(Failure::with("redis answered without the password", &anon));
    }
    println!("  service: /health ok, session {sid} through nginx read back from redis");
    Ok(())
}

/// The agent half; returns the snapshot and the first apply's changed count.
///
/// The agent's host boots from the Ansible image too (the agent does not use its Python):
/// both hosts start from the same packages, so that the snapshots compare line for line
/// (on the plain image, packages that the Ansible image installed without their
/// recommendations would come with them, and python3's binfmt unit would not be active).
fn agent_half(agent: &Path, site: &Path) -> Result<(String, u64), Failure> {
    let host = TestHost::boot_unique("fleet-agent", true)?;
    println!("fleet: agent host {}", host.name());
    host.install_agent(agent)?;
    host.copy_in(site, SITE)?;

    let first = run_site(&host, false, false, "first apply")?;
    if first.changed == 0 {
        return Err(Failure::new("first apply: changed=0 on a fresh host"));
    }
    check_service(&host)?;
    let second = run_site(&host, false, false, "second apply")?;
    expect_no_change(&second, "second apply")?;
    let check = run_site(&host, false, true, "check")?;
    expect_no_change(&check, "check after converging")?;

    // Drift: a line of a managed config edited, redis stopped.
    sh_ok(
        &host,
        "inject drift",
        "sed -i 's/worker_connections 512;/worker_connections 4096;/' /etc/nginx/nginx.conf \
         && grep -q 'worker_connections 4096;' /etc/nginx/nginx.conf \
         && systemctl stop redis-server",
    )?;
    let drift = run_site(&host, false, true, "check with drift")?;
    let want: BTreeSet<String> = [
        "web : nginx.conf",
        "redis : redis-server is enabled and running",
        "web : reload nginx",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if drift.changed_tasks != want {
        return Err(Failure::new(format!(
            "check with drift reported {:?}, want {want:?}",
            drift.changed_tasks
        )));
    }
    let still = sh(
        &host,
        "grep -q 'worker_connections 4096;' /etc/nginx/nginx.conf && \
         ! systemctl is-active -q redis-server",
        SHORT,
    )?;
    if !still.success() {
        return Err(Failure::new(
            "check repaired the drift (it must not change anything)",
        ));
    }
    let repair = run_site(&host, false, false, "apply repairing the drift")?;
    if repair.changed_tasks != want {
        return Err(Failure::new(format!(
            "the repairing apply changed {:?}, want {want:?}",
            repair.changed_tasks
        )));
    }
    sh_ok(
        &host,
        "state after the repair",
        "grep -q 'worker_connections 512;' /etc/nginx/nginx.conf && \
         systemctl is-active -q redis-server",
    )?;
    check_service(&host)?;
    let check = run_site(&host, false, true, "check after the repair")?;
    expect_no_change(&check, "check after the repair")?;

    let snapshot = sh_ok(&host, "snapshot", "sh snapshot.sh")?;
    Ok((snapshot, first.changed))
}

/// The Ansible half; returns the snapshot and the first run's changed count.
fn ansible_half(site: &Path) -> Result<(String, u64), Failure> {
    let host = TestHost::boot_unique("fleet-ansible", true)?;
    println!("fleet: ansible host {}", host.name());
    host.copy_in(site, SITE)?;
    let first = run_site(&host, true, false, "first run")?;
    check_service(&host)?;
    let second = run_site(&host, true, false, "second run")?;
    expect_no_change(&second, "ansible second run")?;
    let snapshot = sh_ok(&host, "snapshot", "sh snapshot.sh")?;
    Ok((snapshot, first.changed))
}

/// The snapshot's sections by title.
fn sections(snapshot: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = String::new();
    for line in snapshot.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            current = title.to_string();
            out.entry(current.clone()).or_default();
        } else {
            out.entry(current.clone())
                .or_default()
                .push(line.to_string());
        }
    }
    out
}

/// Differences between the agent's and Ansible's snapshots, line by line per section.
fn compare(agent: &str, ansible: &str) -> Vec<String> {
    let (a, b) = (sections(agent), sections(ansible));
    let mut diffs = Vec::new();
    let titles: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for title in titles {
        let set = |lines: Option<&Vec<String>>| -> BTreeSet<String> {
            lines.into_iter().flatten().cloned().collect()
        };
        let (la, lb) = (set(a.get(title)), set(b.get(title)));
        for l in la.difference(&lb) {
            diffs.push(format!("[{title}] agent only:   {l}"));
        }
        for l in lb.difference(&la) {
            diffs.push(format!("[{title}] ansible only: {l}"));
        }
    }
    diffs
}

fn report(f: &Failure, verbose: bool) {
    println!("FAIL fleet: {}", f.reason);
    if let Some(out) = &f.output {
        let text = if verbose {
            format!("--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr)
        } else {
            out.tail(30)
        };
        for line in text.lines() {
            println!("    {line}");
        }
    }
}

fn main() -> ExitCode {
    let start = Instant::now();
    let required = std::env::var("AGENT_HOST_TESTS").is_ok_and(|v| !v.is_empty() && v != "0");
    if !required {
        println!("fleet test skipped: set AGENT_HOST_TESTS=1 to boot test hosts and run it");
        return ExitCode::SUCCESS;
    }
    if let Some(why) = testhost::unavailable_reason() {
        println!("fleet test cannot run: {why} (AGENT_HOST_TESTS=1 requires it)");
        return ExitCode::FAILURE;
    }
    let verbose = std::env::var("AGENT_HOST_VERBOSE").is_ok_and(|v| v == "1");
    let with_ansible = std::env::var("AGENT_FLEET_ANSIBLE").ok().as_deref() != Some("0");
    let root = workspace_root();
    let agent = match find_agent(&root) {
        Ok(a) => a,
        Err(e) => {
            println!("fleet: {e}");
            return ExitCode::FAILURE;
        }
    };
    let site = match stage_site(&root) {
        Ok(s) => s,
        Err(e) => {
            println!("fleet: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One host at a time: both would listen on the same ports of the shared network.
    let agent_result = match agent_half(&agent, site.path()) {
        Ok(r) => r,
        Err(f) => {
            report(&f, verbose);
            return ExitCode::FAILURE;
        }
    };
    println!("ok   fleet: agent converged the sandbox, idempotent, drift found and repaired");
    if !with_ansible {
        return ExitCode::SUCCESS;
    }
    let ansible_result = match ansible_half(site.path()) {
        Ok(r) => r,
        Err(f) => {
            report(&f, verbose);
            return ExitCode::FAILURE;
        }
    };
    let diffs = compare(&agent_result.0, &ansible_result.0);
    if !diffs.is_empty() {
        println!("FAIL fleet: the agent's host and Ansible's differ:");
        for d in &diffs {
            println!("    {d}");
        }
        return ExitCode::FAILURE;
    }
    if agent_result.1 != ansible_result.1 {
        println!(
            "FAIL fleet: first converge changed={} with the agent, {} with Ansible",
            agent_result.1, ansible_result.1
        );
        return ExitCode::FAILURE;
    }
    println!(
        "ok   fleet: Ansible's host has the same state (changed={} on both first runs; {:.1} s)",
        agent_result.1,
        start.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
