//! One run at a time: `apply`, `check` and `pull` hold an exclusive flock(2) on the run
//! lock (`/run/agent/agent.lock`; `lock_file` in agent.toml, `AGENT_LOCK_FILE`) for the
//! whole run. A second run exits at once with exit code 3, naming the lock and the PID
//! that holds it, or waits with `--wait[=SECONDS]`.
//!
//! The kernel drops a flock when its holder dies, SIGKILL included, so a lock is never
//! stale: the file stays (removing it would let two runs lock two different inodes) and
//! only tells who held it last.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_source::Config;
use agent_source::config::{DEFAULT_PATH, LOCK_FILE_ENV, Origin};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::libc;

/// How long to wait for a lock that another run holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Give up at once (the default).
    No,
    For(Duration),
    Forever,
}

impl Wait {
    /// From `--wait[=SECONDS]`: absent, given without a value, given with one.
    pub fn from_flag(flag: Option<Option<u64>>) -> Wait {
        match flag {
            None => Wait::No,
            Some(None) => Wait::Forever,
            Some(Some(s)) => Wait::For(Duration::from_secs(s)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another agent run holds the lock {} ({}){}; not running (`--wait[=SECONDS]` waits for it)",
        path.display(),
        holder(*pid),
        after(waited)
    )]
    Held {
        path: PathBuf,
        pid: Option<u32>,
        waited: Option<Duration>,
    },
    #[error("cannot take the run lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("interrupted by {signal} while waiting for the run lock {}", path.display())]
    Interrupted { path: PathBuf, signal: &'static str },
}

fn after(waited: &Option<Duration>) -> String {
    waited
        .map(|w| format!(" after waiting {} s", w.as_secs()))
        .unwrap_or_default()
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("PID {p}"),
        None => "PID not written yet".into(),
    }
}

/// The lock, held until dropped (or until the process ends, however it ends).
#[derive(Debug)]
pub struct RunLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl RunLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock path for a run with this configuration file: `AGENT_LOCK_FILE`, else
/// `lock_file` in the file, else the default. A configuration file that cannot be read
/// does not stop a run that was given a playbook: its lock is then the default one (a
/// run that needs the file reports the error itself, later).
pub fn path_for_config(config: &Path) -> PathBuf {
    let required = config != Path::new(DEFAULT_PATH);
    let mut cfg = Config::load(config, required).unwrap_or_else(|e| {
        tracing::debug!("run lock: {e}; using the default lock path");
        Config::default()
    });
    cfg.lock_file_from_env(std::env::var(LOCK_FILE_ENV).ok().as_deref());
    effective_path(&cfg)
}

/// The configured lock path, except that a user other than root who did not configure
/// one locks in their own runtime directory (`$XDG_RUNTIME_DIR/agent/agent.lock`, else
/// `<tmp>/agent-<uid>/agent.lock`): /run/agent belongs to root.
pub fn effective_path(cfg: &Config) -> PathBuf {
    if cfg.lock_file.origin != Origin::Default || nix::unistd::geteuid().is_root() {
        return cfg.lock_file.value.clone();
    }
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("agent"),
        None => std::env::temp_dir().join(format!("agent-{}", nix::unistd::geteuid())),
    };
    dir.join("agent.lock")
}

/// Create the lock's directory: 0755 under /run (the PID in the file is no secret),
/// 0700 for a per-user directory elsewhere, which must then be the user's own.
fn make_dir(path: &Path) -> std::io::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let root = nix::unistd::geteuid().is_root();
    let mode = if root { 0o755 } else { 0o700 };
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    if !root {
        let m = std::fs::symlink_metadata(dir)?;
        let uid = nix::unistd::geteuid().as_raw();
        if m.file_type().is_symlink() || !m.is_dir() || (m.uid() != uid && m.uid() != 0) {
            return Err(std::io::Error::other(format!(
                "{} is not a directory of this user",
                dir.display()
            )));
        }
    }
    Ok(())
}

fn open(path: &Path) -> std::io::Result<File> {
    make_dir(path)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The PID the holder wrote into the file, if it did.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    let mut f = file.try_clone().ok()?;
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0)).ok()?;
    f.take(64).read_to_string(&mut s).ok()?;
    s.trim().parse().ok().filter(|p| *p > 0)
}

/// Take the lock. `stop` is polled while waiting (a signal ends the wait).
pub fn acquire(
    path: &Path,
    wait: Wait,
    stop: &dyn Fn() -> Option<&'static str>,
) -> Result<RunLock, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = open(path).map_err(io)?;
    let start = Instant::now();
    let mut announced = false;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => {
                let pid = format!("{}\n", std::process::id());
                locked.set_len(0).map_err(io)?;
                locked.write_all_at(pid.as_bytes(), 0).map_err(io)?;
                tracing::debug!("run lock {} taken", path.display());
                return Ok(RunLock {
                    _file: locked,
                    path: path.to_path_buf(),
                });
            }
            Err((f, Errno::EINTR)) => file = f,
            Err((mut f, Errno::EWOULDBLOCK)) => {
                let pid = read_pid(&mut f);
                let held = |waited| LockError::Held {
                    path: path.to_path_buf(),
                    pid,
                    waited,
                };
                let left = match wait {
                    Wait::No => return Err(held(None)),
                    Wait::Forever => Duration::from_millis(100),
                    Wait::For(d) => match d.checked_sub(start.elapsed()) {
                        Some(l) if !l.is_zero() => l.min(Duration::from_millis(100)),
                        _ => return Err(held(Some(d))),
                    },
                };
                if let Some(signal) = stop() {
                    return Err(LockError::Interrupted {
                        path: path.to_path_buf(),
                        signal,
                    });
                }
                if !announced {
                    announced = true;
                    eprintln!(
                        "waiting for the run lock {} ({})",
                        path.display(),
                        holder(pid)
                    );
                }
                std::thread::sleep(left);
                file = f;
            }
            Err((_, e)) => return Err(io(std::io::Error::from(e))),
        }
    }
}

/// The start of `apply`, `check` and `pull`: install the SIGTERM/SIGINT handlers and
/// take the run lock (unless the command only inspects). `Err` is the exit code to end
/// with, the reason printed: 3 when another run holds the lock, 1 otherwise.
pub fn start(
    inspect_only: bool,
    config: &Path,
    wait: Option<Option<u64>>,
) -> Result<Option<RunLock>, i32> {
    if inspect_only {
        return Ok(None);
    }
    if let Err(e) = crate::signals::install() {
        tracing::warn!("cannot handle SIGTERM/SIGINT: {e}");
    }
    let path = path_for_config(config);
    match acquire(&path, Wait::from_flag(wait), &crate::signals::received) {
        Ok(l) => {
            // the run directory also keeps what does not change while the host runs
            // (the systemd version, asked of systemctl once per binary)
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                agent_facts::set_systemd_run_dir(dir);
                agent_modules::host::systemd::set_run_dir(dir);
            }
            Ok(Some(l))
        }
        Err(e) => {
            eprintln!("ERROR! {e}");
            Err(match e {
                LockError::Held { .. } => crate::cli::exit::LOCKED,
                _ => crate::cli::exit::FAILED,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Option<&'static str> {
        None
    }

    #[test]
    fn second_lock_is_refused_with_the_holder_pid_until_the_first_is_dropped() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("run/agent.lock");
        let first = acquire(&p, Wait::No, &never).unwrap();
        assert_eq!(first.path(), p);
        let mode = std::fs::metadata(&p).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let e = acquire(&p, Wait::No, &never).unwrap_err();
        match &e {
            LockError::Held { pid, waited, .. } => {
                assert_eq!(*pid, Some(std::process::id()));
                assert_eq!(*waited, None);
            }
            other => panic!("{other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("PID {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        acquire(&p, Wait::No, &never).unwrap();
    }

    #[test]
    fn waiting_gives_up_after_the_timeout_and_a_signal_ends_the_wait() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("agent.lock");
        let _first = acquire(&p, Wait::No, &never).unwrap();
        let start = Instant::now();
        let e = acquire(&p, Wait::For(Duration::from_millis(300)), &never).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(
            matches!(
                e,
                LockError::Held {
                    waited: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        let e = acquire(&p, Wait::Forever, &|| Some("SIGTERM")).unwrap_err();
        assert!(matches!(e, LockError::Interrupted { .. }), "{e:?}");
    }

    #[test]
    fn waiting_proceeds_when_the_holder_lets_go() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("agent.lock");
        let first = acquire(&p, Wait::No, &never).unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        acquire(&p, Wait::For(Duration::from_secs(5)), &never).unwrap();
        h.join().unwrap();
    }

    #[test]
    fn wait_flag() {
        assert_eq!(Wait::from_flag(None), Wait::No);
        assert_eq!(Wait::from_flag(Some(None)), Wait::Forever);
        assert_eq!(
            Wait::from_flag(Some(Some(5))),
            Wait::For(Duration::from_secs(5))
        );
    }

    #[test]
    fn symlinked_lock_file_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let p = t.path().join("agent.lock");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        assert!(matches!(
            acquire(&p, Wait::No, &never),
            Err(LockError::Io { .. })
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
