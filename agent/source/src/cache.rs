//! The bundle cache (`/var/lib/agent` by default):
//!
//! ```text
//! bundles/<sha256>.bundle   the archive as downloaded (0600); its name is its checksum
//! bundles/<sha256>/         the archive unpacked (0700), with a `.complete` marker that
//!                           holds the digest of the unpacked tree
//! current -> bundles/<sha256>   switched atomically, only to a verified, whole bundle
//! bundles/<sha256>.minisig  its verified signature (only with `trusted_keys`)
//! state.json                what was fetched from where (ETag, sha256, time)
//! vars.json                 the last non-secret variables from SSM (0600)
//! ```
//!
//! An archive is checked against its name every time it is used, so a damaged or
//! half-written file in the cache is never used: it is removed and reported. The unpacked
//! tree is checked against the digest recorded when it was unpacked, every time it is
//! used: a tree changed on disk (a damaged file, a file lost in a crash) is unpacked again
//! from its verified archive, and that is reported too ([`Cache::take_notes`]).

use std::cell::RefCell;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use serde::{Deserialize, Serialize};

use crate::bundle::{self, BundleError, Limits};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("cached bundle {path} is damaged (its sha256 is {actual}); it was removed")]
    Damaged { path: PathBuf, actual: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the last successful fetch was (for If-None-Match and for reports).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// The bundle's URI (`s3://…`, a path).
    pub uri: String,
    /// S3's ETag of that object, for conditional GETs.
    pub etag: Option<String>,
    pub sha256: String,
    /// Unix seconds.
    pub fetched_at: u64,
}

pub struct Cache {
    root: PathBuf,
    /// Damage found and dealt with (a removed archive, a tree unpacked again), for the
    /// run's warnings.
    notes: RefCell<Vec<String>>,
}

/// Write `data` to `path` atomically with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), CacheError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io_err(path))?;
    tmp.write_all(data).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| CacheError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // Temporary files of a killed earlier run (the run lock keeps other runs out).
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name();
            let stale = n
                .to_str()
                .and_then(|n| n.strip_prefix(".tmp-"))
                .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()));
            if stale && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

fn mkdir_private(path: &Path) -> Result<(), CacheError> {
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => {
            // An existing directory keeps whatever mode it had; tighten it.
            fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io_err(path))
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

impl Cache {
    /// Open (creating with mode 0700) the cache at `root`.
    pub fn open(root: &Path) -> Result<Cache, CacheError> {
        mkdir_private(root)?;
        mkdir_private(&root.join("bundles"))?;
        Ok(Cache {
            root: root.to_path_buf(),
            notes: RefCell::new(Vec::new()),
        })
    }

    /// What was found damaged in the cache (and removed or repaired) since the last call.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }

    fn note(&self, what: String) {
        tracing::debug!("{what}");
        self.notes.borrow_mut().push(what);
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn archive_path(&self, sha: &str) -> PathBuf {
        self.root.join("bundles").join(format!("{sha}.bundle"))
    }

    /// The verified signature of a bundle (when `trusted_keys` is set).
    pub fn signature_path(&self, sha: &str) -> PathBuf {
        self.root.join("bundles").join(format!("{sha}.minisig"))
    }

    /// Keep a bundle's verified signature beside it, for the last-known-good fallback.
    pub fn save_signature(&self, sha: &str, sig: &[u8]) -> Result<(), CacheError> {
        write_private(&self.signature_path(sha), sig)
    }

    /// The signature kept beside a bundle, if any.
    pub fn load_signature(&self, sha: &str) -> Option<Vec<u8>> {
        fs::read(self.signature_path(sha)).ok()
    }

    fn dir_path(&self, sha: &str) -> PathBuf {
        self.root.join("bundles").join(sha)
    }

    /// A temporary file for a download, in the cache (so that storing it is a rename).
    pub fn download_file(&self) -> Result<tempfile::NamedTempFile, CacheError> {
        let dir = self.root.join("bundles");
        tempfile::Builder::new()
            .prefix(".download-")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&dir)
            .map_err(io_err(&dir))
    }

    /// Keep a verified download under its checksum.
    pub fn store(&self, file: tempfile::NamedTempFile, sha: &str) -> Result<PathBuf, CacheError> {
        let dest = self.archive_path(sha);
        file.as_file().sync_all().map_err(io_err(&dest))?;
        file.persist(&dest).map_err(|e| CacheError::Io {
            path: dest.clone(),
            source: e.error,
        })?;
        Ok(dest)
    }

    /// The archive for `sha`, if the cache has it and it still matches its checksum.
    /// A damaged archive is removed and reported as an error.
    pub fn verified_archive(&self, sha: &str) -> Result<Option<PathBuf>, CacheError> {
        let p = self.archive_path(sha);
        if !p.exists() {
            return Ok(None);
        }
        let actual = bundle::sha256_file(&p).map_err(io_err(&p))?;
        if actual != sha {
            let _ = fs::remove_file(&p);
            let _ = fs::remove_dir_all(self.dir_path(sha));
            let e = CacheError::Damaged { path: p, actual };
            self.note(e.to_string());
            return Err(e);
        }
        Ok(Some(p))
    }

    /// The unpacked directory of a verified bundle. The archive is checked against its
    /// sha256 first (a damaged one is removed: an error); an unpacked tree is used only
    /// while it matches the digest recorded when it was unpacked, else it is unpacked
    /// again (whole, then renamed into place).
    pub fn unpacked(&self, sha: &str, limits: Limits) -> Result<PathBuf, CacheError> {
        let dir = self.dir_path(sha);
        let archive = self.verified_archive(sha)?.ok_or_else(|| CacheError::Io {
            path: self.archive_path(sha),
            source: io::Error::new(io::ErrorKind::NotFound, "not in the cache"),
        })?;
        let marker = dir.join(COMPLETE);
        if let Ok(recorded) = fs::read_to_string(&marker) {
            let recorded = recorded.lines().find_map(|l| l.strip_prefix("tree "));
            match tree_digest(&dir) {
                Ok(actual) if recorded == Some(actual.as_str()) => return Ok(dir),
                _ => self.note(format!(
                    "cached bundle {} was changed on disk (it no longer matches its \
                     archive); unpacked again from the verified archive",
                    dir.display()
                )),
            }
        }
        let _ = fs::remove_dir_all(&dir);
        let staging = self.root.join("bundles").join(format!(".unpack-{sha}"));
        let _ = fs::remove_dir_all(&staging);
        bundle::unpack(&archive, &staging, limits)?;
        let digest = tree_digest(&staging).map_err(io_err(&staging))?;
        write_private(
            &staging.join(COMPLETE),
            format!("{sha}\ntree {digest}\n").as_bytes(),
        )?;
        fs::rename(&staging, &dir).map_err(io_err(&dir))?;
        if let Ok(d) = fs::File::open(self.root.join("bundles")) {
            let _ = d.sync_all();
        }
        Ok(dir)
    }

    /// Remove a bundle (archive and unpacked tree) from the cache, unless it is current.
    pub fn forget(&self, sha: &str) {
        if self.current().as_deref() != Some(sha) {
            let _ = fs::remove_file(self.archive_path(sha));
            let _ = fs::remove_file(self.signature_path(sha));
            let _ = fs::remove_dir_all(self.dir_path(sha));
        }
    }

    /// Point `current` at `sha` (atomically: a new link renamed over the old one).
    pub fn set_current(&self, sha: &str) -> Result<(), CacheError> {
        let link = self.root.join("current");
        let tmp = self.root.join(".current.tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("bundles").join(sha), &tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &link).map_err(io_err(&link))?;
        if let Ok(d) = fs::File::open(&self.root) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The sha256 `current` points at, if any.
    pub fn current(&self) -> Option<String> {
        let t = fs::read_link(self.root.join("current")).ok()?;
        let name = t.file_name()?.to_str()?.to_string();
        (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then_some(name)
    }

    /// Remove all but the `keep` most recent bundles (never the current one), and any
    /// leftover temporary files.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>, CacheError> {
        let dir = self.root.join("bundles");
        let current = self.current();
        let mut archives: Vec<(std::time::SystemTime, String)> = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".download-") || name.starts_with(".unpack-") {
                let p = e.path();
                let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir_all(&p));
                continue;
            }
            if let Some(sha) = name.strip_suffix(".bundle") {
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                archives.push((t, sha.to_string()));
            }
        }
        archives.sort_by(|a, b| b.cmp(a));
        let mut removed = Vec::new();
        let mut kept = 0;
        for (_, sha) in archives {
            if Some(&sha) == current.as_ref() || kept < keep {
                kept += usize::from(Some(&sha) != current.as_ref());
                continue;
            }
            let _ = fs::remove_file(self.archive_path(&sha));
            let _ = fs::remove_file(self.signature_path(&sha));
            let _ = fs::remove_dir_all(self.dir_path(&sha));
            removed.push(sha);
        }
        Ok(removed)
    }

    pub fn load_state(&self) -> Option<State> {
        let text = fs::read(self.root.join("state.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn save_state(&self, state: &State) -> Result<(), CacheError> {
        let data = serde_json::to_vec_pretty(state).unwrap_or_default();
        write_private(&self.root.join("state.json"), &data)
    }

    /// Cached non-secret variables (see [`crate::ssm`]).
    pub fn load_vars(&self) -> Option<serde_json::Value> {
        let text = fs::read(self.root.join("vars.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn save_vars(&self, vars: &serde_json::Value) -> Result<(), CacheError> {
        let data = serde_json::to_vec_pretty(vars).unwrap_or_default();
        write_private(&self.root.join("vars.json"), &data)
    }
}

/// The marker of a whole unpacked tree: the bundle's sha256 and the tree's digest.
const COMPLETE: &str = ".complete";

/// A digest of an unpacked tree (the marker left out): every path, sorted, with its kind,
/// its executable bit and content (files) or target (links).
pub fn tree_digest(dir: &Path) -> io::Result<String> {
    fn go(root: &Path, rel: &Path, h: &mut Sha256) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(root.join(rel))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            let r = rel.join(&n);
            if r.as_os_str() == COMPLETE {
                continue;
            }
            let full = root.join(&r);
            let md = fs::symlink_metadata(&full)?;
            let path = r.as_os_str().as_encoded_bytes();
            h.update((path.len() as u64).to_le_bytes());
            h.update(path);
            if md.file_type().is_symlink() {
                let t = fs::read_link(&full)?;
                h.update(b"l");
                h.update(t.as_os_str().as_encoded_bytes());
            } else if md.is_dir() {
                h.update(b"d");
                go(root, &r, h)?;
            } else {
                use std::os::unix::fs::MetadataExt;
                h.update(if md.mode() & 0o111 != 0 { b"x" } else { b"f" });
                h.update(bundle::sha256_file(&full)?.as_bytes());
            }
        }
        Ok(())
    }
    let mut h = Sha256::new();
    go(dir, Path::new(""), &mut h)?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_in(cache: &Cache, content: &str) -> String {
        let src = tempfile::tempdir().unwrap();
        fs::write(src.path().join("site.yml"), content).unwrap();
        let bytes = bundle::build_bytes(src.path(), bundle::Compression::Gzip).unwrap();
        let sha = bundle::sha256_hex(&bytes);
        let mut f = cache.download_file().unwrap();
        f.write_all(&bytes).unwrap();
        cache.store(f, &sha).unwrap();
        sha
    }

    #[test]
    fn store_unpack_switch_prune() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("agent");
        let cache = Cache::open(&root).unwrap();
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let a = bundle_in(&cache, "a");
        let dir = cache.unpacked(&a, Limits::default()).unwrap();
        assert_eq!(fs::read_to_string(dir.join("site.yml")).unwrap(), "a");
        cache.set_current(&a).unwrap();
        assert_eq!(cache.current().as_deref(), Some(a.as_str()));
        assert_eq!(
            fs::read_to_string(root.join("current/site.yml")).unwrap(),
            "a"
        );
        let b = bundle_in(&cache, "b");
        let c = bundle_in(&cache, "c");
        cache.set_current(&b).unwrap();
        let removed = cache.prune(1).unwrap();
        assert_eq!(removed.len(), 1, "{removed:?} of {a} {b} {c}");
        assert!(cache.verified_archive(&b).unwrap().is_some());
    }

    #[test]
    fn damaged_archive_is_removed_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(d.path()).unwrap();
        let a = bundle_in(&cache, "a");
        fs::write(cache.archive_path(&a), b"garbage").unwrap();
        let e = cache.verified_archive(&a).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        assert!(!cache.archive_path(&a).exists());
        assert!(cache.unpacked(&a, Limits::default()).is_err());
    }

    #[test]
    fn changed_tree_is_unpacked_again_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(d.path()).unwrap();
        let a = bundle_in(&cache, "- hosts: all\n");
        let dir = cache.unpacked(&a, Limits::default()).unwrap();
        assert!(cache.take_notes().is_empty());
        let marker = fs::read_to_string(dir.join(".complete")).unwrap();
        assert!(marker.starts_with(&format!("{a}\ntree ")), "{marker}");
        // Used again as it is: no note.
        cache.unpacked(&a, Limits::default()).unwrap();
        assert!(cache.take_notes().is_empty());
        // A file damaged on disk, one lost, one added: each time unpacked again.
        let damages: [fn(&Path); 4] = [
            |dir: &Path| fs::write(dir.join("site.yml"), "- hosts: evil\n").unwrap(),
            |dir: &Path| fs::remove_file(dir.join("site.yml")).unwrap(),
            |dir: &Path| fs::write(dir.join("extra.yml"), "x").unwrap(),
            |dir: &Path| fs::write(dir.join(".complete"), "garbage").unwrap(),
        ];
        for damage in damages {
            damage(&dir);
            let again = cache.unpacked(&a, Limits::default()).unwrap();
            assert_eq!(
                fs::read_to_string(again.join("site.yml")).unwrap(),
                "- hosts: all\n"
            );
            assert!(!again.join("extra.yml").exists());
            let notes = cache.take_notes();
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(notes[0].contains("changed on disk"), "{notes:?}");
        }
    }

    #[test]
    fn damaged_archive_is_never_used_even_when_unpacked() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(d.path()).unwrap();
        let a = bundle_in(&cache, "a");
        cache.unpacked(&a, Limits::default()).unwrap();
        cache.set_current(&a).unwrap();
        // Half of the archive, as a crash in the middle of a copy would leave it.
        let p = cache.archive_path(&a);
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = cache.unpacked(&a, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        assert!(!p.exists());
        assert!(!d.path().join("bundles").join(&a).exists());
        assert_eq!(cache.take_notes().len(), 1);
    }

    #[test]
    fn state_and_vars_are_private() {
        let d = tempfile::tempdir().unwrap();
        let cache = Cache::open(d.path()).unwrap();
        let s = State {
            uri: "s3://b/k".into(),
            etag: Some("\"x\"".into()),
            sha256: "0".repeat(64),
            fetched_at: 1,
        };
        cache.save_state(&s).unwrap();
        assert_eq!(cache.load_state(), Some(s));
        cache.save_vars(&serde_json::json!({"a": 1})).unwrap();
        let mode = fs::metadata(d.path().join("vars.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
