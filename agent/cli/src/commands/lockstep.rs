//! `--local-hosts`: one engine per host, each on its own thread, taking turns task by
//! task (crate::engine::lockstep). Their events go to one reporter; what they print is
//! written here, on the caller's thread, in the order it was printed.

use std::io::Write;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

use agent_inventory::Inventory;
use agent_report::{Event, Reporter, Stats};

use crate::engine::lockstep::{Lockstep, Member};
use crate::engine::{Engine, Outcome, RunOptions};
use crate::loader::model::Playbook;
use crate::loader::playbook::Loader;
use crate::report::RunReporter;

/// A host's view of the shared reporter.
struct Shared(Arc<Mutex<RunReporter>>);

impl Reporter for Shared {
    fn event(&mut self, ev: &Event<'_>, out: &mut dyn Write) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .event(ev, out)
    }
}

/// A host's output: sent to the writing thread.
struct Sent(Sender<Vec<u8>>);

impl Write for Sent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .send(buf.to_vec())
            .map_err(|_| std::io::Error::other("the output is closed"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn add(a: &mut Stats, b: &Stats) {
    a.ok += b.ok;
    a.changed += b.changed;
    a.unreachable += b.unreachable;
    a.failures += b.failures;
    a.skipped += b.skipped;
    a.rescued += b.rescued;
    a.ignored += b.ignored;
}

/// Run `pb` on `hosts` in lockstep; the recap lists every host. Returns the run's
/// outcome (counts summed; failed when any host failed) and the reporter.
pub fn run(
    opts: RunOptions,
    inventory: Arc<Inventory>,
    hosts: Vec<String>,
    loader: Loader,
    pb: &Playbook,
    reporter: RunReporter,
    out: &mut dyn Write,
) -> (Outcome, RunReporter) {
    let lockstep = Arc::new(Lockstep::new(hosts.clone()));
    let shared = Arc::new(Mutex::new(reporter));
    let (tx, rx) = channel::<Vec<u8>>();
    let results: Vec<(String, Option<Outcome>)> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(me, host)| {
                let (tx, shared, lockstep) = (tx.clone(), shared.clone(), lockstep.clone());
                let (opts, inventory, loader) = (opts.clone(), inventory.clone(), loader.clone());
                let name = host.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("host {host}"))
                    // as deep as the main thread's: includes and blocks recurse
                    .stack_size(64 << 20)
                    .spawn_scoped(s, move || {
                        let mut rep = Shared(shared);
                        let mut w = Sent(tx);
                        let member = Member { lockstep, me };
                        let mut engine =
                            Engine::new(opts, inventory, name, loader, &mut rep, &mut w);
                        engine.in_lockstep(member);
                        engine.run_playbook(pb)
                    });
                (host.clone(), handle)
            })
            .collect();
        drop(tx);
        for chunk in rx {
            if let Err(e) = out.write_all(&chunk) {
                tracing::warn!("could not write output: {e}");
            }
        }
        handles
            .into_iter()
            .map(|(host, h)| {
                let outcome = match h {
                    Ok(h) => h.join().ok(),
                    Err(e) => {
                        tracing::error!("could not start a thread for host {host}: {e}");
                        None
                    }
                };
                (host, outcome)
            })
            .collect()
    });
    let mut reporter = match Arc::try_unwrap(shared) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        // Every thread has ended: nothing else holds it.
        Err(_) => unreachable!("a host thread outlived the run"),
    };
    let mut total = Outcome::default();
    let mut stats = Vec::new();
    for (host, o) in results {
        match o {
            Some(o) => {
                add(&mut total.stats, &o.stats);
                // As Ansible's recap: the hosts something happened to.
                if o.stats != Stats::default() {
                    stats.push((host, o.stats));
                }
                total.failed |= o.failed;
                total.fatal = total.fatal.or(o.fatal);
                if o.interrupted {
                    total.interrupted = true;
                    total.interrupted_by = total.interrupted_by.or(o.interrupted_by);
                }
            }
            None => {
                tracing::error!("the run of host {host} stopped on an internal error");
                total.failed = true;
                stats.push((host, Stats::default()));
            }
        }
    }
    if total.fatal.is_some() {
        // An include's parser error ended the run: no recap, as in Ansible.
        return (total, reporter);
    }
    let mut buf = Vec::new();
    let res = reporter
        .event(&Event::Recap { stats: &stats }, &mut buf)
        .and_then(|()| reporter.finish(&mut buf))
        .and_then(|()| out.write_all(&buf));
    if let Err(e) = res {
        tracing::warn!("could not write output: {e}");
    }
    (total, reporter)
}
