//! Idempotency (a second run changes nothing), check mode (reports the change, writes
//! nothing), backups, environment and become for lineinfile, blockinfile, replace,
//! template, command and shell.

use std::path::{Path, PathBuf};

use agent_modules::{Ctx, FileFinder, ModuleError, ResultMap, Value, registry};
use agent_template::{Templar, Vars};
use indexmap::IndexMap;

struct AbsFinder;

impl FileFinder for AbsFinder {
    fn find(&self, _kind: &str, name: &str) -> Option<PathBuf> {
        let p = PathBuf::from(name);
        p.exists().then_some(p)
    }
}

struct Env {
    templar: Templar,
    vars: Vars,
    environment: Vec<(String, String)>,
    become_user: Option<String>,
}

impl Env {
    fn new() -> Env {
        Env {
            templar: Templar::new(),
            vars: Vars::default(),
            environment: Vec::new(),
            become_user: None,
        }
    }

    fn run(
        &self,
        module: &str,
        args: &[(&str, Value)],
        check: bool,
    ) -> Result<ResultMap, ModuleError> {
        let raw: IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let ctx = Ctx {
            check_mode: check,
            diff_mode: true,
            files: &AbsFinder,
            templar: &self.templar,
            vars: &self.vars,
            become_user: self.become_user.as_deref(),
            environment: &self.environment,
        };
        (registry::find(module).unwrap().run)(module, &raw, &ctx)
    }
}

fn v(s: &str) -> Value {
    Value::from(s)
}

fn changed(r: &ResultMap) -> bool {
    r.get("changed").is_some_and(|c| c.is_true())
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Run `args` in check mode (changed, file untouched), for real (changed), then again
/// (not changed); `file` is what must not change in check mode.
fn check_then_idempotent(module: &str, args: &[(&str, Value)], file: &Path) {
    let env = Env::new();
    let before = std::fs::read(file).ok();
    let r = env.run(module, args, true).unwrap();
    assert!(changed(&r), "{module} check mode: {r:?}");
    assert_eq!(
        std::fs::read(file).ok(),
        before,
        "{module}: check mode wrote"
    );
    let r = env.run(module, args, false).unwrap();
    assert!(changed(&r), "{module} first run: {r:?}");
    assert_ne!(
        std::fs::read(file).ok(),
        before,
        "{module}: nothing written"
    );
    let after = std::fs::read(file).ok();
    let r = env.run(module, args, false).unwrap();
    assert!(!changed(&r), "{module} second run: {r:?}");
    // (template, as Ansible's `file` module under it, shows a kept file's attributes:
    // before and after alike)
    assert!(
        r.get("diff").is_none_or(shows_no_change),
        "{module} second run has a diff: {r:?}"
    );
    assert_eq!(std::fs::read(file).ok(), after);
    let r = env.run(module, args, true).unwrap();
    assert!(!changed(&r), "{module} check mode after: {r:?}");
}

#[test]
fn lineinfile_idempotent_and_check_mode() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    std::fs::write(&f, "a=1\nb=1\n").unwrap();
    check_then_idempotent(
        "lineinfile",
        &[
            ("path", v(&p(d.path(), "f"))),
            ("regexp", v("^b=")),
            ("line", v("b=2")),
            ("mode", v("0600")),
        ],
        &f,
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "a=1\nb=2\n");
}

#[test]
fn blockinfile_idempotent_and_check_mode() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    std::fs::write(&f, "a\n").unwrap();
    check_then_idempotent(
        "blockinfile",
        &[("path", v(&p(d.path(), "f"))), ("block", v("x\ny"))],
        &f,
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a\n# BEGIN ANSIBLE MANAGED BLOCK\nx\ny\n# END ANSIBLE MANAGED BLOCK\n"
    );
}

#[test]
fn replace_idempotent_and_check_mode() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    std::fs::write(&f, "port 80\nport 81\n").unwrap();
    check_then_idempotent(
        "replace",
        &[
            ("path", v(&p(d.path(), "f"))),
            ("regexp", v(r"^port (\d+)$")),
            ("replace", v(r"port=\1")),
        ],
        &f,
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "port=80\nport=81\n");
}

#[test]
fn template_idempotent_and_check_mode() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("t.j2"), "v={{ 6 * 7 }}\n").unwrap();
    let out = d.path().join("out");
    check_then_idempotent(
        "template",
        &[
            ("src", v(&p(d.path(), "t.j2"))),
            ("dest", v(&p(d.path(), "out"))),
            ("mode", v("0640")),
        ],
        &out,
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "v=42\n");
}

#[test]
fn template_result_fields_and_backup() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("t.j2"), "new {{ 1 }}\n").unwrap();
    std::fs::write(d.path().join("out"), "old\n").unwrap();
    let env = Env::new();
    let r = env
        .run(
            "template",
            &[
                ("src", v(&p(d.path(), "t.j2"))),
                ("dest", v(&p(d.path(), "out"))),
                ("backup", Value::from(true)),
            ],
            false,
        )
        .unwrap();
    let backup = r.get("backup_file").and_then(|b| b.as_str()).unwrap();
    assert_eq!(std::fs::read_to_string(backup).unwrap(), "old\n");
    assert_eq!(r.get("size"), Some(&Value::from(6)));
    assert_eq!(r.get("state"), Some(&v("file")));
    // A written file's content diffs, as a list (Ansible's copy action under template).
    let diff = r.get("diff").unwrap().get_item_by_index(0).unwrap();
    assert_eq!(diff.get_attr("before").unwrap(), v("old\n"));
    assert_eq!(diff.get_attr("after").unwrap(), v("new 1\n"));
}

#[test]
fn lineinfile_backup_keeps_the_old_content() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f");
    std::fs::write(&f, "a\n").unwrap();
    let r = Env::new()
        .run(
            "lineinfile",
            &[
                ("path", v(&p(d.path(), "f"))),
                ("line", v("b")),
                ("backup", Value::from(true)),
            ],
            false,
        )
        .unwrap();
    let backup = r
        .get("backup")
        .and_then(|b| b.as_str())
        .unwrap()
        .to_string();
    assert!(backup.starts_with(&p(d.path(), "f.")), "{backup}");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), "a\n");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "a\nb\n");
}

#[test]
fn lineinfile_follows_symlinks() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("target");
    std::fs::write(&target, "a\n").unwrap();
    std::os::unix::fs::symlink(&target, d.path().join("link")).unwrap();
    Env::new()
        .run(
            "lineinfile",
            &[("path", v(&p(d.path(), "link"))), ("line", v("b"))],
            false,
        )
        .unwrap();
    assert!(
        std::fs::symlink_metadata(d.path().join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\nb\n");
}

#[test]
fn command_creates_idempotent_and_check_mode() {
    for module in ["command", "shell"] {
        let d = tempfile::tempdir().unwrap();
        let marker = p(d.path(), "marker");
        let args = [
            ("_raw_params", v(&format!("touch {marker}"))),
            ("creates", v(&marker)),
        ];
        let env = Env::new();
        let r = env.run(module, &args, true).unwrap();
        assert!(changed(&r));
        assert_eq!(
            r.get("msg"),
            Some(&v("Command would have run if not in check mode"))
        );
        assert!(!Path::new(&marker).exists(), "{module}: check mode ran");
        let r = env.run(module, &args, false).unwrap();
        assert!(changed(&r));
        assert_eq!(r.get("rc"), Some(&Value::from(0)));
        assert!(Path::new(&marker).exists());
        let r = env.run(module, &args, false).unwrap();
        assert!(!changed(&r));
        assert_eq!(
            r.get("msg"),
            Some(&v(&format!("Did not run command since '{marker}' exists")))
        );
        let r = env.run(module, &args, true).unwrap();
        assert!(!changed(&r));
    }
}

#[test]
fn command_check_mode_without_creates_is_skipped() {
    let r = Env::new()
        .run("command", &[("_raw_params", v("true"))], true)
        .unwrap();
    assert!(!changed(&r));
    assert_eq!(r.get("skipped"), Some(&Value::from(true)));
}

#[test]
fn command_result_fields() {
    let r = Env::new()
        .run(
            "command",
            &[("argv", Value::from(vec![v("echo"), v("a  b")]))],
            false,
        )
        .unwrap();
    assert_eq!(r.get("stdout"), Some(&v("a  b")));
    assert_eq!(r.get("cmd"), Some(&Value::from(vec![v("echo"), v("a  b")])));
    let start = r.get("start").unwrap().to_string();
    assert_eq!(start.len(), "2026-01-01 00:00:00.000000".len(), "{start}");
    let delta = r.get("delta").unwrap().to_string();
    assert!(delta.starts_with("0:00:0"), "{delta}");
    let e = Env::new()
        .run("shell", &[("_raw_params", v("echo no >&2; exit 4"))], false)
        .unwrap_err();
    assert_eq!(e.msg, "The command exited with a non-zero return code.");
    assert_eq!(e.fields.get("rc"), Some(&Value::from(4)));
    assert_eq!(e.fields.get("stderr"), Some(&v("no")));
}

#[test]
fn task_environment_reaches_the_command() {
    let mut env = Env::new();
    env.environment = vec![("AGENT_T_VAR".into(), "hello there".into())];
    let r = env
        .run(
            "shell",
            &[("_raw_params", v("echo \"$AGENT_T_VAR\""))],
            false,
        )
        .unwrap();
    assert_eq!(r.get("stdout"), Some(&v("hello there")));
    let r = env
        .run("command", &[("_raw_params", v("echo $AGENT_T_VAR"))], false)
        .unwrap();
    assert_eq!(r.get("stdout"), Some(&v("hello there")));
}

#[test]
fn become_user_runs_as_that_user() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let Some(nobody) = agent_modules::host::users::user("nobody") else {
        return;
    };
    let mut env = Env::new();
    env.become_user = Some("nobody".into());
    let r = env
        .run(
            "shell",
            &[("_raw_params", v("id -u; echo $HOME; echo $USER"))],
            false,
        )
        .unwrap();
    assert_eq!(
        r.get("stdout"),
        Some(&v(&format!("{}\n{}\nnobody", nobody.uid, nobody.home)))
    );
}

/// A diff that shows nothing: an empty list, or before and after alike.
fn shows_no_change(d: &Value) -> bool {
    match d.kind() {
        minijinja::value::ValueKind::Seq => d
            .try_iter()
            .map(|mut it| it.all(|x| shows_no_change(&x)))
            .unwrap_or(false),
        _ => d.get_attr("before").ok() == d.get_attr("after").ok(),
    }
}

#[test]
fn filesize_creates_grows_truncates_idempotently() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("img");
    // created (check mode leaves no file), then kept
    check_then_idempotent(
        "community.general.filesize",
        &[
            ("path", v(&p(d.path(), "img"))),
            ("size", v("1M")),
            ("mode", v("0600")),
        ],
        &f,
    );
    let md = std::fs::metadata(&f).unwrap();
    assert_eq!(md.len(), 1 << 20);
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o777,
        0o600
    );
    // grown, keeping its first bytes; then truncated
    let mut data = std::fs::read(&f).unwrap();
    data[..3].copy_from_slice(b"abc");
    std::fs::write(&f, &data).unwrap();
    let env = Env::new();
    let grow = [("path", v(&p(d.path(), "img"))), ("size", v("1.5MiB"))];
    let r = env.run("filesize", &grow, false).unwrap();
    assert!(changed(&r), "{r:?}");
    assert_eq!(r["size_diff"], Value::from(1 << 19));
    let data = std::fs::read(&f).unwrap();
    assert_eq!((data.len(), &data[..3]), (3 << 19, &b"abc"[..]));
    assert!(!changed(&env.run("filesize", &grow, false).unwrap()));
    let r = env
        .run(
            "filesize",
            &[("path", v(&p(d.path(), "img"))), ("size", v("10B"))],
            false,
        )
        .unwrap();
    assert!(changed(&r));
    assert_eq!(std::fs::read(&f).unwrap(), b"abc\0\0\0\0\0\0\0");
    assert_eq!(r["filesize"].get_attr("bytes").unwrap(), Value::from(10));
    // sparse and force together are refused
    let e = env
        .run(
            "filesize",
            &[
                ("path", v(&p(d.path(), "img"))),
                ("size", v("1")),
                ("sparse", Value::from(true)),
                ("force", Value::from(true)),
            ],
            false,
        )
        .unwrap_err();
    assert_eq!(
        e.msg,
        "parameters values are mutually exclusive: force=true|sparse=true"
    );
}

#[test]
fn filesize_follows_a_dangling_symlink() {
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("target.img", d.path().join("link")).unwrap();
    let env = Env::new();
    let r = env
        .run(
            "filesize",
            &[("path", v(&p(d.path(), "link"))), ("size", v("4KiB"))],
            false,
        )
        .unwrap();
    assert!(changed(&r), "{r:?}");
    assert!(
        std::fs::symlink_metadata(d.path().join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::metadata(d.path().join("target.img"))
            .unwrap()
            .len(),
        4096
    );
    assert_eq!(r["path"], Value::from(p(d.path(), "target.img")));
}
