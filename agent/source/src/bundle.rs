//! Bundles: a tar.gz (or tar.zst) of a directory with playbooks, roles, inventories and
//! vars. [`build`] makes one reproducibly (sorted entries, fixed times, owners and modes:
//! the same input gives the same bytes); [`unpack`] opens one into a directory and refuses
//! anything that could reach outside it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Limits for [`unpack`]: a bundle is configuration, not a disk image.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest total size of all unpacked files.
    pub max_bytes: u64,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 512 * 1024 * 1024,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path}: not a bundle (expected a tar.gz or tar.zst archive)")]
    NotAnArchive { path: PathBuf },
    #[error("{path}: damaged archive: {source}")]
    Damaged { path: PathBuf, source: io::Error },
    #[error("{path}: refused: member '{member}' {why}")]
    Refused {
        path: PathBuf,
        member: String,
        why: &'static str,
    },
    #[error("{path}: refused: the archive unpacks to more than {limit} {what}")]
    TooBig {
        path: PathBuf,
        limit: u64,
        what: &'static str,
    },
}

/// Compression of a bundle archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    /// From the output file name: `.zst` / `.tzst` is zstd, everything else gzip.
    pub fn for_path(path: &Path) -> Compression {
        let name = path.to_string_lossy();
        if name.ends_with(".zst") || name.ends_with(".tzst") {
            Compression::Zstd
        } else {
            Compression::Gzip
        }
    }

    fn sniff(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

/// sha256 of a byte slice, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    for_each_chunk(fs::File::open(path)?, |b| h.update(b))?;
    Ok(hex::encode(h.finalize()))
}

/// Feed everything `r` yields to `f`, 64 KiB at a time (a file's digest without holding
/// the file in memory).
pub(crate) fn for_each_chunk(mut r: impl Read, mut f: impl FnMut(&[u8])) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        f(&buf[..n]);
    }
}

/// Every path under `dir`, relative, sorted bytewise, directories before their contents.
/// `.git` directories are left out.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, BundleError> {
    fn go(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), BundleError> {
        let full = root.join(rel);
        let rd = fs::read_dir(&full).map_err(|source| BundleError::Read {
            path: full.clone(),
            source,
        })?;
        let mut names: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n != ".git")
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let md = fs::symlink_metadata(root.join(&r)).map_err(|source| BundleError::Read {
                path: root.join(&r),
                source,
            })?;
            out.push(r.clone());
            if md.is_dir() {
                go(root, &r, out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(dir, Path::new(""), &mut out)?;
    Ok(out)
}

/// Build a bundle of `dir` into `out` (written atomically); returns its sha256.
/// Entries are sorted, owned by 0:0 with empty names, dated 0, and their modes are
/// 0755 (directories and executables) or 0644: the same tree gives the same bytes.
pub fn build(dir: &Path, out: &Path) -> Result<String, BundleError> {
    let bytes = build_bytes(dir, Compression::for_path(out))?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let werr = |source| BundleError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(werr)?;
    tmp.write_all(&bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(out).map_err(|e| werr(e.error))?;
    Ok(sha256_hex(&bytes))
}

/// The archive bytes of [`build`].
pub fn build_bytes(dir: &Path, compression: Compression) -> Result<Vec<u8>, BundleError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let werr = |source| BundleError::Write {
        path: dir.to_path_buf(),
        source,
    };
    for rel in walk(dir)? {
        let full = dir.join(&rel);
        let md = fs::symlink_metadata(&full).map_err(|source| BundleError::Read {
            path: full.clone(),
            source,
        })?;
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let name = rel.to_string_lossy().replace('\\', "/");
        if md.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, format!("{name}/"), io::empty())
                .map_err(werr)?;
        } else if md.file_type().is_symlink() {
            let target = fs::read_link(&full).map_err(|source| BundleError::Read {
                path: full.clone(),
                source,
            })?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            tar.append_link(&mut h, &name, &target).map_err(werr)?;
        } else if md.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let exec = md.permissions().mode() & 0o111 != 0;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(if exec { 0o755 } else { 0o644 });
            h.set_size(md.len());
            let f = fs::File::open(&full).map_err(|source| BundleError::Read {
                path: full.clone(),
                source,
            })?;
            tar.append_data(&mut h, &name, f).map_err(werr)?;
        }
        // Sockets, fifos and devices are not configuration: left out.
    }
    let raw = tar.into_inner().map_err(werr)?;
    match compression {
        Compression::Gzip => {
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(255)
                .write(Vec::new(), flate2::Compression::new(6));
            gz.write_all(&raw).map_err(werr)?;
            gz.finish().map_err(werr)
        }
        Compression::Zstd => zstd::encode_all(&raw[..], 3).map_err(werr),
    }
}

/// Is `rel` a plain relative path (no root, no `..`)?
fn safe_relative(rel: &Path) -> bool {
    !rel.as_os_str().is_empty()
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Would a symlink at `link` (relative to the bundle root) pointing to `target` stay
/// inside the bundle? Checked lexically: `..` may climb only as far as the root.
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = link.parent().map(|p| p.components().count()).unwrap_or(0) as i64;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Unpack the archive at `archive` into `dest` (which must not exist yet; it is created
/// with mode 0700). Refuses absolute paths, `..`, links that point outside, hard links,
/// devices and fifos, and archives over `limits`. On error `dest` is removed.
pub fn unpack(archive: &Path, dest: &Path, limits: Limits) -> Result<(), BundleError> {
    let r = unpack_inner(archive, dest, limits);
    if r.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    r
}

fn unpack_inner(archive: &Path, dest: &Path, limits: Limits) -> Result<(), BundleError> {
    let rerr = |source| BundleError::Read {
        path: archive.to_path_buf(),
        source,
    };
    let mut f = fs::File::open(archive).map_err(rerr)?;
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(rerr)?;
    let compression = Compression::sniff(&head[..n]).ok_or_else(|| BundleError::NotAnArchive {
        path: archive.to_path_buf(),
    })?;
    let f = fs::File::open(archive).map_err(rerr)?;
    let reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(f).map_err(rerr)?),
    };
    // Never more than max_bytes of decompressed data in all, headers included.
    let reader = reader.take(
        limits
            .max_bytes
            .saturating_add(limits.max_entries as u64 * 1024),
    );
    let mut tar = tar::Archive::new(reader);
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dest)
            .map_err(|source| BundleError::Write {
                path: dest.to_path_buf(),
                source,
            })?;
    }
    let damaged = |source| BundleError::Damaged {
        path: archive.to_path_buf(),
        source,
    };
    let refuse = |member: &Path, why: &'static str| BundleError::Refused {
        path: archive.to_path_buf(),
        member: member.display().to_string(),
        why,
    };
    let mut total: u64 = 0;
    let mut count = 0usize;
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        count += 1;
        if count > limits.max_entries {
            return Err(BundleError::TooBig {
                path: archive.to_path_buf(),
                limit: limits.max_entries as u64,
                what: "entries",
            });
        }
        let rel = entry.path().map_err(damaged)?.into_owned();
        if rel.is_absolute() {
            return Err(refuse(&rel, "has an absolute path"));
        }
        if rel.components().any(|c| c == Component::ParentDir) {
            return Err(refuse(&rel, "climbs out with '..'"));
        }
        if !safe_relative(&rel) {
            if rel.components().all(|c| c == Component::CurDir) {
                continue; // "./" itself
            }
            return Err(refuse(&rel, "has an unusable path"));
        }
        let out = dest.join(&rel);
        let kind = entry.header().entry_type();
        let werr = |source| BundleError::Write {
            path: out.clone(),
            source,
        };
        // Parents come first in a well-formed archive; create them anyway (0755).
        if let Some(p) = out.parent() {
            fs::create_dir_all(p).map_err(werr)?;
            // A parent that is a symlink would let a later member write through it.
            let mut cur = dest.to_path_buf();
            for c in rel.parent().into_iter().flat_map(|p| p.components()) {
                cur.push(c);
                if fs::symlink_metadata(&cur)
                    .map(|m| m.file_type().is_symlink())
                    .unwrap_or(false)
                {
                    return Err(refuse(&rel, "is inside a symbolic link"));
                }
            }
        }
        match kind {
            tar::EntryType::Directory => {
                fs::create_dir_all(&out).map_err(werr)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(damaged)?;
                total = total.saturating_add(size);
                if total > limits.max_bytes {
                    return Err(BundleError::TooBig {
                        path: archive.to_path_buf(),
                        limit: limits.max_bytes,
                        what: "bytes",
                    });
                }
                let mode = entry.header().mode().unwrap_or(0o644);
                if fs::symlink_metadata(&out).is_ok() {
                    return Err(refuse(&rel, "appears twice"));
                }
                let mut file = {
                    use std::os::unix::fs::OpenOptionsExt;
                    fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 })
                        .open(&out)
                        .map_err(werr)?
                };
                let copied = io::copy(&mut (&mut entry).take(size), &mut file).map_err(damaged)?;
                if copied != size {
                    return Err(damaged(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} is truncated", rel.display()),
                    )));
                }
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(damaged)?
                    .ok_or_else(|| refuse(&rel, "is a link without a target"))?
                    .into_owned();
                if !link_stays_inside(&rel, &target) {
                    return Err(refuse(&rel, "is a link that points outside the bundle"));
                }
                std::os::unix::fs::symlink(&target, &out).map_err(werr)?;
            }
            tar::EntryType::Link => return Err(refuse(&rel, "is a hard link (not allowed)")),
            tar::EntryType::Char | tar::EntryType::Block => {
                return Err(refuse(&rel, "is a device file (not allowed)"));
            }
            tar::EntryType::Fifo => return Err(refuse(&rel, "is a fifo (not allowed)")),
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {}
            _ => return Err(refuse(&rel, "has an unsupported entry type")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("roles/web/tasks")).unwrap();
        fs::write(p.join("site.yml"), "- hosts: all\n").unwrap();
        fs::write(p.join("roles/web/tasks/main.yml"), "- debug: msg=hi\n").unwrap();
        std::os::unix::fs::symlink("roles/web", p.join("web")).unwrap();
        fs::create_dir_all(p.join(".git")).unwrap();
        fs::write(p.join(".git/HEAD"), "x").unwrap();
        d
    }

    #[test]
    fn same_input_same_bytes_and_round_trip() {
        let t = tree();
        let out = tempfile::tempdir().unwrap();
        let a = build(t.path(), &out.path().join("a.tar.gz")).unwrap();
        // Touch times and modes that must not matter.
        let f = t.path().join("site.yml");
        fs::write(&f, "- hosts: all\n").unwrap();
        let b = build(t.path(), &out.path().join("b.tar.gz")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, sha256_file(&out.path().join("a.tar.gz")).unwrap());
        let dest = out.path().join("x");
        unpack(&out.path().join("a.tar.gz"), &dest, Limits::default()).unwrap();
        assert_eq!(
            fs::read_to_string(dest.join("roles/web/tasks/main.yml")).unwrap(),
            "- debug: msg=hi\n"
        );
        assert!(!dest.join(".git").exists());
        assert_eq!(
            fs::read_link(dest.join("web")).unwrap(),
            Path::new("roles/web")
        );
        // zstd too
        let z = build(t.path(), &out.path().join("c.tar.zst")).unwrap();
        assert_ne!(z, a);
        unpack(
            &out.path().join("c.tar.zst"),
            &out.path().join("z"),
            Limits::default(),
        )
        .unwrap();
        assert!(out.path().join("z/site.yml").is_file());
    }

    /// A raw tar with one hand-made member, gzipped.
    fn evil(kind: tar::EntryType, name: &str, link: Option<&str>, data: &[u8]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Write the name bytes directly: the builder itself refuses `..` and `/`.
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_cksum();
        tar.append(&h, data).unwrap();
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    fn try_unpack(bytes: &[u8]) -> (Result<(), BundleError>, tempfile::TempDir) {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("b.tar.gz");
        fs::write(&a, bytes).unwrap();
        let r = unpack(&a, &d.path().join("out"), Limits::default());
        (r, d)
    }

    #[test]
    fn refusals() {
        use tar::EntryType as E;
        let cases: &[(Vec<u8>, &str)] = &[
            (evil(E::Regular, "/etc/passwd", None, b"x"), "absolute path"),
            (evil(E::Regular, "../escape", None, b"x"), "'..'"),
            (evil(E::Regular, "a/../../escape", None, b"x"), "'..'"),
            (evil(E::Symlink, "l", Some("/etc"), b""), "points outside"),
            (
                evil(E::Symlink, "a/l", Some("../../etc"), b""),
                "points outside",
            ),
            (evil(E::Link, "h", Some("/etc/shadow"), b""), "hard link"),
            (evil(E::Char, "dev", None, b""), "device file"),
            (evil(E::Block, "blk", None, b""), "device file"),
            (evil(E::Fifo, "fifo", None, b""), "fifo"),
        ];
        for (bytes, want) in cases {
            let (r, d) = try_unpack(bytes);
            let e = r.expect_err(want).to_string();
            assert!(e.contains(want), "{e} should say {want}");
            assert!(!d.path().join("out").exists(), "dest removed after {want}");
        }
    }

    #[test]
    fn link_inside_is_fine() {
        let (r, d) = try_unpack(&evil(tar::EntryType::Symlink, "a/l", Some("../b"), b""));
        r.unwrap();
        assert!(d.path().join("out/a/l").is_symlink());
    }

    #[test]
    fn write_through_planted_link_is_refused() {
        // A link to a directory inside, then a file "through" it: refused.
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, "l", ".").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        h.set_mode(0o644);
        tar.append_data(&mut h, "l/x", &b"x"[..]).unwrap();
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let (r, _d) = try_unpack(&gz.finish().unwrap());
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("inside a symbolic link")
        );
    }

    #[test]
    fn oversize_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("big.tar.gz");
        fs::write(
            &a,
            evil(tar::EntryType::Regular, "big", None, &vec![0u8; 4096]),
        )
        .unwrap();
        let small = Limits {
            max_bytes: 1000,
            max_entries: 10,
        };
        let e = unpack(&a, &d.path().join("o"), small).unwrap_err();
        assert!(matches!(e, BundleError::TooBig { .. }), "{e}");
        fs::write(&a, b"hello, not an archive").unwrap();
        let e = unpack(&a, &d.path().join("o"), Limits::default()).unwrap_err();
        assert!(matches!(e, BundleError::NotAnArchive { .. }), "{e}");
        // Truncated gzip.
        let good = evil(tar::EntryType::Regular, "f", None, &vec![7u8; 100_000]);
        fs::write(&a, &good[..good.len() / 2]).unwrap();
        assert!(unpack(&a, &d.path().join("o"), Limits::default()).is_err());
        assert!(!d.path().join("o").exists());
    }
}
