//! Ansible's fact cache, `jsonfile` flavour: a host's gathered facts and its
//! `cacheable: true` set_facts kept in `<connection>/<prefix><host>` (one JSON document),
//! read back by the next run so that they are known before anything gathers. Ansible's
//! default, `memory`, keeps them for one run only, which the engine does anyway.
//!
//! Configured as Ansible's: `ANSIBLE_CACHE_PLUGIN` (`jsonfile`), its directory in
//! `ANSIBLE_CACHE_PLUGIN_CONNECTION`, `ANSIBLE_CACHE_PLUGIN_PREFIX` (default none) and
//! `ANSIBLE_CACHE_PLUGIN_TIMEOUT` (seconds, default 86400; 0 never expires).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use indexmap::IndexMap;
use minijinja::Value;

/// What can go wrong with the cache's settings or files.
#[derive(Debug, thiserror::Error)]
pub enum FactCacheError {
    #[error(
        "the fact cache plugin '{0}' is not available: the agent has 'memory' (the default) and 'jsonfile'"
    )]
    UnknownPlugin(String),
    #[error(
        "the 'jsonfile' fact cache needs a directory: set ANSIBLE_CACHE_PLUGIN_CONNECTION to a writable directory"
    )]
    NoConnection,
    #[error("ANSIBLE_CACHE_PLUGIN_TIMEOUT must be a whole number of seconds, not '{0}'")]
    BadTimeout(String),
    #[error("the fact cache file {path} could not be written: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A `jsonfile` fact cache.
#[derive(Debug, Clone)]
pub struct FactCache {
    pub dir: PathBuf,
    pub prefix: String,
    /// Older files count as absent; `None` never expires.
    pub timeout: Option<Duration>,
}

impl FactCache {
    /// From the environment (as ansible-playbook reads it). `None`: the memory cache.
    pub fn from_env() -> Result<Option<FactCache>, FactCacheError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<FactCache>, FactCacheError> {
        let plugin = get("ANSIBLE_CACHE_PLUGIN").unwrap_or_default();
        let plugin = plugin
            .trim()
            .trim_start_matches("ansible.builtin.")
            .trim_start_matches("ansible.legacy.");
        match plugin {
            "" | "memory" => return Ok(None),
            "jsonfile" => {}
            other => return Err(FactCacheError::UnknownPlugin(other.to_string())),
        }
        let dir = get("ANSIBLE_CACHE_PLUGIN_CONNECTION")
            .filter(|d| !d.trim().is_empty())
            .ok_or(FactCacheError::NoConnection)?;
        let dir = match dir.strip_prefix("~/") {
            Some(rest) => PathBuf::from(get("HOME").unwrap_or_default()).join(rest),
            None => PathBuf::from(dir),
        };
        let timeout = match get("ANSIBLE_CACHE_PLUGIN_TIMEOUT") {
            None => 86_400,
            Some(t) => t
                .trim()
                .parse::<u64>()
                .map_err(|_| FactCacheError::BadTimeout(t.clone()))?,
        };
        Ok(Some(FactCache {
            dir,
            prefix: get("ANSIBLE_CACHE_PLUGIN_PREFIX").unwrap_or_default(),
            timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
        }))
    }

    fn path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{}{host}", self.prefix))
    }

    /// The host's cached facts, if there is a current, readable cache file. A file that
    /// is not a JSON object is ignored, as Ansible does (with a warning, returned here).
    pub fn load(&self, host: &str) -> (Option<IndexMap<String, Value>>, Option<String>) {
        let path = self.path(host);
        let Ok(meta) = std::fs::metadata(&path) else {
            return (None, None);
        };
        if let (Some(timeout), Ok(mtime)) = (self.timeout, meta.modified())
            && SystemTime::now()
                .duration_since(mtime)
                .is_ok_and(|age| age > timeout)
        {
            return (None, None);
        }
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<IndexMap<String, serde_json::Value>>(&b)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(map) => (
                Some(
                    map.into_iter()
                        .map(|(k, v)| (k, agent_template::filters::pyfmt::from_json_value(v)))
                        .collect(),
                ),
                None,
            ),
            Err(e) => (
                None,
                Some(format!(
                    "error in 'jsonfile' cache plugin while trying to read {} : {e}",
                    path.display()
                )),
            ),
        }
    }

    /// Replace the host's cache file with `facts` (keys sorted, indented by four, as
    /// Ansible's jsonfile writes it), atomically.
    pub fn store(&self, host: &str, facts: &IndexMap<String, Value>) -> Result<(), FactCacheError> {
        let path = self.path(host);
        let err = |source| FactCacheError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        let mut doc = serde_json::to_value(facts).map_err(|e| err(std::io::Error::other(e)))?;
        sort_keys(&mut doc);
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        serde::Serialize::serialize(&doc, &mut ser).map_err(|e| err(std::io::Error::other(e)))?;
        agent_modules::host::fs::atomic_write(&path, &out, &Default::default()).map_err(err)
    }

    /// `--flush-cache`: forget the host's cached facts.
    pub fn flush(&self, host: &str) -> Result<(), FactCacheError> {
        let path = self.path(host);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(FactCacheError::Write { path, source }),
        }
    }
}

fn sort_keys(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn settings_as_ansible_reads_them() {
        assert!(FactCache::from_lookup(env(&[])).unwrap().is_none());
        assert!(
            FactCache::from_lookup(env(&[("ANSIBLE_CACHE_PLUGIN", "memory")]))
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            FactCache::from_lookup(env(&[("ANSIBLE_CACHE_PLUGIN", "redis")])),
            Err(FactCacheError::UnknownPlugin(_))
        ));
        assert!(matches!(
            FactCache::from_lookup(env(&[("ANSIBLE_CACHE_PLUGIN", "jsonfile")])),
            Err(FactCacheError::NoConnection)
        ));
        let c = FactCache::from_lookup(env(&[
            ("ANSIBLE_CACHE_PLUGIN", "ansible.builtin.jsonfile"),
            ("ANSIBLE_CACHE_PLUGIN_CONNECTION", "/tmp/x"),
            ("ANSIBLE_CACHE_PLUGIN_PREFIX", "p_"),
            ("ANSIBLE_CACHE_PLUGIN_TIMEOUT", "0"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.path("h"), PathBuf::from("/tmp/x/p_h"));
        assert!(c.timeout.is_none());
    }

    #[test]
    fn stores_loads_expires_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = FactCache {
            dir: dir.path().join("cache"),
            prefix: "p_".into(),
            timeout: Some(Duration::from_secs(3600)),
        };
        let mut facts = IndexMap::new();
        facts.insert("ansible_zeta".to_string(), Value::from(1));
        facts.insert("ansible_alpha".to_string(), Value::from("a"));
        c.store("h1", &facts).unwrap();
        let text = std::fs::read_to_string(dir.path().join("cache/p_h1")).unwrap();
        assert_eq!(
            text,
            "{\n    \"ansible_alpha\": \"a\",\n    \"ansible_zeta\": 1\n}"
        );
        let (loaded, warning) = c.load("h1");
        assert!(warning.is_none());
        assert_eq!(loaded.unwrap().get("ansible_zeta"), Some(&Value::from(1)));
        assert!(c.load("other").0.is_none());
        // Expired: older than the timeout.
        c.timeout = Some(Duration::from_secs(0));
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.load("h1").0.is_none());
        c.timeout = None;
        // Not JSON: ignored with a warning.
        std::fs::write(dir.path().join("cache/p_bad"), "{nope").unwrap();
        let (loaded, warning) = c.load("bad");
        assert!(loaded.is_none() && warning.is_some());
        c.flush("h1").unwrap();
        c.flush("h1").unwrap();
        assert!(c.load("h1").0.is_none());
    }
}
