//! The host name: the kernel's (uname nodename), /etc/hostname, and the fully qualified
//! name as Python's `socket.getfqdn()` finds it through /etc/hosts.

use crate::ModuleError;

/// The running (transient) host name.
pub fn current() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Set the running host name (sethostname(2)); only in the host's own UTS namespace.
pub fn set_current(name: &str) -> Result<(), ModuleError> {
    nix::unistd::sethostname(name)
        .map_err(|e| ModuleError::new(format!("failed to set the running hostname: {e}")))
}

/// `socket.getfqdn(name)` answered from /etc/hosts: the first name containing a dot
/// among the canonical name and aliases of the address `name` has there; else `name`.
pub fn fqdn(name: &str) -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    fqdn_in(&hosts, name)
}

fn fqdn_in(hosts: &str, name: &str) -> String {
    let entries: Vec<Vec<&str>> = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 2)
        .collect();
    let Some(addr) = entries
        .iter()
        .find(|f| f[1..].iter().any(|n| n.eq_ignore_ascii_case(name)))
        .map(|f| f[0])
    else {
        return name.to_string();
    };
    let Some(line) = entries.iter().find(|f| f[0] == addr) else {
        return name.to_string();
    };
    line[1..]
        .iter()
        .find(|n| n.contains('.'))
        .unwrap_or(&line[1])
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_from_hosts() {
        let hosts = "127.0.0.1 localhost\n127.0.1.1 web1.example.com web1\n";
        assert_eq!(fqdn_in(hosts, "web1"), "web1.example.com");
        assert_eq!(fqdn_in(hosts, "other"), "other");
        assert_eq!(fqdn_in("127.0.1.1 a b\n", "b"), "a");
    }
}
