//! HTTP(S) requests (reqwest, blocking, rustls with the system's CA certificates, as Python's
//! `ssl` uses them) and file:// reads, streamed into a file. Redirects, authentication and
//! gzip are handled here, the way ansible-core's `module_utils.urls.Request.open` does them
//! with urllib: up to 10 redirects, headers kept across them except `unredirected`, Basic
//! credentials sent when challenged unless forced, ~/.netrc (or `$NETRC`) for hosts without
//! credentials, a gzip body decoded when `decompress`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_template::lookups::url::{netrc_in, transport_cause};

/// One request.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub url: &'a str,
    /// `HEAD` or `GET`.
    pub head: bool,
    pub headers: Vec<(String, String)>,
    pub timeout_secs: u64,
    pub validate_certs: bool,
    /// `url_username`/`url_password`.
    pub basic_auth: Option<(String, String)>,
    /// Send the credentials at once instead of on a 401 challenge.
    pub force_basic_auth: bool,
    /// Read ~/.netrc (or `$NETRC`) when no credentials are given.
    pub use_netrc: bool,
    /// The `NETRC` of the task's `environment`, if it sets one.
    pub netrc: Option<PathBuf>,
    /// Header names (any case) sent to the first URL only, not after a redirect.
    pub unredirected: Vec<String>,
    /// Decode a `Content-Encoding: gzip` body.
    pub decompress: bool,
    /// `Cache-Control: no-cache` (Ansible's `force`).
    pub no_cache: bool,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// `If-Modified-Since` (an HTTP date), unless forced.
    pub if_modified_since: Option<String>,
    pub user_agent: String,
    /// Another method than GET/HEAD (uri's `method`, upper case).
    pub method: Option<String>,
    /// The request's body (uri's `body`/`src`).
    pub body: Option<Vec<u8>>,
    /// Which redirects are followed (uri's `follow_redirects`).
    pub follow: Follow,
    /// Write an error response's body (status not 2xx) to `out` too, as `info['body']`.
    pub error_body: bool,
}

/// `follow_redirects`, as ansible-core's redirect handler reads it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Follow {
    /// `urllib2`: urllib's own rules (GET and HEAD follow any redirect, POST a 301-303 as
    /// a GET, other methods none). get_url and unarchive use these.
    #[default]
    Urllib2,
    /// `all`/`yes`: every redirect.
    All,
    /// `safe`: redirects of GET and HEAD only.
    Safe,
    /// `none`/`no`: none (the 3xx is the answer).
    None,
}

impl Follow {
    pub fn parse(s: &str) -> Follow {
        match s {
            "all" | "yes" => Follow::All,
            "safe" => Follow::Safe,
            "none" | "no" => Follow::None,
            _ => Follow::Urllib2,
        }
    }
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
    /// Bytes written to `out` (after decoding).
    pub bytes: u64,
    /// The body was gzip-decoded, so `Content-Length` does not count what was written.
    pub decoded: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The `NETRC` a task's `environment` sets (the module's process environment in Ansible).
pub fn task_netrc(environment: &[(String, String)]) -> Option<PathBuf> {
    environment
        .iter()
        .rev()
        .find(|(k, _)| k == "NETRC")
        .map(|(_, v)| PathBuf::from(v))
}

/// How many redirects urllib follows before it gives up.
const MAX_REDIRECTS: usize = 10;

/// Perform `req`, writing the body to `out` (nothing for HEAD). `Err` is a transport
/// failure (Ansible's status -1) with its message.
pub fn fetch(req: &Request<'_>, out: &mut dyn Write) -> Result<Response, String> {
    if let Some(path) = req.url.strip_prefix("file://") {
        return fetch_file(req, Path::new(path), out);
    }
    let mut url = reqwest::Url::parse(req.url).map_err(|e| format!("Request failed: {e}"))?;
    // Credentials: the arguments, else the URL's user info (taken out of the URL), else
    // ~/.netrc, which Ansible always sends at once.
    let mut creds = req.basic_auth.clone();
    if creds.is_none() && !url.username().is_empty() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        creds = Some((
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        ));
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let mut forced = req.force_basic_auth;
    if creds.is_none()
        && req.use_netrc
        && let Some(c) = url
            .host_str()
            .and_then(|h| netrc_in(h, req.netrc.as_deref()))
    {
        creds = Some(c);
        forced = true;
    }
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(req.timeout_secs.max(1)))
        .danger_accept_invalid_certs(!req.validate_certs)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(req.user_agent.clone());
    if let Some(cert) = &req.client_cert {
        let mut pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
        if let Some(key) = &req.client_key {
            pem.push(b'\n');
            pem.extend(std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?);
        }
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("Request failed: the client certificate: {e}"))?;
        builder = builder.identity(id);
    }
    let client = builder
        .build()
        .map_err(|e| format!("Request failed: {e}"))?;
    let unredirected: Vec<String> = req
        .unredirected
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut hops = 0usize;
    let mut first = true;
    let mut auth_now = forced;
    let mut method = match (&req.method, req.head) {
        (Some(m), _) => m.clone(),
        (None, true) => "HEAD".to_string(),
        (None, false) => "GET".to_string(),
    };
    let mut body = req.body.clone();
    // Dropped with the body when a redirect turns the request into a GET.
    let mut drop_content_headers = false;
    let mut resp = loop {
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| format!("Request failed: {method}: {e}"))?;
        let mut rb = client.request(m, url.clone());
        if let Some(b) = &body {
            rb = rb.body(b.clone());
        }
        // Ansible puts the credentials' header among the user's (overriding theirs).
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(k, _)| {
                !(auth_now && creds.is_some() && k.eq_ignore_ascii_case("authorization"))
            })
            .cloned()
            .collect();
        if auth_now && let Some((u, p)) = &creds {
            headers.push(("Authorization".into(), basic_header(u, p)));
        }
        if req.no_cache {
            rb = rb.header("Cache-Control", "no-cache");
        } else if let Some(ims) = &req.if_modified_since {
            rb = rb.header("If-Modified-Since", ims.as_str());
        }
        for (k, v) in &headers {
            let lower = k.to_ascii_lowercase();
            if !first && unredirected.contains(&lower) {
                continue;
            }
            if drop_content_headers
                && matches!(
                    lower.as_str(),
                    "content-length" | "content-type" | "transfer-encoding"
                )
            {
                continue;
            }
            rb = rb.header(k.as_str(), v.as_str());
        }
        let resp = rb.send().map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        // urllib's basic-auth handler answers a Basic challenge once.
        if status == 401
            && !auth_now
            && creds.is_some()
            && resp.headers().get_all("www-authenticate").iter().any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.to_ascii_lowercase().starts_with("basic"))
            })
        {
            auth_now = true;
            continue;
        }
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308) && location.is_some();
        let get_or_head = matches!(method.as_str(), "GET" | "HEAD");
        let follows = match req.follow {
            Follow::None => false,
            Follow::All => true,
            Follow::Safe => get_or_head,
            // urllib: GET/HEAD any redirect, POST a 301-303
            Follow::Urllib2 => get_or_head || (method == "POST" && status <= 303),
        };
        if redirect && !follows {
            return read_error(status, resp, req, out);
        }
        match (status, location) {
            (301 | 302 | 303 | 307 | 308, Some(loc)) if hops < MAX_REDIRECTS => {
                let next = url
                    .join(&loc.replace(' ', "%20"))
                    .map_err(|e| format!("Request failed: redirect to {loc}: {e}"))?;
                if !matches!(next.scheme(), "http" | "https" | "ftp") {
                    return Ok(error_response(
                        status,
                        format!("HTTP Error {status}: redirection to url '{next}' is not allowed"),
                        &resp,
                    ));
                }
                url = next;
                hops += 1;
                first = false;
                if !matches!(status, 307 | 308) {
                    // The body goes, and with 301 (POST), 302 and 303 the method becomes GET.
                    body = None;
                    drop_content_headers = true;
                    if method != "HEAD" && (status != 301 || method == "POST") {
                        method = "GET".into();
                    }
                }
            }
            (301 | 302 | 303 | 307 | 308, Some(_)) => {
                return Ok(error_response(
                    status,
                    format!(
                        "HTTP Error {status}: The HTTP server returned a redirect error that \
                         would lead to an infinite loop.\nThe last 30x error message was:\n{}",
                        reason_of(&resp)
                    ),
                    &resp,
                ));
            }
            _ => break resp,
        }
    };
    let status = resp.status().as_u16();
    let headers = header_list(&resp);
    let mut r = Response {
        status,
        msg: String::new(),
        url: resp.url().to_string(),
        headers,
        bytes: 0,
        decoded: false,
    };
    if !(200..300).contains(&status) {
        return read_error(status, resp, req, out);
    }
    r.msg = match r.header("content-length") {
        Some(n) => format!("OK ({n} bytes)"),
        None => "OK (unknown bytes)".into(),
    };
    if method != "HEAD" {
        let gzip = r
            .header("content-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let copied = if req.decompress && gzip {
            r.decoded = true;
            let mut dec = flate2::read::MultiGzDecoder::new(&mut resp);
            copy(&mut dec, out)
        } else {
            copy(&mut resp, out)
        };
        r.bytes = copied.map_err(|e| format!("Request failed: {e}"))?;
    }
    Ok(r)
}

/// Copy a body, stopping (without an error) where the server closed the connection short
/// of its `Content-Length`: the caller compares the count, as get_url does.
fn copy(from: &mut dyn Read, out: &mut dyn Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if n > 0 && is_truncation(&e) => return Ok(n),
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..got])?;
        n += got as u64;
    }
}

/// A body cut short: hyper reports it as an error, Python's urllib as a short read.
fn is_truncation(e: &std::io::Error) -> bool {
    let mut text = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(&s.to_string());
        src = s.source();
    }
    text.contains("IncompleteMessage")
        || text.contains("end of file before message length reached")
        || text.contains("unexpected EOF")
        || text.contains("connection closed before message completed")
}

fn header_list(resp: &reqwest::blocking::Response) -> Vec<(String, String)> {
    resp.headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The server's reason phrase (`File not found`), as urllib reports it; hyper keeps one
/// only when it is not the standard one.
fn reason_of(resp: &reqwest::blocking::Response) -> String {
    match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => String::from_utf8_lossy(r.as_bytes()).into_owned(),
        None => reason(resp.status().as_u16()).to_string(),
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

fn error_response(status: u16, msg: String, resp: &reqwest::blocking::Response) -> Response {
    Response {
        status,
        msg,
        url: resp.url().to_string(),
        headers: header_list(resp),
        bytes: 0,
        decoded: false,
    }
}

/// An HTTP error (urllib's HTTPError): its status, `HTTP Error N: Reason`, its headers and,
/// when asked, its body.
fn read_error(
    status: u16,
    mut resp: reqwest::blocking::Response,
    req: &Request<'_>,
    out: &mut dyn Write,
) -> Result<Response, String> {
    let msg = format!("HTTP Error {status}: {}", reason_of(&resp));
    let mut r = error_response(status, msg, &resp);
    if req.error_body {
        r.bytes = copy(&mut resp, out).unwrap_or(0);
    }
    Ok(r)
}

fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A transport failure as Ansible's `fetch_url` words it: `Request failed: <urlopen error
/// CAUSE>`, the cause as Python's `ssl` or socket error would read.
fn describe(e: &reqwest::Error) -> String {
    format!("Request failed: <urlopen error {}>", transport_cause(e))
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
        decoded: false,
    })
}
