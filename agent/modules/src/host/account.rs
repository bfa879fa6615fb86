//! Account changes: the shadow tools (useradd, usermod, userdel, groupadd, groupmod,
//! groupdel, chage) do the edits of passwd, shadow, group and gshadow, so the databases
//! stay consistent and the tools' own locks are taken. Home directories the user
//! module makes itself (Ansible's `create_homedir`) are built here.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::Path;

use crate::ModuleError;
use crate::host::tools::{self, Output};

/// Run one shadow tool (`useradd`, `groupmod` ...) with its arguments.
pub fn shadow_tool(name: &str, args: &[String]) -> Result<Output, ModuleError> {
    let bin = tools::find_bin(name)?;
    tools::run(&bin, args)
}

/// The mode of a home directory the module makes: `HOME_MODE`, else `0777 & ~UMASK`,
/// from /etc/login.defs (0755 when neither is set), as Ansible reads them.
pub fn home_mode(login_defs: &str) -> u32 {
    let mut mode = 0o755;
    for line in login_defs.lines() {
        let line = line.trim_end_matches('\r');
        let field = |key: &str| {
            line.strip_prefix(key)
                .filter(|r| r.starts_with([' ', '\t']))
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
                .and_then(|v| u32::from_str_radix(v, 8).ok())
        };
        if let Some(m) = field("HOME_MODE") {
            return m;
        }
        if let Some(u) = field("UMASK") {
            mode = 0o777 & !u;
        }
    }
    mode
}

/// Give `dst` the access and modification times of `src` (Python's `copystat`).
fn copy_times(src: &fs::Metadata, dst: &Path) -> io::Result<()> {
    let times = fs::FileTimes::new()
        .set_accessed(src.accessed()?)
        .set_modified(src.modified()?);
    fs::File::open(dst)?.set_times(times)
}

/// `shutil.copytree(src, dst, symlinks=True)`: links copied as links, files and
/// directories with their modes and times.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            fs::copy(&from, &to)?;
            copy_times(&entry.metadata()?, &to)?;
        }
    }
    let md = fs::metadata(src)?;
    fs::set_permissions(
        dst,
        fs::Permissions::from_mode(md.permissions().mode() & 0o7777),
    )?;
    copy_times(&md, dst)
}

/// Make a missing home directory as Ansible's user module does: a copy of the skeleton
/// (`/etc/skel` unless given; symlinks kept), or an empty directory with its parents,
/// then the mode from login.defs.
pub fn create_homedir(path: &Path, skeleton: Option<&str>) -> Result<(), ModuleError> {
    if path.exists() {
        return Ok(());
    }
    let skel = Path::new(skeleton.unwrap_or("/etc/skel"));
    let made = if skel.exists() && skel != Path::new("/dev/null") {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| ModuleError::new(e.to_string()))?;
        }
        copy_tree(skel, path)
    } else {
        fs::create_dir_all(path)
    };
    made.map_err(|e| ModuleError::new(e.to_string()))?;
    if let Ok(defs) = fs::read_to_string("/etc/login.defs") {
        fs::set_permissions(path, fs::Permissions::from_mode(home_mode(&defs)))
            .map_err(|e| ModuleError::new(e.to_string()))?;
    }
    Ok(())
}

fn chown_walk(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let p = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            lchown(&p, Some(uid), Some(gid))?;
            chown_walk(&p, uid, gid)?;
        } else if !ft.is_symlink() {
            lchown(&p, Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// Give a home directory and everything in it (links excepted) to `uid:gid`.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), ModuleError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .and_then(|()| chown_walk(path, uid, gid))
        .map_err(|e| ModuleError::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_mode_from_login_defs() {
        assert_eq!(home_mode(""), 0o755);
        assert_eq!(home_mode("UMASK\t\t027\n"), 0o750);
        assert_eq!(home_mode("UMASK 022\nHOME_MODE 0700\n"), 0o700);
        assert_eq!(home_mode("#HOME_MODE 0700\nUMASK 077\n"), 0o700);
    }

    #[test]
    fn makes_home_from_skeleton() {
        let t = tempfile::tempdir().unwrap();
        let skel = t.path().join("skel");
        fs::create_dir(&skel).unwrap();
        fs::write(skel.join(".profile"), "x").unwrap();
        std::os::unix::fs::symlink(".profile", skel.join("link")).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        fs::File::options()
            .write(true)
            .open(skel.join(".profile"))
            .unwrap()
            .set_times(fs::FileTimes::new().set_modified(old))
            .unwrap();
        let home = t.path().join("a/b/home");
        create_homedir(&home, skel.to_str()).unwrap();
        assert_eq!(fs::read_to_string(home.join(".profile")).unwrap(), "x");
        assert_eq!(
            fs::metadata(home.join(".profile"))
                .unwrap()
                .modified()
                .unwrap(),
            old
        );
        assert!(
            fs::symlink_metadata(home.join("link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
