//! File lookups: file, template, fileglob, first_found, ini, csvfile. Files are found
//! through `ansible_search_path` (`DIR/files/x` or `DIR/templates/x`, then `DIR/x`).

use std::path::Path;

use minijinja::{Error, Value};

use super::LookupCtx;
use crate::filters::{err, is_map, list_of, py_str, str_repr};

/// `file`: file contents (`rstrip=True`, `lstrip=False`).
pub fn file(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let lstrip = ctx.opt_bool("lstrip", false);
    let rstrip = ctx.opt_bool("rstrip", true);
    let mut out = Vec::new();
    for t in terms {
        let name = py_str(&t);
        let path = ctx
            .find_file("files", &name)
            .filter(|p| p.is_file())
            .ok_or_else(|| err(format!("Unable to access the file {}.", str_repr(&name))))?;
        let mut s = read_text(&path).map_err(|e| {
            err(format!(
                "Unable to access the file {}: {e}",
                str_repr(&name)
            ))
        })?;
        if lstrip {
            s = s.trim_start().to_string();
        }
        if rstrip {
            s = s.trim_end().to_string();
        }
        out.push(Value::from(s));
    }
    Ok(out)
}

/// A file's text; a vault-encrypted file's plain text (decrypted with the run's vault
/// secrets), as Ansible's loader reads files for lookups.
fn read_text(path: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let bytes = match agent_yaml::vault::decrypt_if_encrypted(&bytes) {
        Some(plain) => plain.map_err(|e| e.to_string())?,
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| format!("the file is not UTF-8: {e}"))
}

/// `unvault`: the text of each file (found under `files/`), decrypted when it is
/// vault-encrypted; not stripped.
pub fn unvault(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let name = py_str(&t);
        let path = ctx
            .find_file("files", &name)
            .filter(|p| p.is_file())
            .ok_or_else(|| err(format!("Unable to find file matching \"{name}\" ")))?;
        let text = read_text(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        out.push(Value::from(text));
    }
    Ok(out)
}

/// `template`: a template file rendered with the current variables (plus `template_vars`).
pub fn template(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let name = py_str(&t);
        let path = ctx
            .find_file("templates", &name)
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                err(format!(
                    "the template file {name} could not be found for the lookup"
                ))
            })?;
        let src =
            std::fs::read_to_string(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        if let Some((templar, vars)) = ctx.vars.lazy_vars() {
            let rendered = template_lazy(&templar, vars, &name, &path, &src, ctx)?;
            out.push(match rendered.as_str() {
                Some(text) if rendered.kind() == minijinja::value::ValueKind::String => {
                    nothing_is_none(text.to_string(), &src)
                }
                _ => rendered,
            });
            continue;
        }
        let Some(env) = ctx.env else {
            out.push(Value::from(src));
            continue;
        };
        let mut pairs: Vec<(String, Value)> = Vec::new();
        for n in ctx.vars.var_names() {
            if let Some(v) = ctx.vars.get_var(&n) {
                pairs.push((n, v));
            }
        }
        if let Some(tv) = ctx.opt("template_vars")
            && let Some(items) = crate::filters::map_items(tv)
        {
            for (k, v) in items {
                pairs.push((py_str(&k), v));
            }
        }
        let vars = Value::from_pairs(pairs);
        // Template files render with trim_blocks, as the template module does.
        let mut env = env.clone();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .keep_trailing_newline(true)
                .build()?,
        );
        let rendered = env.render_str(&src, vars)?;
        out.push(nothing_is_none(rendered, &src));
    }
    Ok(out)
}

/// A template that renders no content at all (only comments and statements, or an empty
/// file) gives `None` in Ansible, not an empty string; one whose expressions render empty
/// stays a string.
fn nothing_is_none(rendered: String, src: &str) -> Value {
    if rendered.trim_end_matches('\n').is_empty() && !src.contains("{{") {
        Value::from(())
    } else {
        Value::from(rendered)
    }
}

/// The `template` lookup under `Templar`: the file renders as the template module renders
/// it, over the render's own lazy variables with `template_vars` on top; includes are
/// found through `ansible_search_path` (each dir's `templates/`, then the dir) and the
/// file's own directory. Options: `template_vars`, `variable_start_string`,
/// `variable_end_string`, `comment_start_string`, `comment_end_string`, `trim_blocks`.
fn template_lazy(
    templar: &crate::Templar,
    vars: crate::Vars,
    name: &str,
    path: &Path,
    src: &str,
    ctx: &LookupCtx<'_>,
) -> Result<Value, Error> {
    let mut layers = Vec::with_capacity(vars.layers.len() + 1);
    if let Some(tv) = ctx.opt("template_vars") {
        if !tv.is_none() && !is_map(tv) {
            return Err(err(format!(
                "Invalid type for configuration option 'template_vars': expected a dict, got {}",
                crate::filters::type_name(tv)
            )));
        }
        if is_map(tv) {
            layers.push(tv.clone());
        }
    }
    layers.extend(vars.layers);
    let mut opts = crate::FileOptions {
        template_path: Some(name.to_string()),
        trim_blocks: ctx.opt_bool("trim_blocks", true),
        ..crate::FileOptions::default()
    };
    for (key, field) in [
        ("variable_start_string", &mut opts.variable_start_string),
        ("variable_end_string", &mut opts.variable_end_string),
        ("comment_start_string", &mut opts.comment_start_string),
        ("comment_end_string", &mut opts.comment_end_string),
    ] {
        if let Some(v) = ctx.opt(key).filter(|v| !v.is_none()) {
            *field = py_str(v);
        }
    }
    let search = crate::SearchPaths {
        dirs: ctx.search_path(),
    };
    templar
        .render_file_source_native(path, src, &crate::Vars::new(layers), &search, &opts)
        .map_err(|e| {
            let kind = if e.undefined {
                minijinja::ErrorKind::UndefinedError
            } else {
                minijinja::ErrorKind::InvalidOperation
            };
            Error::new(kind, e.message)
        })
}

/// `fileglob`: files matching each pattern, searched under `files/`.
pub fn fileglob(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let term = py_str(&t);
        let dir = crate::filters::path::dirname(&term).to_string();
        let base = crate::filters::path::basename(&term).to_string();
        let mut found = Vec::new();
        let dirs: Vec<std::path::PathBuf> = if Path::new(&term).is_absolute() {
            vec![Path::new(&dir).to_path_buf()]
        } else {
            ctx.search_path()
                .into_iter()
                .flat_map(|d| [d.join("files").join(&dir), d.join(&dir)])
                .collect()
        };
        for d in dirs {
            if !d.is_dir() {
                continue;
            }
            found = glob_in_dir_order(&d, &base);
            if !found.is_empty() {
                break;
            }
        }
        out.extend(found.into_iter().map(Value::from));
    }
    Ok(out)
}

fn split_on(v: &Value, seps: &[char]) -> Vec<String> {
    let items: Vec<Value> = list_of(v).unwrap_or_else(|| vec![v.clone()]);
    let mut out = Vec::new();
    for it in items {
        for part in py_str(&it).split(|c| seps.contains(&c)) {
            let p = part.trim();
            if !p.is_empty() {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// `first_found`: the path of the first file that exists. Options `files`, `paths`,
/// `skip`; terms may be file names or dicts of those options. The subdirectory searched
/// is `templates/`, `vars/` or `files/`, by the running task's action name (see
/// [`super::first_found_subdir`]).
pub fn first_found(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let subdir = super::first_found_subdir();
    let mut skip = ctx.opt_bool("skip", false);
    let mut search: Vec<String> = Vec::new();
    let mut terms = terms;
    if terms.is_empty()
        && let Some(f) = ctx.opt("files")
    {
        let mut term = vec![("files", f.clone())];
        if let Some(p) = ctx.opt("paths") {
            term.push(("paths", p.clone()));
        }
        terms = vec![Value::from_pairs(term)];
    }
    fn process(
        terms: &[Value],
        ctx: &LookupCtx<'_>,
        skip: &mut bool,
        search: &mut Vec<String>,
    ) -> Result<(), Error> {
        for t in terms {
            let (files, paths) = if is_map(t) {
                let files = t
                    .get_attr("files")
                    .ok()
                    .filter(|v| !v.is_undefined())
                    .unwrap_or_else(|| Value::from(Vec::<Value>::new()));
                let paths = t
                    .get_attr("paths")
                    .ok()
                    .filter(|v| !v.is_undefined())
                    .unwrap_or_else(|| Value::from(Vec::<Value>::new()));
                if let Ok(s) = t.get_attr("skip")
                    && !s.is_undefined()
                {
                    *skip = s.is_true();
                }
                (
                    split_on(&files, &[',', ';']),
                    split_on(&paths, &[',', ':', ';']),
                )
            } else if let Some(s) = t.as_str() {
                let paths = ctx
                    .opt("paths")
                    .map(|p| split_on(p, &[',', ':', ';']))
                    .unwrap_or_default();
                (split_on(&Value::from(s), &[',', ';']), paths)
            } else if let Some(l) = list_of(t) {
                process(&l, ctx, skip, search)?;
                continue;
            } else {
                return Err(err(format!(
                    "Invalid term supplied. A string, dict or list is required, not '{}').",
                    crate::filters::type_name(t)
                )));
            };
            if paths.is_empty() {
                search.extend(files);
            } else {
                for p in &paths {
                    for f in &files {
                        search.push(crate::filters::path::join(&[p.clone(), f.clone()]));
                    }
                }
            }
        }
        Ok(())
    }
    process(&terms, ctx, &mut skip, &mut search)?;
    for f in search {
        if let Some(p) = ctx.find_file(subdir, &f) {
            let s = p.to_string_lossy().into_owned();
            return Ok(vec![Value::from(crate::filters::path::normpath(&s))]);
        }
    }
    if skip {
        return Ok(vec![]);
    }
    Err(err("No file was found when using first_found."))
}

/// Split a term like `key opt=val opt2='x y'` into the key and its options.
fn parse_term(term: &str) -> (String, Vec<(String, String)>) {
    parse_term_with(term, false)
}

/// `parse_term`, or with `keep_quotes` as Ansible's `parse_kv`: the words of the search
/// key keep their quotes (`'"The Rock" Johnson'`), option values lose them.
fn parse_term_with(term: &str, keep_quotes: bool) -> (String, Vec<(String, String)>) {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in term.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                if keep_quotes {
                    cur.push(c);
                }
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                if keep_quotes {
                    cur.push(c);
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut key = Vec::new();
    let mut opts = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                let v = if keep_quotes { unquote(v) } else { v };
                opts.push((k.to_string(), v.to_string()))
            }
            _ => key.push(w),
        }
    }
    (key.join(" "), opts)
}

/// A value without its surrounding quotes (Python's `unquote` of parse_kv).
fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn merged_opts(
    ctx: &LookupCtx<'_>,
    inline: &[(String, String)],
    name: &str,
    default: &str,
) -> String {
    inline
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| ctx.opt_str(name, default))
}

/// A file's bytes as text in one of the encodings lookups are given most (Python codec
/// names): UTF-8, ASCII, Latin-1 (ISO 8859-1) and Latin-9 (ISO 8859-15).
fn decode(bytes: &[u8], encoding: &str) -> Result<String, String> {
    let name = encoding
        .trim()
        .to_ascii_lowercase()
        .replace(['_', ' '], "-");
    let undecodable = |at: usize| {
        format!(
            "'{encoding}' codec can't decode byte 0x{:02x} in position {at}",
            bytes[at]
        )
    };
    match name.as_str() {
        "utf-8" | "utf8" | "u8" => {
            String::from_utf8(bytes.to_vec()).map_err(|e| undecodable(e.utf8_error().valid_up_to()))
        }
        "ascii" | "us-ascii" | "646" => match bytes.iter().position(|b| !b.is_ascii()) {
            Some(at) => Err(undecodable(at)),
            None => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        },
        "latin-1" | "latin1" | "l1" | "iso8859-1" | "iso-8859-1" | "iso8859" | "8859" | "cp819" => {
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        }
        "iso8859-15" | "iso-8859-15" | "latin-9" | "latin9" | "l9" => Ok(bytes
            .iter()
            .map(|&b| match b {
                0xA4 => '€',
                0xA6 => 'Š',
                0xA8 => 'š',
                0xB4 => 'Ž',
                0xB8 => 'ž',
                0xBC => 'Œ',
                0xBD => 'œ',
                0xBE => 'Ÿ',
                b => char::from(b),
            })
            .collect()),
        _ => Err(format!("unknown encoding: {encoding}")),
    }
}

/// `ini`: a value from an INI (or `type=properties`) file.
pub fn ini(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    const OPTIONS: [&str; 10] = [
        "type",
        "file",
        "section",
        "re",
        "encoding",
        "default",
        "case_sensitive",
        "allow_no_value",
        "allow_none",
        "interpolation",
    ];
    for t in terms {
        let raw = py_str(&t);
        let (key, inline) = parse_term(&raw);
        if raw.contains('=') || raw.trim().contains(' ') {
            if let Some((bad, _)) = inline.iter().find(|(k, _)| !OPTIONS.contains(&k.as_str())) {
                return Err(err(format!("{} is not a valid option.", str_repr(bad))));
            }
            if key.is_empty() {
                return Err(err(format!(
                    "No key to look up was provided as first term within string inline options: {raw}"
                )));
            }
        }
        let file = merged_opts(ctx, &inline, "file", "ansible.ini");
        let ty = merged_opts(ctx, &inline, "type", "ini");
        let section = if ty == "properties" {
            "java_properties".to_string()
        } else {
            merged_opts(ctx, &inline, "section", "global")
        };
        let default = merged_opts(ctx, &inline, "default", "");
        let is_re = matches!(
            merged_opts(ctx, &inline, "re", "false")
                .to_lowercase()
                .as_str(),
            "true" | "yes" | "1"
        );
        // The parser is built once from the keyword options, before any term is read:
        // inline `case_sensitive`, `allow_no_value` and `interpolation` change nothing.
        let kw = |name: &str, default: &str| {
            matches!(
                ctx.opt_str(name, default).to_lowercase().as_str(),
                "true" | "yes" | "1" | "on"
            )
        };
        let case_sensitive = kw("case_sensitive", "false");
        let path = ctx
            .find_file("files", &file)
            .ok_or_else(|| err(format!("Could not find file {file}")))?;
        let bytes = std::fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let encoding = merged_opts(ctx, &inline, "encoding", "utf-8");
        let text = decode(&bytes, &encoding).map_err(err)?;
        let text = if ty == "properties" {
            format!("[java_properties]\n{text}")
        } else {
            text
        };
        let mut cur = String::new();
        let allow_no_value = kw("allow_no_value", "false") || kw("allow_none", "false");
        let interpolation = kw("interpolation", "true");
        // (section, key, value): no value for a bare key (`allow_no_value`).
        let mut entries: Vec<(String, String, Option<String>)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut sections: Vec<String> = Vec::new();
        // The option a following indented line continues (configparser's multi-line values).
        let mut last: Option<usize> = None;
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            if line.starts_with(char::is_whitespace)
                && let Some(Some(v)) = last.map(|i| &mut entries[i].2)
            {
                v.push('\n');
                v.push_str(l);
                continue;
            }
            if l.starts_with('[') && l.ends_with(']') {
                cur = l[1..l.len() - 1].to_string();
                last = None;
                // configparser's DuplicateSectionError, which Ansible does not catch.
                if sections.contains(&cur) {
                    return Err(err(format!(
                        "While reading from '<???>' [line {:>2}]: section {} already exists",
                        n + 1,
                        str_repr(&cur)
                    )));
                }
                sections.push(cur.clone());
                continue;
            }
            if sections.is_empty() {
                return Err(err(format!(
                    "File contains no section headers.\nfile: '<???>', line: {}\n{}",
                    n + 1,
                    str_repr(&format!("{line}\n"))
                )));
            }
            let idx = l.find(['=', ':']);
            let (k, v) = match idx {
                Some(i) => (l[..i].trim(), Some(l[i + 1..].trim())),
                None if allow_no_value => (l, None),
                // configparser's ParsingError, which Ansible does not catch.
                None => {
                    return Err(err(format!(
                        "Source contains parsing errors: '<???>'\n\t[line {:>2}]: {}",
                        n + 1,
                        str_repr(&format!("{line}\n"))
                    )));
                }
            };
            let k = if case_sensitive {
                k.to_string()
            } else {
                k.to_lowercase()
            };
            // configparser reads strictly: an option twice in a section is an error
            // (keys compared after the case folding above).
            if !seen.insert((cur.clone(), k.clone())) {
                return Err(err(format!("Duplicate option in {}.", str_repr(&file))));
            }
            entries.push((cur.clone(), k, v.map(str::to_string)));
            last = Some(entries.len() - 1);
        }
        if !sections.contains(&section) {
            return Err(err(format!("No section {} in {file}", str_repr(&section))));
        }
        let lookup_key = if case_sensitive || is_re {
            key.clone()
        } else {
            key.to_lowercase()
        };
        if is_re {
            let re = crate::filters::regex::compile(&format!("\\A(?:{lookup_key})"), false, false)?;
            for (s, k, v) in &entries {
                if *s == section && re.is_match(k).unwrap_or(false) {
                    // A bare key (allow_no_value) is None in the list.
                    let v = match v {
                        None => Value::from(()),
                        Some(v) if interpolation => Value::from(
                            ini_interpolate(v, &section, k, &entries, !case_sensitive, 1)
                                .map_err(err)?,
                        ),
                        Some(v) => Value::from(v.as_str()),
                    };
                    out.push(v);
                }
            }
        } else {
            // The section's option, else DEFAULT's (as configparser's get); the lookup's
            // `default` is returned as it is, never interpolated.
            let found = entries
                .iter()
                .rev()
                .find(|(s, k, _)| *s == section && *k == lookup_key)
                .or_else(|| {
                    entries
                        .iter()
                        .rev()
                        .find(|(s, k, _)| s == "DEFAULT" && *k == lookup_key)
                });
            let v = match found {
                Some((_, _, Some(raw))) if interpolation => Some(
                    ini_interpolate(raw, &section, &lookup_key, &entries, !case_sensitive, 1)
                        .map_err(err)?,
                ),
                Some((_, _, v)) => v.clone(),
                None => Some(default),
            };
            // A key without a value is None: the lookup leaves it out.
            out.extend(v.map(Value::from));
        }
    }
    Ok(out)
}

/// configparser's BasicInterpolation of one value: `%(name)s` is the option `name` of
/// the same section (or DEFAULT), `%%` a percent sign; at most 10 levels deep.
fn ini_interpolate(
    raw: &str,
    section: &str,
    option: &str,
    entries: &[(String, String, Option<String>)],
    fold: bool,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err(format!(
            "Recursion limit exceeded in value substitution: option {} in section {} contains an interpolation key which cannot be substituted in 10 steps. Raw value: {}",
            str_repr(option),
            str_repr(section),
            str_repr(raw)
        ));
    }
    let find = |name: &str| {
        entries
            .iter()
            .rev()
            .find(|(s, k, _)| s == section && k == name)
            .or_else(|| {
                entries
                    .iter()
                    .rev()
                    .find(|(s, k, _)| s == "DEFAULT" && k == name)
            })
            .map(|(_, _, v)| v.clone().unwrap_or_default())
    };
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
        } else if let Some(r) = after.strip_prefix('(')
            && let Some(end) = r.find(")s")
        {
            let name = if fold {
                r[..end].to_lowercase()
            } else {
                r[..end].to_string()
            };
            let value = find(&name).ok_or_else(|| {
                format!(
                    "Bad value substitution: option {} in section {} contains an interpolation key {} which is not a valid option name. Raw value: {}",
                    str_repr(option),
                    str_repr(section),
                    str_repr(&name),
                    str_repr(raw)
                )
            })?;
            out.push_str(&ini_interpolate(
                &value,
                section,
                &name,
                entries,
                fold,
                depth + 1,
            )?);
            rest = &r[end + 2..];
        } else {
            return Err(format!(
                "'%' must be followed by '%' or '(', found: {}",
                str_repr(&rest[i..])
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `csvfile`: column `col` of the row whose first column is the key.
pub fn csvfile(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    const OPTIONS: [&str; 6] = ["file", "delimiter", "col", "default", "encoding", "keycol"];
    const NO_KEY: &str = "Search key is required but was not found";
    if terms.is_empty() {
        return Err(err(NO_KEY));
    }
    let mut out = Vec::new();
    for t in terms {
        let (key, inline) = parse_term_with(&py_str(&t), true);
        if key.is_empty() {
            return Err(err(NO_KEY));
        }
        if let Some((bad, _)) = inline.iter().find(|(k, _)| !OPTIONS.contains(&k.as_str())) {
            return Err(err(format!("'{bad}' is not a valid option")));
        }
        let file = merged_opts(ctx, &inline, "file", "ansible.csv");
        let mut delim = merged_opts(ctx, &inline, "delimiter", "TAB");
        if delim == "TAB" || delim == "\\t" {
            delim = "\t".into();
        }
        let col: usize = int_opt(ctx, &inline, "col", "1", "csvfile")?;
        let keycol: usize = int_opt(ctx, &inline, "keycol", "0", "csvfile")?;
        // not found: the default (None: nothing; a list: its items)
        let default: Option<Value> = match inline.iter().rev().find(|(k, _)| k == "default") {
            Some((_, v)) => Some(Value::from(v.as_str())),
            None => ctx.opt("default").filter(|v| !v.is_none()).cloned(),
        };
        let path = ctx.find_file("files", &file).ok_or_else(|| {
            err(format!(
                "csvfile: [Errno 2] No such file or directory: '{file}'"
            ))
        })?;
        let text = std::fs::read_to_string(&path).map_err(|e| err(format!("csvfile: {e}")))?;
        let d = delim.chars().next().unwrap_or('\t');
        let mut found = None;
        for line in text.lines() {
            let row = split_csv(line, d);
            if row.get(keycol).map(String::as_str) == Some(key.as_str()) {
                found = Some(
                    row.get(col)
                        .cloned()
                        .ok_or_else(|| err("list index out of range"))?,
                );
                break;
            }
        }
        match (found, default) {
            (Some(v), _) => out.push(Value::from(v)),
            (None, None) => {}
            (None, Some(d)) if d.kind() == minijinja::value::ValueKind::Seq => {
                out.extend(d.try_iter().into_iter().flatten())
            }
            (None, Some(d)) => out.push(d),
        }
    }
    Ok(out)
}

/// An option of type int (Ansible's message when it is not one).
fn int_opt(
    ctx: &LookupCtx<'_>,
    inline: &[(String, String)],
    name: &str,
    default: &str,
    plugin: &str,
) -> Result<usize, Error> {
    let text = merged_opts(ctx, inline, name, default);
    text.trim().parse().map_err(|_| {
        err(format!(
            "Config '{name}' for '{plugin}' lookup plugin from 'Direct' has an invalid value: \
             Invalid value provided for 'int': '{text}'"
        ))
    })
}

fn split_csv(line: &str, d: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if q {
            if c == '"' {
                if chars.get(i + 1) == Some(&'"') {
                    cur.push('"');
                    i += 1;
                } else {
                    q = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && cur.is_empty() {
            q = true;
        } else if c == d {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
        i += 1;
    }
    out.push(cur);
    out
}

/// Files in `dir` whose name matches the shell pattern `base`, in the directory's own
/// order: Python's glob (and so Ansible's fileglob lookup) does not sort.
fn glob_in_dir_order(dir: &Path, base: &str) -> Vec<String> {
    let Ok(pattern) = glob::Pattern::new(base) else {
        return Vec::new();
    };
    let opts = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..Default::default()
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| pattern.matches_with(&e.file_name().to_string_lossy(), opts))
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_without_content_is_none() {
        assert!(nothing_is_none("\n".into(), "{# only a comment #}\n").is_none());
        assert_eq!(nothing_is_none("".into(), "{{ '' }}").as_str(), Some(""));
        assert_eq!(nothing_is_none("a\n".into(), "a\n").as_str(), Some("a\n"));
    }
    use crate::lookups::MapVars;

    #[test]
    fn unvault_reads_files_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("files/plain.txt"), "text\n\n").unwrap();
        std::fs::write(
            dir.path().join("files/v.txt"),
            "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        )
        .unwrap();
        let vars = MapVars(Value::from_pairs([(
            "ansible_search_path",
            Value::from(vec![dir.path().to_string_lossy().into_owned()]),
        )]));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        // Not stripped, unlike `file`.
        assert_eq!(
            unvault(vec![Value::from("plain.txt")], &ctx).unwrap(),
            vec![Value::from("text\n\n")]
        );
        let e = unvault(vec![Value::from("nope")], &ctx).unwrap_err();
        assert!(
            e.to_string()
                .contains("Unable to find file matching \"nope\""),
            "{e}"
        );
        // This test binary has no vault secrets: a vaulted file does not open.
        let e = unvault(vec![Value::from("v.txt")], &ctx).unwrap_err();
        assert!(e.to_string().contains("no vault secrets found"), "{e}");
        let e = file(vec![Value::from("v.txt")], &ctx).unwrap_err();
        assert!(e.to_string().contains("no vault secrets found"), "{e}");
    }

    #[test]
    fn first_found_directory_follows_the_task_action() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["files", "templates", "vars"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("f.txt"), sub).unwrap();
        }
        let vars = MapVars(Value::from_pairs([(
            "ansible_search_path",
            Value::from(vec![dir.path().to_string_lossy().into_owned()]),
        )]));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        let found = || {
            let r = first_found(vec![Value::from("f.txt")], &ctx).unwrap();
            std::fs::read_to_string(r[0].as_str().unwrap()).unwrap()
        };
        assert_eq!(found(), "files", "outside a task");
        for (action, sub) in [
            ("ansible.builtin.template", "templates"),
            ("include_vars", "vars"),
            ("debug_var_alias", "vars"),
            ("copy", "files"),
            ("debug", "files"),
            // `template` is looked for first.
            ("template_vars", "templates"),
        ] {
            let _guard = crate::lookups::enter_task_action(action);
            assert_eq!(found(), sub, "{action}");
        }
        // The guards restored the outer state.
        assert_eq!(found(), "files");
        // No terms: the `files` and `paths` options.
        let etc = LookupCtx {
            vars: &vars,
            kwargs: vec![
                ("files".into(), Value::from(vec!["nope", "f.txt"])),
                (
                    "paths".into(),
                    Value::from(vec![dir.path().join("vars").to_string_lossy().into_owned()]),
                ),
            ],
            env: None,
        };
        let r = first_found(vec![], &etc).unwrap();
        assert!(r[0].as_str().unwrap().ends_with("vars/f.txt"), "{r:?}");
    }

    #[test]
    fn files_through_search_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        std::fs::write(dir.path().join("files/a.txt"), "hello\n\n").unwrap();
        std::fs::write(dir.path().join("b.ini"), "[s]\nKey = v1\nother: v2\n").unwrap();
        std::fs::write(dir.path().join("c.csv"), "a,1,x\nb,2,y\n").unwrap();
        let vars = MapVars(Value::from_pairs([(
            "ansible_search_path",
            Value::from(vec![dir.path().to_string_lossy().into_owned()]),
        )]));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        assert_eq!(
            file(vec![Value::from("a.txt")], &ctx).unwrap(),
            vec![Value::from("hello")]
        );
        assert!(file(vec![Value::from("nope.txt")], &ctx).is_err());
        let ff = first_found(
            vec![Value::from(vec![
                Value::from("x.txt"),
                Value::from("a.txt"),
            ])],
            &ctx,
        )
        .unwrap();
        assert!(ff[0].as_str().unwrap().ends_with("files/a.txt"));
        assert_eq!(
            ini(vec![Value::from("key section=s file=b.ini")], &ctx).unwrap(),
            vec![Value::from("v1")]
        );
        // Duplicate options are an error, as configparser's strict reading makes them;
        // keys that differ only in case are duplicates unless case_sensitive.
        std::fs::write(dir.path().join("d.ini"), "[s]\nname = a\nNAME = b\n").unwrap();
        let e = ini(vec![Value::from("name section=s file=d.ini")], &ctx).unwrap_err();
        assert!(
            e.to_string().contains("Duplicate option in 'd.ini'."),
            "{e}"
        );
        // BasicInterpolation, on unless interpolation=false; bare keys need allow_no_value.
        // Those options (and case_sensitive) are keyword options only, as in Ansible.
        std::fs::write(
            dir.path().join("i.ini"),
            "[DEFAULT]\nbase: /d\n[s]\nhome: /u\ndir: %(home)s/x 100%%\nraw = %u\nbare\nmulti = a\n  b\nfromdef = %(base)s/y\n",
        )
        .unwrap();
        let with = |kw: &[(&str, Value)], t: &str| {
            let ctx = LookupCtx {
                vars: &vars,
                kwargs: kw.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
                env: None,
            };
            ini(vec![Value::from(t)], &ctx)
        };
        let anv = ("allow_no_value", Value::from(true));
        assert!(
            with(&[], "dir section=s file=i.ini").is_err(),
            "bare key without allow_no_value"
        );
        assert!(
            with(&[], "dir section=s file=i.ini allow_no_value=true").is_err(),
            "inline allow_no_value changes nothing"
        );
        let get = |kw: &[(&str, Value)], t: &str| with(kw, t).unwrap();
        assert_eq!(
            get(std::slice::from_ref(&anv), "dir section=s file=i.ini"),
            vec![Value::from("/u/x 100%")]
        );
        assert!(with(std::slice::from_ref(&anv), "raw section=s file=i.ini").is_err());
        assert_eq!(
            get(
                &[anv.clone(), ("interpolation", Value::from(false))],
                "raw section=s file=i.ini"
            ),
            vec![Value::from("%u")]
        );
        assert_eq!(
            get(std::slice::from_ref(&anv), "bare section=s file=i.ini"),
            Vec::<Value>::new()
        );
        assert_eq!(
            get(std::slice::from_ref(&anv), "multi section=s file=i.ini"),
            vec![Value::from("a\nb")]
        );
        // DEFAULT's options are every section's; the default is never interpolated.
        assert_eq!(
            get(std::slice::from_ref(&anv), "fromdef section=s file=i.ini"),
            vec![Value::from("/d/y")]
        );
        assert_eq!(
            get(
                std::slice::from_ref(&anv),
                "nope section=s file=i.ini default=100%"
            ),
            vec![Value::from("100%")]
        );
        std::fs::write(dir.path().join("dup.ini"), "[a]\nx=1\n[a]\ny=2\n").unwrap();
        assert!(
            with(&[], "x section=a file=dup.ini").is_err(),
            "duplicate section"
        );
        std::fs::write(dir.path().join("nohead.ini"), "x=1\n").unwrap();
        assert!(
            with(&[], "x section=a file=nohead.ini").is_err(),
            "no section header"
        );
        assert!(
            with(&[], "file=i.ini").is_err(),
            "inline options without a key"
        );
        assert!(
            with(&[], "dir bogus=1 file=i.ini").is_err(),
            "unknown option"
        );
        assert_eq!(
            get(
                &[("case_sensitive", Value::from(true))],
                "NAME section=s file=d.ini"
            ),
            vec![Value::from("b")]
        );
        assert!(
            with(&[], "NAME section=s file=d.ini case_sensitive=true").is_err(),
            "inline case_sensitive comes too late: the duplicate is found first"
        );
        assert_eq!(
            csvfile(vec![Value::from("b file=c.csv delimiter=, col=2")], &ctx).unwrap(),
            vec![Value::from("y")]
        );
    }

    #[test]
    fn decodes_the_common_encodings() {
        assert_eq!(decode("été".as_bytes(), "utf-8").unwrap(), "été");
        assert_eq!(decode(b"\xe9t\xe9", "iso8859-1").unwrap(), "été");
        assert_eq!(decode(b"\xa4 \xbd", "ISO_8859-15").unwrap(), "€ œ");
        assert_eq!(decode(b"\xa4", "latin-1").unwrap(), "¤");
        assert!(decode(b"\xe9", "utf-8").is_err());
        assert!(decode(b"\xe9", "ascii").is_err());
        assert_eq!(
            decode(b"x", "klingon").unwrap_err(),
            "unknown encoding: klingon"
        );
    }
}
