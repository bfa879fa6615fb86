//! User and group lookups by reading /etc/passwd, /etc/group and /etc/shadow directly.
//!
//! No NSS, no process spawns: the files are parsed and cached; the cache is refreshed
//! when a file's size or modification time changes (a task may add a user mid-run).
//! Changes go through the shadow tools ([`crate::host::account`]).

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    /// The password field (`x` when the hash is in /etc/shadow).
    pub password: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// One line of /etc/shadow. Numeric fields left empty are `-1`, as `getspnam` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    pub name: String,
    pub password: String,
    pub last_change: i64,
    pub min: i64,
    pub max: i64,
    pub warn: i64,
    pub inactive: i64,
    pub expire: i64,
}

fn shadow_num(f: Option<&&str>) -> i64 {
    f.and_then(|s| s.trim().parse().ok()).unwrap_or(-1)
}

/// Parse /etc/shadow text; malformed lines are skipped.
pub fn parse_shadow(text: &str) -> Vec<ShadowEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with('+') && !l.starts_with('-'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 2 || f[0].is_empty() {
                return None;
            }
            Some(ShadowEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                last_change: shadow_num(f.get(2)),
                min: shadow_num(f.get(3)),
                max: shadow_num(f.get(4)),
                warn: shadow_num(f.get(5)),
                inactive: shadow_num(f.get(6)),
                expire: shadow_num(f.get(7)),
            })
        })
        .collect()
}

/// Parse /etc/passwd text; malformed lines and NIS `+`/`-` entries are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with('+') && !l.starts_with('-'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                password: f[1].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                gecos: f[4].to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parse /etc/group text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with('+') && !l.starts_with('-'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

type Stamp = Option<(SystemTime, u64)>;

struct Cached<T> {
    stamp: Stamp,
    /// The epoch the stamp was last compared in (see `agent_template::epoch`).
    checked: Option<u64>,
    entries: Vec<T>,
}

/// One database file and its cached reading.
struct Db<T> {
    path: &'static str,
    parse: fn(&str) -> Vec<T>,
    cache: Mutex<Option<Cached<T>>>,
}

static PASSWD: Db<PasswdEntry> = Db::new("/etc/passwd", parse_passwd);
static GROUP: Db<GroupEntry> = Db::new("/etc/group", parse_group);
static SHADOW: Db<ShadowEntry> = Db::new("/etc/shadow", parse_shadow);

fn stamp(path: &Path) -> Stamp {
    let md = std::fs::metadata(path).ok()?;
    Some((md.modified().ok()?, md.len()))
}

impl<T> Db<T> {
    const fn new(path: &'static str, parse: fn(&str) -> Vec<T>) -> Db<T> {
        Db {
            path,
            parse,
            cache: Mutex::new(None),
        }
    }

    /// `f` of the file's entries, read again when its stamp changed. Within a managed
    /// epoch the stamp is compared once, not at every lookup (a task's files ask for the
    /// same owners many times).
    fn with<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        self.with_at(agent_template::epoch::current(), f)
    }

    /// [`Db::with`] in the given epoch (`None`: not managed, always check).
    fn with_at<R>(&self, epoch: Option<u64>, f: impl FnOnce(&[T]) -> R) -> R {
        let mut guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let trusted = matches!(&*guard, Some(c) if epoch.is_some() && c.checked == epoch);
        if !trusted {
            let now = stamp(Path::new(self.path));
            match &mut *guard {
                Some(c) if c.stamp.is_some() && c.stamp == now => c.checked = epoch,
                _ => {
                    let text = std::fs::read_to_string(self.path).unwrap_or_default();
                    *guard = Some(Cached {
                        stamp: now,
                        checked: epoch,
                        entries: (self.parse)(&text),
                    });
                }
            }
        }
        f(guard.as_ref().map(|c| c.entries.as_slice()).unwrap_or(&[]))
    }

    /// An entry found by `find`.
    fn find<R>(&self, find: impl Fn(&[T]) -> Option<R>) -> Option<R> {
        self.find_at(agent_template::epoch::current(), find)
    }

    /// [`Db::find`] in the given epoch. A miss in a reading trusted without a check is
    /// looked for once more after checking the file, so that an entry made outside the
    /// run (cloud-init, a background job) is found as the C library would find it.
    fn find_at<R>(&self, epoch: Option<u64>, find: impl Fn(&[T]) -> Option<R>) -> Option<R> {
        if let Some(r) = self.with_at(epoch, &find) {
            return Some(r);
        }
        if let Some(c) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            c.checked = None;
        }
        self.with_at(epoch, &find)
    }
}

/// The shadow entry of a user, by name (`None` when absent or unreadable).
pub fn shadow(name: &str) -> Option<ShadowEntry> {
    SHADOW.find(|e| e.iter().find(|s| s.name == name).cloned())
}

/// Every group, in file order (for membership questions).
pub fn all_groups() -> Vec<GroupEntry> {
    GROUP.with(|e| e.to_vec())
}

/// The names of the groups that list `user` as a member (the primary group only
/// when it lists the user too), in file order, as `grp.getgrall()` scans them.
pub fn member_of(user: &str) -> Vec<String> {
    GROUP.with(|e| {
        e.iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .map(|g| g.name.clone())
            .collect()
    })
}

/// The passwd entry of a user, by name.
pub fn user(name: &str) -> Option<PasswdEntry> {
    PASSWD.find(|e| e.iter().find(|u| u.name == name).cloned())
}

/// The passwd entry of a user, by uid (the first one, as getpwuid).
pub fn user_by_uid(uid: u32) -> Option<PasswdEntry> {
    PASSWD.find(|e| e.iter().find(|u| u.uid == uid).cloned())
}

/// The group entry of a group, by name.
pub fn group(name: &str) -> Option<GroupEntry> {
    GROUP.find(|e| e.iter().find(|g| g.name == name).cloned())
}

/// The group entry of a group, by gid.
pub fn group_by_gid(gid: u32) -> Option<GroupEntry> {
    GROUP.find(|e| e.iter().find(|g| g.gid == gid).cloned())
}

pub fn uid_by_name(name: &str) -> Option<u32> {
    user(name).map(|u| u.uid)
}

pub fn gid_by_name(name: &str) -> Option<u32> {
    group(name).map(|g| g.gid)
}

pub fn user_name(uid: u32) -> Option<String> {
    user_by_uid(uid).map(|u| u.name)
}

pub fn group_name(gid: u32) -> Option<String> {
    group_by_gid(gid).map(|g| g.name)
}

/// A user given as Ansible accepts it: a number is a uid, anything else a name.
pub fn resolve_uid(owner: &str) -> Option<u32> {
    match owner.trim().parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => uid_by_name(owner),
    }
}

/// A group given as Ansible accepts it: a number is a gid, anything else a name.
pub fn resolve_gid(group: &str) -> Option<u32> {
    match group.trim().parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => gid_by_name(group),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let t = "root:x:0:0:root:/root:/bin/bash\n# comment\nbad line\n+nis::::::\n\
                 www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n";
        let e = parse_passwd(t);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].name, "www-data");
        assert_eq!(e[1].uid, 33);
        assert_eq!(e[1].home, "/var/www");
    }

    #[test]
    fn parses_group_lines() {
        let e = parse_group("root:x:0:\nadm:x:4:syslog,alice\nbroken\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].members, Vec::<String>::new());
        assert_eq!(e[1].members, vec!["syslog", "alice"]);
    }

    #[test]
    fn parses_shadow_lines() {
        let e = parse_shadow("root:*:19000:0:99999:7:::\nbob:!$6$x$y:19001:::::20000:\nbad\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].max, 99999);
        assert_eq!(e[0].expire, -1);
        assert_eq!(e[1].password, "!$6$x$y");
        assert_eq!(e[1].min, -1);
        assert_eq!(e[1].expire, 20000);
    }

    #[test]
    fn readings_are_trusted_within_an_epoch_and_a_miss_checks_again() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("passwd");
        std::fs::write(&f, "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        let path: &'static str = Box::leak(f.display().to_string().into_boxed_str());
        let db = Db::new(path, parse_passwd);
        let count = |e: &[PasswdEntry]| e.len();
        let find =
            |n: &'static str| move |e: &[PasswdEntry]| e.iter().find(|u| u.name == n).cloned();
        assert_eq!(db.with_at(Some(1), count), 1);
        // Changed behind the run's back: epoch 1 still trusts its reading...
        std::fs::write(
            &f,
            "root:x:0:0:root:/root:/bin/sh\nsam:x:1000:1000::/home/sam:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(db.with_at(Some(1), count), 1);
        // ...but a miss looks at the file again, and a new epoch or no epoch always does.
        assert_eq!(db.find_at(Some(1), find("sam")).map(|u| u.uid), Some(1000));
        std::fs::write(&f, "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        assert_eq!(db.with_at(Some(2), count), 1);
        std::fs::write(&f, "root:x:0:0:root:/root:/bin/bash\nb:x:1:1::/:/bin/sh\n").unwrap();
        assert_eq!(db.with_at(None, count), 2);
        assert!(db.find_at(Some(3), find("nobody-here")).is_none());
    }

    #[test]
    fn looks_up_root() {
        assert_eq!(uid_by_name("root"), Some(0));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(gid_by_name("root"), Some(0));
        assert_eq!(resolve_uid("0"), Some(0));
        assert_eq!(resolve_uid("no-such-user-xyz"), None);
    }
}
