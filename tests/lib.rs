//! Test support: the differential harness shared by `differential.rs`, and test hosts
//! ([`testhost`]) for the host suite (`host.rs`).
//!
//! A case under `tests/differential/cases/NN-name/` is run three ways (first run, second
//! run in the same directory, and `--check --diff` on a fresh empty directory), either with
//! the agent binary or with real ansible-playbook. After each run the recap counts, the exit
//! code and a record of the tree under `out` are taken. The tree record here must stay
//! identical to the one made by `differential/record.py`.

pub mod facts_compare;
pub mod fuzzing;
pub mod moto;
pub mod testhost;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File contents up to this many bytes (when UTF-8) are stored inline, else sha256 + size.
pub const INLINE_MAX: usize = 4096;
/// The three runs of every case, in order.
pub const RUNS: [&str; 3] = ["first", "second", "check"];
/// How long one run may take before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: invalid expected.json: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HarnessError + '_ {
    move |source| HarnessError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The counts of one `PLAY RECAP` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: u64,
    pub changed: u64,
    pub unreachable: u64,
    pub failed: u64,
    pub skipped: u64,
    pub rescued: u64,
    pub ignored: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok={} changed={} unreachable={} failed={} skipped={} rescued={} ignored={}",
            self.ok,
            self.changed,
            self.unreachable,
            self.failed,
            self.skipped,
            self.rescued,
            self.ignored
        )
    }
}

/// Recap counts per host.
pub type Recap = BTreeMap<String, Counts>;

/// Parse the `PLAY RECAP` section of ansible-playbook's default output (or the agent's).
pub fn parse_recap(output: &str) -> Recap {
    let mut recap = Recap::new();
    let mut in_recap = false;
    for line in output.lines() {
        if line.starts_with("PLAY RECAP") {
            in_recap = true;
            continue;
        }
        if in_recap && let Some((host, counts)) = parse_recap_line(line) {
            recap.insert(host, counts);
        }
    }
    recap
}

fn parse_recap_line(line: &str) -> Option<(String, Counts)> {
    let (host, rest) = line.split_once(':')?;
    let host = host.trim();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let mut fields = rest.split_whitespace();
    let mut counts = Counts::default();
    let slots: [(&str, &mut u64); 7] = [
        ("ok", &mut counts.ok),
        ("changed", &mut counts.changed),
        ("unreachable", &mut counts.unreachable),
        ("failed", &mut counts.failed),
        ("skipped", &mut counts.skipped),
        ("rescued", &mut counts.rescued),
        ("ignored", &mut counts.ignored),
    ];
    for (name, slot) in slots {
        let (key, value) = fields.next()?.split_once('=')?;
        if key != name {
            return None;
        }
        *slot = value.parse().ok()?;
    }
    Some((host.to_string(), counts))
}

/// One path under `out` after a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub owner: String,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Entry {
    fn sort_key(&self) -> (&str, &str) {
        let second = self
            .content
            .as_deref()
            .or(self.sha256.as_deref())
            .unwrap_or("");
        (&self.path, second)
    }

    /// A short description of what differs between two entries for the same path.
    fn describe_difference(&self, other: &Entry) -> String {
        let mut parts = Vec::new();
        if self.kind != other.kind {
            parts.push(format!("type {} vs {}", self.kind, other.kind));
        }
        if self.mode != other.mode {
            parts.push(format!(
                "mode {} vs {}",
                self.mode.as_deref().unwrap_or("-"),
                other.mode.as_deref().unwrap_or("-")
            ));
        }
        if self.target != other.target {
            parts.push(format!(
                "target {:?} vs {:?}",
                self.target.as_deref().unwrap_or("-"),
                other.target.as_deref().unwrap_or("-")
            ));
        }
        if self.owner != other.owner || self.group != other.group {
            parts.push(format!(
                "owner {}:{} vs {}:{}",
                self.owner, self.group, other.owner, other.group
            ));
        }
        if self.content != other.content || self.sha256 != other.sha256 {
            match (&self.content, &other.content) {
                (Some(a), Some(b)) => parts.push(format!("content {}", first_difference(a, b))),
                _ => parts.push("content differs".to_string()),
            }
        }
        parts.join(", ")
    }
}

/// Where two texts first differ, as `line N: "expected" vs "got"`.
pub fn first_difference(expected: &str, got: &str) -> String {
    let mut exp_lines = expected.split_inclusive('\n');
    let mut got_lines = got.split_inclusive('\n');
    let mut n = 1;
    loop {
        match (exp_lines.next(), got_lines.next()) {
            (None, None) => return "identical".to_string(),
            (a, b) if a == b => n += 1,
            (a, b) => {
                return format!(
                    "line {n}: {:?} vs {:?}",
                    shorten(a.unwrap_or("<end>"), 80),
                    shorten(b.unwrap_or("<end>"), 80)
                );
            }
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return data.to_vec();
    }
    let mut outv = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            outv.extend_from_slice(to);
            i += from.len();
        } else {
            outv.push(data[i]);
            i += 1;
        }
    }
    outv
}

/// Replace the scratch `out` path by `@OUT@` and the case directory by `@CASE@`.
pub fn normalise(data: &[u8], out: &Path, case_dir: &Path) -> Vec<u8> {
    let data = replace_bytes(data, out.as_os_str().as_encoded_bytes(), b"@OUT@");
    replace_bytes(&data, case_dir.as_os_str().as_encoded_bytes(), b"@CASE@")
}

fn backup_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"\.\d+\.\d{4}-\d{2}-\d{2}@\d{2}:\d{2}:\d{2}~$")
            .unwrap_or_else(|e| panic!("backup regex: {e}"))
    })
}

/// Backup files are named `NAME.PID.YYYY-MM-DD@HH:MM:SS~`: make the name stable.
pub fn normalise_backup_name(rel: &str) -> String {
    backup_regex().replace(rel, ".@BACKUP@~").into_owned()
}

fn owner_name(id: u32, mine: u32) -> String {
    if id == mine {
        "@me".to_string()
    } else {
        id.to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Record the tree under `out` (not `out` itself), sorted.
pub fn tree(out: &Path, case_dir: &Path) -> Result<Vec<Entry>, HarnessError> {
    let mut entries = Vec::new();
    walk(out, out, case_dir, &mut entries)?;
    entries.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok(entries)
}

fn walk(
    dir: &Path,
    out: &Path,
    case_dir: &Path,
    entries: &mut Vec<Entry>,
) -> Result<(), HarnessError> {
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let full = item.path();
        let meta = fs::symlink_metadata(&full).map_err(io_err(&full))?;
        let rel = full
            .strip_prefix(out)
            .map_err(|e| HarnessError::Other(format!("{}: {e}", full.display())))?;
        let rel = normalise_backup_name(&rel.to_string_lossy());
        let ft = meta.file_type();
        let mut entry = Entry {
            path: rel,
            kind: String::new(),
            target: None,
            mode: None,
            owner: owner_name(meta.uid(), euid),
            group: owner_name(meta.gid(), egid),
            content: None,
            sha256: None,
            size: None,
        };
        if ft.is_symlink() {
            entry.kind = "link".to_string();
            let target = fs::read_link(&full).map_err(io_err(&full))?;
            let target = normalise(target.as_os_str().as_encoded_bytes(), out, case_dir);
            entry.target = Some(String::from_utf8_lossy(&target).into_owned());
        } else {
            entry.kind = if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else {
                "other"
            }
            .to_string();
            entry.mode = Some(format!("{:04o}", meta.mode() & 0o7777));
        }
        if ft.is_file() {
            let data = fs::read(&full).map_err(io_err(&full))?;
            let data = normalise(&data, out, case_dir);
            let text = if data.len() <= INLINE_MAX {
                String::from_utf8(data.clone()).ok()
            } else {
                None
            };
            match text {
                Some(text) => entry.content = Some(text),
                None => {
                    entry.sha256 = Some(hex(&Sha256::digest(&data)));
                    entry.size = Some(data.len() as u64);
                }
            }
        }
        entries.push(entry);
        if ft.is_dir() {
            walk(&full, out, case_dir, entries)?;
        }
    }
    Ok(())
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub rc: i32,
    pub recap: Recap,
    pub tree: Vec<Entry>,
}

/// A case's `expected.json`, recorded with real Ansible.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expected {
    pub ansible_version: String,
    pub runs: BTreeMap<String, RunRecord>,
}

impl Expected {
    pub fn load(path: &Path) -> Result<Expected, HarnessError> {
        let text = fs::read_to_string(path).map_err(io_err(path))?;
        serde_json::from_str(&text).map_err(|source| HarnessError::Json {
            path: path.display().to_string(),
            source,
        })
    }
}

/// A case directory.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    /// Extra command-line arguments from the `args` file (one per line).
    pub args: Vec<String>,
    pub has_inventory: bool,
}

impl Case {
    pub fn load(dir: &Path) -> Result<Case, HarnessError> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let args_path = dir.join("args");
        let args = if args_path.exists() {
            parse_args_file(&fs::read_to_string(&args_path).map_err(io_err(&args_path))?)
        } else {
            Vec::new()
        };
        Ok(Case {
            name,
            dir: dir.to_path_buf(),
            args,
            has_inventory: dir.join("inventory").exists(),
        })
    }

    pub fn expected_path(&self) -> PathBuf {
        self.dir.join("expected.json")
    }
}

/// `args` files hold one argument per line; blank lines and `#` lines are ignored.
pub fn parse_args_file(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The cases under `root` (directories holding a `play.yml`), sorted by name, whose name
/// contains one of the comma-separated `filter` words (all when `None`).
pub fn load_cases(root: &Path, filter: Option<&str>) -> Result<Vec<Case>, HarnessError> {
    let mut dirs = Vec::new();
    for item in fs::read_dir(root).map_err(io_err(root))? {
        let item = item.map_err(io_err(root))?;
        let path = item.path();
        if path.join("play.yml").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    let words: Vec<&str> = filter
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut cases = Vec::new();
    for dir in dirs {
        let case = Case::load(&dir)?;
        if words.is_empty() || words.iter().any(|w| case.name.contains(w)) {
            cases.push(case);
        }
    }
    Ok(cases)
}

/// What runs the playbooks.
#[derive(Debug, Clone)]
pub enum Runner {
    /// `agent apply PLAYBOOK ...`
    Agent(PathBuf),
    /// Real `ansible-playbook` from a venv.
    Ansible { venv: PathBuf },
}

impl Runner {
    fn command(&self, case: &Case, out: &Path, check: bool, scratch: &Path) -> Command {
        let mut cmd;
        match self {
            Runner::Agent(bin) => {
                cmd = Command::new(bin);
                // The check run is `agent check` (check + diff, exit 2 on drift).
                cmd.arg(if check { "check" } else { "apply" })
                    .arg("play.yml")
                    // Cases run in parallel: each has its own run lock.
                    .env("AGENT_LOCK_FILE", scratch.join("agent.lock"));
                for (key, _) in std::env::vars_os() {
                    if key.to_string_lossy().starts_with("ANSIBLE_") {
                        cmd.env_remove(key);
                    }
                }
            }
            Runner::Ansible { venv } => {
                cmd = Command::new(venv.join("bin").join("ansible-playbook"));
                cmd.arg("play.yml");
                let home = scratch.join("ansible-home");
                let tmp = home.join("tmp");
                cmd.env("ANSIBLE_CONFIG", scratch.join("ansible.cfg"))
                    .env("ANSIBLE_INVENTORY", scratch.join("empty-inventory"))
                    .env("ANSIBLE_ROLES_PATH", scratch.join("no-roles"))
                    .env("ANSIBLE_HOME", &home)
                    .env("ANSIBLE_LOCAL_TEMP", &tmp)
                    .env("ANSIBLE_REMOTE_TEMP", &tmp)
                    .env(
                        "ANSIBLE_PYTHON_INTERPRETER",
                        venv.join("bin").join("python"),
                    )
                    .env("ANSIBLE_NOCOLOR", "1")
                    .env("ANSIBLE_FORCE_COLOR", "0")
                    .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
                    .env("ANSIBLE_LOCALHOST_WARNING", "0")
                    .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "0")
                    .env("ANSIBLE_DEPRECATION_WARNINGS", "0")
                    .env("ANSIBLE_STDOUT_CALLBACK", "default");
            }
        }
        cmd.env("LANG", "C.UTF-8").env("LC_ALL", "C.UTF-8");
        if case.has_inventory {
            cmd.arg("-i").arg("inventory");
        }
        cmd.args(&case.args);
        let mut extra = std::ffi::OsString::from("out=");
        extra.push(out.as_os_str());
        cmd.arg("-e").arg(extra);
        if check {
            match self {
                Runner::Agent(_) => &mut cmd,
                Runner::Ansible { .. } => cmd.arg("--check").arg("--diff"),
            };
        }
        cmd.current_dir(&case.dir).stdin(Stdio::null());
        cmd
    }
}

fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The three runs of a case: run name, record, and the run's combined output.
pub type CaseRuns = Vec<(String, RunRecord, String)>;

/// Run a case three ways in a fresh scratch directory; logs go to `logs/NAME/RUN.log`.
pub fn run_case(case: &Case, runner: &Runner, logs: &Path) -> Result<CaseRuns, HarnessError> {
    let scratch = tempfile::Builder::new()
        .prefix("agent-diff-")
        .tempdir()
        .map_err(io_err(Path::new("temporary directory")))?;
    let scratch = scratch.path();
    for file in ["ansible.cfg", "empty-inventory"] {
        let p = scratch.join(file);
        File::create(&p).map_err(io_err(&p))?;
    }
    let no_roles = scratch.join("no-roles");
    fs::create_dir_all(&no_roles).map_err(io_err(&no_roles))?;
    let log_dir = logs.join(&case.name);
    fs::create_dir_all(&log_dir).map_err(io_err(&log_dir))?;
    let mut results = Vec::new();
    for run in RUNS {
        let check = run == "check";
        let out = scratch
            .join(if check { "check" } else { "run" })
            .join("out");
        fs::create_dir_all(&out).map_err(io_err(&out))?;
        let log_path = log_dir.join(format!("{run}.log"));
        let mut cmd = runner.command(case, &out, check, scratch);
        let mut log = File::create(&log_path).map_err(io_err(&log_path))?;
        writeln!(log, "$ {}", command_line(&cmd)).map_err(io_err(&log_path))?;
        let log2 = log.try_clone().map_err(io_err(&log_path))?;
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(log2));
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .spawn()
            .map_err(|e| HarnessError::Other(format!("cannot run {program}: {e}")))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait().map_err(io_err(Path::new(&program)))? {
                Some(status) => break status,
                None if started.elapsed() > RUN_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(HarnessError::Other(format!(
                        "{run} run timed out after {}s",
                        RUN_TIMEOUT.as_secs()
                    )));
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let rc = status.code().unwrap_or(-1);
        let output = fs::read(&log_path).map_err(io_err(&log_path))?;
        let output = String::from_utf8_lossy(&output).into_owned();
        let record = RunRecord {
            rc,
            recap: parse_recap(&output),
            tree: tree(&out, &case.dir)?,
        };
        results.push((run.to_string(), record, output));
    }
    Ok(results)
}

/// How exit codes are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcMode {
    /// Exactly (real Ansible against its own recording).
    Exact,
    /// The agent's codes, see [`agent_exit_code`].
    Agent,
}

/// The exit code the agent must give where Ansible gave `expected`: 1 for any failure,
/// 2 for a check run (`apply -C`) that found changes (drift), else 0.
pub fn agent_exit_code(expected: &RunRecord, check: bool) -> i32 {
    if expected.rc != 0 {
        1
    } else if check && expected.recap.values().any(|c| c.changed > 0) {
        2
    } else {
        0
    }
}

/// What differs between an expected and an actual run (empty when they match). The run
/// named `check` is the `--check --diff` run.
pub fn compare_run(
    run: &str,
    expected: &RunRecord,
    actual: &RunRecord,
    mode: RcMode,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let want_rc = match mode {
        RcMode::Exact => expected.rc,
        RcMode::Agent => agent_exit_code(expected, run == "check"),
    };
    if actual.rc != want_rc {
        diffs.push(format!(
            "{run}: exit code {want_rc} expected, got {}",
            actual.rc
        ));
    }
    for (host, want) in &expected.recap {
        match actual.recap.get(host) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("{run}: recap {host}: expected {want}, got {got}")),
            None => diffs.push(format!("{run}: recap {host}: missing")),
        }
    }
    for host in actual.recap.keys() {
        if !expected.recap.contains_key(host) {
            diffs.push(format!("{run}: recap {host}: unexpected host"));
        }
    }
    diffs.extend(compare_trees(run, &expected.tree, &actual.tree));
    diffs
}

fn compare_trees(run: &str, expected: &[Entry], actual: &[Entry]) -> Vec<String> {
    let mut diffs = Vec::new();
    let group = |entries: &[Entry]| {
        let mut map: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        for e in entries {
            map.entry(e.path.clone()).or_default().push(e.clone());
        }
        map
    };
    let want = group(expected);
    let got = group(actual);
    for (path, w) in &want {
        match got.get(path) {
            None => diffs.push(format!("{run}: {path}: missing")),
            Some(g) if g == w => {}
            Some(g) if g.len() != w.len() => diffs.push(format!(
                "{run}: {path}: {} entries expected, got {}",
                w.len(),
                g.len()
            )),
            Some(g) => {
                for (a, b) in w.iter().zip(g) {
                    if a != b {
                        diffs.push(format!("{run}: {path}: {}", a.describe_difference(b)));
                    }
                }
            }
        }
    }
    for path in got.keys() {
        if !want.contains_key(path) {
            diffs.push(format!("{run}: {path}: unexpected"));
        }
    }
    diffs
}

/// Set the umask used for every run (files' modes depend on it).
pub fn set_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
}

/// Ansible's and the agent's printed output, made comparable: the command line and `rc=`
/// lines of the logs dropped, scratch and case paths, temporary paths and command
/// timings and async job ids replaced, and warning blocks (stderr, interleaved differently) removed.
pub fn normalise_output(text: &str) -> String {
    let out_re =
        regex::Regex::new(r"/tmp/agent-diff-[A-Za-z0-9_]+/(run|check)/out").expect("regex");
    let case_re = regex::Regex::new(r"[^\s\x22']*/tests/differential/cases/").expect("regex");
    let tmp_re = regex::Regex::new(r"(/tmp/|/root/\.ansible/tmp/)[^\s\x22']*").expect("regex");
    let time_re = regex::Regex::new(r#""(delta|end|start)": "[^"]*""#).expect("regex");
    // async jobs: their ids (`j<random>.<pid>`) and the wrapper's pid
    let jid_re = regex::Regex::new(r"\bj[0-9]+\.[0-9]+\b").expect("regex");
    let pid_re = regex::Regex::new(r#""child_pid": [0-9]+"#).expect("regex");
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = Vec::new();
    let mut i = 0;
    let starts_output = |l: &str| {
        [
            "TASK",
            "PLAY",
            "ok:",
            "changed:",
            "skipping:",
            "fatal:",
            "failed:",
            "included:",
            "RUNNING",
            "...",
            "[",
            "localhost",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    };
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("$ ")
            || (l.starts_with("rc=") && l[3..].chars().all(|c| c.is_ascii_digit()))
        {
            i += 1;
            continue;
        }
        if l.starts_with("[WARNING]") || l.starts_with("[DEPRECATION WARNING]") {
            i += 1;
            if lines.get(i).is_some_and(|n| n.starts_with("Origin:")) {
                while i < lines.len() && !lines[i].trim_start().starts_with('^') {
                    i += 1;
                }
                i += 1;
                if lines.get(i).is_some_and(|n| n.is_empty()) {
                    i += 1;
                }
                if lines
                    .get(i)
                    .is_some_and(|n| !n.is_empty() && !starts_output(n))
                {
                    i += 1;
                    if lines.get(i).is_some_and(|n| n.is_empty()) {
                        i += 1;
                    }
                }
            }
            continue;
        }
        let l = out_re.replace_all(l, "@OUT@");
        let l = case_re.replace_all(&l, "@CASES@/");
        let l = tmp_re.replace_all(&l, "@TMP@");
        let l = time_re.replace_all(&l, "\"$1\": \"@TIME@\"");
        let l = jid_re.replace_all(&l, "@JID@");
        let l = pid_re.replace_all(&l, "\"child_pid\": @PID@");
        kept.push(l.into_owned());
        i += 1;
    }
    kept.join("\n").trim().to_string()
}

/// The repository root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The agent binary the suites run: `AGENT_BIN`, else the newest profile build under the
/// target directory (ci, release, debug).
pub fn find_agent(root: &Path) -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("AGENT_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("AGENT_BIN={} does not exist", bin.display()))
        };
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    ["ci", "release", "debug"]
        .iter()
        .map(|p| target.join(p).join("agent"))
        .find(|c| c.is_file())
        .ok_or_else(|| {
            format!(
                "agent binary not found under {}; build it (cargo build --release -p agent) \
                 or set AGENT_BIN",
                target.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECAP: &str = "\
PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=2    unreachable=0    failed=1    skipped=4    rescued=5    ignored=6   
web1                       : ok=1    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
";

    #[test]
    fn recap_is_parsed() {
        let recap = parse_recap(&format!("TASK [x] ***\nok: [localhost]\n\n{RECAP}"));
        assert_eq!(recap.len(), 2);
        let l = recap["localhost"];
        assert_eq!(
            (l.ok, l.changed, l.failed, l.skipped, l.rescued, l.ignored),
            (3, 2, 1, 4, 5, 6)
        );
        assert_eq!(recap["web1"].ok, 1);
    }

    #[test]
    fn recap_ignores_lines_before_recap_and_garbage() {
        let text = "localhost : ok=1 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0\n\
                    PLAY RECAP ***\nnot a recap line\nh : ok=x\n";
        assert!(parse_recap(text).is_empty());
    }

    #[test]
    fn backup_names_are_normalised() {
        assert_eq!(
            normalise_backup_name("dir/a.conf.12345.2024-01-02@03:04:05~"),
            "dir/a.conf.@BACKUP@~"
        );
        assert_eq!(normalise_backup_name("a.conf"), "a.conf");
    }

    #[test]
    fn paths_are_normalised_in_contents() {
        let out = Path::new("/tmp/x/out");
        let case = Path::new("/work/case");
        let data = normalise(b"a /tmp/x/out/f and /work/case/g", out, case);
        assert_eq!(data, b"a @OUT@/f and @CASE@/g");
    }

    #[test]
    fn args_file_lines() {
        assert_eq!(parse_args_file("# c\n-t\n\n  a,b \n"), vec!["-t", "a,b"]);
    }

    #[test]
    fn tree_records_files_dirs_links() {
        set_umask();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        fs::create_dir_all(out.join("d")).unwrap();
        fs::write(out.join("d/f.txt"), format!("at {}\n", out.display())).unwrap();
        fs::write(out.join("big"), vec![0u8; 5000]).unwrap();
        std::os::unix::fs::symlink("d/f.txt", out.join("l")).unwrap();
        let t = tree(&out, Path::new("/nonexistent")).unwrap();
        let paths: Vec<&str> = t.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["big", "d", "d/f.txt", "l"]);
        assert_eq!(t[0].size, Some(5000));
        assert_eq!(t[1].kind, "dir");
        assert_eq!(t[2].content.as_deref(), Some("at @OUT@\n"));
        assert_eq!(t[2].owner, "@me");
        assert_eq!(t[3].target.as_deref(), Some("d/f.txt"));
        assert_eq!(t[3].mode, None);
    }

    #[test]
    fn comparison_reports_differences() {
        let entry = |path: &str, content: &str| Entry {
            path: path.into(),
            kind: "file".into(),
            target: None,
            mode: Some("0644".into()),
            owner: "@me".into(),
            group: "@me".into(),
            content: Some(content.into()),
            sha256: None,
            size: None,
        };
        let mut recap = Recap::new();
        recap.insert(
            "localhost".into(),
            Counts {
                ok: 1,
                ..Counts::default()
            },
        );
        let expected = RunRecord {
            rc: 2,
            recap: recap.clone(),
            tree: vec![entry("a", "x\ny\n"), entry("b", "")],
        };
        let actual = RunRecord {
            rc: 1,
            recap,
            tree: vec![entry("a", "x\nz\n"), entry("c", "")],
        };
        assert!(compare_run("first", &expected, &expected, RcMode::Exact).is_empty());
        let diffs = compare_run("first", &expected, &actual, RcMode::Agent);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
        assert!(diffs[0].contains("line 2"), "{diffs:?}");
        assert!(diffs[1].contains("b: missing"));
        assert!(diffs[2].contains("c: unexpected"));
        let diffs = compare_run("first", &expected, &actual, RcMode::Exact);
        assert!(diffs[0].contains("exit code 2 expected, got 1"));
    }

    #[test]
    fn agent_exit_codes() {
        let mut recap = Recap::new();
        recap.insert(
            "h".into(),
            Counts {
                changed: 1,
                ..Counts::default()
            },
        );
        let mut run = RunRecord {
            rc: 0,
            recap,
            tree: Vec::new(),
        };
        assert_eq!(agent_exit_code(&run, false), 0);
        assert_eq!(agent_exit_code(&run, true), 2);
        run.rc = 4;
        assert_eq!(agent_exit_code(&run, true), 1);
        run.rc = 0;
        run.recap.clear();
        assert_eq!(agent_exit_code(&run, true), 0);
    }
}
