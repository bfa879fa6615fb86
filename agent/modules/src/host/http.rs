//! HTTP(S) requests (reqwest, blocking, rustls) and file:// reads, streamed into a file.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// One request.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub url: &'a str,
    /// `HEAD` or `GET`.
    pub head: bool,
    pub headers: Vec<(String, String)>,
    pub timeout_secs: u64,
    pub validate_certs: bool,
    pub basic_auth: Option<(String, String)>,
    /// `If-Modified-Since` (an HTTP date), unless forced.
    pub if_modified_since: Option<String>,
    pub user_agent: String,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// Python's `info['msg']`: `OK (N bytes)` on success, else the reason.
    pub msg: String,
    /// The final URL (after redirects).
    pub url: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub bytes: u64,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Perform `req`, writing the body to `out` (nothing for HEAD). `Err` is a transport
/// failure (Ansible's status -1) with its message.
pub fn fetch(req: &Request<'_>, out: &mut dyn Write) -> Result<Response, String> {
    if let Some(path) = req.url.strip_prefix("file://") {
        return fetch_file(req, Path::new(path), out);
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(req.timeout_secs.max(1)))
        .danger_accept_invalid_certs(!req.validate_certs)
        .user_agent(req.user_agent.clone())
        .build()
        .map_err(|e| format!("Request failed: {e}"))?;
    let mut rb = if req.head {
        client.head(req.url)
    } else {
        client.get(req.url)
    };
    for (k, v) in &req.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if let Some(ims) = &req.if_modified_since {
        rb = rb.header("If-Modified-Since", ims.as_str());
    }
    if let Some((u, p)) = &req.basic_auth {
        rb = rb.basic_auth(u, Some(p));
    }
    let mut resp = rb.send().map_err(|e| describe(&e))?;
    let status = resp.status();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let url = resp.url().to_string();
    let reason = status.canonical_reason().unwrap_or("").to_string();
    let mut r = Response {
        status: status.as_u16(),
        msg: String::new(),
        url,
        headers,
        bytes: 0,
    };
    if status.as_u16() != 200 {
        r.msg = format!("HTTP Error {}: {reason}", status.as_u16());
        return Ok(r);
    }
    if !req.head {
        r.bytes = resp.copy_to(out).map_err(|e| describe(&e))?;
    }
    r.msg = match r.header("content-length") {
        Some(n) => format!("OK ({n} bytes)"),
        None => "OK (unknown bytes)".into(),
    };
    Ok(r)
}

fn describe(e: &reqwest::Error) -> String {
    let mut msg = format!("Request failed: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

fn fetch_file(req: &Request<'_>, path: &Path, out: &mut dyn Write) -> Result<Response, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("Request failed: {e}"))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // As Python's urllib: a file URL is read whatever the method (HEAD too).
    let bytes = std::io::copy(&mut f, out).map_err(|e| format!("Request failed: {e}"))?;
    Ok(Response {
        status: 200,
        msg: format!("OK ({len} bytes)"),
        url: req.url.to_string(),
        headers: vec![("content-length".into(), len.to_string())],
        bytes,
    })
}
