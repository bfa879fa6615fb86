//! The `file` module, against results recorded from ansible-core 2.21.

#[path = "files_common.rs"]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn directory_created_with_parents_then_idempotent() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("a/b");
    let a = args(&[
        ("path", p(&path)),
        ("state", v("directory")),
        ("mode", v("0750")),
    ]);
    let r = run("file", &a).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "path"), path.display().to_string());
    assert_eq!(s(&r, "mode"), "0750");
    assert_eq!(s(&r, "state"), "directory");
    assert_eq!(s(&r, "owner"), "root");
    // Every created directory gets the mode, as in Ansible.
    assert_eq!(mode_of(&d.path().join("a")), 0o750);
    assert_eq!(diff_str(&r, "before", "state").as_deref(), Some("absent"));
    assert_eq!(diff_str(&r, "before", "mode").as_deref(), Some("0755"));
    assert_eq!(diff_str(&r, "after", "mode").as_deref(), Some("0750"));
    let r = run("file", &a).unwrap();
    assert!(!changed(&r));
}

#[test]
fn directory_check_mode_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("x");
    let r = check(
        "file",
        &args(&[("path", p(&path)), ("state", v("directory"))]),
    )
    .unwrap();
    assert!(changed(&r));
    assert!(!path.exists());
}

#[test]
fn touch_then_symbolic_mode() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    let r = run("file", &args(&[("path", p(&f)), ("state", v("touch"))])).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "dest"), f.display().to_string());
    assert_eq!(s(&r, "mode"), "0644");
    assert_eq!(s(&r, "state"), "file");
    assert_eq!(s(&r, "size"), "0");
    let r = run("file", &args(&[("path", p(&f)), ("mode", v("u+x"))])).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "mode"), "0744");
    assert_eq!(diff_str(&r, "before", "mode").as_deref(), Some("0644"));
    let r = run("file", &args(&[("path", p(&f)), ("mode", v("u+x"))])).unwrap();
    assert!(!changed(&r));
    // touch with preserved times: not changed.
    let r = run(
        "file",
        &args(&[
            ("path", p(&f)),
            ("state", v("touch")),
            ("modification_time", v("preserve")),
            ("access_time", v("preserve")),
        ]),
    )
    .unwrap();
    assert!(!changed(&r));
}

#[test]
fn touch_check_mode_creates_nothing() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    let r = check("file", &args(&[("path", p(&f)), ("state", v("touch"))])).unwrap();
    assert!(changed(&r));
    assert!(!f.exists());
    assert!(r.get("diff").is_none());
}

#[test]
fn file_absent_cannot_continue() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("nope");
    let e = run("file", &args(&[("path", p(&f)), ("state", v("file"))])).unwrap_err();
    assert_eq!(
        e.msg,
        format!("file ({}) is absent, cannot continue", f.display())
    );
    assert_eq!(e.fields["state"].as_str(), Some("absent"));
}

#[test]
fn symlinks() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    fs::write(&f, "x").unwrap();
    let l = d.path().join("l");
    let a = args(&[("path", p(&l)), ("src", p(&f)), ("state", v("link"))]);
    let r = check("file", &a).unwrap();
    assert!(changed(&r));
    assert!(fs::symlink_metadata(&l).is_err());
    let r = run("file", &a).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "state"), "link");
    assert_eq!(s(&r, "mode"), "0777");
    assert_eq!(s(&r, "src"), f.display().to_string());
    assert_eq!(fs::read_link(&l).unwrap(), f);
    assert!(!changed(&run("file", &a).unwrap()));
    // Repoint.
    let g = d.path().join("g");
    fs::write(&g, "y").unwrap();
    let r = run(
        "file",
        &args(&[("path", p(&l)), ("src", p(&g)), ("state", v("link"))]),
    )
    .unwrap();
    assert!(changed(&r));
    assert_eq!(fs::read_link(&l).unwrap(), g);
    // Errors.
    let e = run(
        "file",
        &args(&[("path", p(&d.path().join("l2"))), ("state", v("link"))]),
    )
    .unwrap_err();
    assert_eq!(e.msg, "src is required for creating new symlinks");
    let e = run(
        "file",
        &args(&[
            ("path", p(&d.path().join("l3"))),
            ("src", v("nonexist")),
            ("state", v("link")),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        e.msg,
        format!(
            "src file does not exist, use 'force=yes' if you really want to create the link: {}",
            d.path().join("nonexist").display()
        )
    );
    let e = run(
        "file",
        &args(&[("path", p(&f)), ("src", p(&g)), ("state", v("link"))]),
    )
    .unwrap_err();
    assert_eq!(
        e.msg,
        format!(
            "refusing to convert from file to symlink for {}",
            f.display()
        )
    );
    // force on a file converts it.
    let r = run(
        "file",
        &args(&[
            ("path", p(&f)),
            ("src", p(&g)),
            ("state", v("link")),
            ("force", Value::from(true)),
        ]),
    )
    .unwrap();
    assert!(changed(&r));
    assert!(fs::symlink_metadata(&f).unwrap().file_type().is_symlink());
}

use agent_modules::Value;

#[test]
fn hard_links() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    fs::write(&f, "x").unwrap();
    let h = d.path().join("h");
    let a = args(&[("path", p(&h)), ("src", p(&f)), ("state", v("hard"))]);
    let r = run("file", &a).unwrap();
    assert!(changed(&r));
    assert_eq!(s(&r, "state"), "hard");
    assert!(!changed(&run("file", &a).unwrap()));
    let g = d.path().join("g");
    fs::write(&g, "y").unwrap();
    let e = run(
        "file",
        &args(&[("path", p(&g)), ("src", p(&f)), ("state", v("hard"))]),
    )
    .unwrap_err();
    assert_eq!(e.msg, "Cannot link, file exists at destination");
    let e = run("file", &args(&[("path", p(&g)), ("state", v("hard"))])).unwrap_err();
    assert_eq!(e.msg, "src is required for creating new hardlinks");
    // A file with two links is "hard"; state=directory on it fails.
    let e = run("file", &args(&[("path", p(&f)), ("state", v("directory"))])).unwrap_err();
    assert_eq!(e.msg, format!("{} already exists as a hard", f.display()));
}

#[test]
fn absent_lists_directory_content() {
    let d = tempfile::tempdir().unwrap();
    let top = d.path().join("t");
    fs::create_dir_all(top.join("e")).unwrap();
    fs::write(top.join("e/f"), "").unwrap();
    let a = args(&[("path", p(&top)), ("state", v("absent"))]);
    let r = check("file", &a).unwrap();
    assert!(changed(&r));
    assert!(top.exists());
    let r = run("file", &a).unwrap();
    assert!(changed(&r));
    assert!(!top.exists());
    let before = get(r.get("diff").unwrap(), "before").unwrap();
    let pc = get(&before, "path_content").unwrap();
    assert_eq!(get(&pc, "directories").unwrap().len(), Some(1));
    assert_eq!(get(&pc, "files").unwrap().len(), Some(1));
    assert_eq!(s(&r, "state"), "absent");
    let r = run("file", &a).unwrap();
    assert!(!changed(&r));
    assert!(r.get("diff").is_none());
}

#[test]
fn recurse_sets_modes_below() {
    let d = tempfile::tempdir().unwrap();
    let top = d.path().join("t");
    fs::create_dir_all(top.join("sub")).unwrap();
    fs::write(top.join("sub/f"), "").unwrap();
    fs::set_permissions(top.join("sub/f"), fs::Permissions::from_mode(0o600)).unwrap();
    let a = args(&[
        ("path", p(&top)),
        ("state", v("directory")),
        ("recurse", Value::from(true)),
        ("mode", v("u=rwX,g=rX,o=rX")),
    ]);
    let r = run("file", &a).unwrap();
    assert!(changed(&r));
    assert_eq!(mode_of(&top.join("sub/f")), 0o644);
    assert_eq!(mode_of(&top.join("sub")), 0o755);
    assert!(!changed(&run("file", &a).unwrap()));
    let e = run(
        "file",
        &args(&[
            ("path", p(&top)),
            ("state", v("file")),
            ("recurse", Value::from(true)),
        ]),
    )
    .unwrap_err();
    assert_eq!(e.msg, "recurse option requires state to be 'directory'");
}

#[test]
fn owner_and_times() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    fs::write(&f, "").unwrap();
    let a = args(&[
        ("path", p(&f)),
        ("owner", v("root")),
        ("group", v("0")),
        ("modification_time", v("202001020304.05")),
    ]);
    let r = run("file", &a).unwrap();
    assert!(changed(&r));
    assert!(!changed(&run("file", &a).unwrap()));
    let e = run(
        "file",
        &args(&[("path", p(&f)), ("owner", v("no-such-user-xyz"))]),
    )
    .unwrap_err();
    assert_eq!(
        e.msg,
        "chown failed: failed to look up user no-such-user-xyz"
    );
    let e = run("file", &args(&[("path", p(&f)), ("src", p(&f))])).unwrap_err();
    assert_eq!(e.msg, "src option requires state to be 'link' or 'hard'");
}
