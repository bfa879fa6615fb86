//! Sources end to end against moto's server on loopback (S3 and SSM): first pull,
//! unchanged (304), changed object, sha256 mismatch, many parameters over several pages,
//! SecureString masking, unreachable endpoint, malicious archives, and `agent bundle`
//! reproducibility.
//!
//! moto comes from `tests/setup-moto` (tests/run-all runs it). Without it these tests are
//! skipped with a message, unless AGENT_SOURCE_TESTS=1 (then they fail).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "Sup3r-S3cret-Redis-Pass";

fn moto_venv() -> PathBuf {
    std::env::var_os("MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".cache/agent/moto")
        })
}

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Moto {
    /// Start moto's server, or None (skip) when it is not installed.
    fn start() -> Option<Moto> {
        let bin = moto_venv().join("bin/moto_server");
        if !bin.exists() {
            assert!(
                std::env::var("AGENT_SOURCE_TESTS").as_deref() != Ok("1"),
                "moto is not installed in {} (run tests/setup-moto)",
                moto_venv().display()
            );
            eprintln!("skipped: moto not installed (tests/setup-moto)");
            return None;
        }
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let url = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto { child, url })
    }

    /// Run a boto3 snippet (`s3` and `ssm` clients are ready) against this server.
    fn boto(&self, code: &str) {
        let script = format!(
            "import boto3\nkw=dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='t', aws_secret_access_key='t')\ns3=boto3.client('s3', **kw)\nssm=boto3.client('ssm', **kw)\n{code}\n",
            self.url
        );
        let o = Command::new(moto_venv().join("bin/python"))
            .arg("-c")
            .arg(&script)
            .output()
            .expect("python");
        assert!(
            o.status.success(),
            "boto3 failed: {}\n{script}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn put_object(&self, key: &str, file: &Path) {
        self.boto(&format!(
            "s3.put_object(Bucket='bundles', Key='{key}', Body=open('{}','rb').read())",
            file.display()
        ));
    }

    fn put_param(&self, name: &str, value: &str, kind: &str) {
        self.boto(&format!(
            "ssm.put_parameter(Name={name:?}, Value={value:?}, Type='{kind}', Overwrite=True)"
        ));
    }
}

/// A work area: the bundle source tree, the config, the cache, the output directory.
struct World {
    tmp: tempfile::TempDir,
    moto_url: String,
}

impl World {
    fn new(moto: &Moto) -> World {
        let w = World {
            tmp: tempfile::tempdir().unwrap(),
            moto_url: moto.url.clone(),
        };
        std::fs::create_dir_all(w.out()).unwrap();
        w.write_config("");
        w
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }
    fn out(&self) -> PathBuf {
        self.path("out")
    }
    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    fn write_config(&self, extra: &str) {
        std::fs::write(
            self.path("agent.toml"),
            format!(
                "source = \"ssm:/agent/test\"\nenvironment = \"test\"\ncache_dir = \"{}\"\n{extra}\n[aws]\nattempts = 2\nconnect_timeout_seconds = 1\noperation_timeout_seconds = 5\n",
                self.cache().display()
            ),
        )
        .unwrap();
    }

    /// A bundle whose play writes what it got from SSM into out/motd; `version` changes
    /// its content. Returns (archive path, sha256).
    fn bundle(&self, version: &str) -> (PathBuf, String) {
        let src = self.path(&format!("src-{version}"));
        let w = |p: &str, t: &str| {
            let f = src.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        };
        w(
            "site.yml",
            &format!(
                "- hosts: web\n  gather_facts: false\n  tasks:\n    - name: motd\n      copy:\n        dest: \"{{{{ out }}}}/motd\"\n        content: \"version={version} greeting={{{{ greeting }}}} n={{{{ p23 | default('none') }}}} pass={{{{ redis_pass | default('unset') }}}}\\n\"\n"
            ),
        );
        w(
            "inventories/test/hosts.yml",
            "web:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
        );
        let archive = self.path(&format!("bundle-{version}.tar.gz"));
        let o = agent(
            self,
            &[
                "bundle",
                src.to_str().unwrap(),
                "-o",
                archive.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let sha = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        (archive, sha)
    }

    fn apply(&self, extra: &[&str]) -> Output {
        let out = format!("out={}", self.out().display());
        let mut args = vec!["apply", "--config", "CONFIG", "-e", &out];
        args.extend_from_slice(extra);
        let cfg = self.path("agent.toml");
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if *a == "CONFIG" {
                    cfg.to_str().unwrap()
                } else {
                    a
                }
            })
            .collect();
        agent(self, &args)
    }

    fn motd(&self) -> String {
        std::fs::read_to_string(self.out().join("motd")).unwrap_or_default()
    }
}

fn agent_with_endpoint(w: &World, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .current_dir(w.tmp.path())
        .env("AGENT_LOCK_FILE", w.tmp.path().join("agent.lock"))
        .env("HOME", w.tmp.path())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AGENT_LOG", "debug")
        .env_remove("AGENT_CONFIG")
        .output()
        .expect("run agent")
}

fn agent(w: &World, args: &[&str]) -> Output {
    agent_with_endpoint(w, &w.moto_url, args)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Seed moto: bucket, bundle v1, pointer, variables (one secret).
fn seed(moto: &Moto, w: &World) -> String {
    moto.boto("s3.create_bucket(Bucket='bundles')");
    let (archive, sha) = w.bundle("1");
    moto.put_object("site.tar.gz", &archive);
    moto.put_param(
        "/agent/test/bundle",
        &format!("{{\"uri\": \"s3://bundles/site.tar.gz\", \"sha256\": \"{sha}\"}}"),
        "String",
    );
    moto.put_param("/agent/test/all/greeting", "hello", "String");
    moto.put_param("/agent/test/web/redis_pass", SECRET, "SecureString");
    sha
}

/// Every byte under `dir`, searched for `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p)
                && b.windows(needle.len()).any(|x| x == needle.as_bytes())
            {
                hits.push(p);
            }
        }
    }
    hits
}

#[test]
fn pull_unchanged_changed_and_mismatch() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    let sha1 = seed(&moto, &w);

    // First pull: converged from S3 with SSM variables; the secret reached the file only.
    let o = w.apply(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert_eq!(
        w.motd(),
        format!("version=1 greeting=hello n=none pass={SECRET}\n")
    );
    assert!(!t.contains(SECRET), "secret in output:\n{t}");
    let cur = std::fs::read_link(w.cache().join("current")).unwrap();
    assert!(cur.ends_with(&sha1), "{}", cur.display());

    // Unchanged: 304, nothing downloaded.
    let o = agent(
        &w,
        &["pull", "--config", w.path("agent.toml").to_str().unwrap()],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.starts_with(&format!("unchanged {sha1} ")), "{t}");
    assert!(t.contains("(0 bytes downloaded)"), "{t}");

    // Changed object and pointer: the new bundle is pulled and used.
    let (archive2, sha2) = w.bundle("2");
    moto.put_object("site.tar.gz", &archive2);
    moto.put_param(
        "/agent/test/bundle",
        &format!("{{\"uri\": \"s3://bundles/site.tar.gz\", \"sha256\": \"{sha2}\"}}"),
        "String",
    );
    let o = w.apply(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(w.motd().starts_with("version=2 "), "{}", w.motd());

    // A pin that does not match: refused, reported, the last-known-good bundle is used
    // (exit 4), and the host is not converged from the unverified bundle.
    let (archive3, _sha3) = w.bundle("3");
    moto.put_object("site.tar.gz", &archive3);
    let o = w.apply(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(4), "{t}");
    assert!(t.contains("refused: its sha256 is"), "{t}");
    assert!(t.contains(&format!("last-known-good bundle {sha2}")), "{t}");
    assert!(w.motd().starts_with("version=2 "), "{}", w.motd());
    assert!(!t.contains(SECRET), "secret in output:\n{t}");

    // Nowhere in the cache is the secret written in clear.
    assert_eq!(files_containing(&w.cache(), SECRET), Vec::<PathBuf>::new());
}

#[test]
fn many_parameters_over_several_pages() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    seed(&moto, &w);
    // 25 more parameters: GetParametersByPath returns at most 10 per page.
    let mut code = String::new();
    for i in 0..25 {
        code.push_str(&format!(
            "ssm.put_parameter(Name='/agent/test/all/p{i}', Value='v{i}', Type='String')\n"
        ));
    }
    moto.boto(&code);
    let o = w.apply(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(w.motd().contains(" n=v23 "), "{}", w.motd());
    let vars = std::fs::read_to_string(w.cache().join("vars.json")).unwrap();
    for i in 0..25 {
        assert!(
            vars.contains(&format!("\"p{i}\": \"v{i}\"")),
            "p{i} missing: {vars}"
        );
    }
}

#[test]
fn secrets_are_masked_everywhere() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    seed(&moto, &w);
    // check with diff shows the file's new content: the secret must be masked there,
    // at every verbosity, in JSON output too.
    for args in [
        vec!["check"],
        vec!["check", "-vvvv"],
        vec!["check", "--output", "json"],
        vec!["apply", "--diff", "-vvv"],
        vec!["apply", "--diff"],
    ] {
        let out = format!("out={}", w.out().display());
        let cfg = w.path("agent.toml");
        let mut a = args.clone();
        a.extend(["--config", cfg.to_str().unwrap(), "-e", &out]);
        let o = agent(&w, &a);
        let t = text(&o);
        assert!(
            matches!(o.status.code(), Some(0) | Some(2)),
            "{args:?}: {t}"
        );
        assert!(!t.contains(SECRET), "{args:?} leaked the secret:\n{t}");
        if args.contains(&"--diff") || args[0] == "check" {
            assert!(
                t.contains("********") || !t.contains("pass="),
                "{args:?}: {t}"
            );
        }
    }
    assert!(
        w.motd().contains(SECRET),
        "the file itself has the real value"
    );
    assert_eq!(files_containing(&w.cache(), SECRET), Vec::<PathBuf>::new());
}

#[test]
fn unreachable_endpoint_uses_last_known_good_in_bounded_time() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    let sha1 = seed(&moto, &w);
    let o = w.apply(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(w.out().join("motd")).unwrap();

    // Nothing listens on this port.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = format!("out={}", w.out().display());
    let cfg = w.path("agent.toml");
    let t0 = Instant::now();
    let o = agent_with_endpoint(
        &w,
        &dead,
        &["apply", "--config", cfg.to_str().unwrap(), "-e", &out],
    );
    let took = t0.elapsed();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(4), "{t}");
    assert!(t.contains("cannot reach the endpoint"), "{t}");
    assert!(t.contains(&format!("last-known-good bundle {sha1}")), "{t}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // Converged from the cached bundle with the cached non-secret variables: the secret
    // was never cached, so it is not there.
    assert!(!t.contains(SECRET));
    assert_eq!(w.motd(), "version=1 greeting=hello n=none pass=unset\n");
    // The report says so too: from the cache, why, and which bundle.
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.cache().join("last_run.json")).unwrap())
            .unwrap();
    let r = &last["report"];
    assert_eq!(r["from_cache"], serde_json::Value::Bool(true), "{r}");
    assert!(r["fallback_reason"].is_string(), "{r}");
    assert!(r["bundle"].to_string().contains(&sha1), "{r}");

    // With no cache at all: a clear failure, nothing changed.
    let w2 = World::new(&moto);
    let cfg2 = w2.path("agent.toml");
    let out2 = format!("out={}", w2.out().display());
    let o = agent_with_endpoint(
        &w2,
        &dead,
        &["apply", "--config", cfg2.to_str().unwrap(), "-e", &out2],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("there is no cached bundle to fall back on; nothing was changed"),
        "{t}"
    );
    assert!(!w2.out().join("motd").exists());
}

#[test]
fn malicious_archive_is_refused_and_previous_bundle_used() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    let sha1 = seed(&moto, &w);
    assert_eq!(w.apply(&[]).status.code(), Some(0));
    // A tar.gz with an absolute member, correctly pinned: still refused at unpack.
    let evil = w.path("evil.tar.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && mkdir -p e && echo x > e/f && tar --absolute-names -czf {} /etc/hostname e/f",
            w.tmp.path().display(),
            evil.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let sha = {
        use std::io::Read;
        let mut f = std::fs::File::open(&evil).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        agent_source::bundle::sha256_hex(&b)
    };
    moto.put_object("evil.tar.gz", &evil);
    moto.put_param(
        "/agent/test/bundle",
        &format!("{{\"uri\": \"s3://bundles/evil.tar.gz\", \"sha256\": \"{sha}\"}}"),
        "String",
    );
    let o = w.apply(&[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(4), "{t}");
    assert!(t.contains("has an absolute path"), "{t}");
    assert!(t.contains(&format!("last-known-good bundle {sha1}")), "{t}");
}

/// Signed bundles over S3 through the SSM pointer: the signature is the object beside the
/// bundle (`KEY.minisig`). Signed: used; signature missing, by another key, or the bundle
/// swapped (with its pin): refused, exit 1, host untouched.
#[test]
fn signed_bundles_from_s3() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    let keygen = |name: &str| {
        let o = agent(&w, &["keygen", "-o", w.path(name).to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        std::fs::read_to_string(w.path(&format!("{name}.pub")))
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let good = keygen("good");
    keygen("other");
    let sign = |archive: &Path, key: &str| {
        // Re-sign an existing archive: agent bundle of the same tree gives the same bytes.
        let src = w.path(&format!(
            "src-{}",
            archive
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .trim_start_matches("bundle-")
                .trim_end_matches(".tar.gz")
        ));
        let o = agent(
            &w,
            &[
                "bundle",
                src.to_str().unwrap(),
                "-o",
                archive.to_str().unwrap(),
                "--sign",
                w.path(&format!("{key}.key")).to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        PathBuf::from(format!("{}.minisig", archive.display()))
    };
    let sha1 = seed(&moto, &w);
    let (archive1, _) = w.bundle("1");
    moto.put_object("site.tar.gz.minisig", &sign(&archive1, "good"));
    w.write_config(&format!("trusted_keys = [\"{good}\"]\n"));
    let o = w.apply(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(w.motd().starts_with("version=1 "), "{}", w.motd());
    let cur = std::fs::read_link(w.cache().join("current")).unwrap();
    assert!(cur.ends_with(&sha1), "{}", cur.display());

    let point = |sha: &str| {
        moto.put_param(
            "/agent/test/bundle",
            &format!("{{\"uri\": \"s3://bundles/site.tar.gz\", \"sha256\": \"{sha}\"}}"),
            "String",
        )
    };
    let mut refused = 0;
    let mut total = 0;
    let mut expect_refused = |want: &str| {
        std::fs::remove_file(w.out().join("motd")).ok();
        let o = w.apply(&[]);
        let t = text(&o);
        total += 1;
        assert_eq!(o.status.code(), Some(1), "{want}: {t}");
        assert!(t.contains("s3://bundles/site.tar.gz: refused: "), "{t}");
        assert!(t.contains(want), "{want}: {t}");
        assert!(!w.out().join("motd").exists(), "{want}: host changed");
        let cur = std::fs::read_link(w.cache().join("current")).unwrap();
        assert!(cur.ends_with(&sha1), "{}", cur.display());
        refused += 1;
    };
    // Version 2 signed by another key.
    let (archive2, sha2) = w.bundle("2");
    moto.put_object("site.tar.gz", &archive2);
    moto.put_object("site.tar.gz.minisig", &sign(&archive2, "other"));
    point(&sha2);
    expect_refused("which is not a trusted key");
    // Version 2 with version 1's signature (the bundle swapped, the pin updated).
    moto.put_object("site.tar.gz.minisig", &sign(&archive1, "good"));
    expect_refused("does not match the bundle");
    // No signature object at all.
    moto.boto("s3.delete_object(Bucket='bundles', Key='site.tar.gz.minisig')");
    expect_refused("there is no s3://bundles/site.tar.gz.minisig");
    println!("tampered bundles refused over S3: {refused}/{total}");
    // Properly signed: used.
    moto.put_object("site.tar.gz.minisig", &sign(&archive2, "good"));
    let o = w.apply(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(w.motd().starts_with("version=2 "), "{}", w.motd());
}

#[test]
fn bundle_is_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("roles/a/tasks")).unwrap();
    std::fs::write(src.join("site.yml"), "- hosts: all\n").unwrap();
    std::fs::write(src.join("roles/a/tasks/main.yml"), "[]\n").unwrap();
    let run = |name: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(["bundle", src.to_str().unwrap(), "-o"])
            .arg(t.path().join(name))
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let a = run("a.tar.gz");
    // Different times on the files must not matter.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(src.join("site.yml"), "- hosts: all\n").unwrap();
    let b = run("b.tar.gz");
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(t.path().join("a.tar.gz")).unwrap(),
        std::fs::read(t.path().join("b.tar.gz")).unwrap()
    );
}

#[test]
fn config_errors_name_the_key_and_config_prints_origins() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("agent.toml");
    std::fs::write(&cfg, "source = \"ssm:/agent/x\"\n\n[aws]\natempts = 3\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["config", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let e = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        e.contains(&format!(
            "{}:4:1: unknown key 'aws.atempts' (did you mean 'attempts'?)",
            cfg.display()
        )),
        "{e}"
    );
    std::fs::write(&cfg, "source = \"ssm:/agent/x\"\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["config", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let s = text(&o);
    assert_eq!(o.status.code(), Some(0), "{s}");
    assert!(s.contains("source = \"ssm:/agent/x\""), "{s}");
    assert!(s.contains(&format!("# {}:1", cfg.display())), "{s}");
    assert!(s.contains("keep_bundles = 3"), "{s}");
}

/// An IMDSv2 endpoint on loopback with tags enabled: Role=web, Environment=test.
fn imds_server() -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = req.lines().next().unwrap_or_default().to_string();
            let token = req.contains("X-aws-ec2-metadata-token: tok");
            let (status, body) = match line.split_whitespace().nth(1).unwrap_or("") {
                "/latest/api/token" if line.starts_with("PUT") => (200, "tok"),
                _ if !token => (401, ""),
                "/latest/meta-data/instance-id" => (200, "i-0abc"),
                "/latest/meta-data/instance-type" => (200, "t3.small"),
                "/latest/meta-data/placement/region" => (200, "us-east-1"),
                "/latest/meta-data/tags/instance" => (200, "Role\nEnvironment"),
                "/latest/meta-data/tags/instance/Role" => (200, "web"),
                "/latest/meta-data/tags/instance/Environment" => (200, "test"),
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
fn ec2_tags_give_groups_environment_and_facts() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    moto.boto("s3.create_bucket(Bucket='bundles')");
    // No inventory in the bundle: the host is in `web` only because of its Role tag, and
    // the SSM prefix comes from its Environment tag (`source = "ssm:"`).
    let src = w.path("src-ec2");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("site.yml"),
        "- hosts: web\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ out }}/ec2\"\n        content: \"{{ ansible_ec2_instance_id }} {{ ansible_ec2_instance_type }} {{ group_names | join(',') }} {{ greeting }}\\n\"\n",
    )
    .unwrap();
    let archive = w.path("ec2.tar.gz");
    let o = agent(
        &w,
        &[
            "bundle",
            src.to_str().unwrap(),
            "-o",
            archive.to_str().unwrap(),
        ],
    );
    let sha = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    moto.put_object("ec2.tar.gz", &archive);
    moto.put_param(
        "/agent/test/bundle",
        &format!("{{\"uri\": \"s3://bundles/ec2.tar.gz\", \"sha256\": \"{sha}\"}}"),
        "String",
    );
    moto.put_param("/agent/test/all/greeting", "hi", "String");
    std::fs::write(
        w.path("agent.toml"),
        format!(
            "source = \"ssm:\"\ncache_dir = \"{}\"\n",
            w.cache().display()
        ),
    )
    .unwrap();
    let out = format!("out={}", w.out().display());
    let o = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["apply", "--config"])
        .arg(w.path("agent.toml"))
        .args(["-e", &out])
        .current_dir(w.tmp.path())
        .env("AGENT_LOCK_FILE", w.tmp.path().join("agent.lock"))
        .env("HOME", w.tmp.path())
        .env("AWS_ENDPOINT_URL", &w.moto_url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_server())
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert_eq!(
        std::fs::read_to_string(w.out().join("ec2")).unwrap(),
        "i-0abc t3.small test,web hi\n"
    );
}

/// Reports uploaded to S3 after each run (latest + dated copy), read back by
/// `agent fleet`: drift, then converged, a stale host, JSON output; an upload that fails
/// is a warning.
#[test]
fn reports_upload_and_fleet() {
    let Some(moto) = Moto::start() else { return };
    let w = World::new(&moto);
    seed(&moto, &w);
    moto.boto("s3.create_bucket(Bucket='reports')");
    w.write_config("\n[report]\ns3_uri = \"s3://reports/fleet\"\n");
    let host = agent::host_identity::hostname();
    let cfg = w.path("agent.toml");
    let check = |w: &World| {
        let out = format!("out={}", w.out().display());
        agent(w, &["check", "--config", cfg.to_str().unwrap(), "-e", &out])
    };
    let fleet = |w: &World, extra: &[&str]| {
        let mut a = vec!["fleet", "s3://reports/fleet/"];
        a.extend_from_slice(extra);
        agent(w, &a)
    };

    // A check that finds drift: uploaded, and the fleet view says so (exit 2).
    let o = check(&w);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("report uploaded to s3://reports/fleet/test/"),
        "{t}"
    );
    let listing = w.path("keys.txt");
    moto.boto(&format!(
        "open('{}','w').write('\\n'.join(o['Key'] for o in s3.list_objects_v2(Bucket='reports')['Contents']))",
        listing.display()
    ));
    let keys = std::fs::read_to_string(&listing).unwrap();
    let latest = format!("fleet/test/{host}/latest.json");
    assert!(keys.lines().any(|k| k == latest), "{keys}");
    let dated = regex::Regex::new(&format!(
        r"(?m)^fleet/test/{}/\d{{4}}/\d{{2}}/\d{{2}}/\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}}Z\.json$",
        regex::escape(&host)
    ))
    .unwrap();
    assert!(dated.is_match(&keys), "{keys}");
    // The uploaded report is last_run.json, and the secret is in neither.
    let got = w.path("latest.json");
    moto.boto(&format!(
        "open('{}','wb').write(s3.get_object(Bucket='reports', Key='{latest}')['Body'].read())",
        got.display()
    ));
    let uploaded = std::fs::read_to_string(&got).unwrap();
    assert_eq!(
        uploaded,
        std::fs::read_to_string(w.cache().join("last_run.json")).unwrap()
    );
    assert!(!uploaded.contains(SECRET));
    assert!(
        uploaded.contains("********"),
        "the drift diff shows the masked secret"
    );

    let o = fleet(&w, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    let line = t
        .lines()
        .find(|l| l.starts_with("test "))
        .unwrap_or_default();
    assert!(line.contains(&host), "{t}");
    assert!(line.contains(" drift "), "{t}");
    assert!(line.ends_with("motd"), "{t}");
    assert!(t.contains("1 hosts: 1 drifted, 0 failed, 0 stale"), "{t}");

    // Converged: the fleet is clean (exit 0).
    let out = format!("out={}", w.out().display());
    let o = agent(
        &w,
        &["apply", "--config", cfg.to_str().unwrap(), "-e", &out],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = fleet(&w, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains(" changed "), "{t}");

    // Another host that last reported three hours ago: stale (exit 2); with a longer
    // --stale it is not.
    moto.boto(
        "import datetime\nt=(datetime.datetime.now(datetime.timezone.utc)-datetime.timedelta(hours=3)).strftime('%Y-%m-%dT%H:%M:%SZ')\ns3.put_object(Bucket='reports', Key='fleet/prod/i-0old/latest.json', Body=('{\"report\": {\"schema_version\": 1, \"hostname\": \"old-1\", \"ended\": \"%s\", \"result\": \"ok\"}}' % t).encode())",
    );
    let o = fleet(&w, &["--stale", "2h"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("old-1 (i-0old)"), "{t}");
    assert!(t.contains("3h ago STALE"), "{t}");
    let o = fleet(&w, &["--stale", "4h", "--output", "json"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let hosts = doc["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["env"], "prod");
    assert_eq!(hosts[0]["stale"], false);
    assert_eq!(hosts[1]["result"], "changed");

    // An upload that cannot be done: a warning; the run's exit code is unchanged.
    w.write_config("\n[report]\ns3_uri = \"s3://no-such-bucket/x\"\n");
    let o = agent(
        &w,
        &["apply", "--config", cfg.to_str().unwrap(), "-e", &out],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("[WARNING]: could not upload the report"), "{t}");
    assert!(!t.contains(SECRET));
}
