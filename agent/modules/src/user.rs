//! The `user` module: a local account present (uid, primary and supplementary groups,
//! home, shell, comment, password hash, expiry, lock) or absent. Observed from
//! /etc/passwd, /etc/shadow and /etc/group; changed with one useradd / usermod /
//! userdel run built with the same flags Ansible's user module passes.

use std::path::Path;

use crate::host::account::{chown_tree, create_homedir, shadow_tool};
use crate::host::sshkey::{self, KeySpec};
use crate::host::tools::Output;
use crate::host::users::{self, GroupEntry, PasswdEntry, ShadowEntry};
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct User;

const SPEC: &[Arg] = &[
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::str("name").required().aliases(&["user"]),
    Arg::int("uid"),
    Arg::bool("non_unique", false),
    Arg::str("group"),
    Arg::list("groups"),
    Arg::str("comment"),
    Arg::path("home"),
    Arg::path("shell"),
    Arg::str("password").no_log(),
    Arg::str("login_class"),
    Arg::int("password_expire_max"),
    Arg::int("password_expire_min"),
    Arg::int("password_expire_warn"),
    Arg::new("hidden", Ty::Bool),
    Arg::str("seuser"),
    Arg::bool("force", false),
    Arg::bool("remove", false),
    Arg::bool("create_home", true).aliases(&["createhome"]),
    Arg::str("skeleton"),
    Arg::bool("system", false),
    Arg::bool("move_home", false),
    Arg::bool("append", false),
    Arg::new("generate_ssh_key", Ty::Bool),
    Arg::int("ssh_key_bits").default(Def::Int(0)),
    Arg::str("ssh_key_type").default(Def::Str("rsa")),
    Arg::path("ssh_key_file"),
    Arg::str("ssh_key_comment"),
    Arg::str("ssh_key_passphrase").no_log(),
    Arg::str("update_password")
        .default(Def::Str("always"))
        .choices(&["always", "on_create"]),
    Arg::new("expires", Ty::Float),
    Arg::new("password_lock", Ty::Bool),
    Arg::new("local", Ty::Bool),
    Arg::str("profile"),
    Arg::str("authorization"),
    Arg::str("role"),
    Arg::str("umask"),
    Arg::int("password_expire_account_disable"),
    Arg::int("uid_min"),
    Arg::int("uid_max"),
];

/// What is known of the account and its surroundings before the task.
#[derive(Debug, Clone, Default)]
pub struct UserState {
    pub passwd: Option<PasswdEntry>,
    pub shadow: Option<ShadowEntry>,
    /// Every group (existence and gid/name resolution).
    pub groups: Vec<GroupEntry>,
    /// Whether the `home` parameter's path exists, and its parent directory.
    pub home_param_exists: bool,
    pub home_param_parent_is_dir: bool,
    /// Whether the account's current home exists.
    pub current_home_exists: bool,
    /// The key `generate_ssh_key` asks for, when it does.
    pub ssh: Option<SshState>,
    /// Whether SELinux is enabled (`seuser` is ignored, with a warning, when it is not).
    pub selinux: bool,
}

/// The key file `generate_ssh_key` manages, as found before the task.
#[derive(Debug, Clone, Default)]
pub struct SshState {
    /// `ssh_key_file` (default `.ssh/id_<type>`), absolute or relative to the home.
    pub file: String,
    /// Where it is for the account's home as known now.
    pub path: std::path::PathBuf,
    pub private_exists: bool,
    pub public_exists: bool,
    pub fingerprint: String,
    pub public_key: Option<String>,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserOp {
    /// Ansible makes a home whose parent is missing itself before useradd (and gives it
    /// to the new user afterwards).
    PreCreateHome(String),
    Useradd(Vec<String>),
    Usermod(Vec<String>),
    Userdel(Vec<String>),
    /// A home that is still missing afterwards is made (skeleton copy) and chowned.
    CreateHome(String),
    /// `local`: libuser's `lchage -E DAYS` (luseradd and lusermod have no `-e`).
    Lchage(i64),
    /// `local`: libuser's `lgroupmod -M NAME GROUP` (add) or `-m` (remove), as luseradd and
    /// lusermod have no `-G`.
    Lgroupmod {
        add: bool,
        group: String,
    },
    /// chage for the password ageing fields that differ (re-checked after a creation).
    Chage {
        min: Option<i64>,
        max: Option<i64>,
        warn: Option<i64>,
    },
    /// Make the ssh key pair (`ssh_key_file`, relative to the home the account has then),
    /// replacing existing files when `force`.
    SshKeygen {
        file: String,
        force: bool,
    },
}

const HASH_FORBIDDEN: &[char] = &[':', '*', '!'];

/// Ansible's `check_password_encrypted`: a warning when `password` is not a crypt hash.
fn password_warning(password: &str) -> Option<&'static str> {
    if password.is_empty() || ["*", "!", "*************"].contains(&password) {
        return None;
    }
    let mut bad = password.contains(HASH_FORBIDDEN) || !password.contains('$');
    if password.contains('$') {
        let fields: Vec<&str> = password.split('$').collect();
        if fields.len() >= 3 {
            let last = fields[fields.len() - 1];
            if last
                .chars()
                .any(|c| !(c.is_ascii_alphanumeric() || "./=".contains(c)))
            {
                bad = true;
            }
            let want = match fields[1] {
                "1" => Some(22),
                "5" | "y" => Some(43),
                "6" => Some(86),
                _ => None,
            };
            if want.is_some_and(|n| last.chars().count() != n) {
                bad = true;
            }
        } else {
            bad = true;
        }
    }
    bad.then_some(
        "The input password appears not to have been hashed. The 'password' argument must be encrypted for this module to work properly.",
    )
}

/// A group as Ansible resolves it: a number is tried as a gid first, then as a name.
fn find_group<'a>(groups: &'a [GroupEntry], g: &str) -> Option<&'a GroupEntry> {
    g.parse::<u32>()
        .ok()
        .and_then(|gid| groups.iter().find(|e| e.gid == gid))
        .or_else(|| groups.iter().find(|e| e.name == g))
}

/// `time.strftime('%Y-%m-%d', time.gmtime(secs))`.
fn ymd(secs: f64) -> String {
    let s = secs.floor() as i64;
    jiff::Timestamp::from_second(s)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The `groups` parameter as Ansible joins it (`None`: not given).
fn groups_param(args: &Args) -> Option<String> {
    args.is_set("groups")
        .then(|| args.list_str("groups").join(","))
}

/// The group names of a `groups` string, blanks dropped, first-seen order.
fn split_groups(joined: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in joined.split(',').map(str::trim).filter(|g| !g.is_empty()) {
        if !out.iter().any(|x| x == g) {
            out.push(g.to_string());
        }
    }
    out
}

fn group_missing(g: &str) -> ModuleError {
    ModuleError::new(format!("Group {g} does not exist"))
}

/// The stored password of an account: the passwd field, or shadow's when that is a
/// placeholder (`x`) or empty, as Ansible's `user_info`.
fn current_password(sh: Option<&ShadowEntry>, passwd_field: &str) -> String {
    if passwd_field.chars().count() <= 1 {
        sh.map(|s| s.password.clone()).unwrap_or_default()
    } else {
        passwd_field.to_string()
    }
}

fn flag(cmd: &mut Vec<String>, f: &str, v: String) {
    cmd.push(f.to_string());
    cmd.push(v);
}

/// The days since the epoch libuser's `lchage -E` takes for `expires` (-1: never).
fn lexpires(e: f64) -> i64 {
    if e < 0.0 {
        -1
    } else {
        (e.floor() as i64).div_euclid(86400)
    }
}

/// useradd's arguments; with `local`, luseradd's, and the lchage and lgroupmod steps that
/// follow it (Ansible's `create_user_useradd`).
fn useradd_args(
    args: &Args,
    st: &UserState,
    name: &str,
) -> Result<(Vec<String>, Vec<UserOp>), ModuleError> {
    let local = args.bool("local");
    let mut after = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    if let Some(uid) = args.int("uid") {
        flag(&mut cmd, "-u", uid.to_string());
        if args.bool("non_unique") {
            cmd.push("-o".into());
        }
    }
    if let Some(se) = args.str("seuser")
        && st.selinux
    {
        flag(&mut cmd, "-Z", se.to_string());
    }
    if let Some(g) = args.str("group") {
        if find_group(&st.groups, g).is_none() {
            return Err(group_missing(g));
        }
        flag(&mut cmd, "-g", g.to_string());
    } else if find_group(&st.groups, name).is_some() {
        // luseradd's option is -n.
        cmd.push(if local { "-n" } else { "-N" }.into());
    }
    if let Some(joined) = groups_param(args)
        && !joined.is_empty()
    {
        let groups = split_groups(&joined);
        for g in &groups {
            if find_group(&st.groups, g).is_none() {
                return Err(group_missing(g));
            }
        }
        if local {
            after.extend(
                groups
                    .into_iter()
                    .map(|group| UserOp::Lgroupmod { add: true, group }),
            );
        } else {
            flag(&mut cmd, "-G", groups.join(","));
        }
    }
    if let Some(c) = args.str("comment") {
        flag(&mut cmd, "-c", c.to_string());
    }
    if let Some(h) = args.str("home") {
        flag(&mut cmd, "-d", h.to_string());
    }
    if let Some(s) = args.str("shell") {
        flag(&mut cmd, "-s", s.to_string());
    }
    if let Some(e) = expires(args) {
        if local {
            after.insert(0, UserOp::Lchage(lexpires(e)));
        } else {
            flag(&mut cmd, "-e", if e < 0.0 { String::new() } else { ymd(e) });
        }
    }
    if let Some(i) = args.int("password_expire_account_disable") {
        flag(&mut cmd, "-f", i.to_string());
    }
    if let Some(p) = args.str("password") {
        let v = if args.opt_bool("password_lock") == Some(true) {
            format!("!{p}")
        } else {
            p.to_string()
        };
        flag(&mut cmd, "-p", v);
    }
    if args.bool("create_home") {
        // luseradd makes the home unless told not to.
        if !local {
            cmd.push("-m".into());
        }
        if let Some(k) = args.str("skeleton") {
            flag(&mut cmd, "-k", k.to_string());
        }
        if let Some(u) = args.str("umask") {
            flag(&mut cmd, "-K", format!("UMASK={u}"));
        }
    } else {
        cmd.push("-M".into());
    }
    if args.bool("system") {
        cmd.push("-r".into());
    }
    if let Some(v) = args.int("uid_min") {
        cmd.extend(["-K".to_string(), format!("UID_MIN={v}")]);
    }
    if let Some(v) = args.int("uid_max") {
        cmd.extend(["-K".to_string(), format!("UID_MAX={v}")]);
    }
    cmd.push(name.to_string());
    Ok((cmd, after))
}

fn expires(args: &Args) -> Option<f64> {
    args.get("expires")
        .and_then(|v| f64::try_from(v.clone()).ok())
}

/// usermod's arguments (without the user name) for what differs; empty: nothing to do.
/// With `local`, lusermod's, and the lchage and lgroupmod steps that follow it (Ansible's
/// `modify_user_usermod`).
fn usermod_args(
    args: &Args,
    st: &UserState,
    pw: &PasswdEntry,
    name: &str,
) -> Result<(Vec<String>, Vec<UserOp>), ModuleError> {
    let local = args.bool("local");
    let mut lchage = None;
    let mut lgroups = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    if let Some(uid) = args.int("uid")
        && i64::from(pw.uid) != uid
    {
        cmd.extend(["-u".to_string(), uid.to_string()]);
        if args.bool("non_unique") {
            cmd.push("-o".into());
        }
    }
    if let Some(g) = args.str("group") {
        let ge = find_group(&st.groups, g).ok_or_else(|| group_missing(g))?;
        if ge.gid != pw.gid {
            cmd.extend(["-g".to_string(), ge.gid.to_string()]);
        }
    }
    if let Some(joined) = groups_param(args) {
        let current: Vec<&str> = st
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
            .map(|g| g.name.as_str())
            .collect();
        let mut need = false;
        let mut wanted: Vec<String> = Vec::new();
        if joined.is_empty() {
            need = !current.is_empty() && !args.bool("append");
        } else {
            for g in split_groups(&joined) {
                let ge = find_group(&st.groups, &g).ok_or_else(|| group_missing(&g))?;
                if !wanted.contains(&ge.name) {
                    wanted.push(ge.name.clone());
                }
            }
            let in_diff = |g: &str| current.contains(&g) != wanted.iter().any(|w| w == g);
            let any_diff = wanted.iter().any(|w| in_diff(w)) || current.iter().any(|c| in_diff(c));
            if any_diff {
                if args.bool("append") {
                    if wanted.iter().any(|w| in_diff(w)) {
                        // lusermod has no --append (Ansible asks its --help).
                        if !local {
                            cmd.push("-a".into());
                        }
                        need = true;
                    }
                } else {
                    need = true;
                }
            }
        }
        if need && local {
            let add = wanted.iter().filter(|w| !current.contains(&w.as_str()));
            lgroups.extend(add.map(|g| UserOp::Lgroupmod {
                add: true,
                group: g.clone(),
            }));
            if !args.bool("append") {
                let del = current.iter().filter(|c| !wanted.iter().any(|w| w == *c));
                lgroups.extend(del.map(|g| UserOp::Lgroupmod {
                    add: false,
                    group: g.to_string(),
                }));
            }
        } else if need {
            cmd.extend(["-G".to_string(), wanted.join(",")]);
        }
    }
    if let Some(c) = args.str("comment")
        && pw.gecos != c
    {
        cmd.extend(["-c".to_string(), c.to_string()]);
    }
    if let Some(h) = args.str("home")
        && pw.home != h
    {
        cmd.extend(["-d".to_string(), h.to_string()]);
        if args.bool("move_home") {
            cmd.push("-m".into());
        }
    }
    if let Some(s) = args.str("shell")
        && pw.shell != s
    {
        cmd.extend(["-s".to_string(), s.to_string()]);
    }
    if let Some(e) = expires(args) {
        let cur = st.shadow.as_ref().map(|s| s.expire).unwrap_or(0);
        let differs = if e < 0.0 {
            cur >= 0
        } else {
            cur < 0 || ymd((cur * 86400) as f64) != ymd(e)
        };
        if differs && local {
            lchage = Some(UserOp::Lchage(lexpires(e)));
        } else if differs {
            cmd.extend([
                "-e".to_string(),
                if e < 0.0 { String::new() } else { ymd(e) },
            ]);
        }
    }
    if let Some(i) = args.int("password_expire_account_disable") {
        cmd.extend(["-f".to_string(), i.to_string()]);
    }
    let stored = current_password(st.shadow.as_ref(), &pw.password);
    let lock = args.opt_bool("password_lock");
    if lock == Some(true) && !stored.starts_with('!') {
        cmd.push("-L".into());
    } else if lock == Some(false) && stored.starts_with('!') {
        cmd.push("-U".into());
    }
    if args.str("update_password") == Some("always")
        && let Some(p) = args.str("password")
        && stored.trim_start_matches('!') != p.trim_start_matches('!')
    {
        cmd.retain(|c| c != "-U" && c != "-L");
        cmd.push("-p".into());
        cmd.push(if lock == Some(true) {
            format!("!{p}")
        } else {
            p.to_string()
        });
    }
    let after = lchage.into_iter().chain(lgroups).collect();
    Ok((cmd, after))
}

fn chage_op(args: &Args, sh: Option<&ShadowEntry>, fresh: bool) -> Option<UserOp> {
    let (min, max, warn) = (
        args.int("password_expire_min"),
        args.int("password_expire_max"),
        args.int("password_expire_warn"),
    );
    if min.is_none() && max.is_none() && warn.is_none() {
        return None;
    }
    if fresh {
        // Compared with the new account's values after useradd.
        return Some(UserOp::Chage { min, max, warn });
    }
    let sh = sh?;
    let min = min.filter(|v| *v != sh.min);
    let max = max.filter(|v| *v != sh.max);
    let warn = warn.filter(|v| *v != sh.warn);
    (min.is_some() || max.is_some() || warn.is_some()).then_some(UserOp::Chage { min, max, warn })
}

fn validate(args: &Args) -> Result<(), ModuleError> {
    if args.bool("local") {
        for a in ["umask", "uid_min", "uid_max"] {
            if args.is_set(a) {
                return Err(ModuleError::new(format!(
                    "'{a}' can not be used with 'local'"
                )));
            }
        }
    }
    Ok(())
}

/// What `generate_ssh_key` would find: the key file for the account's home (an account
/// still to be made: the `home` parameter, else /home/NAME).
fn observe_ssh(args: &Args, name: &str, passwd: Option<&PasswdEntry>) -> Option<SshState> {
    if args.opt_bool("generate_ssh_key") != Some(true) || args.str("state") == Some("absent") {
        return None;
    }
    let key_type = args.str("ssh_key_type").unwrap_or("rsa");
    let file = args
        .string("ssh_key_file")
        .unwrap_or_else(|| format!(".ssh/id_{key_type}"));
    let home = passwd
        .map(|p| p.home.clone())
        .or_else(|| args.string("home"))
        .unwrap_or_else(|| format!("/home/{name}"));
    let path = sshkey::key_path(&file, &home);
    let public = std::path::PathBuf::from(format!("{}.pub", path.display()));
    Some(SshState {
        private_exists: path.exists(),
        public_exists: public.symlink_metadata().is_ok(),
        fingerprint: sshkey::fingerprint(&path),
        public_key: sshkey::public_key(&path),
        file,
        path,
    })
}

/// Ansible's `ssh_key_gen` decision: an existing private or public file is kept (with a
/// warning) unless `force`. Adds the op and the warnings; the result fields are set from
/// what was found (apply replaces them after generating).
fn plan_ssh(args: &Args, ssh: &SshState, plan: &mut Plan<UserOp>, warnings: &mut Vec<Value>) {
    let force = args.bool("force");
    let path = ssh.path.display();
    let mut generate = true;
    for (exists, kind, file) in [
        (ssh.private_exists, "private", format!("{path}")),
        (ssh.public_exists, "public", format!("{path}.pub")),
    ] {
        if !exists || !generate {
            continue;
        }
        if force {
            warnings.push(Value::from(format!(
                "Overwriting existing ssh key {kind} file \"{file}\""
            )));
        } else {
            warnings.push(Value::from(format!(
                "Found existing ssh key {kind} file \"{file}\", no force, so skipping ssh-keygen generation"
            )));
            generate = false;
        }
    }
    if generate {
        plan.ops.push(UserOp::SshKeygen {
            file: ssh.file.clone(),
            force,
        });
    }
    plan.set("ssh_fingerprint", ssh.fingerprint.as_str());
    plan.set("ssh_key_file", path.to_string());
    plan.set("ssh_public_key", Value::from(ssh.public_key.clone()));
}

/// The account's fields in the result. `groups` is the account's actual membership
/// (supplementary groups, its primary group left out), as Ansible 2.21 reports it.
fn account_fields(plan: &mut Plan<UserOp>, pw: &PasswdEntry, groups: &[GroupEntry]) {
    plan.set("uid", pw.uid);
    plan.set("group", pw.gid);
    plan.set("comment", pw.gecos.as_str());
    plan.set("home", pw.home.as_str());
    plan.set("shell", pw.shell.as_str());
    let member_of: Vec<&str> = groups
        .iter()
        .filter(|g| g.gid != pw.gid && g.members.contains(&pw.name))
        .map(|g| g.name.as_str())
        .collect();
    plan.set("groups", member_of.join(","));
}

impl Module for User {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = UserState;
    type Op = UserOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<UserState, ModuleError> {
        validate(args)?;
        let name = args.str("name").unwrap_or_default();
        let passwd = users::user(name);
        let home = args.str("home").map(Path::new);
        Ok(UserState {
            shadow: passwd.as_ref().and_then(|_| users::shadow(name)),
            groups: users::all_groups(),
            home_param_exists: home.is_some_and(Path::exists),
            home_param_parent_is_dir: home
                .and_then(Path::parent)
                .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir()),
            current_home_exists: passwd.as_ref().is_some_and(|p| Path::new(&p.home).exists()),
            ssh: observe_ssh(args, name, passwd.as_ref()),
            // libselinux's is_selinux_enabled: selinuxfs mounted with a policy loaded, and
            // the configuration file present.
            selinux: Path::new("/sys/fs/selinux/enforce").exists()
                && Path::new("/etc/selinux/config").exists(),
            passwd,
        })
    }

    fn plan(args: &Args, st: &UserState, ctx: &Ctx<'_>) -> Result<Plan<UserOp>, ModuleError> {
        let name = args.str("name").unwrap_or_default();
        let present = args.str("state") != Some("absent");
        let mut plan = Plan::default();
        let mut warnings: Vec<Value> = Vec::new();
        if let Some(w) = args.str("password").and_then(password_warning) {
            warnings.push(Value::from(w));
        }
        if let Some(se) = args.str("seuser")
            && !st.selinux
        {
            warnings.push(Value::from(format!(
                "'seuser' is set to '{se}' but SELinux is not enabled on this system. The 'seuser' parameter will be ignored."
            )));
        }
        // Ansible 2.21's required_if (it was a warning before).
        if !args.is_set("groups") && args.bool("append") {
            return Err(ModuleError::new(
                "append is True but all of the following are missing: groups",
            ));
        }
        let only_changed = |mut plan: Plan<UserOp>, warnings: Vec<Value>| {
            plan.set("changed", true);
            if !warnings.is_empty() {
                plan.set("warnings", warnings);
            }
            plan
        };
        if !present {
            if st.passwd.is_some() {
                let mut cmd = Vec::new();
                // luserdel has no -f.
                if args.bool("force") && !args.bool("local") {
                    cmd.push("-f".to_string());
                }
                if args.bool("remove") {
                    cmd.push("-r".to_string());
                }
                cmd.push(name.to_string());
                plan.ops.push(UserOp::Userdel(cmd));
                if ctx.check_mode {
                    return Ok(only_changed(plan, warnings));
                }
            }
            plan.set("name", name);
            plan.set("state", "absent");
            if !plan.ops.is_empty() {
                plan.set("force", args.bool("force"));
                plan.set("remove", args.bool("remove"));
            }
            plan.set("changed", !plan.ops.is_empty());
        } else if let Some(pw) = &st.passwd {
            let (cmd, after) = usermod_args(args, st, pw, name)?;
            let moves_home = cmd.iter().any(|c| c == "-m");
            if !cmd.is_empty() {
                let mut cmd = cmd;
                cmd.push(name.to_string());
                plan.ops.push(UserOp::Usermod(cmd));
            }
            plan.ops.extend(after);
            let home = args.str("home").unwrap_or(&pw.home).to_string();
            let exists_after = if args.is_set("home") {
                st.home_param_exists || (moves_home && st.current_home_exists)
            } else {
                st.current_home_exists
            };
            if !exists_after && args.bool("create_home") {
                plan.ops.push(UserOp::CreateHome(home));
            }
            plan.ops.extend(chage_op(args, st.shadow.as_ref(), false));
            if let Some(ssh) = &st.ssh {
                plan_ssh(args, ssh, &mut plan, &mut warnings);
            }
            plan.set("name", name);
            plan.set("state", "present");
            plan.set("append", args.bool("append"));
            plan.set("move_home", args.bool("move_home"));
            if args.is_set("password") {
                plan.set("password", "NOT_LOGGING_PASSWORD");
            }
            plan.set("changed", !plan.ops.is_empty());
            account_fields(&mut plan, pw, &st.groups);
        } else {
            // Ansible's check mode stops before looking at groups or home: a group made
            // by an earlier task (not made in check mode) is no error.
            if ctx.check_mode {
                plan.ops.push(UserOp::Useradd(Vec::new()));
                return Ok(only_changed(plan, warnings));
            }
            let (cmd, after) = useradd_args(args, st, name)?;
            if let Some(h) = args.str("home")
                && args.bool("create_home")
                && !st.home_param_parent_is_dir
            {
                plan.ops.push(UserOp::PreCreateHome(h.to_string()));
            }
            plan.ops.push(UserOp::Useradd(cmd));
            plan.ops.extend(after);
            plan.ops.extend(chage_op(args, None, true));
            if let Some(ssh) = &st.ssh {
                plan_ssh(args, ssh, &mut plan, &mut warnings);
            }
            plan.set("name", name);
            plan.set("state", "present");
            plan.set("system", args.bool("system"));
            plan.set("create_home", args.bool("create_home"));
            if args.is_set("password") {
                plan.set("password", "NOT_LOGGING_PASSWORD");
            }
            plan.set("changed", true);
        }
        if !warnings.is_empty() {
            plan.set("warnings", warnings);
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        _st: UserState,
        plan: &Plan<UserOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let name = args.str("name").unwrap_or_default();
        let secret = args.str("password").filter(|p| !p.is_empty());
        let mask = |s: String| match secret {
            Some(p) => s.replace(p, "********"),
            None => s,
        };
        let mut out = ResultMap::new();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut collect = |o: Output| -> Result<(), ModuleError> {
            if o.rc != 0 {
                return Err(ModuleError::new(mask(o.stderr))
                    .with("name", name)
                    .with("rc", o.rc));
            }
            stdout.push_str(&mask(o.stdout));
            stderr.push_str(&mask(o.stderr));
            Ok(())
        };
        // `local`: libuser's tools (luseradd, ...) instead of shadow's.
        let local = args.bool("local");
        let tool = |t: &'static str| -> &'static str {
            match (local, t) {
                (true, "useradd") => "luseradd",
                (true, "usermod") => "lusermod",
                (true, "userdel") => "luserdel",
                _ => t,
            }
        };
        // As Ansible, every libuser tool the change needs is found before the first runs
        // (a missing lchage must not leave a half-made account).
        if local {
            for op in &plan.ops {
                let t = match op {
                    UserOp::Useradd(_) => tool("useradd"),
                    UserOp::Usermod(_) => tool("usermod"),
                    UserOp::Userdel(_) => tool("userdel"),
                    UserOp::Lchage(_) => "lchage",
                    UserOp::Lgroupmod { .. } => "lgroupmod",
                    _ => continue,
                };
                crate::host::tools::find_bin(t)?;
            }
        }
        let mut pre_created: Option<&str> = None;
        for op in &plan.ops {
            match op {
                UserOp::PreCreateHome(h) => {
                    create_homedir(Path::new(h), args.str("skeleton"))?;
                    pre_created = Some(h);
                }
                UserOp::Useradd(cmd) => {
                    collect(shadow_tool(tool("useradd"), cmd)?)?;
                    if let (Some(h), Some(pw)) = (pre_created, users::user(name)) {
                        chown_tree(Path::new(h), pw.uid, pw.gid)?;
                    }
                }
                UserOp::Usermod(cmd) => collect(shadow_tool(tool("usermod"), cmd)?)?,
                UserOp::Userdel(cmd) => collect(shadow_tool(tool("userdel"), cmd)?)?,
                UserOp::Lchage(days) => collect(shadow_tool(
                    "lchage",
                    &["-E".to_string(), days.to_string(), name.to_string()],
                )?)?,
                UserOp::Lgroupmod { add, group } => collect(shadow_tool(
                    "lgroupmod",
                    &[
                        if *add { "-M" } else { "-m" }.to_string(),
                        name.to_string(),
                        group.clone(),
                    ],
                )?)?,
                UserOp::CreateHome(h) => {
                    let pw = users::user(name).ok_or_else(|| {
                        ModuleError::new(format!("failed to look up user name: {name}"))
                    })?;
                    create_homedir(Path::new(h), args.str("skeleton"))?;
                    chown_tree(Path::new(h), pw.uid, pw.gid)?;
                }
                UserOp::Chage { min, max, warn } => {
                    let sh = users::shadow(name);
                    let differs = |want: &Option<i64>, cur: fn(&ShadowEntry) -> i64| {
                        want.filter(|w| sh.as_ref().is_none_or(|s| cur(s) != *w))
                    };
                    let mut cmd = Vec::new();
                    for (flag, v) in [
                        ("-m", differs(min, |s| s.min)),
                        ("-M", differs(max, |s| s.max)),
                        ("-W", differs(warn, |s| s.warn)),
                    ] {
                        if let Some(v) = v {
                            cmd.extend([flag.to_string(), v.to_string()]);
                        }
                    }
                    if !cmd.is_empty() {
                        cmd.push(name.to_string());
                        collect(shadow_tool("chage", &cmd)?)?;
                    }
                }
                UserOp::SshKeygen { file, force } => {
                    let pw = users::user(name).ok_or_else(|| {
                        ModuleError::new(format!("failed to look up user name: {name}"))
                    })?;
                    let fail = |msg: String| ModuleError::new(msg).with("name", name).with("rc", 1);
                    if !Path::new(file).is_absolute() && !Path::new(&pw.home).exists() {
                        return Err(fail(format!("User {name} home directory does not exist")));
                    }
                    let path = sshkey::key_path(file, &pw.home);
                    let public = format!("{}.pub", path.display());
                    if let Some(dir) = path.parent()
                        && !dir.exists()
                    {
                        use std::os::unix::fs::DirBuilderExt;
                        std::fs::DirBuilder::new()
                            .mode(0o700)
                            .create(dir)
                            .and_then(|()| {
                                std::os::unix::fs::chown(dir, Some(pw.uid), Some(pw.gid))
                            })
                            .map_err(|e| {
                                fail(format!("Failed to create {}: {e}", dir.display()))
                            })?;
                    }
                    if *force {
                        for f in [path.display().to_string(), public.clone()] {
                            if Path::new(&f).symlink_metadata().is_ok() {
                                std::fs::remove_file(&f)
                                    .map_err(|e| fail(format!("removing {f}: {e}")))?;
                            }
                        }
                    }
                    let spec = KeySpec {
                        path: path.clone(),
                        key_type: args.str("ssh_key_type").unwrap_or("rsa").to_string(),
                        bits: args.int("ssh_key_bits").unwrap_or(0),
                        comment: args.string("ssh_key_comment").unwrap_or_else(|| {
                            format!(
                                "ansible-generated on {}",
                                nix::unistd::gethostname()
                                    .map(|h| h.to_string_lossy().into_owned())
                                    .unwrap_or_default()
                            )
                        }),
                    };
                    sshkey::generate(&spec, args.str("ssh_key_passphrase"), pw.uid, pw.gid)
                        .map_err(fail)?;
                    out.insert(
                        "ssh_fingerprint".into(),
                        Value::from(sshkey::fingerprint(&path)),
                    );
                    out.insert(
                        "ssh_key_file".into(),
                        Value::from(path.display().to_string()),
                    );
                    out.insert(
                        "ssh_public_key".into(),
                        Value::from(sshkey::public_key(&path)),
                    );
                }
            }
        }
        if !stdout.is_empty() {
            out.insert("stdout".into(), Value::from(stdout));
        }
        if !stderr.is_empty() {
            out.insert("stderr".into(), Value::from(stderr));
        }
        if args.str("state") != Some("absent") {
            let pw = users::user(name)
                .ok_or_else(|| ModuleError::new(format!("failed to look up user name: {name}")))?;
            let mut p: Plan<UserOp> = Plan::default();
            account_fields(&mut p, &pw, &users::all_groups());
            out.extend(p.result);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{args_of, ctx_run};

    const HASH: &str = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/";

    fn groups() -> Vec<GroupEntry> {
        let g = |name: &str, gid: u32, members: &[&str]| GroupEntry {
            name: name.into(),
            gid,
            members: members.iter().map(|m| m.to_string()).collect(),
        };
        vec![
            g("adm", 4, &["bob"]),
            g("sudo", 27, &[]),
            g("users", 100, &[]),
            g("bob", 1001, &[]),
        ]
    }

    fn bob() -> UserState {
        UserState {
            passwd: Some(PasswdEntry {
                name: "bob".into(),
                password: "x".into(),
                uid: 1001,
                gid: 1001,
                gecos: "Bob".into(),
                home: "/home/bob".into(),
                shell: "/bin/sh".into(),
            }),
            shadow: Some(ShadowEntry {
                name: "bob".into(),
                password: HASH.into(),
                last_change: 20000,
                min: 0,
                max: 99999,
                warn: 7,
                inactive: -1,
                expire: -1,
            }),
            groups: groups(),
            home_param_exists: false,
            home_param_parent_is_dir: true,
            current_home_exists: true,
            ssh: None,
            selinux: false,
        }
    }

    fn plan(pairs: &[(&str, Value)], st: &UserState, check: bool) -> Plan<UserOp> {
        let a = args_of::<User>(pairs);
        ctx_run(check, |c| User::plan(&a, st, c))
    }

    #[test]
    fn ssh_keys_are_made_once_and_replaced_only_with_force() {
        let key = |private: bool, public: bool| SshState {
            file: ".ssh/id_rsa".into(),
            path: "/home/bob/.ssh/id_rsa".into(),
            private_exists: private,
            public_exists: public,
            fingerprint: "2048 SHA256:x bob (RSA)".into(),
            public_key: None,
        };
        let want = [
            ("name", Value::from("bob")),
            ("generate_ssh_key", Value::from(true)),
        ];
        let mut st = bob();
        st.ssh = Some(key(false, false));
        let p = plan(&want, &st, false);
        assert_eq!(
            p.ops,
            vec![UserOp::SshKeygen {
                file: ".ssh/id_rsa".into(),
                force: false
            }]
        );
        assert_eq!(
            p.result["ssh_key_file"].as_str(),
            Some("/home/bob/.ssh/id_rsa")
        );
        // An existing key (or only its public half) is kept, with Ansible's warning.
        for (private, public, kind) in [(true, true, "private"), (false, true, "public")] {
            st.ssh = Some(key(private, public));
            let p = plan(&want, &st, false);
            assert!(p.ops.is_empty(), "{kind}");
            assert_eq!(p.result["changed"], Value::from(false));
            let w = p.result["warnings"].get_item(&Value::from(0)).unwrap();
            assert!(
                w.as_str()
                    .unwrap()
                    .starts_with(&format!("Found existing ssh key {kind} file"))
            );
        }
        let mut forced = want.to_vec();
        forced.push(("force", Value::from(true)));
        let p = plan(&forced, &st, false);
        assert_eq!(
            p.ops,
            vec![UserOp::SshKeygen {
                file: ".ssh/id_rsa".into(),
                force: true
            }]
        );
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn useradd_flags_as_ansible() {
        let st = UserState {
            groups: groups(),
            home_param_parent_is_dir: true,
            ..UserState::default()
        };
        let p = plan(
            &[
                ("name", Value::from("carol")),
                ("uid", Value::from(1500)),
                ("groups", Value::from(vec!["sudo", "adm"])),
                ("shell", Value::from("/bin/bash")),
                ("comment", Value::from("Carol C")),
                ("home", Value::from("/srv/carol")),
                ("password", Value::from(HASH)),
                ("expires", Value::from(86400.0 * 3.0)),
            ],
            &st,
            false,
        );
        assert_eq!(
            p.ops,
            vec![UserOp::Useradd(strs(&[
                "-u",
                "1500",
                "-G",
                "sudo,adm",
                "-c",
                "Carol C",
                "-d",
                "/srv/carol",
                "-s",
                "/bin/bash",
                "-e",
                "1970-01-04",
                "-p",
                HASH,
                "-m",
                "carol"
            ]))]
        );
        assert_eq!(
            p.result.get("password"),
            Some(&Value::from("NOT_LOGGING_PASSWORD"))
        );
        assert!(
            !format!("{:?}", p.result).contains("qFmFH"),
            "the hash is never in the result"
        );
        // A group named like the user exists: -N, and a system user without home.
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("system", Value::from(true)),
                ("create_home", Value::from(false)),
            ],
            &UserState {
                groups: groups(),
                ..UserState::default()
            },
            false,
        );
        assert_eq!(
            p.ops,
            vec![UserOp::Useradd(strs(&["-N", "-M", "-r", "bob"]))]
        );
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("groups", Value::from("later")),
            ],
            &UserState::default(),
            true,
        );
        assert_eq!(p.result.len(), 1, "check mode creation: only changed");
    }

    #[test]
    fn unknown_group_fails() {
        let a = args_of::<User>(&[
            ("name", Value::from("carol")),
            ("groups", Value::from("nosuch")),
        ]);
        let e = ctx_run(false, |c| {
            Ok(User::plan(&a, &UserState::default(), c).unwrap_err())
        });
        assert_eq!(e.msg, "Group nosuch does not exist");
    }

    #[test]
    fn converged_user_plans_nothing() {
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("uid", Value::from(1001)),
                ("group", Value::from("bob")),
                ("groups", Value::from("adm")),
                ("shell", Value::from("/bin/sh")),
                ("comment", Value::from("Bob")),
                ("home", Value::from("/home/bob")),
                ("password", Value::from(HASH)),
                ("password_expire_max", Value::from(99999)),
            ],
            &UserState {
                home_param_exists: true,
                ..bob()
            },
            false,
        );
        assert!(p.ops.is_empty(), "{:?}", p.ops);
        assert_eq!(p.result.get("changed"), Some(&Value::from(false)));
        assert_eq!(p.result.get("groups"), Some(&Value::from("adm")));
        assert_eq!(p.result.get("group"), Some(&Value::from(1001)));
    }

    #[test]
    fn usermod_groups_append_and_replace() {
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("groups", Value::from("sudo")),
                ("append", Value::from(true)),
            ],
            &bob(),
            false,
        );
        assert_eq!(
            p.ops,
            vec![UserOp::Usermod(strs(&["-a", "-G", "sudo", "bob"]))]
        );
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("groups", Value::from("sudo")),
            ],
            &bob(),
            false,
        );
        assert_eq!(p.ops, vec![UserOp::Usermod(strs(&["-G", "sudo", "bob"]))]);
        // append with groups already held: nothing.
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("groups", Value::from("adm")),
                ("append", Value::from(true)),
            ],
            &bob(),
            false,
        );
        assert!(p.ops.is_empty());
        // groups: '' empties the list.
        let p = plan(
            &[("name", Value::from("bob")), ("groups", Value::from(""))],
            &bob(),
            false,
        );
        assert_eq!(p.ops, vec![UserOp::Usermod(strs(&["-G", "", "bob"]))]);
    }

    #[test]
    fn seuser_needs_selinux() {
        let mut st = UserState {
            groups: groups(),
            home_param_parent_is_dir: true,
            ..UserState::default()
        };
        let want = [
            ("name", Value::from("eve")),
            ("seuser", Value::from("user_u")),
        ];
        let p = plan(&want, &st, false);
        assert_eq!(p.ops, vec![UserOp::Useradd(strs(&["-m", "eve"]))]);
        let w = p.result["warnings"].get_item(&Value::from(0)).unwrap();
        assert!(
            w.as_str()
                .unwrap()
                .starts_with("'seuser' is set to 'user_u' but SELinux")
        );
        st.selinux = true;
        let p = plan(&want, &st, false);
        assert_eq!(
            p.ops,
            vec![UserOp::Useradd(strs(&["-Z", "user_u", "-m", "eve"]))]
        );
        assert!(!p.result.contains_key("warnings"));
    }

    #[test]
    fn local_uses_libuser_tools_steps() {
        let lg = |add: bool, g: &str| UserOp::Lgroupmod {
            add,
            group: g.into(),
        };
        // Creation: luseradd (-n for an existing same-name group, no -m, no -G, no -e),
        // then lchage and lgroupmod.
        let st = UserState {
            groups: groups(),
            home_param_parent_is_dir: true,
            ..UserState::default()
        };
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("local", Value::from(true)),
                ("groups", Value::from(vec!["sudo", "adm"])),
                ("expires", Value::from(2529881062.0)),
            ],
            &st,
            false,
        );
        assert_eq!(
            p.ops,
            vec![
                UserOp::Useradd(strs(&["-n", "bob"])),
                UserOp::Lchage(29281),
                lg(true, "sudo"),
                lg(true, "adm"),
            ]
        );
        // Changes: group membership by lgroupmod (append only adds), expiry by lchage.
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("local", Value::from(true)),
                ("groups", Value::from("sudo")),
                ("append", Value::from(true)),
            ],
            &bob(),
            false,
        );
        assert_eq!(p.ops, vec![lg(true, "sudo")]);
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("local", Value::from(true)),
                ("groups", Value::from("sudo")),
                ("expires", Value::from(-1.0)),
            ],
            &bob(),
            false,
        );
        assert_eq!(p.ops, vec![lg(true, "sudo"), lg(false, "adm")]);
        // Converged: nothing; removal: luserdel takes no -f.
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("local", Value::from(true)),
                ("groups", Value::from("adm")),
            ],
            &bob(),
            false,
        );
        assert!(p.ops.is_empty());
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("local", Value::from(true)),
                ("state", Value::from("absent")),
                ("force", Value::from(true)),
                ("remove", Value::from(true)),
            ],
            &bob(),
            false,
        );
        assert_eq!(p.ops, vec![UserOp::Userdel(strs(&["-r", "bob"]))]);
        let a = args_of::<User>(&[
            ("name", Value::from("bob")),
            ("local", Value::from(true)),
            ("umask", Value::from("077")),
        ]);
        assert_eq!(
            validate(&a).unwrap_err().msg,
            "'umask' can not be used with 'local'"
        );
    }

    #[test]
    fn usermod_password_lock_expires_home() {
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("password_lock", Value::from(true)),
                ("expires", Value::from(-1)),
                ("home", Value::from("/srv/bob")),
                ("move_home", Value::from(true)),
            ],
            &bob(),
            false,
        );
        assert_eq!(
            p.ops,
            vec![UserOp::Usermod(strs(&[
                "-d", "/srv/bob", "-m", "-L", "bob"
            ]))]
        );
        let mut st = bob();
        if let Some(s) = st.shadow.as_mut() {
            s.expire = 19000;
        }
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("expires", Value::from(-1)),
                ("password", Value::from("$6$other$x")),
                ("update_password", Value::from("on_create")),
            ],
            &st,
            false,
        );
        assert_eq!(p.ops, vec![UserOp::Usermod(strs(&["-e", "", "bob"]))]);
        // Same day: no change; another day: the new date.
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("expires", Value::from(19000.0 * 86400.0 + 3600.0)),
            ],
            &st,
            false,
        );
        assert!(p.ops.is_empty());
        let p = plan(
            &[("name", Value::from("bob")), ("expires", Value::from(0))],
            &st,
            false,
        );
        assert_eq!(
            p.ops,
            vec![UserOp::Usermod(strs(&["-e", "1970-01-01", "bob"]))]
        );
    }

    #[test]
    fn password_change_replaces_lock_flags() {
        let p = plan(
            &[
                ("name", Value::from("bob")),
                ("password", Value::from("$6$new$abc")),
                ("password_lock", Value::from(true)),
            ],
            &bob(),
            false,
        );
        assert_eq!(
            p.ops,
            vec![UserOp::Usermod(strs(&["-p", "!$6$new$abc", "bob"]))]
        );
        assert!(p.result.get("warnings").is_some(), "a short hash warns");
    }

    #[test]
    fn missing_home_is_made() {
        let p = plan(
            &[("name", Value::from("bob"))],
            &UserState {
                current_home_exists: false,
                ..bob()
            },
            true,
        );
        assert_eq!(p.ops, vec![UserOp::CreateHome("/home/bob".into())]);
        assert_eq!(p.result.get("changed"), Some(&Value::from(true)));
    }

    #[test]
    fn absent_removes() {
        let args = [
            ("name", Value::from("bob")),
            ("state", Value::from("absent")),
            ("remove", Value::from(true)),
        ];
        let p = plan(&args, &bob(), false);
        assert_eq!(p.ops, vec![UserOp::Userdel(strs(&["-r", "bob"]))]);
        assert_eq!(p.result.get("remove"), Some(&Value::from(true)));
        let p = plan(&args, &UserState::default(), false);
        assert!(p.ops.is_empty());
        assert!(p.result.get("remove").is_none());
    }

    #[test]
    fn hash_warning_rules() {
        assert!(password_warning(HASH).is_none());
        assert!(password_warning("!").is_none());
        assert!(password_warning("secret").is_some());
        assert!(password_warning("$6$salt$short").is_some());
    }
}
