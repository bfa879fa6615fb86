//! `systemd` collector (systemd.py): `systemd.version` and `systemd.features` from
//! `systemctl --version`, when systemctl is installed and systemd booted the host (the
//! sd_booted canaries). The one collector that runs a program: it is asked once per run
//! (the version cannot change under a running systemd) and kept in the run's cache; a
//! run that will gather facts starts asking at once, on a thread of its own
//! ([`prefetch`]), so that the first gathering does not wait for the program.

use std::path::Path;

use serde_json::{Value, json};

use crate::{Ctx, Facts};

/// The fact from `systemctl --version`'s output: the second line, and the second word.
pub fn parse(stdout: &str) -> Option<Value> {
    let features = stdout.split('\n').nth(1)?;
    let version: i64 = stdout.split(' ').nth(1)?.trim().parse().ok()?;
    Some(json!({"features": features, "version": version}))
}

static PREFETCHED: std::sync::Mutex<Option<std::thread::JoinHandle<Facts>>> =
    std::sync::Mutex::new(None);

/// Start asking `systemctl --version` on a background thread; the next [`collect`] (of
/// this run or the next) takes the answer.
pub fn prefetch() {
    let mut slot = PREFETCHED.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        *slot = std::thread::Builder::new()
            .name("facts-systemd".into())
            .spawn(ask)
            .ok();
    }
}

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("systemd", || {
        let pending = PREFETCHED.lock().unwrap_or_else(|p| p.into_inner()).take();
        match pending.map(std::thread::JoinHandle::join) {
            Some(Ok(f)) => f,
            _ => ask(),
        }
    })
}

fn ask() -> Facts {
    {
        let mut f = Facts::new();
        let Some(bin) = crate::util::bin_path("systemctl") else {
            return f;
        };
        let booted = [
            "/run/systemd/system/",
            "/dev/.run/systemd/",
            "/dev/.systemd/",
        ]
        .iter()
        .any(|c| Path::new(c).exists());
        if !booted {
            return f;
        }
        let Ok(out) = std::process::Command::new(bin)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
        else {
            return f;
        };
        if !out.status.success() {
            return f;
        }
        if let Some(v) = parse(&String::from_utf8_lossy(&out.stdout)) {
            f.insert("systemd".into(), v);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_version_output() {
        let out =
            "systemd 252 (252.33-1~deb12u1)\n+PAM +AUDIT -APPARMOR default-hierarchy=unified\n";
        assert_eq!(
            parse(out),
            Some(
                json!({"features": "+PAM +AUDIT -APPARMOR default-hierarchy=unified", "version": 252})
            )
        );
        assert_eq!(parse("nonsense"), None);
    }
}
