//! The user module's `generate_ssh_key`, as Ansible's `User.ssh_key_gen` does it: the key
//! file is `ssh_key_file` (default `.ssh/id_<type>`) under the account's home unless
//! absolute; its directory is made 0700 for the user; `ssh-keygen` makes the pair; both
//! files are given to the user. A passphrase is typed into ssh-keygen's prompt through a
//! pseudo-terminal, never passed on its command line (where other users could read it).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::host::tools::{Output, find_bin, run};

/// Run `ssh-keygen` with `args`; `Err` is the message to fail with.
fn keygen(args: &[String]) -> Result<Output, String> {
    let bin = find_bin("ssh-keygen").map_err(|e| e.msg)?;
    run(&bin, args).map_err(|e| e.msg)
}

/// Where the key goes: `file` if absolute, else under `home`.
pub fn key_path(file: &str, home: &str) -> PathBuf {
    if Path::new(file).is_absolute() {
        PathBuf::from(file)
    } else {
        Path::new(home).join(file)
    }
}

/// What `ssh-keygen` is asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub path: PathBuf,
    pub key_type: String,
    pub bits: i64,
    pub comment: String,
}

fn keygen_argv(spec: &KeySpec) -> Vec<String> {
    let mut argv = vec!["-t".to_string(), spec.key_type.clone()];
    if spec.bits > 0 {
        argv.extend(["-b".to_string(), spec.bits.to_string()]);
    }
    argv.extend([
        "-C".to_string(),
        spec.comment.clone(),
        "-f".to_string(),
        spec.path.display().to_string(),
    ]);
    argv
}

/// Make the key pair (the caller has removed files it may overwrite) and give both files
/// to `uid:gid`. `Err` is the message Ansible fails with.
pub fn generate(
    spec: &KeySpec,
    passphrase: Option<&str>,
    uid: u32,
    gid: u32,
) -> Result<(), String> {
    let mut argv = keygen_argv(spec);
    let out = match passphrase {
        None => {
            argv.extend(["-N".to_string(), String::new()]);
            keygen(&argv)?
        }
        Some(p) => with_passphrase(&argv, p)?,
    };
    if out.rc != 0 {
        let msg = if out.stderr.trim().is_empty() {
            out.stdout
        } else {
            out.stderr
        };
        // The pty echoes what was typed: never let the passphrase into a message.
        return Err(match passphrase.filter(|p| !p.is_empty()) {
            Some(p) => msg.replace(p, "********"),
            None => msg,
        });
    }
    let pub_file = PathBuf::from(format!("{}.pub", spec.path.display()));
    for f in [&spec.path, &pub_file] {
        std::os::unix::fs::chown(f, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", f.display()))?;
    }
    Ok(())
}

/// Run ssh-keygen on a pseudo-terminal and answer its two passphrase prompts.
fn with_passphrase(argv: &[String], passphrase: &str) -> Result<Output, String> {
    let pty = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    let master: OwnedFd = pty.master;
    let slave: OwnedFd = pty.slave;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("pty: {e}"));
    let bin = find_bin("ssh-keygen").map_err(|e| e.msg)?;
    let mut cmd = Command::new(bin);
    super::creds::prepare_command(&mut cmd);
    cmd.args(argv)
        .stdin(Stdio::from(dup(&slave)?))
        .stdout(Stdio::from(dup(&slave)?))
        .stderr(Stdio::from(dup(&slave)?));
    // SAFETY: setsid is async-signal-safe; the child gets no controlling terminal, so
    // ssh-keygen reads the passphrase from its standard input (the pty).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("ssh-keygen: {e}"))?;
    drop(slave);
    let mut file = std::fs::File::from(master);
    let flags =
        nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL).map_err(|e| format!("pty: {e}"))?;
    let mut flags = nix::fcntl::OFlag::from_bits_truncate(flags);
    flags.insert(nix::fcntl::OFlag::O_NONBLOCK);
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(flags))
        .map_err(|e| format!("pty: {e}"))?;
    // The first prompt, then the second; each answered once, after where the last was.
    let prompts: [&[u8]; 2] = [b"Enter passphrase", b"Enter same passphrase again"];
    let mut answered = 0;
    let mut scan_from = 0;
    let mut seen: Vec<u8> = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let status = loop {
        match file.read(&mut buf) {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
        if let Some(prompt) = prompts.get(answered)
            && let Some(at) = seen[scan_from..]
                .windows(prompt.len())
                .position(|w| w == *prompt)
        {
            let _ = file.write_all(format!("{passphrase}\r").as_bytes());
            scan_from += at + prompt.len();
            answered += 1;
        }
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(900) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("Timeout after 900 while reading passphrase for SSH key".into());
        }
    };
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(Output {
        rc: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&seen).into_owned(),
        stderr: String::new(),
    })
}

/// `ssh-keygen -l -f FILE`'s line, or why there is none (Ansible's `ssh_fingerprint`).
pub fn fingerprint(path: &Path) -> String {
    if !path.exists() {
        return format!("SSH Key file {} does not exist", path.display());
    }
    let args = [
        "-l".to_string(),
        "-f".to_string(),
        path.display().to_string(),
    ];
    match keygen(&args) {
        Ok(o) if o.rc == 0 => o.stdout.trim().to_string(),
        Ok(o) => o.stderr.trim().to_string(),
        Err(e) => e,
    }
}

/// The public key's text (`FILE.pub`), if readable.
pub fn public_key(path: &Path) -> Option<String> {
    std::fs::read_to_string(format!("{}.pub", path.display()))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_arguments() {
        assert_eq!(
            key_path(".ssh/id_rsa", "/home/bob"),
            PathBuf::from("/home/bob/.ssh/id_rsa")
        );
        assert_eq!(key_path("/etc/k", "/home/bob"), PathBuf::from("/etc/k"));
        let spec = KeySpec {
            path: "/tmp/k".into(),
            key_type: "ed25519".into(),
            bits: 0,
            comment: "c".into(),
        };
        assert_eq!(
            keygen_argv(&spec),
            ["-t", "ed25519", "-C", "c", "-f", "/tmp/k"]
        );
    }

    #[test]
    fn makes_keys_with_and_without_a_passphrase() {
        if find_bin("ssh-keygen").is_err() {
            eprintln!("skipped: no ssh-keygen here");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        for (name, pass) in [("plain", None), ("locked", Some("s3cret phrase"))] {
            let spec = KeySpec {
                path: dir.path().join(name),
                key_type: "ed25519".into(),
                bits: 0,
                comment: "test".into(),
            };
            generate(&spec, pass, uid, gid).unwrap();
            assert!(public_key(&spec.path).unwrap().ends_with(" test"));
            assert!(fingerprint(&spec.path).contains("(ED25519)"));
            // The passphrase opens the key, and nothing else does.
            let file = spec.path.display().to_string();
            let try_open = |p: &str| {
                keygen(&["-y", "-P", p, "-f", &file].map(String::from))
                    .unwrap()
                    .rc
            };
            assert_eq!(try_open(pass.unwrap_or("")), 0, "{name}");
            if pass.is_some() {
                assert_ne!(try_open(""), 0);
            }
        }
    }
}
