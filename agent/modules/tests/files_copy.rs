//! The `copy` module, against results recorded from ansible-core 2.21.

#[path = "files_common.rs"]
mod common;

use std::fs;

use agent_modules::Value;
use common::*;

fn roots() -> (tempfile::TempDir, tempfile::TempDir) {
    let role = tempfile::tempdir().unwrap();
    fs::create_dir_all(role.path().join("files/dir1/sub")).unwrap();
    fs::write(role.path().join("files/a.txt"), "hello\n").unwrap();
    fs::write(role.path().join("files/dir1/x"), "x\n").unwrap();
    fs::write(role.path().join("files/dir1/sub/y"), "y\n").unwrap();
    (role, tempfile::tempdir().unwrap())
}

#[test]
fn content_then_idempotent() {
    let (role, d) = roots();
    let c = d.path().join("c");
    let a = args(&[
        ("content", v("abc\n")),
        ("dest", p(&c)),
        ("mode", v("0600")),
    ]);
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "md5sum"), "0bee89b07a248e27c83fc3d5951213c1");
    assert_eq!(
        s(&r, "checksum"),
        "03cfd743661f07975fa2f1220c5194cbaff48451"
    );
    assert_eq!(s(&r, "mode"), "0600");
    assert_eq!(s(&r, "state"), "file");
    assert_eq!(s(&r, "size"), "4");
    assert_eq!(diff_str(&r, "after", "x"), None);
    assert_eq!(fs::read_to_string(&c).unwrap(), "abc\n");
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(!changed(&r));
    assert_eq!(s(&r, "path"), c.display().to_string());
    assert_eq!(
        s(&r, "checksum"),
        "03cfd743661f07975fa2f1220c5194cbaff48451"
    );
    // Mode-only change.
    let a2 = args(&[
        ("content", v("abc\n")),
        ("dest", p(&c)),
        ("mode", v("0640")),
    ]);
    let r = run_with("copy", &a2, role.path(), false, true).unwrap();
    assert!(changed(&r));
    assert_eq!(diff_str(&r, "before", "mode").as_deref(), Some("0600"));
    assert_eq!(mode_of(&c), 0o640);
}

#[test]
fn content_check_mode_writes_nothing() {
    let (role, d) = roots();
    let c = d.path().join("c");
    let a = args(&[("content", v("abc\n")), ("dest", p(&c))]);
    let r = run_with("copy", &a, role.path(), true, true).unwrap();
    assert!(changed(&r));
    assert!(!c.exists());
}

#[test]
fn src_into_dir_backup_and_diff_headers() {
    let (role, d) = roots();
    let dest = format!("{}/", d.path().display());
    let a = args(&[("src", v("a.txt")), ("dest", v(&dest))]);
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(changed(&r));
    let f = d.path().join("a.txt");
    assert_eq!(s(&r, "dest"), f.display().to_string());
    assert_eq!(s(&r, "mode"), "0644");
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(!changed(&r));
    let b = args(&[
        ("content", v("new\n")),
        ("dest", p(&f)),
        ("backup", Value::from(true)),
    ]);
    let r = run_with("copy", &b, role.path(), false, true).unwrap();
    assert!(changed(&r));
    let backup = s(&r, "backup_file");
    assert!(backup.starts_with(&format!("{}.", f.display())), "{backup}");
    assert_eq!(fs::read_to_string(&backup).unwrap(), "hello\n");
    // Ansible's action returns a file's content diffs as a list.
    let diff = &r.get("diff").unwrap().get_item_by_index(0).unwrap();
    assert_eq!(
        get(diff, "before_header").unwrap().as_str(),
        Some(f.display().to_string().as_str())
    );
    assert_eq!(get(diff, "before").unwrap().as_str(), Some("hello\n"));
    assert_eq!(get(diff, "after").unwrap().as_str(), Some("new\n"));
}

#[test]
fn directories_with_and_without_slash() {
    let (role, d) = roots();
    let dest = format!("{}/", d.path().display());
    let a = args(&[("src", v("dir1")), ("dest", v(&dest))]);
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "dest"), dest);
    assert_eq!(
        fs::read_to_string(d.path().join("dir1/sub/y")).unwrap(),
        "y\n"
    );
    assert!(!changed(
        &run_with("copy", &a, role.path(), false, true).unwrap()
    ));
    let flat = d.path().join("flat");
    let a = args(&[("src", v("dir1/")), ("dest", p(&flat))]);
    let r = run_with("copy", &a, role.path(), true, true).unwrap();
    assert!(changed(&r));
    assert!(!flat.exists());
    run_with("copy", &a, role.path(), false, true).unwrap();
    assert_eq!(fs::read_to_string(flat.join("x")).unwrap(), "x\n");
}

#[test]
fn remote_src_force_and_errors() {
    let (role, d) = roots();
    let c = d.path().join("c");
    fs::write(&c, "abc\n").unwrap();
    let c2 = d.path().join("c2");
    let r = run_with(
        "copy",
        &args(&[
            ("src", p(&c)),
            ("dest", p(&c2)),
            ("remote_src", Value::from(true)),
        ]),
        role.path(),
        false,
        true,
    )
    .unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "src"), c.display().to_string());
    let r = run_with(
        "copy",
        &args(&[
            ("content", v("zzz")),
            ("dest", p(&c)),
            ("force", Value::from(false)),
        ]),
        role.path(),
        false,
        true,
    )
    .unwrap();
    assert!(!changed(&r));
    assert_eq!(fs::read_to_string(&c).unwrap(), "abc\n");
    let e = run_with(
        "copy",
        &args(&[
            ("content", v("q")),
            ("dest", p(&d.path().join("nodir/sub/f"))),
        ]),
        role.path(),
        false,
        true,
    )
    .unwrap_err();
    assert_eq!(
        e.msg,
        format!(
            "Destination directory {} does not exist",
            d.path().join("nodir/sub").display()
        )
    );
    let e = run_with(
        "copy",
        &args(&[("src", v("nonexist.txt")), ("dest", p(d.path()))]),
        role.path(),
        false,
        true,
    )
    .unwrap_err();
    assert!(
        e.msg.starts_with("Could not find or access 'nonexist.txt'"),
        "{}",
        e.msg
    );
    // A remote source that is neither a file nor a directory (a device here).
    let e = run_with(
        "copy",
        &args(&[
            ("src", v("/dev/null")),
            ("dest", p(&c2)),
            ("remote_src", Value::from(true)),
        ]),
        role.path(),
        false,
        false,
    )
    .unwrap_err();
    assert_eq!(e.msg, "Cannot copy invalid source '/dev/null': not a file");
    // The action's and module's internal parameters are refused, before anything else.
    for internal in ["_diff_peek", "_original_basename"] {
        let e = run_with(
            "copy",
            &args(&[("content", v("q")), ("dest", p(&c2)), (internal, v("x"))]),
            role.path(),
            false,
            false,
        )
        .unwrap_err();
        assert_eq!(
            e.msg,
            format!("Invalid parameter specified: \"{internal}\"")
        );
    }
    assert_eq!(fs::read_to_string(&c2).unwrap(), "abc\n");
}

#[test]
fn validate_failure_leaves_dest_untouched() {
    let (role, d) = roots();
    let c = d.path().join("c");
    fs::write(&c, "old").unwrap();
    let a = args(&[
        ("content", v("new")),
        ("dest", p(&c)),
        ("validate", v("false %s")),
    ]);
    let e = run_with("copy", &a, role.path(), false, true).unwrap_err();
    assert_eq!(e.msg, "failed to validate");
    assert_eq!(fs::read_to_string(&c).unwrap(), "old");
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    let a = args(&[
        ("content", v("new")),
        ("dest", p(&c)),
        ("validate", v("true %s")),
    ]);
    assert!(changed(
        &run_with("copy", &a, role.path(), false, true).unwrap()
    ));
}

/// The result's keys, sorted (owner/group names and ids included).
fn keys(r: &agent_modules::ResultMap) -> Vec<&str> {
    let mut k: Vec<&str> = r.keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

const INFO: [&str; 7] = ["gid", "group", "mode", "owner", "size", "state", "uid"];

fn with_info(extra: &[&'static str]) -> Vec<&'static str> {
    let mut k: Vec<&str> = extra.iter().copied().chain(INFO).collect();
    k.sort_unstable();
    k
}

// Key sets recorded from ansible-core 2.21.5 (`register` of each situation).
#[test]
fn result_keys_per_situation_as_ansible() {
    let (role, d) = roots();
    let f = d.path().join("f");
    let a = args(&[("content", v("one\n")), ("dest", p(&f))]);
    // New file, check mode: the action answers before the module: no dest, no checksum.
    let r = run_with("copy", &a, role.path(), true, true).unwrap();
    assert_eq!(keys(&r), ["changed", "diff"]);
    // Outside diff mode the action's list of diffs is there, empty.
    let r = run_with("copy", &a, role.path(), true, false).unwrap();
    assert_eq!(keys(&r), ["changed", "diff"]);
    assert_eq!(r.get("diff").unwrap().len(), Some(0));
    // New file, real run: the module's keys, `src` the temporary file for content.
    let r = run_with("copy", &a, role.path(), false, false).unwrap();
    assert_eq!(
        keys(&r),
        with_info(&["changed", "checksum", "dest", "diff", "md5sum", "src"])
    );
    assert_eq!(s(&r, "dest"), f.display().to_string());
    // Unchanged file (check and real): the file module's keys plus checksum and dest.
    for check in [true, false] {
        let r = run_with("copy", &a, role.path(), check, false).unwrap();
        assert!(!changed(&r));
        assert_eq!(
            keys(&r),
            with_info(&["changed", "checksum", "dest", "diff", "path"])
        );
    }
    // Changed file in check mode: as a new one.
    let b = args(&[("content", v("two\n")), ("dest", p(&f))]);
    let r = run_with("copy", &b, role.path(), true, true).unwrap();
    assert!(changed(&r));
    assert_eq!(keys(&r), ["changed", "diff"]);
    assert_eq!(fs::read_to_string(&f).unwrap(), "one\n");
    // src from files/, real: src is the source.
    let g = d.path().join("g");
    let r = run_with(
        "copy",
        &args(&[("src", v("a.txt")), ("dest", p(&g))]),
        role.path(),
        false,
        false,
    )
    .unwrap();
    assert_eq!(
        keys(&r),
        with_info(&["changed", "checksum", "dest", "diff", "md5sum", "src"])
    );
    assert!(std::path::Path::new(&s(&r, "src")).is_absolute());
    // force: no onto an existing file: dest as given and src only.
    let r = run_with(
        "copy",
        &args(&[
            ("src", v("a.txt")),
            ("dest", p(&f)),
            ("force", Value::from(false)),
        ]),
        role.path(),
        true,
        false,
    )
    .unwrap();
    assert_eq!(keys(&r), ["changed", "dest", "src"]);
    assert!(!changed(&r));
}

#[test]
fn check_mode_missing_parent_is_a_change_not_an_error() {
    let (role, d) = roots();
    let f = d.path().join("nodir/f");
    let a = args(&[("content", v("x")), ("dest", p(&f))]);
    let r = run_with("copy", &a, role.path(), true, false).unwrap();
    assert!(changed(&r));
    assert!(!f.parent().unwrap().exists());
    assert!(run_with("copy", &a, role.path(), false, false).is_err());
}

#[test]
fn directory_copy_creates_nested_dest_and_leaf_dirs() {
    let (role, d) = roots();
    fs::create_dir_all(role.path().join("files/dir1/empty")).unwrap();
    // Ansible leaves existing directories holding files alone (directory_mode only for
    // the directories it creates and for leaf ones).
    let kept = d.path().join("deep/dir1");
    let dest = format!("{}/", d.path().join("deep").display());
    let a = args(&[
        ("src", v("dir1")),
        ("dest", v(&dest)),
        ("directory_mode", v("0750")),
    ]);
    // Check mode: nothing made, the directory result only.
    let r = run_with("copy", &a, role.path(), true, true).unwrap();
    assert!(changed(&r));
    assert_eq!(keys(&r), ["changed", "dest", "src"]);
    assert_eq!(s(&r, "dest"), dest);
    assert!(!d.path().join("deep").exists());
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(changed(&r));
    assert_eq!(keys(&r), ["changed", "dest", "src"]);
    assert_eq!(fs::read_to_string(kept.join("sub/y")).unwrap(), "y\n");
    for dir in ["deep", "deep/dir1", "deep/dir1/sub", "deep/dir1/empty"] {
        assert_eq!(mode_of(&d.path().join(dir)), 0o750, "{dir}");
    }
    // Idempotent, in check mode too.
    for check in [true, false] {
        let r = run_with("copy", &a, role.path(), check, true).unwrap();
        assert!(!changed(&r));
        assert_eq!(keys(&r), ["changed", "dest", "src"]);
    }
    // A directory with files keeps its mode; an empty leaf directory is fixed.
    fs::set_permissions(&kept, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    fs::set_permissions(
        kept.join("empty"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(changed(&r));
    assert_eq!(mode_of(&kept), 0o700);
    assert_eq!(mode_of(&kept.join("empty")), 0o750);
    // No content diff for a directory of several files.
    fs::write(kept.join("x"), "changed\n").unwrap();
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(changed(&r));
    assert!(r.get("diff").is_none());
    assert_eq!(fs::read_to_string(kept.join("x")).unwrap(), "x\n");
}

#[test]
fn directory_of_one_file_reports_the_file() {
    let (role, d) = roots();
    fs::create_dir_all(role.path().join("files/one")).unwrap();
    fs::write(role.path().join("files/one/only"), "only\n").unwrap();
    let dest = format!("{}/", d.path().join("sd").display());
    let a = args(&[("src", v("one")), ("dest", v(&dest))]);
    let r = run_with("copy", &a, role.path(), true, true).unwrap();
    assert_eq!(keys(&r), ["changed", "diff"]);
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    let f = d.path().join("sd/one/only");
    assert_eq!(s(&r, "dest"), f.display().to_string());
    assert_eq!(
        get(
            &r.get("diff").unwrap().get_item_by_index(0).unwrap(),
            "after"
        )
        .unwrap()
        .as_str(),
        Some("only\n")
    );
    let r = run_with("copy", &a, role.path(), false, true).unwrap();
    assert!(!changed(&r));
    assert_eq!(s(&r, "path"), f.display().to_string());
}

#[test]
fn remote_src_carries_source_mode_and_times_over_existing_dest() {
    use std::os::unix::fs::PermissionsExt;
    let (role, d) = roots();
    let src = d.path().join("src.sh");
    fs::write(&src, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    fs::File::options()
        .write(true)
        .open(&src)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let existing = d.path().join("existing");
    fs::write(&existing, "old\n").unwrap();
    fs::set_permissions(&existing, fs::Permissions::from_mode(0o600)).unwrap();
    let fresh = d.path().join("fresh");
    let run = |dest: &std::path::Path, check: bool| {
        run_with(
            "copy",
            &args(&[
                ("src", p(&src)),
                ("dest", p(dest)),
                ("remote_src", Value::from(true)),
            ]),
            role.path(),
            check,
            true,
        )
        .unwrap()
    };
    // Check mode: the module's own answer (no diff), current state of dest.
    let r = run(&existing, true);
    assert!(changed(&r));
    assert!(r.get("diff").is_none());
    assert_eq!(
        keys(&r),
        with_info(&["changed", "checksum", "dest", "md5sum", "src"])
    );
    assert_eq!(s(&r, "mode"), "0600");
    let r = run(&fresh, true);
    assert_eq!(keys(&r), ["changed", "checksum", "dest", "md5sum", "src"]);
    // Real: an existing dest takes the source's mode; a new one 0644; both its mtime.
    let r = run(&existing, false);
    assert!(changed(&r));
    assert_eq!(s(&r, "mode"), "0755");
    assert_eq!(mode_of(&existing), 0o755);
    run(&fresh, false);
    assert_eq!(mode_of(&fresh), 0o666 & !agent_modules::host::fs::umask());
    for f in [&existing, &fresh] {
        assert_eq!(fs::metadata(f).unwrap().modified().unwrap(), old);
    }
    // Idempotent.
    let r = run(&existing, false);
    assert!(!changed(&r));
    assert_eq!(s(&r, "checksum"), s(&run(&existing, true), "checksum"));
}

/// A source tree with links: to a file in the tree, to itself, dangling, to a directory
/// in the tree, to a directory outside it, and back to the tree's top (a circle).
fn linked_tree() -> (tempfile::TempDir, tempfile::TempDir) {
    use std::os::unix::fs::symlink;
    let role = tempfile::tempdir().unwrap();
    let top = role.path().join("files/subdir");
    fs::create_dir_all(top.join("subdir1")).unwrap();
    fs::create_dir_all(top.join("subdir2/subdir3/subdir4")).unwrap();
    fs::create_dir_all(role.path().join("outside")).unwrap();
    fs::write(top.join("bar.txt"), "baz\n").unwrap();
    fs::write(top.join("subdir1/empty.txt"), "").unwrap();
    fs::write(top.join("subdir2/subdir3/subdir4/qux.txt"), "qux\n").unwrap();
    let s1 = top.join("subdir1");
    symlink("../bar.txt", s1.join("bar.txt")).unwrap();
    symlink("invalid", s1.join("invalid")).unwrap();
    symlink("../invalid", s1.join("invalid2")).unwrap();
    symlink("../subdir2/subdir3", s1.join("subdir3")).unwrap();
    symlink("../", s1.join("circles")).unwrap();
    symlink(role.path().join("outside"), s1.join("outdir")).unwrap();
    (role, tempfile::tempdir().unwrap())
}

fn link_text(p: &std::path::Path) -> Option<String> {
    fs::read_link(p).ok().map(|t| t.display().to_string())
}

#[test]
fn directory_copy_keeps_links_without_local_follow() {
    let (role, d) = linked_tree();
    let a = args(&[
        ("src", v("subdir")),
        ("dest", p(d.path())),
        ("local_follow", Value::from(false)),
    ]);
    let r = run_with("copy", &a, role.path(), false, false).unwrap();
    assert!(changed(&r));
    let s1 = d.path().join("subdir/subdir1");
    assert_eq!(
        link_text(&s1.join("bar.txt")).as_deref(),
        Some("../bar.txt")
    );
    assert_eq!(link_text(&s1.join("invalid")).as_deref(), Some("invalid"));
    assert_eq!(
        link_text(&s1.join("invalid2")).as_deref(),
        Some("../invalid")
    );
    assert_eq!(
        link_text(&s1.join("subdir3")).as_deref(),
        Some("../subdir2/subdir3")
    );
    assert_eq!(link_text(&s1.join("circles")).as_deref(), Some("../"));
    assert!(link_text(&s1.join("outdir")).is_some());
    assert_eq!(
        fs::read_to_string(d.path().join("subdir/subdir2/subdir3/subdir4/qux.txt")).unwrap(),
        "qux\n"
    );
    // Idempotent: planned again, nothing to do.
    let r = run_with("copy", &a, role.path(), false, false).unwrap();
    assert!(!changed(&r));
}

#[test]
fn directory_copy_follows_links_but_keeps_circles() {
    let (role, d) = linked_tree();
    let a = args(&[("src", v("subdir")), ("dest", p(d.path()))]);
    // Check mode first: a change, nothing written.
    let r = run_with("copy", &a, role.path(), true, false).unwrap();
    assert!(changed(&r));
    assert!(!d.path().join("subdir").exists());
    let r = run_with("copy", &a, role.path(), false, false).unwrap();
    assert!(changed(&r));
    let s1 = d.path().join("subdir/subdir1");
    // A link to a file is copied as the file, a link to a directory as a directory.
    assert_eq!(link_text(&s1.join("bar.txt")), None);
    assert_eq!(fs::read_to_string(s1.join("bar.txt")).unwrap(), "baz\n");
    assert_eq!(link_text(&s1.join("subdir3")), None);
    assert_eq!(
        fs::read_to_string(s1.join("subdir3/subdir4/qux.txt")).unwrap(),
        "qux\n"
    );
    assert!(s1.join("outdir").is_dir() && link_text(&s1.join("outdir")).is_none());
    // Dangling links and the circle stay links.
    assert_eq!(link_text(&s1.join("invalid")).as_deref(), Some("invalid"));
    assert_eq!(
        link_text(&s1.join("invalid2")).as_deref(),
        Some("../invalid")
    );
    assert_eq!(link_text(&s1.join("circles")).as_deref(), Some("../"));
    let r = run_with("copy", &a, role.path(), false, false).unwrap();
    assert!(!changed(&r));
}

#[test]
fn vault_file_is_refused_unless_decrypt_is_off() {
    let (role, d) = roots();
    let vault = "$ANSIBLE_VAULT;1.1;AES256\n6162\n";
    fs::write(role.path().join("files/secret"), vault).unwrap();
    let dest = d.path().join("secret");
    let a = args(&[("src", v("secret")), ("dest", p(&dest))]);
    let e = run_with("copy", &a, role.path(), false, false).unwrap_err();
    assert!(
        e.msg.ends_with(&format!(
            "A vault password or secret must be specified to decrypt {}",
            role.path().join("files/secret").display()
        )),
        "{}",
        e.msg
    );
    assert!(!dest.exists());
    // decrypt: false copies the file as it is.
    let a = args(&[
        ("src", v("secret")),
        ("dest", p(&dest)),
        ("decrypt", Value::from(false)),
    ]);
    run_with("copy", &a, role.path(), false, false).unwrap();
    assert_eq!(fs::read_to_string(&dest).unwrap(), vault);
}

#[test]
fn link_to_an_ancestor_fails_instead_of_copying_forever() {
    let (role, d) = roots();
    let top = role.path().join("files/mydir");
    fs::create_dir_all(&top).unwrap();
    fs::write(top.join("f"), "f\n").unwrap();
    std::os::unix::fs::symlink("..", top.join("up")).unwrap();
    let a = args(&[("src", v("mydir")), ("dest", p(d.path()))]);
    let e = run_with("copy", &a, role.path(), false, false).unwrap_err();
    assert!(e.msg.contains("directories deep"), "{}", e.msg);
    assert!(!d.path().join("mydir").exists());
    // Without local_follow the link is copied as a link.
    let a = args(&[
        ("src", v("mydir")),
        ("dest", p(d.path())),
        ("local_follow", Value::from(false)),
    ]);
    run_with("copy", &a, role.path(), false, false).unwrap();
    assert_eq!(link_text(&d.path().join("mydir/up")).as_deref(), Some(".."));
}

#[test]
fn remote_src_directory_keeps_links_unless_local_follow() {
    let (role, d) = roots();
    let src = d.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/file12"), "12\n").unwrap();
    std::os::unix::fs::symlink("sub/file12", src.join("link12")).unwrap();
    let kept = d.path().join("kept");
    let a = args(&[
        ("src", v(&format!("{}/", src.display()))),
        ("dest", p(&kept)),
        ("remote_src", Value::from(true)),
    ]);
    let r = run_with("copy", &a, role.path(), false, false).unwrap();
    assert!(changed(&r));
    assert_eq!(
        link_text(&kept.join("link12")).as_deref(),
        Some("sub/file12")
    );
    assert_eq!(fs::read_to_string(kept.join("sub/file12")).unwrap(), "12\n");
    assert!(!changed(
        &run_with("copy", &a, role.path(), false, false).unwrap()
    ));
    let followed = d.path().join("followed");
    let a = args(&[
        ("src", v(&format!("{}/", src.display()))),
        ("dest", p(&followed)),
        ("remote_src", Value::from(true)),
        ("local_follow", Value::from(true)),
    ]);
    run_with("copy", &a, role.path(), false, false).unwrap();
    assert_eq!(link_text(&followed.join("link12")), None);
    assert_eq!(fs::read_to_string(followed.join("link12")).unwrap(), "12\n");
}
