//! What each fuzz target (tests/fuzz/) does with one input, shared with the regression
//! test (tests/fuzz_regressions.rs) that replays the inputs the fuzzers found. Each
//! function must return (an error is a fine answer); a panic, a hang or a runaway
//! allocation is a finding.

use std::path::Path;

/// The YAML loader: decode (BOM, UTF-16/32), parse every document with the default
/// limits, turn each into a value and write it back out (`to_yaml`'s emitter).
pub fn yaml(data: &[u8]) {
    let Ok(text) = agent_yaml::decode(data, Path::new("fuzz.yml")) else {
        return;
    };
    if let Ok(docs) = agent_yaml::parse_all(&text, Path::new("fuzz.yml"), Default::default()) {
        for doc in &docs {
            let value = doc.to_value();
            let _ = agent_yaml::emit(&value, &agent_yaml::EmitOptions::default());
        }
    }
}

/// The inventory parser: the text as an inventory file (YAML if it is a mapping, else
/// INI), then every host's variables and a pattern over it.
pub fn inventory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(inv) = agent_inventory::Inventory::from_str("fuzz", text)
        && let Ok(hosts) = inv.select("all:!ungrouped")
    {
        for h in hosts.iter().take(64) {
            let _ = inv.host_vars(h);
        }
    }
}

/// Names that reach the host from a template (commands, files, the network): a template
/// that names one is not rendered, so the fuzzer never runs `lookup('pipe', ...)`. A
/// function is reachable in a template only through its name, so refusing the names is
/// enough.
const HOST_REACHING: [&str; 3] = ["lookup", "query", "q"];

/// The template renderer: the text as a template string, with no variables.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if identifiers(text).any(|w| HOST_REACHING.contains(&w)) {
        return;
    }
    let templar = agent_template::Templar::new();
    let _ = templar.render_str(text, &agent_template::Vars::default());
}

fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// The bundle unpacker: unpacked into a fresh directory with small limits. An input
/// whose first byte is even is the archive itself; otherwise the rest, gzip-compressed,
/// is (so that the fuzzer reaches the tar reader without forging gzip checksums).
pub fn bundle(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let archive_bytes = if first % 2 == 0 {
        rest.to_vec()
    } else {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if gz.write_all(rest).is_err() {
            return;
        }
        match gz.finish() {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let archive = dir.path().join("fuzz.bundle");
    if std::fs::write(&archive, archive_bytes).is_err() {
        return;
    }
    let limits = agent_source::bundle::Limits {
        max_bytes: 16 * 1024 * 1024,
        max_entries: 10_000,
    };
    let _ = agent_source::bundle::unpack(&archive, &dir.path().join("out"), limits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_reaching_names_are_refused_as_whole_words() {
        let names: Vec<&str> = identifiers("{{ q('pipe', 'x') }}{{ lookups }}").collect();
        assert!(names.contains(&"q"));
        assert!(!names.contains(&"lookup"));
    }
}
