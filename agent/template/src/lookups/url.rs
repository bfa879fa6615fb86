//! The `url` lookup: the body of each URL, as a list of lines (`split_lines`, default) or
//! as one text. Options as Ansible's: keyword, else the `ansible_lookup_url_*` variable,
//! else the `ANSIBLE_LOOKUP_URL_*` environment variable, else the default.

use std::time::Duration;

use minijinja::Value;
use minijinja::value::ValueKind;

use super::LookupCtx;
use crate::filters::{err, py_str};

/// An option: keyword, variable, environment, in that order.
fn option(ctx: &LookupCtx<'_>, name: &str, var: Option<&str>, env: Option<&str>) -> Option<Value> {
    if let Some(v) = ctx.opt(name) {
        return Some(v.clone());
    }
    if let Some(v) = var.and_then(|n| ctx.vars.get_var(n)) {
        return Some(v);
    }
    env.and_then(|n| std::env::var(n).ok()).map(Value::from)
}

fn truthy(v: &Value) -> bool {
    match v.as_str() {
        Some(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "on" | "true" | "1" | "y" | "t"
        ),
        None => v.is_true(),
    }
}

/// The options of one lookup call, resolved.
struct Options {
    validate_certs: bool,
    split_lines: bool,
    use_proxy: bool,
    username: Option<String>,
    password: Option<String>,
    headers: Vec<(String, String)>,
    force: bool,
    timeout: f64,
    http_agent: String,
    force_basic_auth: bool,
    follow_redirects: bool,
    use_netrc: bool,
    ca_path: Option<String>,
}

impl Options {
    fn read(ctx: &LookupCtx<'_>) -> Result<Options, minijinja::Error> {
        let flag = |name: &str, default: bool| -> bool {
            let (var, env) = (
                format!("ansible_lookup_url_{name}"),
                format!("ANSIBLE_LOOKUP_URL_{}", name.to_ascii_uppercase()),
            );
            let scoped = matches!(
                name,
                "force" | "force_basic_auth" | "use_gssapi" | "use_netrc"
            );
            option(ctx, name, scoped.then_some(&var), scoped.then_some(&env))
                .map_or(default, |v| truthy(&v))
        };
        let text = |name: &str, var: Option<&str>, env: Option<&str>| -> Option<String> {
            option(ctx, name, var, env)
                .filter(|v| !v.is_none())
                .map(|v| py_str(&v))
        };
        if flag("use_gssapi", false) {
            return Err(err("use_gssapi is not supported by agent's url lookup"));
        }
        if text(
            "unix_socket",
            Some("ansible_lookup_url_unix_socket"),
            Some("ANSIBLE_LOOKUP_URL_UNIX_SOCKET"),
        )
        .is_some()
        {
            return Err(err("unix_socket is not supported by agent's url lookup"));
        }
        let timeout = match option(
            ctx,
            "timeout",
            Some("ansible_lookup_url_timeout"),
            Some("ANSIBLE_LOOKUP_URL_TIMEOUT"),
        ) {
            None => 10.0,
            Some(v) => match v.as_str() {
                Some(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| err(format!("Invalid type for configuration option 'timeout': could not convert string to float: '{s}'")))?,
                None => f64::try_from(v.clone()).map_err(|_| err("Invalid type for configuration option 'timeout'"))?,
            },
        };
        let mut headers = Vec::new();
        if let Some(h) = ctx.opt("headers").filter(|h| !h.is_none()) {
            if h.kind() != ValueKind::Map {
                return Err(err(format!(
                    "Invalid type for configuration option 'headers': {} is not a dictionary",
                    py_str(h)
                )));
            }
            for k in h.try_iter()? {
                let v = h.get_item(&k).unwrap_or_default();
                headers.push((py_str(&k), py_str(&v)));
            }
        }
        let follow = text(
            "follow_redirects",
            Some("ansible_lookup_url_follow_redirects"),
            Some("ANSIBLE_LOOKUP_URL_FOLLOW_REDIRECTS"),
        )
        .unwrap_or_else(|| "urllib2".into());
        Ok(Options {
            validate_certs: flag("validate_certs", true),
            split_lines: flag("split_lines", true),
            use_proxy: flag("use_proxy", true),
            username: text("username", None, None),
            password: text("password", None, None),
            headers,
            force: flag("force", false),
            timeout,
            http_agent: text(
                "http_agent",
                Some("ansible_lookup_url_agent"),
                Some("ANSIBLE_LOOKUP_URL_AGENT"),
            )
            .unwrap_or_else(|| "ansible-httpget".into()),
            force_basic_auth: flag("force_basic_auth", false),
            // urllib2 / all / safe / yes follow (a lookup only GETs); no / none do not
            follow_redirects: !matches!(follow.as_str(), "no" | "none" | "False" | "false"),
            use_netrc: flag("use_netrc", true),
            ca_path: text(
                "ca_path",
                Some("ansible_lookup_url_ca_path"),
                Some("ANSIBLE_LOOKUP_URL_CA_PATH"),
            ),
        })
    }
}

/// The URL with its credentials hidden (Ansible's `mask_url`): `****:****@` for a user and
/// password, `****@` for a user alone.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((cred, host)) => {
            let mask = match cred.split_once(':') {
                Some((_, pw)) if !pw.is_empty() => "****:****",
                _ => "****",
            };
            format!("{scheme}://{mask}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Why a request failed in transport, worded as Python's `urllib` words it inside
/// `<urlopen error ...>`: a certificate that fails verification as OpenSSL's
/// `[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ...`, a name that does not
/// resolve or a refused connection as `[Errno N] ...`, a timeout as `timed out`.
pub fn transport_cause(e: &reqwest::Error) -> String {
    use rustls::CertificateError as C;
    let host = e
        .url()
        .and_then(|u| u.host_str())
        .unwrap_or_default()
        .to_string();
    let mut cause = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        // hyper-util wraps the TLS error in an io::Error inside another io::Error, whose
        // `source()` skips it: look inside each with `get_ref`.
        let mut inner: Option<&(dyn std::error::Error + 'static)> = Some(s);
        let mut tls = None;
        while let Some(i) = inner {
            if let Some(t) = i.downcast_ref::<rustls::Error>() {
                tls = Some(t);
                break;
            }
            inner = i
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|e| e as &(dyn std::error::Error + 'static));
        }
        if let Some(rustls::Error::InvalidCertificate(c)) = tls {
            let why = match c {
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    format!("Hostname mismatch, certificate is not valid for '{host}'.")
                }
                C::UnknownIssuer => "unable to get local issuer certificate".to_string(),
                C::Expired | C::ExpiredContext { .. } => "certificate has expired".to_string(),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "certificate is not yet valid".to_string()
                }
                C::Revoked => "certificate revoked".to_string(),
                C::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                    "self-signed certificate".to_string()
                }
                other => format!("{other:?}"),
            };
            return format!("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {why}");
        }
        cause = s.to_string();
        src = s.source();
    }
    if e.is_timeout() {
        return "timed out".into();
    }
    if let Some(rest) = cause.strip_prefix("failed to lookup address information: ") {
        let errno = if rest.starts_with("Temporary failure") {
            -3
        } else {
            -2
        };
        return format!("[Errno {errno}] {rest}");
    }
    if let Some((text, code)) = cause
        .strip_suffix(')')
        .and_then(|c| c.rsplit_once(" (os error "))
    {
        // as Python shows an OSError
        return format!("[Errno {code}] {text}");
    }
    cause
}

/// Credentials for `host` from ~/.netrc, or the file `$NETRC` names (`machine HOST` or
/// `default`), when both login and password are non-empty: the ones ansible-core's
/// `_configure_auth` sends at once, over the user's Authorization header.
pub fn netrc_for(host: &str) -> Option<(String, String)> {
    netrc_in(host, None)
}

/// [`netrc_for`] with the `NETRC` a task's `environment` sets, which wins over the
/// process's.
pub fn netrc_in(host: &str, netrc: Option<&std::path::Path>) -> Option<(String, String)> {
    let path = netrc
        .map(std::path::Path::to_path_buf)
        .or_else(|| std::env::var_os("NETRC").map(std::path::PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".netrc")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    let (mut current, mut found): (Option<bool>, Option<(String, String)>) = (None, None);
    let (mut login, mut password) = (String::new(), String::new());
    let mut finish = |matched: Option<bool>, login: &mut String, password: &mut String| {
        if matched == Some(true) && found.is_none() {
            found = Some((std::mem::take(login), std::mem::take(password)));
        }
        login.clear();
        password.clear();
    };
    while let Some(w) = words.next() {
        match w {
            "machine" => {
                finish(current, &mut login, &mut password);
                current = Some(words.next() == Some(host));
            }
            "default" => {
                finish(current, &mut login, &mut password);
                current = Some(true);
            }
            "login" => login = words.next().unwrap_or_default().to_string(),
            "password" => password = words.next().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    finish(current, &mut login, &mut password);
    found.filter(|(l, p)| !l.is_empty() && !p.is_empty())
}

/// Python's `bytes.splitlines()`: split at `\n`, `\r\n` and `\r`, no empty last line.
fn split_lines(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                out.push(Value::from(&rest[..i]));
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                out.push(Value::from(rest));
                break;
            }
        }
    }
    out
}

/// `lookup('url', *urls, **options)`.
pub fn url(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, minijinja::Error> {
    let opts = Options::read(ctx)?;
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs_f64(opts.timeout.max(0.001)))
        .danger_accept_invalid_certs(!opts.validate_certs)
        .user_agent(opts.http_agent.clone())
        .redirect(if opts.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        });
    if !opts.use_proxy {
        builder = builder.no_proxy();
    }
    if let Some(ca) = &opts.ca_path {
        let pem =
            std::fs::read(ca).map_err(|e| err(format!("Failed to read ca_path {ca}: {e}")))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| err(format!("Failed to load ca_path {ca}: {e}")))?;
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    let client = builder
        .build()
        .map_err(|e| err(format!("url lookup: {e}")))?;
    let mut ret = Vec::new();
    for term in terms {
        let url = py_str(&term);
        let shown = mask_url(&url);
        let parsed =
            reqwest::Url::parse(&url).map_err(|_| err(format!("unknown url type: '{url}'")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(err(format!("unknown url type: '{}'", parsed.scheme())));
        }
        // credentials: options, else the URL's user info, else ~/.netrc
        let mut creds = match (&opts.username, &opts.password) {
            (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
            (None, _) if !parsed.username().is_empty() => Some((
                parsed.username().to_string(),
                parsed.password().unwrap_or_default().to_string(),
            )),
            _ => None,
        };
        // ~/.netrc's credentials are always sent at once, over the user's Authorization
        // header (ansible-core's `_configure_auth`).
        let mut forced = opts.force_basic_auth;
        if creds.is_none()
            && opts.use_netrc
            && let Some(c) = parsed.host_str().and_then(netrc_for)
        {
            creds = Some(c);
            forced = true;
        }
        let mut clean = parsed.clone();
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
        let send = |auth: bool| {
            let mut rb = client.get(clean.clone());
            for (k, v) in &opts.headers {
                if auth && creds.is_some() && k.eq_ignore_ascii_case("authorization") {
                    continue;
                }
                rb = rb.header(k.as_str(), v.as_str());
            }
            if opts.force {
                rb = rb.header("Cache-Control", "no-cache");
            }
            if auth && let Some((u, p)) = &creds {
                rb = rb.basic_auth(u, Some(p));
            }
            rb.send()
        };
        let transport = |e: reqwest::Error| {
            err(format!(
                "Failed lookup url for {shown}: <urlopen error {}>",
                transport_cause(&e)
            ))
        };
        // urllib sends credentials when challenged, unless forced
        let mut resp = send(forced).map_err(transport)?;
        if resp.status().as_u16() == 401 && creds.is_some() && !forced {
            resp = send(true).map_err(transport)?;
        }
        let status = resp.status();
        if !status.is_success() {
            return Err(err(format!(
                "Received HTTP error for {shown}: HTTP Error {}: {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )));
        }
        let body = resp.bytes().map_err(transport)?;
        let text = String::from_utf8_lossy(&body);
        if opts.split_lines {
            ret.extend(split_lines(&text));
        } else {
            ret.push(Value::from(text.as_ref()));
        }
    }
    Ok(ret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_credentials() {
        assert_eq!(
            mask_url("http://alice:pw@127.0.0.1:1/x"),
            "http://****:****@127.0.0.1:1/x"
        );
        assert_eq!(mask_url("http://alice@h/x"), "http://****@h/x");
        assert_eq!(mask_url("http://h/x@y"), "http://h/x@y");
        assert_eq!(mask_url("nonsense"), "nonsense");
    }

    #[test]
    fn splits_like_bytes_splitlines() {
        let got: Vec<String> = split_lines("a\nb\r\nc\rd\n")
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(got, ["a", "b", "c", "d"]);
        assert!(split_lines("").is_empty());
        assert_eq!(split_lines("\n\n").len(), 2);
    }
}
