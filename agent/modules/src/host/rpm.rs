//! The rpm database, asked once per task: `rpm -q --qf ...` for every name a task
//! names (and `rpm -q --whatprovides` for file paths and capability specs), and
//! `rpm -qa` for package_facts. There is no stable file format to read directly.

use std::collections::HashMap;

use crate::ModuleError;
use crate::command::{Spawn, spawn};

/// The query format: one line per installed package.
pub const QF: &str = "%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n";

/// One installed rpm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
}

impl RpmPackage {
    /// `name-[epoch:]version-release.arch`, as dnf prints a package.
    pub fn nevra(&self) -> String {
        let epoch = if self.epoch.is_empty() || self.epoch == "0" {
            String::new()
        } else {
            format!("{}:", self.epoch)
        };
        format!(
            "{}-{epoch}{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }

    /// Whether this package is what the (non-provides) spec names: `name`,
    /// `name.arch`, `name-version[-release][.arch]`, `name-epoch:version...`.
    pub fn matches(&self, spec: &str) -> bool {
        if spec == self.name || spec == format!("{}.{}", self.name, self.arch) {
            return true;
        }
        let Some(rest) = spec.strip_prefix(&format!("{}-", self.name)) else {
            return false;
        };
        let rest = rest
            .strip_suffix(&format!(".{}", self.arch))
            .unwrap_or(rest);
        let rest = match rest.split_once(':') {
            Some((e, r)) if e == self.epoch || (e == "0" && self.epoch.is_empty()) => r,
            Some(_) => return false,
            None => rest,
        };
        rest == self.version || rest == format!("{}-{}", self.version, self.release)
    }
}

fn parse_line(line: &str) -> Option<RpmPackage> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != 5 {
        return None;
    }
    let none = |s: &str| {
        if s == "(none)" {
            String::new()
        } else {
            s.to_string()
        }
    };
    Some(RpmPackage {
        name: f[0].to_string(),
        epoch: none(f[1]),
        version: f[2].to_string(),
        release: f[3].to_string(),
        arch: none(f[4]),
    })
}

/// A spec rpm must resolve as a capability (`--whatprovides`): a path, a
/// `perl(Foo)`-style name or a versioned requirement (`foo >= 1.0`).
pub fn is_provides_spec(spec: &str) -> bool {
    spec.starts_with('/') || spec.contains('(') || spec.contains([' ', '<', '>', '='])
}

/// Pair `rpm -q` output with the specs it was asked about, in order. Each spec gives
/// either a "not installed" line, or one or more package lines (several arches).
pub fn parse_query(specs: &[String], out: &str) -> Vec<(String, Vec<RpmPackage>)> {
    let mut result: Vec<(String, Vec<RpmPackage>)> =
        specs.iter().map(|s| (s.clone(), Vec::new())).collect();
    let mut i = 0usize;
    let mut started = false;
    for line in out.lines() {
        if i >= result.len() {
            break;
        }
        if is_missing_line(line) {
            if started {
                i += 1;
            }
            i += 1;
            started = false;
            continue;
        }
        let Some(p) = parse_line(line) else {
            continue;
        };
        if started && !p.matches(&result[i].0) {
            i += 1;
        }
        if let Some((_, v)) = result.get_mut(i) {
            v.push(p);
            started = true;
        }
    }
    result
}

fn is_missing_line(line: &str) -> bool {
    (line.starts_with("package ") && line.ends_with(" is not installed"))
        || line.starts_with("no package provides ")
        || line.starts_with("error: ")
}

/// `rpm -q --whatprovides` output paired with its specs when each spec gave exactly
/// one line (one provider or "no package provides"); `None` when the lines cannot be
/// paired (a capability with several providers).
pub fn parse_provides(specs: &[String], out: &str) -> Option<Vec<(String, Vec<RpmPackage>)>> {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| is_missing_line(l) || parse_line(l).is_some())
        .collect();
    if lines.len() != specs.len() {
        return None;
    }
    Some(
        specs
            .iter()
            .zip(lines)
            .map(|(s, l)| (s.clone(), parse_line(l).into_iter().collect()))
            .collect(),
    )
}

fn run_rpm(args: &[&str], specs: &[String]) -> Result<String, ModuleError> {
    let mut argv: Vec<String> = vec!["rpm".into()];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.extend(specs.iter().cloned());
    let s = Spawn {
        argv,
        env: vec![("LC_ALL".into(), "C".into())],
        ..Spawn::default()
    };
    let out = spawn(&s)?.map_err(|e| ModuleError::new(format!("Failed to run rpm: {e}")))?;
    Ok(out.stdout)
}

/// What is installed for each spec: one `rpm -q` for names and, if any, one
/// `rpm -q --whatprovides` for capabilities.
pub fn query(specs: &[String]) -> Result<HashMap<String, Vec<RpmPackage>>, ModuleError> {
    let (prov, names): (Vec<String>, Vec<String>) =
        specs.iter().cloned().partition(|s| is_provides_spec(s));
    let mut out = HashMap::new();
    if !names.is_empty() {
        let text = run_rpm(&["-q", "--qf", QF], &names)?;
        out.extend(parse_query(&names, &text));
    }
    if !prov.is_empty() {
        let text = run_rpm(&["-q", "--whatprovides", "--qf", QF], &prov)?;
        match parse_provides(&prov, &text) {
            Some(pairs) => out.extend(pairs),
            None => {
                // Several providers somewhere: ask one capability at a time.
                for p in &prov {
                    let one = std::slice::from_ref(p);
                    let text = run_rpm(&["-q", "--whatprovides", "--qf", QF], one)?;
                    let pkgs = text.lines().filter_map(parse_line).collect();
                    out.insert(p.clone(), pkgs);
                }
            }
        }
    }
    Ok(out)
}

/// Every installed package (`rpm -qa`), for package_facts.
pub fn query_all() -> Result<Vec<RpmPackage>, ModuleError> {
    let text = run_rpm(&["-qa", "--qf", QF], &[])?;
    Ok(text.lines().filter_map(parse_line).collect())
}

/// The packages a finished `dnf` transaction lists under its closing sections
/// (`Installed:`, `Upgraded:`, `Removed:`, ...): section name → NEVRAs.
pub fn parse_dnf_transaction(out: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut cur: Option<usize> = None;
    for line in out.lines() {
        let t = line.trim_end();
        if !t.starts_with(' ') {
            cur = None;
            if let Some(h) = t.strip_suffix(':')
                && matches!(
                    h,
                    "Installed" | "Upgraded" | "Removed" | "Downgraded" | "Reinstalled"
                )
            {
                sections.push((h.to_string(), Vec::new()));
                cur = Some(sections.len() - 1);
            }
            continue;
        }
        if let Some(i) = cur {
            sections[i]
                .1
                .extend(t.split_whitespace().map(str::to_string));
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(name: &str, epoch: &str, v: &str, r: &str, a: &str) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            epoch: epoch.into(),
            version: v.into(),
            release: r.into(),
            arch: a.into(),
        }
    }

    #[test]
    fn nevra_and_matches() {
        let p = pk("bash", "0", "5.2.15", "1.amzn2023", "x86_64");
        assert_eq!(p.nevra(), "bash-5.2.15-1.amzn2023.x86_64");
        assert_eq!(pk("x", "2", "1", "1", "noarch").nevra(), "x-2:1-1.noarch");
        for s in [
            "bash",
            "bash.x86_64",
            "bash-5.2.15",
            "bash-5.2.15-1.amzn2023",
            "bash-5.2.15-1.amzn2023.x86_64",
            "bash-0:5.2.15-1.amzn2023",
        ] {
            assert!(p.matches(s), "{s}");
        }
        for s in [
            "bas",
            "bash-completion",
            "bash-5.2",
            "bash.i686",
            "bash-1:5.2.15",
        ] {
            assert!(!p.matches(s), "{s}");
        }
    }

    #[test]
    fn query_output_pairs_with_specs() {
        let specs: Vec<String> = ["glibc", "nope", "bash", "zlib"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = "glibc\t0\t2.34\t1\tx86_64\nglibc\t0\t2.34\t1\ti686\npackage nope is not installed\nbash\t0\t5.2\t1\tx86_64\nzlib\t(none)\t1.2\t3\tx86_64\n";
        let r = parse_query(&specs, out);
        assert_eq!(r[0].1.len(), 2);
        assert!(r[1].1.is_empty());
        assert_eq!(r[2].1[0].name, "bash");
        assert_eq!(r[3].1[0].epoch, "");
    }

    #[test]
    fn query_missing_last_and_provides() {
        let specs: Vec<String> = ["/usr/bin/jq", "/usr/bin/nope"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = "jq\t0\t1.7\t1\tx86_64\nno package provides /usr/bin/nope\n";
        let r = parse_provides(&specs, out).unwrap();
        assert_eq!(r[0].1.len(), 1);
        assert!(r[1].1.is_empty());
        assert!(
            parse_provides(
                &specs,
                "a\t0\t1\t1\tx\nb\t0\t1\t1\tx\nno package provides x\n"
            )
            .is_none()
        );
        assert!(is_provides_spec("/usr/bin/jq"));
        assert!(is_provides_spec("perl(Foo)"));
        assert!(is_provides_spec("foo >= 1.0"));
        assert!(!is_provides_spec("foo-1.0"));
    }

    #[test]
    fn dnf_transaction_sections() {
        let out = "\
Dependencies resolved.
Installing:
 tree      x86_64   1.8.0-6   baseos   56 k

Transaction Summary
Install  1 Package

Installed:
  tree-1.8.0-6.el9.x86_64     libfoo-1:2.0-1.el9.x86_64

Removed:
  jq-1.6-1.el9.x86_64

Complete!
";
        let s = parse_dnf_transaction(out);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, "Installed");
        assert_eq!(
            s[0].1,
            vec!["tree-1.8.0-6.el9.x86_64", "libfoo-1:2.0-1.el9.x86_64"]
        );
        assert_eq!(s[1].1, vec!["jq-1.6-1.el9.x86_64"]);
    }
}
