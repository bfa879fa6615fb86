//! `distribution` collector (distribution.py + the `distro` library parts it uses):
//! distribution, version, major/minor version, release, os_family and the
//! distribution_file_* facts, from os-release and the distribution files.

use std::collections::HashMap;

use regex_lite::Regex;
use serde_json::Value;

use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    distribution_facts(&|p: &str| {
        let md = std::fs::metadata(p).ok()?;
        if !md.is_file() {
            return None;
        }
        crate::util::read_raw(p)
    })
}

/// Reads a regular file's raw text (`None`: missing or not a file).
pub type FileReader<'a> = &'a dyn Fn(&str) -> Option<String>;

const OSDIST_LIST: &[(&str, &str, bool)] = &[
    ("/etc/altlinux-release", "Altlinux", false),
    ("/etc/oracle-release", "OracleLinux", false),
    ("/etc/slackware-version", "Slackware", false),
    ("/etc/centos-release", "CentOS", false),
    ("/etc/redhat-release", "RedHat", false),
    ("/etc/vmware-release", "VMwareESX", true),
    ("/etc/openwrt_release", "OpenWrt", false),
    ("/etc/os-release", "Amazon", false),
    ("/etc/system-release", "Amazon", false),
    ("/etc/alpine-release", "Alpine", false),
    ("/etc/arch-release", "Archlinux", true),
    ("/etc/os-release", "Archlinux", false),
    ("/etc/os-release", "SUSE", false),
    ("/etc/SuSE-release", "SUSE", false),
    ("/etc/gentoo-release", "Gentoo", false),
    ("/etc/os-release", "Debian", false),
    ("/etc/lsb-release", "Debian", false),
    ("/etc/lsb-release", "Mandriva", false),
    ("/etc/sourcemage-release", "SMGL", false),
    ("/usr/lib/os-release", "ClearLinux", false),
    ("/etc/coreos/update.conf", "Coreos", false),
    ("/etc/os-release", "Flatcar", false),
    ("/etc/os-release", "NA", false),
];

const OS_FAMILY_MAP: &[(&str, &[&str])] = &[
    (
        "RedHat",
        &[
            "RedHat",
            "RHEL",
            "Fedora",
            "CentOS",
            "Scientific",
            "SLC",
            "Ascendos",
            "CloudLinux",
            "PSBM",
            "OracleLinux",
            "OVS",
            "OEL",
            "Amazon",
            "Amzn",
            "Virtuozzo",
            "XenServer",
            "Alibaba",
            "EulerOS",
            "openEuler",
            "AlmaLinux",
            "Rocky",
            "TencentOS",
            "EuroLinux",
            "Kylin Linux Advanced Server",
            "MIRACLE",
        ],
    ),
    (
        "Debian",
        &[
            "Debian",
            "Ubuntu",
            "Raspbian",
            "Neon",
            "KDE neon",
            "Linux Mint",
            "SteamOS",
            "Devuan",
            "Kali",
            "Cumulus Linux",
            "Pop!_OS",
            "Parrot",
            "Pardus GNU/Linux",
            "Uos",
            "Deepin",
            "OSMC",
            "Linux Mint Debian Edition",
            "Univention Corporate Server",
        ],
    ),
    (
        "Suse",
        &[
            "SuSE",
            "SLES",
            "SLED",
            "openSUSE",
            "openSUSE Tumbleweed",
            "SLES_SAP",
            "SUSE_LINUX",
            "openSUSE Leap",
            "ALP-Dolomite",
            "SL-Micro",
            "openSUSE MicroOS",
        ],
    ),
    ("Archlinux", &["Archlinux", "Antergos", "Manjaro"]),
    ("Mandrake", &["Mandrake", "Mandriva"]),
    ("Slackware", &["Slackware"]),
    ("Altlinux", &["Altlinux"]),
    ("SMGL", &["SMGL"]),
    ("Gentoo", &["Gentoo", "Funtoo"]),
    ("Alpine", &["Alpine"]),
    ("ClearLinux", &["Clear Linux OS", "Clear Linux Mix"]),
];

pub fn os_family(distribution: &str) -> String {
    OS_FAMILY_MAP
        .iter()
        .find(|(_, names)| names.contains(&distribution))
        .map(|(f, _)| f.to_string())
        .unwrap_or_else(|| distribution.to_string())
}

const STRIP_QUOTES: &[char] = &['\'', '"', '\\'];

/// os-release parsed like the `distro` library (shell-like values, lowercase keys,
/// `codename` derived from VERSION_CODENAME, UBUNTU_CODENAME or "VERSION (codename)").
pub fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut props = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        props.insert(k.trim().to_lowercase(), shell_unquote(v.trim()));
    }
    if let Some(version) = props.get("version").cloned()
        && let Some(re) = crate::util::regex(r"\((\D+)\)|,\s*(\D+)")
        && let Some(c) = re.captures(&version)
    {
        let code = c
            .get(1)
            .or_else(|| c.get(2))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        props.insert("codename".into(), code.clone());
        props.insert("release_codename".into(), code);
    }
    if let Some(c) = props.get("version_codename").cloned() {
        props.insert("codename".into(), c);
    } else if let Some(c) = props.get("ubuntu_codename").cloned() {
        props.insert("codename".into(), c);
    }
    props
}

fn shell_unquote(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"') | (None, '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (None, '#') => break,
            (None, c) if c.is_whitespace() => break,
            (_, c) => out.push(c),
        }
    }
    out
}

/// The version a "Name release 9.2 (Plow)" style line carries (distro's reversed pattern:
/// the last version-looking word).
fn version_in_line(line: &str) -> String {
    let before_paren = line.split('(').next().unwrap_or_default();
    before_paren
        .split_whitespace()
        .rev()
        .find(|w| {
            w.chars().last().is_some_and(|c| c.is_ascii_digit())
                && w.chars().next().is_some_and(|c| c.is_ascii_digit())
                && w.chars().all(|c| {
                    c.is_ascii_digit() || c == '.' || c == '+' || c == '-' || c.is_ascii_lowercase()
                })
        })
        .unwrap_or_default()
        .to_string()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
        None => String::new(),
    }
}

/// Ansible's `_guess_distribution` (sys_info + distro): distribution, version, release,
/// major version.
fn guess(files: FileReader<'_>) -> Facts {
    let osr_text = files("/etc/os-release")
        .or_else(|| files("/usr/lib/os-release"))
        .unwrap_or_default();
    let osr = parse_os_release(&osr_text);
    let id = osr.get("id").cloned().unwrap_or_default();
    let like = osr.get("id_like").cloned().unwrap_or_default();
    let mut dist = capitalize(&id);
    if dist == "Amzn" {
        dist = "Amazon".into();
    } else if dist == "Rhel" {
        dist = "Redhat".into();
    } else if dist.is_empty() {
        dist = "OtherLinux".into();
    }
    // distro.version() candidates, in order.
    let release_file_version = [
        "/etc/redhat-release",
        "/etc/centos-release",
        "/etc/system-release",
    ]
    .iter()
    .find_map(|p| files(p))
    .map(|t| version_in_line(t.lines().next().unwrap_or_default()))
    .unwrap_or_default();
    let mut candidates = vec![
        osr.get("version_id").cloned().unwrap_or_default(),
        release_file_version,
        version_in_line(
            osr.get("pretty_name")
                .map(String::as_str)
                .unwrap_or_default(),
        ),
    ];
    let debian_like = id == "debian" || like.split_whitespace().any(|l| l == "debian");
    if debian_like {
        candidates.push(
            files("/etc/debian_version")
                .map(|t| t.trim().to_string())
                .unwrap_or_default(),
        );
    }
    let first = candidates
        .iter()
        .find(|v| !v.is_empty())
        .cloned()
        .unwrap_or_default();
    let best = || {
        let mut version = String::new();
        for v in &candidates {
            if v.matches('.').count() > version.matches('.').count() || version.is_empty() {
                version = v.clone();
            }
        }
        version
    };
    let version = match id.as_str() {
        "debian" => best(),
        "centos" => best().split('.').take(2).collect::<Vec<_>>().join("."),
        _ => first,
    };
    let codename = osr
        .get("version_codename")
        .or_else(|| osr.get("ubuntu_codename"))
        .or_else(|| osr.get("codename"))
        .cloned()
        .filter(|c| !c.is_empty());
    let version = if version.is_empty() {
        "NA".to_string()
    } else {
        version
    };
    let mut f = Facts::new();
    f.insert("distribution".into(), Value::from(dist));
    f.insert(
        "distribution_major_version".into(),
        Value::from(
            version
                .split('.')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("NA"),
        ),
    );
    f.insert("distribution_version".into(), Value::from(version));
    f.insert(
        "distribution_release".into(),
        Value::from(codename.unwrap_or_else(|| "NA".into())),
    );
    f
}

fn re(p: &str) -> Option<Regex> {
    crate::util::regex(p)
}

fn cap1(p: &str, text: &str) -> Option<String> {
    re(p)?
        .captures(text)?
        .get(1)
        .map(|m| m.as_str().to_string())
}

fn put(f: &mut Facts, k: &str, v: impl Into<String>) {
    f.insert(k.to_string(), Value::from(v.into()));
}

/// One `parse_distribution_file_<name>`: Some(facts) when parsed.
fn parse_file(
    name: &str,
    data: &str,
    path: &str,
    collected: &Facts,
    files: FileReader<'_>,
) -> Option<Facts> {
    let mut f = Facts::new();
    let data = data.trim_matches(STRIP_QUOTES);
    let search = match name {
        "OracleLinux" => Some("Oracle Linux"),
        "RedHat" => Some("Red Hat"),
        "Altlinux" => Some("ALT"),
        "SMGL" => Some("Source Mage GNU/Linux"),
        _ => None,
    };
    if let Some(s) = search {
        if data.contains(s) {
            put(&mut f, "distribution", name);
            put(&mut f, "distribution_file_search_string", s);
        } else {
            put(&mut f, "distribution", crate::util::first_word(data));
        }
        return Some(f);
    }
    let get = |k: &str| {
        collected
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match name {
        "Archlinux" => data.contains("Arch Linux").then_some(f),
        "Slackware" => {
            if !data.contains("Slackware") {
                return None;
            }
            put(&mut f, "distribution", name);
            if let Some(v) =
                re(r"\w+[.]\w+\+?").and_then(|r| r.find(data).map(|m| m.as_str().to_string()))
            {
                put(&mut f, "distribution_version", v);
            }
            Some(f)
        }
        "Amazon" => {
            if !data.contains("Amazon") {
                return None;
            }
            put(&mut f, "distribution", "Amazon");
            if path == "/etc/os-release" {
                if let Some(v) = cap1(r#"VERSION_ID="(.*)""#, data) {
                    let parts: Vec<&str> = v.split('.').collect();
                    let (major, minor) = if parts.len() > 1 {
                        (parts[0].to_string(), parts[1..].join("."))
                    } else {
                        (parts[0].to_string(), "NA".to_string())
                    };
                    put(&mut f, "distribution_version", v.clone());
                    put(&mut f, "distribution_major_version", major);
                    put(&mut f, "distribution_minor_version", minor);
                }
            } else {
                let v = data
                    .split_whitespace()
                    .find(|w| w.chars().all(|c| c.is_ascii_digit()))
                    .unwrap_or("NA");
                put(&mut f, "distribution_version", v);
            }
            Some(f)
        }
        "OpenWrt" => {
            if !data.contains("OpenWrt") {
                return None;
            }
            put(&mut f, "distribution", name);
            if let Some(v) = cap1(r#"DISTRIB_RELEASE="(.*)""#, data) {
                put(&mut f, "distribution_version", v);
            }
            if let Some(v) = cap1(r#"DISTRIB_CODENAME="(.*)""#, data) {
                put(&mut f, "distribution_release", v);
            }
            Some(f)
        }
        "Alpine" => {
            put(&mut f, "distribution", "Alpine");
            put(&mut f, "distribution_version", data);
            Some(f)
        }
        "SUSE" => {
            let lower = data.to_lowercase();
            if !lower.contains("suse") {
                return None;
            }
            if path == "/etc/os-release" {
                for line in data.lines() {
                    if let Some(v) = cap1(r"^NAME=(.*)", line) {
                        put(&mut f, "distribution", v.trim_matches('"'));
                    }
                    if let Some(v) = cap1(r#"^VERSION_ID="?([0-9]+\.?[0-9]*)"?"#, line) {
                        put(
                            &mut f,
                            "distribution_major_version",
                            v.split('.').next().unwrap_or_default(),
                        );
                        put(&mut f, "distribution_version", v);
                    }
                    if lower.contains("open") {
                        if let Some(r) = cap1(r#"^VERSION_ID="?[0-9]+\.?([0-9]*)"?"#, line) {
                            put(&mut f, "distribution_release", r);
                        }
                    } else if lower.contains("enterprise") && line.contains("VERSION_ID") {
                        let r = cap1(r#"^VERSION_ID="?[0-9]+\.?([0-9]*)"?"#, line)
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| "0".into());
                        put(&mut f, "distribution_release", r);
                    }
                }
            }
            if let Some(variant) = cap1(r#"(?m)^VARIANT_ID="?([^"\n]*)"?"#, data) {
                if variant == "server-sap" || variant == "sles-sap" {
                    put(&mut f, "distribution", "SLES_SAP");
                } else if variant == "transactional" {
                    put(&mut f, "distribution", "SL-Micro");
                }
            }
            Some(f)
        }
        "Debian" => {
            if data.contains("Debian") || data.contains("Raspbian") {
                put(&mut f, "distribution", "Debian");
                if let Some(r) = cap1(r"PRETTY_NAME=[^(]+ \(?([^)]+?)\)", data) {
                    put(&mut f, "distribution_release", r);
                }
                if let Some(dv) = files("/etc/debian_version") {
                    for line in dv.trim().lines() {
                        if let Some(c) = re(r"(\d+)\.(\d+)").and_then(|r| {
                            r.captures(line.trim())
                                .and_then(|c| c.get(2).map(|m| m.as_str().to_string()))
                        }) {
                            put(&mut f, "distribution_minor_version", c);
                        }
                    }
                }
            } else if data.contains("Ubuntu") {
                put(&mut f, "distribution", "Ubuntu");
            } else if data.contains("SteamOS") {
                put(&mut f, "distribution", "SteamOS");
            } else if (path == "/etc/lsb-release" || path == "/etc/os-release")
                && (data.contains("Kali") || data.contains("Parrot"))
            {
                put(
                    &mut f,
                    "distribution",
                    if data.contains("Kali") {
                        "Kali"
                    } else {
                        "Parrot"
                    },
                );
                if let Some(r) = cap1(r"DISTRIB_RELEASE=(.*)", data) {
                    put(&mut f, "distribution_release", r);
                }
            } else if data.contains("Devuan") {
                put(&mut f, "distribution", "Devuan");
                if let Some(r) = cap1(r#"PRETTY_NAME="?[^("]+ \(?([^) "]+)\)?"#, data) {
                    put(&mut f, "distribution_release", r);
                }
                if let Some(v) = cap1(r#"VERSION_ID="(.*)""#, data) {
                    put(&mut f, "distribution_version", v.clone());
                    put(&mut f, "distribution_major_version", v);
                }
            } else if data.contains("Cumulus") {
                put(&mut f, "distribution", "Cumulus Linux");
                if let Some(v) = cap1(r"VERSION_ID=(.*)", data) {
                    put(
                        &mut f,
                        "distribution_major_version",
                        v.split('.').next().unwrap_or_default(),
                    );
                    put(&mut f, "distribution_version", v);
                }
                if let Some(r) = cap1(r#"VERSION="(.*)""#, data) {
                    put(&mut f, "distribution_release", r);
                }
            } else if data.contains("Mint") {
                put(&mut f, "distribution", "Linux Mint");
                if let Some(v) = cap1(r#"VERSION_ID="(.*)""#, data) {
                    put(
                        &mut f,
                        "distribution_major_version",
                        v.split('.').next().unwrap_or_default(),
                    );
                    put(&mut f, "distribution_version", v);
                }
            } else if data.contains("UOS")
                || data.contains("Uos")
                || data.contains("uos")
                || data.contains("Deepin")
                || data.contains("deepin")
            {
                let uos = data.contains("UOS") || data.contains("Uos") || data.contains("uos");
                put(&mut f, "distribution", if uos { "Uos" } else { "Deepin" });
                if let Some(r) = cap1(r#"VERSION_CODENAME="?([^"]+)"?"#, data) {
                    put(&mut f, "distribution_release", r);
                }
                if let Some(v) = cap1(r#"VERSION_ID="(.*)""#, data) {
                    put(
                        &mut f,
                        "distribution_major_version",
                        v.split('.').next().unwrap_or_default(),
                    );
                    put(&mut f, "distribution_version", v);
                }
            } else if data.contains("LMDE") {
                put(&mut f, "distribution", "Linux Mint Debian Edition");
            } else {
                return None;
            }
            Some(f)
        }
        "Mandriva" => {
            if !data.contains("Mandriva") {
                return None;
            }
            if let Some(v) = cap1(r#"DISTRIB_RELEASE="(.*)""#, data) {
                put(&mut f, "distribution_version", v);
            }
            if let Some(v) = cap1(r#"DISTRIB_CODENAME="(.*)""#, data) {
                put(&mut f, "distribution_release", v);
            }
            put(&mut f, "distribution", name);
            Some(f)
        }
        "NA" => {
            for line in data.lines() {
                if let Some(v) = cap1(r"^NAME=(.*)", line) {
                    put(&mut f, "distribution", v.trim_matches(STRIP_QUOTES));
                }
                if let Some(v) = cap1(r"^VERSION=(.*)", line)
                    && get("distribution_version") == "NA"
                {
                    put(&mut f, "distribution_version", v.trim_matches(STRIP_QUOTES));
                }
            }
            Some(f)
        }
        "Coreos" => {
            if get("distribution").to_lowercase() != "coreos" || data.is_empty() {
                return None;
            }
            if let Some(r) = cap1(r"(?m)^GROUP=(.*)", data) {
                put(&mut f, "distribution_release", r.trim_matches('"'));
            }
            Some(f)
        }
        "Flatcar" => {
            if get("distribution").to_lowercase() != "flatcar" || data.is_empty() {
                return None;
            }
            if let Some(v) = cap1(r"VERSION=(.*)", data) {
                let v = v.trim_matches('"').to_string();
                put(
                    &mut f,
                    "distribution_major_version",
                    v.split('.').next().unwrap_or_default(),
                );
                put(&mut f, "distribution_version", v);
            }
            Some(f)
        }
        "ClearLinux" => {
            let pname = cap1(r#"NAME="(.*)""#, data)?;
            if !pname.contains("Clear Linux") {
                return None;
            }
            put(&mut f, "distribution", pname);
            if let Some(v) = cap1(r"VERSION_ID=(.*)", data) {
                put(&mut f, "distribution_major_version", v.clone());
                put(&mut f, "distribution_version", v);
            }
            if let Some(v) = cap1(r"ID=(.*)", data) {
                put(&mut f, "distribution_release", v);
            }
            Some(f)
        }
        "CentOS" => {
            if data.contains("CentOS Stream") {
                put(&mut f, "distribution_release", "Stream");
                Some(f)
            } else if data.contains("TencentOS Server") {
                put(&mut f, "distribution", "TencentOS");
                Some(f)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// All distribution facts, from the files `files` can read.
pub fn distribution_facts(files: FileReader<'_>) -> Facts {
    let mut f = guess(files);
    for (path, name, allow_empty) in OSDIST_LIST {
        let Some(raw) = files(path) else { continue };
        if raw.is_empty() && !allow_empty {
            continue;
        }
        if *allow_empty {
            put(&mut f, "distribution", *name);
            put(&mut f, "distribution_file_path", *path);
            put(&mut f, "distribution_file_variety", *name);
            break;
        }
        let content = raw.trim();
        if let Some(parsed) = parse_file(name, content, path, &f, files) {
            put(&mut f, "distribution", *name);
            put(&mut f, "distribution_file_path", *path);
            put(&mut f, "distribution_file_variety", *name);
            f.insert("distribution_file_parsed".into(), Value::Bool(true));
            for (k, v) in parsed {
                f.insert(k, v);
            }
            break;
        }
    }
    let d = f
        .get("distribution")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    put(&mut f, "os_family", os_family(&d));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const DEBIAN12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    pub const UBUNTU2204: &str = r#"PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=jammy
"#;

    pub const AL2023: &str = r#"NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.4.20240513"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"
SUPPORT_END="2028-03-15"
"#;

    pub const RHEL9: &str = r#"NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
"#;

    fn run(files: &[(&str, &str)]) -> Facts {
        let m: HashMap<String, String> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        distribution_facts(&move |p: &str| m.get(p).cloned())
    }

    fn s<'a>(f: &'a Facts, k: &str) -> &'a str {
        f.get(k).and_then(Value::as_str).unwrap_or("<missing>")
    }

    #[test]
    fn debian12() {
        let f = run(&[
            ("/etc/os-release", DEBIAN12),
            ("/etc/debian_version", "12.11\n"),
        ]);
        assert_eq!(s(&f, "distribution"), "Debian");
        assert_eq!(s(&f, "distribution_version"), "12.11");
        assert_eq!(s(&f, "distribution_major_version"), "12");
        assert_eq!(s(&f, "distribution_minor_version"), "11");
        assert_eq!(s(&f, "distribution_release"), "bookworm");
        assert_eq!(s(&f, "os_family"), "Debian");
        assert_eq!(s(&f, "distribution_file_path"), "/etc/os-release");
        assert_eq!(s(&f, "distribution_file_variety"), "Debian");
        assert_eq!(f.get("distribution_file_parsed"), Some(&Value::Bool(true)));
    }

    #[test]
    fn ubuntu2204() {
        let f = run(&[
            ("/etc/os-release", UBUNTU2204),
            ("/etc/debian_version", "bookworm/sid\n"),
            (
                "/etc/lsb-release",
                "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n",
            ),
        ]);
        assert_eq!(s(&f, "distribution"), "Ubuntu");
        assert_eq!(s(&f, "distribution_version"), "22.04");
        assert_eq!(s(&f, "distribution_major_version"), "22");
        assert_eq!(s(&f, "distribution_release"), "jammy");
        assert_eq!(s(&f, "os_family"), "Debian");
        assert!(!f.contains_key("distribution_minor_version"));
    }

    #[test]
    fn amazon2023() {
        let f = run(&[
            ("/etc/os-release", AL2023),
            (
                "/etc/system-release",
                "Amazon Linux release 2023.4.20240513 (Amazon Linux)\n",
            ),
        ]);
        assert_eq!(s(&f, "distribution"), "Amazon");
        assert_eq!(s(&f, "distribution_version"), "2023");
        assert_eq!(s(&f, "distribution_major_version"), "2023");
        assert_eq!(s(&f, "distribution_minor_version"), "NA");
        assert_eq!(s(&f, "distribution_release"), "NA");
        assert_eq!(s(&f, "os_family"), "RedHat");
        assert_eq!(s(&f, "distribution_file_variety"), "Amazon");
    }

    #[test]
    fn rhel9() {
        let f = run(&[
            ("/etc/os-release", RHEL9),
            (
                "/etc/redhat-release",
                "Red Hat Enterprise Linux release 9.4 (Plow)\n",
            ),
        ]);
        assert_eq!(s(&f, "distribution"), "RedHat");
        assert_eq!(s(&f, "distribution_version"), "9.4");
        assert_eq!(s(&f, "distribution_major_version"), "9");
        assert_eq!(s(&f, "distribution_release"), "Plow");
        assert_eq!(s(&f, "os_family"), "RedHat");
        assert_eq!(s(&f, "distribution_file_path"), "/etc/redhat-release");
        assert_eq!(s(&f, "distribution_file_search_string"), "Red Hat");
    }

    #[test]
    fn os_release_quotes() {
        let p = parse_os_release("A=\"x y\"\nB='z'\nC=plain\n# c\nVERSION=\"1 (Foo)\"\n");
        assert_eq!(p.get("a").map(String::as_str), Some("x y"));
        assert_eq!(p.get("b").map(String::as_str), Some("z"));
        assert_eq!(p.get("c").map(String::as_str), Some("plain"));
        assert_eq!(p.get("codename").map(String::as_str), Some("Foo"));
    }
}
