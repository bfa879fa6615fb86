//! Runs selected targets of ansible-core's own integration tests (`test/integration/targets/`
//! of the 2.21.5 sdist, fetched by `tests/integration/fetch`) the way ansible-test runs a
//! role-style target: a generated play for `testhost` (local connection) with
//! `output_dir` set and the target as its only role; roles (and `meta/` dependencies such as
//! `setup_remote_tmp_dir`) are found in the targets directory. A target passes when the run
//! exits 0 and its recap shows failed=0 unreachable=0.
//!
//! A script target (`runme.sh` and no `tasks/main.yml`) runs its `runme.sh` as ansible-test
//! does: in a copy of the target whose `../../inventory` is ansible-test's inventory, with
//! `ansible-playbook` on `PATH` (under the agent, a wrapper: see
//! `support::playbook_wrapper`); it passes when the script exits 0.
//!
//! Environment:
//! - `INTEGRATION_TARGETS`: comma-separated names; only these run (default: targets.txt).
//! - `INTEGRATION_LIVE=1`: run real ansible-playbook instead of the agent.
//! - `INTEGRATION_RECORD=FILE`: write the results as `ansible-results.txt` lines.
//! - `INTEGRATION_REPORT=FILE`: write the markdown table rows of docs/compat.md.
//! - `INTEGRATION_STRICT=1`: exit 1 when a target fails (default: always exit 0).
//! - `AGENT_HOST_TESTS=1`: run `needs/root` targets (group 3: apt, service, user, ...) each
//!   on its own freshly booted test host (`tests/testhost`, the `--integration` image: the
//!   Ansible image plus what the targets expect of a Debian host); the agent binary and the
//!   targets are copied in, the apt lists are refreshed, then the play runs inside. Live
//!   (`INTEGRATION_LIVE=1`), the ansible-core 2.21.5 venv and its Python 3.12 (the host's
//!   own Python is 3.11, too old for it) are copied in at the same paths and run there;
//!   modules run with the host's /usr/bin/python3.
//! - `INTEGRATION_GROUPS`: comma-separated group ids of targets.txt; only these run.
//! - `INTEGRATION_ROOT=1`: run `needs/root` targets right here (on a disposable machine).
//! - `INTEGRATION_TIMEOUT`: seconds per target (default 30 for the agent, 600 live).
//! - `INTEGRATION_VERBOSE=1`: print the output of failing runs.
//! - `AGENT_BIN`, `ANSIBLE_VENV` (default /work/ansible-venv if present, else
//!   ~/.cache/agent/ansible-2.21.5), `INTEGRATION_TARGETS_DIR` (default target/ansible-targets).

mod support;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use agent_tests::testhost::TestHost;
use agent_tests::{find_agent, workspace_root};
use support::{TargetEntry, Verdict};

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("ANSIBLE_VENV") {
        return PathBuf::from(v);
    }
    let work = PathBuf::from("/work/ansible-venv");
    if work.join("bin/python").is_file() {
        return work;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/agent/ansible-2.21.5")
}

/// Run `fetch` and return the targets directory.
fn fetch_targets(root: &Path) -> Result<PathBuf, String> {
    let script = root.join("tests/integration/fetch");
    let mut cmd = Command::new(&script);
    if let Some(dir) = std::env::var_os("INTEGRATION_TARGETS_DIR") {
        cmd.arg(dir);
    }
    let out = cmd
        .env("ANSIBLE_VENV", venv())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed ({})", script.display(), out.status));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dir = PathBuf::from(dir.lines().last().unwrap_or(""));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("{} printed no directory", script.display()))
    }
}

enum Runner {
    Agent(PathBuf),
    Ansible(PathBuf),
}

struct Run {
    verdict: Verdict,
    secs: f64,
}

/// One target to run: its name in the targets directory, its aliases, and whether its
/// `runme.sh` runs although it has `tasks/` too (`script` in targets.txt).
struct Target<'a> {
    name: &'a str,
    aliases: &'a [String],
    script: bool,
}

/// Run one target in a fresh scratch directory; the combined output goes to `log`.
fn run_target(
    runner: &Runner,
    targets: &Path,
    collections: Option<&Path>,
    target: &Target<'_>,
    log: &Path,
    timeout: Duration,
) -> Result<Run, String> {
    let (name, aliases, script) = (target.name, target.aliases, target.script);
    let scratch = tempfile::Builder::new()
        .prefix(&format!("agent-it-{name}-"))
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let dir = scratch.path();
    let output_dir = dir.join("output_dir");
    fs::create_dir_all(&output_dir).map_err(|e| format!("{}: {e}", output_dir.display()))?;
    if script || support::is_script(&targets.join(name)) {
        return run_script(runner, targets, name, dir, log, timeout);
    }
    let python = controller_python();
    let play = dir.join(format!("{name}-play.yml"));
    let write = |path: &Path, text: &str| {
        fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(
        &play,
        &support::play_json(name, &output_dir, support::gather_facts(aliases)),
    )?;
    let inventory = dir.join("inventory");
    write(&inventory, &support::inventory_text(&python))?;

    let mut cmd = match runner {
        Runner::Agent(bin) => {
            let mut cmd = Command::new(bin);
            cmd.arg("apply")
                // Targets run in parallel: each has its own run lock.
                .env("AGENT_LOCK_FILE", dir.join("agent.lock"));
            // The target's own `ansible-playbook` runs are the agent's too.
            let mut path = install_wrapper(bin, dir)?.into_os_string();
            if let Some(old) = std::env::var_os("PATH") {
                path.push(":");
                path.push(old);
            }
            cmd.env("PATH", path);
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("ANSIBLE_") {
                    cmd.env_remove(key);
                }
            }
            cmd.arg("--roles-path").arg(targets);
            cmd
        }
        Runner::Ansible(venv) => {
            let mut cmd = Command::new(venv.join("bin/ansible-playbook"));
            let config = dir.join("ansible.cfg");
            write(&config, "")?;
            let mut path = venv.join("bin").into_os_string();
            if let Some(old) = std::env::var_os("PATH") {
                path.push(":");
                path.push(old);
            }
            // What ansible-test sets (ansible_util.ansible_environment and
            // integration_environment), minus its callbacks.
            cmd.env("PATH", path)
                .env("ANSIBLE_CONFIG", &config)
                .env("ANSIBLE_HOME", dir.join("ansible-home"))
                .env("ANSIBLE_PLAYBOOK_DIR", dir)
                .env("ANSIBLE_ROLES_PATH", targets);
            if let Some(c) = collections {
                cmd.env("ANSIBLE_COLLECTIONS_PATH", c);
            }
            // The inventory names the interpreter here.
            for (k, v) in ansible_test_env()
                .into_iter()
                .filter(|(k, _)| *k != "ANSIBLE_PYTHON_INTERPRETER")
            {
                cmd.env(k, v);
            }
            cmd
        }
    };
    cmd.arg(&play)
        .arg("-i")
        .arg(&inventory)
        .env("OUTPUT_DIR", &output_dir)
        .env("INVENTORY_PATH", &inventory)
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .current_dir(dir);
    if matches!(runner, Runner::Agent(_)) {
        // The agent configures one host: the inventory's `testhost`.
        cmd.arg("--force-handlers").arg("--limit").arg("testhost");
    }
    let started = Instant::now();
    let status = run_logged(&mut cmd, log, timeout)?;
    let secs = started.elapsed().as_secs_f64();
    let Some(status) = status else {
        return Ok(Run {
            verdict: Verdict::Fail(format!("timed out after {}s", timeout.as_secs())),
            secs,
        });
    };
    let output = fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let output = String::from_utf8_lossy(&output);
    Ok(Run {
        verdict: support::verdict(&output, status),
        secs,
    })
}

/// Run `cmd` in its own process group with its output (and the command line first) in
/// `log`; its exit code, or None when it ran out of time (the group is killed).
fn run_logged(cmd: &mut Command, log: &Path, timeout: Duration) -> Result<Option<i32>, String> {
    let mut file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let _ = writeln!(file, "$ {}", line.join(" "));
    let file2 = file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.stdin(Stdio::null())
        .process_group(0)
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(file2));
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cmd.get_program().to_string_lossy()))?;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status.code().unwrap_or(-1))),
            Ok(None) if started.elapsed() > timeout => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for the run: {e}")),
        }
    }
}

/// Run a script target as ansible-test does: `./runme.sh` in a copy of the target, whose
/// `../../inventory` is ansible-test's inventory and whose sibling targets are the other
/// targets (linked); `ansible-playbook` on `PATH` is the agent's wrapper, or the venv's.
/// It passes when the script exits 0.
fn run_script(
    runner: &Runner,
    targets: &Path,
    name: &str,
    dir: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<Run, String> {
    let integration = dir.join("integration");
    let copies = integration.join("targets");
    fs::create_dir_all(&copies).map_err(|e| format!("{}: {e}", copies.display()))?;
    let entries = fs::read_dir(targets).map_err(|e| format!("{}: {e}", targets.display()))?;
    for entry in entries.flatten() {
        if entry.file_name() != name {
            let link = copies.join(entry.file_name());
            std::os::unix::fs::symlink(entry.path(), &link)
                .map_err(|e| format!("{}: {e}", link.display()))?;
        }
    }
    // The script may write into its own directory: a copy, modes kept.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(targets.join(name))
        .arg(&copies)
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if !copied.success() {
        return Err(format!("copying target {name} failed ({copied})"));
    }
    let cwd = copies.join(name);
    let inventory = integration.join("inventory");
    let output_dir = dir.join("output_dir");
    fs::write(&inventory, support::inventory_text(&controller_python()))
        .map_err(|e| format!("{}: {e}", inventory.display()))?;
    let config = integration.join("integration.cfg");
    fs::write(&config, "").map_err(|e| format!("{}: {e}", config.display()))?;
    let bin_dir = match runner {
        Runner::Agent(bin) => install_wrapper(bin, dir)?,
        Runner::Ansible(venv) => venv.join("bin"),
    };
    let mut path = bin_dir.into_os_string();
    if let Some(old) = std::env::var_os("PATH") {
        path.push(":");
        path.push(old);
    }
    let mut cmd = Command::new("./runme.sh");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ANSIBLE_") {
            cmd.env_remove(key);
        }
    }
    for (k, v) in ansible_test_env()
        .into_iter()
        .filter(|(k, _)| *k != "ANSIBLE_PYTHON_INTERPRETER")
    {
        cmd.env(k, v);
    }
    if let Runner::Agent(_) = runner {
        // Ansible runs the implicit localhost's Python modules (a target's `library/`)
        // with its own interpreter (`ansible_playbook_python`); the agent has none and
        // takes the one this variable names.
        cmd.env("ANSIBLE_PYTHON_INTERPRETER", controller_python());
    }
    cmd.env("PATH", path)
        .env("ANSIBLE_CONFIG", &config)
        .env("ANSIBLE_HOME", dir.join("ansible-home"))
        .env("ANSIBLE_PLAYBOOK_DIR", &cwd)
        .env("OUTPUT_DIR", &output_dir)
        .env("INVENTORY_PATH", &inventory)
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .current_dir(&cwd);
    let started = Instant::now();
    let status = run_logged(&mut cmd, log, timeout)?;
    let secs = started.elapsed().as_secs_f64();
    let verdict = match status {
        None => Verdict::Fail(format!("timed out after {}s", timeout.as_secs())),
        Some(rc) => {
            let output = fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
            support::script_verdict(&String::from_utf8_lossy(&output), rc)
        }
    };
    Ok(Run { verdict, secs })
}

/// The Python of ansible-test's inventory: the venv's, else the system's.
fn controller_python() -> PathBuf {
    let p = venv().join("bin/python");
    if p.is_file() {
        p
    } else {
        PathBuf::from("/usr/bin/python3")
    }
}

/// Write the agent's `ansible-playbook` wrapper (and its nested configuration) under
/// `dir`; the directory to put first on `PATH`.
fn install_wrapper(bin: &Path, dir: &Path) -> Result<PathBuf, String> {
    let bin_dir = dir.join("bin");
    fs::create_dir_all(&bin_dir).map_err(|e| format!("{}: {e}", bin_dir.display()))?;
    let agent = fs::canonicalize(bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let wrapper = bin_dir.join("ansible-playbook");
    fs::write(&wrapper, support::playbook_wrapper(&agent, dir))
        .map_err(|e| format!("{}: {e}", wrapper.display()))?;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", wrapper.display()))?;
    let adhoc = bin_dir.join("ansible");
    fs::write(&adhoc, support::adhoc_wrapper()).map_err(|e| format!("{}: {e}", adhoc.display()))?;
    fs::set_permissions(&adhoc, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", adhoc.display()))?;
    let config = dir.join("nested.toml");
    fs::write(&config, support::nested_config(dir))
        .map_err(|e| format!("{}: {e}", config.display()))?;
    Ok(bin_dir)
}

/// Where the targets and the run's files go inside a test host: the targets where they
/// sit in ansible-core's tree, so that `role_path/../../../lib/ansible_test/...`
/// (setup_remote_constraints) is ansible-test's own file.
const HOST_TARGETS: &str = "/opt/ansible-core/test/integration/targets";
const HOST_TEST_LIB: &str = "/opt/ansible-core/test/lib";
/// Where a collection target's collections go (real Ansible's ANSIBLE_COLLECTIONS_PATH).
const HOST_COLLECTIONS: &str = "/opt/ansible-collections";
const HOST_DIR: &str = "/root/it";
/// Where `TestHost::install_agent` puts the agent.
const HOST_AGENT: &str = "/usr/local/bin/agent";

/// Run one `needs/root` target on a fresh test host: boot it, copy in the agent and the
/// targets, refresh apt's lists (the image ships none), run the play inside, stop it.
fn run_target_on_host(
    runner: &Runner,
    targets: &Path,
    collections: Option<&Path>,
    name: &str,
    aliases: &[String],
    log: &Path,
    timeout: Duration,
) -> Result<Run, String> {
    let started = Instant::now();
    let host = TestHost::boot_unique_image(&format!("it-{name}"), Some("--integration"))
        .map_err(|e| format!("test host: {e}"))?;
    let step = |what: &str, r: Result<agent_tests::testhost::Output, _>| match r {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => Err(format!("{what}: {}", o.tail(5))),
        Err(e) => Err(format!("{what}: {e}")),
    };
    // Live: this machine's ansible-core 2.21.5 venv and the Python it was made with (the
    // same Debian release as the host) are copied in at the same paths, so the host runs
    // the very ansible-playbook that recorded groups 1 and 2.
    let mut playbook = String::new();
    match runner {
        Runner::Agent(bin) => host
            .install_agent(bin)
            .map_err(|e| format!("installing the agent: {e}"))?,
        Runner::Ansible(venv) => {
            let venv = fs::canonicalize(venv).map_err(|e| format!("{}: {e}", venv.display()))?;
            let python = fs::canonicalize(venv.join("bin/python"))
                .map_err(|e| format!("the venv's python: {e}"))?;
            let prefix = python
                .parent()
                .and_then(Path::parent)
                .ok_or("the venv's python has no prefix")?;
            for dir in [prefix, venv.as_path()] {
                host.copy_in(dir, &dir.to_string_lossy())
                    .map_err(|e| format!("copying {}: {e}", dir.display()))?;
            }
            playbook = venv.join("bin/ansible-playbook").display().to_string();
        }
    }
    host.copy_in(targets, HOST_TARGETS)
        .map_err(|e| format!("copying the targets: {e}"))?;
    if let Some(c) = collections {
        host.copy_in(c, HOST_COLLECTIONS)
            .map_err(|e| format!("copying the collections: {e}"))?;
    }
    let test_lib = targets.join(".ansible-test/lib");
    if test_lib.is_dir() {
        host.copy_in(&test_lib, HOST_TEST_LIB)
            .map_err(|e| format!("copying ansible-test's lib: {e}"))?;
    }
    step(
        "apt-get update",
        host.exec(&["apt-get", "update", "-q"], Duration::from_secs(300)),
    )?;
    let httptester = support::needs_httptester(aliases);
    if httptester {
        start_httptester(&host)?;
    }
    let output_dir = format!("{HOST_DIR}/output_dir");
    let play = support::play_json(name, Path::new(&output_dir), support::gather_facts(aliases));
    let inventory = support::inventory_text(Path::new("/usr/bin/python3"));
    let mut script = format!(
        "mkdir -p {output_dir} && cat > {HOST_DIR}/{name}-play.yml <<'PLAY'\n{play}PLAY\n\
         cat > {HOST_DIR}/inventory <<'INV'\n{inventory}INV\n"
    );
    if let Runner::Agent(_) = runner {
        // The target's own `ansible-playbook` runs are the agent's too.
        let dir = Path::new(HOST_DIR);
        let wrapper = support::playbook_wrapper(Path::new(HOST_AGENT), dir);
        let config = support::nested_config(dir);
        script.push_str(&format!(
            "mkdir -p {HOST_DIR}/bin && cat > {HOST_DIR}/bin/ansible-playbook <<'WRAP'\n\
             {wrapper}WRAP\nchmod 755 {HOST_DIR}/bin/ansible-playbook\n\
             cat > {HOST_DIR}/nested.toml <<'CONF'\n{config}CONF\n"
        ));
        playbook = format!("{HOST_DIR}/bin/ansible-playbook");
    }
    step(
        "writing the play",
        host.exec(&["/bin/sh", "-c", &script], Duration::from_secs(60)),
    )?;
    let play_path = format!("{HOST_DIR}/{name}-play.yml");
    let inv_path = format!("{HOST_DIR}/inventory");
    let mut argv: Vec<String> = vec![
        "env".into(),
        "LANG=C.UTF-8".into(),
        "LC_ALL=C.UTF-8".into(),
        // Live, the venv's bin comes first, as ansible-test puts it (targets run
        // ansible-playbook themselves).
        format!(
            "PATH={}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            Path::new(&playbook)
                .parent()
                .map(|d| format!("{}:", d.display()))
                .unwrap_or_default()
        ),
        "HOME=/root".into(),
        format!("OUTPUT_DIR={output_dir}"),
        format!("INVENTORY_PATH={inv_path}"),
    ];
    if httptester {
        // What ansible-test sets when the httptester container is linked: the targets'
        // prepare_http_tests then fetches its CA and client certificate.
        argv.push("HTTPTESTER=1".into());
    }
    match runner {
        Runner::Agent(_) => argv.extend(
            [
                HOST_AGENT,
                "apply",
                &play_path,
                "-i",
                &inv_path,
                "--roles-path",
                HOST_TARGETS,
                "--force-handlers",
                "--limit",
                "testhost",
            ]
            .map(String::from),
        ),
        Runner::Ansible(_) => {
            for (k, v) in ansible_test_env() {
                argv.push(format!("{k}={v}"));
            }
            argv.extend([
                format!("ANSIBLE_CONFIG={HOST_DIR}/ansible.cfg"),
                format!("ANSIBLE_HOME={HOST_DIR}/ansible-home"),
                format!("ANSIBLE_PLAYBOOK_DIR={HOST_DIR}"),
                format!("ANSIBLE_ROLES_PATH={HOST_TARGETS}"),
            ]);
            if collections.is_some() {
                argv.push(format!("ANSIBLE_COLLECTIONS_PATH={HOST_COLLECTIONS}"));
            }
            argv.extend([
                playbook.clone(),
                play_path.clone(),
                "-i".into(),
                inv_path.clone(),
            ]);
        }
    }
    let line = format!("cd {HOST_DIR} && touch ansible.cfg && exec \"$@\"");
    let mut args: Vec<&str> = vec!["/bin/sh", "-c", &line, "sh"];
    args.extend(argv.iter().map(String::as_str));
    let out = host
        .exec(&args, timeout)
        .map_err(|e| format!("running the play: {e}"))?;
    let text = format!("$ {}\n{}{}", argv.join(" "), out.stdout, out.stderr);
    fs::write(log, &text).map_err(|e| format!("{}: {e}", log.display()))?;
    let verdict = if out.status == -1 {
        Verdict::Fail(format!("timed out after {}s", timeout.as_secs()))
    } else {
        support::verdict(&text, out.status)
    };
    drop(host);
    Ok(Run {
        verdict,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// The names ansible-test's httptester container answers to.
const HTTPTESTER_NAMES: &str = "ansible.http.tests sni1.ansible.http.tests fail.ansible.http.tests self-signed.ansible.http.tests";

/// Start `httptester.py` inside `host` as a transient unit, with its names in /etc/hosts,
/// and wait until it answers.
fn start_httptester(host: &TestHost) -> Result<(), String> {
    let script = workspace_root().join("tests/integration/httptester.py");
    host.copy_in(&script, "/usr/local/bin/httptester.py")
        .map_err(|e| format!("copying httptester.py: {e}"))?;
    let setup = format!(
        "set -e; printf '127.0.0.1\\t%s\\n' '{HTTPTESTER_NAMES}' >> /etc/hosts; \
         systemd-run --unit=httptester --collect /usr/bin/python3 /usr/local/bin/httptester.py \
         /var/lib/httptester >/dev/null; \
         for i in $(seq 1 100); do \
           if python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 443), 1)' 2>/dev/null; \
           then exit 0; fi; sleep 0.2; done; \
         journalctl -u httptester --no-pager | tail -20; exit 1"
    );
    match host.exec(&["/bin/sh", "-c", &setup], Duration::from_secs(120)) {
        Ok(o) if o.success() => Ok(()),
        Ok(o) => Err(format!("starting httptester.py: {}", o.tail(20))),
        Err(e) => Err(format!("starting httptester.py: {e}")),
    }
}

/// What ansible-test sets (ansible_util.ansible_environment and integration_environment),
/// minus its callbacks and the paths of one run.
fn ansible_test_env() -> [(&'static str, &'static str); 13] {
    [
        ("ANSIBLE_FORCE_COLOR", "false"),
        ("ANSIBLE_NOCOLOR", "1"),
        ("ANSIBLE_FORCE_HANDLERS", "true"),
        ("ANSIBLE_HOST_PATTERN_MISMATCH", "error"),
        ("ANSIBLE_INVENTORY", "/dev/null"),
        ("ANSIBLE_DEPRECATION_WARNINGS", "false"),
        ("ANSIBLE_HOST_KEY_CHECKING", "false"),
        ("ANSIBLE_RETRY_FILES_ENABLED", "false"),
        ("ANSIBLE_LIBRARY", "/dev/null"),
        ("ANSIBLE_DEVEL_WARNING", "false"),
        ("ANSIBLE_STDOUT_CALLBACK", "default"),
        ("PAGER", "/bin/cat"),
        ("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3"),
    ]
}

/// A roles directory in which target `name` is a copy without the list items `drops`
/// names and, with `script_lines`, with only that many lines of its `runme.sh`; every
/// other target is a link to its original. `None` when nothing is left out.
fn patched_copy(
    roles_dir: &Path,
    name: &str,
    drops: &[support::Drop],
    script_lines: Option<usize>,
) -> Result<Option<tempfile::TempDir>, String> {
    if drops.is_empty() && script_lines.is_none() {
        return Ok(None);
    }
    let tmp = tempfile::Builder::new()
        .prefix(&format!("agent-it-roles-{name}-"))
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let entries = fs::read_dir(roles_dir).map_err(|e| format!("{}: {e}", roles_dir.display()))?;
    for entry in entries.flatten() {
        if entry.file_name() != name {
            let link = tmp.path().join(entry.file_name());
            std::os::unix::fs::symlink(entry.path(), &link)
                .map_err(|e| format!("{}: {e}", link.display()))?;
        }
    }
    let copied = Command::new("cp")
        .arg("-a")
        .arg(roles_dir.join(name))
        .arg(tmp.path())
        .status()
        .map_err(|e| format!("cp: {e}"))?;
    if !copied.success() {
        return Err(format!("copying target {name} failed ({copied})"));
    }
    // Later lines first, so that earlier line numbers stay right.
    let mut drops = drops.to_vec();
    drops.sort_by(|a, b| (&a.file, b.line).cmp(&(&b.file, a.line)));
    for d in &drops {
        let path = tmp.path().join(name).join(&d.file);
        let text = fs::read_to_string(&path).map_err(|e| format!("drop {d}: {e}"))?;
        let text = support::drop_item(&text, d.line).map_err(|e| format!("drop {d}: {e}"))?;
        fs::write(&path, text).map_err(|e| format!("drop {d}: {e}"))?;
    }
    if let Some(n) = script_lines {
        let path = tmp.path().join(name).join("runme.sh");
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // A new file (the copy may be a link to the original), executable as runme.sh is.
        fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        fs::write(&path, support::script_head(&text, n))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Some(tmp))
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn main() -> ExitCode {
    let root = workspace_root();
    let here = root.join("tests/integration");
    let strict = flag("INTEGRATION_STRICT");
    let live = flag("INTEGRATION_LIVE");
    let verbose = flag("INTEGRATION_VERBOSE");
    let allow_root = flag("INTEGRATION_ROOT");
    let on_hosts = flag("AGENT_HOST_TESTS") && !allow_root;
    let groups = std::env::var("INTEGRATION_GROUPS").unwrap_or_default();
    let finish = |passed: usize, failed: usize| {
        if strict {
            println!("{passed} passed, {failed} failed");
        } else {
            // Report only until the agent passes them: not a test verdict.
            println!(
                "integration targets (report only; INTEGRATION_STRICT=1 enforces): {passed} pass, {failed} fail"
            );
        }
        if strict && failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    };

    let listed =
        match fs::read_to_string(here.join("targets.txt")).map(|t| support::parse_targets(&t)) {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                eprintln!("error: tests/integration/targets.txt: {e}");
                return finish(0, 1);
            }
            Err(e) => {
                eprintln!("error: tests/integration/targets.txt: {e}");
                return finish(0, 1);
            }
        };
    let all_names: Vec<String> = listed.iter().map(|e| e.name.clone()).collect();
    let selected: Vec<TargetEntry> = match std::env::var("INTEGRATION_TARGETS") {
        Ok(names) if !names.trim().is_empty() => names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                listed
                    .iter()
                    .find(|e| e.name == n)
                    .cloned()
                    .unwrap_or(TargetEntry {
                        name: n.to_string(),
                        ..TargetEntry::default()
                    })
            })
            .collect(),
        _ => listed,
    };
    let selected: Vec<TargetEntry> = selected
        .into_iter()
        .filter(|e| support::group_selected(&groups, &e.group))
        .collect();
    if on_hosts && let Some(why) = agent_tests::testhost::unavailable_reason() {
        eprintln!("error: AGENT_HOST_TESTS=1 but test hosts cannot run here: {why}");
        return finish(0, 1);
    }
    let recorded = if live {
        BTreeMap::new()
    } else {
        support::parse_results(
            &fs::read_to_string(here.join("ansible-results.txt")).unwrap_or_default(),
        )
    };

    let setup = fetch_targets(&root).and_then(|targets| {
        let runner = if live {
            let venv = venv();
            if venv.join("bin/ansible-playbook").is_file() {
                Ok(Runner::Ansible(venv))
            } else {
                Err(format!(
                    "no ansible-playbook in {} (run tests/setup-ansible)",
                    venv.display()
                ))
            }
        } else {
            find_agent(&root).map(Runner::Agent)
        }?;
        Ok((targets, runner))
    });
    let (targets, runner) = match setup {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return finish(0, 1);
        }
    };
    let timeout = Duration::from_secs(
        std::env::var("INTEGRATION_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if live { 600 } else { 30 }),
    );
    let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(if live {
        "integration-logs-ansible"
    } else {
        "integration-logs"
    });
    if let Err(e) = fs::create_dir_all(&logs) {
        eprintln!("error: {}: {e}", logs.display());
        return finish(0, 1);
    }
    match &runner {
        Runner::Agent(bin) => println!("integration targets: agent {}", bin.display()),
        Runner::Ansible(venv) => {
            println!(
                "integration targets (live): ansible-playbook in {}",
                venv.display()
            )
        }
    }
    println!(
        "targets from {}; logs under {}",
        targets.display(),
        logs.display()
    );
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));

    let started = Instant::now();
    let (mut passed, mut failed, mut skipped, mut excluded) = (0usize, 0usize, 0usize, 0usize);
    let mut record_lines = Vec::new();
    let mut report_rows = Vec::new();
    for entry in &selected {
        let name = &entry.name;
        // `ansible.posix/mount`: a collection's target, with its own roles directory.
        let (roles_dir, collections, short) = match support::collection_target(name) {
            Some((coll, short)) => {
                let root = targets.join(".collections");
                let dir = root.join(support::collection_targets_dir(coll));
                (dir, Some(root), short)
            }
            None => (targets.clone(), None, name.as_str()),
        };
        // Tasks or script lines left out (`drop=`, `script=` in targets.txt): both tools
        // run a patched copy.
        let patched = match patched_copy(&roles_dir, short, &entry.drops, entry.script_lines) {
            Ok(p) => p,
            Err(e) => {
                failed += 1;
                println!("{name}: FAIL: {e}");
                continue;
            }
        };
        let roles_dir = patched
            .as_ref()
            .map_or(roles_dir, |t| t.path().to_path_buf());
        let mut dropped = if entry.drops.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = entry.drops.iter().map(|d| d.to_string()).collect();
            format!(" [without {}]", list.join(", "))
        };
        if let Some(n) = entry.script_lines {
            dropped.push_str(&format!(" [runme.sh lines 1-{n}]"));
        }
        let dir = roles_dir.join(short);
        let mut aliases =
            support::parse_aliases(&fs::read_to_string(dir.join("aliases")).unwrap_or_default());
        // Group 3 runs on test hosts only: ansible.posix's sysctl target has no needs/root
        // but writes /etc/sysctl.conf and kernel settings (ansible-test runs it in a
        // container).
        if entry.group == "3" && !support::needs_root(&aliases) {
            aliases.push("needs/root".to_string());
        }
        // `here`: a needs/root target whose play only reads files runs on this machine.
        if entry.here {
            aliases.retain(|a| a.trim_end_matches('/') != "needs/root");
        }
        let ansible = recorded.get(name);
        let ansible_col = ansible.map_or("not recorded".to_string(), |r| {
            if r.note.is_empty() || r.status == "pass" {
                r.status.clone()
            } else {
                format!("{} ({})", r.status, r.note)
            }
        });
        let on_host =
            on_hosts && (support::needs_root(&aliases) || support::needs_httptester(&aliases));
        // The HTTP stand-in runs only inside a test host (it takes ports 80 and 443 and
        // names in /etc/hosts).
        let allowed = if support::needs_httptester(&aliases) {
            on_host
        } else {
            allow_root || on_host
        };
        if let Some(why) = support::skip_reason(&dir, &aliases, allowed) {
            skipped += 1;
            println!("{name}: skip: {why}");
            record_lines.push(format!("{name}\tskip\t{why}"));
            report_rows.push(format!("| {name} | skip | skip | {} |", md_cell(&why)));
            continue;
        }
        let log = logs.join(format!("{}.log", name.replace('/', "-")));
        let colls = collections.as_deref();
        let run = if on_host {
            // A host, its boot and apt's lists add to the run: a longer limit.
            let limit = timeout.max(Duration::from_secs(900));
            run_target_on_host(&runner, &roles_dir, colls, short, &aliases, &log, limit)
        } else {
            let target = Target {
                name: short,
                aliases: &aliases,
                script: entry.script,
            };
            run_target(&runner, &roles_dir, colls, &target, &log, timeout)
        };
        let run = match run {
            Ok(run) => run,
            Err(e) => Run {
                verdict: Verdict::Fail(e),
                secs: 0.0,
            },
        };
        let fails_under_ansible = ansible.is_some_and(|r| r.status == "fail");
        let (word, why) = match &run.verdict {
            Verdict::Pass => ("pass", String::new()),
            // Paths relative to the targets directory, the same on every machine.
            Verdict::Fail(why) => (
                "FAIL",
                why.replace(&format!("{}/", targets.display()), "targets/"),
            ),
        };
        let shown = if why.is_empty() {
            word.to_string()
        } else {
            format!("{word}: {why}")
        };
        if fails_under_ansible {
            excluded += 1;
            println!(
                "{name}: excluded (fails under Ansible here): {shown} ({:.1}s)",
                run.secs
            );
        } else {
            match run.verdict {
                Verdict::Pass => passed += 1,
                Verdict::Fail(_) => failed += 1,
            }
            println!("{name}: {shown}{dropped} ({:.1}s)", run.secs);
        }
        if verbose && word == "FAIL" {
            for line in fs::read_to_string(&log).unwrap_or_default().lines() {
                println!("    | {line}");
            }
        }
        record_lines.push(format!("{name}\t{}\t{why}", word.to_lowercase()));
        let agent_col = if word == "pass" { "pass" } else { "fail" };
        report_rows.push(format!(
            "| {name} | {} | {agent_col} | {} |",
            md_cell(&ansible_col),
            md_cell(&why)
        ));
    }
    eprintln!("({:.1}s)", started.elapsed().as_secs_f64());
    for (var, lines, header) in [
        (
            "INTEGRATION_RECORD",
            &record_lines,
            "# Targets under real ansible-playbook 2.21.5 on this machine \
             (tests/integration/record-ansible); needs/root targets on a test host\n\
             # target<TAB>pass|fail|skip<TAB>first failure or reason\n",
        ),
        (
            "INTEGRATION_REPORT",
            &report_rows,
            "| target | Ansible here | agent | first failure |\n|---|---|---|---|\n",
        ),
    ] {
        if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            // Targets not run this time keep their lines (a run of one group updates it).
            let old = fs::read_to_string(&path).unwrap_or_default();
            let merged = support::merge_rows(&old, lines, &all_names);
            let text = format!("{header}{}\n", merged.join("\n"));
            if let Err(e) = fs::write(&path, text) {
                eprintln!("error: {}: {e}", PathBuf::from(path).display());
            }
        }
    }
    if skipped > 0 || excluded > 0 {
        println!("{skipped} skipped, {excluded} excluded (fail under real Ansible here)");
    }
    finish(passed, failed)
}
