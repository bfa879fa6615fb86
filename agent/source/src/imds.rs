//! Who am I, on EC2: the instance metadata service (IMDSv2: a session token, then GETs
//! with it), read only when this machine looks like an EC2 instance (cheap checks of
//! /sys, no network wait elsewhere). Gives the facts amazon.aws.ec2_metadata_facts
//! gives (`ansible_ec2_*`) and the instance tags, which become groups.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use indexmap::IndexMap;

const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";

#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    #[error("instance metadata at {endpoint}: {msg}")]
    Http { endpoint: String, msg: String },
}

/// The endpoint to use, or None when this is not EC2 (or IMDS is disabled).
pub fn endpoint() -> Option<String> {
    if std::env::var("AWS_EC2_METADATA_DISABLED")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
    {
        return None;
    }
    if let Ok(e) = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
        return Some(e.trim_end_matches('/').to_string());
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let on_ec2 = read("/sys/class/dmi/id/board_asset_tag")
        .trim()
        .starts_with("i-")
        || read("/sys/class/dmi/id/sys_vendor").contains("Amazon EC2")
        || read("/sys/hypervisor/uuid")
            .to_ascii_lowercase()
            .starts_with("ec2");
    on_ec2.then(|| DEFAULT_ENDPOINT.to_string())
}

/// A minimal HTTP/1.1 client for the metadata service (plain HTTP on a link-local or
/// loopback address; one request per connection).
pub struct Imds {
    host: String,
    port: u16,
    endpoint: String,
    token: String,
}

struct Response {
    status: u16,
    body: String,
}

fn request(
    host: &str,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.take(1 << 20).read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Response { status, body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

impl Imds {
    /// Get a session token (IMDSv2), retrying with backoff (3 attempts).
    pub fn connect(endpoint: &str) -> Result<Imds, ImdsError> {
        let err = |msg: String| ImdsError::Http {
            endpoint: endpoint.to_string(),
            msg,
        };
        let rest = endpoint
            .strip_prefix("http://")
            .ok_or_else(|| err("only http:// endpoints are supported".into()))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse().map_err(|_| err("bad port".into()))?,
            ),
            None => (rest.to_string(), 80),
        };
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 * 2u64.pow(attempt)));
            }
            match request(
                &host,
                port,
                "PUT",
                "/latest/api/token",
                &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
            ) {
                Ok(r) if r.status == 200 => {
                    return Ok(Imds {
                        host,
                        port,
                        endpoint: endpoint.to_string(),
                        token: r.body.trim().to_string(),
                    });
                }
                Ok(r) => last = format!("token request answered {}", r.status),
                Err(e) => last = e.to_string(),
            }
        }
        Err(err(last))
    }

    /// GET a metadata path; 404 is `None` (absent), not an error.
    pub fn get(&self, path: &str) -> Result<Option<String>, ImdsError> {
        let mut last = String::new();
        for attempt in 0..3u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 * 2u64.pow(attempt)));
            }
            match request(
                &self.host,
                self.port,
                "GET",
                &format!("/latest/{path}"),
                &[("X-aws-ec2-metadata-token", &self.token)],
            ) {
                Ok(r) if r.status == 200 => return Ok(Some(r.body)),
                Ok(r) if r.status == 404 => return Ok(None),
                Ok(r) => last = format!("{path}: HTTP {}", r.status),
                Err(e) => last = format!("{path}: {e}"),
            }
        }
        Err(ImdsError::Http {
            endpoint: self.endpoint.clone(),
            msg: last,
        })
    }
}

/// What IMDS says about this instance.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Instance {
    /// `ansible_ec2_*` facts (names as amazon.aws.ec2_metadata_facts gives them).
    pub facts: IndexMap<String, String>,
    /// Instance tags (empty when tags in metadata are not enabled: 404).
    pub tags: IndexMap<String, String>,
}

/// The fact name for a metadata path, as ec2_metadata_facts makes it.
fn fact_name(path: &str) -> String {
    let mut s = String::from("ansible_ec2_");
    for c in path.chars() {
        s.push(if c == '/' || c == '-' || c == ':' {
            '_'
        } else {
            c
        });
    }
    s
}

/// Read the facts roles use, and the tags.
pub fn describe(imds: &Imds) -> Result<Instance, ImdsError> {
    let mut inst = Instance::default();
    for p in [
        "ami-id",
        "hostname",
        "instance-id",
        "instance-type",
        "local-hostname",
        "local-ipv4",
        "mac",
        "public-hostname",
        "public-ipv4",
        "placement/availability-zone",
        "placement/region",
        "security-groups",
    ] {
        if let Some(v) = imds.get(&format!("meta-data/{p}"))? {
            inst.facts.insert(fact_name(p), v.trim().to_string());
        }
    }
    if let Some(keys) = imds.get("meta-data/tags/instance")? {
        for k in keys.lines().map(str::trim).filter(|k| !k.is_empty()) {
            if let Some(v) = imds.get(&format!("meta-data/tags/instance/{k}"))? {
                inst.tags.insert(k.to_string(), v.trim().to_string());
                inst.facts.insert(
                    fact_name(&format!("tags/instance/{k}")),
                    v.trim().to_string(),
                );
            }
        }
        let keys: Vec<String> = inst.tags.keys().cloned().collect();
        inst.facts
            .insert("ansible_ec2_instance_tags_keys".into(), keys.join(","));
    }
    Ok(inst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// An IMDSv2 server on loopback: token required, tags enabled.
    fn serve() -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let line = req.lines().next().unwrap_or_default().to_string();
                let has_token = req.contains("X-aws-ec2-metadata-token: tok");
                let (status, body) = match line.split_whitespace().nth(1).unwrap_or("") {
                    "/latest/api/token" if line.starts_with("PUT") => (200, "tok"),
                    _ if !has_token => (401, ""),
                    "/latest/meta-data/instance-id" => (200, "i-0123456789abcdef0"),
                    "/latest/meta-data/instance-type" => (200, "t3.micro"),
                    "/latest/meta-data/placement/region" => (200, "eu-west-1"),
                    "/latest/meta-data/placement/availability-zone" => (200, "eu-west-1a"),
                    "/latest/meta-data/local-ipv4" => (200, "10.0.0.5"),
                    "/latest/meta-data/tags/instance" => (200, "Role\nEnvironment"),
                    "/latest/meta-data/tags/instance/Role" => (200, "web"),
                    "/latest/meta-data/tags/instance/Environment" => (200, "production"),
                    _ => (404, ""),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    #[test]
    fn facts_and_tags_over_imdsv2() {
        let ep = serve();
        let imds = Imds::connect(&ep).unwrap();
        let inst = describe(&imds).unwrap();
        assert_eq!(inst.facts["ansible_ec2_instance_id"], "i-0123456789abcdef0");
        assert_eq!(inst.facts["ansible_ec2_placement_region"], "eu-west-1");
        assert_eq!(
            inst.facts["ansible_ec2_placement_availability_zone"],
            "eu-west-1a"
        );
        assert_eq!(inst.facts["ansible_ec2_tags_instance_Role"], "web");
        assert_eq!(inst.tags["Environment"], "production");
        assert!(
            !inst.facts.contains_key("ansible_ec2_public_ipv4"),
            "404 is absent"
        );
    }

    #[test]
    fn unreachable_is_an_error_quickly() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t0 = std::time::Instant::now();
        assert!(Imds::connect(&format!("http://127.0.0.1:{port}")).is_err());
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
