//! `systemd` collector (systemd.py): `systemd.version` and `systemd.features` from
//! `systemctl --version`, when systemctl is installed and systemd booted the host (the
//! sd_booted canaries). The one collector that runs a program, and it runs it at most
//! once per systemctl binary: the answer is kept in the run directory (the run lock's,
//! see [`set_run_dir`]; /run/agent for root, emptied at boot) under the binary's
//! identity (device, inode, size, mtime, ctime: a package upgrade replaces the file),
//! so later runs read a small file instead of starting a process. A run that will gather
//! facts and finds no kept answer starts asking at once, on a thread of its own
//! ([`prefetch`]), so that the first gathering does not wait for the program.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::{Ctx, Facts};

/// The fact from `systemctl --version`'s output: the second line, and the second word.
pub fn parse(stdout: &str) -> Option<Value> {
    let features = stdout.split('\n').nth(1)?;
    let version: i64 = stdout.split(' ').nth(1)?.trim().parse().ok()?;
    Some(json!({"features": features, "version": version}))
}

enum Pending {
    Asking(std::thread::JoinHandle<Facts>),
    Ready(Facts),
}

static PREFETCHED: std::sync::Mutex<Option<Pending>> = std::sync::Mutex::new(None);
static RUN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The directory where the answer is kept between runs (the run lock's directory). Not
/// set: every run asks systemctl.
pub fn set_run_dir(dir: &Path) {
    let _ = RUN_DIR.set(dir.to_path_buf());
}

const KEPT: &str = "systemd-version.json";

/// Start asking `systemctl --version` on a background thread (or read the kept answer);
/// the next [`collect`] (of this run or the next) takes the answer.
pub fn prefetch() {
    let mut slot = PREFETCHED.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_some() {
        return;
    }
    *slot = match systemctl() {
        None => Some(Pending::Ready(Facts::new())),
        Some(bin) => match kept(&bin) {
            Some(f) => Some(Pending::Ready(f)),
            None => std::thread::Builder::new()
                .name("facts-systemd".into())
                .spawn(move || ask(&bin))
                .ok()
                .map(Pending::Asking),
        },
    };
}

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("systemd", || {
        let pending = PREFETCHED.lock().unwrap_or_else(|p| p.into_inner()).take();
        match pending {
            Some(Pending::Ready(f)) => f,
            Some(Pending::Asking(h)) => h.join().unwrap_or_default(),
            None => match systemctl() {
                None => Facts::new(),
                Some(bin) => kept(&bin).unwrap_or_else(|| ask(&bin)),
            },
        }
    })
}

/// systemctl's path, when it is installed and systemd booted the host.
fn systemctl() -> Option<PathBuf> {
    let bin = crate::util::bin_path("systemctl")?;
    let booted = [
        "/run/systemd/system/",
        "/dev/.run/systemd/",
        "/dev/.systemd/",
    ]
    .iter()
    .any(|c| Path::new(c).exists());
    booted.then_some(bin)
}

/// What identifies one systemctl binary: its path and the file's identity.
fn identity(bin: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(bin).ok()?;
    Some(format!(
        "{} {}:{} {} {}.{} {}.{}",
        bin.display(),
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

/// The answer kept for this very binary, if any (anything unreadable counts as none).
fn kept(bin: &Path) -> Option<Facts> {
    kept_in(RUN_DIR.get()?, bin)
}

fn kept_in(dir: &Path, bin: &Path) -> Option<Facts> {
    let doc: Value = serde_json::from_slice(&crate::kept::read(dir, KEPT)?).ok()?;
    if doc.get("binary")?.as_str()? != identity(bin)? {
        return None;
    }
    let v = doc.get("systemd")?;
    (v.get("version")?.is_i64() && v.get("features")?.is_string()).then(|| {
        let mut f = Facts::new();
        f.insert("systemd".into(), v.clone());
        f
    })
}

/// Keep the answer for later runs: written whole (a temporary file renamed over the old
/// one), or not at all.
fn keep(bin: &Path, v: &Value) {
    if let Some(dir) = RUN_DIR.get() {
        keep_in(dir, bin, v);
    }
}

fn keep_in(dir: &Path, bin: &Path, v: &Value) {
    let Some(id) = identity(bin) else {
        return;
    };
    let doc = json!({"binary": id, "systemd": v});
    if let Err(e) = crate::kept::write(dir, KEPT, doc.to_string().as_bytes()) {
        tracing::debug!(
            "could not keep the systemd version in {}: {e}",
            dir.display()
        );
    }
}

fn ask(bin: &Path) -> Facts {
    let mut f = Facts::new();
    let Ok(out) = std::process::Command::new(bin)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return f;
    };
    if !out.status.success() {
        return f;
    }
    if let Some(v) = parse(&String::from_utf8_lossy(&out.stdout)) {
        keep(bin, &v);
        f.insert("systemd".into(), v);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_version_output() {
        let out =
            "systemd 252 (252.33-1~deb12u1)\n+PAM +AUDIT -APPARMOR default-hierarchy=unified\n";
        assert_eq!(
            parse(out),
            Some(
                json!({"features": "+PAM +AUDIT -APPARMOR default-hierarchy=unified", "version": 252})
            )
        );
        assert_eq!(parse("nonsense"), None);
    }

    #[test]
    fn the_answer_is_kept_for_the_same_binary_only() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("systemctl");
        std::fs::write(&bin, "one").unwrap();
        let v = json!({"features": "+PAM", "version": 252});
        assert!(kept_in(dir.path(), &bin).is_none(), "nothing kept yet");
        keep_in(dir.path(), &bin, &v);
        let f = kept_in(dir.path(), &bin).expect("kept");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEPT))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(f.get("systemd"), Some(&v));
        // an upgrade replaces the binary: a new file, so the answer is asked again
        let new = dir.path().join("systemctl.new");
        std::fs::write(&new, "two!").unwrap();
        std::fs::rename(&new, &bin).unwrap();
        assert!(kept_in(dir.path(), &bin).is_none());
        // a damaged file counts as nothing kept
        keep_in(dir.path(), &bin, &v);
        std::fs::write(dir.path().join(KEPT), "{not json").unwrap();
        assert!(kept_in(dir.path(), &bin).is_none());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file left");
    }
}
