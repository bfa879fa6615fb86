//! Faults on a test host (issue 8 "Faults", issue 9 "One run at a time"): the agent is
//! killed with SIGKILL at 100 random moments of a run that rewrites many files, creates
//! and removes a user and a group and edits a systemd unit; two runs start at once; a
//! SIGTERM arrives in the middle of a run; a write meets a full disk; the agent's own
//! files get private modes. Prints the figures recorded in docs/reliability.md.
//!
//! One host (`faults-<pid>`) runs everything. The kill loop runs inside the host
//! (tests/faults/faults.sh) so that `testhost exec` costs nothing per kill; the moments
//! come from a seeded generator here: the seed is printed, and `AGENT_FAULTS_SEED=N`
//! replays a run; `AGENT_FAULTS_KILLS` changes the number of kills (default 100).
//!
//! Runs only with AGENT_HOST_TESTS=1 (as root; tests/run-all's host step).
//! `AGENT_FAULTS_KEEP=1` leaves the host running when a check fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agent_tests::testhost::{self, Output, TestHost};

const T: Duration = Duration::from_secs(120);
const DIR: &str = "/root/faults";

/// splitmix64: small, seedable, good enough to spread kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sh(host: &TestHost, script: &str) -> Output {
    host.sh(DIR, script, T).expect("exec in host")
}

fn sh_long(host: &TestHost, script: &str, timeout: Duration) -> Output {
    host.sh(DIR, script, timeout).expect("exec in host")
}

/// `key=value` fields of one result line.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The reasons an after-kill line is not a survived kill (empty: survived).
fn kill_problems(f: &BTreeMap<String, String>) -> Vec<String> {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("?");
    let mut bad = Vec::new();
    // A kill of the whole process group can stop useradd/userdel/groupadd/groupdel half
    // way: shadow-utils updates passwd, shadow, group, gshadow, subuid and subgid one after
    // the other. That is counted apart (see sigkill_loop); a kill of the agent alone lets
    // them finish, and then the accounts must be consistent.
    if get("accounts") != "ok" && get("mode") != "group" {
        bad.push(format!("accounts={}", get("accounts")));
    }
    let want = [
        ("partial", "0"),
        ("lock", "free"),
        ("converge_rc", "0"),
        ("converge_diff", "0"),
        ("check_rc", "0"),
        ("temps_after", "0"),
    ];
    for (k, v) in want {
        if get(k) != v {
            bad.push(format!("{k}={}", get(k)));
        }
    }
    if get("report") == "PARTIAL" {
        bad.push("report=PARTIAL".into());
    }
    if get("partial") != "0" {
        bad.push(format!("partial files: {}", get("partial_lines")));
    }
    bad
}

/// pwck/grpck lines that the converged states have too (system users without a home).
fn baseline_noise(line: &str) -> bool {
    (line.contains("does_not_exist") && !line.contains("fault"))
        || line.starts_with("pwck")
        || line.starts_with("grpck")
}

/// A directory with the fault playbooks (tests/faults/) and two generated binary files.
fn prepare(tmp: &Path) -> PathBuf {
    let src = agent_tests::workspace_root().join("tests/faults");
    let dst = tmp.join("faults");
    let o = Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&dst)
        .status()
        .expect("cp");
    assert!(o.success(), "copy {}", src.display());
    let files = dst.join("files");
    std::fs::create_dir_all(&files).expect("mkdir files");
    for (name, len, seed) in [("static-a.bin", 200_000, 1), ("static-b.bin", 150_000, 2)] {
        let mut rng = Rng(seed);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        std::fs::write(files.join(name), bytes).expect("write binary");
    }
    dst
}

struct Figures {
    lines: Vec<String>,
    failures: Vec<String>,
}

impl Figures {
    fn say(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }

    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            let w = what.into();
            println!("FAILED: {w}");
            self.failures.push(w);
        }
    }
}

/// Converge both variable sets once, record their states, measure a run.
fn warm_up(host: &TestHost, fig: &mut Figures) -> f64 {
    for set in ["a", "b"] {
        let o = sh(host, &format!("./faults.sh apply {set}"));
        assert!(
            o.stdout.starts_with("0 "),
            "first apply of set {set}: {}\n{}",
            o.tail(20),
            sh(host, &format!("tail -40 logs/apply-{set}.log")).stdout
        );
        let o = sh(host, &format!("./faults.sh snapshot {set}"));
        assert!(o.success(), "snapshot: {}", o.tail(20));
    }
    let mut times = Vec::new();
    for set in ["a", "b", "a", "b"] {
        let o = sh(host, &format!("./faults.sh apply {set}"));
        let mut it = o.stdout.split_whitespace();
        assert_eq!(it.next(), Some("0"), "apply {set}: {}", o.tail(20));
        let secs: f64 = it.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
        times.push(secs);
    }
    let run = times.iter().sum::<f64>() / times.len() as f64;
    let o = sh(host, "wc -l < expect-a.txt");
    fig.say(format!(
        "a changing run (gather_facts off, 20 writes in a loop, template, lineinfile x5, \
         blockinfile, copy src, usermod, useradd/userdel, groupadd/groupdel, unit file): {:.0} ms; {} managed items (files and a passwd entry) checked after each kill",
        run * 1000.0,
        o.stdout.trim()
    ));
    run
}

fn sigkill_loop(host: &TestHost, run: f64, seed: u64, kills: usize, fig: &mut Figures) {
    let mut rng = Rng(seed);
    // AGENT_FAULTS_SCALE=0.15 puts every kill in the first 15% of a run (to look closer at
    // one stretch of it).
    let scale: f64 = std::env::var("AGENT_FAULTS_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let mut plan = String::new();
    for i in 0..kills {
        // Both targets meet both kinds of kill.
        let mode = if (i / 2) % 2 == 0 { "agent" } else { "group" };
        plan.push_str(&format!("{i} {mode} {:.4}\n", rng.fraction() * scale));
    }
    let o = host
        .exec_input(
            &["/bin/sh", "-c", &format!("cat > {DIR}/kills.txt")],
            Some(plan.as_bytes()),
            T,
        )
        .expect("write kills.txt");
    assert!(o.success(), "{}", o.tail(5));
    let t0 = Instant::now();
    let o = sh_long(
        host,
        &format!("RUN_SECONDS={run:.3} ./faults.sh loop kills.txt"),
        Duration::from_secs(900),
    );
    let elapsed = t0.elapsed();
    let lines: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("iter "))
        .collect();
    fig.check(
        lines.len() == kills,
        format!("{} of {kills} kills reported:\n{}", lines.len(), o.tail(20)),
    );
    let mut survived = 0;
    let mut partial = 0;
    let mut mid_run = 0;
    let mut left_temps = 0;
    let mut temp_names = std::collections::BTreeSet::new();
    let mut shadow_kills = 0;
    let mut accounts_bad = Vec::new();
    let mut accounts_stuck = 0;
    let mut shadow_names = std::collections::BTreeSet::new();
    let mut second_run = Vec::new();
    for l in &lines {
        let f = fields(l);
        if f.get("first_converge_rc").is_some_and(|rc| rc != "0") {
            second_run.push(format!(
                "kill {} ({}, {} s): {}",
                l.split_whitespace().nth(1).unwrap_or("?"),
                f.get("mode").map(String::as_str).unwrap_or("?"),
                f.get("delay").map(String::as_str).unwrap_or("?"),
                f.get("converge_err")
                    .map(|e| e.replace('_', " "))
                    .unwrap_or_default()
            ));
        }
        let problems = kill_problems(&f);
        if problems.is_empty() {
            survived += 1;
        } else {
            fig.check(false, format!("{l}\n  -> {}", problems.join(", ")));
        }
        partial += f
            .get("partial")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(0);
        if f.get("killed_rc").map(String::as_str) == Some("137") {
            mid_run += 1;
        }
        let what = |a: &str| {
            a.trim_start_matches("BAD:")
                .split(';')
                .filter(|l| !l.is_empty() && !baseline_noise(l))
                .collect::<Vec<_>>()
                .join("; ")
                .replace('_', " ")
        };
        if let Some(a) = f.get("accounts").filter(|a| *a != "ok") {
            let after = f.get("accounts_after").map(String::as_str).unwrap_or("?");
            if after != "ok" {
                accounts_stuck += 1;
            }
            accounts_bad.push(format!(
                "kill {}: {}; after the next run: {}",
                l.split_whitespace().nth(1).unwrap_or("?"),
                what(a),
                if after == "ok" {
                    "consistent".to_string()
                } else {
                    what(after)
                }
            ));
        }
        let shadow: Vec<&str> = f
            .get("shadow")
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|n| !n.is_empty())
            .collect();
        if !shadow.is_empty() {
            shadow_kills += 1;
        }
        for n in shadow {
            shadow_names.insert(n.to_string());
        }
        if f.get("temps").is_some_and(|t| t != "0") {
            left_temps += 1;
            for n in f
                .get("temp_files")
                .map(String::as_str)
                .unwrap_or("")
                .split(',')
            {
                if !n.is_empty() {
                    temp_names.insert(n.to_string());
                }
            }
        }
    }
    let group_kills = lines.iter().filter(|l| l.contains(" mode=group ")).count();
    fig.say(format!(
        "account files inconsistent right after a kill of the process group (a useradd, \
         userdel, groupadd or groupdel killed half way): {} of {group_kills}; still \
         inconsistent after the next run: {accounts_stuck}",
        accounts_bad.len()
    ));
    for a in &accounts_bad {
        fig.say(format!("    {a}"));
    }
    fig.say(format!(
        "the next run failed and the one after it converged: after {} of {kills} kills{}",
        second_run.len(),
        if second_run.is_empty() {
            String::new()
        } else {
            format!(":\n    {}", second_run.join("\n    "))
        }
    ));
    fig.say(format!(
        "kills survived: {survived}/{kills}, partial files: {partial} \
         (seed {seed}; {mid_run} killed mid-run, the rest had finished; {:.0} s)",
        elapsed.as_secs_f64()
    ));
    fig.say(format!(
        "temporary files left by a kill: after {left_temps} of {kills} kills ({}); \
         the next run removed them every time",
        if temp_names.is_empty() {
            "none".to_string()
        } else {
            temp_names.into_iter().collect::<Vec<_>>().join(", ")
        }
    ));
    // shadow-utils' own leftovers (a lock naming a dead PID) are taken over by the next
    // command that locks the same file: two more runs (usermod, useradd, userdel...).
    let o = sh(
        host,
        "./faults.sh apply a >/dev/null; ./faults.sh apply b >/dev/null; ./faults.sh leftovers",
    );
    let remaining = o.stdout.trim().to_string();
    fig.check(
        remaining.is_empty(),
        format!("shadow-utils leftovers not taken over: {remaining}"),
    );
    fig.say(format!(
        "leftovers of a killed useradd/userdel (shadow-utils lock files) seen after \
         {shadow_kills} of {kills} kills ({}); the stale locks were {} (shadow-utils' \
         FILE.PID files are never removed, by anyone)",
        if shadow_names.is_empty() {
            "none".to_string()
        } else {
            shadow_names.into_iter().collect::<Vec<_>>().join(", ")
        },
        if remaining.is_empty() {
            "taken over by the next useradd/usermod/userdel"
        } else {
            "NOT all taken over"
        }
    ));
    fig.check(
        partial == 0 && survived == kills,
        format!("kills survived {survived}/{kills}, partial files {partial}"),
    );
}

fn concurrent_then_kill(host: &TestHost, fig: &mut Figures) {
    let o = sh(host, "./faults.sh pair");
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("pair "))
        .unwrap_or("");
    let f = fields(line);
    let mut rcs = [
        f.get("rc1").cloned().unwrap_or_default(),
        f.get("rc2").cloned().unwrap_or_default(),
    ];
    rcs.sort();
    let problems = kill_problems(&f);
    let says_who = o.stdout.contains("another agent run holds the lock");
    let ok = rcs == ["137", "3"] && problems.is_empty() && says_who;
    fig.check(
        ok,
        format!(
            "two runs at once: exit codes {rcs:?} (want 3 and killed), {problems:?}:\n{}",
            o.tail(10)
        ),
    );
    fig.say(format!(
        "two runs at once: {} (one exited 3 naming the holder, the other was killed mid-run; \
         no partial file, the next run converged, check clean)",
        if ok { "ok" } else { "FAILED" }
    ));
}

fn sigterm(host: &TestHost, fig: &mut Figures) {
    let o = sh(
        host,
        "rm -rf /etc/faults-term; \
         setsid /usr/local/bin/agent apply sigterm.yml >logs/sigterm.log 2>&1 & pid=$!; \
         for i in $(seq 1 200); do grep -q 'TASK \\[sleep\\]' logs/sigterm.log && break; sleep 0.05; done; \
         sleep 0.3; kill -TERM $pid; wait $pid; echo rc=$?; \
         ls /etc/faults-term | tr '\\n' ' '; echo; \
         flock -n /run/agent/agent.lock true && echo lock=free; \
         cat logs/sigterm.log",
    );
    let doc = sh(host, "cat /var/lib/agent/last_run.json");
    let report: serde_json::Value =
        serde_json::from_str(&doc.stdout).unwrap_or(serde_json::Value::Null);
    let r = &report["report"];
    let ok = o.stdout.contains("rc=1\n")
        && o.stdout.contains("before.txt \n")
        && o.stdout.contains("lock=free")
        && o.stdout.contains("interrupted by SIGTERM")
        && r["interrupted"] == true
        && r["result"] == "failed";
    fig.check(
        ok,
        format!(
            "SIGTERM: {}\nreport: interrupted={} result={} error={}",
            o.tail(30),
            r["interrupted"],
            r["result"],
            r["error"]
        ),
    );
    fig.say(format!(
        "SIGTERM in the middle of a task: {} (the task finished, the next one did not start, \
         exit 1, last_run.json says interrupted, lock released)",
        if ok { "ok" } else { "FAILED" }
    ));
}

fn disk_full(host: &TestHost, fig: &mut Figures) {
    let o = sh(
        host,
        "mkdir -p /mnt/faults-full && mount -t tmpfs -o size=64k faults-full /mnt/faults-full && \
         printf 'old app\\n' > /mnt/faults-full/app.conf && printf 'old tpl\\n' > /mnt/faults-full/tpl.conf",
    );
    assert!(o.success(), "tmpfs: {}", o.tail(10));
    for (tag, file, old) in [
        ("copy", "app.conf", "old app\n"),
        ("template", "tpl.conf", "old tpl\n"),
    ] {
        let o = sh(
            host,
            &format!(
                "/usr/local/bin/agent apply diskfull.yml -t {tag}; echo rc=$?; \
                 echo ---; cat /mnt/faults-full/{file}; echo ---; ls -A /mnt/faults-full | tr '\\n' ' '"
            ),
        );
        let parts: Vec<&str> = o.stdout.split("---\n").collect();
        let doc = sh(host, "cat /var/lib/agent/last_run.json");
        let report: serde_json::Value =
            serde_json::from_str(&doc.stdout).unwrap_or(serde_json::Value::Null);
        let r = &report["report"];
        let failed_msg = r["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["status"] == "failed")
            .and_then(|t| t["msg"].as_str())
            .unwrap_or("")
            .to_string();
        let ok = parts.first().is_some_and(|p| p.contains("rc=1\n"))
            && o.stdout.contains("No space left on device")
            && parts.get(1) == Some(&old)
            && parts.get(2).map(|s| s.trim()) == Some("app.conf tpl.conf")
            && r["result"] == "failed"
            && failed_msg.contains("No space left on device");
        fig.check(
            ok,
            format!(
                "disk full ({tag}): {}\nreport: result={} msg={failed_msg:?}",
                o.tail(30),
                r["result"]
            ),
        );
        fig.say(format!(
            "disk full ({tag} of 300 KB onto a 64 KiB tmpfs): {} (exit 1, the message says \
             \"No space left on device\", the old file intact, no temporary file, \
             last_run.json has the failure){}",
            if ok { "ok" } else { "FAILED" },
            if ok {
                format!(": {failed_msg}")
            } else {
                String::new()
            }
        ));
    }
    let _ = sh(host, "umount /mnt/faults-full");
}

/// The agent's own files as root with the default paths, from nothing, under umask 000.
fn permissions(host: &TestHost, agent: &Path, tmp: &Path, fig: &mut Figures) {
    let bundle = tmp.join("site.tar.gz");
    let o = Command::new(agent)
        .arg("bundle")
        .arg(tmp.join("faults/site"))
        .arg("-o")
        .arg(&bundle)
        .output()
        .expect("agent bundle");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sha = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .expect("sha256 printed by agent bundle");
    host.copy_in(&bundle, &format!("{DIR}/site.tar.gz"))
        .expect("copy bundle");
    let o = sh(
        host,
        &format!(
            "rm -rf /var/lib/agent /run/agent /var/lib/node_exporter /etc/agent && mkdir -m 0700 /etc/agent && \
             printf 'source = \"file://{DIR}/site.tar.gz\"\\nsha256 = \"{sha}\"\\n' > /etc/agent/agent.toml && \
             chmod 0600 /etc/agent/agent.toml && \
             (umask 000; /usr/local/bin/agent apply --output prometheus >/dev/null && /usr/local/bin/agent check >/dev/null) && \
             find /var/lib/agent /run/agent /var/lib/node_exporter -printf '%y %m %u %p\\n'"
        ),
    );
    assert!(o.success(), "permissions run: {}", o.tail(30));
    let tree = format!("/var/lib/agent/bundles/{sha}/");
    let mut bad = Vec::new();
    let mut table = Vec::new();
    for l in o.stdout.lines() {
        let mut it = l.splitn(4, ' ');
        let (kind, mode, owner, path) = (
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
            it.next().unwrap_or(""),
        );
        let want = if path.starts_with(&tree) {
            None // the bundle's own modes, under a 0700 directory
        } else if path == "/run/agent" || path.starts_with("/var/lib/node_exporter") {
            Some(if kind == "d" { "755" } else { "644" })
        } else if kind == "l" {
            Some("777")
        } else if kind == "d" {
            Some("700")
        } else {
            Some("600")
        };
        if owner != "root" || want.is_some_and(|w| w != mode) {
            bad.push(l.to_string());
        }
        if !path.starts_with(&tree) || path.ends_with("/.complete") {
            table.push(format!(
                "{mode:>4} {kind} {}",
                path.replace(&sha, "<sha256>")
            ));
        }
    }
    fig.check(bad.is_empty(), format!("modes: {bad:?}\n{}", o.stdout));
    fig.say(format!(
        "permissions (root, default paths, umask 000): {}",
        if bad.is_empty() { "ok" } else { "FAILED" }
    ));
    for t in table {
        fig.say(format!("    {t}"));
    }
}

fn main() {
    if std::env::var("AGENT_HOST_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set AGENT_HOST_TESTS=1 (as root) to run the fault tests");
        return;
    }
    if let Some(why) = testhost::unavailable_reason() {
        panic!("AGENT_HOST_TESTS=1 but test hosts cannot run here: {why}");
    }
    agent_tests::set_umask();
    let t0 = Instant::now();
    let agent = agent_tests::find_agent(&agent_tests::workspace_root()).unwrap_or_else(|e| {
        panic!("{e}");
    });
    let seed = std::env::var("AGENT_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(1)
        });
    let kills: usize = std::env::var("AGENT_FAULTS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    println!(
        "fault tests: seed {seed} (AGENT_FAULTS_SEED={seed} replays it), agent {}",
        agent.display()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = prepare(tmp.path());
    let mut host = TestHost::boot(&format!("faults-{}", std::process::id()), false)
        .expect("boot the test host");
    host.install_agent(&agent).expect("install agent");
    host.copy_in(&dir, DIR).expect("copy the fault files");
    let mut fig = Figures {
        lines: Vec::new(),
        failures: Vec::new(),
    };
    let run = warm_up(&host, &mut fig);
    sigkill_loop(&host, run, seed, kills, &mut fig);
    concurrent_then_kill(&host, &mut fig);
    sigterm(&host, &mut fig);
    disk_full(&host, &mut fig);
    permissions(&host, &agent, tmp.path(), &mut fig);
    if !fig.failures.is_empty() && std::env::var_os("AGENT_FAULTS_KEEP").is_some() {
        println!(
            "AGENT_FAULTS_KEEP: host {} left running (logs in {DIR}/logs); stop it with \
             tests/testhost/testhost stop {}",
            host.name(),
            host.name()
        );
        std::mem::forget(host);
    } else {
        let _ = host.stop();
    }
    println!("fault tests done in {:.0} s", t0.elapsed().as_secs_f64());
    if !fig.failures.is_empty() {
        // Again at the end, where a truncated CI log still shows them.
        for f in &fig.failures {
            let short: String = f.chars().take(1500).collect();
            eprintln!("FAILED: {short}");
        }
        eprintln!("{} fault check(s) failed", fig.failures.len());
        std::process::exit(1);
    }
}
