//! `async: N` with `poll: 0` (fire and forget) and the `async_status` action, as
//! ansible-core's async_wrapper and async_status module do them, with the agent itself as the
//! wrapper: the task's module runs in a detached `agent async-job SPEC` process (its own
//! process group) that writes its result to `$ANSIBLE_ASYNC_DIR/JID` (default
//! `~/.ansible_async/JID`) and is killed, with everything it started, after N seconds.
//!
//! The job file holds `{"started": true, "finished": false, "ansible_job_id": ...}` while the
//! module runs, then the module's result (without `started`), or the timeout's result.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_modules::{Ctx, FileFinder, ResultMap};
use agent_template::{Templar, Vars};
use indexmap::IndexMap;
use minijinja::Value;
use serde::{Deserialize, Serialize};

/// What the detached process needs to run the module.
#[derive(Debug, Serialize, Deserialize)]
pub struct Spec {
    pub jid: String,
    /// Seconds before the job is killed.
    pub timeout: u64,
    /// The module's short name (registry key).
    pub module: String,
    pub args: IndexMap<String, serde_json::Value>,
    pub environment: Vec<(String, String)>,
    /// `become_user` when it is not root.
    pub become_user: Option<String>,
    /// The task's diff mode: the module's `diff` is kept in its result, as Ansible does.
    #[serde(default)]
    pub diff: bool,
    pub results_file: PathBuf,
}

/// Where job files go: `ANSIBLE_ASYNC_DIR`, else `~/.ansible_async`.
pub fn async_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ANSIBLE_ASYNC_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".ansible_async")
}

/// A job id as Ansible makes them: `j` + random digits + `.` + the process id.
fn new_jid() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    // RandomState's keys are random per process; the time makes two jobs differ.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let n = h.finish() % 1_000_000_000_000;
    format!("j{n}.{}", std::process::id())
}

/// Write `value` to `path` atomically (a temporary file in the same directory, renamed).
fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".job").tempfile_in(dir)?;
    tmp.write_all(value.to_string().as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Start `module` with `args` in the background. Returns the task's result: the job id and
/// its file, `started` and not `finished`, `changed` (as Ansible reports a started job).
pub fn spawn(
    module: &str,
    args: &IndexMap<String, Value>,
    environment: &[(String, String)],
    become_user: Option<&str>,
    timeout: u64,
    diff: bool,
) -> Result<ResultMap, String> {
    let dir = async_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let jid = new_jid();
    let results_file = dir.join(&jid);
    let spec = Spec {
        jid: jid.clone(),
        timeout,
        module: module.to_string(),
        args: args.iter().map(|(k, v)| (k.clone(), to_json(v))).collect(),
        environment: environment.to_vec(),
        become_user: become_user.map(str::to_string),
        diff,
        results_file: results_file.clone(),
    };
    // The job file exists before the task returns, as async_wrapper makes sure.
    write_json(
        &results_file,
        &serde_json::json!({"started": true, "finished": false, "ansible_job_id": jid}),
    )
    .map_err(|e| format!("{}: {e}", results_file.display()))?;
    let spec_path = dir.join(format!(".{jid}.spec"));
    let text = serde_json::to_vec(&spec).map_err(|e| e.to_string())?;
    write_private(&spec_path, &text).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("the agent's own path: {e}"))?;
    use std::os::unix::process::CommandExt as _;
    std::process::Command::new(exe)
        .arg("async-job")
        .arg(&spec_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting the async job: {e}"))?;
    let mut r = ResultMap::new();
    r.insert("ansible_job_id".into(), Value::from(jid));
    r.insert("changed".into(), Value::from(true));
    r.insert("failed".into(), Value::from(false));
    r.insert("finished".into(), Value::from(false));
    r.insert(
        "results_file".into(),
        Value::from(results_file.display().to_string()),
    );
    r.insert("started".into(), Value::from(true));
    Ok(r)
}

/// The spec holds the module's arguments (secrets among them): readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Files by absolute path only: a background job has no role or playbook to search.
struct Absolute;

impl FileFinder for Absolute {
    fn find(&self, _kind: &str, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        (p.is_absolute() && p.exists()).then(|| p.to_path_buf())
    }
}

/// The detached process (`agent async-job SPEC`): run the module, write its result, or
/// the timeout's, to the job file. Returns the exit code.
pub fn work(spec_path: &Path) -> i32 {
    let Ok(text) = std::fs::read(spec_path) else {
        return 1;
    };
    let _ = std::fs::remove_file(spec_path);
    let Ok(spec) = serde_json::from_slice::<Spec>(&text) else {
        return 1;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let module = spec.module.clone();
    let args: IndexMap<String, Value> = spec
        .args
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                agent_template::filters::pyfmt::from_json_value(v.clone()),
            )
        })
        .collect();
    let environment = spec.environment.clone();
    let become_user = spec.become_user.clone();
    std::thread::spawn(move || {
        let templar = Templar::new();
        let vars = Vars::new(Vec::new());
        let ctx = Ctx {
            check_mode: false,
            diff_mode: spec.diff,
            files: &Absolute,
            templar: &templar,
            vars: &vars,
            become_user: become_user.as_deref(),
            environment: &environment,
        };
        // As the engine runs a module: this thread's file-system identity is the become
        // user's for the call.
        let res = become_user
            .as_deref()
            .map(agent_modules::host::creds::become_user)
            .transpose()
            .and_then(|_guard| match agent_modules::registry::find(&module) {
                Some(entry) => (entry.run)(&module, &args, &ctx),
                None => Err(agent_modules::ModuleError::new(format!(
                    "The module {module} was not found"
                ))),
            });
        let map = match res {
            Ok(r) => r,
            Err(e) => {
                let mut r = e.fields.clone();
                r.insert("failed".into(), Value::from(true));
                r.insert("msg".into(), Value::from(e.msg));
                r.entry("changed".into()).or_insert(Value::from(false));
                r
            }
        };
        let json: serde_json::Map<String, serde_json::Value> = map
            .iter()
            .filter(|(k, _)| !k.starts_with("_agent"))
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect();
        let _ = tx.send(serde_json::Value::Object(json));
    });
    match rx.recv_timeout(Duration::from_secs(spec.timeout.max(1))) {
        Ok(result) => {
            let _ = write_json(&spec.results_file, &result);
            0
        }
        Err(_) => {
            let result = serde_json::json!({
                "ansible_job_id": spec.jid,
                "child_pid": std::process::id(),
                "failed": true,
                "finished": true,
                "msg": "Timeout exceeded",
                "started": true,
            });
            let _ = write_json(&spec.results_file, &result);
            // Everything the module started is in this process group.
            let _ = nix::sys::signal::killpg(nix::unistd::getpgrp(), nix::sys::signal::SIGKILL);
            1
        }
    }
}

/// The `async_status` action: the job file's state (`mode: status`), or its removal
/// (`mode: cleanup`).
pub fn status(jid: &str, cleanup: bool) -> ResultMap {
    let path = async_dir().join(jid);
    let mut r = ResultMap::new();
    r.insert("ansible_job_id".into(), Value::from(jid));
    let text_path = path.display().to_string();
    if !path.exists() {
        r.insert("failed".into(), Value::from(true));
        r.insert("msg".into(), Value::from("could not find job"));
        r.insert("changed".into(), Value::from(false));
        r.insert("results_file".into(), Value::from(text_path));
        r.insert("started".into(), Value::from(true));
        r.insert("finished".into(), Value::from(true));
        return r;
    }
    if cleanup {
        let _ = std::fs::remove_file(&path);
        r.insert("erased".into(), Value::from(text_path));
        r.insert("started".into(), Value::from(false));
        r.insert("finished".into(), Value::from(false));
        r.insert("changed".into(), Value::from(false));
        return r;
    }
    r.insert("results_file".into(), Value::from(text_path));
    r.insert("started".into(), Value::from(true));
    r.insert("finished".into(), Value::from(false));
    r.insert("changed".into(), Value::from(false));
    let data: Option<serde_json::Map<String, serde_json::Value>> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(data) = data else {
        // Not written yet: still running.
        return r;
    };
    let running = data.contains_key("started");
    for (k, v) in &data {
        r.insert(
            k.clone(),
            agent_template::filters::pyfmt::from_json_value(v.clone()),
        );
    }
    if !running {
        r.insert("finished".into(), Value::from(true));
        r.insert("ansible_job_id".into(), Value::from(jid));
    } else if !data.contains_key("finished") {
        r.insert("finished".into(), Value::from(false));
    }
    for key in ["started", "finished"] {
        let b = r.get(key).is_some_and(|v| v.is_true());
        r.insert(key.into(), Value::from(b));
    }
    r
}
