//! `become_user` for the modules that run inside the agent's own process.
//!
//! Ansible runs a module as the become user (sudo -H -u USER python …), so what the module
//! creates is that user's and what it may not touch is refused. The agent runs modules
//! in-process as root; for a task with a `become_user` other than root it switches the
//! *calling thread's* file-system identity instead ([`become_user`]): its fsuid and fsgid
//! (which own new files and decide every permission check; the kernel drops the
//! file-system capabilities such as `CAP_CHOWN` and `CAP_DAC_OVERRIDE` from the thread's
//! effective set while the fsuid is not 0) and its supplementary groups (the raw system
//! call, which changes the calling thread only: glibc's and musl's `setgroups` would change
//! every thread of the process). Other threads (the report, the systemd connection) keep
//! root's identity; the switch is undone when the guard is dropped.
//!
//! A process a module starts while the switch is active runs as that user entirely
//! ([`prepare_command`]: real and effective ids, groups, `HOME`, `USER`, `LOGNAME`,
//! `SHELL`), as Ansible's module would start it. What Ansible's controller does (finding
//! and reading a role's `files/` and `templates/`, rendering templates) runs as root again
//! inside [`as_controller`].
//!
//! `~` in a module's path arguments is the become user's home ([`home`]), as with
//! `sudo -H`.

use std::cell::RefCell;
use std::rc::Rc;

use nix::libc;

use super::users;
use crate::ModuleError;

/// A user a task becomes, as looked up in /etc/passwd and /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The primary group first, then every group that lists the user as a member.
    pub groups: Vec<u32>,
    pub home: String,
    pub shell: String,
}

impl Identity {
    /// Look `name` up; the error is the task's message for an unknown user.
    pub fn lookup(name: &str) -> Result<Identity, ModuleError> {
        let pw = users::user(name)
            .ok_or_else(|| ModuleError::new(format!("become_user: unknown user {name}")))?;
        let mut groups = vec![pw.gid];
        for g in users::all_groups() {
            if g.members.iter().any(|m| m == name) && !groups.contains(&g.gid) {
                groups.push(g.gid);
            }
        }
        Ok(Identity {
            name: pw.name,
            uid: pw.uid,
            gid: pw.gid,
            groups,
            home: pw.home,
            shell: pw.shell,
        })
    }

    /// Make a child process run as this user: its environment names the user and, after
    /// the fork, it drops root's groups and ids for good before exec.
    pub fn apply_to(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        cmd.env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name);
        if !self.shell.is_empty() {
            cmd.env("SHELL", &self.shell);
        }
        let gids: Vec<nix::unistd::Gid> = self
            .groups
            .iter()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        let uid = nix::unistd::Uid::from_raw(self.uid);
        let gid = nix::unistd::Gid::from_raw(self.gid);
        // SAFETY: the closure only makes the setgroups/setgid/setuid system calls, which
        // are async-signal-safe, on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&gids).map_err(std::io::Error::from)?;
                nix::unistd::setgid(gid).map_err(std::io::Error::from)?;
                nix::unistd::setuid(uid).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
    }
}

/// The switch a thread has made: to whom, and the identity it had before.
#[derive(Debug, Clone)]
struct Switch {
    id: Rc<Identity>,
    saved: Saved,
}

thread_local! {
    static ACTIVE: RefCell<Option<Switch>> = const { RefCell::new(None) };
}

/// The identity the calling thread has become, if any.
pub fn active() -> Option<Rc<Identity>> {
    ACTIVE.with(|a| a.borrow().as_ref().map(|s| s.id.clone()))
}

/// The user id new files get: the become user's while a switch is active, else the
/// effective user id (the file-system id follows it then).
pub fn fsuid() -> u32 {
    active().map_or_else(|| nix::unistd::geteuid().as_raw(), |id| id.uid)
}

/// The group id new files get (outside a set-group-ID directory); see [`fsuid`].
pub fn fsgid() -> u32 {
    active().map_or_else(|| nix::unistd::getegid().as_raw(), |id| id.gid)
}

/// The home directory `~` stands for: the become user's while a switch is active, else
/// `$HOME` (root's `/root` when unset).
pub fn home() -> String {
    match active() {
        Some(id) => id.home.clone(),
        None => std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
    }
}

/// Set the calling thread's supplementary groups only (the raw system call; the libc
/// wrappers would set them on every thread of the process).
fn set_thread_groups(groups: &[u32]) -> std::io::Result<()> {
    let list: Vec<libc::gid_t> = groups.iter().map(|g| *g as libc::gid_t).collect();
    // SAFETY: the pointer and length describe `list`, which outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, list.len(), list.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A thread's file-system identity, to restore it.
#[derive(Debug, Clone)]
struct Saved {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<u32>,
}

fn switch_to(id: &Identity) -> std::io::Result<Saved> {
    let groups: Vec<u32> = nix::unistd::getgroups()
        .map_err(std::io::Error::from)?
        .into_iter()
        .map(|g| g.as_raw())
        .collect();
    set_thread_groups(&id.groups)?;
    let fsgid = nix::unistd::setfsgid(nix::unistd::Gid::from_raw(id.gid)).as_raw();
    let fsuid = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(id.uid)).as_raw();
    Ok(Saved {
        fsuid,
        fsgid,
        groups,
    })
}

fn restore(saved: &Saved) {
    nix::unistd::setfsuid(nix::unistd::Uid::from_raw(saved.fsuid));
    nix::unistd::setfsgid(nix::unistd::Gid::from_raw(saved.fsgid));
    if let Err(e) = set_thread_groups(&saved.groups) {
        tracing::error!("could not restore the thread's groups after become_user: {e}");
    }
}

/// While alive, the calling thread acts as the become user (see the module docs). Not
/// `Send`: the switch belongs to the thread that made it.
#[derive(Debug)]
pub struct BecomeGuard {
    previous: Option<Switch>,
    _thread: std::marker::PhantomData<Rc<()>>,
}

impl Drop for BecomeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ACTIVE.with(|a| {
            let mut a = a.borrow_mut();
            if let Some(cur) = a.take() {
                restore(&cur.saved);
            }
            *a = previous;
        });
    }
}

/// Switch the calling thread to `name` until the guard is dropped. `Ok(None)` when there
/// is nothing to switch: `name` is root (or has uid 0), or the agent does not run as root
/// (it cannot change identity then, and runs the module as itself).
pub fn become_user(name: &str) -> Result<Option<BecomeGuard>, ModuleError> {
    if name == "root" || !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let id = Identity::lookup(name)?;
    if id.uid == 0 {
        return Ok(None);
    }
    // Nested (a module that runs another as a user): undo the outer switch first, so that
    // restoring goes back through the same states.
    let previous = ACTIVE.with(|a| a.borrow_mut().take());
    if let Some(p) = &previous {
        restore(&p.saved);
    }
    let saved = switch_to(&id).map_err(|e| {
        if let Some(p) = &previous {
            let _ = switch_to(&p.id);
        }
        ModuleError::new(format!("become_user {name}: cannot switch identity: {e}"))
    })?;
    ACTIVE.with(|a| {
        *a.borrow_mut() = Some(Switch {
            id: Rc::new(id),
            saved,
        })
    });
    Ok(Some(BecomeGuard {
        previous,
        _thread: std::marker::PhantomData,
    }))
}

/// Run `f` with the thread's own (root's) file-system identity again: what Ansible's
/// controller does for a task (finding and reading the files a role ships, rendering its
/// templates) is not the become user's. Without an active switch it just runs `f`.
pub fn as_controller<T>(f: impl FnOnce() -> T) -> T {
    let Some(cur) = ACTIVE.with(|a| a.borrow_mut().take()) else {
        return f();
    };
    restore(&cur.saved);
    let out = f();
    match switch_to(&cur.id) {
        Ok(saved) => ACTIVE.with(|a| {
            *a.borrow_mut() = Some(Switch {
                id: cur.id.clone(),
                saved,
            })
        }),
        // Left as root: the guard's drop finds nothing to undo.
        Err(e) => tracing::error!("could not switch to {} again: {e}", cur.id.name),
    }
    out
}

/// Make `cmd` run as the become user when the calling thread has switched (see
/// [`Identity::apply_to`]); otherwise leave it as it is.
pub fn prepare_command(cmd: &mut std::process::Command) {
    if let Some(id) = active() {
        id.apply_to(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn nobody() -> Option<Identity> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        Identity::lookup("nobody").ok()
    }

    #[test]
    fn root_and_unknown_users() {
        // Becoming root is no switch; an unknown user is the task's error.
        if nix::unistd::geteuid().is_root() {
            assert!(become_user("root").unwrap().is_none());
            let e = become_user("no-such-user-here").unwrap_err();
            assert_eq!(e.msg, "become_user: unknown user no-such-user-here");
        }
        assert!(active().is_none());
    }

    #[test]
    fn files_belong_to_the_become_user_and_root_comes_back() {
        let Some(id) = nobody() else { return };
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "x").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        {
            let _g = become_user("nobody").unwrap().expect("switched");
            assert_eq!(active().unwrap().uid, id.uid);
            assert_eq!(home(), id.home);
            let mine = dir.path().join("mine");
            std::fs::write(&mine, "y").unwrap();
            let md = std::fs::metadata(&mine).unwrap();
            assert_eq!((md.uid(), md.gid()), (id.uid, id.gid));
            // No CAP_CHOWN, no CAP_DAC_OVERRIDE while switched.
            let e = std::os::unix::fs::chown(&mine, Some(0), None).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
            assert!(std::fs::read(&secret).is_err());
            // The controller's side is root's.
            let read = as_controller(|| std::fs::read(&secret));
            assert_eq!(read.unwrap(), b"x");
            assert_eq!(active().unwrap().uid, id.uid);
            assert!(std::fs::read(&secret).is_err(), "switched again after it");
            // A child process runs as the user entirely.
            let mut cmd = std::process::Command::new("id");
            cmd.arg("-u");
            prepare_command(&mut cmd);
            let out = cmd.output().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                id.uid.to_string()
            );
        }
        assert!(active().is_none());
        let back = dir.path().join("back");
        std::fs::write(&back, "z").unwrap();
        assert_eq!(std::fs::metadata(&back).unwrap().uid(), 0);
        assert!(std::fs::read(&secret).is_ok());
    }

    #[test]
    fn only_the_switching_thread_changes() {
        let Some(id) = nobody() else { return };
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (go, wait) = std::sync::mpsc::channel::<std::path::PathBuf>();
        // A thread that exists before the switch (as the report's and systemd's do).
        let earlier = std::thread::spawn(move || {
            let p = wait.recv().unwrap();
            std::fs::write(&p, "e").unwrap();
        });
        let _g = become_user("nobody").unwrap().expect("switched");
        let e = dir.path().join("earlier");
        go.send(e.clone()).unwrap();
        earlier.join().unwrap();
        assert_eq!(std::fs::metadata(&e).unwrap().uid(), 0);
        // A thread the module starts while switched is the user too (clone copies the
        // creating thread's identity).
        let h = dir.path().join("helper");
        let h2 = h.clone();
        std::thread::spawn(move || std::fs::write(&h2, "h").unwrap())
            .join()
            .unwrap();
        assert_eq!(std::fs::metadata(&h).unwrap().uid(), id.uid);
    }
}
