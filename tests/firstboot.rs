//! First boot to drift repair, on a test host (issue 9's proof of packaging/).
//!
//! A host booted from the cloud-init image with a NoCloud seed carrying
//! packaging/cloud-init/user-data.yaml (templated: the package URL and its sha256, the
//! moto endpoint). moto's server on loopback holds the .deb and a bundle in S3 and the
//! variables in SSM. At boot cloud-init downloads the .deb, checks its sha256, installs it,
//! runs the first `agent apply` (which pulls the bundle and converges a managed file and a
//! managed service) and enables agent.timer. Then the file is changed and the service
//! stopped by hand: `agent check` exits 2 naming exactly those two tasks; `systemctl start
//! agent.service` (what the timer does) repairs both; `agent check` is clean again. The
//! units pass `systemd-analyze verify` on the host.
//!
//! The .deb is built by `packaging/build --binary $AGENT_BIN` (default
//! target/release/agent), or taken from AGENT_DEB (e.g. target/packages/agent_*.deb from a
//! full `packaging/build`, the static musl binary).
//!
//! Runs only with AGENT_HOST_TESTS=1 (as root; tests/run-all's host step); needs moto
//! (tests/setup-moto) and cargo-deb (packaging/build installs it when missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agent_tests::moto::Moto;

use agent_tests::testhost::{self, TestHost};

const T: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).expect("read file");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bundle: a managed file (with an SSM variable in it) and a managed service.
const SITE: &str = r#"- hosts: web
  gather_facts: false
  tasks:
    - name: managed file
      copy:
        dest: /etc/agent-demo.conf
        content: "greeting={{ greeting }}\n"
        mode: "0644"
    - name: unit of the managed service
      copy:
        dest: /etc/systemd/system/agent-demo.service
        content: |
          [Unit]
          Description=agent demo service
          [Service]
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
    - name: managed service
      systemd:
        name: agent-demo
        state: started
        enabled: true
        daemon_reload: true
"#;

const INVENTORY: &str = "web:\n  hosts:\n    localhost:\n      ansible_connection: local\n";

/// Replace `from` (which must occur exactly once) by `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "user-data.yaml: expected exactly one {from:?}"
    );
    text.replacen(from, to, 1)
}

/// Names of the tasks that reported a change in an `--output json` document.
fn changed_tasks(json: &str) -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    let mut names = Vec::new();
    for play in doc["plays"].as_array().into_iter().flatten() {
        for task in play["tasks"].as_array().into_iter().flatten() {
            let changed = task["hosts"]
                .as_object()
                .is_some_and(|h| h.values().any(|r| r["changed"] == true));
            if changed {
                names.push(task["task"]["name"].as_str().unwrap_or("?").to_string());
            }
        }
    }
    names
}

/// The `--output prometheus` text of a check says what the JSON `report` section of the
/// same drift says: drift, success, task counts by state, and the bundle.
fn assert_prometheus_agrees(json: &str, prom: &str) {
    let doc: serde_json::Value = serde_json::from_str(json).expect("JSON report");
    let report = &doc["report"];
    let metric = |name: &str| -> String {
        prom.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no {name} in:\n{prom}"))
            .to_string()
    };
    let drift = if report["result"] == "drift" {
        "1"
    } else {
        "0"
    };
    assert_eq!(metric("agent_drift"), drift, "agent_drift vs report.result");
    assert_eq!(metric("agent_last_run_success"), "1", "{prom}");
    let counts = &report["counts"];
    for state in ["ok", "changed", "failed", "skipped"] {
        let want = counts[state].as_u64().unwrap_or(u64::MAX).to_string();
        assert_eq!(
            metric(&format!("agent_tasks{{state=\"{state}\"}}")),
            want,
            "agent_tasks {state} vs report.counts"
        );
    }
    if let Some(sha) = report["bundle"]["sha256"].as_str() {
        assert!(
            prom.contains(&format!("agent_bundle_info{{sha256=\"{sha}\"}} 1")),
            "bundle {sha} not in:\n{prom}"
        );
    }
}

/// Whether host tests run here (AGENT_HOST_TESTS=1); says so when `what` is skipped, and
/// fails when they are asked for but test hosts cannot run.
fn host_tests(what: &str) -> bool {
    if std::env::var("AGENT_HOST_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set AGENT_HOST_TESTS=1 (as root) to run {what}");
        return false;
    }
    if let Some(why) = testhost::unavailable_reason() {
        panic!("AGENT_HOST_TESTS=1 but test hosts cannot run here: {why}");
    }
    true
}

/// The agent binary to package: AGENT_BIN, else target/release/agent.
fn agent_bin() -> PathBuf {
    std::env::var_os("AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/release/agent"))
}

/// The package of kind `ext` ("deb" or "rpm"): the file named by the environment variable
/// `var` (CI: the static musl build's), or one made from `agent_bin` by
/// `packaging/build --binary` with the real packaging metadata, in `tmp`.
fn package(var: &str, ext: &str, agent_bin: &Path, tmp: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let out = tmp.join(format!("packages-{ext}"));
    let other = if ext == "deb" { "--no-rpm" } else { "--no-deb" };
    let o = Command::new(repo().join("packaging/build"))
        .arg("--binary")
        .arg(agent_bin)
        .args([other, "--fast", "--out"])
        .arg(&out)
        .output()
        .expect("packaging/build");
    assert!(
        o.status.success(),
        "packaging/build failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_dir(&out)
        .expect("packages dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == ext))
        .unwrap_or_else(|| panic!("a .{ext} from packaging/build"))
}

fn sh(host: &TestHost, script: &str) -> testhost::Output {
    host.sh("/", script, T).expect("exec in host")
}

/// `agent check` with the units' environment, as agent-check.service would run it.
const CHECK: &str = "set -a; . /etc/agent/environment; set +a; /usr/bin/agent check --output json";

#[test]
fn first_boot_to_drift_repair() {
    if !host_tests("the first-boot test") {
        return;
    }
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let agent_bin = agent_bin();
    assert!(
        agent_bin.exists(),
        "no agent binary at {}",
        agent_bin.display()
    );

    // The package: AGENT_DEB, or built from AGENT_BIN with the real packaging metadata.
    let deb = package("AGENT_DEB", "deb", &agent_bin, tmp.path());
    let deb_sha = sha256_of(&deb);
    eprintln!("package {} ({:.1?})", deb.display(), t0.elapsed());

    // The bundle.
    let src = tmp.path().join("site");
    std::fs::create_dir_all(src.join("inventories/production")).expect("mkdir");
    std::fs::write(src.join("site.yml"), SITE).expect("write");
    std::fs::write(src.join("inventories/production/hosts.yml"), INVENTORY).expect("write");
    let bundle = tmp.path().join("site.tar.gz");
    let o = Command::new(&agent_bin)
        .arg("bundle")
        .arg(&src)
        .arg("-o")
        .arg(&bundle)
        .output()
        .expect("agent bundle");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundle_sha = sha256_of(&bundle);

    // moto: the package and the bundle in S3, the pointer and a variable in SSM. The
    // package is fetched through a presigned URL (moto refuses anonymous GETs, as S3 does).
    let moto = Moto::start("eu-west-1").unwrap_or_else(|e| panic!("{e}"));
    let deb_url = moto.boto(&format!(
        "s3.create_bucket(Bucket='fleet', CreateBucketConfiguration={{'LocationConstraint': 'eu-west-1'}})\n\
         s3.put_object(Bucket='fleet', Key='packages/agent.deb', Body=open({deb:?},'rb').read())\n\
         s3.put_object(Bucket='fleet', Key='bundles/site.tar.gz', Body=open({bundle:?},'rb').read())\n\
         ssm.put_parameter(Name='/agent/production/bundle', Type='String', Value='{{\"uri\": \"s3://fleet/bundles/site.tar.gz\", \"sha256\": \"{bundle_sha}\"}}')\n\
         ssm.put_parameter(Name='/agent/production/all/greeting', Type='String', Value='hello from ssm')\n\
         print(s3.generate_presigned_url('get_object', Params={{'Bucket': 'fleet', 'Key': 'packages/agent.deb'}}, ExpiresIn=3600))",
        deb = deb.display().to_string(),
        bundle = bundle.display().to_string(),
    )).unwrap_or_else(|e| panic!("{e}"));

    // The seed: the example user-data, pointed at moto.
    let user_data = std::fs::read_to_string(repo().join("packaging/cloud-init/user-data.yaml"))
        .expect("read user-data.yaml");
    let user_data = replace_once(
        &user_data,
        "AGENT_URL=\"https://downloads.example.com/agent/agent_0.1.0-1_amd64.deb\"",
        &format!("AGENT_URL=\"{deb_url}\""),
    );
    let user_data = replace_once(
        &user_data,
        &format!("AGENT_SHA256=\"{}\"", "0".repeat(64)),
        &format!("AGENT_SHA256=\"{deb_sha}\""),
    );
    let user_data = replace_once(
        &user_data,
        "      AGENT_LOG=info\n",
        &format!(
            "      AGENT_LOG=info\n      AWS_ENDPOINT_URL={}\n      AWS_ACCESS_KEY_ID=testing\n      AWS_SECRET_ACCESS_KEY=testing\n      AWS_EC2_METADATA_DISABLED=true\n",
            moto.url()
        ),
    );
    let seed = tmp.path().join("seed");
    std::fs::create_dir_all(&seed).expect("mkdir seed");
    std::fs::write(seed.join("user-data"), user_data).expect("write user-data");
    std::fs::write(
        seed.join("meta-data"),
        "instance-id: i-firstboot-test\nlocal-hostname: firstboot\n",
    )
    .expect("write meta-data");

    // First boot: returns once systemd is up, i.e. after cloud-final (and so the first run).
    let tb = Instant::now();
    let host = TestHost::boot_cloud_init(&format!("fb{}", std::process::id()), &seed)
        .expect("boot the cloud-init host");
    eprintln!("first boot done in {:.1?}", tb.elapsed());

    let o = sh(
        &host,
        "cloud-init status --long; cat /var/log/cloud-init-output.log",
    );
    let log = o.stdout.clone();
    assert!(
        log.contains("status: done"),
        "cloud-init did not finish cleanly:\n{log}"
    );
    assert!(
        log.contains("agent-firstboot: first run converged the host (exit 0)"),
        "first run:\n{log}"
    );
    let o = sh(
        &host,
        "dpkg-query -W -f '${Status} ${Version}\\n' agent; stat -c '%a %U' /etc/agent/agent.toml /var/lib/agent; cat /etc/agent-demo.conf; systemctl is-active agent-demo; systemctl is-enabled agent.timer; systemctl is-active agent.timer",
    );
    assert!(o.success(), "state after first boot:\n{}", o.tail(30));
    assert_eq!(
        o.stdout,
        "install ok installed 0.1.0-1\n600 root\n700 root\ngreeting=hello from ssm\nactive\nenabled\nactive\n",
        "state after first boot"
    );
    // The written configuration survived the package's conffile.
    let o = sh(
        &host,
        "grep -c '^source = \"ssm:/agent/production\"' /etc/agent/agent.toml",
    );
    assert_eq!(o.stdout.trim(), "1", "{}", o.tail(10));

    // The units as installed are valid.
    let o = sh(
        &host,
        "cd /usr/lib/systemd/system && systemd-analyze verify agent.service agent.timer agent-check.service agent-check.timer 2>&1",
    );
    assert!(
        o.success() && o.stdout.trim().is_empty(),
        "systemd-analyze verify:\n{}",
        o.tail(30)
    );

    // Converged: check is clean.
    let o = sh(&host, CHECK);
    assert_eq!(o.status, 0, "check after first boot:\n{}", o.tail(40));
    assert!(changed_tasks(&o.stdout).is_empty(), "{}", o.stdout);

    // Drift by hand: the file changed, the service stopped.
    let o = sh(
        &host,
        "echo edited-by-hand > /etc/agent-demo.conf && systemctl stop agent-demo",
    );
    assert!(o.success(), "{}", o.tail(10));
    let o = sh(&host, CHECK);
    assert_eq!(o.status, 2, "check after drift:\n{}", o.tail(40));
    assert_eq!(
        changed_tasks(&o.stdout),
        ["managed file", "managed service"],
        "drift reported"
    );
    // The Prometheus form of the same check agrees with the JSON report section.
    let json = o.stdout.clone();
    let o = sh(
        &host,
        &CHECK.replace("--output json", "--output prometheus"),
    );
    assert_eq!(o.status, 2, "prometheus check after drift:\n{}", o.tail(40));
    assert_prometheus_agrees(&json, &o.stdout);
    // Check mode changed nothing.
    let o = sh(
        &host,
        "cat /etc/agent-demo.conf; systemctl is-active agent-demo || true",
    );
    assert_eq!(o.stdout, "edited-by-hand\ninactive\n");

    // The timer's unit repairs it.
    let o = sh(
        &host,
        "systemctl start agent.service; echo rc=$?; systemctl show -p Result -p ExecMainStatus agent.service",
    );
    assert_eq!(
        o.stdout,
        "rc=0\nResult=success\nExecMainStatus=0\n",
        "agent.service:\n{}",
        o.tail(20)
    );
    let o = sh(
        &host,
        "cat /etc/agent-demo.conf; systemctl is-active agent-demo",
    );
    assert_eq!(
        o.stdout, "greeting=hello from ssm\nactive\n",
        "after agent.service"
    );
    let o = sh(&host, CHECK);
    assert_eq!(o.status, 0, "check after repair:\n{}", o.tail(40));
    assert!(changed_tasks(&o.stdout).is_empty(), "{}", o.stdout);
    eprintln!("first boot to drift repair: ok in {:.1?}", t0.elapsed());

    installed_binary_under_faults(&host);
    eprintln!(
        "first boot, drift repair and faults: ok in {:.1?}",
        t0.elapsed()
    );
}

/// A playbook whose middle task takes 3 s: the window for a second run, a SIGKILL and a
/// SIGTERM.
const SLOW: &str = r#"- hosts: localhost
  gather_facts: false
  tasks:
    - name: directory
      file: {path: /etc/fb-faults, state: directory, mode: "0755"}
    - name: before
      copy: {dest: /etc/fb-faults/before.conf, content: "{{ v }}\n", mode: "0644"}
    - name: sleep
      command: sleep 3
    - name: after
      copy: {dest: /etc/fb-faults/after.conf, content: "{{ v }}\n", mode: "0644"}
"#;

/// The packaged binary as installed (/usr/bin/agent, its /run/agent lock, its
/// /var/lib/agent): two runs at once (exactly one proceeds, the other exits 3 naming the
/// holder), SIGKILL of the whole process group in the middle of apply (no temporary or
/// partial file, the lock free, the next run converges, check clean), SIGTERM in the
/// middle of a task (the task finishes, the next does not start, exit 1, last_run.json
/// says interrupted, the lock free).
fn installed_binary_under_faults(host: &TestHost) {
    let o = sh(
        host,
        &format!("mkdir -p /root/fb && cat > /root/fb/slow.yml <<'EOF'\n{SLOW}EOF\n"),
    );
    assert!(o.success(), "{}", o.tail(10));
    const WAIT_SLEEP: &str =
        "for i in $(seq 1 200); do grep -q 'TASK \\[sleep\\]' $LOG && break; sleep 0.05; done";
    let o = sh(
        host,
        &format!(
            "cd /root/fb; rm -rf /etc/fb-faults; \
             setsid /usr/bin/agent apply slow.yml -e v=1 >a.log 2>&1 & a=$!; \
             LOG=a.log; {WAIT_SLEEP}; \
             /usr/bin/agent apply slow.yml -e v=1 >b.log 2>&1; echo second_rc=$?; \
             grep -q 'another agent run holds the lock' b.log && echo said=holder; \
             kill -KILL -$a; wait $a; echo killed_rc=$?; \
             flock -n /run/agent/agent.lock true && echo lock=free; \
             echo temps=$(ls -A /etc/fb-faults | grep -c ansible_tmp); \
             /usr/bin/agent apply slow.yml -e v=2 >c.log 2>&1; echo next_rc=$?; \
             cat /etc/fb-faults/before.conf /etc/fb-faults/after.conf; \
             /usr/bin/agent check slow.yml -e v=2 >d.log 2>&1; echo check_rc=$?"
        ),
    );
    assert_eq!(
        o.stdout,
        "second_rc=3\nsaid=holder\nkilled_rc=137\nlock=free\ntemps=0\nnext_rc=0\n2\n2\ncheck_rc=0\n",
        "two runs at once, then SIGKILL in the middle of apply:\n{}\n{}",
        o.tail(20),
        sh(host, "cd /root/fb; tail -n 20 a.log b.log c.log d.log").stdout
    );
    let o = sh(
        host,
        &format!(
            "cd /root/fb; \
             setsid /usr/bin/agent apply slow.yml -e v=3 >e.log 2>&1 & e=$!; \
             LOG=e.log; {WAIT_SLEEP}; sleep 0.3; kill -TERM $e; wait $e; echo term_rc=$?; \
             flock -n /run/agent/agent.lock true && echo lock=free; \
             cat /etc/fb-faults/before.conf /etc/fb-faults/after.conf; \
             grep -q 'interrupted by SIGTERM' e.log && echo said=interrupted"
        ),
    );
    assert_eq!(
        o.stdout,
        "term_rc=1\nlock=free\n3\n2\nsaid=interrupted\n",
        "SIGTERM in the middle of a task:\n{}\n{}",
        o.tail(20),
        sh(host, "tail -n 20 /root/fb/e.log").stdout
    );
    let doc = sh(host, "cat /var/lib/agent/last_run.json").stdout;
    let report: serde_json::Value = serde_json::from_str(&doc).unwrap_or(serde_json::Value::Null);
    assert_eq!(
        (
            &report["report"]["interrupted"],
            &report["report"]["result"]
        ),
        (
            &serde_json::Value::Bool(true),
            &serde_json::Value::from("failed")
        ),
        "last_run.json after SIGTERM:\n{doc}"
    );
    eprintln!("installed binary: two runs at once, SIGKILL mid-apply, SIGTERM mid-task: ok");
}

/// The .rpm installs (rpm from Debian's `rpm` package, in a test host booted with systemd):
/// the binary runs, the files verify (`rpm -V`: modes, owners, digests), /var/lib/agent is
/// 0700, the units load and none is enabled, and `rpm -e` removes it again. The package is
/// AGENT_RPM, or built from AGENT_BIN by `packaging/build --binary`.
#[test]
fn rpm_installs_and_removes() {
    if !host_tests("the .rpm test") {
        return;
    }
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let agent_bin = agent_bin();
    let rpm = package("AGENT_RPM", "rpm", &agent_bin, tmp.path());
    let mut host =
        TestHost::boot(&format!("rpm{}", std::process::id()), false).expect("boot a test host");
    host.copy_in(&rpm, "/root/agent.rpm")
        .expect("copy the .rpm");
    let o = host
        .exec(
            &[
                "/bin/sh",
                "-c",
                "command -v rpm >/dev/null || { apt-get update -qq && \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rpm >/dev/null; }",
            ],
            Duration::from_secs(300),
        )
        .expect("install rpm");
    assert!(o.success(), "apt-get install rpm:\n{}", o.tail(20));
    // --nodeps: Debian's rpm database knows nothing of /bin/sh (the scriptlets' need).
    let o = sh(
        &host,
        "rpm -i --nodeps /root/agent.rpm && rpm -q agent && rpm -V --nodeps agent && echo verified; \
         /usr/bin/agent --version | head -n 1 | cut -d' ' -f1; \
         stat -c '%a %U' /var/lib/agent /etc/agent/agent.toml /etc/agent/environment; \
         systemctl is-enabled agent.timer agent-check.timer; \
         cd /usr/lib/systemd/system && systemd-analyze verify agent.service agent.timer \
         agent-check.service agent-check.timer 2>&1 && echo units-ok",
    );
    assert_eq!(
        o.stdout,
        "agent-0.1.0-1.x86_64\nverified\nagent\n700 root\n600 root\n600 root\ndisabled\ndisabled\nunits-ok\n",
        "rpm -i:\n{}",
        o.tail(30)
    );
    // Enabled, then removed: the timers are disabled and stopped, the files gone.
    let o = sh(
        &host,
        "systemctl enable --now agent-check.timer >/dev/null 2>&1; \
         rpm -e agent && echo removed; test -e /usr/bin/agent || echo binary-gone; \
         systemctl is-active agent-check.timer; \
         test -e /usr/lib/systemd/system/agent.timer || echo units-gone",
    );
    assert_eq!(
        o.stdout,
        "removed\nbinary-gone\ninactive\nunits-gone\n",
        "rpm -e:\n{}",
        o.tail(30)
    );
    let _ = host.stop();
    eprintln!(
        "rpm: installs, verifies and removes: ok in {:.1?}",
        t0.elapsed()
    );
}
