//! Report files on disk, written atomically (a temporary file in the same directory,
//! fsync, rename, fsync of the directory) and masked: a reader never sees half a file,
//! and a secret never reaches the disk.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The run's report in the state directory.
pub const LAST_RUN: &str = "last_run.json";

/// Write `text` (masked) to `dir/name` atomically with `mode`.
pub fn atomic_write(dir: &Path, name: &str, text: &str, mode: u32) -> io::Result<PathBuf> {
    atomic_write_with(dir, name, mode, &mut |w| w.write_all(text.as_bytes()))
}

/// Write what `fill` writes (masked a line at a time, through a buffer: the text is never
/// whole in memory) to `dir/name` atomically with `mode`. When `fill` fails, the old file
/// stays and the temporary file is removed.
pub fn atomic_write_with(
    dir: &Path,
    name: &str,
    mode: u32,
    fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let path = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    {
        // The buffer outside: the masking writer sees 64 KiB at a time.
        let mut w =
            io::BufWriter::with_capacity(64 * 1024, crate::mask::Masking::new(tmp.as_file_mut()));
        fill(&mut w)?;
        w.flush()?;
    }
    // The mode asked for, whatever the umask made of it.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    remove_stale_temps(dir, name);
    Ok(path)
}

/// Remove `.<name>.XXXXXX` files that a killed earlier run left in `dir` (the run lock
/// keeps any other run from writing them now). Best effort.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name();
        let Some(rand) = n.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if rand.len() == 6
            && rand.bytes().all(|b| b.is_ascii_alphanumeric())
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// `last_run.json` in the state directory `dir` (created 0700, tightened to 0700 if it
/// exists), mode 0600.
pub fn write_last_run(dir: &Path, text: &str) -> io::Result<PathBuf> {
    write_last_run_with(dir, &mut |w| w.write_all(text.as_bytes()))
}

/// [`write_last_run`] of what `fill` writes, streamed.
pub fn write_last_run_with(
    dir: &Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PathBuf> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    atomic_write_with(dir, LAST_RUN, 0o600, fill)
}

/// A node_exporter textfile: `dir/name` (the directory is created 0755 when missing),
/// mode 0644 so that node_exporter, running as another user, can read it.
pub fn write_textfile(dir: &Path, name: &str, text: &str) -> io::Result<PathBuf> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)?;
    atomic_write(dir, name, text, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_masking() {
        let t = tempfile::tempdir().unwrap();
        let state = t.path().join("state");
        crate::mask::register("files-rs-secret-value");
        let p = write_last_run(&state, "{\"x\": \"files-rs-secret-value\"}\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{\"x\": \"********\"}\n");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(&state), 0o700);
        // Again over the old one: replaced, no temporary file left behind, and one left
        // by a killed run removed.
        fs::write(state.join(".last_run.json.aB3dE9"), "{").unwrap();
        write_last_run(&state, "{}\n").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "{}\n");
        assert_eq!(fs::read_dir(&state).unwrap().count(), 1);
        let prom = write_textfile(&t.path().join("tf"), "agent.prom", "a 1\n").unwrap();
        assert_eq!(mode(&prom), 0o644);
    }
}
