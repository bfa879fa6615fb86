//! The `url` lookup against real Ansible: a loopback HTTP server (below) serves the
//! playbook in tests/url_lookup/; the agent and ansible-playbook (the venv the
//! differential suite uses) each run it into their own directory, and the trees must be
//! identical. Without the venv the test is skipped unless `AGENT_REQUIRE_ANSIBLE=1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

use agent_tests::{Case, RcMode, Runner, compare_run, find_agent, run_case, workspace_root};

/// Answer one request: the endpoints the playbook uses.
fn serve(stream: TcpStream) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (status, extra, body): (&str, &str, Vec<u8>) = match path.as_str() {
        "/multi.txt" => ("200 OK", "", b"line one\nline two\r\nline three\n".to_vec()),
        "/single.txt" => ("200 OK", "", b"single".to_vec()),
        "/empty.txt" => ("200 OK", "", Vec::new()),
        // only the headers both clients are asked to send (each adds its own others)
        "/headers" => {
            let mut text = String::new();
            for name in ["cache-control", "user-agent", "x-test"] {
                if let Some(v) = header(name) {
                    text.push_str(&format!("{name}: {v}\n"));
                }
            }
            ("200 OK", "", text.into_bytes())
        }
        "/auth" => {
            // "alice:s3cret"
            if header("authorization") == Some("Basic YWxpY2U6czNjcmV0") {
                ("200 OK", "", b"welcome alice".to_vec())
            } else {
                (
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"x\"\r\n",
                    Vec::new(),
                )
            }
        }
        "/redirect" => ("302 Found", "Location: /single.txt\r\n", Vec::new()),
        "/boom" => ("500 Internal Server Error", "", Vec::new()),
        _ => ("404 Not Found", "", Vec::new()),
    };
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(&body);
    let _ = out.flush();
    // let the client read before the socket closes
    let mut rest = [0u8; 64];
    let _ = out.set_read_timeout(Some(std::time::Duration::from_millis(50)));
    let _ = out.read(&mut rest);
}

fn main() {
    let root = workspace_root();
    let venv = PathBuf::from(
        std::env::var_os("ANSIBLE_VENV").unwrap_or_else(|| "/work/ansible-venv".into()),
    );
    if !venv.join("bin").join("ansible-playbook").is_file() {
        if std::env::var("AGENT_REQUIRE_ANSIBLE").as_deref() == Ok("1") {
            eprintln!("url_lookup: no ansible-playbook in {}", venv.display());
            std::process::exit(1);
        }
        println!(
            "url_lookup: skipped (no Ansible venv at {})",
            venv.display()
        );
        return;
    }
    let agent = match find_agent(&root) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("url_lookup: {e}");
            std::process::exit(1);
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    let mut case = Case::load(&root.join("tests").join("url_lookup")).expect("case");
    case.args = vec!["-e".into(), format!("u=http://127.0.0.1:{port}")];
    let logs = root.join("target").join("tmp").join("url-lookup-logs");
    let ansible =
        run_case(&case, &Runner::Ansible { venv }, &logs.join("ansible")).expect("ansible run");
    let ours = run_case(&case, &Runner::Agent(agent), &logs.join("agent")).expect("agent run");
    let mut failed = false;
    for ((run, want, _), (_, got, _)) in ansible.iter().zip(ours.iter()) {
        // the check run makes no requests of its own worth comparing beyond the recap
        let diffs = compare_run(run, want, got, RcMode::Agent);
        if !diffs.is_empty() {
            failed = true;
            eprintln!("url_lookup {run}: {}", diffs.join("\n  "));
        }
    }
    if failed {
        eprintln!("logs under {}", logs.display());
        std::process::exit(1);
    }
    println!("url_lookup: agent and ansible-playbook agree on 3 runs");
}
