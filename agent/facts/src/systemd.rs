//! `systemd` collector (systemd.py): `systemd.version` and `systemd.features` from
//! `systemctl --version`, when systemctl is installed and systemd booted the host (the
//! sd_booted canaries). The one collector that runs a program: it is asked once per run
//! (the version cannot change under a running systemd) and kept in the run's cache.

use std::path::Path;

use serde_json::{Value, json};

use crate::{Ctx, Facts};

/// The fact from `systemctl --version`'s output: the second line, and the second word.
pub fn parse(stdout: &str) -> Option<Value> {
    let features = stdout.split('\n').nth(1)?;
    let version: i64 = stdout.split(' ').nth(1)?.trim().parse().ok()?;
    Some(json!({"features": features, "version": version}))
}

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("systemd", || {
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
    })
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
