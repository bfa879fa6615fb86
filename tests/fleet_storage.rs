//! The reference fleet's storage role on booted test hosts (issue 6).
//!
//! Two hosts boot side by side: `storagerole-a` is converged by the agent, `storagerole-b`
//! (the image with Ansible 11) by real `ansible-playbook -c local`, each with its own loop
//! device standing in for the EBS data volume. Both apply `tests/fleet/storage-play.yml`
//! (the `storage` role) with the dev inventory, limited to `dev-storage1`.
//!
//! On each host: the first run changes things and fails nothing, a second run and a check
//! change nothing, `tests/fleet/storage-verify.sh` clones, pushes and re-clones over Git
//! HTTP, checks out and commits over Subversion/WebDAV, checks the UUID mount and fstab
//! line and runs the backup. The state (`tests/fleet/storage-state.sh`: fstab line shape,
//! mount options, sha256 of the apache2 files, enabled modules and sites, units, packages,
//! crontab, owners and modes on the volume) must be the same on both hosts. On the agent's
//! host, drift (volume unmounted, apache2 stopped, ports.conf edited) is reported by
//! `agent check` and repaired by `agent apply`.
//!
//! Environment: `AGENT_HOST_TESTS=1` runs it (else skipped); `AGENT_BIN` picks the agent
//! binary (default `target/release/agent`, then `target/debug/agent`);
//! `AGENT_FLEET_ANSIBLE=0` skips the Ansible host; `AGENT_FLEET_KEEP=1` leaves a host
//! that failed running (stop it with `tests/testhost/testhost stop NAME`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use agent_tests::testhost::{self, Output, TestHost};
use agent_tests::{find_agent, workspace_root};
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(900);
const SHORT: Duration = Duration::from_secs(120);
const LOOP_SIZE: &str = "512M";
const FLEET: &str = "/root/fleet";
/// The dev environment's storage host (alone on its machine).
const LIMIT: &str = "dev-storage1";
/// Test hosts share the build machine's network, so each host gets its own port
/// (`-e storage_port=...`) instead of the dev environment's 80.
const AGENT_PORT: u16 = 18080;
const ANSIBLE_PORT: u16 = 18081;

/// Quote for `sh`.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn with_output(msg: String, out: &Output) -> String {
    format!("{msg}\n{}", out.tail(40))
}

/// One storage host: agent or Ansible, with its data volume.
struct Storage {
    host: TestHost,
    ansible: bool,
    device: String,
    port: u16,
}

/// Recap sums and the names of the tasks that changed, from the JSON output.
#[derive(Debug, Default)]
struct Run {
    changed: u64,
    failed: u64,
    changed_tasks: Vec<String>,
}

fn parse_run(out: &Output) -> Result<Run, String> {
    let text = out.stdout.trim();
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
    let mut changed_tasks = Vec::new();
    for play in doc
        .get("plays")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for task in play
            .get("tasks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = task
                .pointer("/task/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let changed = task
                .get("hosts")
                .and_then(Value::as_object)
                .is_some_and(|h| {
                    h.values()
                        .any(|r| r.get("changed").and_then(Value::as_bool) == Some(true))
                });
            if changed {
                changed_tasks.push(name);
            }
        }
    }
    Ok(Run {
        changed: sum(&["changed"]),
        failed: sum(&["failures", "unreachable"]),
        changed_tasks,
    })
}

impl Storage {
    fn label(&self) -> &'static str {
        if self.ansible { "ansible" } else { "agent" }
    }

    fn boot(name: &str, ansible: bool, root: &Path, agent: &Path) -> Result<Storage, String> {
        let host = TestHost::boot(name, ansible).map_err(|e| format!("boot {name}: {e}"))?;
        let device = host
            .loop_device(LOOP_SIZE)
            .map_err(|e| format!("{name}: loop device: {e}"))?;
        let s = Storage {
            host,
            ansible,
            device,
            port: if ansible { ANSIBLE_PORT } else { AGENT_PORT },
        };
        for (src, dst) in [
            ("roles", "roles"),
            ("inventories", "inventories"),
            ("tests/fleet/storage-play.yml", "storage-play.yml"),
            ("tests/fleet/storage-verify.sh", "storage-verify.sh"),
            ("tests/fleet/storage-state.sh", "storage-state.sh"),
        ] {
            s.host
                .copy_in(&root.join(src), &format!("{FLEET}/{dst}"))
                .map_err(|e| format!("{name}: copy {src}: {e}"))?;
        }
        // Until the fleet's inventories land, a minimal dev inventory with its storage host.
        if !root.join("inventories/dev/hosts.yml").exists() {
            let out = s
                .host
                .exec_input(
                    &[
                        "/bin/sh",
                        "-c",
                        "cat >\"$0\"",
                        &format!("{FLEET}/inventories/dev/hosts.yml"),
                    ],
                    Some(
                        format!(
                            "all:\n  children:\n    storage:\n      hosts:\n        {LIMIT}:\n"
                        )
                        .as_bytes(),
                    ),
                    SHORT,
                )
                .map_err(|e| format!("{name}: write hosts.yml: {e}"))?;
            if !out.success() {
                return Err(with_output(format!("{name}: write hosts.yml"), &out));
            }
        }
        if !ansible {
            s.host
                .install_agent(agent)
                .map_err(|e| format!("{name}: install agent: {e}"))?;
        }
        Ok(s)
    }

    /// apache2's unit state and logs, the mounts: printed when a run fails.
    fn diagnostics(&self) -> String {
        let script = "systemctl status apache2 --no-pager 2>&1 | tail -n 15; \
                      journalctl -u apache2 -n 20 --no-pager 2>&1; \
                      tail -n 10 /var/log/apache2/error.log 2>&1; \
                      ss -ltnp 2>&1 | head -n 20; findmnt /srv/data";
        match self.sh(script, SHORT) {
            Ok(out) => format!("{}{}", out.stdout, out.stderr),
            Err(e) => e,
        }
    }

    fn sh(&self, script: &str, timeout: Duration) -> Result<Output, String> {
        self.host
            .sh(FLEET, script, timeout)
            .map_err(|e| format!("{}: {e}", self.label()))
    }

    /// Converge (`check` false) or check the storage play.
    fn run(&self, step: &str, check: bool) -> Result<(Run, Output), String> {
        let common = format!(
            "-i inventories/dev --limit {LIMIT} -e storage_device={} -e storage_port={}",
            q(&self.device),
            self.port
        );
        let cmd = if self.ansible {
            format!(
                "ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ANSIBLE_NOCOLOR=1 \
                 ANSIBLE_PYTHON_INTERPRETER=auto_silent \
                 /opt/ans/bin/ansible-playbook -c local {common} storage-play.yml{}",
                if check { " --check --diff" } else { "" }
            )
        } else {
            format!(
                "agent {} storage-play.yml {common} --output json",
                if check { "check" } else { "apply" }
            )
        };
        let started = Instant::now();
        let out = self.sh(&cmd, RUN_TIMEOUT)?;
        let run = parse_run(&out).map_err(|e| {
            with_output(
                format!("{} {step}: {e} (exit {})", self.label(), out.status),
                &out,
            )
        })?;
        eprintln!(
            "{} {step}: changed={} failed={} ({:.1} s)",
            self.label(),
            run.changed,
            run.failed,
            started.elapsed().as_secs_f64()
        );
        if run.failed > 0 {
            return Err(format!(
                "{}\n--- diagnostics\n{}",
                with_output(
                    format!("{} {step}: failed={}", self.label(), run.failed),
                    &out,
                ),
                self.diagnostics()
            ));
        }
        Ok((run, out))
    }

    /// A run that must (or must not) change something; the agent's exit code checked too.
    fn expect(&self, step: &str, check: bool, changes: bool) -> Result<Run, String> {
        let (run, out) = self.run(step, check)?;
        if (run.changed > 0) != changes {
            return Err(with_output(
                format!(
                    "{} {step}: changed={} ({:?}), want {}",
                    self.label(),
                    run.changed,
                    run.changed_tasks,
                    if changes { "changed>0" } else { "changed=0" }
                ),
                &out,
            ));
        }
        if !self.ansible {
            let want = if check && changes { 2 } else { 0 };
            if out.status != want {
                return Err(with_output(
                    format!("agent {step}: exit {}, want {want}", out.status),
                    &out,
                ));
            }
        }
        Ok(run)
    }

    fn script(&self, what: &str, script: &str) -> Result<String, String> {
        let out = self.sh(script, SHORT)?;
        if !out.success() {
            return Err(with_output(
                format!("{} {what}: exit {}", self.label(), out.status),
                &out,
            ));
        }
        Ok(out.stdout)
    }

    /// Converge (the first apply while holding `first`), re-converge, check; take the
    /// state; use the services. Returns the state and the tasks the first apply changed.
    fn converge_and_use(&self, first: &Mutex<()>) -> Result<(String, Vec<String>), String> {
        let first_run = {
            // One first apply at a time: apache2 starts on port 80 when it is installed,
            // and the hosts share the network, so side by side one of them would find
            // port 80 taken and report one more change than the other.
            let _one = first.lock().unwrap_or_else(|e| e.into_inner());
            self.expect("first apply", false, true)?
        };
        self.expect("second apply", false, false)?;
        self.expect("check after apply", true, false)?;
        let state = self.script("state", &format!("sh ./storage-state.sh {}", self.port))?;
        let used = self.script(
            "git/svn/volume/backup",
            &format!("sh ./storage-verify.sh {}", self.port),
        )?;
        eprint!("{}: {used}", self.label());
        Ok((state, first_run.changed_tasks))
    }
}

/// Keep the host running after a failure (AGENT_FLEET_KEEP=1), for a look inside.
fn keep_on_failure<T>(s: Storage, result: Result<T, String>) -> Result<T, String> {
    if result.is_err() && std::env::var("AGENT_FLEET_KEEP").as_deref() == Ok("1") {
        eprintln!("keeping host {} (AGENT_FLEET_KEEP=1)", s.host.name());
        std::mem::forget(s);
    }
    result
}

/// Drift on the agent's host: reported by check, repaired by apply.
fn drift(s: &Storage) -> Result<(), String> {
    s.script(
        "inject drift",
        "umount /srv/data && systemctl stop apache2 && \
         sed -i 's/^Listen .*/Listen 8099/' /etc/apache2/ports.conf",
    )?;
    let run = s.expect("check after drift", true, true)?;
    for want in [
        "the data volume is mounted by UUID and in fstab",
        "apache2 is enabled and running",
        "apache2 listens on the storage port",
    ] {
        if !run.changed_tasks.iter().any(|t| t.ends_with(want)) {
            return Err(format!(
                "check after drift does not report {want:?}; changed tasks: {:?}",
                run.changed_tasks
            ));
        }
    }
    // Check changed nothing.
    s.script(
        "state after check",
        "! findmnt /srv/data >/dev/null && ! systemctl is-active -q apache2 && \
         grep -qx 'Listen 8099' /etc/apache2/ports.conf",
    )?;
    s.expect("apply after drift", false, true)?;
    s.script(
        "state after repair",
        &format!(
            "findmnt /srv/data >/dev/null && systemctl is-active -q apache2 && \
             grep -qx 'Listen {}' /etc/apache2/ports.conf",
            s.port
        ),
    )?;
    s.expect("apply after repair", false, false)?;
    s.expect("check after repair", true, false)?;
    // The repositories written before the drift are back, served again.
    s.script(
        "git/svn after repair",
        &format!("sh ./storage-verify.sh {}", s.port),
    )?;
    Ok(())
}

fn compare(agent: &str, ansible: &str) -> Result<(), String> {
    if agent == ansible {
        return Ok(());
    }
    let a: Vec<&str> = agent.lines().collect();
    let b: Vec<&str> = ansible.lines().collect();
    let only_agent: Vec<&&str> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_ansible: Vec<&&str> = b.iter().filter(|l| !a.contains(l)).collect();
    Err(format!(
        "state differs between the agent's host and Ansible's\n\
         only on the agent's host:\n  {}\nonly on Ansible's host:\n  {}",
        only_agent
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n  "),
        only_ansible
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

fn run_all() -> Result<(), String> {
    let root = workspace_root();
    let agent = find_agent(&root)?;
    let with_ansible = std::env::var("AGENT_FLEET_ANSIBLE").as_deref() != Ok("0");
    // The images first (one at a time), then both hosts side by side.
    testhost::image(false).map_err(|e| format!("image: {e}"))?;
    if with_ansible {
        testhost::image(true).map_err(|e| format!("ansible image: {e}"))?;
    }
    let first = Mutex::new(());
    let (a, b) = std::thread::scope(|scope| {
        let ansible_side = with_ansible.then(|| {
            scope.spawn(|| -> Result<(String, Vec<String>), String> {
                let s = Storage::boot("storagerole-b", true, &root, &agent)?;
                let r = s.converge_and_use(&first);
                keep_on_failure(s, r)
            })
        });
        let agent_side = (|| -> Result<(String, Vec<String>), String> {
            let s = Storage::boot("storagerole-a", false, &root, &agent)?;
            let r = s
                .converge_and_use(&first)
                .and_then(|r| drift(&s).map(|()| r));
            keep_on_failure(s, r)
        })();
        let ansible_side = ansible_side.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("the Ansible side panicked".into()))
        });
        (agent_side, ansible_side)
    });
    let (agent_state, agent_changed) = a?;
    if let Some(b) = b {
        let (ansible_state, ansible_changed) = b?;
        if agent_changed != ansible_changed {
            return Err(format!(
                "the first apply changed other tasks\nagent:   {agent_changed:?}\nansible: {ansible_changed:?}"
            ));
        }
        eprintln!(
            "first apply: the same {} tasks changed under the agent and Ansible",
            agent_changed.len()
        );
        compare(&agent_state, &ansible_state)?;
        eprintln!("state: the agent's host and Ansible's are the same");
    }
    Ok(())
}

fn main() -> ExitCode {
    if std::env::var("AGENT_HOST_TESTS").as_deref() != Ok("1") {
        println!("fleet_storage: skipped (set AGENT_HOST_TESTS=1 to boot test hosts)");
        return ExitCode::SUCCESS;
    }
    if let Some(why) = testhost::unavailable_reason() {
        eprintln!("fleet_storage: cannot boot test hosts: {why}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    match run_all() {
        Ok(()) => {
            println!(
                "fleet_storage: ok ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fleet_storage: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
