//! Test hosts from Rust: a thin wrapper around the `testhost` script next to this file.
//!
//! A [`TestHost`] is a Debian rootfs booted with systemd as PID 1 in its own namespaces;
//! it is stopped (killed by PID, loop devices detached, directory removed) when dropped,
//! also while a panic unwinds.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What went wrong with a test host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {stderr}")]
    Failed {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Other(String),
}

/// The result of a command run inside a host.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Exit status (128 + signal when killed; -1 when it timed out).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// The last `lines` lines of stdout and stderr, for failure messages.
    pub fn tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for (label, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let all: Vec<&str> = text.lines().collect();
            if all.is_empty() {
                continue;
            }
            let start = all.len().saturating_sub(lines);
            out.push_str(&format!("--- {label} (last {} lines)\n", all.len() - start));
            for l in &all[start..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

/// The `testhost` script.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testhost")
        .join("testhost")
}

/// Why test hosts cannot run on this machine, if they cannot.
pub fn unavailable_reason() -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not running as root".into());
    }
    for tool in ["unshare", "nsenter", "losetup", "debootstrap"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

fn status_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Run a command to completion with a time limit, feeding `stdin`, capturing its output.
pub fn run_with_timeout(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output, HostError> {
    let what = format!("{cmd:?}");
    let start = Instant::now();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| HostError::Spawn {
        what: what.clone(),
        source,
    })?;
    let feeder = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = data.to_vec();
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            }))
        }
        _ => None,
    };
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                timed_out = true;
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(source) => return Err(HostError::Spawn { what, source }),
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = out_t.join().unwrap_or_default();
    let mut stderr = err_t.join().unwrap_or_default();
    if timed_out {
        stderr.push_str(&format!("\n(killed after {} s)\n", timeout.as_secs()));
    }
    Ok(Output {
        status: match (timed_out, status) {
            (true, _) | (false, None) => -1,
            (false, Some(s)) => status_code(s),
        },
        stdout,
        stderr,
        elapsed: start.elapsed(),
    })
}

fn testhost(args: &[&str], timeout: Duration) -> Result<Output, HostError> {
    let mut cmd = Command::new(script());
    cmd.args(args);
    run_with_timeout(cmd, None, timeout)
}

fn testhost_ok(args: &[&str], timeout: Duration) -> Result<String, HostError> {
    let out = testhost(args, timeout)?;
    if out.success() {
        Ok(out.stdout.trim().to_string())
    } else {
        Err(HostError::Failed {
            what: format!("testhost {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: out.stderr.trim().to_string(),
        })
    }
}

/// Build (or find cached) the image; returns the tarball path. The first build runs
/// debootstrap (and pip for the Ansible image) and takes minutes.
pub fn image(ansible: bool) -> Result<PathBuf, HostError> {
    let mut args = vec!["image"];
    if ansible {
        args.push("--ansible");
    }
    testhost_ok(&args, Duration::from_secs(1800)).map(PathBuf::from)
}

/// A booted test host; stopped when dropped.
#[derive(Debug)]
pub struct TestHost {
    name: String,
    stopped: bool,
}

/// The prefix of host names made by [`TestHost::boot_unique`]: `th<pid>-`.
const UNIQUE_PREFIX: &str = "th";

impl TestHost {
    /// Boot a host called `name` (a stale host of that name is stopped first). With
    /// `ansible`, the image also has Ansible 11 in /opt/ans.
    pub fn boot(name: &str, ansible: bool) -> Result<TestHost, HostError> {
        Self::boot_image(name, ansible.then_some("--ansible"))
    }

    /// Boot a host called `name` from the image that `variant` (`--ansible`,
    /// `--integration`; `None` for the base image) selects.
    pub fn boot_image(name: &str, variant: Option<&str>) -> Result<TestHost, HostError> {
        // The image first, so a slow first build does not count against the boot timeout.
        let mut image_args = vec!["image"];
        image_args.extend(variant);
        testhost_ok(&image_args, Duration::from_secs(1800))?;
        testhost_ok(&["stop", name], Duration::from_secs(60))?;
        let mut args = vec!["boot", name];
        args.extend(variant);
        // Own the host from here on, so a failed boot is cleaned up too.
        let host = TestHost {
            name: name.to_string(),
            stopped: false,
        };
        testhost_ok(&args, Duration::from_secs(300))?;
        Ok(host)
    }

    /// Boot a host called `name` from the cloud-init image (the base image plus cloud-init),
    /// with `seed` (a directory holding `meta-data` and `user-data`) as its NoCloud seed:
    /// the boot is cloud-init's first boot, and returns once its stages are done.
    pub fn boot_cloud_init(name: &str, seed: &Path) -> Result<TestHost, HostError> {
        testhost_ok(&["image", "--cloud-init"], Duration::from_secs(1800))?;
        testhost_ok(&["stop", name], Duration::from_secs(60))?;
        let host = TestHost {
            name: name.to_string(),
            stopped: false,
        };
        let seed = seed.to_string_lossy();
        testhost_ok(
            &["boot", name, "--cloud-init", "--seed", &seed],
            Duration::from_secs(300),
        )?;
        Ok(host)
    }

    /// Boot a host named `th<pid>-<role>`, unique to this process, after stopping hosts
    /// left behind by processes of this kind that no longer exist.
    pub fn boot_unique(role: &str, ansible: bool) -> Result<TestHost, HostError> {
        Self::stop_orphans();
        Self::boot(
            &format!("{UNIQUE_PREFIX}{}-{role}", std::process::id()),
            ansible,
        )
    }

    /// Like [`TestHost::boot_unique`], from the image `variant` selects.
    pub fn boot_unique_image(role: &str, variant: Option<&str>) -> Result<TestHost, HostError> {
        Self::stop_orphans();
        Self::boot_image(
            &format!("{UNIQUE_PREFIX}{}-{role}", std::process::id()),
            variant,
        )
    }

    /// Stop hosts named `th<pid>-...` whose process is gone (a killed earlier run).
    pub fn stop_orphans() {
        let Ok(list) = testhost(&["list"], Duration::from_secs(30)) else {
            return;
        };
        for name in list.stdout.lines() {
            let Some(rest) = name.strip_prefix(UNIQUE_PREFIX) else {
                continue;
            };
            let Some((pid, _)) = rest.split_once('-') else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = testhost(&["stop", name], Duration::from_secs(60));
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `args` inside the host (clean environment, cwd /), with a time limit.
    pub fn exec(&self, args: &[&str], timeout: Duration) -> Result<Output, HostError> {
        self.exec_input(args, None, timeout)
    }

    /// Like [`TestHost::exec`], feeding `stdin`.
    pub fn exec_input(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Output, HostError> {
        let mut cmd = Command::new(script());
        cmd.args(["exec", &self.name, "--"]).args(args);
        run_with_timeout(cmd, stdin, timeout)
    }

    /// Run a shell script (`sh -c`) inside the host, in directory `cwd`.
    pub fn sh(&self, cwd: &str, script: &str, timeout: Duration) -> Result<Output, HostError> {
        self.exec(
            &["/bin/sh", "-c", &format!("cd \"$0\" && {script}"), cwd],
            timeout,
        )
    }

    /// Copy a file or directory from here to `dst` (absolute) inside the host.
    pub fn copy_in(&self, src: &Path, dst: &str) -> Result<(), HostError> {
        let src = src.to_string_lossy();
        testhost_ok(&["cp", &self.name, &src, dst], Duration::from_secs(120)).map(|_| ())
    }

    /// Install the agent binary as /usr/local/bin/agent.
    pub fn install_agent(&self, bin: &Path) -> Result<(), HostError> {
        self.copy_in(bin, "/usr/local/bin/agent")?;
        let out = self.exec(
            &["chmod", "0755", "/usr/local/bin/agent"],
            Duration::from_secs(30),
        )?;
        if out.success() {
            Ok(())
        } else {
            Err(HostError::Other(format!(
                "chmod agent: {}",
                out.stderr.trim()
            )))
        }
    }

    /// A new loop device (`/dev/loopN`) of `size` (e.g. "256M") backed by a file in the
    /// host's directory; detached when the host stops.
    pub fn loop_device(&self, size: &str) -> Result<String, HostError> {
        testhost_ok(&["loop", &self.name, size], Duration::from_secs(60))
    }

    /// Stop the host now (also done on drop).
    pub fn stop(&mut self) -> Result<(), HostError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        testhost_ok(&["stop", &self.name], Duration::from_secs(120)).map(|_| ())
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("testhost: stopping {}: {e}", self.name);
        }
    }
}
