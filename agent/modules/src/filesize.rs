//! community.general's `filesize`: a regular file created, grown or truncated to a size,
//! with the file attributes. Ansible's module runs `dd`; the agent does what that `dd`
//! command line does (truncate at `seek` blocks, then write `count` blocks from `source`)
//! with file I/O, and reports the same `cmd`. A new file is written beside its path and
//! renamed into place; an existing one is resized in place, as `dd` does (a swap file or
//! disk image keeps its inode, and is not copied).

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::host::fs::{self as hfs, AttrChange, FileAttrs, Meta};
use crate::spec::{Arg, Args, Def, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct Filesize;

const SPEC: &[Arg] = &[
    Arg::path("path").required(),
    Arg::raw("size").required(),
    Arg::raw("blocksize"),
    Arg::path("source").default(Def::Str("/dev/zero")),
    Arg::bool("sparse", false),
    Arg::bool("force", false),
];

/// The multiplicative suffixes, in the module's order (smallest first; the order matters
/// for the human-readable sizes and for the error message).
const UNITS: &[(&str, u128)] = &[
    ("B", 1),
    ("kB", 1000),
    ("KB", 1000),
    ("KiB", 1 << 10),
    ("K", 1 << 10),
    ("k", 1 << 10),
    ("MB", 1000u128.pow(2)),
    ("mB", 1000u128.pow(2)),
    ("MiB", 1 << 20),
    ("M", 1 << 20),
    ("m", 1 << 20),
    ("GB", 1000u128.pow(3)),
    ("gB", 1000u128.pow(3)),
    ("GiB", 1 << 30),
    ("G", 1 << 30),
    ("g", 1 << 30),
    ("TB", 1000u128.pow(4)),
    ("tB", 1000u128.pow(4)),
    ("TiB", 1 << 40),
    ("T", 1 << 40),
    ("t", 1 << 40),
    ("PB", 1000u128.pow(5)),
    ("pB", 1000u128.pow(5)),
    ("PiB", 1 << 50),
    ("P", 1 << 50),
    ("p", 1 << 50),
    ("EB", 1000u128.pow(6)),
    ("eB", 1000u128.pow(6)),
    ("EiB", 1 << 60),
    ("E", 1 << 60),
    ("e", 1 << 60),
    ("ZB", 1000u128.pow(7)),
    ("zB", 1000u128.pow(7)),
    ("ZiB", 1 << 70),
    ("Z", 1 << 70),
    ("z", 1 << 70),
    ("YB", 1000u128.pow(8)),
    ("yB", 1000u128.pow(8)),
    ("YiB", 1 << 80),
    ("Y", 1 << 80),
    ("y", 1 << 80),
];

fn unit_size(unit: &str) -> Option<u128> {
    UNITS.iter().find(|(u, _)| *u == unit).map(|(_, v)| *v)
}

/// Python's `repr` of a float that is a size (no exponent form is needed below 1e16).
fn py_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Python's `round(x, 2)`: correctly rounded on the exact binary value, as `{:.2}` is.
fn round2(x: f64) -> f64 {
    format!("{x:.2}").parse().unwrap_or(x)
}

/// `bytes_to_human`: the size with an SI or IEC suffix, for the result only.
fn bytes_to_human(size: u128, iec: bool) -> String {
    let mut unit = "B";
    for (u, v) in UNITS {
        if size < *v {
            continue;
        }
        let ratio = size as f64 / *v as f64;
        if iec {
            if !u.contains('i') || ratio >= 1024.0 {
                continue;
            }
        } else if v % 5 != 0 || ratio >= 1000.0 {
            continue;
        }
        unit = u;
    }
    let v = unit_size(unit).unwrap_or(1);
    let shown = if unit == "B" {
        size.to_string()
    } else {
        py_float(round2(size as f64 / v as f64))
    };
    let mut u = String::new();
    let mut chars = unit.chars();
    if let Some(c) = chars.next() {
        u.push(c.to_ascii_uppercase());
    }
    u.extend(chars);
    if u == "KB" {
        u = "kB".into();
    }
    format!("{shown} {u}")
}

/// `size_string`: the value as Python's `str()`, for ints, floats and strings only.
fn size_string(v: &Value) -> Result<String, ModuleError> {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::String => Ok(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Bool => Ok(if v.is_true() { "True" } else { "False" }.into()),
        ValueKind::Number => {
            if v.is_integer()
                && let Some(i) = v.as_i64()
            {
                Ok(i.to_string())
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                Ok(py_float(f))
            }
        }
        _ => Err(ModuleError::new(format!(
            "invalid value type (<class '{}'>): size must be integer, float or string",
            crate::spec::python_type(v)
        ))),
    }
}

/// `split_size_unit`: (value, unit, size in bytes).
fn split_size_unit(s: &str, isint: bool) -> Result<(f64, Option<&'static str>, u128), ModuleError> {
    let unit: String = s
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '.')
        .collect();
    let unit = unit.trim();
    let number = if unit.is_empty() {
        s.to_string()
    } else {
        s.replace(unit, "")
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        ModuleError::new(format!(
            "could not convert string to float: '{}'",
            number.trim()
        ))
    })?;
    if isint && (unit.is_empty() || unit == "B") && value.fract() != 0.0 {
        return Err(ModuleError::new(
            "invalid blocksize value: bytes require an integer value",
        ));
    }
    if unit.is_empty() {
        return Ok((value, None, value.round_ties_even().max(0.0) as u128));
    }
    let Some((name, mult)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        let all: Vec<&str> = UNITS.iter().map(|(u, _)| *u).collect();
        return Err(ModuleError::new(format!(
            "invalid size unit ({unit}): unit must be one of {}, or none.",
            all.join(", ")
        )));
    };
    let product = (value * *mult as f64).round_ties_even().max(0.0) as u128;
    Ok((value, Some(name), product))
}

/// `smart_blocksize`: a block size that divides the size into whole blocks.
fn smart_blocksize(size: f64, unit: &str, product: u128, bsize: u128) -> Result<u128, ModuleError> {
    if product % bsize == 0 {
        return Ok(bsize);
    }
    let unit_size = unit_size(unit).unwrap_or(1);
    if size.fract() == 0.0 {
        if unit_size > 1 << 20 {
            return Ok(if unit_size % 5 != 0 {
                1 << 20
            } else {
                1000u128.pow(2)
            });
        }
        return Ok(unit_size);
    }
    if unit == "B" {
        return Err(ModuleError::new(
            "byte is the smallest unit and requires an integer value",
        ));
    }
    if 0 < product && product < bsize {
        return Ok(product);
    }
    Ok([1024, 1000, 512, 256, 128, 100, 64, 32, 16, 10, 8, 4, 2]
        .into_iter()
        .find(|b| product % b == 0)
        .unwrap_or(1))
}

/// The requested size: whole blocks of `blocksize` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SizeSpec {
    blocks: u128,
    blocksize: u128,
}

impl SizeSpec {
    fn bytes(&self) -> u128 {
        self.blocks * self.blocksize
    }

    fn to_value(self) -> Value {
        let b = self.bytes();
        let mut m: IndexMap<String, Value> = IndexMap::new();
        m.insert("blocks".into(), Value::from(self.blocks as u64));
        m.insert("blocksize".into(), Value::from(self.blocksize as u64));
        m.insert("bytes".into(), Value::from(b as u64));
        m.insert("iec".into(), Value::from(bytes_to_human(b, true)));
        m.insert("si".into(), Value::from(bytes_to_human(b, false)));
        Value::from_pairs(m)
    }
}

/// `size_spec`.
fn size_spec(size: &str, blocksize: &str) -> Result<SizeSpec, ModuleError> {
    let mut bs = split_size_unit(blocksize, true)?.2;
    if bs == 0 {
        return Err(ModuleError::new("block size cannot be equal to zero"));
    }
    let (value, unit, product) = split_size_unit(size, false)?;
    let blocks = match unit {
        None => value.ceil().max(0.0) as u128,
        Some(u) => {
            bs = smart_blocksize(value, u, product, bs)?;
            product.div_ceil(bs)
        }
    };
    Ok(SizeSpec {
        blocks,
        blocksize: bs,
    })
}

/// `size_diff`: the new size, or its difference from a non-empty file's old size.
fn size_diff(old: Option<u64>, new: u128) -> Value {
    let diff = match old {
        Some(i) if i > 0 => new as i128 - i128::from(i),
        _ => new as i128,
    };
    Value::from(diff as i64)
}

/// What is there.
#[derive(Debug)]
pub struct Observed {
    /// The path given, or what its symlink points to (dd follows it).
    real: PathBuf,
    /// Its size, when it exists.
    size: Option<u64>,
    meta: Option<Meta>,
    spec: SizeSpec,
    /// `dd` as `get_bin_path` finds it, for `cmd`.
    dd: String,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// What `dd if=source of=path bs=BS seek=SEEK count=COUNT` does.
    Dd {
        source: PathBuf,
        bs: u128,
        seek: u128,
        count: u128,
        /// The file does not exist yet: it is written beside its path and renamed.
        fresh: bool,
    },
    Attrs(Vec<AttrChange>),
}

impl Module for Filesize {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        if args.bool("sparse") && args.bool("force") {
            return Err(ModuleError::new(
                "parameters values are mutually exclusive: force=true|sparse=true",
            ));
        }
        let parent = path.rsplit_once('/').map_or("", |(d, _)| d);
        let parent = if parent.is_empty() && path.starts_with('/') {
            "/"
        } else {
            parent
        };
        if parent.is_empty() || !Path::new(parent).exists() {
            return Err(ModuleError::new(
                "parent directory of the file must exist prior to run this module",
            ));
        }
        // (`size` is converted first, as the module does.)
        let size = size_string(args.get("size").unwrap_or(&Value::UNDEFINED))?;
        let blocksize = match args.get("blocksize").filter(|v| v.is_true()) {
            Some(v) => size_string(v)?,
            None => nix::sys::statvfs::statvfs(parent)
                .map(|s| s.fragment_size().to_string())
                .map_err(|e| ModuleError::new(format!("statvfs {parent}: {e}")))?,
        };
        let md =
            hfs::stat(Path::new(path)).map_err(|e| ModuleError::io("stat", Path::new(path), &e))?;
        if let Some(m) = &md
            && !m.is_file()
        {
            return Err(ModuleError::new(format!(
                "{path} exists but is not a regular file"
            )));
        }
        let spec = size_spec(&size, &blocksize)?;
        // dd follows a symlink, and creates the file a dangling one points to.
        let real = if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::canonicalize(path).unwrap_or_else(|_| {
                fs::read_link(path)
                    .map(|t| Path::new(parent).join(t))
                    .unwrap_or_else(|_| PathBuf::from(path))
            })
        } else {
            PathBuf::from(path)
        };
        let dd = crate::host::tools::find_bin("dd")
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "dd".into());
        Ok(Observed {
            real,
            size: md.as_ref().map(|m| m.len()),
            meta: md.as_ref().map(Meta::from),
            spec,
            dd,
        })
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let force = args.bool("force");
        let sparse = args.bool("sparse");
        let source = args.str("source").unwrap_or("/dev/zero");
        let expected = o.spec.bytes();
        let initial = o.size.map(u128::from);
        let mut plan = Plan::default();
        plan.set("size_diff", size_diff(o.size, expected));
        plan.set(
            "path",
            if o.real.as_path() != Path::new(path) {
                o.real.display().to_string()
            } else {
                path.to_string()
            },
        );
        plan.set("filesize", o.spec.to_value());
        let mut before = IndexMap::new();
        let mut after = IndexMap::new();
        before.insert(
            "size".to_string(),
            initial.map_or(Value::from(()), |i| Value::from(i as u64)),
        );
        after.insert("size".to_string(), Value::from(expected as u64));
        if Some(expected) != initial || force {
            let bs = o.spec.blocksize;
            let blocks = o.spec.blocks;
            let seek = if sparse {
                blocks
            } else if force || initial.is_none() {
                0
            } else if expected < initial.unwrap_or(0) {
                blocks
            } else if (expected - initial.unwrap_or(0)) % bs != 0 {
                initial.unwrap_or(0) / bs + 1
            } else {
                initial.unwrap_or(0) / bs
            };
            let count = blocks.saturating_sub(seek);
            plan.set(
                "cmd",
                format!(
                    "{} if={source} of={path} bs={bs} seek={seek} count={count}",
                    o.dd
                ),
            );
            plan.ops.push(Op::Dd {
                source: PathBuf::from(source),
                bs,
                seek,
                count,
                fresh: initial.is_none(),
            });
        }
        // The file attributes: of an existing file, or (not in check mode) of the new one.
        let meta = match o.meta {
            Some(m) => Some(m),
            None if !ctx.check_mode => Some(Meta::new_file(
                o.real.parent().unwrap_or_else(|| Path::new("/")),
            )),
            None => None,
        };
        if let Some(meta) = meta {
            let attrs = FileAttrs::from_args(args)?;
            let changes = hfs::plan_attrs(&o.real, &meta, &attrs)?;
            if !changes.is_empty() {
                hfs::diff_attrs(&changes, &mut before, &mut after);
                plan.ops.push(Op::Attrs(changes));
            }
        }
        plan.diff.push(Diff {
            before: Value::from_pairs(before),
            after: Value::from_pairs(after),
            before_header: None,
            after_header: None,
        });
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let size = size_string(args.get("size").unwrap_or(&Value::UNDEFINED))?;
        let source = args.str("source").unwrap_or("/dev/zero");
        let mut out = ResultMap::new();
        for op in &plan.ops {
            match op {
                Op::Dd {
                    source: src,
                    bs,
                    seek,
                    count,
                    fresh,
                } => {
                    let res = dd(&o.real, src, *bs, *seek, *count, *fresh);
                    let now = fs::metadata(&o.real).map(|m| m.len()).ok();
                    let new = u128::from(now.unwrap_or(0));
                    out.insert("size_diff".into(), size_diff(o.size, new));
                    out.insert("rc".into(), Value::from(i32::from(res.is_err())));
                    let stderr = res.as_ref().err().map(|e| format!("dd: {e}"));
                    out.insert(
                        "stderr".into(),
                        Value::from(stderr.clone().unwrap_or_default()),
                    );
                    if res.is_err() {
                        let mut e = ModuleError::new(format!(
                            "dd error while creating file {path} with size {size} from source {source}: see stderr for details"
                        ));
                        e.fields = out;
                        return Err(e);
                    }
                    if new != o.spec.bytes() {
                        let mut e = ModuleError::new(format!(
                            "module error while creating file {path} with size {size} from source {source}: file is {new} bytes long"
                        ));
                        e.fields = out;
                        return Err(e);
                    }
                }
                Op::Attrs(changes) => hfs::apply_attrs(&o.real, changes)?,
            }
        }
        Ok(out)
    }
}

/// What `dd if=src of=dest bs=BS seek=SEEK count=COUNT` does: `dest` cut (or extended)
/// at SEEK blocks, then COUNT blocks read from `src` written there. A new file (`fresh`)
/// is filled beside `dest` and renamed into place.
fn dd(dest: &Path, src: &Path, bs: u128, seek: u128, count: u128, fresh: bool) -> io::Result<()> {
    let start = u64::try_from(seek * bs).map_err(|_| io::Error::other("size too large"))?;
    let len = u64::try_from(count * bs).map_err(|_| io::Error::other("size too large"))?;
    let fill = |f: &mut fs::File| -> io::Result<()> {
        f.set_len(start)?;
        f.seek(SeekFrom::Start(start))?;
        if len > 0 {
            let mut w = io::BufWriter::with_capacity(1 << 20, &mut *f);
            if src == Path::new("/dev/zero") {
                io::copy(&mut io::repeat(0).take(len), &mut w)?;
            } else {
                io::copy(&mut fs::File::open(src)?.take(len), &mut w)?;
            }
            w.flush()?;
        }
        f.sync_all()
    };
    if fresh {
        let dir = dest.parent().unwrap_or_else(|| Path::new("/"));
        let mut tmp = tempfile::Builder::new()
            .prefix(".agent-filesize.")
            .tempfile_in(dir)?;
        fill(tmp.as_file_mut())?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(Meta::new_file(dir).perms()))?;
        tmp.persist(dest).map_err(|e| e.error)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    } else {
        let mut f = fs::OpenOptions::new().write(true).open(dest)?;
        fill(&mut f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_the_module_computes_them() {
        let s = size_spec("20M", "4096").unwrap();
        assert_eq!((s.blocks, s.blocksize, s.bytes()), (5120, 4096, 20 << 20));
        // 8kB is not a multiple of 4096: blocks of the unit.
        let s = size_spec("8kB", "4096").unwrap();
        assert_eq!((s.blocks, s.blocksize), (8, 1000));
        // No unit: blocks of blocksize.
        let s = size_spec("3", "512").unwrap();
        assert_eq!(s.bytes(), 1536);
        let s = size_spec("1.5K", "4096").unwrap();
        assert_eq!((s.blocks, s.blocksize), (1, 1536));
        let s = size_spec("2GB", "4096").unwrap();
        assert_eq!((s.blocks, s.blocksize), (2000, 1_000_000));
        assert!(size_spec("1.5B", "512").is_err());
        assert_eq!(
            size_spec("1X", "512").unwrap_err().msg,
            "invalid size unit (X): unit must be one of B, kB, KB, KiB, K, k, MB, mB, MiB, M, m, GB, gB, GiB, G, g, TB, tB, TiB, T, t, PB, pB, PiB, P, p, EB, eB, EiB, E, e, ZB, zB, ZiB, Z, z, YB, yB, YiB, Y, y, or none."
        );
        assert_eq!(
            size_spec("1M", "0").unwrap_err().msg,
            "block size cannot be equal to zero"
        );
    }

    #[test]
    fn sizes_as_python_str() {
        assert_eq!(size_string(&Value::from(2.0)).unwrap(), "2.0");
        assert_eq!(size_string(&Value::from(2)).unwrap(), "2");
        assert_eq!(size_string(&Value::from(1.5)).unwrap(), "1.5");
        assert_eq!(size_string(&Value::from("20M")).unwrap(), "20M");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(bytes_to_human(20 << 20, true), "20.0 MiB");
        assert_eq!(bytes_to_human(20 << 20, false), "20.97 MB");
        assert_eq!(bytes_to_human(512, false), "512 B");
        assert_eq!(bytes_to_human(1000, false), "1.0 kB");
        assert_eq!(bytes_to_human(1024, true), "1.0 KiB");
        assert_eq!(bytes_to_human(0, true), "0 B");
    }

    #[test]
    fn dd_grows_truncates_and_creates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("img");
        dd(&f, Path::new("/dev/zero"), 512, 0, 4, true).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().len(), 2048);
        fs::write(&f, b"abc").unwrap();
        // grow: seek past the partial block, write the rest
        dd(&f, Path::new("/dev/zero"), 512, 1, 3, false).unwrap();
        let data = fs::read(&f).unwrap();
        assert_eq!(data.len(), 2048);
        assert_eq!(&data[..3], b"abc");
        // truncate
        dd(&f, Path::new("/dev/zero"), 512, 1, 0, false).unwrap();
        assert_eq!(fs::read(&f).unwrap().len(), 512);
    }
}
