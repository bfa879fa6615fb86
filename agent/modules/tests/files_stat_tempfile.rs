//! The `stat` and `tempfile` modules, against results recorded from ansible-core 2.21.

#[path = "files_common.rs"]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use agent_modules::Value;
use common::*;

#[test]
fn stat_file_link_and_missing() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    fs::write(&f, "abc").unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
    let r = run("stat", &args(&[("path", p(&f))])).unwrap();
    assert!(!changed(&r));
    let st = r.get("stat").unwrap();
    assert_eq!(get(st, "exists").unwrap(), Value::from(true));
    assert_eq!(get(st, "mode").unwrap().as_str(), Some("0640"));
    assert_eq!(get(st, "isreg").unwrap(), Value::from(true));
    assert_eq!(get(st, "size").unwrap(), Value::from(3));
    assert_eq!(get(st, "pw_name").unwrap().as_str(), Some("root"));
    assert_eq!(
        get(st, "checksum").unwrap().as_str(),
        Some("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    assert_eq!(get(st, "mimetype").unwrap().as_str(), Some("text/plain"));
    assert_eq!(get(st, "rgrp").unwrap(), Value::from(true));
    assert_eq!(get(st, "woth").unwrap(), Value::from(false));
    let r = run(
        "stat",
        &args(&[
            ("path", p(&f)),
            ("checksum_algorithm", v("sha256")),
            ("get_mime", Value::from(false)),
        ]),
    )
    .unwrap();
    let st = r.get("stat").unwrap();
    assert_eq!(
        get(st, "checksum").unwrap().as_str(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert!(get(st, "mimetype").is_none());

    let l = d.path().join("l");
    std::os::unix::fs::symlink("f", &l).unwrap();
    let st = run("stat", &args(&[("path", p(&l))])).unwrap()["stat"].clone();
    assert_eq!(get(&st, "islnk").unwrap(), Value::from(true));
    assert_eq!(get(&st, "lnk_target").unwrap().as_str(), Some("f"));
    assert_eq!(
        get(&st, "lnk_source").unwrap().as_str(),
        Some(fs::canonicalize(&f).unwrap().display().to_string().as_str())
    );
    assert!(get(&st, "checksum").is_none());
    let st = run(
        "stat",
        &args(&[("path", p(&l)), ("follow", Value::from(true))]),
    )
    .unwrap()["stat"]
        .clone();
    assert_eq!(get(&st, "isreg").unwrap(), Value::from(true));

    let r = run("stat", &args(&[("path", p(&d.path().join("nope")))])).unwrap();
    let st = r.get("stat").unwrap();
    assert_eq!(get(st, "exists").unwrap(), Value::from(false));
    // Check mode: the same answer, nothing changes.
    let r = check("stat", &args(&[("path", p(&f))])).unwrap();
    assert!(!changed(&r));
}

#[test]
fn tempfile_file_and_directory() {
    let d = tempfile::tempdir().unwrap();
    let r = run(
        "tempfile",
        &args(&[("path", p(d.path())), ("suffix", v(".conf"))]),
    )
    .unwrap();
    assert!(changed(&r));
    let path = s(&r, "path");
    assert!(
        path.starts_with(&format!("{}/ansible.", d.path().display())),
        "{path}"
    );
    assert!(path.ends_with(".conf"));
    assert_eq!(s(&r, "mode"), "0600");
    assert_eq!(s(&r, "state"), "file");
    let r = run(
        "tempfile",
        &args(&[
            ("path", p(d.path())),
            ("state", v("directory")),
            ("prefix", v("x")),
        ]),
    )
    .unwrap();
    assert_eq!(s(&r, "mode"), "0700");
    assert_eq!(s(&r, "state"), "directory");
    // Every run makes a new one; check mode skips and creates nothing.
    let before = fs::read_dir(d.path()).unwrap().count();
    let r = check("tempfile", &args(&[("path", p(d.path()))])).unwrap();
    assert!(!changed(&r));
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), before);
    let e = run("tempfile", &args(&[("prefix", v("a/b"))])).unwrap_err();
    assert_eq!(
        e.msg,
        "prefix must be a valid file name component, got 'a/b'"
    );
}
