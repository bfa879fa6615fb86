//! Running the system's own tools (useradd, groupmod, crontab ...) to change state:
//! found on PATH (plus the sbin directories) as Ansible's `get_bin_path` finds them, run
//! with the C locale, their output captured.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ModuleError;

/// What a finished tool left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The directories searched, in Ansible's order: PATH, then the sbin directories that
/// exist and are not already there.
fn search_dirs() -> Vec<String> {
    let mut dirs: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(str::to_string)
        .collect();
    for d in ["/sbin", "/usr/sbin", "/usr/local/sbin"] {
        if !dirs.iter().any(|x| x == d) && Path::new(d).exists() {
            dirs.push(d.to_string());
        }
    }
    dirs
}

/// Find an executable as `get_bin_path` does; the error is Ansible's message.
pub fn find_bin(name: &str) -> Result<PathBuf, ModuleError> {
    let dirs = search_dirs();
    for d in dirs.iter().filter(|d| !d.is_empty()) {
        let p = Path::new(d).join(name);
        if let Ok(md) = std::fs::metadata(&p)
            && !md.is_dir()
            && md.permissions().mode() & 0o111 != 0
        {
            return Ok(p);
        }
    }
    Err(ModuleError::new(format!(
        "Failed to find required executable \"{name}\" in paths: {}",
        dirs.join(":")
    )))
}

/// Run `prog` with `args` (no shell), stdin from /dev/null, in the C locale.
pub fn run(prog: &Path, args: &[String]) -> Result<Output, ModuleError> {
    let mut cmd = Command::new(prog);
    super::creds::prepare_command(&mut cmd);
    let out = cmd
        .args(args)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("LC_MESSAGES", "C")
        .stdin(Stdio::null())
        .output();
    // The program may have changed what was read of the host (useradd: the user database).
    agent_template::epoch::touched();
    let out = out.map_err(|e| {
        ModuleError::new(format!("[Errno {}] {e}", e.raw_os_error().unwrap_or(0)))
            .with("rc", 2)
            .with("cmd", prog.display().to_string())
    })?;
    let rc = match out.status.code() {
        Some(c) => c,
        None => -out.status.signal().unwrap_or(0),
    };
    Ok(Output {
        rc,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
