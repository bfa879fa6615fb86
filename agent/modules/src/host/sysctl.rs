//! Kernel parameters through /proc/sys directly (no `sysctl` process): read, write, and
//! apply a file the way `sysctl -p FILE` does.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The /proc/sys path of a key: dots separate levels, a slash stands for a dot inside
/// a level (`net.ipv4.conf.eth0/100.forwarding`), as sysctl(8) maps them.
pub fn key_path(root: &Path, key: &str) -> PathBuf {
    let mapped: String = key
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    root.join(mapped.trim_start_matches('/'))
}

/// The current value of `key` as `sysctl -e -n` prints it: a missing key reads as
/// empty; `None` when the key exists but cannot be read.
pub fn read(root: &Path, key: &str) -> Option<String> {
    match fs::read(key_path(root, key)) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some(String::new()),
        Err(_) => None,
    }
}

/// Write `value` to `key`. Errors are worded as sysctl(8) words them; with
/// `ignore_missing` (sysctl -e) a missing key is not an error.
pub fn write(root: &Path, key: &str, value: &str, ignore_missing: bool) -> Result<(), String> {
    let path = key_path(root, key);
    if fs::symlink_metadata(&path).is_err() {
        if ignore_missing {
            return Ok(());
        }
        return Err(format!(
            "sysctl: cannot stat {}: No such file or directory\n",
            path.display()
        ));
    }
    let r = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    match r {
        Ok(()) => Ok(()),
        Err(e) => {
            let why = match e.raw_os_error() {
                Some(libc_einval) if libc_einval == nix::errno::Errno::EINVAL as i32 => {
                    "Invalid argument".to_string()
                }
                Some(erofs) if erofs == nix::errno::Errno::EROFS as i32 => {
                    "Read-only file system".to_string()
                }
                Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
                None => e.to_string(),
            };
            Err(format!("sysctl: setting key \"{key}\": {why}\n"))
        }
    }
}

/// The settings of a sysctl.conf-style file, in order, as `sysctl -p` reads them: blank
/// lines and `#`/`;` comments skipped, `key = value` trimmed; a key starting with `-`
/// may fail silently.
pub fn parse_conf(text: &str) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim();
        let (k, quiet) = match k.strip_prefix('-') {
            Some(rest) => (rest.trim(), true),
            None => (k, false),
        };
        out.push((k.to_string(), v.trim().to_string(), quiet));
    }
    out
}

/// `sysctl [-e] -p FILE`: apply every setting; the messages of the failures, joined.
pub fn apply_file(root: &Path, file: &Path, ignoreerrors: bool) -> Result<(), String> {
    let text = fs::read_to_string(file).map_err(|e| {
        format!(
            "sysctl: cannot open \"{}\": {}\n",
            file.display(),
            e.kind().to_string().replace('_', " ")
        )
    })?;
    let mut errors = String::new();
    for (k, v, quiet) in parse_conf(&text) {
        if let Err(e) = write(root, &k, &v, ignoreerrors || quiet) {
            if !quiet {
                errors.push_str(&e);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths() {
        let r = Path::new("/proc/sys");
        assert_eq!(
            key_path(r, "net.ipv4.ip_forward"),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            key_path(r, "net.ipv4.conf.eth0/100.forwarding"),
            Path::new("/proc/sys/net/ipv4/conf/eth0.100/forwarding")
        );
    }

    #[test]
    fn read_write_apply_on_a_fake_tree() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("net/core")).unwrap();
        fs::write(root.join("net/core/somaxconn"), "4096\n").unwrap();
        assert_eq!(read(root, "net.core.somaxconn").as_deref(), Some("4096\n"));
        assert_eq!(read(root, "net.core.missing").as_deref(), Some(""));
        write(root, "net.core.somaxconn", "1024", false).unwrap();
        assert_eq!(read(root, "net.core.somaxconn").as_deref(), Some("1024"));
        let e = write(root, "net.core.missing", "1", false).unwrap_err();
        assert!(e.contains("cannot stat"), "{e}");
        assert!(write(root, "net.core.missing", "1", true).is_ok());

        let conf = root.join("x.conf");
        fs::write(
            &conf,
            "# c\n; c\n\nnet.core.somaxconn = 512\n-net.core.nope = 1\nnoequals\n",
        )
        .unwrap();
        apply_file(root, &conf, false).unwrap();
        assert_eq!(read(root, "net.core.somaxconn").as_deref(), Some("512"));
        fs::write(&conf, "net.core.nope = 1\n").unwrap();
        assert!(apply_file(root, &conf, false).is_err());
        assert!(apply_file(root, &conf, true).is_ok());
    }
}
