//! Running helper programs (modprobe, hostname tools, ...): finding them as Ansible's
//! `get_bin_path` does and running them as its `run_command` does.

use std::path::{Path, PathBuf};

use crate::ModuleError;
use crate::command::{CmdOutput, Spawn, spawn};

/// Ansible's `get_bin_path`: `PATH`, then the sbin directories.
pub fn bin_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let extra = ["/sbin", "/usr/sbin", "/usr/local/sbin"];
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(extra)
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
}

/// [`bin_path`], failing with Ansible's message when the program is missing.
pub fn require_bin(name: &str) -> Result<PathBuf, ModuleError> {
    bin_path(name).ok_or_else(|| {
        ModuleError::new(format!(
            "Failed to find required executable \"{name}\" in paths: {}",
            std::env::var("PATH").unwrap_or_default()
        ))
    })
}

/// Run `argv` (no shell) and wait for it.
pub(crate) fn run(argv: &[String]) -> Result<CmdOutput, ModuleError> {
    let s = Spawn {
        argv: argv.to_vec(),
        ..Spawn::default()
    };
    spawn(&s)?.map_err(|e| {
        ModuleError::new(format!("[Errno {}] {e}", e.raw_os_error().unwrap_or(0)))
            .with("rc", e.raw_os_error().unwrap_or(257))
    })
}

/// Ansible's `ServiceMgrFactCollector.is_systemd_managed`: systemctl exists and systemd
/// runs (one of its runtime directories exists).
pub fn systemd_managed() -> bool {
    bin_path("systemctl").is_some()
        && [
            "/run/systemd/system/",
            "/dev/.run/systemd/",
            "/dev/.systemd/",
        ]
        .iter()
        .any(|p| Path::new(p).exists())
}

/// Run `argv` in `cwd` with `env` added (git runs with the C locale, as in Ansible).
pub(crate) fn run_in(
    argv: &[String],
    cwd: Option<&Path>,
    env: &[(&str, &str)],
) -> Result<CmdOutput, ModuleError> {
    let s = Spawn {
        argv: argv.to_vec(),
        cwd: cwd.map(Path::to_path_buf),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Spawn::default()
    };
    spawn(&s)?.map_err(|e| {
        ModuleError::new(format!("[Errno {}] {e}", e.raw_os_error().unwrap_or(0)))
            .with("rc", e.raw_os_error().unwrap_or(257))
    })
}
