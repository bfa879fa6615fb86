//! Small files one run keeps for the next in the run directory (the run lock's
//! directory, `/run/agent` by default): written atomically and 0600, and read back only
//! when they belong to this user and nobody else can write them. They are hints that
//! save time; a file that fails these checks is ignored, never an error.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Write `bytes` to `dir/name`: a temporary file in `dir` (0600 whatever the umask),
/// fsync, rename.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let done = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// The largest kept file read back: they hold a few hundred bytes.
const MAX_KEPT: u64 = 64 << 10;

/// What `dir/name` holds, when it is a regular file (not a link) of at most 64 KiB owned
/// by this user that neither its group nor others may write (`None` otherwise). Opening
/// it never blocks (a FIFO put in its place is not waited on).
pub fn read(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(dir.join(name))
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file()
        || meta.len() > MAX_KEPT
        || meta.uid() != nix::unistd::geteuid().as_raw()
        || meta.mode() & 0o022 != 0
    {
        tracing::debug!(
            "ignoring {}: not a private file of this user",
            dir.join(name).display()
        );
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut &f, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "k.json", b"{}").unwrap();
        let mode = std::fs::metadata(dir.path().join("k.json")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read(dir.path(), "k.json").unwrap(), b"{}");
        // rewritten in place, no temporary file left
        write(dir.path(), "k.json", b"[]").unwrap();
        assert_eq!(read(dir.path(), "k.json").unwrap(), b"[]");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_others_may_write_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "k.json", b"{}").unwrap();
        let p = dir.path().join("k.json");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read(dir.path(), "k.json").is_none());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read(dir.path(), "k.json").is_some());
        assert!(read(dir.path(), "missing").is_none());
    }

    #[test]
    fn links_fifos_and_large_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "k.json", b"{}").unwrap();
        std::os::unix::fs::symlink(dir.path().join("k.json"), dir.path().join("l.json")).unwrap();
        assert!(read(dir.path(), "l.json").is_none());
        nix::unistd::mkfifo(&dir.path().join("f.json"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(read(dir.path(), "f.json").is_none());
        write(dir.path(), "big.json", &vec![b' '; 65 << 10]).unwrap();
        assert!(read(dir.path(), "big.json").is_none());
    }
}
