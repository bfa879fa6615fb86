//! systemd: the service manager seen three ways, one [`Manager`] API over them.
//!
//! - [`Bus`]: org.freedesktop.systemd1 over the system D-Bus (zbus, blocking API). Jobs
//!   are started with mode `replace` and waited for through the `JobRemoved` signal;
//!   unit files are changed with the Manager's `*UnitFiles` methods followed by `Reload`,
//!   as `systemctl enable` does.
//! - `systemctl` spawned per operation, when systemd runs but the bus cannot be reached
//!   (and for `--user` / `--global` scopes).
//! - [`Offline`]: systemd is not running (a chroot or an image being built). Unit-file
//!   state, enable, disable, mask and unmask are done on the files themselves, as
//!   `systemctl --root=/` does: the unit's `[Install]` section (WantedBy, RequiredBy,
//!   UpheldBy, Alias, Also, DefaultInstance) gives the symlinks under /etc/systemd/system.
//!   Starting and stopping are not possible there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use indexmap::IndexMap;

/// Unit types systemd knows; a name without one of these gets `.service`.
pub const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".timer",
    ".path",
    ".slice",
    ".scope",
];

/// `systemctl`'s name mangling for the common case: append `.service` when the name
/// has no unit type suffix.
pub fn unit_name(name: &str) -> String {
    if UNIT_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// `sd_booted()`: systemd is the running service manager.
pub fn booted() -> bool {
    [
        "/run/systemd/system/",
        "/dev/.run/systemd/",
        "/dev/.systemd/",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
}

/// Open the run's system-bus connection on a background thread, for a playbook that has
/// service tasks: connecting (socket, authentication, `Hello`, zbus's executor) then
/// overlaps loading and fact gathering instead of delaying the first service task. The
/// first task that needs the bus waits for this connection (or, if it failed, tries
/// again itself). Nothing is done on a host not booted with systemd.
///
/// Then, on the same thread, the state of `units` (the units the playbook's service tasks
/// name literally) is read ahead: what a task's observe asks (`GetAll`,
/// `GetUnitFileState`) while the run does other work. A task takes its unit's answers
/// once; [`forget_read_ahead`] drops them all as soon as any task may have changed the
/// host, so a read-ahead answer is only ever used when nothing was changed since it
/// was read. After such a change the thread reads the units not taken yet again (a
/// change while it reads stops it at once: it starts over from the new state), so a
/// service task that comes after a command or a changed file still finds its answers.
///
/// `playbook` names the run's playbook: the units its tasks asked about in the previous
/// run on this host (kept in the run directory, see [`remember_units`]) are read ahead
/// too, first and in the order they were asked, so that a unit whose name is a template
/// (`name: "{{ app_name }}"`) is read ahead from the second run on. Such a hint only
/// decides what is read early: a task uses an answer only for the unit it names.
pub fn connect_in_background(units: Vec<String>, playbook: &str) {
    forget_read_ahead();
    used().clear();
    if !booted() || offline_env() {
        return;
    }
    use std::sync::atomic::Ordering;
    let mut all = remembered(playbook);
    *remembered_slot() = (playbook.to_string(), all.clone());
    for u in units {
        if !all.contains(&u) {
            all.push(u);
        }
    }
    {
        let mut w = wanted();
        w.units = all;
        // a reader left by an earlier run in this process reads them
        w.again = true;
        WAKE.notify_one();
    }
    if READER.swap(true, Ordering::SeqCst) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("bus-connect".into())
        .spawn(move || {
            // however this thread ends (a panic too), the next run in this process may
            // start another
            let _alive = ReaderAlive;
            match Bus::connect() {
                Ok(bus) => loop {
                    let mut w = wanted();
                    while !w.again {
                        w = WAKE.wait(w).unwrap_or_else(|p| p.into_inner());
                    }
                    w.again = false;
                    drop(w);
                    read_ahead(&bus);
                },
                Err(e) => tracing::debug!("system bus unavailable ({e})"),
            }
        });
    if spawned.is_err() {
        READER.store(false, Ordering::SeqCst);
    }
}

/// Whether the thread that reads ahead is running (one per process).
static READER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Held by the reader thread: says it is gone when it ends.
struct ReaderAlive;

impl Drop for ReaderAlive {
    fn drop(&mut self) {
        READER.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Held while one unit is read: whatever happens, tasks waiting for it are woken.
struct Reading;

impl Reading {
    fn start(w: &mut Wanted, unit: &str) -> Reading {
        w.reading = Some(unit.to_string());
        Reading
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        wanted().reading = None;
        READ.notify_all();
    }
}

/// Answers read ahead by [`connect_in_background`], by unit.
#[derive(Debug, Default)]
struct ReadAhead {
    shows: std::collections::HashMap<String, IndexMap<String, String>>,
    file_states: std::collections::HashMap<String, Option<String>>,
}

/// The units to read ahead: named by service tasks and not taken yet. `again`: the host
/// may have changed since they were read (set by [`forget_read_ahead`]).
#[derive(Debug, Default)]
struct Wanted {
    units: Vec<String>,
    again: bool,
    /// The unit being read right now: a task that needs it waits for the answer rather
    /// than asking systemd a second time.
    reading: Option<String>,
}

static READ_AHEAD: std::sync::Mutex<Option<ReadAhead>> = std::sync::Mutex::new(None);
static WANTED: std::sync::Mutex<Wanted> = std::sync::Mutex::new(Wanted {
    units: Vec::new(),
    again: false,
    reading: None,
});
/// Wakes the reader (units to read again).
static WAKE: std::sync::Condvar = std::sync::Condvar::new();
/// Wakes a task waiting for the unit being read.
static READ: std::sync::Condvar = std::sync::Condvar::new();
/// Bumped by every [`forget_read_ahead`]: an answer read before it is not kept.
static READ_AHEAD_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn read_ahead_slot() -> std::sync::MutexGuard<'static, Option<ReadAhead>> {
    READ_AHEAD.lock().unwrap_or_else(|p| p.into_inner())
}

fn wanted() -> std::sync::MutexGuard<'static, Wanted> {
    WANTED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read the wanted units in the playbook's order; stop at the first change. A unit whose
/// query fails is left to its task.
fn read_ahead(bus: &Bus) {
    use std::sync::atomic::Ordering;
    let epoch = READ_AHEAD_EPOCH.load(Ordering::SeqCst);
    let units = wanted().units.clone();
    for unit in units {
        if READ_AHEAD_EPOCH.load(Ordering::SeqCst) != epoch {
            return;
        }
        let reading = {
            let mut w = wanted();
            if !w.units.contains(&unit) {
                continue;
            }
            Reading::start(&mut w, &unit)
        };
        let read = bus
            .show(&unit)
            .map(|show| (show, bus.unit_file_state(&unit)));
        // false: the host changed since this pass began (a new pass reads again)
        let go_on = match read {
            Ok((show, file_state)) => {
                let mut slot = read_ahead_slot();
                let current = READ_AHEAD_EPOCH.load(Ordering::SeqCst) == epoch;
                if current {
                    tracing::trace!(unit, "unit state read ahead");
                    let ra = slot.get_or_insert_with(ReadAhead::default);
                    ra.shows.insert(unit.clone(), show);
                    ra.file_states.insert(unit, file_state);
                }
                current
            }
            Err(e) => {
                tracing::trace!(unit, error = %e, "unit state not read ahead");
                true
            }
        };
        drop(reading);
        if !go_on {
            return;
        }
    }
}

/// Drop every answer read ahead (the host may have changed since they were read); the
/// units not taken yet are read again.
pub fn forget_read_ahead() {
    let mut slot = read_ahead_slot();
    READ_AHEAD_EPOCH.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    *slot = None;
    drop(slot);
    let mut w = wanted();
    if !w.units.is_empty() {
        tracing::trace!(units = ?w.units, "unit states to read again");
        w.again = true;
        WAKE.notify_one();
    }
}

/// The directory where what helps the next run is kept (the run lock's directory).
static RUN_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
/// The units this run's tasks asked about, in order.
static USED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
/// The playbook and the units remembered for it when the run started.
static REMEMBERED: std::sync::Mutex<(String, Vec<String>)> =
    std::sync::Mutex::new((String::new(), Vec::new()));
const REMEMBERED_FILE: &str = "read-ahead-units.json";

fn used() -> std::sync::MutexGuard<'static, Vec<String>> {
    USED.lock().unwrap_or_else(|p| p.into_inner())
}

fn remembered_slot() -> std::sync::MutexGuard<'static, (String, Vec<String>)> {
    REMEMBERED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the units asked about are remembered between runs (not set: nothing is).
pub fn set_run_dir(dir: &Path) {
    let _ = RUN_DIR.set(dir.to_path_buf());
}

/// The units remembered for `playbook` (none when the file is missing, unreadable or
/// about another playbook).
fn remembered(playbook: &str) -> Vec<String> {
    RUN_DIR
        .get()
        .and_then(|d| remembered_in(d, playbook))
        .unwrap_or_default()
}

fn remembered_in(dir: &Path, playbook: &str) -> Option<Vec<String>> {
    let doc: serde_json::Value =
        serde_json::from_slice(&agent_facts::kept::read(dir, REMEMBERED_FILE)?).ok()?;
    if doc.get("playbook")?.as_str()? != playbook {
        return None;
    }
    let units = doc.get("units")?.as_array()?;
    Some(
        units
            .iter()
            .filter_map(|u| u.as_str())
            .filter(|u| !u.is_empty() && u.len() < 256)
            .take(64)
            .map(str::to_string)
            .collect(),
    )
}

/// At the end of a run: remember the units its tasks asked about for the next run of
/// the same playbook (written only when they differ from what was remembered; whole or
/// not at all).
pub fn remember_units() {
    let Some(dir) = RUN_DIR.get() else { return };
    let used = used().clone();
    let (playbook, before) = remembered_slot().clone();
    if playbook.is_empty() || used == before {
        return;
    }
    remember_in(dir, &playbook, &used);
}

fn remember_in(dir: &Path, playbook: &str, units: &[String]) {
    let doc = serde_json::json!({"playbook": playbook, "units": units});
    if let Err(e) = agent_facts::kept::write(dir, REMEMBERED_FILE, doc.to_string().as_bytes()) {
        tracing::debug!("could not remember the units in {}: {e}", dir.display());
    }
}

fn take_show(unit: &str) -> Option<IndexMap<String, String>> {
    {
        let mut used = used();
        if !used.iter().any(|u| u == unit) {
            used.push(unit.to_string());
        }
    }
    {
        let mut w = wanted();
        // being read right now: wait for that answer (a second question to systemd would
        // only queue behind it); a stuck read is not waited for long
        let until = std::time::Instant::now() + std::time::Duration::from_millis(200);
        while w.reading.as_deref() == Some(unit) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            w = READ
                .wait_timeout(w, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        w.units.retain(|u| u != unit);
    }
    let show = read_ahead_slot().as_mut()?.shows.remove(unit);
    tracing::trace!(unit, read_ahead = show.is_some(), "unit state");
    show
}

fn take_file_state(unit: &str) -> Option<Option<String>> {
    read_ahead_slot().as_mut()?.file_states.remove(unit)
}

/// Ansible's `is_chroot()`: `/` is not PID 1's root (or `debian_chroot` is set).
pub fn is_chroot() -> bool {
    if std::env::var_os("debian_chroot").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata("/"), std::fs::metadata("/proc/1/root/.")) {
        (Ok(a), Ok(b)) => a.ino() != b.ino() || a.dev() != b.dev(),
        (Ok(a), Err(_)) => a.ino() != 2,
        _ => false,
    }
}

/// `SYSTEMD_OFFLINE=1` in the environment (Ansible honours it too).
pub fn offline_env() -> bool {
    std::env::var("SYSTEMD_OFFLINE").is_ok_and(|v| v == "1")
}

/// The `systemctl` binary, if installed.
pub fn systemctl_path() -> Option<PathBuf> {
    [
        "/usr/bin/systemctl",
        "/bin/systemctl",
        "/usr/local/bin/systemctl",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The host's service manager, as Ansible's `service_mgr` fact names it (only what
/// the service module dispatches on: `systemd` or something else).
pub fn service_mgr() -> Option<&'static str> {
    if systemctl_path().is_some() {
        if booted() {
            return Some("systemd");
        }
        if std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd") {
            return Some("systemd");
        }
        if std::fs::read_link("/sbin/init")
            .ok()
            .and_then(|t| t.file_name().map(|n| n == "systemd"))
            .unwrap_or(false)
        {
            return Some("systemd");
        }
    }
    None
}

/// An init script for `name` exists (Ansible's `sysv_exists`).
pub fn sysv_exists(name: &str) -> bool {
    if name.starts_with('/') {
        Path::new(name).exists()
    } else {
        Path::new("/etc/init.d").join(name).exists()
    }
}

/// Ansible's `sysv_is_enabled`: a start link in any runlevel directory.
pub fn sysv_is_enabled(name: &str) -> bool {
    glob::glob(&format!("/etc/rc?.d/S??{}", glob::Pattern::escape(name)))
        .map(|mut g| g.next().is_some())
        .unwrap_or(false)
}

/// Which manager to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    System,
    User,
    Global,
}

/// A job verb (`systemctl start` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobVerb {
    Start,
    Stop,
    Restart,
    Reload,
}

impl JobVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            JobVerb::Start => "start",
            JobVerb::Stop => "stop",
            JobVerb::Restart => "restart",
            JobVerb::Reload => "reload",
        }
    }
    fn method(self) -> &'static str {
        match self {
            JobVerb::Start => "StartUnit",
            JobVerb::Stop => "StopUnit",
            JobVerb::Restart => "RestartUnit",
            JobVerb::Reload => "ReloadUnit",
        }
    }
}

/// A unit-file operation (`systemctl enable` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    Enable,
    Disable,
    Mask,
    Unmask,
}

impl FileOp {
    pub fn as_str(self) -> &'static str {
        match self {
            FileOp::Enable => "enable",
            FileOp::Disable => "disable",
            FileOp::Mask => "mask",
            FileOp::Unmask => "unmask",
        }
    }
}

/// One row of `ListUnits` (what service_facts needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    pub name: String,
    pub load: String,
    pub active: String,
    pub sub: String,
}

/// The manager a module talks to.
pub enum Manager {
    Bus(Bus),
    Systemctl { exe: PathBuf, scope: Scope },
    Offline(Offline),
}

impl Manager {
    /// Pick the way to talk to systemd: the bus when systemd runs, `systemctl` when the
    /// bus is unavailable (or for user/global scopes), files when systemd is not running.
    pub fn open(scope: Scope) -> Manager {
        if scope != Scope::System {
            if let Some(exe) = systemctl_path() {
                return Manager::Systemctl { exe, scope };
            }
        }
        if !booted() || offline_env() {
            return Manager::Offline(Offline::new("/"));
        }
        match Bus::connect() {
            Ok(b) => Manager::Bus(b),
            Err(e) => {
                tracing::debug!("system bus unavailable ({e}); using systemctl");
                match systemctl_path() {
                    Some(exe) => Manager::Systemctl { exe, scope },
                    None => Manager::Offline(Offline::new("/")),
                }
            }
        }
    }

    pub fn is_offline(&self) -> bool {
        matches!(self, Manager::Offline(_))
    }

    /// `systemctl show UNIT`: the unit's properties as strings (empty ones left out);
    /// an empty map when the manager cannot tell (offline).
    pub fn show(&self, unit: &str) -> IndexMap<String, String> {
        match self {
            Manager::Bus(b) => match take_show(unit) {
                Some(read) => read,
                None => b.show(unit).unwrap_or_default(),
            },
            Manager::Systemctl { exe, scope } => {
                match systemctl(exe, *scope, &[], &["show", unit]) {
                    Ok(out) if out.rc == 0 => parse_systemctl_show(&out.stdout),
                    _ => IndexMap::new(),
                }
            }
            Manager::Offline(_) => IndexMap::new(),
        }
    }

    /// `systemctl show UNIT --property=ActiveState`.
    pub fn active_state(&self, unit: &str) -> Option<String> {
        match self {
            Manager::Bus(b) => {
                b.unit_property(unit, "org.freedesktop.systemd1.Unit", "ActiveState")
            }
            Manager::Systemctl { exe, scope } => {
                let out =
                    systemctl(exe, *scope, &[], &["show", unit, "--property=ActiveState"]).ok()?;
                (out.rc == 0).then(|| {
                    out.stdout
                        .trim()
                        .trim_start_matches("ActiveState=")
                        .to_string()
                })
            }
            Manager::Offline(_) => None,
        }
    }

    /// `systemctl is-enabled UNIT`: the unit-file state, `None` when there is no unit file.
    pub fn unit_file_state(&self, unit: &str) -> Option<String> {
        match self {
            Manager::Bus(b) => match take_file_state(unit) {
                Some(read) => read,
                None => b.unit_file_state(unit),
            },
            Manager::Systemctl { exe, scope } => {
                let out = systemctl(exe, *scope, &[], &["is-enabled", unit]).ok()?;
                let s = out.stdout.trim();
                (!s.is_empty() && !s.contains(' ')).then(|| s.to_string())
            }
            Manager::Offline(o) => o.unit_file_state(unit),
        }
    }

    /// The symbolic links that enable `unit` (or the units its `Also=` names), as
    /// `systemctl is-enabled --full` lists them under the state.
    pub fn unit_file_links(&self, unit: &str) -> Vec<String> {
        match self {
            Manager::Bus(b) => b.unit_file_links(unit),
            Manager::Systemctl { exe, scope } => {
                match systemctl(exe, *scope, &[], &["is-enabled", "--full", unit]) {
                    Ok(out) => out
                        .stdout
                        .lines()
                        .skip(1)
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect(),
                    Err(_) => Vec::new(),
                }
            }
            Manager::Offline(o) => o
                .plan_disable(unit)
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }
    }

    /// Run a job and wait for it (unless `no_block`). The error is what `systemctl`
    /// prints on stderr for the failure.
    ///
    /// A stop or restart that waits also waits (at most a second) until the main process
    /// it ended is gone. systemd can finish the job before that: it announces the job's
    /// end while it handles the process's exit and reaps the zombie only afterwards, and
    /// where it cannot watch the unit's control group (cgroup v1 in a container) it does
    /// not wait at all for a main process that is not its child (a forking daemon's,
    /// read from its PID file). A task that looks at `/proc/PID` right after the stop
    /// would still find the process.
    pub fn job(&self, verb: JobVerb, unit: &str, no_block: bool) -> Result<(), String> {
        // what was read ahead is not current after this, even when the task
        // reports no change (daemon-reload never counts as one)
        forget_read_ahead();
        let ended = match verb {
            JobVerb::Stop | JobVerb::Restart if !no_block => self
                .main_pid(unit)
                .and_then(|pid| Some((pid, start_time(Path::new("/proc"), pid)?))),
            _ => None,
        };
        match self {
            Manager::Bus(b) => b.job(verb, unit, no_block),
            Manager::Systemctl { exe, scope } => {
                let mut opts: Vec<&str> = Vec::new();
                if no_block {
                    opts.push("--no-block");
                }
                run_ok(exe, *scope, &opts, &[verb.as_str(), unit])
            }
            Manager::Offline(_) => Err(not_running(verb.as_str(), unit)),
        }?;
        if let Some((pid, started)) = ended {
            wait_gone(
                Path::new("/proc"),
                pid,
                started,
                std::time::Duration::from_secs(1),
            );
        }
        Ok(())
    }

    /// The unit's main process, when it has one.
    fn main_pid(&self, unit: &str) -> Option<u32> {
        let v = match self {
            Manager::Bus(b) => {
                b.unit_property(unit, "org.freedesktop.systemd1.Service", "MainPID")?
            }
            Manager::Systemctl { exe, scope } => {
                let out =
                    systemctl(exe, *scope, &[], &["show", unit, "--property=MainPID"]).ok()?;
                out.stdout.trim().trim_start_matches("MainPID=").to_string()
            }
            Manager::Offline(_) => return None,
        };
        v.trim().parse().ok().filter(|p| *p > 0)
    }

    /// Enable, disable, mask or unmask a unit file (then reload the manager).
    pub fn unit_files(&self, op: FileOp, unit: &str, force: bool) -> Result<(), String> {
        // what was read ahead is not current after this, even when the task
        // reports no change (daemon-reload never counts as one)
        forget_read_ahead();
        match self {
            Manager::Bus(b) => b.unit_files(op, unit, force),
            Manager::Systemctl { exe, scope } => {
                let opts: &[&str] = if force { &["--force"] } else { &[] };
                run_ok(exe, *scope, opts, &[op.as_str(), unit])
            }
            Manager::Offline(o) => o.unit_files(op, unit, force),
        }
    }

    pub fn daemon_reload(&self) -> Result<(), String> {
        // what was read ahead is not current after this, even when the task
        // reports no change (daemon-reload never counts as one)
        forget_read_ahead();
        match self {
            Manager::Bus(b) => b.reload(),
            Manager::Systemctl { exe, scope } => run_ok(exe, *scope, &[], &["daemon-reload"]),
            Manager::Offline(_) => Err(OFFLINE_MSG.to_string()),
        }
    }

    pub fn daemon_reexec(&self) -> Result<(), String> {
        // what was read ahead is not current after this, even when the task
        // reports no change (daemon-reload never counts as one)
        forget_read_ahead();
        match self {
            Manager::Bus(b) => b.reexecute(),
            Manager::Systemctl { exe, scope } => run_ok(exe, *scope, &[], &["daemon-reexec"]),
            Manager::Offline(_) => Err(OFFLINE_MSG.to_string()),
        }
    }

    /// Every unit the manager has loaded (`list-units --all`).
    pub fn list_units(&self) -> Result<Vec<UnitRow>, String> {
        match self {
            Manager::Bus(b) => b.list_units(),
            Manager::Systemctl { exe, scope } => {
                let out = systemctl(
                    exe,
                    *scope,
                    &[],
                    &[
                        "list-units",
                        "--no-pager",
                        "--all",
                        "--plain",
                        "--no-legend",
                    ],
                )?;
                if out.rc != 0 {
                    return Err(out.stderr);
                }
                Ok(out
                    .stdout
                    .lines()
                    .filter_map(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        (f.len() >= 4).then(|| UnitRow {
                            name: f[0].to_string(),
                            load: f[1].to_string(),
                            active: f[2].to_string(),
                            sub: f[3].to_string(),
                        })
                    })
                    .collect())
            }
            Manager::Offline(_) => Ok(Vec::new()),
        }
    }

    /// Every unit file with its state (`list-unit-files`).
    pub fn list_unit_files(&self) -> Result<Vec<(String, String)>, String> {
        match self {
            Manager::Bus(b) => b.list_unit_files(),
            Manager::Systemctl { exe, scope } => {
                let out = systemctl(
                    exe,
                    *scope,
                    &[],
                    &["list-unit-files", "--no-pager", "--no-legend"],
                )?;
                if out.rc != 0 {
                    return Err(out.stderr);
                }
                Ok(out
                    .stdout
                    .lines()
                    .filter_map(|l| {
                        let mut f = l.split_whitespace();
                        Some((f.next()?.to_string(), f.next()?.to_string()))
                    })
                    .collect())
            }
            Manager::Offline(o) => Ok(o.list_unit_files()),
        }
    }
}

const OFFLINE_MSG: &str = "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n";

fn not_running(verb: &str, unit: &str) -> String {
    format!(
        "cannot {verb} {unit}: systemd is not running on this host (no /run/systemd/system; a chroot or an image being built)"
    )
}

// ---------------------------------------------------------------------------------
// systemctl

/// A finished process.
pub struct Output {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

fn systemctl(exe: &Path, scope: Scope, opts: &[&str], args: &[&str]) -> Result<Output, String> {
    let mut cmd = Command::new(exe);
    super::creds::prepare_command(&mut cmd);
    match scope {
        Scope::System => {}
        Scope::User => {
            cmd.arg("--user");
        }
        Scope::Global => {
            cmd.arg("--global");
        }
    }
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env(
            "XDG_RUNTIME_DIR",
            format!("/run/user/{}", crate::host::creds::fsuid()),
        );
    }
    cmd.args(opts).args(args).env("LC_ALL", "C");
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    Ok(Output {
        rc: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn run_ok(exe: &Path, scope: Scope, opts: &[&str], args: &[&str]) -> Result<(), String> {
    let out = systemctl(exe, scope, opts, args)?;
    if out.rc == 0 { Ok(()) } else { Err(out.stderr) }
}

/// Ansible's `parse_systemctl_show`: `Key=value` lines; only `Exec*` values in braces
/// may span lines.
pub fn parse_systemctl_show(text: &str) -> IndexMap<String, String> {
    let mut parsed = IndexMap::new();
    let mut multival: Vec<&str> = Vec::new();
    let mut key: Option<&str> = None;
    for line in text.split('\n') {
        match key {
            None => {
                if let Some((k, v)) = line.split_once('=') {
                    if k.starts_with("Exec")
                        && v.trim_start().starts_with('{')
                        && !v.trim_end().ends_with('}')
                    {
                        multival.push(v);
                        key = Some(k);
                        continue;
                    }
                    parsed.insert(k.to_string(), v.trim().to_string());
                }
            }
            Some(k) => {
                multival.push(line);
                if line.trim_end().ends_with('}') {
                    parsed.insert(k.to_string(), multival.join("\n").trim().to_string());
                    multival.clear();
                    key = None;
                }
            }
        }
    }
    parsed
}

// ---------------------------------------------------------------------------------
// D-Bus

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// `sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit)`: every byte that is not
/// an ASCII letter or digit (and a leading digit) becomes `_` and two lowercase hex digits;
/// an empty name is `_`.
pub fn unit_object_path(unit: &str) -> String {
    let mut p = String::from("/org/freedesktop/systemd1/unit/");
    if unit.is_empty() {
        p.push('_');
        return p;
    }
    for (i, b) in unit.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    p
}

/// A connection to systemd on the system bus.
pub struct Bus {
    /// Replaced when a call finds the run's shared connection broken (see [`Bus::call`]).
    conn: std::sync::Mutex<zbus::blocking::Connection>,
}

fn bus_msg(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, desc, _) => desc.clone().unwrap_or_else(|| name.to_string()),
        other => other.to_string(),
    }
}

type Changes = Vec<(String, String, String)>;

/// The system-bus connection shared by every task of the run: opening one (socket,
/// authentication, `Hello`, zbus's executor thread) costs more than the calls a no-op
/// `service` task makes.
static SHARED: std::sync::Mutex<Option<zbus::blocking::Connection>> = std::sync::Mutex::new(None);

fn shared() -> std::sync::MutexGuard<'static, Option<zbus::blocking::Connection>> {
    SHARED.lock().unwrap_or_else(|p| p.into_inner())
}

impl Bus {
    /// The run's connection to the system bus (made on first use, made again after a
    /// connection failure).
    pub fn connect() -> Result<Bus, String> {
        let mut cached = shared();
        let conn = match cached.as_ref() {
            Some(conn) => conn.clone(),
            None => {
                let started = std::time::Instant::now();
                let conn = zbus::blocking::Connection::system().map_err(|e| e.to_string())?;
                tracing::trace!(
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "system bus connected"
                );
                cached.insert(conn).clone()
            }
        };
        Ok(Bus {
            conn: std::sync::Mutex::new(conn),
        })
    }

    /// This task's connection.
    fn conn(&self) -> zbus::blocking::Connection {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drop the shared connection: the next [`Bus::connect`] opens a new one.
    fn forget() {
        *shared() = None;
    }

    fn call<B, R>(&self, path: &str, iface: &str, method: &str, body: &B) -> Result<R, String>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        let started = std::time::Instant::now();
        let ask = |conn: &zbus::blocking::Connection| {
            conn.call_method(Some(DEST), path, Some(iface), method, body)
        };
        let msg = match ask(&self.conn()) {
            Ok(m) => m,
            Err(e @ zbus::Error::MethodError(..)) => return Err(bus_msg(&e)),
            Err(e) => {
                // The connection itself is broken: the run shares one, opened early, and
                // an earlier task may have restarted the bus. Open a new one and ask once
                // more. Every call made here is a read or a job or unit-file request; if
                // the first one did reach systemd, the second finds it done (start, enable)
                // or repeats it (a restart or reload twice).
                Bus::forget();
                let fresh = Bus::connect().map_err(|_| bus_msg(&e))?.conn();
                *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                ask(&fresh).map_err(|e| {
                    if !matches!(e, zbus::Error::MethodError(..)) {
                        Bus::forget();
                    }
                    bus_msg(&e)
                })?
            }
        };
        let called = started.elapsed();
        let r = msg.body().deserialize::<R>().map_err(|e| e.to_string());
        tracing::trace!(
            method,
            call_us = called.as_micros() as u64,
            decode_us = (started.elapsed() - called).as_micros() as u64,
            "systemd call"
        );
        r
    }

    fn manager<B, R>(&self, method: &str, body: &B) -> Result<R, String>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        self.call(PATH, MANAGER, method, body)
    }

    /// All properties of the unit (every interface), formatted as `systemctl show`.
    pub fn show(&self, unit: &str) -> Result<IndexMap<String, String>, String> {
        // the path computed as `systemctl show` computes it (no `LoadUnit` round trip:
        // systemd loads a unit asked for by its path)
        let path = unit_object_path(unit);
        let props: BTreeMap<String, zbus::zvariant::OwnedValue> =
            self.call(&path, PROPERTIES, "GetAll", &("",))?;
        let mut out = IndexMap::new();
        for (k, v) in &props {
            if let Some(s) = format_property(k, v) {
                out.insert(k.clone(), s);
            }
        }
        Ok(out)
    }

    pub fn unit_file_state(&self, unit: &str) -> Option<String> {
        self.manager::<_, String>("GetUnitFileState", &(unit,)).ok()
    }

    pub fn unit_file_links(&self, unit: &str) -> Vec<String> {
        self.manager::<_, Vec<String>>("GetUnitFileLinks", &(unit, false))
            .unwrap_or_default()
    }

    fn unit_property(&self, unit: &str, iface: &str, name: &str) -> Option<String> {
        let path = unit_object_path(unit);
        let v: zbus::zvariant::OwnedValue =
            self.call(&path, PROPERTIES, "Get", &(iface, name)).ok()?;
        format_property(name, &v)
    }

    pub fn job(&self, verb: JobVerb, unit: &str, no_block: bool) -> Result<(), String> {
        let mut signals = None;
        if !no_block {
            // Subscribe before queueing the job so its JobRemoved cannot be missed.
            // (the connection is shared by the run: a second Subscribe is refused as
            // "Client is already subscribed.", which is what we want)
            match self.manager::<_, ()>("Subscribe", &()) {
                Ok(()) => {}
                Err(e) if e.contains("already subscribed") => {}
                Err(e) => return Err(e),
            }
            let rule = zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender(DEST)
                .and_then(|b| b.interface(MANAGER))
                .and_then(|b| b.member("JobRemoved"))
                .map(|b| b.build())
                .map_err(|e| e.to_string())?;
            signals = Some(
                zbus::blocking::MessageIterator::for_match_rule(rule, &self.conn(), Some(1024))
                    .map_err(|e| e.to_string())?,
            );
        }
        let job: zbus::zvariant::OwnedObjectPath = self
            .manager(verb.method(), &(unit, "replace"))
            .map_err(|e| format!("Failed to {} {unit}: {e}\n", verb.as_str()))?;
        let Some(signals) = signals else {
            return Ok(());
        };
        for msg in signals {
            let Ok(msg) = msg else { continue };
            let Ok((_id, path, _unit, result)) =
                msg.body()
                    .deserialize::<(u32, zbus::zvariant::OwnedObjectPath, String, String)>()
            else {
                continue;
            };
            if path.as_str() != job.as_str() {
                continue;
            }
            return match job_error(&result, unit, verb, |p| {
                self.unit_property(unit, "org.freedesktop.systemd1.Service", p)
            }) {
                None => Ok(()),
                Some(e) => Err(e),
            };
        }
        Err(format!(
            "lost the connection to systemd while waiting for the {} job of {unit}",
            verb.as_str()
        ))
    }

    pub fn unit_files(&self, op: FileOp, unit: &str, force: bool) -> Result<(), String> {
        let files = vec![unit];
        let r: Result<(), String> = match op {
            FileOp::Enable => self
                .manager::<_, (bool, Changes)>("EnableUnitFiles", &(files, false, force))
                .map(|_| ()),
            FileOp::Disable => self
                .manager::<_, Changes>("DisableUnitFiles", &(files, false))
                .map(|_| ()),
            FileOp::Mask => self
                .manager::<_, Changes>("MaskUnitFiles", &(files, false, force))
                .map(|_| ()),
            FileOp::Unmask => self
                .manager::<_, Changes>("UnmaskUnitFiles", &(files, false))
                .map(|_| ()),
        };
        r.map_err(|e| format!("Failed to {} unit: {e}\n", op.as_str()))?;
        self.reload()
    }

    pub fn reload(&self) -> Result<(), String> {
        self.conn()
            .call_method(Some(DEST), PATH, Some(MANAGER), "Reload", &())
            .map(|_| ())
            .map_err(|e| format!("Failed to reload daemon: {}\n", bus_msg(&e)))
    }

    /// `Reexecute`: systemd drops the connection while it re-executes; wait (bounded)
    /// until it answers again on a new one.
    pub fn reexecute(&self) -> Result<(), String> {
        match self
            .conn()
            .call_method(Some(DEST), PATH, Some(MANAGER), "Reexecute", &())
        {
            Ok(_) => {}
            Err(zbus::Error::MethodError(name, desc, _))
                if !name.as_str().contains("NoReply")
                    && !name.as_str().contains("Disconnected") =>
            {
                return Err(format!(
                    "Failed to reexecute daemon: {}\n",
                    desc.unwrap_or_else(|| name.to_string())
                ));
            }
            Err(_) => {}
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            // a new connection each try (the old one may not survive the re-execution)
            Bus::forget();
            if let Ok(b) = Bus::connect()
                && b.manager::<_, String>("GetUnitFileState", &("basic.target",))
                    .is_ok()
            {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err("systemd did not come back after daemon-reexec\n".into());
            }
        }
    }

    pub fn list_units(&self) -> Result<Vec<UnitRow>, String> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            zbus::zvariant::OwnedObjectPath,
            u32,
            String,
            zbus::zvariant::OwnedObjectPath,
        );
        let rows: Vec<Row> = self.manager("ListUnits", &())?;
        Ok(rows
            .into_iter()
            .map(|r| UnitRow {
                name: r.0,
                load: r.2,
                active: r.3,
                sub: r.4,
            })
            .collect())
    }

    pub fn list_unit_files(&self) -> Result<Vec<(String, String)>, String> {
        let rows: Vec<(String, String)> = self.manager("ListUnitFiles", &())?;
        Ok(rows
            .into_iter()
            .map(|(path, state)| {
                let name = Path::new(&path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(path);
                (name, state)
            })
            .collect())
    }
}

/// The fields of `/proc/PID/stat` after the command name (which is in parentheses and
/// may hold any byte): the state first.
fn stat_fields(proc: &Path, pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// When process `pid` started (in clock ticks after boot): with the number, it names one
/// process even after the number is used again.
fn start_time(proc: &Path, pid: u32) -> Option<u64> {
    stat_fields(proc, pid)?.get(19)?.parse().ok()
}

/// Wait (at most `limit`) while the process `pid` that started at `started` still exists,
/// running or a zombie not yet reaped.
fn wait_gone(proc: &Path, pid: u32, started: u64, limit: std::time::Duration) {
    let begin = std::time::Instant::now();
    while start_time(proc, pid) == Some(started) {
        if begin.elapsed() >= limit {
            let state = stat_fields(proc, pid).and_then(|f| f.first().cloned());
            tracing::debug!("process {pid} still there after {limit:?} (state {state:?})");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// What `systemctl` prints for a job that ended with `result` (None: success).
pub fn job_error(
    result: &str,
    unit: &str,
    verb: JobVerb,
    service_prop: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let msg = match result {
        "done" | "skipped" => return None,
        "canceled" => format!("Job for {unit} canceled.\n"),
        "timeout" => format!("Job for {unit} timed out.\n"),
        "dependency" => {
            format!("A dependency job for {unit} failed. See 'journalctl -xe' for details.\n")
        }
        "invalid" => {
            if verb == JobVerb::Reload {
                format!("{unit} is not active, cannot reload.\n")
            } else {
                format!("Job for {unit} invalid.\n")
            }
        }
        "assert" => format!("Assertion failed on job for {unit}.\n"),
        "unsupported" => {
            format!("Operation on or unit type of {unit} not supported on this system.\n")
        }
        "collected" => format!("Queued job for {unit} was garbage collected.\n"),
        "once" => format!("Unit {unit} was started already once and can't be started again.\n"),
        _ => {
            let why = service_prop("Result").and_then(|r| {
                Some(match r.as_str() {
                    "resources" => "of unavailable resources or another system error",
                    "protocol" => {
                        "the service did not take the steps required by its unit configuration"
                    }
                    "timeout" => "a timeout was exceeded",
                    "exit-code" => "the control process exited with error code",
                    "signal" => "a fatal signal was delivered to the control process",
                    "core-dump" => {
                        "a fatal signal was delivered causing the control process to dump core"
                    }
                    "watchdog" => "the service failed to send watchdog ping",
                    "start-limit-hit" => "the service was started too often",
                    _ => return None,
                })
            });
            match why {
                Some(why) => format!(
                    "Job for {unit} failed because {why}.\nSee \"systemctl status {unit}\" and \"journalctl -xeu {unit}\" for details.\n"
                ),
                None => format!(
                    "Job for {unit} failed.\nSee \"systemctl status {unit}\" and \"journalctl -xeu {unit}\" for details.\n"
                ),
            }
        }
    };
    Some(msg)
}

/// `format_timespan` as systemctl uses it for `*USec` properties.
pub fn format_timespan(usec: u64) -> String {
    if usec == u64::MAX {
        return "infinity".into();
    }
    if usec == 0 {
        return "0".into();
    }
    const TABLE: &[(&str, u64)] = &[
        ("y", 31_557_600_000_000),
        ("month", 2_629_800_000_000),
        ("w", 604_800_000_000),
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("min", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
        ("us", 1),
    ];
    let mut t = usec;
    let mut parts: Vec<String> = Vec::new();
    for (suffix, unit) in TABLE {
        if t == 0 {
            break;
        }
        if t < *unit {
            continue;
        }
        let a = t / unit;
        let b = t % unit;
        // Below a minute, a remainder is written as a decimal fraction.
        if usec < 60_000_000 && b > 0 && *unit > 1 {
            let digits = unit.to_string().len() - 1;
            let frac = format!("{b:0digits$}");
            let frac = frac.trim_end_matches('0');
            parts.push(format!("{a}.{frac}{suffix}"));
            break;
        }
        parts.push(format!("{a}{suffix}"));
        t = b;
    }
    parts.join(" ")
}

fn format_timestamp(usec: u64) -> Option<String> {
    if usec == 0 || usec == u64::MAX {
        return None;
    }
    let ts = jiff::Timestamp::from_microsecond(i64::try_from(usec).ok()?).ok()?;
    let z = ts.to_zoned(agent_template::localtime::zone());
    Some(z.strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string())
}

const CAPS: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

fn cap_names(mask: u64) -> String {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(CAPS.len() - 1);
    CAPS.iter()
        .enumerate()
        .filter(|(i, _)| *i <= last && *i < 64 && mask & (1u64 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `t` (u64) property as `systemctl show` prints it.
fn format_u64(name: &str, n: u64) -> Option<String> {
    if name.ends_with("Timestamp") {
        return format_timestamp(n);
    }
    if name.contains("USec") {
        return Some(format_timespan(n));
    }
    if name == "CoredumpFilter" {
        return Some(format!("0x{n:x}"));
    }
    if name == "CapabilityBoundingSet" || name == "AmbientCapabilities" {
        let c = cap_names(n);
        return (!c.is_empty()).then_some(c);
    }
    if name == "RestrictNamespaces" {
        return Some(match n {
            u64::MAX => "no".into(),
            0 => "yes".into(),
            n => n.to_string(),
        });
    }
    if name == "MountFlags" && n == 0 {
        return None;
    }
    if n != u64::MAX {
        return Some(n.to_string());
    }
    let s = if name.starts_with("IP") {
        "[no data]"
    } else if name.ends_with("Weight")
        || name.ends_with("Shares")
        || name.ends_with("NSec")
        || name.ends_with("Current")
        || name.ends_with("Peak")
    {
        "[not set]"
    } else if name.starts_with("Limit")
        || name.starts_with("Memory")
        || name.starts_with("Tasks")
        || name.starts_with("Startup")
        || name.starts_with("Default")
    {
        "infinity"
    } else {
        return Some(n.to_string());
    };
    Some(s.into())
}

/// A string list entry, quoted when it holds characters a shell would mind.
fn quote_item(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,%".contains(c))
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\\\""))
    }
}

/// One property as `systemctl show` prints it; `None` for what it leaves out (empty
/// values, unset timestamps, structures it does not print).
pub fn format_property(name: &str, v: &zbus::zvariant::Value<'_>) -> Option<String> {
    use zbus::zvariant::Value as V;
    let s = match v {
        V::Value(inner) => return format_property(name, inner),
        V::Str(s) => s.as_str().to_string(),
        V::ObjectPath(p) => p.as_str().to_string(),
        V::Signature(s) => s.to_string(),
        V::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        V::U8(n) => n.to_string(),
        V::I16(n) => n.to_string(),
        V::U16(n) => {
            if *n == u16::MAX {
                return None;
            }
            n.to_string()
        }
        V::I32(n) => {
            if *n < 0 && name.ends_with("ExitStatus") {
                return None;
            }
            if *n < 0 && name == "NUMAPolicy" {
                return Some("n/a".into());
            }
            n.to_string()
        }
        V::U32(n) => {
            if name.ends_with("Mode") || name == "UMask" {
                format!("{n:04o}")
            } else if *n == u32::MAX {
                "[not set]".into()
            } else {
                n.to_string()
            }
        }
        V::I64(n) => n.to_string(),
        V::U64(n) => return format_u64(name, *n),
        V::F64(n) => n.to_string(),
        V::Array(a) => {
            let items = a.inner();
            if name.starts_with("Exec") {
                let execs: Vec<String> = items.iter().filter_map(format_exec).collect();
                execs.join(" ")
            } else if items
                .iter()
                .all(|i| matches!(i, V::Str(_) | V::ObjectPath(_)))
            {
                items
                    .iter()
                    .filter_map(|i| match i {
                        V::Str(s) => Some(quote_item(s.as_str())),
                        V::ObjectPath(p) => Some(p.as_str().to_string()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                return None;
            }
        }
        V::Structure(st) if name == "LoadError" => {
            let f = st.fields();
            match (f.first(), f.get(1)) {
                (Some(V::Str(n)), Some(V::Str(m))) if !n.as_str().is_empty() => {
                    format!("{} \"{}\"", n.as_str(), m.as_str())
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// An `ExecStart=` entry (`(sasbttttuii)`, or `(sasasttttuii)` for `Ex` properties):
/// `{ path=... ; argv[]=... ; ignore_errors=no ; start_time=[n/a] ; ... }`.
fn format_exec(v: &zbus::zvariant::Value<'_>) -> Option<String> {
    use zbus::zvariant::Value as V;
    let V::Structure(st) = v else { return None };
    let f = st.fields();
    let strs = |i: usize| match f.get(i) {
        Some(V::Array(a)) => a
            .inner()
            .iter()
            .filter_map(|x| match x {
                V::Str(s) => Some(s.as_str().to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    let path = match f.first() {
        Some(V::Str(s)) => s.as_str().to_string(),
        _ => String::new(),
    };
    let third = match f.get(2) {
        Some(V::Bool(b)) => format!("ignore_errors={}", if *b { "yes" } else { "no" }),
        _ => format!("flags={}", strs(2)),
    };
    let time = |i: usize| match f.get(i) {
        Some(V::U64(n)) => format_timestamp(*n).unwrap_or_else(|| "n/a".into()),
        _ => "n/a".into(),
    };
    let pid = match f.get(7) {
        Some(V::U32(n)) => *n,
        _ => 0,
    };
    let (code, status) = match (f.get(8), f.get(9)) {
        (Some(V::I32(c)), Some(V::I32(st))) => (*c, *st),
        _ => (0, 0),
    };
    let code_s = match code {
        1 => "exited",
        2 => "killed",
        3 => "dumped",
        _ => "(null)",
    };
    let status_s = match (code, status) {
        (1, 0) => "0/SUCCESS".to_string(),
        (1, 1) => "1/FAILURE".to_string(),
        (_, st) => format!("{st}/0"),
    };
    Some(format!(
        "{{ path={path} ; argv[]={} ; {third} ; start_time=[{}] ; stop_time=[{}] ; pid={pid} ; code={code_s} ; status={status_s} }}",
        strs(1),
        time(3),
        time(5),
    ))
}

// ---------------------------------------------------------------------------------
// Offline: unit files and their symlinks, as `systemctl --root=/`.

/// A unit's `[Install]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Install {
    pub wanted_by: Vec<String>,
    pub required_by: Vec<String>,
    pub upheld_by: Vec<String>,
    pub alias: Vec<String>,
    pub also: Vec<String>,
    pub default_instance: Option<String>,
}

impl Install {
    /// Nothing says how to enable it (`static`, or `indirect` with only `Also=`).
    pub fn has_targets(&self) -> bool {
        !(self.wanted_by.is_empty()
            && self.required_by.is_empty()
            && self.upheld_by.is_empty()
            && self.alias.is_empty())
    }
}

/// Parse the `[Install]` section of a unit file: repeated keys add, an empty value
/// resets the list, `#`/`;` start comments, a trailing `\` continues the line.
pub fn parse_install(text: &str) -> Install {
    let mut inst = Install::default();
    let mut in_install = false;
    let mut logical: Vec<String> = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if cur.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(l) = line.strip_suffix('\\') {
            cur.push_str(l);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        logical.push(std::mem::take(&mut cur));
    }
    if !cur.is_empty() {
        logical.push(cur);
    }
    for line in logical {
        let line = line.trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let list = match k.trim() {
            "WantedBy" => &mut inst.wanted_by,
            "RequiredBy" => &mut inst.required_by,
            "UpheldBy" => &mut inst.upheld_by,
            "Alias" => &mut inst.alias,
            "Also" => &mut inst.also,
            "DefaultInstance" => {
                inst.default_instance = (!v.is_empty()).then(|| v.to_string());
                continue;
            }
            _ => continue,
        };
        if v.is_empty() {
            list.clear();
        } else {
            for w in v.split_whitespace() {
                if !list.iter().any(|x| x == w) {
                    list.push(w.to_string());
                }
            }
        }
    }
    inst
}

/// A symlink to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub path: PathBuf,
    pub target: PathBuf,
}

/// `name@instance.service` → (`name@.service`, Some(instance)); `name@.service` →
/// (itself, Some("")); plain names → (itself, None).
pub fn split_instance(unit: &str) -> (String, Option<String>) {
    let Some((prefix, rest)) = unit.split_once('@') else {
        return (unit.to_string(), None);
    };
    match rest.rfind('.') {
        Some(dot) => {
            let (inst, suffix) = rest.split_at(dot);
            (format!("{prefix}@{suffix}"), Some(inst.to_string()))
        }
        None => (unit.to_string(), None),
    }
}

/// Unit files and their links under a root directory (`/` on a real host).
#[derive(Debug, Clone)]
pub struct Offline {
    root: PathBuf,
    /// Search path relative to the root, most important first.
    search: Vec<&'static str>,
}

/// Where enablement links go.
const CONFIG_DIR: &str = "etc/systemd/system";

impl Offline {
    pub fn new(root: impl Into<PathBuf>) -> Offline {
        let root = root.into();
        // Debian's systemd (split-usr build) searches /lib before /usr/lib and links
        // to /lib/systemd/system/...; elsewhere /usr/lib is the place.
        let debian = root.join("etc/debian_version").exists();
        let mut search = vec![
            "etc/systemd/system",
            "run/systemd/system",
            "usr/local/lib/systemd/system",
        ];
        if debian {
            search.push("lib/systemd/system");
        }
        search.push("usr/lib/systemd/system");
        Offline { root, search }
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The path as the host sees it (for link targets).
    fn host_path(&self, rel_dir: &str, name: &str) -> PathBuf {
        Path::new("/").join(rel_dir).join(name)
    }

    fn is_masked_link(p: &Path) -> bool {
        std::fs::read_link(p).is_ok_and(|t| t == Path::new("/dev/null"))
    }

    /// The unit file for `unit` (an instance falls back to its template): (directory
    /// relative to the root, file name). Masks are not unit files.
    pub fn find(&self, unit: &str) -> Option<(&'static str, String)> {
        let (template, inst) = split_instance(unit);
        let mut names = vec![unit.to_string()];
        if inst.is_some_and(|i| !i.is_empty()) {
            names.push(template);
        }
        for name in &names {
            for dir in &self.search {
                let p = self.abs(dir).join(name);
                if Self::is_masked_link(&p) {
                    continue;
                }
                if p.is_file() {
                    return Some((dir, name.clone()));
                }
            }
        }
        None
    }

    fn install_of(&self, unit: &str) -> Option<(PathBuf, Install)> {
        let (dir, file) = self.find(unit)?;
        let text = std::fs::read_to_string(self.abs(dir).join(&file)).ok()?;
        Some((self.host_path(dir, &file), parse_install(&text)))
    }

    /// The link name a `WantedBy=` entry gets for this unit.
    fn enable_name(unit: &str, install: &Install) -> Option<String> {
        let (template, inst) = split_instance(unit);
        match inst.as_deref() {
            Some("") => install
                .default_instance
                .as_ref()
                .map(|d| template.replacen("@.", &format!("@{d}."), 1)),
            _ => Some(unit.to_string()),
        }
    }

    /// The links `enable` would create (existing correct links left out). Also= units
    /// are followed; a missing unit file is an error, as `systemctl enable` says it.
    pub fn plan_enable(&self, unit: &str) -> Result<Vec<Link>, String> {
        let mut links = Vec::new();
        let mut seen = Vec::new();
        self.plan_enable_into(unit, true, &mut links, &mut seen)?;
        links.retain(|l| {
            let real = self.root.join(l.path.strip_prefix("/").unwrap_or(&l.path));
            std::fs::read_link(&real).ok().as_deref() != Some(l.target.as_path())
        });
        Ok(links)
    }

    fn plan_enable_into(
        &self,
        unit: &str,
        top: bool,
        links: &mut Vec<Link>,
        seen: &mut Vec<String>,
    ) -> Result<(), String> {
        if seen.iter().any(|s| s == unit) {
            return Ok(());
        }
        seen.push(unit.to_string());
        if Self::is_masked_link(&self.abs(CONFIG_DIR).join(unit)) {
            return Err(format!("Unit file /{CONFIG_DIR}/{unit} is masked."));
        }
        let Some((target, install)) = self.install_of(unit) else {
            if top {
                return Err(format!("Unit file {unit} does not exist."));
            }
            return Ok(());
        };
        let cfg = Path::new("/").join(CONFIG_DIR);
        if let Some(name) = Self::enable_name(unit, &install) {
            for (list, ext) in [
                (&install.wanted_by, "wants"),
                (&install.required_by, "requires"),
                (&install.upheld_by, "upholds"),
            ] {
                for t in list {
                    links.push(Link {
                        path: cfg.join(format!("{t}.{ext}")).join(&name),
                        target: target.clone(),
                    });
                }
            }
        }
        for a in &install.alias {
            if a != unit {
                links.push(Link {
                    path: cfg.join(a),
                    target: target.clone(),
                });
            }
        }
        for also in &install.also {
            self.plan_enable_into(also, false, links, seen)?;
        }
        Ok(())
    }

    /// The links `disable` would remove: links named after the unit (or its aliases)
    /// in the `.wants`/`.requires`/`.upholds` directories and alias links in
    /// /etc/systemd/system; Also= units likewise.
    pub fn plan_disable(&self, unit: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        self.plan_disable_into(unit, &mut out, &mut seen);
        out
    }

    fn plan_disable_into(&self, unit: &str, out: &mut Vec<PathBuf>, seen: &mut Vec<String>) {
        if seen.iter().any(|s| s == unit) {
            return;
        }
        seen.push(unit.to_string());
        let install = self.install_of(unit).map(|(_, i)| i).unwrap_or_default();
        let mut names = vec![unit.to_string()];
        if let Some(n) = Self::enable_name(unit, &install)
            && !names.contains(&n)
        {
            names.push(n);
        }
        let cfg = self.abs(CONFIG_DIR);
        for a in &install.alias {
            let p = cfg.join(a);
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink())
                && !Self::is_masked_link(&p)
            {
                out.push(Path::new("/").join(CONFIG_DIR).join(a));
            }
        }
        if let Ok(rd) = std::fs::read_dir(&cfg) {
            let mut dirs: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| {
                    n.ends_with(".wants") || n.ends_with(".requires") || n.ends_with(".upholds")
                })
                .collect();
            dirs.sort();
            for d in dirs {
                for n in &names {
                    let p = cfg.join(&d).join(n);
                    if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                        out.push(Path::new("/").join(CONFIG_DIR).join(&d).join(n));
                    }
                }
            }
        }
        for also in &install.also {
            self.plan_disable_into(also, out, seen);
        }
    }

    /// `systemctl is-enabled` computed from the files.
    pub fn unit_file_state(&self, unit: &str) -> Option<String> {
        let (template, _) = split_instance(unit);
        for (dir, masked) in [
            (CONFIG_DIR, "masked"),
            ("run/systemd/system", "masked-runtime"),
        ] {
            for n in [unit, template.as_str()] {
                if Self::is_masked_link(&self.abs(dir).join(n)) {
                    return Some(masked.into());
                }
            }
        }
        let (_, install) = self.install_of(unit)?;
        let name = Self::enable_name(unit, &install).unwrap_or_else(|| unit.to_string());
        for (dir, state) in [
            (CONFIG_DIR, "enabled"),
            ("run/systemd/system", "enabled-runtime"),
        ] {
            let base = self.abs(dir);
            let Ok(rd) = std::fs::read_dir(&base) else {
                continue;
            };
            for e in rd.flatten() {
                let dn = e.file_name().to_string_lossy().into_owned();
                if (dn.ends_with(".wants") || dn.ends_with(".requires") || dn.ends_with(".upholds"))
                    && std::fs::symlink_metadata(base.join(&dn).join(&name)).is_ok()
                {
                    return Some(state.into());
                }
            }
            for a in &install.alias {
                if std::fs::symlink_metadata(base.join(a)).is_ok_and(|m| m.file_type().is_symlink())
                {
                    return Some(state.into());
                }
            }
        }
        Some(
            if install.has_targets() {
                "disabled"
            } else if !install.also.is_empty() {
                "indirect"
            } else {
                "static"
            }
            .into(),
        )
    }

    pub fn unit_files(&self, op: FileOp, unit: &str, force: bool) -> Result<(), String> {
        let fail = |e: String| format!("Failed to {} unit: {e}\n", op.as_str());
        let cfg = self.abs(CONFIG_DIR);
        match op {
            FileOp::Enable => {
                for l in self.plan_enable(unit).map_err(fail)? {
                    let real = self.root.join(l.path.strip_prefix("/").unwrap_or(&l.path));
                    if let Some(dir) = real.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                    }
                    if std::fs::symlink_metadata(&real).is_ok() {
                        if !force {
                            let to = std::fs::read_link(&real)
                                .map(|t| t.display().to_string())
                                .unwrap_or_default();
                            return Err(fail(format!(
                                "File {} already exists and is a symlink to {to}.",
                                l.path.display()
                            )));
                        }
                        std::fs::remove_file(&real).map_err(|e| fail(e.to_string()))?;
                    }
                    std::os::unix::fs::symlink(&l.target, &real)
                        .map_err(|e| fail(format!("{}: {e}", l.path.display())))?;
                }
                Ok(())
            }
            FileOp::Disable => {
                for p in self.plan_disable(unit) {
                    let real = self.root.join(p.strip_prefix("/").unwrap_or(&p));
                    std::fs::remove_file(&real)
                        .map_err(|e| fail(format!("{}: {e}", p.display())))?;
                }
                Ok(())
            }
            FileOp::Mask => {
                let p = cfg.join(unit);
                if Self::is_masked_link(&p) {
                    return Ok(());
                }
                if let Ok(md) = std::fs::symlink_metadata(&p) {
                    if !force || !md.file_type().is_symlink() {
                        return Err(fail(format!("File /{CONFIG_DIR}/{unit} already exists.")));
                    }
                    std::fs::remove_file(&p).map_err(|e| fail(e.to_string()))?;
                }
                std::fs::create_dir_all(&cfg).map_err(|e| fail(e.to_string()))?;
                std::os::unix::fs::symlink("/dev/null", &p).map_err(|e| fail(e.to_string()))
            }
            FileOp::Unmask => {
                let p = cfg.join(unit);
                if Self::is_masked_link(&p) {
                    std::fs::remove_file(&p).map_err(|e| fail(e.to_string()))?;
                }
                Ok(())
            }
        }
    }

    /// Unit files with their states (for service_facts offline).
    pub fn list_unit_files(&self) -> Vec<(String, String)> {
        let mut names: Vec<String> = Vec::new();
        for dir in &self.search {
            if let Ok(rd) = std::fs::read_dir(self.abs(dir)) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if UNIT_SUFFIXES.iter().any(|s| n.ends_with(s)) && !names.contains(&n) {
                        names.push(n);
                    }
                }
            }
        }
        names.sort();
        names
            .into_iter()
            .filter_map(|n| {
                let st = self.unit_file_state(&n)?;
                Some((n, st))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_while_the_same_process_is_there() {
        use std::time::{Duration, Instant};
        let proc = tempfile::tempdir().unwrap();
        let stat = |pid: u32, comm: &str, state: &str, started: u64| {
            let d = proc.path().join(pid.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let rest = "1 2 2 0 -1 4194368 126 0 0 0 0 0 0 0 20 0 1 0";
            std::fs::write(
                d.join("stat"),
                format!("{pid} ({comm}) {state} {rest} {started} 1"),
            )
            .unwrap();
        };
        stat(4, "ansible_test_s", "Z", 500);
        stat(5, "x) Z (y", "R", 700);
        assert_eq!(start_time(proc.path(), 4), Some(500));
        assert_eq!(start_time(proc.path(), 5), Some(700));
        assert_eq!(start_time(proc.path(), 6), None);
        // gone, or its number now names a newer process: no wait
        let begin = Instant::now();
        wait_gone(proc.path(), 6, 500, Duration::from_secs(5));
        wait_gone(proc.path(), 4, 499, Duration::from_secs(5));
        assert!(begin.elapsed() < Duration::from_secs(1));
        // still there (a zombie never reaped, a process that did not end): bounded
        for (pid, started) in [(4, 500), (5, 700)] {
            let begin = Instant::now();
            wait_gone(proc.path(), pid, started, Duration::from_millis(30));
            assert!(begin.elapsed() >= Duration::from_millis(30));
        }
    }

    #[test]
    fn reads_a_real_start_time() {
        let me = std::process::id();
        assert!(start_time(Path::new("/proc"), me).is_some());
    }

    #[test]
    fn read_ahead_answers_are_taken_once_and_forgotten_on_change() {
        // (The only test that touches the read-ahead slot: tests run in parallel.)
        forget_read_ahead();
        let mut show = IndexMap::new();
        show.insert("ActiveState".to_string(), "active".to_string());
        {
            let mut slot = read_ahead_slot();
            let ra = slot.get_or_insert_with(ReadAhead::default);
            ra.shows.insert("a.service".into(), show.clone());
            ra.file_states
                .insert("a.service".into(), Some("enabled".into()));
            ra.shows.insert("b.service".into(), show.clone());
        }
        assert_eq!(take_show("a.service"), Some(show.clone()));
        assert_eq!(take_show("a.service"), None, "taken once");
        assert_eq!(take_file_state("a.service"), Some(Some("enabled".into())));
        assert_eq!(take_show("c.service"), None);
        forget_read_ahead();
        assert_eq!(take_show("b.service"), None, "forgotten after a change");
        // after a change, the units no task has taken yet are read again
        {
            let mut w = wanted();
            w.units = vec!["d.service".into(), "e.service".into()];
            w.again = false;
        }
        assert_eq!(take_show("d.service"), None);
        forget_read_ahead();
        {
            let w = wanted();
            assert_eq!(w.units, vec!["e.service".to_string()], "d was taken");
            assert!(w.again, "the reader is woken");
        }
        let mut w = wanted();
        w.units.clear();
        w.again = false;
    }

    #[test]
    fn units_are_remembered_per_playbook() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(remembered_in(dir.path(), "/p/site.yml"), None);
        let units = vec!["app.service".to_string(), "nginx.service".to_string()];
        remember_in(dir.path(), "/p/site.yml", &units);
        assert_eq!(remembered_in(dir.path(), "/p/site.yml"), Some(units));
        use std::os::unix::fs::PermissionsExt;
        let file = dir.path().join(REMEMBERED_FILE);
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(remembered_in(dir.path(), "/p/other.yml"), None);
        std::fs::write(dir.path().join(REMEMBERED_FILE), "[1,").unwrap();
        assert_eq!(remembered_in(dir.path(), "/p/site.yml"), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn names_are_mangled_like_systemctl() {
        assert_eq!(unit_name("nginx"), "nginx.service");
        assert_eq!(unit_name("nginx.service"), "nginx.service");
        assert_eq!(unit_name("fstrim.timer"), "fstrim.timer");
        assert_eq!(unit_name("getty@tty1"), "getty@tty1.service");
    }

    #[test]
    fn object_paths_are_encoded_like_sd_bus() {
        // the paths systemd itself gives (busctl tree org.freedesktop.systemd1)
        let u = "/org/freedesktop/systemd1/unit/";
        assert_eq!(
            unit_object_path("chrony.service"),
            format!("{u}chrony_2eservice")
        );
        assert_eq!(
            unit_object_path("getty@tty1.service"),
            format!("{u}getty_40tty1_2eservice")
        );
        assert_eq!(
            unit_object_path("systemd-fsck-root.service"),
            format!("{u}systemd_2dfsck_2droot_2eservice")
        );
        assert_eq!(unit_object_path("1x.mount"), format!("{u}_31x_2emount"));
        assert_eq!(unit_object_path(""), format!("{u}_"));
    }

    #[test]
    fn install_section() {
        let text = "[Unit]\nDescription=x\nWantedBy=nope.target\n\n[Install]\n# comment\nWantedBy=multi-user.target\nWantedBy=graphical.target multi-user.target\nRequiredBy=a.target\nAlias=foo.service\nAlso=bar.socket\nDefaultInstance=tty1\n[Service]\nAlias=no\n";
        let i = parse_install(text);
        assert_eq!(i.wanted_by, vec!["multi-user.target", "graphical.target"]);
        assert_eq!(i.required_by, vec!["a.target"]);
        assert_eq!(i.alias, vec!["foo.service"]);
        assert_eq!(i.also, vec!["bar.socket"]);
        assert_eq!(i.default_instance.as_deref(), Some("tty1"));
        assert!(i.has_targets());
        let reset = parse_install(
            "[Install]\nWantedBy=a.target\nWantedBy=\nWantedBy=b.target \\\n  c.target\n",
        );
        assert_eq!(reset.wanted_by, vec!["b.target", "c.target"]);
        let stat = parse_install("[Unit]\nDescription=x\n");
        assert!(!stat.has_targets());
    }

    #[test]
    fn instances() {
        assert_eq!(
            split_instance("getty@tty1.service"),
            ("getty@.service".into(), Some("tty1".into()))
        );
        assert_eq!(
            split_instance("getty@.service"),
            ("getty@.service".into(), Some(String::new()))
        );
        assert_eq!(split_instance("ssh.service"), ("ssh.service".into(), None));
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn offline_enable_disable_mask() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(root, "etc/debian_version", "12\n");
        write(
            root,
            "lib/systemd/system/demo.service",
            "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=demo-alias.service\nAlso=demo.socket\n",
        );
        write(
            root,
            "lib/systemd/system/demo.socket",
            "[Socket]\nListenStream=1\n[Install]\nWantedBy=sockets.target\n",
        );
        write(
            root,
            "usr/lib/systemd/system/static.service",
            "[Service]\nExecStart=/bin/true\n",
        );
        write(
            root,
            "etc/systemd/system/local.service",
            "[Install]\nRequiredBy=x.target\n",
        );
        write(
            root,
            "lib/systemd/system/getty@.service",
            "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
        );
        let o = Offline::new(root);
        assert_eq!(
            o.unit_file_state("demo.service").as_deref(),
            Some("disabled")
        );
        assert_eq!(
            o.unit_file_state("static.service").as_deref(),
            Some("static")
        );
        assert_eq!(o.unit_file_state("missing.service"), None);
        let links = o.plan_enable("demo.service").unwrap();
        let want = |p: &str, t: &str| Link {
            path: PathBuf::from(p),
            target: PathBuf::from(t),
        };
        assert_eq!(
            links,
            vec![
                want(
                    "/etc/systemd/system/multi-user.target.wants/demo.service",
                    "/lib/systemd/system/demo.service"
                ),
                want(
                    "/etc/systemd/system/demo-alias.service",
                    "/lib/systemd/system/demo.service"
                ),
                want(
                    "/etc/systemd/system/sockets.target.wants/demo.socket",
                    "/lib/systemd/system/demo.socket"
                ),
            ]
        );
        assert_eq!(
            o.plan_enable("local.service").unwrap(),
            vec![want(
                "/etc/systemd/system/x.target.requires/local.service",
                "/etc/systemd/system/local.service"
            )]
        );
        assert_eq!(
            o.plan_enable("getty@.service").unwrap(),
            vec![want(
                "/etc/systemd/system/getty.target.wants/getty@tty1.service",
                "/lib/systemd/system/getty@.service"
            )]
        );
        assert_eq!(
            o.plan_enable("getty@tty2.service").unwrap(),
            vec![want(
                "/etc/systemd/system/getty.target.wants/getty@tty2.service",
                "/lib/systemd/system/getty@.service"
            )]
        );
        assert_eq!(
            o.plan_enable("nope.service").unwrap_err(),
            "Unit file nope.service does not exist."
        );

        o.unit_files(FileOp::Enable, "demo.service", false).unwrap();
        assert_eq!(
            o.unit_file_state("demo.service").as_deref(),
            Some("enabled")
        );
        assert_eq!(o.unit_file_state("demo.socket").as_deref(), Some("enabled"));
        assert!(o.plan_enable("demo.service").unwrap().is_empty());
        assert_eq!(
            std::fs::read_link(
                root.join("etc/systemd/system/multi-user.target.wants/demo.service")
            )
            .unwrap(),
            Path::new("/lib/systemd/system/demo.service")
        );

        let gone = o.plan_disable("demo.service");
        assert_eq!(
            gone,
            vec![
                PathBuf::from("/etc/systemd/system/demo-alias.service"),
                PathBuf::from("/etc/systemd/system/multi-user.target.wants/demo.service"),
                PathBuf::from("/etc/systemd/system/sockets.target.wants/demo.socket"),
            ]
        );
        o.unit_files(FileOp::Disable, "demo.service", false)
            .unwrap();
        assert_eq!(
            o.unit_file_state("demo.service").as_deref(),
            Some("disabled")
        );
        assert!(o.plan_disable("demo.service").is_empty());

        o.unit_files(FileOp::Mask, "demo.service", false).unwrap();
        assert_eq!(o.unit_file_state("demo.service").as_deref(), Some("masked"));
        assert_eq!(
            o.plan_enable("demo.service").unwrap_err(),
            "Unit file /etc/systemd/system/demo.service is masked."
        );
        // Masking over a real unit file is refused.
        assert!(o.unit_files(FileOp::Mask, "local.service", false).is_err());
        o.unit_files(FileOp::Unmask, "demo.service", false).unwrap();
        assert_eq!(
            o.unit_file_state("demo.service").as_deref(),
            Some("disabled")
        );
        // A unit that does not exist can be masked (and is then "masked").
        o.unit_files(FileOp::Mask, "ghost.service", false).unwrap();
        assert_eq!(
            o.unit_file_state("ghost.service").as_deref(),
            Some("masked")
        );
        let files = o.list_unit_files();
        assert!(files.contains(&("static.service".into(), "static".into())));
        assert!(files.contains(&("ghost.service".into(), "masked".into())));
    }

    #[test]
    fn show_parsing() {
        let text = "Id=x.service\nExecStart={ path=/bin/sh ; argv[]=/bin/sh -c\necho hi ; ignore_errors=no }\nDescription={ not multi\nActiveState=active\n";
        let m = parse_systemctl_show(text);
        assert_eq!(m["Id"], "x.service");
        assert_eq!(
            m["ExecStart"],
            "{ path=/bin/sh ; argv[]=/bin/sh -c\necho hi ; ignore_errors=no }"
        );
        assert_eq!(m["Description"], "{ not multi");
        assert_eq!(m["ActiveState"], "active");
    }

    #[test]
    fn timespans() {
        assert_eq!(format_timespan(0), "0");
        assert_eq!(format_timespan(u64::MAX), "infinity");
        assert_eq!(format_timespan(90_000_000), "1min 30s");
        assert_eq!(format_timespan(100_000), "100ms");
        assert_eq!(format_timespan(1_500_000), "1.5s");
        assert_eq!(format_timespan(3_600_000_000), "1h");
    }

    #[test]
    fn job_messages() {
        let none = |_: &str| None;
        assert_eq!(job_error("done", "a.service", JobVerb::Start, none), None);
        assert_eq!(
            job_error("failed", "a.service", JobVerb::Start, |_| Some(
                "exit-code".into()
            ))
            .unwrap(),
            "Job for a.service failed because the control process exited with error code.\nSee \"systemctl status a.service\" and \"journalctl -xeu a.service\" for details.\n"
        );
        assert_eq!(
            job_error("dependency", "a.service", JobVerb::Start, none).unwrap(),
            "A dependency job for a.service failed. See 'journalctl -xe' for details.\n"
        );
    }
}
