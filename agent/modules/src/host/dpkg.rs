//! The Debian package database, read from its files: /var/lib/dpkg/status (what is
//! installed), /var/lib/apt/extended_states (what apt installed as a dependency) and
//! the apt cache time stamps. Candidate versions come from one `apt-cache policy` call
//! for all names of a task (apt's pinning rules live in apt, not in files we could read
//! simply). Debian version comparison is here too.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

pub const STATUS_PATH: &str = "/var/lib/dpkg/status";
pub const EXTENDED_STATES_PATH: &str = "/var/lib/apt/extended_states";
pub const APT_LISTS_PATH: &str = "/var/lib/apt/lists";
pub const UPDATE_SUCCESS_STAMP_PATH: &str = "/var/lib/apt/periodic/update-success-stamp";

/// One paragraph of the dpkg status file (the fields the modules use).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DpkgPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The third word of `Status:` (`installed`, `config-files`, `half-installed`, ...).
    pub state: String,
    /// Names this package provides (virtual packages), versions dropped.
    pub provides: Vec<String>,
    pub section: String,
    /// `Source:` without its version (empty when it is the package name).
    pub source: String,
}

impl DpkgPackage {
    pub fn is_installed(&self) -> bool {
        self.state == "installed"
    }
}

/// The parsed status file: every paragraph, and an index by package name.
#[derive(Debug, Clone, Default)]
pub struct DpkgStatus {
    pub packages: Vec<DpkgPackage>,
    by_name: HashMap<String, Vec<usize>>,
    /// The native architecture (that of the `dpkg` package itself).
    pub native_arch: String,
}

/// Parse the text of a dpkg status file.
pub fn parse_status(text: &str) -> DpkgStatus {
    let mut st = DpkgStatus::default();
    let mut cur = DpkgPackage::default();
    let mut last_key = "";
    let flush = |cur: &mut DpkgPackage, st: &mut DpkgStatus| {
        if !cur.name.is_empty() {
            let p = std::mem::take(cur);
            if p.name == "dpkg" && p.is_installed() {
                st.native_arch = p.arch.clone();
            }
            st.by_name
                .entry(p.name.clone())
                .or_default()
                .push(st.packages.len());
            st.packages.push(p);
        }
        *cur = DpkgPackage::default();
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur, &mut st);
            last_key = "";
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line: only multi-line Provides matter here.
            if last_key == "Provides" {
                cur.provides.extend(parse_provides(line));
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        last_key = key;
        match key {
            "Package" => cur.name = value.to_string(),
            "Version" => cur.version = value.to_string(),
            "Architecture" => cur.arch = value.to_string(),
            "Status" => cur.state = value.split_whitespace().nth(2).unwrap_or("").to_string(),
            "Provides" => cur.provides = parse_provides(value),
            "Section" => cur.section = value.to_string(),
            "Source" => {
                cur.source = value.split_whitespace().next().unwrap_or("").to_string();
            }
            _ => {}
        }
    }
    flush(&mut cur, &mut st);
    st
}

fn parse_provides(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|p| p.split_whitespace().next())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The identity of a status file as dpkg replaces it (it writes a new file and renames
/// it over the old one, so a change always changes the inode or the modification time).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(FileStamp {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
        })
    }
}

/// The last status file parsed in this process, with the stamp it had when read.
type Parsed = (FileStamp, std::sync::Arc<DpkgStatus>);
static LAST_READ: std::sync::Mutex<Option<Parsed>> = std::sync::Mutex::new(None);

impl DpkgStatus {
    /// Read and parse the status file (a missing file is an empty database).
    pub fn read(path: &Path) -> std::io::Result<DpkgStatus> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(parse_status(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DpkgStatus::default()),
            Err(e) => Err(e),
        }
    }

    /// [`DpkgStatus::read`], parsed once per version of the file: every package task of a
    /// run reads the same status file (a few hundred KB), which only changes when dpkg
    /// installs or removes something. The file is stamped before it is read, so a change
    /// made while it is read gives a new stamp next time and is read again.
    pub fn read_shared(path: &Path) -> std::io::Result<std::sync::Arc<DpkgStatus>> {
        let stamp = match FileStamp::of(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(std::sync::Arc::new(DpkgStatus::default()));
            }
            Err(e) => return Err(e),
        };
        let mut last = LAST_READ.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, st)) = last.as_ref()
            && *s == stamp
        {
            return Ok(st.clone());
        }
        let st = std::sync::Arc::new(DpkgStatus::read(path)?);
        *last = Some((stamp, st.clone()));
        Ok(st)
    }

    /// Every paragraph for `name` (`name` or `name:arch`).
    pub fn entries(&self, name: &str) -> Vec<&DpkgPackage> {
        let (base, arch) = split_arch(name);
        self.by_name
            .get(base)
            .map(|ix| {
                ix.iter()
                    .filter_map(|i| self.packages.get(*i))
                    .filter(|p| match arch {
                        Some(a) => p.arch == a || (a == "any") || (p.arch == "all"),
                        None => true,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The installed paragraph for `name`, preferring the native architecture.
    pub fn installed(&self, name: &str) -> Option<&DpkgPackage> {
        let mut found: Vec<&DpkgPackage> = self
            .entries(name)
            .into_iter()
            .filter(|p| p.is_installed())
            .collect();
        found.sort_by_key(|p| !(p.arch == self.native_arch || p.arch == "all"));
        found.into_iter().next()
    }

    /// Whether a package of that name left files behind (removed, not purged) or is
    /// installed: what `purge` would still act on.
    pub fn has_files(&self, name: &str) -> bool {
        self.entries(name)
            .iter()
            .any(|p| p.state != "not-installed" && !p.state.is_empty())
    }

    /// Installed packages that provide the virtual package `name`.
    pub fn providers(&self, name: &str) -> Vec<&DpkgPackage> {
        let (base, _) = split_arch(name);
        self.packages
            .iter()
            .filter(|p| p.is_installed() && p.provides.iter().any(|v| v == base))
            .collect()
    }

    /// Installed packages, in file order.
    pub fn installed_packages(&self) -> impl Iterator<Item = &DpkgPackage> {
        self.packages.iter().filter(|p| p.is_installed())
    }
}

/// `name:arch` → (`name`, Some(`arch`)).
pub fn split_arch(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (name, None),
    }
}

/// Names apt marked as automatically installed (`Auto-Installed: 1`), from
/// /var/lib/apt/extended_states text.
pub fn parse_auto_installed(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut arch = String::new();
    let mut auto = false;
    let mut flush = |name: &mut String, arch: &mut String, auto: &mut bool| {
        if *auto && !name.is_empty() {
            out.push(name.clone());
            if !arch.is_empty() {
                out.push(format!("{name}:{arch}"));
            }
        }
        name.clear();
        arch.clear();
        *auto = false;
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut name, &mut arch, &mut auto);
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k {
                "Package" => name = v.trim().to_string(),
                "Architecture" => arch = v.trim().to_string(),
                "Auto-Installed" => auto = v.trim() == "1",
                _ => {}
            }
        }
    }
    flush(&mut name, &mut arch, &mut auto);
    out
}

/// Read the names apt marked automatically installed (none when there is no file).
pub fn auto_installed() -> Vec<String> {
    std::fs::read_to_string(EXTENDED_STATES_PATH)
        .map(|t| parse_auto_installed(&t))
        .unwrap_or_default()
}

/// The apt cache time Ansible uses: mtime of the update-success stamp if present,
/// else of the lists directory, else 0 (seconds since the epoch).
pub fn cache_mtime() -> i64 {
    for p in [UPDATE_SUCCESS_STAMP_PATH, APT_LISTS_PATH] {
        if let Ok(m) = std::fs::metadata(p) {
            use std::os::unix::fs::MetadataExt;
            return m.mtime();
        }
    }
    0
}

/// What `apt-cache policy` says about one package.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// The version table: (version, priority of its best origin), in apt's order.
    pub versions: Vec<(String, i64)>,
}

impl Policy {
    /// A name apt knows only as a virtual package (no versions of its own).
    pub fn is_virtual(&self) -> bool {
        self.versions.is_empty() && self.candidate.is_none() && self.installed.is_none()
    }
}

fn none_if_none(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() || v == "(none)" {
        None
    } else {
        Some(v.to_string())
    }
}

/// Parse `apt-cache policy NAME...` output (C locale). Names apt does not know at all
/// are absent from the output and so from the map.
pub fn parse_policy(text: &str) -> HashMap<String, Policy> {
    let mut out: HashMap<String, Policy> = HashMap::new();
    let mut cur: Option<(String, Policy)> = None;
    let mut in_table = false;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            if let Some((n, p)) = cur.take() {
                out.insert(n, p);
            }
            let name = line.trim_end().trim_end_matches(':').to_string();
            cur = Some((name, Policy::default()));
            in_table = false;
            continue;
        }
        let Some((_, p)) = cur.as_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Installed:") {
            p.installed = none_if_none(v);
        } else if let Some(v) = t.strip_prefix("Candidate:") {
            p.candidate = none_if_none(v);
        } else if t.starts_with("Version table:") {
            in_table = true;
        } else if in_table {
            // Version lines: 5 columns of marker (" *** " or spaces), then
            // "VERSION PRIORITY"; origin lines are indented further.
            let indent = line.len() - line.trim_start_matches(' ').len();
            let is_version = line.starts_with(" *** ") || indent == 5;
            if is_version {
                let t = t.trim_start_matches("***").trim();
                let mut w = t.split_whitespace();
                if let (Some(v), Some(prio)) = (w.next(), w.next()) {
                    p.versions
                        .push((v.to_string(), prio.parse::<i64>().unwrap_or(0)));
                }
            }
        }
    }
    if let Some((n, p)) = cur.take() {
        out.insert(n, p);
    }
    out
}

/// Find what policy says for `name` (`name:arch` is printed without a native arch).
pub fn policy_for<'a>(map: &'a HashMap<String, Policy>, name: &str) -> Option<&'a Policy> {
    map.get(name).or_else(|| map.get(split_arch(name).0))
}

/// The environment Ansible's apt module gives apt-get and apt-cache: no questions, and
/// a locale whose messages we can read. The task's `environment` comes first.
pub fn apt_env(task_env: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = task_env.to_vec();
    for (k, v) in [
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("DEBIAN_PRIORITY", "critical"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
        ("LC_MESSAGES", "C.UTF-8"),
        ("LC_CTYPE", "C.UTF-8"),
        ("LANGUAGE", "C.UTF-8"),
    ] {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Run a program with the apt environment; `Err` when it cannot be started.
pub(crate) fn run_apt_tool(
    argv: Vec<String>,
    task_env: &[(String, String)],
) -> Result<crate::command::CmdOutput, crate::ModuleError> {
    let prog = argv.first().cloned().unwrap_or_default();
    let s = crate::command::Spawn {
        argv,
        env: apt_env(task_env),
        ..Default::default()
    };
    crate::command::spawn(&s)?
        .map_err(|e| crate::ModuleError::new(format!("Failed to run {prog}: {e}")).with("rc", 2))
}

/// One `apt-cache policy` for all `names` (with `default_release` as `-t` would set it).
pub fn query_policy(
    names: &[String],
    default_release: Option<&str>,
    task_env: &[(String, String)],
) -> Result<HashMap<String, Policy>, crate::ModuleError> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let mut argv: Vec<String> = vec!["apt-cache".into()];
    if let Some(r) = default_release {
        argv.push("-o".into());
        argv.push(format!("APT::Default-Release={r}"));
    }
    argv.push("policy".into());
    argv.extend(names.iter().cloned());
    let out = run_apt_tool(argv, task_env)?;
    if out.rc != 0 {
        return Err(crate::ModuleError::new(format!(
            "apt-cache policy failed: {}",
            out.stderr.trim()
        ))
        .with("rc", out.rc)
        .with("stdout", out.stdout)
        .with("stderr", out.stderr));
    }
    Ok(parse_policy(&out.stdout))
}

// ---------------------------------------------------------------------------------
// Debian version comparison (deb-version(7)).

fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0i32;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied().filter(|c| !c.is_ascii_digit()));
            let bc = order(b.get(j).copied().filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// Compare two Debian versions as dpkg does.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a.trim());
    let (eb, ub, rb) = split_version(b.trim());
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// Python's `fnmatch.fnmatch` on POSIX (case-sensitive): `*`, `?`, `[seq]`, `[!seq]`.
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    fn go(n: &[char], p: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&n[k..], &p[1..])),
            Some('?') => !n.is_empty() && go(&n[1..], &p[1..]),
            Some('[') => {
                let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                    return n.first() == Some(&'[') && go(&n[1..], &p[1..]);
                };
                let Some(c) = n.first() else {
                    return false;
                };
                let mut set = &p[1..close];
                let negate = matches!(set.first(), Some('!'));
                if negate {
                    set = &set[1..];
                }
                let mut hit = false;
                let mut k = 0;
                while k < set.len() {
                    if k + 2 < set.len() && set[k + 1] == '-' {
                        if set[k] <= *c && *c <= set[k + 2] {
                            hit = true;
                        }
                        k += 3;
                    } else {
                        if set[k] == *c {
                            hit = true;
                        }
                        k += 1;
                    }
                }
                hit != negate && go(&n[1..], &p[close + 1..])
            }
            Some(c) => n.first() == Some(c) && go(&n[1..], &p[1..]),
        }
    }
    let n: Vec<char> = name.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&n, &p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: jq
Status: install ok installed
Priority: optional
Section: utils
Installed-Size: 102
Maintainer: Debian
Architecture: amd64
Source: jq (1.6-2.1)
Version: 1.6-2.1+deb12u1
Depends: libjq1 (= 1.6-2.1+deb12u1), libc6 (>= 2.34)
Description: lightweight and flexible command-line JSON processor
 jq is like sed for JSON data.
 Package: not-a-package

Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: exim4-daemon-light
Status: install ok installed
Architecture: amd64
Version: 4.96-15
Provides: mail-transport-agent,
 exim4-localscanapi-6.0 (= 1)

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.36-9

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9
";

    #[test]
    fn the_shared_status_is_read_again_when_dpkg_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status");
        std::fs::write(&path, STATUS).unwrap();
        let a = DpkgStatus::read_shared(&path).unwrap();
        let b = DpkgStatus::read_shared(&path).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b), "parsed once");
        assert!(a.installed("jq").is_some());
        // dpkg writes status-new and renames it over status
        let new = dir.path().join("status-new");
        std::fs::write(&new, "").unwrap();
        std::fs::rename(&new, &path).unwrap();
        let c = DpkgStatus::read_shared(&path).unwrap();
        assert!(c.installed("jq").is_none());
        let gone = DpkgStatus::read_shared(&dir.path().join("missing")).unwrap();
        assert!(gone.packages.is_empty());
    }
    #[test]
    fn status_file() {
        let st = parse_status(STATUS);
        assert_eq!(st.native_arch, "amd64");
        let jq = st.installed("jq").unwrap();
        assert_eq!(jq.version, "1.6-2.1+deb12u1");
        assert_eq!(jq.section, "utils");
        assert_eq!(jq.source, "jq");
        assert!(st.installed("not-a-package").is_none());
        assert!(st.installed("oldpkg").is_none());
        assert!(st.has_files("oldpkg"));
        assert!(!st.has_files("nope"));
        assert_eq!(st.installed("libc6").unwrap().arch, "amd64");
        assert_eq!(st.installed("libc6:i386").unwrap().arch, "i386");
        assert!(st.installed("libc6:arm64").is_none());
        let p = st.providers("mail-transport-agent");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "exim4-daemon-light");
        assert_eq!(st.providers("exim4-localscanapi-6.0").len(), 1);
        assert_eq!(st.installed_packages().count(), 5);
    }

    #[test]
    fn status_without_trailing_newline_and_empty() {
        let st = parse_status("Package: a\nStatus: install ok installed\nVersion: 1");
        assert!(st.installed("a").is_some());
        assert!(parse_status("").packages.is_empty());
    }

    #[test]
    fn extended_states() {
        let t = "Package: libjq1\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: jq\nArchitecture: amd64\nAuto-Installed: 0\n";
        assert_eq!(parse_auto_installed(t), vec!["libjq1", "libjq1:amd64"]);
    }

    #[test]
    fn policy_output() {
        let t = "\
tree:
  Installed: (none)
  Candidate: 2.1.0-1
  Version table:
     2.1.0-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
jq:
  Installed: 1.6-2.1+deb12u1
  Candidate: 1.6-2.1+deb12u3
  Version table:
     1.6-2.1+deb12u3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 *** 1.6-2.1+deb12u1 100
        100 /var/lib/dpkg/status
mail-transport-agent:
  Installed: (none)
  Candidate: (none)
  Version table:
";
        let m = parse_policy(t);
        assert_eq!(m.len(), 3);
        let tree = &m["tree"];
        assert_eq!(tree.installed, None);
        assert_eq!(tree.candidate.as_deref(), Some("2.1.0-1"));
        assert_eq!(tree.versions, vec![("2.1.0-1".to_string(), 500)]);
        let jq = &m["jq"];
        assert_eq!(jq.installed.as_deref(), Some("1.6-2.1+deb12u1"));
        assert_eq!(jq.versions.len(), 2);
        assert_eq!(jq.versions[1], ("1.6-2.1+deb12u1".to_string(), 100));
        assert!(m["mail-transport-agent"].is_virtual());
        assert!(policy_for(&m, "tree:amd64").is_some());
        assert!(policy_for(&m, "nope").is_none());
    }

    #[test]
    fn versions() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1:0.1", "2.0", Greater),
            ("2.36-9+deb12u7", "2.36-9+deb12u14", Less),
            ("1.6-2.1+deb12u3", "1.6-2.1+deb12u1", Greater),
            ("5.2.15-2+b13", "5.2.15-2+b8", Greater),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("1.01", "1.1", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0-", "1.0", Equal),
            ("~~", "~", Less),
            ("a", "+", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn globs() {
        assert!(fnmatch("1.6-2.1+deb12u1", "1.6*"));
        assert!(fnmatch("1.6-2.1+deb12u1", "1.6-2.1+deb12u1"));
        assert!(!fnmatch("1.6-2.1+deb12u1", "1.7*"));
        assert!(fnmatch("abc", "a?c"));
        assert!(fnmatch("abc", "a[a-c]c"));
        assert!(!fnmatch("abc", "a[!b]c"));
    }
}
