//! The run's life: one run at a time (the run lock, exit 3, `--wait`), no stale lock
//! after SIGKILL, SIGTERM/SIGINT stopping between tasks with the recap printed, and
//! `--version`. Each test has its own lock file (AGENT_LOCK_FILE) so tests run in parallel.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn lock(&self) -> PathBuf {
        self.path("run/agent.lock")
    }

    fn write(&self, name: &str, text: &str) {
        let text = text.replace("DIR", &self.tmp.path().display().to_string());
        std::fs::write(self.path(name), text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agent"));
        c.args(args)
            .current_dir(self.tmp.path())
            .env("AGENT_LOCK_FILE", self.lock())
            .env_remove("ANSIBLE_ROLES_PATH")
            .env_remove("AGENT_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args).spawn().expect("start agent")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run agent")
    }

    /// A playbook that says it started, then holds the run until `release` exists.
    fn blocking_playbook(&self) {
        self.write(
            "block.yml",
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: x, dest: DIR/started}\n    - wait_for: {path: DIR/release, timeout: 60}\n",
        );
        self.write(
            "quick.yml",
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: y, dest: DIR/quick}\n",
        );
    }

    fn wait_started(&self, child: &mut Child) {
        let t0 = Instant::now();
        while !self.path("started").exists() {
            if let Some(st) = child.try_wait().unwrap() {
                let o = read_all(child);
                panic!("the first run ended early ({st}): {o}");
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_all(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut s);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

#[test]
fn second_run_exits_3_at_once_and_waits_with_wait() {
    let w = World::new();
    w.blocking_playbook();
    let mut first = w.spawn(&["apply", "block.yml"]);
    w.wait_started(&mut first);

    // Without --wait: exit 3 at once, naming the lock and the holder's PID.
    for cmd in ["apply", "check"] {
        let t0 = Instant::now();
        let o = w.run(&[cmd, "quick.yml"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(3), "{cmd}: {out}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{cmd} did not exit at once"
        );
        assert!(out.contains(&w.lock().display().to_string()), "{out}");
        assert!(out.contains(&format!("PID {}", first.id())), "{out}");
        assert!(!w.path("quick").exists());
    }
    // Inspecting does not lock.
    let o = w.run(&["apply", "quick.yml", "--syntax-check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // --wait=1 gives up after a second, still exit 3.
    let t0 = Instant::now();
    let o = w.run(&["apply", "--wait=1", "quick.yml"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(t0.elapsed() >= Duration::from_secs(1));
    assert!(text(&o).contains("after waiting 1 s"), "{}", text(&o));

    // --wait=20: proceeds once the first run is done.
    let mut waiting = w.spawn(&["apply", "--wait=20", "quick.yml"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting.try_wait().unwrap().is_none(), "did not wait");
    assert!(!w.path("quick").exists());
    std::fs::write(w.path("release"), "").unwrap();
    let o1 = first.wait_with_output().unwrap();
    assert_eq!(o1.status.code(), Some(0), "{}", text(&o1));
    let o2 = waiting.wait_with_output().unwrap();
    let out2 = text(&o2);
    assert_eq!(o2.status.code(), Some(0), "{out2}");
    assert!(out2.contains("waiting for the run lock"), "{out2}");
    assert_eq!(std::fs::read_to_string(w.path("quick")).unwrap(), "y");
}

#[test]
fn exactly_one_of_many_simultaneous_runs_proceeds() {
    let w = World::new();
    w.blocking_playbook();
    let mut runs: Vec<Child> = (0..4).map(|_| w.spawn(&["apply", "block.yml"])).collect();
    let t0 = Instant::now();
    while !w.path("started").exists() {
        assert!(t0.elapsed() < Duration::from_secs(30), "no run started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The losers exit 3 on their own; then release the winner.
    let t0 = Instant::now();
    let mut ended: Vec<Option<i32>> = vec![None; runs.len()];
    while ended.iter().filter(|e| e.is_some()).count() < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "losers did not exit"
        );
        for (i, r) in runs.iter_mut().enumerate() {
            if ended[i].is_none()
                && let Some(st) = r.try_wait().unwrap()
            {
                ended[i] = Some(st.code().unwrap_or(-1));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ended.iter().flatten().all(|c| *c == 3), "losers: {ended:?}");
    std::fs::write(w.path("release"), "").unwrap();
    let mut ok = 0;
    for (i, r) in runs.into_iter().enumerate() {
        let o = r.wait_with_output().unwrap();
        if ended[i].is_none() {
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[test]
fn sigkill_of_the_holder_leaves_no_stale_lock() {
    let w = World::new();
    w.blocking_playbook();
    let mut first = w.spawn(&["apply", "block.yml"]);
    w.wait_started(&mut first);
    assert_eq!(w.run(&["apply", "quick.yml"]).status.code(), Some(3));
    signal(&first, nix::sys::signal::Signal::SIGKILL);
    first.wait().unwrap();
    // The file is still there, with the dead PID in it; the lock is not.
    let held_by = std::fs::read_to_string(w.lock()).unwrap();
    assert_eq!(held_by.trim(), first.id().to_string());
    let o = w.run(&["apply", "quick.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(w.path("quick")).unwrap(), "y");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.lock()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

/// 20 tasks of 0.2 s; returns the playbook name.
fn long_playbook(w: &World) -> &'static str {
    let mut p = String::from(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: x, dest: DIR/started}\n",
    );
    for i in 1..=20 {
        p.push_str(&format!(
            "    - name: sleep {i}\n      command: sleep 0.2\n"
        ));
    }
    p.push_str("  handlers:\n    - name: never\n      debug: msg=x\n");
    w.write("long.yml", &p);
    "long.yml"
}

fn task_banners(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("TASK [")).collect()
}

/// Every TASK banner is followed by its result before the next banner or the recap:
/// no task was cut in the middle.
fn assert_whole_tasks(out: &str) {
    let lines: Vec<&str> = out.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("TASK [") {
            let result = lines[i + 1..]
                .iter()
                .take_while(|n| !n.starts_with("TASK [") && !n.starts_with("PLAY RECAP"))
                .any(|n| n.starts_with("changed: [") || n.starts_with("ok: ["));
            assert!(result, "task without a result: {l}\n{out}");
        }
    }
}

#[test]
fn sigterm_stops_between_tasks_prints_the_recap_and_exits_1() {
    let w = World::new();
    let pb = long_playbook(&w);
    let mut run = w.spawn(&["apply", pb]);
    w.wait_started(&mut run);
    std::thread::sleep(Duration::from_millis(700));
    let t0 = Instant::now();
    signal(&run, nix::sys::signal::Signal::SIGTERM);
    let o = run.wait_with_output().unwrap();
    let out = text(&o);
    assert!(t0.elapsed() < Duration::from_secs(5), "did not stop soon");
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("interrupted by SIGTERM: stopping before task 'sleep "),
        "{out}"
    );
    assert!(out.contains("PLAY RECAP"), "{out}");
    let n = task_banners(&out).len();
    assert!(n > 1 && n < 21, "{n} tasks ran: {out}");
    assert_whole_tasks(&out);
    // The lock is free again.
    let o = w.run(&["apply", "--syntax-check", pb]);
    assert_eq!(o.status.code(), Some(0));
    w.write(
        "quick.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks: [{debug: msg=x}]\n",
    );
    assert_eq!(w.run(&["apply", "quick.yml"]).status.code(), Some(0));
}

#[test]
fn sigterm_with_json_output_still_gives_the_document() {
    let w = World::new();
    let pb = long_playbook(&w);
    let mut run = w.spawn(&["apply", "--output", "json", pb]);
    w.wait_started(&mut run);
    std::thread::sleep(Duration::from_millis(300));
    signal(&run, nix::sys::signal::Signal::SIGTERM);
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert!(doc.get("stats").is_some(), "{doc}");
}

#[test]
fn sigint_stops_and_a_second_one_aborts_at_once() {
    let w = World::new();
    let pb = long_playbook(&w);
    // One SIGINT: like SIGTERM.
    let mut run = w.spawn(&["apply", pb]);
    w.wait_started(&mut run);
    signal(&run, nix::sys::signal::Signal::SIGINT);
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("interrupted by SIGINT"), "{}", text(&o));
    assert!(text(&o).contains("PLAY RECAP"));

    // Two: exit 130 at once, without finishing the task in progress.
    w.write(
        "slow.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: x, dest: DIR/started2}\n    - command: sleep 8\n",
    );
    let mut run = w.spawn(&["apply", "slow.yml"]);
    let t0 = Instant::now();
    while !w.path("started2").exists() {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    signal(&run, nix::sys::signal::Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    signal(&run, nix::sys::signal::Signal::SIGINT);
    let st = run.wait().unwrap();
    assert_eq!(st.code(), Some(130));
    assert!(t0.elapsed() < Duration::from_secs(4));
    let _ = read_all(&mut run);
    // The kernel released the lock.
    assert_eq!(
        w.run(&["apply", "--syntax-check", "slow.yml"])
            .status
            .code(),
        Some(0)
    );
    w.write(
        "quick.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks: [{debug: msg=x}]\n",
    );
    assert_eq!(w.run(&["check", "quick.yml"]).status.code(), Some(0));
}

#[test]
fn version_names_commit_and_target() {
    let o = Command::new(env!("CARGO_BIN_EXE_agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let s = String::from_utf8_lossy(&o.stdout);
    let line = s.trim();
    let want_prefix = format!("agent {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&want_prefix), "{line}");
    let rest = &line[want_prefix.len()..];
    let (commit, target) = rest
        .trim_end_matches(')')
        .split_once(", target ")
        .unwrap_or_else(|| panic!("{line}"));
    let sha = commit.trim_end_matches("+dirty");
    assert!(
        sha == "unknown" || (sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit())),
        "{line}"
    );
    assert!(target.contains("-linux-"), "{line}");
    assert!(!target.contains(' '), "{line}");
}
