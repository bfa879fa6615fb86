//! `agent demo`: the built-in example, run twice in a temporary directory that is removed
//! afterwards. It shows a converge and then an idempotent re-run; nothing outside the
//! temporary directory is touched.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{DemoArgs, RunArgs, exit};

const FILES: &[(&str, &str)] = &[
    ("site.yml", include_str!("demo_bundle/site.yml")),
    (
        "roles/motd/defaults/main.yml",
        include_str!("demo_bundle/roles/motd/defaults/main.yml"),
    ),
    (
        "roles/motd/tasks/main.yml",
        include_str!("demo_bundle/roles/motd/tasks/main.yml"),
    ),
    (
        "roles/motd/templates/motd.j2",
        include_str!("demo_bundle/roles/motd/templates/motd.j2"),
    ),
    (
        "roles/motd/handlers/main.yml",
        include_str!("demo_bundle/roles/motd/handlers/main.yml"),
    ),
];

fn write_bundle(dir: &Path) -> Result<()> {
    for (name, text) in FILES {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

pub fn run(args: &DemoArgs) -> Result<i32> {
    let tmp = tempfile::Builder::new().prefix("agent-demo-").tempdir()?;
    let bundle = tmp.path().join("bundle");
    let out = tmp.path().join("out");
    write_bundle(&bundle)?;
    let run_args = RunArgs::for_playbook(
        bundle.join("site.yml"),
        vec![format!("out={}", out.display())],
    );
    println!(
        "agent demo: the built-in example runs in {} (removed afterwards).",
        tmp.path().display()
    );
    println!("\n=== first run: converge ===");
    let first = super::run(&run_args, false, true, false)?;
    println!("\n=== second run: nothing left to do (changed=0) ===");
    let second = super::run(&run_args, false, false, false)?;
    println!("\n=== check: no drift ===");
    let third = super::run(&run_args, true, true, true)?;
    if args.keep {
        let kept = tmp.keep();
        println!("\nkept {}", kept.display());
    }
    Ok(
        if first == exit::FAILED || second == exit::FAILED || third == exit::FAILED {
            exit::FAILED
        } else {
            exit::OK
        },
    )
}
