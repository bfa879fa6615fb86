//! get_url and uri against a loopback HTTP server started here.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use agent_modules::{Ctx, FileFinder, ModuleError, ResultMap, Value, registry};
use agent_template::{Templar, Vars};
use indexmap::IndexMap;

struct NoFiles;

impl FileFinder for NoFiles {
    fn find(&self, _kind: &str, _name: &str) -> Option<PathBuf> {
        None
    }
}

const BODY: &str = "hello from the test server\n";
// sha256 of BODY
fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves /file.txt (304 when If-Modified-Since is sent), /SHA256SUMS, 404 otherwise.
fn server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            let mut ims = false;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("if-modified-since:") {
                    ims = true;
                }
            }
            let mut parts = first.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let (status, body) = match path.as_str() {
                "/file.txt" if ims => ("304 Not Modified", String::new()),
                "/file.txt" => ("200 OK", BODY.to_string()),
                "/SHA256SUMS" => ("200 OK", format!("{}  file.txt\n", sha256_hex(BODY))),
                _ => ("404 Not Found", "no\n".to_string()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            if method != "HEAD" && !status.starts_with("304") {
                let _ = s.write_all(body.as_bytes());
            }
        }
    });
    format!("http://{addr}")
}

fn run(args: &[(&str, &str)], check: bool) -> Result<ResultMap, ModuleError> {
    run_module("get_url", args, check)
}

fn run_module(module: &str, args: &[(&str, &str)], check: bool) -> Result<ResultMap, ModuleError> {
    let templar = Templar::new();
    let vars = Vars::default();
    let ctx = Ctx {
        check_mode: check,
        diff_mode: false,
        files: &NoFiles,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    let raw: IndexMap<String, Value> = args
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    let e = registry::find(&format!("ansible.builtin.{module}")).unwrap();
    (e.run)(module, &raw, &ctx)
}

fn changed(r: &ResultMap) -> bool {
    r.get("changed").is_some_and(|v| v.is_true())
}

#[test]
fn download_check_force_checksum() {
    let base = server();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out.txt");
    let d = dest.to_str().unwrap();
    let url = format!("{base}/file.txt");

    let r = run(&[("url", &url), ("dest", d)], true).unwrap();
    assert!(changed(&r));
    assert!(!dest.exists());

    let r = run(&[("url", &url), ("dest", d), ("mode", "0640")], false).unwrap();
    assert!(changed(&r), "{r:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), BODY);
    assert_eq!(r.get("mode"), Some(&Value::from("0640")));
    assert_eq!(r.get("status_code"), Some(&Value::from(200)));

    // The file exists: If-Modified-Since, the server says 304.
    let r = run(&[("url", &url), ("dest", d)], false).unwrap();
    assert!(!changed(&r), "{r:?}");
    assert_eq!(r.get("status_code"), Some(&Value::from(304)));

    // A matching checksum (given, or from a sums file) makes no request at all.
    let sum = format!("sha256:{}", sha256_hex(BODY));
    let r = run(&[("url", &url), ("dest", d), ("checksum", &sum)], false).unwrap();
    assert_eq!(r.get("msg"), Some(&Value::from("file already exists")));
    let sums = format!("sha256:{base}/SHA256SUMS");
    let r = run(&[("url", &url), ("dest", d), ("checksum", &sums)], false).unwrap();
    assert!(!changed(&r));

    // force: downloaded again, same content, no change.
    let r = run(&[("url", &url), ("dest", d), ("force", "yes")], false).unwrap();
    assert!(!changed(&r), "{r:?}");

    // A wrong checksum fails and leaves nothing.
    let other = tmp.path().join("other.txt");
    let bad = format!("sha256:{}", "0".repeat(64));
    let e = run(
        &[
            ("url", &url),
            ("dest", other.to_str().unwrap()),
            ("checksum", &bad),
        ],
        false,
    )
    .unwrap_err();
    assert!(e.msg.contains("did not match"), "{}", e.msg);
    assert!(!other.exists());

    // A directory as dest: the file is named after the URL.
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let r = run(&[("url", &url), ("dest", dir.to_str().unwrap())], false).unwrap();
    assert!(changed(&r));
    assert_eq!(std::fs::read_to_string(dir.join("file.txt")).unwrap(), BODY);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "temporary files left behind");

    // 404 is a failure.
    let e = run(&[("url", &format!("{base}/nope")), ("dest", d)], false).unwrap_err();
    assert_eq!(e.msg, "Request failed");
}

/// uri: skipped in check mode; `dest` written once, then the server's 304 (accepted) leaves
/// the plan empty; a status not accepted fails with Ansible's message.
#[test]
fn uri_check_mode_dest_and_status() {
    let base = server();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out.txt");
    let d = dest.to_str().unwrap();
    let url = format!("{base}/file.txt");
    let uri = |args: &[(&str, &str)], check: bool| run_module("uri", args, check);

    let r = uri(&[("url", &url), ("dest", d)], true).unwrap();
    assert_eq!(r.get("skipped"), Some(&Value::from(true)), "{r:?}");
    assert!(!changed(&r));
    assert!(!dest.exists());

    let r = uri(&[("url", &url), ("return_content", "yes")], false).unwrap();
    assert!(!changed(&r), "{r:?}");
    assert_eq!(r.get("content"), Some(&Value::from(BODY)));
    assert_eq!(r.get("status"), Some(&Value::from(200)));

    let r = uri(&[("url", &url), ("dest", d), ("mode", "0640")], false).unwrap();
    assert!(changed(&r), "{r:?}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), BODY);
    assert_eq!(r.get("mode"), Some(&Value::from("0640")));

    // Idempotence: the file exists, If-Modified-Since gets 304, nothing to do.
    let r = run_module(
        "uri",
        &[("url", &url), ("dest", d), ("status_code", "200,304")],
        false,
    )
    .unwrap();
    assert!(!changed(&r), "{r:?}");
    assert_eq!(r.get("status"), Some(&Value::from(304)));

    let e = uri(&[("url", &format!("{base}/nope"))], false).unwrap_err();
    assert_eq!(
        e.msg,
        "Status code was 404 and not [200]: HTTP Error 404: Not Found"
    );
}
