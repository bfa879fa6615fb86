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
    let diff = r.get("diff").unwrap();
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
