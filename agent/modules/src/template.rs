//! The `template` module: Ansible's template action (render the source with the task's
//! variables) followed by `copy` of the result: same return values, same attribute
//! handling, same `force`/`backup`/`validate`/`follow`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use agent_template::{FileOptions, SearchPaths};

use crate::command::py_splitlines;
use crate::host::fs::{self as hfs, AttrChange, FileAttrs, Meta, ModeSpec};
use crate::host::users;
use crate::lineinfile::encode;
use crate::spec::{Arg, Args, Def, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct Template;

const SPEC: &[Arg] = &[
    Arg::path("src"),
    Arg::path("dest"),
    Arg::str("state"),
    Arg::bool("backup", false),
    Arg::str("validate"),
    Arg::bool("force", true),
    Arg::bool("follow", false),
    Arg::str("newline_sequence").default(Def::Str("\n")),
    Arg::bool("trim_blocks", true),
    Arg::bool("lstrip_blocks", false),
    Arg::str("block_start_string").default(Def::Str("{%")),
    Arg::str("block_end_string").default(Def::Str("%}")),
    Arg::str("variable_start_string").default(Def::Str("{{")),
    Arg::str("variable_end_string").default(Def::Str("}}")),
    Arg::str("comment_start_string").default(Def::Str("{#")),
    Arg::str("comment_end_string").default(Def::Str("#}")),
    Arg::str("output_encoding").default(Def::Str("utf-8")),
];

/// What observe learns: the rendered content and the destination's state.
#[derive(Debug)]
pub struct TemplateObserved {
    /// The template file found.
    src: PathBuf,
    /// Its permission bits (for `mode: preserve`).
    src_mode: u32,
    rendered: Vec<u8>,
    /// Where the file goes (a directory `dest` gets the template's file name; a link
    /// is resolved with `follow`).
    dest: PathBuf,
    /// `dest` as given (before a followed link is resolved): the diff names it.
    shown: PathBuf,
    /// `dest` is a symlink that is not followed: it is replaced by a file.
    replace_link: bool,
    /// The existing file's content (following links), if any.
    current: Option<Vec<u8>>,
    /// The existing file's owner/group/mode, or those a new file would get.
    meta: Meta,
}

/// The changes `template` makes.
#[derive(Debug)]
pub enum TemplateOp {
    Write { backup: bool },
    Attrs(Vec<AttrChange>),
}

fn options(args: &Args) -> Result<FileOptions, ModuleError> {
    let mut nl = args
        .string("newline_sequence")
        .unwrap_or_else(|| "\n".into());
    nl = match nl.as_str() {
        "\\n" => "\n".into(),
        "\\r" => "\r".into(),
        "\\r\\n" => "\r\n".into(),
        _ => nl,
    };
    if !matches!(nl.as_str(), "\n" | "\r" | "\r\n") {
        return Err(ModuleError::new(
            "newline_sequence needs to be one of: \n, \r or \r\n",
        ));
    }
    let s = |n: &str| args.string(n).unwrap_or_default();
    Ok(FileOptions {
        trim_blocks: args.bool("trim_blocks"),
        lstrip_blocks: args.bool("lstrip_blocks"),
        newline_sequence: nl,
        block_start_string: s("block_start_string"),
        block_end_string: s("block_end_string"),
        variable_start_string: s("variable_start_string"),
        variable_end_string: s("variable_end_string"),
        comment_start_string: s("comment_start_string"),
        comment_end_string: s("comment_end_string"),
        output_encoding: args
            .string("output_encoding")
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "utf-8".into()),
        template_path: args.string("src"),
        dest_path: args.string("dest"),
        ..FileOptions::default()
    })
}

/// The resulting meta after attribute changes.
fn meta_after(meta: &Meta, changes: &[AttrChange]) -> Meta {
    let mut m = *meta;
    for c in changes {
        match *c {
            AttrChange::Owner { to, .. } => m.uid = to,
            AttrChange::Group { to, .. } => m.gid = to,
            AttrChange::Mode { to, .. } => m.mode = (m.mode & hfs::S_IFMT) | to,
        }
    }
    m
}

fn set_file_fields(r: &mut ResultMap, m: &Meta, size: usize) {
    r.insert("gid".into(), Value::from(m.gid));
    r.insert(
        "group".into(),
        users::group_name(m.gid)
            .map(Value::from)
            .unwrap_or_else(|| Value::from(m.gid)),
    );
    r.insert("mode".into(), Value::from(hfs::format_mode(m.perms())));
    r.insert(
        "owner".into(),
        users::user_name(m.uid)
            .map(Value::from)
            .unwrap_or_else(|| Value::from(m.uid)),
    );
    r.insert("size".into(), Value::from(size));
    r.insert("state".into(), Value::from("file"));
    r.insert("uid".into(), Value::from(m.uid));
}

/// The file attributes the task asks for (`mode: preserve` → the template's mode).
fn wanted_attrs(args: &Args, src_mode: u32) -> Result<FileAttrs, ModuleError> {
    let mut attrs = FileAttrs::from_args(args)?;
    if attrs.mode == Some(ModeSpec::Preserve) {
        attrs.mode = Some(ModeSpec::Octal(src_mode & 0o7777));
    }
    Ok(attrs)
}

impl Module for Template {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = TemplateObserved;
    type Op = TemplateOp;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<TemplateObserved, ModuleError> {
        if args.is_set("state") {
            return Err(ModuleError::new(
                "'state' cannot be specified on a template",
            ));
        }
        let (Some(src_arg), Some(dest_arg)) = (args.str("src"), args.str("dest")) else {
            return Err(ModuleError::new("src and dest are required"));
        };
        let opts = options(args)?;
        // Found, read and rendered on Ansible's controller side: as root, also in a task
        // that becomes another user.
        // The template is looked at once and read once: its stat gives `mode: preserve`,
        // the read buffer's size and the `template_uid`/`template_mtime` of the render.
        let (src, src_md, rendered) = crate::host::creds::as_controller(|| {
            let (src, src_md) = ctx.files.find_stat("templates", src_arg).ok_or_else(|| {
                ModuleError::new(format!(
                    "Could not find or access '{src_arg}'\nSearched in the role's templates directory and the playbook directory"
                ))
            })?;
            let src_md = src_md.map_err(|e| ModuleError::io("Could not read", &src, &e))?;
            let src_dir = src.parent().map(Path::to_path_buf).unwrap_or_default();
            let search = SearchPaths {
                dirs: vec![src_dir.join("templates"), src_dir.clone()],
            };
            let source = hfs::read_to_string_sized(&src, src_md.len())
                .map_err(|e| ModuleError::io("Could not read template", &src, &e))?;
            // Text with no template syntax is used as it is (no newline translation), as
            // Ansible does; a `#jinja2:` header line is always read (and may be refused).
            let text = if source.starts_with("#jinja2:")
                || [
                    &opts.variable_start_string,
                    &opts.block_start_string,
                    &opts.comment_start_string,
                ]
                .iter()
                .any(|m| source.contains(m.as_str()))
            {
                ctx.templar
                    .render_file_source_stat(&src, &source, &src_md, ctx.vars, &search, &opts)
                    .map_err(|e| ModuleError::new(e.message))?
            } else {
                source
            };
            let rendered = encode(&text, &opts.output_encoding)?;
            Ok::<_, ModuleError>((src, src_md, rendered))
        })?;

        // One lstat of dest answers whether it is a directory, a link, and (not a link)
        // its stat.
        let mut dest = PathBuf::from(dest_arg);
        let mut lstat = None;
        if dest_arg.ends_with('/') {
            if let Some(name) = src.file_name() {
                dest = dest.join(name);
            }
        } else {
            let l = hfs::lstat(&dest);
            let is_dir = matches!(&l, Ok(Some(m)) if hfs::is_dir_lstat(&dest, Some(m)));
            match src.file_name() {
                Some(name) if is_dir => dest = dest.join(name),
                _ => lstat = Some(l),
            }
        }
        let lstat = lstat
            .unwrap_or_else(|| hfs::lstat(&dest))
            .map_err(|e| ModuleError::io("Unable to stat", &dest, &e))?;
        let link = lstat.as_ref().is_some_and(|m| m.file_type().is_symlink());
        let followed = link && args.bool("follow");
        let replace_link = link && !args.bool("follow");
        let shown = dest.clone();
        if followed {
            dest = std::fs::canonicalize(&dest).unwrap_or(dest);
        }
        let parent = dest.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        // A dest that exists is in a directory that does (path resolution went through it).
        let dir_exists = parent.is_some() && lstat.is_some() && !followed;
        // In check mode Ansible's action plugin reports the change without asking the
        // module, so a directory an earlier task would create is no error.
        if !dir_exists && !dir.is_dir() && !ctx.check_mode {
            return Err(ModuleError::new(format!(
                "Destination directory {} does not exist",
                dir.display()
            ))
            .with("checksum", hfs::sha1_hex(&rendered)));
        }
        // The stat of dest: its lstat unless it is a link.
        let existing = if link {
            hfs::stat(&dest).map_err(|e| ModuleError::io("Unable to stat", &dest, &e))?
        } else {
            lstat
        };
        let (current, meta) = match existing {
            Some(md) if md.is_dir() => {
                return Err(ModuleError::new(format!(
                    "Destination {} is a directory",
                    dest.display()
                )));
            }
            Some(md) => (
                Some(
                    hfs::read_sized(&dest, md.len())
                        .map_err(|e| ModuleError::io("Unable to read", &dest, &e))?,
                ),
                Meta::from(&md),
            ),
            None => (None, Meta::new_file(&dir)),
        };
        // A link that is not followed is replaced by a new file: the target's attributes
        // are not the file's (its content is still the diff's "before", as in Ansible).
        let meta = if replace_link {
            Meta::new_file(&dir)
        } else {
            meta
        };
        Ok(TemplateObserved {
            src,
            src_mode: src_md.mode(),
            shown,
            replace_link,
            rendered,
            dest,
            current,
            meta,
        })
    }

    fn plan(
        args: &Args,
        o: &TemplateObserved,
        ctx: &Ctx<'_>,
    ) -> Result<Plan<TemplateOp>, ModuleError> {
        let mut plan = Plan::default();
        let dest = o.dest.display().to_string();
        let checksum = hfs::sha1_hex(&o.rendered);
        let write = match &o.current {
            None => true,
            Some(cur) => args.bool("force") && (o.replace_link || hfs::sha1_hex(cur) != checksum),
        };
        let attrs = wanted_attrs(args, o.src_mode)?;
        let changes = hfs::plan_attrs(&o.dest, &o.meta, &attrs)?;
        let after = meta_after(&o.meta, &changes);
        // Ansible's template action returns what its copy action does: a file it writes
        // has the list of content diffs (one in diff mode, none outside it); a kept file
        // the `file` module's diff of its attributes in diff mode, else the empty list.
        plan.diff_list = write || !ctx.diff_mode;
        if write && ctx.diff_mode {
            plan.diff.push(Diff {
                before: Value::from(
                    o.current
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default()
                        .as_ref(),
                ),
                after: Value::from(String::from_utf8_lossy(&o.rendered).as_ref()),
                // A new file has no "before" to name, as in Ansible's diff.
                before_header: o.current.as_ref().map(|_| o.shown.display().to_string()),
                after_header: Some(o.src.display().to_string()),
            });
        }
        if write {
            plan.ops.push(TemplateOp::Write {
                backup: args.bool("backup") && o.current.is_some(),
            });
            plan.set("changed", true);
        }
        if !write && ctx.diff_mode {
            plan.diff.push(hfs::path_attrs_diff(&dest, &changes));
        }
        if !changes.is_empty() {
            plan.ops.push(TemplateOp::Attrs(changes));
        }
        plan.set("checksum", checksum);
        plan.set("dest", dest.as_str());
        if write {
            plan.set("md5sum", hfs::md5_hex(&o.rendered));
            plan.set("src", o.src.display().to_string());
        } else {
            plan.set("path", dest.as_str());
        }
        let size = if write || o.current.is_none() {
            o.rendered.len()
        } else {
            o.current.as_ref().map_or(0, Vec::len)
        };
        set_file_fields(&mut plan.result, &after, size);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: TemplateObserved,
        plan: &Plan<TemplateOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut r = ResultMap::new();
        let wrote = plan
            .ops
            .iter()
            .any(|op| matches!(op, TemplateOp::Write { .. }));
        for op in &plan.ops {
            match op {
                TemplateOp::Write { backup } => {
                    if *backup {
                        let b = hfs::backup_file(&o.dest).map_err(|e| {
                            ModuleError::new(format!(
                                "Could not make backup of {}: {e}",
                                o.dest.display()
                            ))
                        })?;
                        r.insert("backup_file".into(), Value::from(b.display().to_string()));
                    }
                    if let Some(v) = args.str("validate") {
                        validate(v, &o.rendered)
                            .map_err(|e| e.with("checksum", hfs::sha1_hex(&o.rendered)))?;
                    }
                    let attrs = wanted_attrs(args, o.src_mode)?;
                    hfs::atomic_write(&o.dest, &o.rendered, &attrs)
                        .map_err(|e| ModuleError::io("Unable to write", &o.dest, &e))?;
                }
                TemplateOp::Attrs(changes) => {
                    if !wrote {
                        hfs::apply_attrs(&o.dest, changes)?;
                    }
                }
            }
        }
        if let Ok(md) = std::fs::metadata(&o.dest) {
            set_file_fields(&mut r, &Meta::from(&md), md.len() as usize);
        }
        Ok(r)
    }
}

/// Copy's `validate`: the command runs on a temporary file holding the new content.
fn validate(cmd: &str, content: &[u8]) -> Result<(), ModuleError> {
    if !cmd.contains("%s") {
        return Err(ModuleError::new(format!("validate must contain %s: {cmd}")));
    }
    let out = crate::lineinfile::run_validate(cmd, content)?;
    if out.rc != 0 {
        return Err(ModuleError::new("failed to validate")
            .with("exit_status", out.rc)
            .with("stdout_lines", Value::from(py_splitlines(&out.stdout)))
            .with("stderr_lines", Value::from(py_splitlines(&out.stderr)))
            .with("stdout", out.stdout)
            .with("stderr", out.stderr));
    }
    Ok(())
}
