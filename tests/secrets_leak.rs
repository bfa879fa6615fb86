//! The secrets-leak test (issue 8): SSM SecureString values and `no_log` values are put
//! into a bundle's play — copy and template content, command args, registered results
//! printed with debug, failing tasks, loops, diffs, template errors and assert messages
//! that quote them, values derived from them — and the agent is run every way it can
//! print: apply, check, `--diff`, every `--output`, `-v` … `-vvvv` with tracing at
//! `trace`, error paths (a failing task, a bad template, an unreachable source, an
//! interrupted run), with the report uploaded to S3, then `agent fleet`. Every byte it
//! produced — stdout, stderr, every file under the temporary root (state dir,
//! `last_run.json` after every run, the Prometheus textfile, the lock), and every S3
//! object written — is searched for each secret in its plain, JSON-escaped,
//! `\u`-escaped, Python-repr and base64 forms (and line by line for multi-line secrets).
//! The figure is "secret bytes leaked", which must be 0.
//!
//! Not searched, because they are the secrets' own sources or their intended
//! destinations: the bundle's source tree and archive (the `no_log` values are written
//! there), the cached copy of the bundle (checked byte for byte against the source), and
//! the files the play manages (`out-*/`, which hold the real values on purpose).
//!
//! The promise (docs/reliability.md, "Secrets"): a SecureString value never appears in
//! any output, even through a value derived from it that still contains it; a `no_log`
//! task's arguments and results never appear. A value derived by transforming a secret
//! (its base64, a hash, upper case) is not the secret: as in Ansible, a task printing it
//! must be `no_log`.
//!
//! Needs moto (tests/setup-moto); skipped without it unless AGENT_SOURCE_TESTS=1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use agent_tests::moto::{self, Moto};
use sha2::{Digest, Sha256};

const REPORTS: &str = "s3://reports/agent";

/// The secrets of one run of the test, each with a fresh random part.
struct Secrets {
    list: Vec<(&'static str, String)>,
}

impl Secrets {
    fn new() -> Secrets {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        let r = hex(&Sha256::digest(seed.as_bytes()))[..12].to_string();
        Secrets {
            list: vec![
                ("ssm", format!("S3cr3t-SSM-{r}")),
                (
                    "ssm_multi",
                    format!("BEGIN-KEY-{r}\nM1ddle-line-{r}\nEND-KEY-{r}"),
                ),
                ("ssm_quote", format!("Qu\"o't\\e-{r}")),
                ("ssm_uni", format!("pässwörd-{r}")),
                ("nolog", format!("N0L0g-{r}")),
                ("nolog_multi", format!("N0L0g-ML1-{r}\nN0L0g-ML2-{r}")),
            ],
        }
    }

    fn get(&self, name: &str) -> &str {
        self.list
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// Every form searched for: (secret name, form name, bytes).
    fn needles(&self) -> Vec<(String, String, Vec<u8>)> {
        let mut out: Vec<(String, String, Vec<u8>)> = Vec::new();
        for (name, value) in &self.list {
            let mut parts = vec![((*name).to_string(), value.clone())];
            if value.contains('\n') {
                for (i, l) in value.lines().enumerate() {
                    parts.push((format!("{name}[line {}]", i + 1), l.to_string()));
                }
            }
            for (who, v) in parts {
                for (form, bytes) in forms(&v) {
                    if !out.iter().any(|(_, _, b)| *b == bytes) {
                        out.push((who.clone(), form, bytes));
                    }
                }
            }
        }
        out
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The forms a secret can take in output: plain, JSON-escaped (and with `\u` escapes, as
/// Python's json.dumps writes), Python-repr-escaped, and base64 at each of the three
/// alignments (the characters that depend on the secret's bytes alone).
fn forms(s: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("plain".to_string(), s.as_bytes().to_vec())];
    let json = serde_json::to_string(s).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    out.push(("json".into(), json.clone().into_bytes()));
    let ascii: String = json
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut buf = [0u16; 2];
                c.encode_utf16(&mut buf)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    out.push(("json-ascii".into(), ascii.into_bytes()));
    out.push((
        "py-repr".into(),
        s.replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('\n', "\\n")
            .into_bytes(),
    ));
    for k in 0..3usize {
        let mut bytes = vec![0u8; k];
        bytes.extend_from_slice(s.as_bytes());
        let enc = base64(&bytes);
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + s.len())) / 6;
        if last > first + 8 {
            out.push((format!("base64/{k}"), enc.as_bytes()[first..last].to_vec()));
        }
    }
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    s
}

/// The bundle: a play that puts the secrets everywhere a play can.
fn write_bundle(src: &Path, s: &Secrets) {
    let w = |p: &str, t: &str| {
        let f = src.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, t).unwrap();
    };
    w(
        "inventories/leak/hosts.yml",
        "web:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    );
    // The no_log values live in the bundle's own vars (their source).
    w(
        "group_vars/all.yml",
        &format!(
            "nolog_secret: {}\nnolog_multi: {}\n",
            serde_json::to_string(s.get("nolog")).unwrap(),
            serde_json::to_string(s.get("nolog_multi")).unwrap()
        ),
    );
    w(
        "templates/secret.j2",
        "nolog={{ nolog_secret }}\nmulti={{ nolog_multi }}\nssm={{ ssm_secret }}\n",
    );
    w(
        "templates/ssm.j2",
        "ssm={{ ssm_secret }}\nmulti={{ ssm_multi }}\nquote={{ ssm_quote }}\nuni={{ ssm_uni }}\n",
    );
    w("site.yml", PLAY);
}

const PLAY: &str = r#"- name: secrets everywhere
  hosts: web
  gather_facts: false
  vars:
    out: "{{ out_dir }}"
  tasks:
    - name: out dir
      file: {path: "{{ out }}", state: directory}
    - name: copy with SSM secrets (diff masked)
      copy:
        dest: "{{ out }}/ssm.conf"
        content: "pass={{ ssm_secret }}\nmulti={{ ssm_multi }}\nquote={{ ssm_quote }}\nuni={{ ssm_uni }}\n"
    - name: copy no_log
      copy: {dest: "{{ out }}/nolog.conf", content: "nolog={{ nolog_secret }}\n{{ nolog_multi }}\n"}
      no_log: true
      register: copied
    - name: the registered result of a no_log copy, printed
      debug: var=copied
    - name: template no_log
      template: {src: secret.j2, dest: "{{ out }}/secret.txt"}
      no_log: true
      register: templated
    - name: template with SSM secrets
      template: {src: ssm.j2, dest: "{{ out }}/ssm.txt"}
    - name: command no_log
      command: echo {{ nolog_secret }}
      no_log: true
      changed_when: false
    - name: command no_log with the SSM secret, registered
      command: echo {{ ssm_secret }}
      no_log: true
      register: echoed
      changed_when: false
    - name: the registered result, printed
      debug: var=echoed
    - name: a module warning quoting the SSM secret (stderr)
      command: echo warned
      args: {executable: "{{ ssm_secret }}"}
      changed_when: false
    - name: a module warning quoting the no_log secret
      command: echo warned
      args: {executable: "{{ nolog_secret }}"}
      no_log: true
      changed_when: false
    - name: loop no_log
      debug: msg="item {{ item }}"
      loop: ["{{ nolog_secret }}", "{{ nolog_multi }}", "{{ ssm_secret }}"]
      no_log: true
    - name: loop over SSM secrets
      debug: msg="{{ item }}"
      loop: ["{{ ssm_secret }}", "{{ ssm_multi }}", "{{ ssm_uni }}"]
    - name: failing no_log command
      command: "false {{ nolog_secret }}"
      no_log: true
      ignore_errors: true
    - name: failing no_log shell, the secret on stderr
      shell: "echo {{ nolog_secret }} >&2; exit 3"
      no_log: true
      ignore_errors: true
    - name: failing no_log loop
      command: "false {{ item }}"
      loop: ["{{ nolog_secret }}"]
      no_log: true
      ignore_errors: true
    - name: template error quoting the no_log secret
      debug: msg="{{ {}[nolog_secret] }}"
      no_log: true
      ignore_errors: true
    - name: template error quoting the SSM secret
      debug: msg="{{ {}[ssm_secret] }}"
      ignore_errors: true
    - name: assert no_log
      assert: {that: "nolog_secret == 'x'", fail_msg: "it was {{ nolog_secret }}"}
      no_log: true
      ignore_errors: true
    - name: assert quoting the SSM secret
      assert: {that: "ssm_secret == 'x'", fail_msg: "it was {{ ssm_secret }}"}
      ignore_errors: true
    - name: fail quoting the SSM secret
      fail: {msg: "the value {{ ssm_multi }} is wrong"}
      ignore_errors: true
    - name: a no_log failure, rescued
      block:
        - name: fail no_log
          fail: {msg: "boom {{ nolog_secret }}"}
          no_log: true
      rescue:
        - name: rescued
          debug: msg=rescued
    - name: derived from the SecureString, still containing it
      set_fact:
        derived: "prefix-{{ ssm_secret }}-suffix"
    - name: derived by a transformation (set_fact shows its facts; no_log)
      set_fact:
        derived_b64: "{{ ssm_secret | b64encode }}"
      no_log: true
    - name: derived, still containing the secret
      debug: var=derived
    - name: derived by a transformation, no_log
      debug: var=derived_b64
      no_log: true
    - name: set_fact no_log
      set_fact: {nolog_fact: "{{ nolog_secret }}-fact"}
      no_log: true
    - name: lineinfile no_log (a diff holding the secret)
      lineinfile: {path: "{{ out }}/li.conf", line: "token={{ nolog_secret }}", create: true}
      no_log: true
    - name: lineinfile with the SSM secret (a diff holding the secret)
      lineinfile: {path: "{{ out }}/li2.conf", line: "token={{ ssm_secret }}", create: true}
    - name: a handler notified by a no_log task
      copy: {dest: "{{ out }}/h.conf", content: "{{ nolog_secret }}\n"}
      no_log: true
      notify: restart with the secret
    - name: error path, a failing no_log task
      fail: {msg: "failed with {{ nolog_secret }}"}
      no_log: true
      when: fail_hard | default(false) | bool
    - name: error path, a bad template quoting the SSM secret
      debug: msg="{{ {}[ssm_secret] }}"
      when: bad_template | default(false) | bool
    - name: error path, a failing task showing the SSM secret
      command: "sh -c 'echo {{ ssm_secret }}; echo {{ ssm_secret }} >&2; exit 5'"
      when: fail_hard_ssm | default(false) | bool
    - name: slow, for the interrupted run
      shell: "touch {{ out }}/slow-started; sleep 3"
      when: slow | default(false) | bool
    - name: after the slow task
      debug: msg="done {{ ssm_secret }}"
  handlers:
    - name: restart with the secret
      command: echo {{ nolog_secret }}
      no_log: true
"#;

/// One output of the agent, by name.
struct Outputs {
    list: Vec<(String, Vec<u8>)>,
}

impl Outputs {
    fn add(&mut self, name: String, bytes: Vec<u8>) {
        self.list.push((name, bytes));
    }
}

struct World {
    tmp: tempfile::TempDir,
    agent: PathBuf,
    moto_url: String,
    runs: usize,
}

impl World {
    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn config(&self, endpoint_ok: bool) -> PathBuf {
        let p = self.path(if endpoint_ok {
            "agent.toml"
        } else {
            "agent-away.toml"
        });
        let attempts = if endpoint_ok { 3 } else { 1 };
        std::fs::write(
            &p,
            format!(
                "source = \"ssm:/agent/leak\"\nenvironment = \"leak\"\ncache_dir = \"{}\"\n\n[aws]\nattempts = {attempts}\nconnect_timeout_seconds = 1\noperation_timeout_seconds = 5\n\n[report]\ns3_uri = \"{REPORTS}\"\nprometheus_dir = \"{}\"\n",
                self.path("cache").display(),
                self.path("prom").display()
            ),
        )
        .unwrap();
        p
    }

    fn command(&self, args: &[String], env: &[(&str, &str)], endpoint: &str) -> Command {
        let mut c = Command::new(&self.agent);
        c.args(args)
            .current_dir(self.tmp.path())
            .env("AGENT_LOCK_FILE", self.path("run/agent.lock"))
            .env("HOME", self.path("home"))
            .env("TMPDIR", self.path("tmp"))
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AGENT_CONFIG")
            .env_remove("AGENT_LOG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// The arguments of one run: the configured source, a fresh managed directory.
    fn run_args(&mut self, base: &[&str], away: bool) -> Vec<String> {
        self.runs += 1;
        let out = self.path(&format!("out-{}", self.runs));
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        a.push("--config".into());
        a.push(self.config(!away).display().to_string());
        if base[0] != "pull" {
            a.push("-e".into());
            a.push(format!("out_dir={}", out.display()));
        }
        a
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every regular file under `dir` (symbolic links not followed), except under `skip`.
fn files_under(dir: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p);
            } else if m.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The state files as they are after one run (they are overwritten by the next).
fn snapshot(w: &World, run: &str, outputs: &mut Outputs) {
    for p in [
        w.path("cache/last_run.json"),
        w.path("prom/agent.prom"),
        w.path("cache/state.json"),
        w.path("cache/vars.json"),
    ] {
        if let Ok(b) = std::fs::read(&p) {
            let rel = p.strip_prefix(w.tmp.path()).unwrap_or(&p).display();
            outputs.add(format!("{run}: {rel}"), b);
        }
    }
}

fn search(outputs: &Outputs, secrets: &Secrets) -> (usize, usize, Vec<String>) {
    let needles = secrets.needles();
    let (mut leaked, mut searched) = (0usize, 0usize);
    let mut reports = Vec::new();
    for (name, bytes) in &outputs.list {
        searched += bytes.len();
        for (who, form, needle) in &needles {
            let mut from = 0;
            while let Some(i) = find(&bytes[from..], needle) {
                let at = from + i;
                leaked += needle.len();
                let lo = at.saturating_sub(80);
                let hi = (at + needle.len() + 80).min(bytes.len());
                let mut ctx = bytes[lo..hi].to_vec();
                // Show the context with every secret replaced by its name.
                for (w2, _, n2) in &needles {
                    ctx = replace(&ctx, n2, format!("<SECRET {w2}>").as_bytes());
                }
                reports.push(format!(
                    "LEAK: {who} ({form}) in {name} at byte {at}:\n    …{}…",
                    String::from_utf8_lossy(&ctx).replace('\n', "\n    ")
                ));
                from = at + needle.len();
            }
        }
    }
    (leaked, searched, reports)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

fn main() {
    // A test binary with harness = false still receives libtest's arguments; a filter
    // that does not name this test skips it.
    if let Some(f) = std::env::args().skip(1).find(|a| !a.starts_with('-'))
        && !"secrets_leak".contains(f.as_str())
    {
        return;
    }
    if !moto::installed() {
        assert!(
            std::env::var("AGENT_SOURCE_TESTS").as_deref() != Ok("1"),
            "moto is not installed in {} (run tests/setup-moto)",
            moto::venv().display()
        );
        println!("secrets_leak: skipped (moto not installed; run tests/setup-moto)");
        return;
    }
    let agent =
        agent_tests::find_agent(&agent_tests::workspace_root()).unwrap_or_else(|e| panic!("{e}"));
    let moto = Moto::start("us-east-1").unwrap_or_else(|e| panic!("{e}"));
    let secrets = Secrets::new();
    let mut w = World {
        tmp: tempfile::tempdir().unwrap(),
        agent,
        moto_url: moto.url(),
        runs: 0,
    };
    for d in ["home", "tmp", "prom", "run"] {
        std::fs::create_dir_all(w.path(d)).unwrap();
    }
    let t0 = Instant::now();

    // The bundle, in S3 behind its SSM pointer; the SecureStrings in SSM.
    let src = w.path("src");
    write_bundle(&src, &secrets);
    let archive = w.path("site.tar.gz");
    let o = w
        .command(
            &[
                "bundle".into(),
                src.display().to_string(),
                "-o".into(),
                archive.display().to_string(),
            ],
            &[],
            &w.moto_url,
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "agent bundle: {}", text(&o));
    let sha = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let py = |v: &str| serde_json::to_string(v).unwrap();
    let boto = |code: &str| moto.boto(code).unwrap_or_else(|e| panic!("{e}"));
    boto(&format!(
        "s3.create_bucket(Bucket='bundles')\ns3.create_bucket(Bucket='reports')\ns3.put_object(Bucket='bundles', Key='site.tar.gz', Body=open({}, 'rb').read())\nssm.put_parameter(Name='/agent/leak/bundle', Type='String', Value={})\nssm.put_parameter(Name='/agent/leak/all/greeting', Type='String', Value='hello')\nssm.put_parameter(Name='/agent/leak/all/ssm_secret', Type='SecureString', Value={})\nssm.put_parameter(Name='/agent/leak/all/ssm_multi', Type='SecureString', Value={})\nssm.put_parameter(Name='/agent/leak/web/ssm_quote', Type='SecureString', Value={})\nssm.put_parameter(Name='/agent/leak/web/ssm_uni', Type='SecureString', Value={})",
        py(&archive.display().to_string()),
        py(&format!(
            "{{\"uri\": \"s3://bundles/site.tar.gz\", \"sha256\": \"{sha}\"}}"
        )),
        py(secrets.get("ssm")),
        py(secrets.get("ssm_multi")),
        py(secrets.get("ssm_quote")),
        py(secrets.get("ssm_uni")),
    ));

    let mut outputs = Outputs { list: Vec::new() };
    let trace: &[(&str, &str)] = &[("AGENT_LOG", "trace"), ("RUST_LOG", "trace")];
    let debug: &[(&str, &str)] = &[("AGENT_LOG", "debug")];
    // (what, arguments, environment, exit codes allowed)
    type Spec<'a> = (&'a str, Vec<&'a str>, &'a [(&'a str, &'a str)], &'a [i32]);
    let mut specs: Vec<Spec> = Vec::new();
    for output in ["human", "json", "junit", "prometheus"] {
        specs.push(("apply", vec!["apply", "--output", output], debug, &[0]));
        specs.push(("check", vec!["check", "--output", output], debug, &[2]));
        specs.push((
            "apply --diff",
            vec!["apply", "--diff", "--output", output],
            &[],
            &[0],
        ));
        specs.push((
            "apply -C --diff",
            vec!["apply", "-C", "--diff", "--output", output],
            &[],
            &[0],
        ));
    }
    for v in ["-v", "-vv", "-vvv", "-vvvv"] {
        specs.push(("apply --diff -v…", vec!["apply", "--diff", v], trace, &[0]));
    }
    specs.push(("check -vvvv", vec!["check", "-vvvv"], trace, &[2]));
    specs.push((
        "check -vvvv json",
        vec!["check", "-vvvv", "--output", "json"],
        trace,
        &[2],
    ));
    specs.push(("pull", vec!["pull"], trace, &[0]));
    for output in ["human", "json", "junit", "prometheus"] {
        for (what, var) in [
            ("a failing no_log task", "fail_hard=true"),
            (
                "a failing task showing the SSM secret",
                "fail_hard_ssm=true",
            ),
            ("a bad template", "bad_template=true"),
        ] {
            specs.push((
                what,
                vec!["apply", "--diff", "-vvvv", "--output", output, "-e", var],
                trace,
                &[1],
            ));
        }
    }
    specs.push((
        "check with a failing task",
        vec!["check", "-e", "fail_hard=true"],
        trace,
        &[1],
    ));
    specs.push(("a missing playbook", vec!["apply", "nope.yml"], trace, &[1]));

    for (what, base, env, codes) in &specs {
        let args = w.run_args(base, false);
        let o = w.command(&args, env, &w.moto_url).output().unwrap();
        let code = o.status.code().unwrap_or(-1);
        let name = format!("run {} ({what}: {})", w.runs, base.join(" "));
        assert!(
            codes.contains(&code),
            "{name}: exit {code}, expected {codes:?}\n{}",
            text(&o)
        );
        outputs.add(format!("{name}: stdout"), o.stdout);
        outputs.add(format!("{name}: stderr"), o.stderr);
        snapshot(&w, &name, &mut outputs);
    }

    // An interrupted run: SIGTERM while the slow task runs; the run stops after it.
    {
        let args = w.run_args(
            &[
                "apply",
                "--diff",
                "-vvvv",
                "--output",
                "json",
                "-e",
                "slow=true",
            ],
            false,
        );
        let out_dir = w.path(&format!("out-{}", w.runs));
        // Files, not pipes: nobody reads a pipe while the run goes on.
        let cap = w.path("captured");
        std::fs::create_dir_all(&cap).unwrap();
        let (so, se) = (cap.join("stdout"), cap.join("stderr"));
        let mut child = w
            .command(&args, trace, &w.moto_url)
            .stdout(std::fs::File::create(&so).unwrap())
            .stderr(std::fs::File::create(&se).unwrap())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while !out_dir.join("slow-started").exists() {
            let gone = child.try_wait().unwrap();
            assert!(
                gone.is_none() && t.elapsed() < Duration::from_secs(120),
                "the slow task never started ({gone:?}): {}{}",
                std::fs::read_to_string(&so).unwrap_or_default(),
                std::fs::read_to_string(&se).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = child.wait().unwrap();
        let o = Output {
            status,
            stdout: std::fs::read(&so).unwrap(),
            stderr: std::fs::read(&se).unwrap(),
        };
        let name = format!("run {} (interrupted)", w.runs);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        let report = std::fs::read_to_string(w.path("cache/last_run.json")).unwrap_or_default();
        assert!(report.contains("\"interrupted\": true"), "{name}: {report}");
        outputs.add(format!("{name}: stdout"), o.stdout);
        outputs.add(format!("{name}: stderr"), o.stderr);
        snapshot(&w, &name, &mut outputs);
    }

    // The source away: the last-known-good bundle and the cached (non-secret) variables;
    // the tasks that need a secret fail.
    {
        let args = w.run_args(&["apply", "--diff", "-vvvv"], true);
        let o = w
            .command(&args, trace, "http://127.0.0.1:9")
            .output()
            .unwrap();
        let name = format!("run {} (source unreachable)", w.runs);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        outputs.add(format!("{name}: stdout"), o.stdout);
        outputs.add(format!("{name}: stderr"), o.stderr);
        snapshot(&w, &name, &mut outputs);
    }

    // The fleet view of the uploaded reports.
    for extra in [vec![], vec!["--output", "json"], vec!["-vvvv"]] {
        let mut args: Vec<String> = vec!["fleet".into(), format!("{REPORTS}/")];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = w.command(&args, trace, &w.moto_url).output().unwrap();
        let name = format!("fleet {}", extra.join(" "));
        assert!(
            matches!(o.status.code(), Some(0..=2)),
            "{name}: {}",
            text(&o)
        );
        outputs.add(format!("{name}: stdout"), o.stdout);
        outputs.add(format!("{name}: stderr"), o.stderr);
    }

    // Every S3 object written (the reports bucket, every key).
    let s3dir = w.path("s3-objects");
    std::fs::create_dir_all(&s3dir).unwrap();
    let n = boto(&format!(
        "import os\nn=0\nfor page in s3.get_paginator('list_objects_v2').paginate(Bucket='reports'):\n  for o in page.get('Contents', []):\n    n+=1\n    open(os.path.join({}, str(n)), 'wb').write(s3.get_object(Bucket='reports', Key=o['Key'])['Body'].read())\n    open(os.path.join({}, str(n)+'.key'), 'w').write(o['Key'])\nprint(n)",
        py(&s3dir.display().to_string()),
        py(&s3dir.display().to_string()),
    ));
    let objects: usize = n.parse().unwrap_or(0);
    assert!(objects >= 2, "only {objects} S3 objects");
    for i in 1..=objects {
        let key = std::fs::read_to_string(s3dir.join(format!("{i}.key"))).unwrap_or_default();
        let body = std::fs::read(s3dir.join(i.to_string())).unwrap_or_default();
        outputs.add(format!("s3://reports/{key}"), body);
    }

    // Every other file under the root, except the secrets' sources and destinations.
    let cached = w.path(&format!("cache/bundles/{sha}"));
    let mut skip = vec![
        w.path("captured"),
        src.clone(),
        archive.clone(),
        s3dir.clone(),
        cached.clone(),
        w.path(&format!("cache/bundles/{sha}.bundle")),
    ];
    for i in 1..=w.runs {
        skip.push(w.path(&format!("out-{i}")));
    }
    for f in files_under(w.tmp.path(), &skip) {
        let rel = f
            .strip_prefix(w.tmp.path())
            .unwrap_or(&f)
            .display()
            .to_string();
        if rel.ends_with(".toml") {
            continue; // written by this test
        }
        outputs.add(
            format!("file {rel} (at the end)"),
            std::fs::read(&f).unwrap(),
        );
    }
    // The cached bundle is the source, byte for byte (so nothing was written into it).
    let mut cached_files = BTreeMap::new();
    for f in files_under(&cached, &[]) {
        let rel = f.strip_prefix(&cached).unwrap().to_path_buf();
        if rel.starts_with(".complete") {
            outputs.add(
                format!("file cache/bundles/{sha}/.complete"),
                std::fs::read(&f).unwrap(),
            );
            continue;
        }
        cached_files.insert(rel, std::fs::read(&f).unwrap());
    }
    let mut src_files = BTreeMap::new();
    for f in files_under(&src, &[]) {
        let rel = f.strip_prefix(&src).unwrap().to_path_buf();
        src_files.insert(rel, std::fs::read(&f).unwrap());
    }
    assert!(
        cached_files == src_files,
        "the cached bundle differs from its source: {:?} vs {:?}",
        cached_files.keys().collect::<Vec<_>>(),
        src_files.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        hex(&Sha256::digest(
            std::fs::read(w.path(&format!("cache/bundles/{sha}.bundle"))).unwrap()
        )),
        sha
    );

    // Controls: the secrets did reach the host, and the search finds them where they are.
    let managed = std::fs::read_to_string(w.path("out-1/ssm.conf")).unwrap_or_default();
    for n in ["ssm", "ssm_multi", "ssm_quote", "ssm_uni"] {
        assert!(
            managed.contains(secrets.get(n)),
            "{n} never reached the host"
        );
    }
    let managed = std::fs::read_to_string(w.path("out-1/nolog.conf")).unwrap_or_default();
    assert!(managed.contains(secrets.get("nolog")));
    assert!(managed.contains(secrets.get("nolog_multi")));
    let control = Outputs {
        list: vec![
            (
                "control".into(),
                std::fs::read(w.path("out-1/ssm.conf")).unwrap(),
            ),
            (
                "control b64".into(),
                base64(format!("x{}", secrets.get("nolog")).as_bytes()).into_bytes(),
            ),
        ],
    };
    let (c, _, _) = search(&control, &secrets);
    assert!(
        c > 0,
        "the search finds nothing in a file holding the secrets"
    );
    // The masking is visible where a secret was printed.
    let human = String::from_utf8_lossy(&outputs.list[0].1).to_string();
    assert!(human.contains("********"), "{human}");
    assert!(
        human.contains("the output has been hidden due to the fact that 'no_log: true' was specified for this result"),
        "{human}"
    );

    // The module warning quoting a SecureString reached stderr, masked.
    assert!(
        outputs.list.iter().any(|(n, b)| n.ends_with("stderr")
            && String::from_utf8_lossy(b).contains("Not using '********'")),
        "no masked module warning on stderr"
    );

    let (leaked, searched, reports) = search(&outputs, &secrets);
    for r in &reports {
        println!("{r}");
    }
    println!(
        "secret bytes leaked: {leaked} ({} outputs, {searched} bytes searched; {} secrets in {} forms; {} agent runs, {:.0} s)",
        outputs.list.len(),
        secrets.list.len(),
        secrets.needles().len(),
        w.runs + 3,
        t0.elapsed().as_secs_f64()
    );
    if leaked > 0 {
        if std::env::var_os("LEAK_KEEP").is_some() {
            let keep = w.tmp.keep();
            println!("kept {}", keep.display());
        }
        panic!("{} leaks (see above)", reports.len());
    }
}
