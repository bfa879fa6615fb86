//! The binary end to end: load-time validation (file:line:col, nothing changed), exit
//! codes, check mode, listing and the built-in demo.

use std::path::Path;
use std::process::{Command, Output};

fn agent(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .current_dir(dir)
        .env_remove("ANSIBLE_ROLES_PATH")
        // Tests run in parallel: each has its own run lock.
        .env("AGENT_LOCK_FILE", dir.join(".agent.lock"))
        .output()
        .expect("run agent")
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A playbook whose first task would write a file, followed by a broken task: the load
/// fails with the broken task's position and the first task never runs.
fn assert_rejected(play: &str, want_pos: &str, want_msg: &str) {
    let t = tempfile::tempdir().unwrap();
    let marker = t.path().join("marker");
    let play = play.replace("MARKER", &marker.display().to_string());
    write(t.path(), "play.yml", &play);
    let o = agent(t.path(), &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(want_pos), "expected {want_pos} in: {out}");
    assert!(out.contains(want_msg), "expected {want_msg:?} in: {out}");
    assert!(
        !marker.exists(),
        "the host was changed before validation failed"
    );
    assert!(!out.contains("panicked"), "{out}");
}

const HEAD: &str =
    "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: x, dest: MARKER}\n";

#[test]
fn unknown_module_names_the_closest() {
    assert_rejected(
        &format!("{HEAD}    - name: typo\n      copyy: {{content: x, dest: /tmp/x}}\n"),
        "play.yml:6:7",
        "did you mean 'copy'",
    );
}

#[test]
fn action_plugins_alias_or_refuse() {
    // A plugin that re-exports a built-in action runs as it, under its own name.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "action_plugins/say.py",
        "from __future__ import annotations\nfrom ansible.plugins.action.debug import ActionModule\nassert ActionModule\n",
    );
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - say: msg=hello\n",
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("TASK [say]"), "{out}");
    assert!(out.contains("\"msg\": \"hello\""), "{out}");
    // Any other action plugin is Python the agent cannot run: refused before anything runs.
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "action_plugins/own.py",
        "from ansible.plugins.action import ActionBase\nclass ActionModule(ActionBase):\n    pass\n",
    );
    let marker = t.path().join("marker");
    write(
        t.path(),
        "play.yml",
        &format!(
            "{}    - own: {{}}\n",
            HEAD.replace("MARKER", &marker.display().to_string())
        ),
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("play.yml:5:7"), "{out}");
    assert!(
        out.contains("action_plugins/own.py is Python code"),
        "{out}"
    );
    assert!(!marker.exists());
}

#[test]
fn unknown_parameter_is_refused_before_running() {
    assert_rejected(
        &format!("{HEAD}    - file: {{path: /tmp/x, stat: touch}}\n"),
        "play.yml:5:7",
        "did you mean 'state'",
    );
}

#[test]
fn words_that_are_not_key_value_are_refused_before_running() {
    // Ansible fails the task when it runs; the agent refuses the run before the first
    // task when a play for this host holds it.
    assert_rejected(
        &format!("{HEAD}    - debug: msg=not tagged\n"),
        "play.yml:5:14",
        "'tagged' is not one",
    );
}

#[test]
fn words_that_are_not_key_value_fail_where_ansible_fails_them() {
    let t = tempfile::tempdir().unwrap();
    let marker = t.path().join("marker");
    // A play for no host is never run (Ansible never looks at its tasks' arguments) ...
    let play = format!(
        "- hosts: nowhere\n  gather_facts: false\n  tasks:\n    - debug: msg=not tagged\n\
         - hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {{content: x, dest: {}}}\n\
         \x20   - include_tasks: inc.yml\n",
        marker.display()
    );
    write(t.path(), "play.yml", &play);
    // ... and a task a dynamic include brings fails when it runs, not when skipped.
    write(
        t.path(),
        "inc.yml",
        "- debug: msg=a b\n  when: false\n- debug: msg=a b\n  ignore_errors: true\n- debug: msg=after\n",
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(marker.exists(), "{out}");
    assert!(
        out.contains("Action 'ansible.builtin.debug' does not support raw params."),
        "{out}"
    );
    assert!(out.contains("inc.yml:3:3"), "{out}");
    assert!(out.contains("ignored=1"), "{out}");
    assert!(out.contains("\"msg\": \"after\""), "{out}");
}

#[test]
fn missing_required_argument() {
    assert_rejected(
        &format!("{HEAD}    - lineinfile: {{line: x}}\n"),
        "play.yml:5:7",
        "missing required arguments: path",
    );
}

#[test]
fn unknown_task_keyword() {
    assert_rejected(
        &format!("{HEAD}    - debug: msg=x\n      whenn: true\n"),
        "play.yml:6:7",
        "did you mean 'when'",
    );
}

#[test]
fn yaml_error_has_a_position() {
    assert_rejected(&format!("{HEAD}    - debug: {{msg: x\n"), "play.yml:", "");
}

#[test]
fn template_syntax_error_in_when() {
    assert_rejected(
        &format!("{HEAD}    - debug: msg=x\n      when: x ==\n"),
        "play.yml:6:13",
        "template error",
    );
}

#[test]
fn missing_role_is_named() {
    assert_rejected(
        &format!("{HEAD}    - import_role: {{name: nosuch}}\n"),
        "play.yml:5:",
        "the role 'nosuch' was not found",
    );
}

#[test]
fn role_dependency_cycle() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "roles/a/meta/main.yml", "dependencies: [b]\n");
    write(t.path(), "roles/a/tasks/main.yml", "- debug: msg=a\n");
    write(t.path(), "roles/b/meta/main.yml", "dependencies: [a]\n");
    write(t.path(), "roles/b/tasks/main.yml", "- debug: msg=b\n");
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  roles: [a]\n",
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("cycle"), "{}", text(&o));
}

#[test]
fn check_reports_drift_and_writes_nothing_then_apply_converges() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("out.txt");
    write(
        t.path(),
        "play.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {{content: \"hello\\n\", dest: {}}}\n",
            f.display()
        ),
    );
    let o = agent(t.path(), &["check", "play.yml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("+hello"),
        "check shows the diff: {}",
        text(&o)
    );
    assert!(!f.exists());
    let o = agent(t.path(), &["apply", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello\n");
    let o = agent(t.path(), &["check", "play.yml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "no drift after apply: {}",
        text(&o)
    );
    let o = agent(t.path(), &["apply", "--detailed-exitcode", "play.yml"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("changed=0"));
}

#[test]
fn failed_task_exits_1() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail: msg=boom\n",
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("boom"));
}

#[test]
fn list_tasks_and_syntax_check() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  tasks:\n    - name: one\n      debug: msg=x\n      tags: [a]\n",
    );
    let o = agent(t.path(), &["apply", "--list-tasks", "play.yml"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("one\tTAGS: [a]"), "{}", text(&o));
    let o = agent(t.path(), &["apply", "--syntax-check", "play.yml"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn json_output_is_one_document() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug: msg=x\n",
    );
    let o = agent(t.path(), &["apply", "--output", "json", "play.yml"]);
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(doc["stats"]["localhost"]["ok"], 1);
}

#[test]
fn demo_runs_and_leaves_nothing() {
    let t = tempfile::tempdir().unwrap();
    let o = agent(t.path(), &["demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("changed=3"), "{out}");
    assert!(out.contains("changed=0"), "{out}");
}

#[test]
fn group_by_and_add_host_change_groups_and_hostvars() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("groups.txt");
    write(
        t.path(),
        "play.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - group_by: {{key: \"role_web\"}}\n      register: g\n    - add_host: {{name: extra1, groups: [db], port_x: 5}}\n    - copy:\n        dest: {}\n        content: \"{{{{ group_names }}}} {{{{ groups['db'] }}}} {{{{ hostvars['extra1'].port_x }}}} {{{{ g is changed }}}}\\n\"\n",
            out.display()
        ),
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "['role_web'] ['extra1'] 5 True\n"
    );
}

#[test]
fn template_syntax_error_in_an_argument() {
    assert_rejected(
        &format!("{HEAD}    - debug:\n        msg: \"{{{{ x | }}}}\"\n"),
        "play.yml:6:14",
        "template error in 'msg'",
    );
}

#[test]
fn duplicate_yaml_keys_warn_with_their_origin() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  vars:\n    a: 1\n    a: 2\n  tasks:\n    - debug: var=a\n",
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[WARNING]: Found duplicate mapping key 'a'."),
        "{err}"
    );
    assert!(err.contains("play.yml:5:5"), "{err}");
    assert!(err.contains("Using last defined value only."), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"a\": 2"));
}

#[test]
fn quiet_assert_prints_a_bare_ok() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: quiet\n      \
         assert: {that: [true], quiet: true}\n    - name: loud\n      assert: {that: [true]}\n",
    );
    let o = agent(t.path(), &["apply", "play.yml"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o);
    // Ansible's default callback: `ok: [localhost]` for the quiet one, the result dict
    // (with "All assertions passed") for the other.
    assert_eq!(out.matches("All assertions passed").count(), 1, "{out}");
    assert!(out.contains("TASK [quiet] ***"), "{out}");
    let quiet = out.split("TASK [quiet]").nth(1).unwrap_or_default();
    let quiet = quiet.split("TASK [loud]").next().unwrap_or_default();
    assert!(quiet.contains("ok: [localhost]\n"), "{out}");
    assert!(!quiet.contains("msg"), "{out}");
}

#[test]
fn skipped_play_tags_skip_fact_gathering() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  tags: [a]\n  tasks:\n    - debug: msg=a\n\
         - hosts: localhost\n  tasks:\n    - debug: msg=b\n",
    );
    // As ansible-playbook: the tagged play's Gathering Facts has the play's tags, the
    // untagged play's is `always`.
    let o = agent(t.path(), &["apply", "play.yml", "--skip-tags", "a"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o);
    assert_eq!(out.matches("TASK [Gathering Facts]").count(), 1, "{out}");
    let o = agent(t.path(), &["apply", "play.yml", "--tags", "a"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o);
    assert_eq!(out.matches("TASK [Gathering Facts]").count(), 2, "{out}");
}

/// `become_user` on modules that run in the agent's process (file, copy, template): what
/// they create is the user's, what the user may not do is refused (and a file `touch`
/// just created is removed again, as Ansible's is), and the role's own files are still
/// read as root (the controller's side). Also `ansible_inject_invocation`.
#[test]
fn become_user_runs_in_process_modules_as_that_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let w = t.path().join("w");
    std::fs::create_dir(&w).unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for (name, body) in [
        ("secret.txt", "only root reads me\n"),
        ("t.j2", "{{ 6 * 7 }}\n"),
    ] {
        write(t.path(), name, body);
        std::fs::set_permissions(t.path().join(name), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    let play = r#"- hosts: localhost
  gather_facts: false
  tasks:
    - file: {path: W/touched, state: touch}
      become: true
      become_user: nobody
    - copy: {src: secret.txt, dest: W/copied}
      become: true
      become_user: nobody
    - template: {src: t.j2, dest: W/templated}
      become: true
      become_user: nobody
    - file: {path: W/refused, state: touch, owner: root}
      become: true
      become_user: nobody
      register: refused
      ignore_errors: true
    - copy: {content: x, dest: W/invoked}
      vars: {ansible_inject_invocation: true}
      register: inv
    - copy: {content: x, dest: W/plain}
      register: plain
    - copy:
        dest: W/report
        content: "{{ refused.failed }} {{ inv.invocation.module_args.dest }} {{ inv.invocation.module_args.content }} {{ inv.invocation.module_args.force }} {{ plain.invocation is defined }}"
"#
    .replace("W/", &format!("{}/", w.display()));
    write(t.path(), "play.yml", &play);
    let o = agent(t.path(), &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    for name in ["touched", "copied", "templated"] {
        let md = std::fs::metadata(w.join(name)).unwrap();
        assert_eq!(md.uid(), nobody.uid.as_raw(), "{name} belongs to nobody");
    }
    assert_eq!(
        std::fs::read_to_string(w.join("copied")).unwrap(),
        "only root reads me\n"
    );
    assert_eq!(
        std::fs::read_to_string(w.join("templated")).unwrap(),
        "42\n"
    );
    assert!(
        !w.join("refused").exists(),
        "the refused touch left its file"
    );
    assert_eq!(std::fs::metadata(w.join("plain")).unwrap().uid(), 0);
    assert_eq!(
        std::fs::read_to_string(w.join("report")).unwrap(),
        format!(
            "True {}/invoked VALUE_SPECIFIED_IN_NO_LOG_PARAMETER True False",
            w.display()
        )
    );
}

/// Ansible's jsonfile fact cache: a cacheable set_fact (and gathered facts) written by one
/// run are the host's facts in the next, below play vars; `--flush-cache` forgets them.
#[test]
fn jsonfile_fact_cache_carries_facts_to_the_next_run() {
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("cache");
    write(
        t.path(),
        "set.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - set_fact:
        ansible_foobar: cached-value
        cacheable: true
    - set_fact:
        not_cached: x
"#,
    );
    write(
        t.path(),
        "read.yml",
        r#"- hosts: localhost
  gather_facts: false
  tasks:
    - copy:
        dest: "{{ out }}"
        content: "{{ ansible_foobar | default('none') }} {{ ansible_facts.foobar | default('none') }} {{ not_cached | default('none') }}"
- hosts: localhost
  gather_facts: false
  vars:
    ansible_foobar: from-play-vars
  tasks:
    - copy:
        dest: "{{ out }}.play"
        content: "{{ ansible_foobar }}"
"#,
    );
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(args)
            .current_dir(t.path())
            .env("AGENT_LOCK_FILE", t.path().join(".agent.lock"))
            .env("ANSIBLE_CACHE_PLUGIN", "jsonfile")
            .env("ANSIBLE_CACHE_PLUGIN_CONNECTION", &cache)
            .env("ANSIBLE_CACHE_PLUGIN_PREFIX", "prefix_")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    run(&["apply", "set.yml"]);
    let files: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["prefix_localhost"]);
    let out = t.path().join("out");
    let e = format!("out={}", out.display());
    run(&["apply", "read.yml", "-e", &e]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "cached-value cached-value none"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("out.play")).unwrap(),
        "from-play-vars"
    );
    run(&["apply", "read.yml", "--flush-cache", "-e", &e]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "none none none");
    assert!(!cache.join("prefix_localhost").exists());
}

/// An unknown cache plugin is refused before anything runs.
#[test]
fn unknown_fact_cache_plugin_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "p.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {content: x, dest: W}\n"
            .replace("W", &t.path().join("w").display().to_string())
            .as_str(),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["apply", "p.yml"])
        .current_dir(t.path())
        .env("AGENT_LOCK_FILE", t.path().join(".agent.lock"))
        .env("ANSIBLE_CACHE_PLUGIN", "redis")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o).contains("fact cache plugin 'redis'"),
        "{}",
        text(&o)
    );
    assert!(!t.path().join("w").exists());
}

#[test]
fn ansible_exit_codes_on_request() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "fail.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - fail: msg=boom\n",
    );
    write(
        t.path(),
        "bad.yml",
        "- hosts: localhost\n  tasks:\n    - debug: msg=x\n   bad: 1\n",
    );
    let code = |pb: &str, extra: &[&str]| {
        let mut args = vec!["apply", pb];
        args.extend_from_slice(extra);
        agent(t.path(), &args).status.code()
    };
    // ansible-playbook: 2 for a failed host, 4 for a parse error; the agent's own: 1.
    assert_eq!(code("fail.yml", &["--exit-codes", "ansible"]), Some(2));
    assert_eq!(code("bad.yml", &["--exit-codes", "ansible"]), Some(4));
    assert_eq!(code("fail.yml", &[]), Some(1));
    assert_eq!(code("bad.yml", &[]), Some(1));
}

/// `--local-hosts` runs the play on both hosts, task by task, as ansible-playbook -c local
/// does (outputs recorded from ansible-core 2.21.5, blocks target's 72781.yml and 78612.yml):
/// a failure under any_errors_fatal fails the other host in the block it is in (its
/// rescue runs); a host that failed leaves ansible_play_hosts.
#[test]
fn local_hosts_run_in_lockstep() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "aef.yml",
        "- hosts: all\n  gather_facts: no\n  any_errors_fatal: true\n  tasks:\n    - block:\n      - block:\n          - fail:\n            when: inventory_hostname == 'host1'\n        rescue:\n          - fail:\n      - block:\n        - debug:\n            msg: SHOULD NOT HAPPEN\n",
    );
    let o = agent(
        t.path(),
        &["apply", "--local-hosts", "-i", "host1,host2", "aef.yml"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("SHOULD NOT HAPPEN"), "{out}");
    assert!(out.contains("fatal: [host2]"), "{out}");
    // One banner per task; both hosts in the recap.
    assert_eq!(out.matches("TASK [fail]").count(), 2, "{out}");
    assert!(out.contains("host1                      : ok=0    changed=0    unreachable=0    failed=1    skipped=0    rescued=1"), "{out}");
    assert!(out.contains("host2                      : ok=0    changed=0    unreachable=0    failed=1    skipped=1    rescued=0"), "{out}");

    write(
        t.path(),
        "hosts.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - block:\n        - fail:\n          when: inventory_hostname == 'host1'\n      rescue:\n        - block:\n          - fail:\n            when: inventory_hostname == 'host1'\n    - assert:\n        that:\n          - \"'host1' not in ansible_play_hosts\"\n          - \"'host1' not in ansible_play_batch\"\n          - \"'host1' in ansible_play_hosts_all\"\n        success_msg: PASSED\n",
    );
    let o = agent(
        t.path(),
        &["apply", "--local-hosts", "-i", "host1,host2", "hosts.yml"],
    );
    let out = text(&o);
    assert_eq!(out.matches("PASSED").count(), 1, "{out}");
    assert!(!out.contains("Assertion failed"), "{out}");
}

/// `--local-hosts` with `serial`, `run_once`, another host's `hostvars` and `meta:
/// end_play` (the output was identical to ansible-playbook -c local's, ansible-core 2.21.5).
#[test]
fn local_hosts_share_batches_run_once_hostvars_and_end_play() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "p.yml",
        r#"- hosts: all
  gather_facts: false
  serial: 2
  tasks:
    - set_fact:
        mine: "{{ inventory_hostname }}"
    - command: echo once
      run_once: true
      register: once
    - debug:
        msg: "{{ inventory_hostname }} batch={{ ansible_play_batch | join(',') }} all={{ ansible_play_hosts_all | join(',') }} peer={{ hostvars[ansible_play_batch[0]].mine }} once={{ once.stdout }}"
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg=before
    - meta: end_play
      when: inventory_hostname == 'host1'
    - debug: msg=NOT_REACHED
"#,
    );
    let o = agent(
        t.path(),
        &[
            "apply",
            "--local-hosts",
            "-c",
            "local",
            "-i",
            "host1,host2,host3",
            "p.yml",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for want in [
        "host1 batch=host1,host2 all=host1,host2,host3 peer=host1 once=once",
        "host2 batch=host1,host2 all=host1,host2,host3 peer=host1 once=once",
        "host3 batch=host3 all=host1,host2,host3 peer=host3 once=once",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    // one command run (run_once), two banners for the first play (two batches)
    assert_eq!(out.matches("changed: [").count(), 2, "{out}");
    assert_eq!(out.matches("PLAY [all]").count(), 3, "{out}");
    assert!(!out.contains("NOT_REACHED"), "{out}");
    // without -c local, a host with no ansible_connection is reached over ssh: unreachable
    let o = agent(
        t.path(),
        &[
            "apply",
            "--local-hosts",
            "--exit-codes",
            "ansible",
            "-i",
            "host1,host2",
            "p.yml",
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("UNREACHABLE!"), "{}", text(&o));
    // ...unless the play says `connection: local`, or the inventory gives the host its
    // own connection (which beats -c), as Ansible decides.
    write(
        t.path(),
        "conn.yml",
        "- hosts: all
  connection: local
  tasks:
    - command: 'true'
",
    );
    write(
        t.path(),
        "inv.ini",
        "host1 ansible_connection=local
host2
",
    );
    let o = agent(
        t.path(),
        &["apply", "--local-hosts", "-i", "host1,host2", "conn.yml"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    write(
        t.path(),
        "plain.yml",
        "- hosts: all
  gather_facts: false
  tasks:
    - command: 'true'
",
    );
    let o = agent(
        t.path(),
        &[
            "apply",
            "--local-hosts",
            "-c",
            "ssh",
            "-i",
            "inv.ini",
            "plain.yml",
        ],
    );
    let out = text(&o);
    assert!(out.contains("changed: [host1]"), "{out}");
    assert!(out.contains("fatal: [host2]: UNREACHABLE!"), "{out}");
}

/// `{{ "not trusted" }}` encrypted with the password `blarblar` (vault 1.1).
const VAULTED: &str = "$ANSIBLE_VAULT;1.1;AES256
36306639316132393663356162643765396231396462623962373832643539306635356639366633
6234303731383636623165633330653435336130613361370a373931613335353762376433636263
35363536613933396532636430646337393932393166396133613666386433353932373063356235
3666336365616535610a636534333332633930326331353533626332363263363666373730386264
31643561353465613030343632663036313963363634663231393665316437646530
";

/// `from_vault_file: opened` (ansible-vault encrypt, password `blarblar`).
const VAULTED_VARS: &str = "$ANSIBLE_VAULT;1.1;AES256
39343731656163613339386561336266636561353562323962656265336462363537343263633930
3762386361623362613836393337366561323664646635310a313330633936366335383233346134
31613837386635316166346431326561393633666632376164636639393837366331653562333631
3539346336363338330a333365333736353034323430626366303233613433643632623462393437
62653333323537313965303566613434666339623438396539313566303335396665
";

/// `secret file` (ansible-vault encrypt --vault-id dev@..., format 1.2).
const VAULTED_FILE: &str = "$ANSIBLE_VAULT;1.2;AES256;dev
61626130303834343237653530613338323038346637633432646534363837383837363462666163
6235346233626431653236633331633666383365633830390a616364383033633161313839326132
32643334306532663861623935393135333166636564383466356432613138633263643761396337
6235373932623961650a663962636535386535366534623835316538336462323865626666316663
3164
";

#[test]
fn vault_values_files_and_passwords() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let indented: String = VAULTED.lines().map(|l| format!("      {l}\n")).collect();
    write(d, "vars.yml", VAULTED_VARS);
    write(d, "files/secret.txt", VAULTED_FILE);
    write(d, "pw", "blarblar\n");
    write(
        d,
        "play.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  vars_files: [vars.yml]\n  vars:\n    secret: !vault |\n{indented}  tasks:\n    - copy: {{content: '{{{{ secret }}}}', dest: '{out}/a'}}\n    - copy: {{src: secret.txt, dest: '{out}/b'}}\n    - copy: {{content: '{{{{ from_vault_file }}}}', dest: '{out}/c'}}\n",
            out = d.display()
        ),
    );
    // Without a password: the encrypted vars file stops the load, nothing is written.
    let o = agent(d, &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("vault-encrypted and did not decrypt"), "{out}");
    assert!(!d.join("a").exists());
    // With it: the plain text, never templated (vaulted values are data).
    let o = agent(d, &["apply", "play.yml", "--vault-password-file", "pw"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("ANSIBLE_VAULT"), "{out}");
    let read = |n: &str| std::fs::read_to_string(d.join(n)).unwrap();
    assert_eq!(read("a"), "{{ \"not trusted\" }}");
    assert_eq!(read("b"), "secret file\n");
    assert_eq!(read("c"), "opened");
    // A password script (executable: its output) and --vault-id LABEL@FILE work too.
    write(d, "pw.sh", "#!/bin/sh\necho blarblar\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("pw.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [
        ["--vault-id", "dev@pw.sh"],
        ["--vault-password-file", "pw.sh"],
    ] {
        let mut all = vec!["apply", "play.yml"];
        all.extend(args);
        let o = agent(d, &all);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // A wrong password: the value does not decrypt, and using it fails.
    write(d, "bad", "nope\n");
    write(d, "vars.yml", "from_vault_file: plain\n");
    let o = agent(d, &["apply", "play.yml", "--vault-password-file", "bad"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("Attempt to use undecryptable variable"),
        "{out}"
    );
    assert!(!out.contains("ANSIBLE_VAULT;1.1"), "{out}");
}

#[test]
fn task_timeout_stops_a_command() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "play.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - command: sleep 30\n      timeout: 1\n      register: timed\n      ignore_errors: true\n    - assert:\n        that:\n          - timed is failed\n          - timed is timedout\n          - timed.timedout.period == 1\n          - \"timed.msg == 'Task failed: Timed out after 1 second(s).'\"\n    - command: 'true'\n      timeout: 5\n      register: quick\n    - assert: {that: [quick is not timedout, quick.rc == 0]}\n",
    );
    let started = std::time::Instant::now();
    let o = agent(t.path(), &["apply", "play.yml"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the command was not stopped"
    );
}

#[test]
fn vault_values_through_hostvars() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let indented: String = VAULTED.lines().map(|l| format!("  {l}\n")).collect();
    write(d, "inventory", "localhost ansible_connection=local\n");
    write(
        d,
        "host_vars/localhost.yml",
        &format!("secret: !vault |\n{indented}"),
    );
    write(d, "pw", "blarblar\n");
    write(
        d,
        "play.yml",
        &format!(
            "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {{content: \"{{{{ hostvars['localhost'].secret }}}}\", dest: '{out}/h'}}\n",
            out = d.display()
        ),
    );
    let o = agent(
        d,
        &[
            "apply",
            "play.yml",
            "-i",
            "inventory",
            "--vault-password-file",
            "pw",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(d.join("h")).unwrap(),
        "{{ \"not trusted\" }}"
    );
    // Without the password: the task fails, nothing is written.
    std::fs::remove_file(d.join("h")).unwrap();
    let o = agent(d, &["apply", "play.yml", "-i", "inventory"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("undecryptable variable"), "{out}");
    assert!(!d.join("h").exists());
}
