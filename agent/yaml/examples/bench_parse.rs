//! Rough parse timing: `cargo run --release -p agent-yaml --example bench_parse`.

use std::path::Path;
use std::time::Instant;

use agent_yaml::{Limits, parse_all};

fn main() {
    let mut src = String::from("- hosts: all\n  become: yes\n  vars:\n    port: 8080\n  tasks:\n");
    let mut lines = 5;
    let mut i = 0;
    while lines < 1000 {
        src.push_str(&format!(
            "    - name: task {i} installs things\n      ansible.builtin.package:\n        name: \"{{{{ item }}}}\"\n        state: present\n      loop: [a, b, c]\n      when: ansible_os_family == 'Debian' and x | bool\n      tags: [t{i}, always]\n"
        ));
        lines += 7;
        i += 1;
    }
    let runs = 200;
    let start = Instant::now();
    let mut nodes = 0;
    for _ in 0..runs {
        match parse_all(&src, Path::new("bench.yml"), Limits::default()) {
            Ok(docs) => nodes += docs.len(),
            Err(e) => {
                eprintln!("{e}");
                return;
            }
        }
    }
    let per = start.elapsed() / runs;
    let start = Instant::now();
    let mut events = 0usize;
    for _ in 0..runs {
        for ev in saphyr_parser::Parser::new_from_str(&src) {
            if ev.is_err() {
                break;
            }
            events += 1;
        }
    }
    println!(
        "saphyr events alone: {:?} per parse ({events} events)",
        start.elapsed() / runs
    );
    println!(
        "{lines} lines, {} bytes: {per:?} per parse ({nodes} docs)",
        src.len()
    );
}
