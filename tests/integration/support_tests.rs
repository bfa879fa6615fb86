//! Unit tests of the integration-target runner's helpers (the runner itself has no harness).

#[allow(dead_code)]
#[path = "support.rs"]
mod support;

use std::path::Path;

use support::*;

#[test]
fn targets_with_groups() {
    let t = parse_targets("# group 1: engine\nloops\n\n# other\nblocks  # note\n# group 2\nstat\n")
        .unwrap();
    let got: Vec<(&str, &str)> = t
        .iter()
        .map(|e| (e.group.as_str(), e.name.as_str()))
        .collect();
    assert_eq!(got, [("1", "loops"), ("1", "blocks"), ("2", "stat")]);
}

#[test]
fn target_drops() {
    let t = parse_targets(
        "# group 1\nassert drop=tasks/main.yml:237  # why\nx drop=a.yml:3,b/c.yml:10\n",
    )
    .unwrap();
    assert_eq!(t[0].drops.len(), 1);
    assert_eq!(t[0].drops[0].to_string(), "tasks/main.yml:237");
    assert_eq!(
        t[1].drops.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ["a.yml:3", "b/c.yml:10"]
    );
    for bad in [
        "x drop=a.yml",
        "x drop=a.yml:0",
        "x drop=../a.yml:3",
        "x drop=/etc/a.yml:3",
        "x drop=",
        "x drop=a.yml:z",
    ] {
        assert!(parse_targets(bad).is_err(), "{bad}");
    }
    assert!(parse_targets("t script\n").unwrap()[0].script);
    let t = &parse_targets("t script=6  # why\n").unwrap()[0];
    assert!(t.script);
    assert_eq!(t.script_lines, Some(6));
    assert_eq!(parse_targets("t script\n").unwrap()[0].script_lines, None);
    for bad in ["t script=0", "t script=x", "t script="] {
        assert!(parse_targets(bad).is_err(), "{bad}");
    }
    assert_eq!(script_head("a\nb\nc\n", 2), "a\nb\n");
    assert_eq!(script_head("a\nb", 5), "a\nb");
    assert!(parse_targets("t here  # why\n").unwrap()[0].here);
    assert!(!parse_targets("t  # a script\n").unwrap()[0].script);
    // A comment may mention drop= without being one.
    assert!(
        parse_targets("x  # see drop=nothing").unwrap()[0]
            .drops
            .is_empty()
    );
}

#[test]
fn dropping_list_items() {
    let text = "- name: a\n  debug: msg=a\n\n- include_tasks: b.yml\n\n- name: c\n  assert:\n    that:\n      - x\n# tail\n";
    assert_eq!(
        drop_item(text, 4).unwrap(),
        "- name: a\n  debug: msg=a\n\n- name: c\n  assert:\n    that:\n      - x\n# tail\n"
    );
    // The last item: up to the comment at its indentation.
    assert_eq!(
        drop_item(text, 6).unwrap(),
        "- name: a\n  debug: msg=a\n\n- include_tasks: b.yml\n\n# tail\n"
    );
    // A nested item.
    let nested = "- block:\n    - debug: msg=1\n    - debug: msg=2\n      when: x\n  rescue: []\n";
    assert_eq!(
        drop_item(nested, 3).unwrap(),
        "- block:\n    - debug: msg=1\n  rescue: []\n"
    );
    assert!(drop_item(text, 2).is_err());
    assert!(drop_item(text, 99).is_err());
    assert!(drop_item(text, 0).is_err());
}

#[test]
fn results_file() {
    let r = parse_results("# x\nloops\tpass\t\nstat\tfail\tTASK [a]: boom\n");
    assert_eq!(r["loops"].status, "pass");
    assert_eq!(r["stat"].note, "TASK [a]: boom");
    assert_eq!(r.len(), 2);
}

#[test]
fn aliases_and_facts() {
    let a = parse_aliases("shippable/posix/group4\ngather_facts/no\nneeds/root  # why\n");
    assert_eq!(
        a,
        ["shippable/posix/group4", "gather_facts/no", "needs/root"]
    );
    assert!(!gather_facts(&a));
    assert!(gather_facts(&[]));
}

#[test]
fn skips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = dir.path().join("t");
    assert!(skip_reason(&t, &[], false).is_some());
    std::fs::create_dir_all(&t).expect("mkdir");
    assert_eq!(
        skip_reason(&t, &[], false).as_deref(),
        Some("no tasks/main.yml")
    );
    std::fs::write(t.join("runme.sh"), "").expect("write");
    // A script target: runme.sh runs.
    assert_eq!(skip_reason(&t, &[], false), None);
    assert!(is_script(&t));
    std::fs::create_dir_all(t.join("tasks")).expect("mkdir");
    std::fs::write(t.join("tasks/main.yml"), "[]").expect("write");
    assert_eq!(skip_reason(&t, &[], false), None);
    assert!(!is_script(&t));
    let root = vec!["needs/root".to_string()];
    assert!(skip_reason(&t, &root, false).is_some());
    assert_eq!(skip_reason(&t, &root, true), None);
}

#[test]
fn play_is_json() {
    let p = play_json("loops", Path::new("/tmp/o"), true);
    let v: serde_json::Value = serde_json::from_str(&p).expect("json");
    assert_eq!(v[0]["hosts"], "testhost");
    assert_eq!(v[0]["roles"][0], "loops");
    assert_eq!(v[0]["vars"]["output_dir"], "/tmp/o");
    assert!(
        inventory_text(Path::new("/usr/bin/python3")).contains("testhost ansible_connection=local")
    );
}

const PASS: &str = "PLAY RECAP ***\ntesthost                   : ok=3    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=1\n";

#[test]
fn verdicts() {
    assert_eq!(verdict(PASS, 0), Verdict::Pass);
    assert!(matches!(verdict(PASS, 2), Verdict::Fail(_)));
    let out = "TASK [loops : a] ***\nfatal: [testhost]: FAILED! => {\"changed\": false, \"msg\": \"boom\\nmore\"}\n...ignoring\n\
                   TASK [loops : b] ***\nfatal: [testhost]: FAILED! => {\n    \"changed\": false,\n    \"msg\": \"real\"\n}\n\n\
                   PLAY RECAP ***\ntesthost : ok=1 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=1\n";
    assert_eq!(
        verdict(out, 2),
        Verdict::Fail("TASK [loops : b]: real".to_string())
    );
    assert_eq!(
        verdict("ERROR! the role 'x' was not found\n", 1),
        Verdict::Fail("ERROR! the role 'x' was not found".to_string())
    );
    assert_eq!(
        verdict("", 3),
        Verdict::Fail("exit 3 without a PLAY RECAP for testhost".to_string())
    );
}

#[test]
fn merging_rows_keeps_untouched_targets_in_list_order() {
    let old = "# header\na\tpass\t\nb\tfail\twhy\nc\tskip\tno\n";
    let new = vec!["b\tpass\t".to_string()];
    let order: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    assert_eq!(
        merge_rows(old, &new, &order),
        vec!["a\tpass\t", "b\tpass\t", "c\tskip\tno"]
    );
    let table = "| target | Ansible here | agent | first failure |\n|---|---|---|---|\n| a | pass | pass |  |\n";
    let rows = vec!["| z | pass | fail | x |".to_string()];
    assert_eq!(
        merge_rows(table, &rows, &order),
        vec!["| a | pass | pass |  |", "| z | pass | fail | x |"]
    );
    assert!(group_selected("", "3"));
    assert!(group_selected("1, 3", "3"));
    assert!(!group_selected("1,2", "3"));
}

#[test]
fn scripts_pass_on_exit_zero() {
    assert_eq!(script_verdict("whatever\n", 0), Verdict::Pass);
    assert_eq!(
        script_verdict("+ ansible-playbook x.yml\n+ grep foo\n\n", 1),
        Verdict::Fail("runme.sh exited 1: + grep foo".into())
    );
}

#[test]
fn a_run_stopping_error_names_its_origin() {
    let out = "[ERROR]: couldn't resolve module/action 'noisy'\nOrigin: /x/targets/templating/tasks/main.yml:2:3\n";
    assert_eq!(
        verdict(out, 4),
        Verdict::Fail("[ERROR]: couldn't resolve module/action 'noisy' (main.yml:2:3)".to_string())
    );
}

#[test]
fn collection_targets() {
    assert_eq!(
        collection_target("ansible.posix/mount"),
        Some(("ansible.posix", "mount"))
    );
    assert_eq!(collection_target("mount"), None);
    assert_eq!(collection_target("posix/mount"), None);
    assert_eq!(collection_target("ansible.posix/"), None);
    assert_eq!(collection_target("ansible.posix/../x"), None);
    assert_eq!(
        collection_targets_dir("ansible.posix"),
        Path::new("ansible_collections/ansible/posix/tests/integration/targets")
    );
}
