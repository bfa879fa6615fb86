//! `/etc/agent/agent.toml`: where the configuration comes from, which environment this
//! host is in, where the cache lives. Every key has a default; `agent config` prints the
//! effective value of each and where it came from. docs/configuration.md lists the keys.

use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/agent/agent.toml";
/// The run lock's default path.
pub const DEFAULT_LOCK_FILE: &str = "/run/agent/agent.lock";
/// The environment variable that overrides `lock_file`.
pub const LOCK_FILE_ENV: &str = "AGENT_LOCK_FILE";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {msg}")]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        msg: String,
    },
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Default,
    File {
        path: PathBuf,
        line: usize,
    },
    Flag(&'static str),
    Env(&'static str),
    /// An EC2 instance tag (through IMDS).
    Ec2Tag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Flag(n) => write!(f, "command line {n}"),
            Origin::Env(n) => write!(f, "environment {n}"),
            Origin::Ec2Tag(t) => write!(f, "EC2 instance tag {t}"),
        }
    }
}

/// A value and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn default(value: T) -> Self {
        Setting {
            value,
            origin: Origin::Default,
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `s3://bucket/key`, `ssm:/prefix`, a directory, a bundle file, or `file://…`.
    /// Not configured: `None` (then a playbook must be given on the command line).
    pub source: Setting<Option<String>>,
    /// The environment's name (`production`, `staging`, …): the default SSM prefix is
    /// `/agent/<environment>` and the default inventory `inventories/<environment>`.
    pub environment: Setting<Option<String>>,
    /// The playbook inside the bundle.
    pub playbook: Setting<String>,
    /// The inventory inside the bundle (default: `inventories/<environment>` when it exists).
    pub inventory: Setting<Option<String>>,
    /// The sha256 a bundle must have (for `s3://` and file sources; an `ssm:` source
    /// brings its own pin).
    pub sha256: Setting<Option<String>>,
    pub cache_dir: Setting<PathBuf>,
    /// The run lock (flock) that `apply`, `check` and `pull` take; `AGENT_LOCK_FILE`
    /// overrides it.
    pub lock_file: Setting<PathBuf>,
    /// Bundles kept in the cache besides the current one.
    pub keep_bundles: Setting<usize>,
    /// Largest unpacked bundle, in MiB.
    pub max_bundle_mb: Setting<u64>,
    /// Attempts per AWS call (first try included).
    pub aws_attempts: Setting<u32>,
    pub aws_connect_timeout_s: Setting<u64>,
    pub aws_operation_timeout_s: Setting<u64>,
    /// Region; default: the SDK's chain (AWS_REGION, profile, IMDS).
    pub aws_region: Setting<Option<String>>,
    /// On EC2: the instance tags whose values are groups this host is in.
    pub group_tags: Setting<Vec<String>>,
    /// node_exporter's textfile collector directory (`--output prometheus` writes
    /// `agent.prom` there).
    pub report_prometheus_dir: Setting<PathBuf>,
    /// `s3://bucket/prefix`: where each run's report is uploaded (not set: no upload).
    pub report_s3_uri: Setting<Option<String>>,
    /// Public keys (minisign format) a bundle must be signed by; empty: signatures are
    /// not required (docs/sources.md, "Signed bundles").
    pub trusted_keys: Setting<Vec<crate::sign::PublicKey>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: Setting::default(None),
            environment: Setting::default(None),
            playbook: Setting::default("site.yml".into()),
            inventory: Setting::default(None),
            sha256: Setting::default(None),
            cache_dir: Setting::default(PathBuf::from("/var/lib/agent")),
            lock_file: Setting::default(PathBuf::from(DEFAULT_LOCK_FILE)),
            keep_bundles: Setting::default(3),
            max_bundle_mb: Setting::default(512),
            aws_attempts: Setting::default(4),
            aws_connect_timeout_s: Setting::default(3),
            aws_operation_timeout_s: Setting::default(60),
            aws_region: Setting::default(None),
            group_tags: Setting::default(vec!["Role".into(), "Environment".into()]),
            report_prometheus_dir: Setting::default(PathBuf::from(
                "/var/lib/node_exporter/textfile_collector",
            )),
            report_s3_uri: Setting::default(None),
            trusted_keys: Setting::default(Vec::new()),
        }
    }
}

/// Every key: (section, name, what it takes).
const KEYS: &[(&str, &str, &str)] = &[
    ("", "source", "a string"),
    ("", "environment", "a string"),
    ("", "playbook", "a string"),
    ("", "inventory", "a string"),
    ("", "sha256", "64 hex digits"),
    ("", "cache_dir", "a path"),
    ("", "lock_file", "a path"),
    ("", "keep_bundles", "an integer >= 0"),
    ("", "max_bundle_mb", "an integer >= 1"),
    ("", "group_tags", "a list of strings"),
    (
        "",
        "trusted_keys",
        "a list of minisign public keys (\"RW…\") or paths to .pub files",
    ),
    ("aws", "region", "a string"),
    ("aws", "attempts", "an integer >= 1"),
    ("aws", "connect_timeout_seconds", "an integer >= 1"),
    ("aws", "operation_timeout_seconds", "an integer >= 1"),
    ("report", "prometheus_dir", "a path"),
    ("report", "s3_uri", "an s3://bucket/prefix URI"),
];

/// The sections (tables) of the file.
const SECTIONS: &[&str] = &["aws", "report"];

/// Line (1-based) of `key` in `section` of the TOML text, for origins and errors.
fn line_of(text: &str, section: &str, key: &str) -> (usize, usize) {
    let mut cur = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim_start();
        if let Some(h) = l.strip_prefix('[') {
            cur = h.trim_end().trim_end_matches(']').trim().to_string();
            if section.is_empty() && cur == key {
                return (i + 1, raw.len() - l.len() + 1);
            }
            continue;
        }
        if cur == section
            && let Some(rest) = l.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return (i + 1, raw.len() - l.len() + 1);
        }
    }
    (1, 1)
}

fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance (small strings).
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One `trusted_keys` entry: a base64 key, or the path of a `.pub` file.
fn trusted_key(entry: &str) -> Result<crate::sign::PublicKey, String> {
    if entry.starts_with('/') || entry.starts_with('.') {
        let text = std::fs::read_to_string(entry).map_err(|e| format!("cannot read it: {e}"))?;
        crate::sign::PublicKey::parse(&text).map_err(|e| e.to_string())
    } else {
        crate::sign::PublicKey::parse(entry).map_err(|e| e.to_string())
    }
}

impl Config {
    /// Read `path`. A missing file at the default path is not an error (all defaults);
    /// a missing file that was asked for is.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => Config::parse(path, text),
                Err(e) => {
                    let good = &bytes[..e.valid_up_to()];
                    let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                    let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                    let col = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
                    Err(ConfigError::Invalid {
                        path: path.to_path_buf(),
                        line,
                        col,
                        msg: "not valid TOML: the file is not valid UTF-8".into(),
                    })
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, col) = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
                    (line, col)
                })
                .unwrap_or((1, 1));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                col,
                msg: format!("not valid TOML: {}", e.message()),
            }
        })?;
        let mut cfg = Config::default();
        let invalid = |section: &str, key: &str, msg: String| {
            let (line, col) = line_of(text, section, key);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                col,
                msg,
            }
        };
        // Unknown keys first, with the closest known one.
        let mut entries: Vec<(&str, &str, &toml::Value)> = Vec::new();
        for (k, v) in &table {
            if let Some(section) = SECTIONS.iter().find(|s| **s == k.as_str()) {
                let Some(t) = v.as_table() else {
                    return Err(invalid("", k, format!("[{section}] must be a table")));
                };
                for (k2, v2) in t {
                    entries.push((*section, k2, v2));
                }
            } else {
                entries.push(("", k, v));
            }
        }
        for (section, key, _) in &entries {
            if !KEYS.iter().any(|(s, k, _)| s == section && k == key) {
                let names = KEYS
                    .iter()
                    .filter(|(s, _, _)| s == section)
                    .map(|(_, k, _)| *k);
                let hint = closest(key, names)
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                let full = if section.is_empty() {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                return Err(invalid(
                    section,
                    key,
                    format!(
                        "unknown key '{full}'{hint}; the keys are listed in docs/configuration.md"
                    ),
                ));
            }
        }
        for (section, key, v) in entries {
            let (line, _) = line_of(text, section, key);
            let origin = Origin::File {
                path: path.to_path_buf(),
                line,
            };
            let want = KEYS
                .iter()
                .find(|(s, k, _)| *s == section && *k == key)
                .map(|(_, _, w)| *w)
                .unwrap_or("a value");
            let full = if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            };
            let bad = || invalid(section, key, format!("'{full}' must be {want}, not {v}"));
            let string = || v.as_str().map(str::to_string).ok_or_else(bad);
            let int = |min: i64| {
                v.as_integer()
                    .filter(|i| *i >= min)
                    .ok_or_else(bad)
                    .map(|i| i as u64)
            };
            let set = |o: &Origin| o.clone();
            match (section, key) {
                ("", "source") => {
                    cfg.source = Setting {
                        value: Some(string()?),
                        origin: set(&origin),
                    }
                }
                ("", "environment") => {
                    cfg.environment = Setting {
                        value: Some(string()?),
                        origin: set(&origin),
                    }
                }
                ("", "playbook") => {
                    cfg.playbook = Setting {
                        value: string()?,
                        origin: set(&origin),
                    }
                }
                ("", "inventory") => {
                    cfg.inventory = Setting {
                        value: Some(string()?),
                        origin: set(&origin),
                    }
                }
                ("", "sha256") => {
                    let s = string()?.to_ascii_lowercase();
                    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad());
                    }
                    cfg.sha256 = Setting {
                        value: Some(s),
                        origin: set(&origin),
                    }
                }
                ("", "cache_dir") => {
                    cfg.cache_dir = Setting {
                        value: PathBuf::from(string()?),
                        origin: set(&origin),
                    }
                }
                ("", "lock_file") => {
                    cfg.lock_file = Setting {
                        value: PathBuf::from(string()?),
                        origin: set(&origin),
                    }
                }
                ("", "keep_bundles") => {
                    cfg.keep_bundles = Setting {
                        value: int(0)? as usize,
                        origin: set(&origin),
                    }
                }
                ("", "max_bundle_mb") => {
                    cfg.max_bundle_mb = Setting {
                        value: int(1)?,
                        origin: set(&origin),
                    }
                }
                ("", "group_tags") => {
                    let list = v
                        .as_array()
                        .and_then(|a| {
                            a.iter()
                                .map(|x| x.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(bad)?;
                    cfg.group_tags = Setting {
                        value: list,
                        origin: set(&origin),
                    }
                }
                ("", "trusted_keys") => {
                    let list = v.as_array().ok_or_else(bad)?;
                    let mut keys = Vec::new();
                    for item in list {
                        let entry = item.as_str().ok_or_else(bad)?;
                        keys.push(trusted_key(entry).map_err(|e| {
                            invalid(section, key, format!("'trusted_keys': {entry}: {e}"))
                        })?);
                    }
                    cfg.trusted_keys = Setting {
                        value: keys,
                        origin: set(&origin),
                    }
                }
                ("aws", "region") => {
                    cfg.aws_region = Setting {
                        value: Some(string()?),
                        origin: set(&origin),
                    }
                }
                ("aws", "attempts") => {
                    cfg.aws_attempts = Setting {
                        value: int(1)? as u32,
                        origin: set(&origin),
                    }
                }
                ("aws", "connect_timeout_seconds") => {
                    cfg.aws_connect_timeout_s = Setting {
                        value: int(1)?,
                        origin: set(&origin),
                    }
                }
                ("aws", "operation_timeout_seconds") => {
                    cfg.aws_operation_timeout_s = Setting {
                        value: int(1)?,
                        origin: set(&origin),
                    }
                }
                ("report", "prometheus_dir") => {
                    cfg.report_prometheus_dir = Setting {
                        value: PathBuf::from(string()?),
                        origin: set(&origin),
                    }
                }
                ("report", "s3_uri") => {
                    let u = string()?;
                    if crate::reports::parse_prefix(&u).is_none() {
                        return Err(bad());
                    }
                    cfg.report_s3_uri = Setting {
                        value: Some(u),
                        origin: set(&origin),
                    }
                }
                _ => {}
            }
        }
        Ok(cfg)
    }

    /// On EC2, the `Environment` tag gives the environment when the file does not.
    pub fn environment_from_tag(&mut self, tags: &indexmap::IndexMap<String, String>) {
        if self.environment.value.is_none()
            && let Some(e) = tags.get("Environment")
        {
            self.environment = Setting {
                value: Some(e.clone()),
                origin: Origin::Ec2Tag("Environment".into()),
            };
        }
    }

    /// `AGENT_LOCK_FILE` (when set and not empty) wins over the file's `lock_file`.
    pub fn lock_file_from_env(&mut self, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.lock_file = Setting {
                value: PathBuf::from(v),
                origin: Origin::Env(LOCK_FILE_ENV),
            };
        }
    }

    /// `--source` on the command line wins over the file.
    pub fn override_source(&mut self, uri: Option<&str>) {
        if let Some(u) = uri {
            self.source = Setting {
                value: Some(u.to_string()),
                origin: Origin::Flag("--source"),
            };
        }
    }

    /// The effective configuration as TOML, each value followed by its origin.
    pub fn render(&self) -> String {
        fn q(s: &str) -> String {
            toml::Value::String(s.to_string()).to_string()
        }
        fn opt(s: &Option<String>) -> String {
            s.as_deref().map(q).unwrap_or_else(|| "# (not set)".into())
        }
        let mut lines: Vec<(String, String)> = vec![
            (
                format!("source = {}", opt(&self.source.value)),
                self.source.origin.to_string(),
            ),
            (
                format!("environment = {}", opt(&self.environment.value)),
                self.environment.origin.to_string(),
            ),
            (
                format!("playbook = {}", q(&self.playbook.value)),
                self.playbook.origin.to_string(),
            ),
            (
                format!("inventory = {}", opt(&self.inventory.value)),
                self.inventory.origin.to_string(),
            ),
            (
                format!("sha256 = {}", opt(&self.sha256.value)),
                self.sha256.origin.to_string(),
            ),
            (
                format!(
                    "cache_dir = {}",
                    q(&self.cache_dir.value.display().to_string())
                ),
                self.cache_dir.origin.to_string(),
            ),
            (
                format!(
                    "lock_file = {}",
                    q(&self.lock_file.value.display().to_string())
                ),
                self.lock_file.origin.to_string(),
            ),
            (
                format!("keep_bundles = {}", self.keep_bundles.value),
                self.keep_bundles.origin.to_string(),
            ),
            (
                format!("max_bundle_mb = {}", self.max_bundle_mb.value),
                self.max_bundle_mb.origin.to_string(),
            ),
            (
                format!(
                    "group_tags = [{}]",
                    self.group_tags
                        .value
                        .iter()
                        .map(|t| q(t))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                self.group_tags.origin.to_string(),
            ),
            (
                format!(
                    "trusted_keys = [{}]",
                    self.trusted_keys
                        .value
                        .iter()
                        .map(|k| q(&k.to_base64()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                if self.trusted_keys.value.is_empty() {
                    format!("{} (signatures not required)", self.trusted_keys.origin)
                } else {
                    format!(
                        "{}; key ids {}",
                        self.trusted_keys.origin,
                        self.trusted_keys
                            .value
                            .iter()
                            .map(|k| k.key_id())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            ),
            ("\n[aws]".into(), String::new()),
            (
                format!("region = {}", opt(&self.aws_region.value)),
                self.aws_region.origin.to_string(),
            ),
            (
                format!("attempts = {}", self.aws_attempts.value),
                self.aws_attempts.origin.to_string(),
            ),
            (
                format!(
                    "connect_timeout_seconds = {}",
                    self.aws_connect_timeout_s.value
                ),
                self.aws_connect_timeout_s.origin.to_string(),
            ),
            (
                format!(
                    "operation_timeout_seconds = {}",
                    self.aws_operation_timeout_s.value
                ),
                self.aws_operation_timeout_s.origin.to_string(),
            ),
            ("\n[report]".into(), String::new()),
            (
                format!(
                    "prometheus_dir = {}",
                    q(&self.report_prometheus_dir.value.display().to_string())
                ),
                self.report_prometheus_dir.origin.to_string(),
            ),
            (
                format!("s3_uri = {}", opt(&self.report_s3_uri.value)),
                self.report_s3_uri.origin.to_string(),
            ),
        ];
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (l, o) in lines.drain(..) {
            if o.is_empty() {
                out.push_str(&format!("{l}\n"));
            } else {
                out.push_str(&format!("{l:width$}  # {o}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_missing() {
        let c = Config::load(Path::new("/nonexistent/agent.toml"), false).unwrap();
        assert_eq!(c, Config::default());
        assert!(Config::load(Path::new("/nonexistent/agent.toml"), true).is_err());
    }

    #[test]
    fn values_and_origins() {
        let p = Path::new("/etc/agent/agent.toml");
        let c = Config::parse(
            p,
            "source = \"ssm:/agent/prod\"\nenvironment = \"prod\"\nkeep_bundles = 5\n\n[aws]\nattempts = 2\n",
        )
        .unwrap();
        assert_eq!(c.source.value.as_deref(), Some("ssm:/agent/prod"));
        assert_eq!(c.keep_bundles.value, 5);
        assert_eq!(c.aws_attempts.value, 2);
        assert_eq!(c.aws_attempts.origin.to_string(), "/etc/agent/agent.toml:6");
        let r = c.render();
        assert!(r.contains("keep_bundles = 5"), "{r}");
        assert!(r.contains("lock_file = \"/run/agent/agent.lock\""), "{r}");
        assert!(r.contains("# /etc/agent/agent.toml:3"), "{r}");
        assert!(r.contains("# default"), "{r}");
        assert!(
            r.contains("prometheus_dir = \"/var/lib/node_exporter/textfile_collector\""),
            "{r}"
        );
    }

    #[test]
    fn report_section() {
        let p = Path::new("a.toml");
        let c = Config::parse(
            p,
            "[report]\nprometheus_dir = \"/tmp/tf\"\ns3_uri = \"s3://bkt/reports\"\n",
        )
        .unwrap();
        assert_eq!(c.report_prometheus_dir.value, PathBuf::from("/tmp/tf"));
        assert_eq!(c.report_s3_uri.value.as_deref(), Some("s3://bkt/reports"));
        assert_eq!(c.report_s3_uri.origin.to_string(), "a.toml:3");
        let r = c.render();
        assert!(r.contains("\n[report]\n"), "{r}");
        assert!(r.contains("s3_uri = \"s3://bkt/reports\""), "{r}");
        let e = Config::parse(p, "[report]\ns3_uri = \"http://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.toml:2:1: 'report.s3_uri' must be an s3://bucket/prefix URI"),
            "{e}"
        );
        let e = Config::parse(p, "[report]\nprometheus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean 'prometheus_dir'?"), "{e}");
    }

    #[test]
    fn trusted_keys_inline_and_from_a_file() {
        let sk = crate::sign::SecretKey::generate().unwrap();
        let pk = sk.public();
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("k.pub");
        std::fs::write(&f, pk.to_file_text()).unwrap();
        let p = Path::new("a.toml");
        let c = Config::parse(
            p,
            &format!(
                "trusted_keys = [\"{}\", \"{}\"]\n",
                pk.to_base64(),
                f.display()
            ),
        )
        .unwrap();
        assert_eq!(c.trusted_keys.value, vec![pk.clone(), pk.clone()]);
        let r = c.render();
        assert!(r.contains(&pk.to_base64()), "{r}");
        assert!(r.contains(&format!("key ids {}", pk.key_id())), "{r}");
        assert!(
            Config::default()
                .render()
                .contains("signatures not required")
        );
        let e = Config::parse(p, "trusted_keys = [\"RWQnope\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.toml:1:1: 'trusted_keys': RWQnope: not a minisign public key"),
            "{e}"
        );
        let e = Config::parse(p, "trusted_keys = \"RWQ\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a list of minisign public keys"), "{e}");
        let e = Config::parse(p, "trusted_keys = [\"/nonexistent/k.pub\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
    }

    #[test]
    fn lock_file_from_file_and_environment() {
        let p = Path::new("/etc/agent/agent.toml");
        let mut c = Config::parse(p, "lock_file = \"/tmp/x.lock\"\n").unwrap();
        assert_eq!(c.lock_file.value, PathBuf::from("/tmp/x.lock"));
        assert_eq!(c.lock_file.origin.to_string(), "/etc/agent/agent.toml:1");
        c.lock_file_from_env(Some(""));
        assert_eq!(c.lock_file.value, PathBuf::from("/tmp/x.lock"));
        c.lock_file_from_env(Some("/tmp/y.lock"));
        assert_eq!(c.lock_file.value, PathBuf::from("/tmp/y.lock"));
        assert_eq!(
            c.lock_file.origin.to_string(),
            "environment AGENT_LOCK_FILE"
        );
        let e = Config::parse(p, "lock_file = 3\n").unwrap_err().to_string();
        assert!(e.contains("'lock_file' must be a path"), "{e}");
    }

    #[test]
    fn bad_keys_and_values_name_the_key() {
        let p = Path::new("a.toml");
        let e = Config::parse(p, "sorce = \"x\"\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "a.toml:1:1: unknown key 'sorce' (did you mean 'source'?); the keys are listed in docs/configuration.md"
        );
        let e = Config::parse(p, "\n[aws]\n  atempts = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.toml:3:3: unknown key 'aws.atempts' (did you mean 'attempts'?)"),
            "{e}"
        );
        let e = Config::parse(p, "keep_bundles = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "a.toml:1:1: 'keep_bundles' must be an integer >= 0, not \"x\""
        );
        let e = Config::parse(p, "sha256 = \"abc\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'sha256' must be 64 hex digits"), "{e}");
        let e = Config::parse(p, "source = \n").unwrap_err().to_string();
        assert!(e.starts_with("a.toml:1:"), "{e}");
        assert!(e.contains("not valid TOML"), "{e}");
    }
}
