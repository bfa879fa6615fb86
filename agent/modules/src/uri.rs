//! The `uri` module (ansible.builtin.uri): one HTTP(S) request of any method, its body
//! formatted as Ansible formats it (`raw`, `json`, `form-urlencoded`), the answer checked
//! against `status_code`, returned (`return_content`, `json` for JSON types) and written
//! to `dest` when asked.
//!
//! The request is how the module learns anything, so it is made in observe, as wait_for
//! waits there; in check mode it is not made (uri does not support check mode: the task
//! is skipped, as in Ansible). Writing `dest` is the plan's only operation, and Ansible
//! reports it as a change whenever the status is accepted (not 304), even when the bytes
//! are the same.

use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::get_url::{disposition_filename, http_date, install, request};
use crate::host::fs::{self as hfs, FileAttrs, Meta};
use crate::host::http::{self, Follow, Response};
use crate::spec::{Arg, Args, Def, FILE_COMMON, Ty, value_to_string};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};
use agent_template::lookups::url::mask_url;
use minijinja::value::ValueKind;

pub struct Uri;

const SPEC: &[Arg] = &[
    Arg::str("url").required(),
    Arg::path("dest"),
    Arg::str("url_username").aliases(&["user"]),
    Arg::str("url_password").aliases(&["password"]).no_log(),
    Arg::raw("body"),
    Arg::str("body_format").default(Def::Str("raw")).choices(&[
        "form-urlencoded",
        "json",
        "raw",
        "form-multipart",
    ]),
    Arg::path("src"),
    Arg::str("method").default(Def::Str("GET")),
    Arg::bool("return_content", false),
    Arg::str("follow_redirects")
        .default(Def::Str("safe"))
        .choices(&["all", "no", "none", "safe", "urllib2", "yes"]),
    Arg::path("creates"),
    Arg::path("removes"),
    Arg::list("status_code"),
    Arg::int("timeout").default(Def::Int(30)),
    Arg::new("headers", Ty::Dict),
    Arg::path("unix_socket"),
    Arg::bool("remote_src", false),
    Arg::path("ca_path"),
    Arg::list("unredirected_headers"),
    Arg::bool("decompress", true),
    Arg::list("ciphers"),
    Arg::bool("use_netrc", true),
    // url_argument_spec
    Arg::bool("force", false),
    Arg::str("http_agent").default(Def::Str("ansible-httpget")),
    Arg::bool("use_proxy", true),
    Arg::bool("validate_certs", true),
    Arg::bool("force_basic_auth", false),
    Arg::path("client_cert"),
    Arg::path("client_key"),
    Arg::bool("use_gssapi", false),
];

/// What the request told.
#[derive(Debug)]
pub enum Observed {
    /// `creates`/`removes` said there is nothing to do; the result's `stdout`.
    Skipped(String),
    /// Check mode: uri does not support it.
    CheckMode,
    Done(Box<Done>),
}

#[derive(Debug)]
pub struct Done {
    /// `Err`: a transport failure (status -1) and its message.
    resp: Result<Response, String>,
    /// The body (or an error response's body).
    body: tempfile::NamedTempFile,
    elapsed: u64,
    /// Where the body goes (a directory's file name already chosen), and what is there.
    dest: Option<(PathBuf, Option<Meta>)>,
    /// `dest`'s path information as it is (what Ansible adds to a result with `path`).
    dest_info: ResultMap,
}

#[derive(Debug)]
pub enum Op {
    /// Write the body to `dest` (`replace`: its bytes differ from the file's), then set the
    /// requested attributes.
    Write { replace: bool },
}

/// `status_code`, Ansible's default `[200]`.
fn status_codes(args: &Args) -> Result<Vec<i64>, ModuleError> {
    let Some(v) = args.get("status_code").filter(|v| !v.is_none()) else {
        return Ok(vec![200]);
    };
    let mut out = Vec::new();
    for item in v.try_iter().map_err(|e| ModuleError::new(e.to_string()))? {
        let n = match item.kind() {
            ValueKind::Number => i64::try_from(item.clone()).ok(),
            _ => value_to_string(&item).trim().parse().ok(),
        };
        match n {
            Some(n) => out.push(n),
            None => {
                return Err(ModuleError::new(format!(
                    "Elements value for option 'status_code' is of type {} and we were unable \
                     to convert to int",
                    py_type(&item)
                )));
            }
        }
    }
    Ok(out)
}

fn py_type(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::String => "str",
        ValueKind::Bool => "bool",
        ValueKind::Map => "dict",
        ValueKind::Seq => "list",
        ValueKind::None | ValueKind::Undefined => "NoneType",
        _ => "float",
    }
}

/// Python's `urlencode(pairs, doseq=True)` of uri's `form_urlencoded`.
fn form_urlencoded(body: &Value) -> Result<String, ModuleError> {
    // quote_plus: letters, digits and `_.-~` as they are, a space as `+`
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'_')
        .remove(b'.')
        .remove(b'-')
        .remove(b'~');
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, SET)
            .to_string()
            .replace("%20", "+")
    };
    let mut pairs: Vec<(String, Value)> = Vec::new();
    match body.kind() {
        ValueKind::Map => {
            for k in body
                .try_iter()
                .map_err(|e| ModuleError::new(e.to_string()))?
            {
                let v = body.get_item(&k).unwrap_or_default();
                pairs.push((value_to_string(&k), v));
            }
        }
        ValueKind::Seq => {
            for item in body
                .try_iter()
                .map_err(|e| ModuleError::new(e.to_string()))?
            {
                let k = item.get_item(&Value::from(0)).unwrap_or_default();
                let v = item.get_item(&Value::from(1)).unwrap_or_default();
                pairs.push((value_to_string(&k), v));
            }
        }
        _ => return Ok(value_to_string(body)),
    }
    let mut out = Vec::new();
    for (k, v) in pairs {
        let values: Vec<Value> = match v.kind() {
            ValueKind::Seq | ValueKind::Map => {
                v.try_iter().map(|i| i.collect()).unwrap_or_default()
            }
            _ => vec![v],
        };
        for v in values {
            if v.is_none() || v.is_undefined() {
                continue;
            }
            out.push(format!("{}={}", enc(&k), enc(&value_to_string(&v))));
        }
    }
    Ok(out.join("&"))
}

/// The request's body and the Content-Type it implies (unless the headers name one).
fn request_body(args: &Args) -> Result<(Option<Vec<u8>>, Option<&'static str>), ModuleError> {
    let body = args
        .get("body")
        .filter(|b| !b.is_none() && !b.is_undefined());
    let format = args
        .str("body_format")
        .unwrap_or("raw")
        .to_ascii_lowercase();
    let Some(body) = body else {
        return Ok((
            None,
            match format.as_str() {
                "json" => Some("application/json"),
                "form-urlencoded" => Some("application/x-www-form-urlencoded"),
                _ => None,
            },
        ));
    };
    let text = |v: &Value| value_to_string(v);
    Ok(match format.as_str() {
        "json" => {
            let s = if body.kind() == ValueKind::String {
                text(body)
            } else {
                agent_template::filters::pyfmt::json_dumps(body, &Default::default())
                    .map_err(ModuleError::new)?
            };
            (Some(s.into_bytes()), Some("application/json"))
        }
        "form-urlencoded" => (
            Some(form_urlencoded(body)?.into_bytes()),
            Some("application/x-www-form-urlencoded"),
        ),
        "form-multipart" => {
            return Err(ModuleError::new(
                "failed to parse body as form-multipart: body_format form-multipart is not \
                 supported by the agent (send the body raw with its Content-Type)",
            ));
        }
        _ => (Some(text(body).into_bytes()), None),
    })
}

/// The file name `dest` (a directory) receives: the response's Content-Disposition, else
/// the final URL's last path segment, else `index.html`.
fn response_filename(resp: &Response) -> String {
    if let Some(f) = resp
        .header("content-disposition")
        .and_then(disposition_filename)
    {
        return f;
    }
    let path = reqwest::Url::parse(&resp.url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let base = path.rsplit('/').next().unwrap_or_default();
    let base = percent_encoding::percent_decode_str(base)
        .decode_utf8_lossy()
        .into_owned();
    if base.is_empty() {
        "index.html".into()
    } else {
        base
    }
}

/// `type/subtype; charset=...`: whether the body may be JSON, and its charset.
fn content_type(resp: &Response) -> (bool, String) {
    let Some(ct) = resp.header("content-type") else {
        return (false, "utf-8".into());
    };
    let mut parts = ct.split(';');
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "utf-8".into());
    let sub = mime.split_once('/').map(|(_, s)| s).unwrap_or_default();
    let sub = sub.split_once('+').map_or(sub, |(_, suffix)| suffix);
    (matches!(sub, "json" | "javascript"), charset)
}

/// The response's cookies: `name -> value` and `name=value; ...`.
fn cookies(resp: &Response) -> (Vec<(String, String)>, String) {
    let list: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| {
            let first = v.split(';').next()?;
            let (n, val) = first.split_once('=')?;
            Some((n.trim().to_string(), val.trim().to_string()))
        })
        .collect();
    let s = list
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    (list, s)
}

fn read_body(f: &tempfile::NamedTempFile) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(mut file) = f.reopen() {
        let _ = file.read_to_end(&mut buf);
    }
    buf
}

impl Module for Uri {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        if args.is_set("body") && args.is_set("src") {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: body|src",
            ));
        }
        let method = args.str("method").unwrap_or("GET").to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ModuleError::new(
                "Parameter 'method' needs to be a single word in uppercase, like GET or POST.",
            ));
        }
        let (mut body, implied_type) = request_body(args)?;
        status_codes(args)?;
        if let Some(c) = args.str("creates")
            && Path::new(c).exists()
        {
            return Ok(Observed::Skipped(format!("skipped, since '{c}' exists")));
        }
        if let Some(r) = args.str("removes")
            && !Path::new(r).exists()
        {
            return Ok(Observed::Skipped(format!(
                "skipped, since '{r}' does not exist"
            )));
        }
        if ctx.check_mode {
            return Ok(Observed::CheckMode);
        }
        if args.is_set("unix_socket") {
            return Err(ModuleError::new(
                "unix_socket is not supported by the agent's uri module",
            ));
        }
        let url = args.str("url").unwrap_or_default();
        let mut req = request(args, url, false);
        req.netrc = http::task_netrc(ctx.environment);
        req.method = Some(method);
        req.follow = Follow::parse(args.str("follow_redirects").unwrap_or("safe"));
        req.error_body = true;
        req.no_cache = args.bool("force");
        if let Some(src) = args.str("src") {
            body = Some(std::fs::read(src).map_err(|_| {
                ModuleError::new(format!("Unable to open source file {src}")).with("elapsed", 0)
            })?);
        }
        if let Some(t) = implied_type
            && !req
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req.headers.push(("Content-Type".into(), t.into()));
        }
        req.body = body;
        let dest = args.str("dest").map(PathBuf::from);
        if let Some(d) = &dest
            && !req.no_cache
            && let Ok(md) = std::fs::metadata(d)
            && md.is_file()
            && let Ok(t) = md.modified()
        {
            req.if_modified_since = Some(http_date(t));
        }
        let tmp_dir = dest
            .as_ref()
            .map(|d| {
                if d.is_dir() {
                    d.clone()
                } else {
                    d.parent().map(Path::to_path_buf).unwrap_or_default()
                }
            })
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let mut tmp = tempfile::Builder::new()
            .prefix(".ansible_uri")
            .tempfile_in(&tmp_dir)
            .or_else(|_| tempfile::NamedTempFile::new())
            .map_err(|e| {
                ModuleError::new(format!("Failed to create temporary content file: {e}"))
            })?;
        let started = Instant::now();
        let resp = http::fetch(&req, tmp.as_file_mut());
        let _ = tmp.as_file_mut().flush();
        let _ = tmp.as_file_mut().rewind();
        let elapsed = started.elapsed().as_secs();
        let dest = match (&dest, &resp) {
            (Some(d), Ok(r)) => {
                let path = if d.is_dir() {
                    d.join(response_filename(r))
                } else {
                    d.clone()
                };
                let meta = std::fs::metadata(&path).ok().map(|m| Meta::from(&m));
                Some((path, meta))
            }
            _ => None,
        };
        let dest_info = dest
            .as_ref()
            .map(|(p, _)| hfs::path_info(p))
            .unwrap_or_default();
        Ok(Observed::Done(Box::new(Done {
            resp,
            body: tmp,
            elapsed,
            dest,
            dest_info,
        })))
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let mut plan = Plan::default();
        let done = match o {
            Observed::Skipped(stdout) => {
                plan.set("changed", false);
                plan.set("stdout", stdout.as_str());
                return Ok(plan);
            }
            Observed::CheckMode => {
                plan.set("changed", false);
                plan.set("skipped", true);
                plan.set("msg", "remote module (uri) does not support check mode");
                return Ok(plan);
            }
            Observed::Done(d) => d,
        };
        let url = args.str("url").unwrap_or_default();
        let masked = mask_url(url);
        let codes = status_codes(args)?;
        let return_content = args.bool("return_content");
        let mut r = ResultMap::new();
        let (status, maybe_json, charset) = match &done.resp {
            Err(msg) => {
                r.insert("url".into(), Value::from(masked.clone()));
                r.insert("msg".into(), Value::from(msg.as_str()));
                (-1i64, false, "utf-8".to_string())
            }
            Ok(resp) => {
                let success = (200..300).contains(&resp.status);
                // the response's headers, lower-cased, repeated ones joined with ", "
                let mut headers: Vec<(String, String)> = Vec::new();
                for (k, v) in &resp.headers {
                    match headers.iter_mut().find(|(hk, _)| hk == k) {
                        Some((_, hv)) => {
                            hv.push_str(", ");
                            hv.push_str(v);
                        }
                        None => headers.push((k.clone(), v.clone())),
                    }
                }
                for (k, v) in headers {
                    r.insert(k.replace('-', "_"), Value::from(v));
                }
                if success {
                    let (list, s) = cookies(resp);
                    r.insert("cookies_string".into(), Value::from(s));
                    r.insert(
                        "cookies".into(),
                        Value::from_pairs(list.into_iter().map(|(k, v)| (k, Value::from(v)))),
                    );
                    r.insert("url".into(), Value::from(mask_url(&resp.url)));
                } else {
                    r.insert("url".into(), Value::from(masked.clone()));
                }
                r.insert("msg".into(), Value::from(resp.msg.as_str()));
                let (json, charset) = content_type(resp);
                (i64::from(resp.status), json, charset)
            }
        };
        let final_url = r.get("url").map(value_to_string).unwrap_or_default();
        r.insert("redirected".into(), Value::from(final_url != masked));
        r.insert("status".into(), Value::from(status));
        r.insert("elapsed".into(), Value::from(done.elapsed));
        if let Some(loc) = r.get("location").map(value_to_string)
            && let Ok(base) = reqwest::Url::parse(&masked)
            && let Ok(joined) = base.join(&loc)
        {
            r.insert("location".into(), Value::from(joined.to_string()));
        }
        let accepted = codes.contains(&status);
        let maybe_output = maybe_json || return_content || !accepted;
        let content = maybe_output.then(|| {
            let bytes = read_body(&done.body);
            decode(&bytes, &charset)
        });
        if !maybe_output
            && let Ok(resp) = &done.resp
            && !(200..300).contains(&resp.status)
        {
            // An HTTP error's body stays in the result (fetch_url's `info['body']`).
            r.insert(
                "body".into(),
                Value::from(decode(&read_body(&done.body), &charset)),
            );
        }
        if let Some(text) = &content
            && maybe_json
            && let Ok(v) = agent_template::filters::pyfmt::json_loads(text)
        {
            r.insert("json".into(), v);
        }
        if let Some((path, _)) = &done.dest {
            r.insert("path".into(), Value::from(path.display().to_string()));
            // (apply reads them again after a write)
            r.extend(done.dest_info.clone());
            if accepted && status != 304 {
                let replace = match std::fs::File::open(path) {
                    Ok(mut f) => {
                        let mut have = Vec::new();
                        f.read_to_end(&mut have).is_err() || have != read_body(&done.body)
                    }
                    Err(_) => true,
                };
                plan.ops.push(Op::Write { replace });
            }
        }
        if !accepted {
            let mut e = ModuleError::new(format!(
                "Status code was {status} and not {}: {}",
                py_list(&codes),
                r.get("msg").map(value_to_string).unwrap_or_default()
            ));
            r.shift_remove("msg");
            if return_content {
                e = e.with("content", content.clone().unwrap_or_default());
            }
            e = e.with("changed", false);
            for (k, v) in r {
                e = e.with(&k, v);
            }
            return Err(e);
        }
        if return_content {
            r.insert("content".into(), Value::from(content.unwrap_or_default()));
        }
        for (k, v) in r {
            plan.result.insert(k, v);
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let Observed::Done(done) = o else {
            return Ok(ResultMap::new());
        };
        let Some((dest, meta)) = &done.dest else {
            return Ok(ResultMap::new());
        };
        let attrs = FileAttrs::from_args(args)?;
        for op in &plan.ops {
            let Op::Write { replace } = op;
            if *replace {
                install(done.body.path(), dest, meta.as_ref(), &attrs)?;
            } else if let Ok(md) = std::fs::symlink_metadata(dest) {
                let changes = hfs::plan_attrs(dest, &Meta::from(&md), &attrs)?;
                hfs::apply_attrs(dest, &changes)?;
            }
        }
        Ok(hfs::path_info(dest))
    }
}

/// Python's `str()` of a list of ints.
fn py_list(codes: &[i64]) -> String {
    format!(
        "[{}]",
        codes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The body as text in its charset (UTF-8, or Latin-1 as Python decodes it).
fn decode(bytes: &[u8], charset: &str) -> String {
    match charset.to_ascii_lowercase().as_str() {
        "iso-8859-1" | "latin-1" | "latin1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_as_python_urlencode() {
        let body = agent_template::filters::pyfmt::from_json_value(serde_json::json!({
            "a": "x y", "b": ["1", "2"], "c": null, "d": true
        }));
        assert_eq!(form_urlencoded(&body).unwrap(), "a=x+y&b=1&b=2&d=True");
        let pairs =
            agent_template::filters::pyfmt::from_json_value(serde_json::json!([["k", "v&w"]]));
        assert_eq!(form_urlencoded(&pairs).unwrap(), "k=v%26w");
        assert_eq!(form_urlencoded(&Value::from("raw=1")).unwrap(), "raw=1");
    }

    #[test]
    fn json_types() {
        let resp = |ct: &str| Response {
            headers: vec![("content-type".into(), ct.into())],
            ..Default::default()
        };
        assert!(content_type(&resp("application/json")).0);
        assert!(content_type(&resp("application/problem+json; charset=utf-8")).0);
        assert!(content_type(&resp("text/javascript")).0);
        assert_eq!(
            content_type(&resp("text/html; charset=ISO-8859-1")),
            (false, "ISO-8859-1".into())
        );
    }

    #[test]
    fn file_names_for_a_directory() {
        let resp = |url: &str, cd: Option<&str>| Response {
            url: url.into(),
            headers: cd
                .map(|c| vec![("content-disposition".into(), c.into())])
                .unwrap_or_default(),
            ..Default::default()
        };
        assert_eq!(
            response_filename(&resp("http://h/a/b%20c.txt", None)),
            "b c.txt"
        );
        assert_eq!(response_filename(&resp("http://h/", None)), "index.html");
        assert_eq!(
            response_filename(&resp("http://h/x", Some("attachment; filename=\"y.bin\""))),
            "y.bin"
        );
    }

    #[test]
    fn status_lists_read_as_python() {
        assert_eq!(py_list(&[200, 201]), "[200, 201]");
    }
}
