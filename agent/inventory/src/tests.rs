//! Unit tests for loading and querying (INI side; YAML is covered by the corpus).

use std::fs;

use super::*;

fn ini(text: &str) -> Inventory {
    Inventory::from_str("test.ini", text).unwrap_or_else(|e| panic!("{e}"))
}

fn ini_err(text: &str) -> String {
    match Inventory::from_str("test.ini", text) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

fn var(inv: &Inventory, host: &str, name: &str) -> String {
    let v = inv.host_vars(host).unwrap();
    serde_json::to_string(v.get(name).unwrap_or_else(|| panic!("no {name} on {host}"))).unwrap()
}

/// A temporary directory holding `files` (relative path, text).
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn groups_children_vars() {
    let inv = ini(
        "top1\n[web]\nw1 a=1\nw2:2222\n[db]\nd1\n[prod:children]\nweb\ndb\n[prod:vars]\nenv=prod\n[web:vars]\nenv=web\n",
    );
    assert_eq!(inv.groups_map()["all"], ["top1", "w1", "w2", "d1"]);
    assert_eq!(inv.groups_map()["ungrouped"], ["top1"]);
    assert_eq!(inv.groups_map()["prod"], ["w1", "w2", "d1"]);
    assert_eq!(inv.group_names("w1"), ["prod", "web"]);
    assert_eq!(var(&inv, "w1", "env"), "\"web\"");
    assert_eq!(var(&inv, "d1", "env"), "\"prod\"");
    assert_eq!(var(&inv, "w1", "a"), "1");
    assert_eq!(var(&inv, "w2", "ansible_port"), "2222");
    assert_eq!(inv.groups["web"].depth, 2);
}

#[test]
fn inline_values() {
    let inv = ini(
        "h1 a=True b=\"x y\" c=[1,2] d=yes e='{\"k\": 1}' f=1.5 g=010\n[all:vars]\nz = hello world # hi\n",
    );
    assert_eq!(var(&inv, "h1", "a"), "true");
    assert_eq!(var(&inv, "h1", "b"), "\"x y\"");
    assert_eq!(var(&inv, "h1", "c"), "[1,2]");
    assert_eq!(var(&inv, "h1", "d"), "\"yes\"");
    assert_eq!(var(&inv, "h1", "e"), "{\"k\":1}");
    assert_eq!(var(&inv, "h1", "f"), "1.5");
    assert_eq!(var(&inv, "h1", "g"), "\"010\"");
    assert_eq!(var(&inv, "h1", "z"), "\"hello world # hi\"");
}

#[test]
fn ranges_and_ungrouped() {
    let inv = ini("[web]\nweb[01:03].ex.com\n[db]\ndb-[a:c]\nweb01.ex.com\n");
    assert_eq!(
        inv.groups_map()["web"],
        ["web01.ex.com", "web02.ex.com", "web03.ex.com"]
    );
    assert_eq!(
        inv.groups_map()["db"],
        ["db-a", "db-b", "db-c", "web01.ex.com"]
    );
    assert_eq!(
        var(&inv, "web01.ex.com", "inventory_hostname_short"),
        "\"web01\""
    );
}

#[test]
fn pending_children_and_errors() {
    let inv = ini("[a:children]\nb\n[b]\nh1\n");
    assert_eq!(inv.groups_map()["a"], ["h1"]);
    assert!(
        ini_err("[a:children]\nb\n")
            .contains("test.ini:2:1: Section [a:children] includes undefined group 'b'")
    );
    assert!(ini_err("[a:vars]\nx=1\n").contains("test.ini:1:1"));
    assert!(ini_err("[a:foo]\n").contains("unknown type"));
    assert!(ini_err("[a b]\n").contains("Invalid section entry"));
    assert!(ini_err("[a]\nh1 novalue\n").contains("Expected key=value"));
    assert!(ini_err("[a]\nh1 x='1\n").contains("No closing quotation"));
    assert!(ini_err("[a]\nh1:\n").contains("ending in ':'"));
    assert!(ini_err("[a:children]\nb\n[b:children]\na\n").contains("recursive dependency loop"));
}

#[test]
fn priorities() {
    let inv = ini("[a]\nh\n[b]\nh\n[a:vars]\nx=a\nansible_group_priority=10\n[b:vars]\nx=b\n");
    assert_eq!(var(&inv, "h", "x"), "\"a\"");
    assert!(!inv.groups["a"].vars.contains_key("ansible_group_priority"));
}

#[test]
fn patterns() {
    let inv = ini("[web]\nw1\nw2\nw3\n[db]\nd1\nw1\n[prod:children]\nweb\n");
    let s = |p: &str| inv.select(p).unwrap();
    assert_eq!(s("all"), ["d1", "w1", "w2", "w3"]);
    assert_eq!(s("web:&db"), ["w1"]);
    assert_eq!(s("web:!db"), ["w2", "w3"]);
    assert_eq!(s("db,web"), ["d1", "w1", "w2", "w3"]);
    assert_eq!(s("web[0]"), ["w1"]);
    assert_eq!(s("web[1:]"), ["w2", "w3"]);
    assert_eq!(s("web[-1]"), ["w3"]);
    assert_eq!(s("w*"), ["w1", "w2", "w3"]);
    assert_eq!(s("~w[12]"), ["w1", "w2"]);
    assert_eq!(s("!db"), ["w2", "w3"]);
    assert_eq!(s("nosuch"), Vec::<String>::new());
    assert_eq!(s("localhost"), ["localhost"]);
    assert!(inv.select("web[7]").is_err());
    assert!(inv.is_implicit_localhost("localhost"));
    let lv = inv.host_vars("localhost").unwrap();
    assert_eq!(
        lv.get("ansible_connection").map(|v| v.to_string()),
        Some("local".into())
    );
    assert!(!inv.groups_map()["all"].contains(&"localhost".to_string()));
}

#[test]
fn limit_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("limit");
    fs::write(&f, "w1\nd1\n").unwrap();
    let inv = ini("[web]\nw1\nw2\n[db]\nd1\n");
    let lim = format!("@{}", f.display());
    assert_eq!(inv.select_limited("all", Some(&lim)).unwrap(), ["w1", "d1"]);
    assert_eq!(inv.select_limited("web", Some("w2,d1")).unwrap(), ["w2"]);
    assert!(inv.select_limited("all", Some("@/nonexistent/x")).is_err());
    assert_eq!(inv.limit_hosts(&lim).unwrap(), ["w1", "d1"]);
    let list = vec!["db".to_string(), "web:!w2".to_string()];
    assert_eq!(inv.select_list(&list).unwrap(), ["d1", "w1"]);
}

#[test]
fn unmatched_patterns_as_ansible_warns_of_them() {
    let inv = ini("[web]\nw1\n[empty]\n");
    let u = |p: &str| inv.unmatched_patterns(p);
    assert_eq!(u("web:w1:all:localhost"), Vec::<String>::new());
    // A group with no hosts still matched; `&`/`!` and a subscript are left out of the
    // name; each named once.
    assert_eq!(u("empty"), Vec::<String>::new());
    assert_eq!(u("web:&nosuch:!gone[0]:nosuch"), ["nosuch", "gone"]);
    assert_eq!(u("x*:~y.*"), ["x*", "~y.*"]);
}

#[test]
fn host_list_source() {
    let inv = Inventory::load(&[PathBuf::from("a.example.com,b:2222,")]).unwrap();
    assert_eq!(inv.groups_map()["ungrouped"], ["a.example.com", "b"]);
    assert_eq!(var(&inv, "b", "ansible_port"), "2222");
}

#[test]
fn empty_inventory() {
    let inv = Inventory::load(&[]).unwrap();
    assert_eq!(inv.select("all").unwrap(), Vec::<String>::new());
    assert_eq!(inv.select("localhost").unwrap(), ["localhost"]);
    assert!(Inventory::load(&[PathBuf::from("/nonexistent/inv")]).is_err());
}

#[test]
fn yaml_named_file_reports_yaml_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inv.yml");
    fs::write(&f, "all:\n  hosts:\n    h1: [unclosed\n").unwrap();
    let e = Inventory::load(&[f]).unwrap_err();
    assert!(e.file.ends_with("inv.yml"), "{e}");
    assert!(e.line >= 3, "{e}");
}

#[test]
fn directory_source_and_vars() {
    let dir = dir_with(&[
        ("hosts", "[web]\nw1\n"),
        ("skip.retry", "[bad\n"),
        ("group_vars/web.yml", "x: 1\n"),
    ]);
    let d = dir.path();
    let mut inv = Inventory::load(&[d.to_path_buf()]).unwrap();
    assert_eq!(var(&inv, "w1", "x"), "1");
    let pb = dir_with(&[("host_vars/w1", "x: 2\n")]);
    inv.add_playbook_dir(pb.path()).unwrap();
    assert_eq!(var(&inv, "w1", "x"), "2");
}

#[test]
fn groups_made_at_run_time() {
    // group_by / add_host: the host joins new groups, which play patterns then match and
    // whose group_vars files (inventory's, then playbook's) apply by depth.
    let dir = dir_with(&[
        ("hosts", "h0\n[web]\nw1\n"),
        ("group_vars/made.yml", "x: inv\ny: made\n"),
        ("group_vars/kids.yml", "y: kids\n"),
    ]);
    let d = dir.path();
    let mut inv = Inventory::load(&[d.to_path_buf()]).unwrap();
    let pb = dir_with(&[("group_vars/made.yml", "x: pb\n")]);
    inv.add_playbook_dir(pb.path()).unwrap();

    assert!(
        inv.add_dynamic_group("w1", "made", &["all".into()])
            .unwrap()
    );
    assert!(
        !inv.add_dynamic_group("w1", "made", &["all".into()])
            .unwrap()
    );
    assert_eq!(inv.select("made").unwrap(), ["w1"]);
    assert_eq!(var(&inv, "w1", "x"), "\"pb\"");
    let parents = vec!["made".to_string(), "newparent".to_string()];
    assert!(inv.add_dynamic_group("w1", "kids", &parents).unwrap());
    assert_eq!(inv.groups["kids"].depth, 2);
    assert_eq!(var(&inv, "w1", "y"), "\"kids\"");
    assert_eq!(inv.group_names("w1"), ["kids", "made", "newparent", "web"]);
    assert_eq!(inv.select("newparent:&web").unwrap(), ["w1"]);

    // An ungrouped host leaves `ungrouped` once it is in a group.
    assert_eq!(inv.groups_map()["ungrouped"], ["h0"]);
    let vars = IndexMap::from([("z".to_string(), Value::from(1))]);
    assert!(
        inv.add_dynamic_host("h0", &["tagged".into()], &vars)
            .unwrap()
    );
    assert!(
        !inv.add_dynamic_host("h0", &["tagged".into()], &vars)
            .unwrap()
    );
    assert!(inv.groups_map()["ungrouped"].is_empty());
    assert_eq!(inv.select("tagged").unwrap(), ["h0"]);
    assert_eq!(var(&inv, "h0", "z"), "1");

    assert!(inv.add_dynamic_group("nobody", "made", &[]).is_err());
    assert!(inv.add_dynamic_group("w1", "", &[]).is_err());

    // Already in the group through a child group: no change (Ansible's get_hosts).
    assert!(
        !inv.add_dynamic_group("w1", "newparent", &["all".into()])
            .unwrap()
    );
    assert_eq!(inv.groups_map()["newparent"], ["w1"]);

    // Errors change nothing: the group is not made, and a later success reads its files.
    fs::write(d.join("group_vars/loop.yml"), "l: 1\n").unwrap();
    let e = inv
        .add_dynamic_group("w1", "loop", &["loop".into()])
        .unwrap_err();
    assert!(e.to_string().contains("can't add group to itself"), "{e}");
    assert!(!inv.groups.contains_key("loop"));
    let e = inv
        .add_dynamic_group("w1", "made", &["kids".into()])
        .unwrap_err();
    assert!(e.to_string().contains("recursive dependency loop"), "{e}");
    fs::write(d.join("group_vars/broken.yml"), "[not a mapping\n").unwrap();
    assert!(inv.add_dynamic_group("w1", "broken", &[]).is_err());
    assert!(!inv.groups.contains_key("broken"));
    assert!(inv.add_dynamic_group("w1", "loop", &[]).unwrap());
    assert_eq!(var(&inv, "w1", "l"), "1");
}

#[test]
fn groups_from_instance_tags_bring_their_group_vars() {
    let dir = dir_with(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/tagged.yml", "t: 1\n"),
    ]);
    let mut inv = Inventory::load(&[dir.path().to_path_buf()]).unwrap();
    inv.join_groups("w1", &["tagged".to_string()]).unwrap();
    assert_eq!(var(&inv, "w1", "t"), "1");
}

#[test]
fn no_panic_on_garbage() {
    // A small deterministic generator over characters that matter to the parsers.
    let alphabet: Vec<char> = "[]:=#;'\"\\ ,{}()-_.*!&~@0123456789abcxyzTrueNone\n\tj+e"
        .chars()
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut s = String::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        let _ = literal_eval(&s);
        if let Ok(inv) = Inventory::from_str("fuzz", &s) {
            let _ = inv.select(&s);
            for h in inv.hosts.keys() {
                let _ = inv.host_vars(h);
            }
        }
        let _ = split_host_pattern(&s);
        let _ = expand_hostname_range(&s);
        let _ = parse_address(&s);
    }
}

#[test]
fn host_counts_are_limited_and_big_groups_load_in_linear_time() {
    // 60,000 hosts in one group, then all of them again in a second group: membership
    // checks once searched the group's list for every host added.
    let inv = ini("[a]\nw[1:60000]\n[b]\nw[1:60000]\n");
    assert_eq!(inv.hosts.len(), 60_000);
    assert_eq!(inv.groups["a"].hosts.len(), 60_000);
    assert_eq!(inv.groups["b"].hosts.len(), 60_000);
    let e = ini_err("[a]\nw[1:100001]\n");
    assert!(e.contains("more than 100000 hosts"), "{e}");
    let e = ini_err("[a]\nw[1:60000]\nv[1:60000]\n");
    assert!(
        e.contains("the inventory has more than 100000 hosts"),
        "{e}"
    );
}
