//! Time loading an inventory and merging every host's variables:
//! `cargo run --release -p agent-inventory --example load_time -- INVENTORY...`

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let sources: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let runs = 20;
    let mut best = f64::MAX;
    let mut hosts = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let inv = match agent_inventory::Inventory::load(&sources) {
            Ok(inv) => inv,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let load = t.elapsed().as_secs_f64();
        for h in inv.hosts.keys() {
            let _ = inv.host_vars(h);
        }
        hosts = inv.hosts.len();
        best = best.min(load);
        if load == best {
            println!(
                "load {:.3} ms, load + host_vars for all hosts {:.3} ms",
                load * 1e3,
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    println!("{hosts} hosts, best load {:.3} ms", best * 1e3);
}
