//! The fast path: a no-op run (load, observe, nothing to do) of a playbook of 100
//! file/copy/template tasks, converged once before measuring. Run: `cargo bench -p agent`.

use std::path::Path;

use agent::cli::RunArgs;
use criterion::{Criterion, criterion_group, criterion_main};

pub fn write_playbook(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/t.j2"),
        "name={{ item_name }}\nhost={{ inventory_hostname }}\n",
    )
    .unwrap();
    let mut pb = String::from("- hosts: localhost\n  gather_facts: false\n  tasks:\n");
    for i in 0..n {
        match i % 3 {
            0 => pb.push_str(&format!(
                "    - name: dir {i}\n      file:\n        path: \"{{{{ out }}}}/d{i}\"\n        state: directory\n        mode: \"0755\"\n"
            )),
            1 => pb.push_str(&format!(
                "    - name: copy {i}\n      copy:\n        content: \"content {i}\\n\"\n        dest: \"{{{{ out }}}}/c{i}.txt\"\n        mode: \"0644\"\n"
            )),
            _ => pb.push_str(&format!(
                "    - name: template {i}\n      template:\n        src: t.j2\n        dest: \"{{{{ out }}}}/t{i}.conf\"\n      vars:\n        item_name: n{i}\n"
            )),
        }
    }
    std::fs::write(dir.join("play.yml"), pb).unwrap();
}

fn args(dir: &Path, out: &Path) -> RunArgs {
    RunArgs::for_playbook(dir.join("play.yml"), vec![format!("out={}", out.display())])
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pb");
    let out = tmp.path().join("out");
    write_playbook(&dir, 100);
    let a = args(&dir, &out);
    let mut sink = Vec::new();
    let code = agent::commands::run_to(&a, false, false, false, &mut sink).unwrap();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&sink));
    c.bench_function("noop_100_file_copy_template_tasks", |b| {
        b.iter(|| {
            sink.clear();
            let code = agent::commands::run_to(&a, false, false, false, &mut sink).unwrap();
            assert_eq!(code, 0);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
