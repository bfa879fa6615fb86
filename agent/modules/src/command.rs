//! The `command` and `shell` modules (one implementation, as in Ansible: `shell` is
//! `command` with `_uses_shell`), and running a process the way Ansible's
//! `run_command` does: Python `shlex` splitting, `$VAR`/`~` expansion, stdin data,
//! output read until the process exits and its pipes go quiet.
//!
//! With `become_user`, the child drops to that user before exec (supplementary groups
//! from /etc/group, then gid, then uid) and gets `HOME`, `USER`, `LOGNAME` and `SHELL`
//! from its passwd entry, as `sudo -H -u USER` would set them; the rest of the
//! environment is kept.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::host::users;
use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

/// Python's `shlex.split` (POSIX mode, no comments).
pub(crate) fn shlex_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err("No escaped character".into()),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Python's `shlex.quote`.
pub(crate) fn shlex_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Python's `os.path.expandvars` over an environment lookup.
pub(crate) fn expandvars(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(b) = after.strip_prefix('{') {
            match b.find('}') {
                Some(j) => (&b[..j], j + 2),
                None => ("", 0),
            }
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        match (len, env(name)) {
            (l, Some(v)) if l > 0 && !name.is_empty() => {
                out.push_str(&v);
                rest = &after[len..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Python's `os.path.expanduser`.
fn expanduser(s: &str, home: Option<&str>) -> String {
    let Some(rest) = s.strip_prefix('~') else {
        return s.to_string();
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let dir = if user.is_empty() {
        home.map(str::to_string)
    } else {
        users::user(user).map(|u| u.home)
    };
    match dir {
        Some(d) => {
            let d = if d.len() > 1 {
                d.trim_end_matches('/')
            } else {
                &d
            };
            format!("{d}{tail}")
        }
        None => s.to_string(),
    }
}

/// Python's `str.splitlines()` (no line ends kept).
pub(crate) fn py_splitlines(s: &str) -> Vec<Value> {
    crate::lineinfile::split_lines_keep(s)
        .into_iter()
        .map(|l| {
            let t = l
                .strip_suffix("\r\n")
                .or_else(|| {
                    l.char_indices()
                        .last()
                        .filter(|(_, c)| {
                            matches!(
                                c,
                                '\n' | '\r'
                                    | '\x0b'
                                    | '\x0c'
                                    | '\x1c'
                                    | '\x1d'
                                    | '\x1e'
                                    | '\u{85}'
                                    | '\u{2028}'
                                    | '\u{2029}'
                            )
                        })
                        .map(|(i, _)| &l[..i])
                })
                .unwrap_or(&l);
            Value::from(t)
        })
        .collect()
}

/// A finished process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CmdOutput {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spawn {
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    pub env: Vec<(String, String)>,
    pub become_user: Option<String>,
}

/// Spawn and wait as Ansible's `run_command` does: output is read until the process
/// has exited and its pipes are closed or quiet for a second (so a background child
/// holding them open does not hang the task). `Err` carries the spawn error.
pub(crate) fn spawn(s: &Spawn) -> Result<Result<CmdOutput, std::io::Error>, ModuleError> {
    let Some((prog, rest)) = s.argv.split_first() else {
        return Err(ModuleError::new("no command given"));
    };
    let mut cmd = std::process::Command::new(prog);
    cmd.args(rest)
        .stdin(if s.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &s.env {
        cmd.env(k, v);
    }
    if let Some(d) = &s.cwd
        && d.is_dir()
    {
        cmd.current_dir(d);
    }
    match &s.become_user {
        Some(u) => crate::host::creds::Identity::lookup(u)?.apply_to(&mut cmd),
        None => crate::host::creds::prepare_command(&mut cmd),
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    if let (Some(data), Some(mut stdin)) = (s.stdin.clone(), child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let (tx, rx) = mpsc::channel::<(bool, Option<Vec<u8>>)>();
    let readers: Vec<(bool, Box<dyn Read + Send>)> = [
        child
            .stdout
            .take()
            .map(|o| (true, Box::new(o) as Box<dyn Read + Send>)),
        child
            .stderr
            .take()
            .map(|e| (false, Box::new(e) as Box<dyn Read + Send>)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut open = readers.len();
    for (is_out, mut r) in readers {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 32768];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send((is_out, None));
                        break;
                    }
                    Ok(n) => {
                        if tx.send((is_out, Some(buf[..n].to_vec()))).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(tx);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while open > 0 {
        // The task's `timeout`: the command is killed when it passes.
        let wait = match crate::deadline::remaining() {
            Some(left) if left.is_zero() => {
                let _ = child.kill();
                break;
            }
            Some(left) => left.min(Duration::from_secs(1)),
            None => Duration::from_secs(1),
        };
        match rx.recv_timeout(wait) {
            Ok((is_out, Some(chunk))) => {
                if is_out {
                    out.extend_from_slice(&chunk);
                } else {
                    err.extend_from_slice(&chunk);
                }
            }
            Ok((_, None)) => open -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child
        .wait()
        .map_err(|e| ModuleError::new(format!("Error waiting for command: {e}")));
    // The command may have changed what was read of the host (users, the time zone).
    agent_template::epoch::touched();
    let status = status?;
    let rc = status
        .code()
        .unwrap_or_else(|| -status.signal().unwrap_or(0));
    Ok(Ok(CmdOutput {
        rc,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }))
}

/// Run a command line (not through a shell; `$VAR` and `~` expanded), as Ansible's
/// `run_command(string)` does for `validate`.
pub(crate) fn run_simple(cmdline: &str) -> Result<CmdOutput, ModuleError> {
    let argv = shlex_split(cmdline)
        .map_err(|e| ModuleError::new(format!("Invalid command syntax in run_command: {e}")))?;
    let home = std::env::var("HOME").ok();
    let argv = argv
        .iter()
        .map(|a| expanduser(&expandvars(a, &|k| std::env::var(k).ok()), home.as_deref()))
        .collect();
    let s = Spawn {
        argv,
        ..Spawn::default()
    };
    spawn(&s)?.map_err(|e| {
        ModuleError::new(format!("Error executing command: {e}"))
            .with("rc", e.raw_os_error().unwrap_or(257))
    })
}

/// `datetime.now()` as Python's `str()` prints it, and the timestamp in µs.
fn now() -> (String, i64) {
    let z = jiff::Timestamp::now().to_zoned(agent_template::localtime::zone());
    let micros = z.subsec_nanosecond() / 1000;
    let mut s = z.strftime("%Y-%m-%d %H:%M:%S").to_string();
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    (s, z.timestamp().as_microsecond())
}

/// A `timedelta` as Python's `str()` prints it.
fn format_delta(micros: i64) -> String {
    let micros = micros.max(0);
    let days = micros / 86_400_000_000;
    let rem = micros % 86_400_000_000;
    let secs = rem / 1_000_000;
    let frac = rem % 1_000_000;
    let mut s = String::new();
    if days > 0 {
        s.push_str(&format!("{days} day{}, ", if days == 1 { "" } else { "s" }));
    }
    s.push_str(&format!(
        "{}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    if frac != 0 {
        s.push_str(&format!(".{frac:06}"));
    }
    s
}

const COMMON: &[Arg] = &[
    Arg::str("_raw_params"),
    Arg::bool("_uses_shell", false),
    Arg::str("cmd"),
    Arg::new("argv", crate::spec::Ty::List),
    Arg::path("chdir"),
    Arg::str("executable"),
    Arg::path("creates"),
    Arg::path("removes"),
    Arg::str("stdin"),
    Arg::bool("stdin_add_newline", true),
    Arg::bool("strip_empty_ends", true),
];

const COMMAND_ONLY: &[Arg] = &[Arg::bool("expand_argument_vars", true)];

/// `shell` accepts `expand_argument_vars` only to refuse it when the task runs, with the
/// message of Ansible's shell action.
const SHELL_ONLY: &[Arg] = &[Arg::new("expand_argument_vars", crate::spec::Ty::Raw)];

/// What to run, worked out from the parameters.
#[derive(Debug, Clone)]
enum Cmd {
    /// Run directly (`command`).
    Argv(Vec<String>),
    /// Run through a shell (`shell`): the command string and the shell.
    Shell(String, Option<String>),
}

/// What observe learns: `creates`/`removes` may settle that nothing runs.
#[derive(Debug)]
pub struct CmdObserved {
    cmd: Cmd,
    /// `cmd` as Ansible reports it (a list for command, a string for shell).
    cmd_value: Value,
    chdir: Option<PathBuf>,
    /// `(msg tail, stdout)` when creates/removes say not to run.
    settled: Option<(String, String)>,
    warnings: Vec<Value>,
}

/// The one operation: run the command.
#[derive(Debug)]
pub enum CmdOp {
    Run,
}

/// `glob.glob(pattern)` is not empty, relative patterns from `cwd`.
fn glob_any(pattern: &str, cwd: Option<&Path>) -> bool {
    let full = match cwd {
        Some(d) if !pattern.starts_with('/') => d.join(pattern).display().to_string(),
        _ => pattern.to_string(),
    };
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    if !full.contains(['*', '?', '[']) {
        return std::fs::symlink_metadata(&full).is_ok();
    }
    match glob::glob_with(&full, opts) {
        Ok(mut paths) => paths.any(|p| p.is_ok()),
        Err(_) => false,
    }
}

/// The environment the module's process has: ours, then the task's.
fn merged_env(ctx: &Ctx<'_>) -> impl Fn(&str) -> Option<String> {
    let task: Vec<(String, String)> = ctx.environment.to_vec();
    move |k: &str| {
        task.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(k).ok())
    }
}

fn observe_cmd(args: &Args, ctx: &Ctx<'_>, shell: bool) -> Result<CmdObserved, ModuleError> {
    if shell && args.is_set("expand_argument_vars") {
        return Err(ModuleError::new(
            "Unsupported parameters for (shell) module: expand_argument_vars",
        ));
    }
    let given: Vec<&str> = ["_raw_params", "cmd", "argv"]
        .into_iter()
        .filter(|n| args.is_set(n))
        .collect();
    if given.len() > 1 {
        return Err(ModuleError::new(
            "parameters are mutually exclusive: _raw_params|cmd|argv",
        ));
    }
    if given.is_empty() {
        return Err(ModuleError::new(
            "one of the following is required: _raw_params, argv, cmd",
        ));
    }
    let shell = shell || args.bool("_uses_shell");
    let mut warnings = Vec::new();
    let mut executable = args.string("executable");
    if !shell && let Some(e) = executable.take() {
        warnings.push(Value::from(format!(
            "As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '{e}'."
        )));
    }
    let raw = args
        .str("_raw_params")
        .filter(|s| !s.is_empty())
        .or_else(|| args.str("cmd").filter(|s| !s.is_empty()));
    let argv = args.list_str("argv");
    let (cmd, cmd_value) = match raw {
        Some(s) if shell => (Cmd::Shell(s.to_string(), executable), Value::from(s)),
        Some(s) => {
            let v = shlex_split(s).map_err(|e| {
                ModuleError::new(format!("Invalid command syntax: {e}")).with("cmd", s)
            })?;
            let value = Value::from(
                v.iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect::<Vec<_>>(),
            );
            (Cmd::Argv(v), value)
        }
        None => {
            let value = Value::from(
                argv.iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect::<Vec<_>>(),
            );
            if argv.is_empty() {
                return Err(ModuleError::new("no command given").with("rc", 256));
            }
            if shell {
                let joined: Vec<String> = argv.iter().map(|a| shlex_quote(a)).collect();
                (Cmd::Shell(joined.join(" "), executable), value)
            } else {
                (Cmd::Argv(argv), value)
            }
        }
    };
    let chdir = args.str("chdir").map(PathBuf::from);
    if let Some(d) = &chdir
        && !d.is_dir()
    {
        return Err(
            ModuleError::new("Unable to change directory before execution.")
                .with("cmd", cmd_value.clone())
                .with("stdout", "")
                .with("stderr", "")
                .with("stdout_lines", Value::from(Vec::<Value>::new()))
                .with("stderr_lines", Value::from(Vec::<Value>::new()))
                .with("changed", false),
        );
    }
    let shoulda = if ctx.check_mode { "Would" } else { "Did" };
    let mut settled = None;
    if let Some(c) = args.str("creates")
        && glob_any(c, chdir.as_deref())
    {
        settled = Some((
            format!("{shoulda} not run command since '{c}' exists"),
            format!("skipped, since {c} exists"),
        ));
    }
    if settled.is_none()
        && let Some(r) = args.str("removes")
        && !glob_any(r, chdir.as_deref())
    {
        settled = Some((
            format!("{shoulda} not run command since '{r}' does not exist"),
            format!("skipped, since {r} does not exist"),
        ));
    }
    Ok(CmdObserved {
        cmd,
        cmd_value,
        chdir,
        settled,
        warnings,
    })
}

fn plan_cmd(args: &Args, o: &CmdObserved, ctx: &Ctx<'_>) -> Plan<CmdOp> {
    let mut plan = Plan::default();
    if !o.warnings.is_empty() {
        plan.set("warnings", Value::from(o.warnings.clone()));
    }
    plan.set("cmd", o.cmd_value.clone());
    let none = || Value::from(());
    if let Some((msg, stdout)) = &o.settled {
        plan.set("changed", false);
        plan.set("stdout", stdout.as_str());
        plan.set("stderr", "");
        plan.set("rc", 0);
        plan.set("start", none());
        plan.set("end", none());
        plan.set("delta", none());
        plan.set("msg", msg.as_str());
        plan.set("stdout_lines", Value::from(py_splitlines(stdout)));
        plan.set("stderr_lines", Value::from(Vec::<Value>::new()));
        return plan;
    }
    plan.ops.push(CmdOp::Run);
    if ctx.check_mode {
        plan.set("stdout", "");
        plan.set("stderr", "");
        plan.set("rc", 0);
        plan.set("start", none());
        plan.set("end", none());
        plan.set("delta", none());
        plan.set("msg", "Command would have run if not in check mode");
        if !args.is_set("creates") && !args.is_set("removes") {
            plan.set("skipped", true);
            plan.set("changed", false);
        }
        plan.set("stdout_lines", Value::from(Vec::<Value>::new()));
        plan.set("stderr_lines", Value::from(Vec::<Value>::new()));
    }
    plan
}

fn apply_cmd(args: &Args, o: &CmdObserved, ctx: &Ctx<'_>) -> Result<ResultMap, ModuleError> {
    let env = merged_env(ctx);
    let argv = match &o.cmd {
        Cmd::Argv(v) => {
            if args.opt_bool("expand_argument_vars").unwrap_or(true) {
                let home = env("HOME");
                v.iter()
                    .map(|a| expanduser(&expandvars(a, &env), home.as_deref()))
                    .collect()
            } else {
                v.clone()
            }
        }
        Cmd::Shell(s, exe) => vec![
            exe.clone().unwrap_or_else(|| "/bin/sh".into()),
            "-c".into(),
            s.clone(),
        ],
    };
    let stdin = args.str("stdin").filter(|s| !s.is_empty()).map(|s| {
        let mut d = s.as_bytes().to_vec();
        if args.bool("stdin_add_newline") {
            d.push(b'\n');
        }
        d
    });
    let spawn_args = Spawn {
        argv,
        cwd: o.chdir.clone(),
        stdin,
        env: ctx.environment.to_vec(),
        become_user: ctx.become_user.map(str::to_string),
    };
    let (start, t0) = now();
    let out = match spawn(&spawn_args)? {
        Ok(out) => out,
        Err(e) => {
            let clean = match &o.cmd {
                Cmd::Argv(v) => v
                    .iter()
                    .map(|a| shlex_quote(a))
                    .collect::<Vec<_>>()
                    .join(" "),
                Cmd::Shell(s, _) => s.clone(),
            };
            return Err(ModuleError::new("Error executing command.")
                .with("rc", e.raw_os_error().unwrap_or(257))
                .with("cmd", clean)
                .with("stdout", "")
                .with("stderr", "")
                .with("stdout_lines", Value::from(Vec::<Value>::new()))
                .with("stderr_lines", Value::from(Vec::<Value>::new()))
                .with("changed", false)
                .with("details", e.to_string()));
        }
    };
    let (end, t1) = now();
    let (mut stdout, mut stderr) = (out.stdout, out.stderr);
    if args.bool("strip_empty_ends") {
        stdout = stdout.trim_end_matches(['\r', '\n']).to_string();
        stderr = stderr.trim_end_matches(['\r', '\n']).to_string();
    }
    let mut r = ResultMap::new();
    r.insert("changed".into(), Value::from(true));
    r.insert("stdout".into(), Value::from(stdout.as_str()));
    r.insert("stderr".into(), Value::from(stderr.as_str()));
    r.insert("rc".into(), Value::from(out.rc));
    r.insert("cmd".into(), o.cmd_value.clone());
    r.insert("start".into(), Value::from(start));
    r.insert("end".into(), Value::from(end));
    r.insert("delta".into(), Value::from(format_delta(t1 - t0)));
    r.insert("msg".into(), Value::from(""));
    r.insert("stdout_lines".into(), Value::from(py_splitlines(&stdout)));
    r.insert("stderr_lines".into(), Value::from(py_splitlines(&stderr)));
    if out.rc != 0 {
        let mut e = ModuleError::new("The command exited with a non-zero return code.");
        r.shift_remove("msg");
        e.fields = r;
        return Err(e);
    }
    Ok(r)
}

pub struct Command;

impl Module for Command {
    const SPECS: &'static [&'static [Arg]] = &[COMMON, COMMAND_ONLY];
    type Observed = CmdObserved;
    type Op = CmdOp;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<CmdObserved, ModuleError> {
        observe_cmd(args, ctx, false)
    }

    fn plan(args: &Args, o: &CmdObserved, ctx: &Ctx<'_>) -> Result<Plan<CmdOp>, ModuleError> {
        Ok(plan_cmd(args, o, ctx))
    }

    fn apply(
        args: &Args,
        o: CmdObserved,
        _plan: &Plan<CmdOp>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        apply_cmd(args, &o, ctx)
    }
}

/// The `shell` module: `command` through `/bin/sh -c` (or `executable -c`).
pub struct Shell;

impl Module for Shell {
    const SPECS: &'static [&'static [Arg]] = &[COMMON, SHELL_ONLY];
    type Observed = CmdObserved;
    type Op = CmdOp;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<CmdObserved, ModuleError> {
        observe_cmd(args, ctx, true)
    }

    fn plan(args: &Args, o: &CmdObserved, ctx: &Ctx<'_>) -> Result<Plan<CmdOp>, ModuleError> {
        Ok(plan_cmd(args, o, ctx))
    }

    fn apply(
        args: &Args,
        o: CmdObserved,
        _plan: &Plan<CmdOp>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        apply_cmd(args, &o, ctx)
    }
}

/// The `raw` module: the string through `/bin/sh -c` (or `executable -c`) as Ansible's
/// `raw` action runs it — output not stripped, always `changed`, a non-zero exit a failure
/// with `non-zero return code`, skipped in check mode; no `creates`/`removes`/`chdir`.
pub struct Raw;

const RAW: &[Arg] = &[Arg::str("_raw_params").required(), Arg::str("executable")];

impl Module for Raw {
    const SPECS: &'static [&'static [Arg]] = &[RAW];
    type Observed = String;
    type Op = CmdOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<String, ModuleError> {
        Ok(args.str("_raw_params").unwrap_or_default().to_string())
    }

    fn plan(_args: &Args, _o: &String, ctx: &Ctx<'_>) -> Result<Plan<CmdOp>, ModuleError> {
        let mut plan = Plan::default();
        plan.ops.push(CmdOp::Run);
        if ctx.check_mode {
            plan.set("skipped", true);
            plan.set("changed", false);
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: String,
        _plan: &Plan<CmdOp>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let exe = args
            .str("executable")
            .filter(|e| !e.is_empty())
            .unwrap_or("/bin/sh");
        let out = spawn(&Spawn {
            argv: vec![exe.to_string(), "-c".into(), o],
            become_user: ctx.become_user.map(str::to_string),
            ..Spawn::default()
        })?
        .map_err(|e| ModuleError::new(format!("Failed to run {exe}: {e}")).with("rc", 127))?;
        let mut r = ResultMap::new();
        r.insert("rc".into(), Value::from(out.rc));
        r.insert("stdout".into(), Value::from(out.stdout.as_str()));
        r.insert(
            "stdout_lines".into(),
            Value::from(py_splitlines(&out.stdout)),
        );
        r.insert("stderr".into(), Value::from(out.stderr.as_str()));
        r.insert(
            "stderr_lines".into(),
            Value::from(py_splitlines(&out.stderr)),
        );
        r.insert("changed".into(), Value::from(true));
        if out.rc != 0 {
            let mut e = ModuleError::new("non-zero return code");
            e.fields = r;
            return Err(e);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(cmd: &str, check: bool) -> Result<ResultMap, ModuleError> {
        let mut a = indexmap::IndexMap::new();
        a.insert("_raw_params".to_string(), Value::from(cmd));
        crate::testctx::with_ctx(check, |ctx| crate::run::<Raw>("raw", &a, ctx))
    }

    #[test]
    fn raw_runs_through_the_shell_unstripped_and_fails_on_a_non_zero_exit() {
        let r = raw("echo out; echo err >&2", false).unwrap();
        assert_eq!(r.get("stdout"), Some(&Value::from("out\n")));
        assert_eq!(r.get("stderr"), Some(&Value::from("err\n")));
        assert_eq!(r.get("rc"), Some(&Value::from(0)));
        assert_eq!(r.get("changed"), Some(&Value::from(true)));
        assert_eq!(
            r.get("stdout_lines").map(|v| v.to_string()),
            Some("['out']".to_string())
        );
        let e = raw("echo x; exit 3", false).unwrap_err();
        assert_eq!(e.msg, "non-zero return code");
        assert_eq!(e.fields.get("rc"), Some(&Value::from(3)));
        assert_eq!(e.fields.get("changed"), Some(&Value::from(true)));
        // Check mode: skipped, nothing run (the file would be made otherwise).
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("made");
        let r = raw(&format!("touch {}", f.display()), true).unwrap();
        assert_eq!(r.get("skipped"), Some(&Value::from(true)));
        assert!(!f.exists());
    }

    #[test]
    fn shell_refuses_expand_argument_vars_when_run() {
        let args = crate::test_support::args_of::<Shell>(&[
            ("_raw_params", Value::from("echo hi")),
            ("expand_argument_vars", Value::from(false)),
        ]);
        let err = crate::testctx::with_ctx(true, |ctx| Shell::observe(&args, ctx).err());
        assert_eq!(
            err.map(|e| e.msg),
            Some("Unsupported parameters for (shell) module: expand_argument_vars".to_string())
        );
    }

    #[test]
    fn shlex_like_python() {
        assert_eq!(
            shlex_split(r#"echo "a b" 'c d' e\ f "x\"y\n""#).unwrap(),
            vec!["echo", "a b", "c d", "e f", "x\"y\\n"]
        );
        assert_eq!(shlex_split("a ''").unwrap(), vec!["a", ""]);
        assert_eq!(shlex_split("  ").unwrap(), Vec::<String>::new());
        assert_eq!(shlex_split("'a").unwrap_err(), "No closing quotation");
        assert_eq!(shlex_quote("a b"), "'a b'");
        assert_eq!(shlex_quote("it's"), r#"'it'"'"'s'"#);
    }

    #[test]
    fn expansion_like_python() {
        let env = |k: &str| (k == "X").then(|| "1".to_string());
        assert_eq!(expandvars("$X-${X}-$Y-${Y}-$", &env), "1-1-$Y-${Y}-$");
        assert_eq!(expanduser("~/a", Some("/h")), "/h/a");
        assert_eq!(expanduser("a~", Some("/h")), "a~");
    }

    #[test]
    fn delta_and_lines() {
        assert_eq!(format_delta(5971), "0:00:00.005971");
        assert_eq!(format_delta(3_661_000_000), "1:01:01");
        assert_eq!(format_delta(86_400_000_001), "1 day, 0:00:00.000001");
        assert_eq!(
            py_splitlines("a\r\nb\n\nc"),
            vec![
                Value::from("a"),
                Value::from("b"),
                Value::from(""),
                Value::from("c")
            ]
        );
    }

    #[test]
    fn spawn_reads_output_and_stdin() {
        let out = spawn(&Spawn {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "cat; echo err >&2; exit 3".into(),
            ],
            stdin: Some(b"hi\n".to_vec()),
            ..Spawn::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(out.rc, 3);
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn background_child_does_not_hang() {
        let t = std::time::Instant::now();
        let out = spawn(&Spawn {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "sleep 20 & echo started".into(),
            ],
            ..Spawn::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(out.stdout, "started\n");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
