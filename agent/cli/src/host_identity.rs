//! Which inventory host this machine is: `--limit`, else the inventory host named like
//! this machine's hostname or FQDN, else `localhost`.

/// This machine's short host name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The FQDN from /etc/hosts (the first name on the line that lists the host name), no DNS.
pub fn fqdn() -> Option<String> {
    let h = hostname();
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let _addr = words.next()?;
        let names: Vec<&str> = words.collect();
        if names
            .iter()
            .any(|n| *n == h || n.split('.').next() == Some(&h))
        {
            if let Some(f) = names.iter().find(|n| {
                n.contains('.') && n.split('.').next() == Some(h.split('.').next().unwrap_or(&h))
            }) {
                return Some(f.to_string());
            }
        }
    }
    Some(h)
}
