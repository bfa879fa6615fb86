//! `user` collector (user.py): getpass.getuser() and the passwd entry, read from
//! /etc/passwd (no NSS).

use serde_json::Value;

use crate::util::read_raw;
use crate::{Ctx, Facts};

struct Pw {
    name: String,
    uid: u32,
    gid: u32,
    gecos: String,
    dir: String,
    shell: String,
}

fn parse_passwd(text: &str) -> Vec<Pw> {
    text.lines()
        .filter_map(|l| {
            let p: Vec<&str> = l.split(':').collect();
            if p.len() < 7 {
                return None;
            }
            Some(Pw {
                name: p[0].into(),
                uid: p[2].parse().ok()?,
                gid: p[3].parse().ok()?,
                gecos: p[4].into(),
                dir: p[5].into(),
                shell: p[6].into(),
            })
        })
        .collect()
}

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let uid = nix::unistd::getuid().as_raw();
    let euid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let users = parse_passwd(&read_raw("/etc/passwd").unwrap_or_default());
    let env_user = ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let by_uid = users.iter().find(|p| p.uid == uid);
    let user_id = env_user
        .or_else(|| by_uid.map(|p| p.name.clone()))
        .unwrap_or_default();
    let pw = users.iter().find(|p| p.name == user_id).or(by_uid);
    let mut f = Facts::new();
    f.insert("user_id".into(), Value::from(user_id.clone()));
    if let Some(pw) = pw {
        f.insert("user_uid".into(), Value::from(pw.uid));
        f.insert("user_gid".into(), Value::from(pw.gid));
        f.insert("user_gecos".into(), Value::from(pw.gecos.clone()));
        f.insert("user_dir".into(), Value::from(pw.dir.clone()));
        f.insert("user_shell".into(), Value::from(pw.shell.clone()));
    }
    f.insert("real_user_id".into(), Value::from(uid));
    f.insert("effective_user_id".into(), Value::from(euid));
    f.insert("real_group_id".into(), Value::from(gid));
    // Ansible reports the real gid here too.
    f.insert("effective_group_id".into(), Value::from(gid));
    f
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwd() {
        let p = super::parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nbad\nbob:x:1000:1000:Bob,,,:/home/bob:/bin/sh\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].gecos, "Bob,,,");
        assert_eq!(p[1].uid, 1000);
    }
}
