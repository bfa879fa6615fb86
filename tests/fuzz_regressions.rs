//! Replays every input the fuzzers (tests/fuzz/) kept: the crashes they found once (fixed
//! since) and a small seed corpus, through the same code the fuzz targets run
//! (tests/fuzzing.rs). A panic here is a regression.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = agent_tests::workspace_root()
        .join("tests/fuzz/regressions")
        .join(target);
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p
                .file_name()
                .map(Path::new)
                .unwrap_or(&p)
                .display()
                .to_string();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{target}: {name} panics again");
            n += 1;
        }
    }
    println!("{target}: {n} kept inputs replayed");
}

#[test]
fn yaml() {
    replay("yaml", agent_tests::fuzzing::yaml);
}

#[test]
fn inventory() {
    replay("inventory", agent_tests::fuzzing::inventory);
}

#[test]
fn template() {
    replay("template", agent_tests::fuzzing::template);
}

#[test]
fn bundle() {
    replay("bundle", agent_tests::fuzzing::bundle);
}
