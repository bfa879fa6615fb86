//! The local time zone, read the way the C library reads it: `TZ` (a zoneinfo name or a
//! path), else `/etc/localtime`. `jiff::tz::TimeZone::system()` finds the same zone but,
//! on its first use in a process, lists the whole zoneinfo database (hundreds of
//! directory reads): a command task's `start`/`end` times paid that on every run. The
//! zone is kept while `TZ` and `/etc/localtime` stay the same (a `timezone` task that
//! changes `/etc/localtime` is seen by the next task, as Ansible's next module process
//! sees it). With `TZDIR` set, or a `TZ` that names no file (a POSIX rule), jiff decides.

use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

use jiff::tz::TimeZone;

const ZONEINFO: &str = "/usr/share/zoneinfo/";
const LOCALTIME: &str = "/etc/localtime";

/// What the zone was read from: `TZ` and the identity of /etc/localtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    tz: Option<String>,
    localtime: Option<(u64, u64, i64, i64, u64)>,
}

impl Stamp {
    fn now() -> Stamp {
        Stamp {
            tz: tz_now(),
            localtime: std::fs::metadata(LOCALTIME)
                .ok()
                .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size())),
        }
    }
}

fn tz_now() -> Option<String> {
    std::env::var_os("TZ").map(|v| v.to_string_lossy().into_owned())
}

/// The zone, what it was read from, and the epoch it was last checked in.
static ZONE: Mutex<Option<(Stamp, Option<u64>, TimeZone)>> = Mutex::new(None);

/// The local time zone (see the module documentation). Within a managed epoch
/// ([`crate::epoch`]) /etc/localtime is looked at once, not at every call.
pub fn zone() -> TimeZone {
    let mut cached = ZONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((s, checked, z)) = cached.as_ref()
        && crate::epoch::trusted(*checked)
        && s.tz == tz_now()
    {
        return z.clone();
    }
    let checked = crate::epoch::current();
    let stamp = Stamp::now();
    if let Some((s, c, z)) = cached.as_mut()
        && *s == stamp
    {
        *c = checked;
        return z.clone();
    }
    let z = read(&stamp).unwrap_or_else(TimeZone::system);
    *cached = Some((stamp, checked, z.clone()));
    z
}

/// The zone from its TZif file; `None` where only jiff's own lookup can tell (a POSIX
/// `TZ` rule such as `EST5EDT`, a missing file).
fn read(stamp: &Stamp) -> Option<TimeZone> {
    if std::env::var_os("TZDIR").is_some() {
        // another zoneinfo directory: jiff (like the C library) knows where to look
        return None;
    }
    let (name, path) = match &stamp.tz {
        Some(tz) => {
            let name = tz.strip_prefix(':').unwrap_or(tz);
            if name.is_empty() || name.contains("..") || name.contains('\u{fffd}') {
                // empty (jiff's UTC), outside the database, or not UTF-8
                return None;
            }
            let path = if name.starts_with('/') {
                name.to_string()
            } else {
                format!("{ZONEINFO}{name}")
            };
            let name = name.rsplit_once("zoneinfo/").map_or(name, |(_, n)| n);
            (name.to_string(), path)
        }
        None => {
            stamp.localtime?;
            let name = std::fs::read_link(LOCALTIME)
                .ok()
                .and_then(|t| {
                    let t = t.to_string_lossy().into_owned();
                    t.rsplit_once("zoneinfo/").map(|(_, n)| n.to_string())
                })
                .unwrap_or_else(|| "Local".to_string());
            (name, LOCALTIME.to_string())
        }
    };
    let data = std::fs::read(path).ok()?;
    TimeZone::tzif(&name, &data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_offsets_as_jiff_finds() {
        // whatever this machine's zone is, both readings agree on it
        let now = jiff::Timestamp::now();
        assert_eq!(zone().to_offset(now), TimeZone::system().to_offset(now),);
    }

    #[test]
    fn a_zoneinfo_name_in_tz_is_read_from_its_file() {
        let stamp = Stamp {
            tz: Some(":Etc/UTC".into()),
            localtime: None,
        };
        if std::path::Path::new("/usr/share/zoneinfo/Etc/UTC").exists() {
            let z = read(&stamp).expect("Etc/UTC");
            assert_eq!(z.iana_name(), Some("Etc/UTC"));
        }
        let posix = Stamp {
            tz: Some("EST5EDT,M3.2.0,M11.1.0".into()),
            localtime: None,
        };
        // not a file: left to jiff, which understands POSIX rules
        assert!(read(&posix).is_none());
        let outside = Stamp {
            tz: Some("../../etc/passwd".into()),
            localtime: None,
        };
        assert!(read(&outside).is_none());
    }
}
