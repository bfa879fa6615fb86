//! Kernel modules: what is loaded (/proc/modules, modules.builtin).

use std::path::PathBuf;

/// Whether kernel module `name` is loaded or built in, as community.general.modprobe
/// decides: a `/proc/modules` line (with `-` read as `_`), else a line of
/// `/lib/modules/RELEASE/modules.builtin` ending in `/NAME.ko`. An unreadable file is an
/// error (Ansible fails then too).
pub fn loaded(name: &str) -> Result<bool, String> {
    let prefix = format!("{} ", name.replace('-', "_"));
    let procs =
        std::fs::read_to_string("/proc/modules").map_err(|e| errno_msg(&e, "/proc/modules"))?;
    if procs.lines().any(|l| l.starts_with(&prefix)) {
        return Ok(true);
    }
    let builtin = builtin_path();
    let text = std::fs::read_to_string(&builtin)
        .map_err(|e| errno_msg(&e, &builtin.display().to_string()))?;
    let suffix = format!("/{name}.ko");
    Ok(text.lines().any(|l| l.trim_end().ends_with(&suffix)))
}

fn builtin_path() -> PathBuf {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    PathBuf::from("/lib/modules")
        .join(release)
        .join("modules.builtin")
}

/// Python's `str(OSError)`: `[Errno 2] No such file or directory: 'PATH'`.
pub fn errno_msg(e: &std::io::Error, path: &str) -> String {
    let code = e.raw_os_error().unwrap_or(0);
    let text = nix::errno::Errno::from_raw(code).desc();
    format!("[Errno {code}] {text}: '{path}'")
}
