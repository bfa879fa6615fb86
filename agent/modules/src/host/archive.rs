//! Archives read in-process (no `tar`/`unzip` processes): tar (plain, gzip, bzip2, xz,
//! zstd) and zip. [`scan`] lists members (with their data, for comparison), [`extract`]
//! writes selected members under a directory, refusing anything that would land outside
//! it (absolute names, `..`, symlinks that point out of it, writes through symlinks).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::host::users;

/// A failure reading or extracting an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive cannot be read (corrupt, not an archive of that kind).
    #[error("{0}")]
    Format(String),
    /// A member would be written outside the destination.
    #[error("{0}")]
    Unsafe(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// How a tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

/// An archive format, found from the content (not the name), as Ansible's handlers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Zip,
    Tar(Compression),
}

impl Format {
    /// Ansible's handler class name (the `handler` return value).
    pub fn handler(self) -> &'static str {
        match self {
            Format::Zip => "ZipArchive",
            Format::Tar(Compression::None) => "TarArchive",
            Format::Tar(Compression::Gzip) => "TgzArchive",
            Format::Tar(Compression::Bzip2) => "TarBzipArchive",
            Format::Tar(Compression::Xz) => "TarXzArchive",
            Format::Tar(Compression::Zstd) => "TarZstdArchive",
        }
    }

    /// The flag GNU tar is given for the compression (for the `cmd` Ansible reports).
    pub fn tar_flag(self) -> Option<&'static str> {
        match self {
            Format::Tar(Compression::Gzip) => Some("-z"),
            Format::Tar(Compression::Bzip2) => Some("-j"),
            Format::Tar(Compression::Xz) => Some("-J"),
            Format::Tar(Compression::Zstd) => Some("--zstd"),
            _ => None,
        }
    }
}

/// Find the format from the first bytes. `None`: not an archive we know.
pub fn detect(path: &Path) -> io::Result<Option<Format>> {
    let mut f = fs::File::open(path)?;
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        let r = f.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let h = &head[..n];
    let fmt = if h.starts_with(b"PK\x03\x04") || h.starts_with(b"PK\x05\x06") {
        Some(Format::Zip)
    } else if h.starts_with(&[0x1f, 0x8b]) {
        Some(Format::Tar(Compression::Gzip))
    } else if h.starts_with(b"BZh") {
        Some(Format::Tar(Compression::Bzip2))
    } else if h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Format::Tar(Compression::Xz))
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Format::Tar(Compression::Zstd))
    } else if n == 512 && (&h[257..262] == b"ustar" || tar_checksum_ok(h)) {
        Some(Format::Tar(Compression::None))
    } else {
        None
    };
    Ok(fmt)
}

/// A pre-POSIX tar header: its checksum field matches the header's bytes.
fn tar_checksum_ok(h: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == want && h.iter().any(|b| *b != 0)
}

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// A symbolic link to this target (as stored).
    Symlink(PathBuf),
    /// A hard link to another member (its path relative to the destination).
    Hardlink(PathBuf),
}

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Position in the archive (the same path may appear twice: the last one wins).
    pub index: usize,
    /// The name as `tar -t` / zip list it (after `strip_components`).
    pub name: String,
    /// The path under the destination, normalised (empty: the destination itself).
    pub rel: PathBuf,
    pub kind: Kind,
    /// Permission bits (07777) the archive records; `None` for a zip entry made
    /// without Unix attributes.
    pub mode: Option<u32>,
    /// Owner and group the archive records (tar, names resolved locally as GNU tar
    /// does); `None` for zip, which does not restore them.
    pub owner: Option<(u32, u32)>,
    /// Modification time (seconds since the epoch).
    pub mtime: i64,
    pub size: u64,
}

/// Reading options (from `extra_opts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// GNU tar's `--strip-components`.
    pub strip_components: usize,
}

/// Normalise a member name: refuse absolute names and `..`, drop `.` and empty parts,
/// strip leading components. `None`: nothing left after stripping.
fn normalize(raw: &str, strip: usize) -> Result<Option<(String, PathBuf)>, ArchiveError> {
    if raw.starts_with('/') {
        return Err(ArchiveError::Unsafe(format!(
            "Archive member '{raw}' has an absolute path; refusing to extract it"
        )));
    }
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(ArchiveError::Unsafe(format!(
            "Archive member '{raw}' contains '..'; refusing to extract it"
        )));
    }
    if strip == 0 {
        return Ok(Some((raw.to_string(), parts.iter().collect())));
    }
    if parts.len() <= strip {
        return Ok(None);
    }
    let rest = &parts[strip..];
    let mut name = rest.join("/");
    if raw.ends_with('/') {
        name.push('/');
    }
    Ok(Some((name, rest.iter().collect())))
}

/// Whether a link target (relative to the link's directory `rel_dir`) stays inside
/// the destination.
fn link_inside(rel_dir: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: usize = rel_dir.components().count();
    for c in target.components() {
        match c {
            Component::ParentDir => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    true
}

fn open_tar(path: &Path, c: Compression) -> io::Result<Box<dyn Read>> {
    let f = io::BufReader::new(fs::File::open(path)?);
    Ok(match c {
        Compression::None => Box::new(f),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(f)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(f, true)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(f)?),
    })
}

/// Call `f` with every member (and a reader of its data) in archive order.
pub fn scan(
    src: &Path,
    fmt: Format,
    opts: Options,
    f: &mut dyn FnMut(&Member, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    match fmt {
        Format::Tar(c) => scan_tar(src, c, opts, f),
        Format::Zip => scan_zip(src, opts, f),
    }
}

fn bad(src: &Path, e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Format(format!("Unable to read {}: {e}", src.display()))
}

fn scan_tar(
    src: &Path,
    c: Compression,
    opts: Options,
    f: &mut dyn FnMut(&Member, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut ar = tar::Archive::new(open_tar(src, c)?);
    let mut uid_cache: HashMap<String, Option<u32>> = HashMap::new();
    let mut gid_cache: HashMap<String, Option<u32>> = HashMap::new();
    for (index, entry) in ar.entries().map_err(|e| bad(src, e))?.enumerate() {
        let mut entry = entry.map_err(|e| bad(src, e))?;
        let raw_path = entry.path_bytes();
        let raw = String::from_utf8_lossy(&raw_path).into_owned();
        let h = entry.header();
        let et = h.entry_type();
        let is_dir = et.is_dir();
        let Some((mut name, rel)) = normalize(&raw, opts.strip_components)? else {
            continue;
        };
        if is_dir && !name.ends_with('/') && !name.is_empty() {
            name.push('/');
        }
        let link = || -> Result<PathBuf, ArchiveError> {
            let l = entry
                .link_name_bytes()
                .ok_or_else(|| bad(src, format!("link member '{raw}' has no target")))?;
            Ok(PathBuf::from(String::from_utf8_lossy(&l).into_owned()))
        };
        let kind = if et.is_file() || et == tar::EntryType::Continuous {
            Kind::File
        } else if is_dir {
            Kind::Dir
        } else if et.is_symlink() {
            let t = link()?;
            if !link_inside(rel.parent().unwrap_or(Path::new("")), &t) {
                return Err(ArchiveError::Unsafe(format!(
                    "Archive member '{raw}' is a symlink to '{}', outside the destination; refusing to extract it",
                    t.display()
                )));
            }
            Kind::Symlink(t)
        } else if et.is_hard_link() {
            let t = link()?;
            let traw = t.to_string_lossy().into_owned();
            match normalize(&traw, opts.strip_components)? {
                Some((_, trel)) if !trel.as_os_str().is_empty() => Kind::Hardlink(trel),
                _ => continue,
            }
        } else {
            // Devices, FIFOs, PAX/GNU extension headers: not extracted.
            continue;
        };
        let mode = h.mode().map_err(|e| bad(src, e))? & 0o7777;
        let uname = h.username().ok().flatten().map(str::to_string);
        let gname = h.groupname().ok().flatten().map(str::to_string);
        let num_uid = h.uid().map_err(|e| bad(src, e))? as u32;
        let num_gid = h.gid().map_err(|e| bad(src, e))? as u32;
        let uid = match uname.filter(|n| !n.is_empty()) {
            Some(n) => uid_cache
                .entry(n.clone())
                .or_insert_with(|| users::uid_by_name(&n))
                .unwrap_or(num_uid),
            None => num_uid,
        };
        let gid = match gname.filter(|n| !n.is_empty()) {
            Some(n) => gid_cache
                .entry(n.clone())
                .or_insert_with(|| users::gid_by_name(&n))
                .unwrap_or(num_gid),
            None => num_gid,
        };
        let mtime = h.mtime().map_err(|e| bad(src, e))? as i64;
        let size = if kind == Kind::File { entry.size() } else { 0 };
        let m = Member {
            index,
            name,
            rel,
            kind,
            mode: Some(mode),
            owner: Some((uid, gid)),
            mtime,
            size,
        };
        f(&m, &mut entry)?;
    }
    Ok(())
}

/// "Version made by" host system and external attributes of a zip central directory
/// entry (the zip crate does not tell whether the entry came from a Unix system).
fn zip_central_attrs(file: &mut fs::File, offset: u64) -> io::Result<(u8, u32)> {
    let mut buf = [0u8; 42];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    if &buf[..4] != b"PK\x01\x02" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad central directory header",
        ));
    }
    Ok((
        buf[5],
        u32::from_le_bytes([buf[38], buf[39], buf[40], buf[41]]),
    ))
}

fn dos_time(dt: zip::DateTime) -> i64 {
    let civil = jiff::civil::DateTime::new(
        dt.year() as i16,
        dt.month() as i8,
        dt.day() as i8,
        dt.hour() as i8,
        dt.minute() as i8,
        dt.second() as i8,
        0,
    );
    civil
        .ok()
        .and_then(|c| c.to_zoned(agent_template::localtime::zone()).ok())
        .map_or(315_532_800, |z| z.timestamp().as_second())
}

fn scan_zip(
    src: &Path,
    opts: Options,
    f: &mut dyn FnMut(&Member, &mut dyn Read) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut raw_file = fs::File::open(src)?;
    let mut ar = zip::ZipArchive::new(fs::File::open(src)?).map_err(|e| bad(src, e))?;
    for index in 0..ar.len() {
        let mut zf = ar.by_index(index).map_err(|e| bad(src, e))?;
        let raw = zf.name().to_string();
        let (system, ext) =
            zip_central_attrs(&mut raw_file, zf.central_header_start()).map_err(|e| bad(src, e))?;
        let unix = (system == 3 && ext >> 16 != 0).then_some(ext >> 16);
        let Some((name, rel)) = normalize(&raw, opts.strip_components)? else {
            continue;
        };
        let is_link = unix.is_some_and(|m| m & 0o170000 == 0o120000);
        let mtime = zf
            .extra_data_fields()
            .find_map(|x| match x {
                zip::extra_fields::ExtraField::ExtendedTimestamp(t) => t.mod_time(),
                _ => None,
            })
            .map(i64::from)
            .or_else(|| zf.last_modified().map(dos_time))
            .unwrap_or(315_532_800);
        let size = zf.size();
        let kind = if raw.ends_with('/') {
            Kind::Dir
        } else if is_link {
            let mut t = Vec::new();
            zf.read_to_end(&mut t).map_err(|e| bad(src, e))?;
            let t = PathBuf::from(String::from_utf8_lossy(&t).into_owned());
            if !link_inside(rel.parent().unwrap_or(Path::new("")), &t) {
                return Err(ArchiveError::Unsafe(format!(
                    "Archive member '{raw}' is a symlink to '{}', outside the destination; refusing to extract it",
                    t.display()
                )));
            }
            Kind::Symlink(t)
        } else {
            Kind::File
        };
        let m = Member {
            index,
            name,
            rel,
            kind,
            mode: unix.map(|m| m & 0o7777),
            owner: None,
            mtime,
            size,
        };
        f(&m, &mut zf)?;
    }
    Ok(())
}

/// Whether the file at `path` has exactly the bytes `data` yields.
pub fn same_content(path: &Path, data: &mut dyn Read) -> io::Result<bool> {
    let mut disk = io::BufReader::new(fs::File::open(path)?);
    let mut a = vec![0u8; 64 * 1024];
    let mut b = vec![0u8; 64 * 1024];
    loop {
        let n = read_full(data, &mut a)?;
        let m = read_full(&mut disk, &mut b[..n.max(1)])?;
        if n == 0 {
            return Ok(m == 0);
        }
        if n != m || a[..n] != b[..m] {
            return Ok(false);
        }
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Check that `rel` under `dest` resolves inside `dest` (no component of its parent is a
/// symlink leading out). `dest_real` is the canonical destination.
pub fn check_inside(dest_real: &Path, rel: &Path) -> Result<(), ArchiveError> {
    let mut probe = dest_real.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            probe.push(c);
            match fs::symlink_metadata(&probe) {
                Ok(md) if md.file_type().is_symlink() => {
                    let real = fs::canonicalize(&probe)?;
                    if !real.starts_with(dest_real) {
                        return Err(ArchiveError::Unsafe(format!(
                            "Archive member '{}' would be written through the symlink {} to {}, outside the destination; refusing",
                            rel.display(),
                            probe.display(),
                            real.display()
                        )));
                    }
                    probe = real;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// How extracted members get their owner and mode.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOpts {
    pub read: Options,
    /// Restore owner/group from the archive (tar as root, as GNU tar does).
    pub same_owner: bool,
    /// Umask for modes (0 as root for tar; the process umask otherwise).
    pub umask: u32,
}

/// The mode a member gets on disk when extracted.
pub fn extracted_mode(m: &Member, umask: u32, proc_umask: u32) -> u32 {
    match (m.mode, &m.kind) {
        (Some(mode), _) => mode & !umask,
        (None, Kind::Dir) => 0o777 & !proc_umask,
        (None, _) => 0o666 & !proc_umask,
    }
}

/// Extract the members whose index is in `select` under `dest`. Parent directories that
/// are missing are created (0777 & ~umask). Files are written to a temporary file and
/// renamed into place; modes, owners and times are set as `opts` say; directory times
/// are set last.
pub fn extract(
    src: &Path,
    fmt: Format,
    dest: &Path,
    select: &HashSet<usize>,
    opts: ExtractOpts,
) -> Result<(), ArchiveError> {
    let dest_real = fs::canonicalize(dest)?;
    let proc_umask = crate::host::fs::umask();
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    scan(src, fmt, opts.read, &mut |m, data| {
        if !select.contains(&m.index) {
            return Ok(());
        }
        check_inside(&dest_real, &m.rel)?;
        let path = dest_real.join(&m.rel);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            fs::create_dir_all(parent)?;
        }
        let mode = extracted_mode(m, opts.umask, proc_umask);
        let owner = if opts.same_owner { m.owner } else { None };
        match &m.kind {
            Kind::Dir => {
                match fs::symlink_metadata(&path) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => {
                        fs::remove_file(&path)?;
                        fs::create_dir(&path)?;
                    }
                    Err(_) => fs::create_dir(&path)?,
                }
                if let Some((u, g)) = owner {
                    std::os::unix::fs::lchown(&path, Some(u), Some(g))?;
                }
                fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
                dir_times.push((path, m.mtime));
            }
            Kind::File => {
                remove_non_file(&path)?;
                let dir = path.parent().unwrap_or(&dest_real);
                let mut tmp = tempfile::Builder::new()
                    .prefix(".ansible_unarchive")
                    .tempfile_in(dir)?;
                io::copy(data, tmp.as_file_mut())?;
                tmp.as_file().sync_all()?;
                if let Some((u, g)) = owner {
                    std::os::unix::fs::fchown(tmp.as_file(), Some(u), Some(g))?;
                }
                tmp.as_file()
                    .set_permissions(fs::Permissions::from_mode(mode))?;
                tmp.as_file().set_modified(to_system_time(m.mtime))?;
                tmp.persist(&path).map_err(|e| e.error)?;
            }
            Kind::Symlink(target) => {
                remove_non_dir(&path)?;
                std::os::unix::fs::symlink(target, &path)?;
                if let Some((u, g)) = owner {
                    std::os::unix::fs::lchown(&path, Some(u), Some(g))?;
                }
                set_link_time(&path, m.mtime);
            }
            Kind::Hardlink(target) => {
                check_inside(&dest_real, target)?;
                let tpath = dest_real.join(target);
                let same = match (fs::symlink_metadata(&path), fs::symlink_metadata(&tpath)) {
                    (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                    _ => false,
                };
                if !same {
                    remove_non_dir(&path)?;
                    fs::hard_link(&tpath, &path)?;
                }
            }
        }
        Ok(())
    })?;
    for (path, t) in dir_times.into_iter().rev() {
        if let Ok(d) = fs::File::open(&path) {
            let _ = d.set_modified(to_system_time(t));
        }
    }
    Ok(())
}

fn to_system_time(t: i64) -> std::time::SystemTime {
    if t >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_secs(t.unsigned_abs())
    }
}

fn set_link_time(path: &Path, t: i64) {
    let ts = nix::sys::time::TimeSpec::new(t, 0);
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}

/// Make room for a file: remove a symlink or an empty directory in the way.
fn remove_non_file(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir(path),
        _ => Ok(()),
    }
}

/// Make room for a link: remove whatever is there unless it is a directory.
fn remove_non_dir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// The metadata a member at `path` has now (`lstat`), `None` when missing.
pub fn lstat(path: &Path) -> io::Result<Option<fs::Metadata>> {
    crate::host::fs::lstat(path)
}
