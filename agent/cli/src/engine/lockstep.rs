//! Several hosts in one run (`agent apply --local-hosts`), all on this machine, the way
//! `ansible-playbook -c local` runs a play on every host it matches with the linear
//! strategy: each task runs on every host that has it next before any host goes on.
//!
//! Each host has its own [`super::Engine`] on its own thread; they take turns, one at a
//! time, so the output and the machine see one task at a time. A host waits at a gate
//! before each task (and before each play and the facts), saying where the task is: its
//! position in the playbook as a path of indexes (play, section, item, block part,
//! include item, ...). When every host is waiting (or has left), the lowest position
//! is the next round: the hosts waiting there run it, in inventory order; the first of
//! them prints the shared banner. Hosts that skipped an include or are in a block's
//! rescue are simply at another position, as Ansible's iterator puts them.
//!
//! What one host decides for the others goes through here too: a task that fails under
//! `any_errors_fatal` fails the play's other hosts at their next task, after its round
//! (Ansible's `mark_host_failed`: a block's rescue and always still run); `meta:
//! end_play` ends the play for all; `ansible_play_hosts` lists the play's hosts that have
//! not failed.

use std::sync::{Condvar, Mutex, MutexGuard};

/// What a host is told when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Run the task.
    Run,
    /// Another host ended the play (`meta: end_play`).
    EndPlay,
    /// A task failed on another host under `any_errors_fatal`: this host fails here, as
    /// if this task had failed (unseen, uncounted): its block's rescue and always run.
    Fail,
    /// Another host met an error that ends the whole run (a parser error in a file an
    /// include brought): this host stops here, running nothing more.
    Stop,
}

/// What a `run_once` task did on the first host of its round: the variables it set
/// (registered results, facts, included vars) and whether it failed. The round's other
/// hosts take them instead of running the task, as Ansible applies the one result to
/// every host.
#[derive(Debug, Clone, Default)]
pub struct RunOnce {
    pub round: u64,
    pub set_facts: Vec<(String, minijinja::Value)>,
    pub include_vars: Vec<(String, minijinja::Value)>,
    pub facts: Vec<(String, minijinja::Value)>,
    pub failed: bool,
    /// The meta action it carried out (not skipped), which the others carry out too.
    pub meta: Option<String>,
}

/// A host's turn at a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    /// The first host of the round: it prints the banner the round shares.
    pub first: bool,
    /// The last host of the round.
    pub last: bool,
    pub verdict: Verdict,
    /// Which round this is (counted from the start of the run).
    pub round: u64,
}

impl Turn {
    /// A run of one host: every turn is its own.
    pub const ALONE: Turn = Turn {
        first: true,
        last: true,
        verdict: Verdict::Run,
        round: 0,
    };
}

#[derive(Debug, Default)]
struct State {
    /// Per host: the position it waits at.
    waiting: Vec<Option<Vec<u32>>>,
    /// Per host: it has finished the playbook (or its thread ended).
    left: Vec<bool>,
    /// The host whose turn it is.
    turn: Option<usize>,
    /// The position of the current round, and the hosts that had their turn in it.
    round: Option<Vec<u32>>,
    round_done: Vec<bool>,
    /// The play being run (its index and batch) and, per host, whether it runs the play
    /// and has not failed.
    play: Option<(u32, u32)>,
    in_play: Vec<bool>,
    selected: Vec<bool>,
    /// The play `meta: end_play` ended.
    ended: Option<u32>,
    /// Per host: failed by `any_errors_fatal` in this round (it fails at its next gate
    /// after this round).
    fail_at: Vec<Option<u64>>,
    /// Counts the rounds.
    rounds: u64,
    /// A host met an error that ends the run (see [`Verdict::Stop`]).
    stopped: bool,
    /// A host of the current round printed its banner.
    banner: bool,
    /// Per position of an include: the files (with their variables) hosts included
    /// there, in the order they first did (each is its own round, as Ansible runs each
    /// distinct included file as its own blocks).
    includes: std::collections::HashMap<Vec<u32>, Vec<String>>,
    /// What a `run_once` task did on the first host of its round, for the others.
    run_once: Option<RunOnce>,
    /// Per host: the variables it set, as other hosts see them in `hostvars`.
    published: Vec<Option<std::sync::Arc<indexmap::IndexMap<String, minijinja::Value>>>>,
    /// Per host: it failed or ended in the current play (any batch).
    removed: Vec<bool>,
    /// Bumped whenever `in_play` changes (magic variables are built again).
    generation: u64,
}

/// The hosts of one run and whose turn it is.
#[derive(Debug)]
pub struct Lockstep {
    hosts: Vec<String>,
    state: Mutex<State>,
    cv: Condvar,
}

impl Lockstep {
    pub fn new(hosts: Vec<String>) -> Lockstep {
        let n = hosts.len();
        Lockstep {
            hosts,
            state: Mutex::new(State {
                waiting: vec![None; n],
                left: vec![false; n],
                round_done: vec![false; n],
                in_play: vec![false; n],
                selected: vec![false; n],
                fail_at: vec![None; n],
                published: vec![None; n],
                removed: vec![false; n],
                ..State::default()
            }),
            cv: Condvar::new(),
        }
    }

    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A host thread that panicked leaves through its guard; the state stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait at `pos` until it is `me`'s turn.
    pub fn gate(&self, me: usize, pos: &[u32]) -> Turn {
        let mut st = self.lock();
        st.waiting[me] = Some(pos.to_vec());
        if st.turn == Some(me) {
            st.turn = None;
        }
        self.pass(&mut st);
        while st.turn != Some(me) {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.waiting[me] = None;
        st.round_done[me] = true;
        let n = self.hosts.len();
        let round = st.round.clone();
        let last = !(0..n).any(|h| !st.round_done[h] && st.waiting[h] == round);
        // Positions are [play, batch, ...]: a play's banner is at [play, batch].
        let task_gate = pos.len() > 2;
        let verdict = if st.stopped {
            Verdict::Stop
        } else if st.ended.is_some() && st.ended == pos.first().copied() {
            Verdict::EndPlay
        } else if task_gate && st.fail_at[me].is_some_and(|r| r < st.rounds) {
            st.fail_at[me] = None;
            Verdict::Fail
        } else {
            Verdict::Run
        };
        // The first host of the round that runs it prints the banner (hosts that another
        // host failed or ended do not).
        let first = verdict == Verdict::Run && !st.banner;
        st.banner |= first;
        Turn {
            first,
            last,
            verdict,
            round: st.rounds,
        }
    }

    /// `me` is done with the playbook: the others go on without it.
    pub fn leave(&self, me: usize) {
        let mut st = self.lock();
        st.left[me] = true;
        st.waiting[me] = None;
        if st.turn == Some(me) {
            st.turn = None;
        }
        self.pass(&mut st);
    }

    /// Give the turn to the next host once nobody runs: the next host of the round,
    /// else the first host of the lowest position anyone waits at.
    fn pass(&self, st: &mut State) {
        if st.turn.is_some() {
            return;
        }
        let n = self.hosts.len();
        if (0..n).any(|h| !st.left[h] && st.waiting[h].is_none()) {
            // Someone has not reached a gate yet (only at the start).
            return;
        }
        let next_in_round = st
            .round
            .as_ref()
            .and_then(|r| (0..n).find(|&h| !st.round_done[h] && st.waiting[h].as_ref() == Some(r)));
        let next = match next_in_round {
            Some(h) => Some(h),
            None => {
                let lowest = (0..n).filter_map(|h| st.waiting[h].clone()).min();
                st.round_done.iter_mut().for_each(|d| *d = false);
                st.round = lowest.clone();
                st.rounds += 1;
                st.banner = false;
                lowest.and_then(|r| (0..n).find(|&h| st.waiting[h].as_ref() == Some(&r)))
            }
        };
        st.turn = next;
        if next.is_some() {
            self.cv.notify_all();
        }
    }

    /// `me` starts batch `batch` of play `play`; `selected`: the batch has it.
    pub fn start_play(&self, me: usize, play: u32, batch: u32, selected: bool) {
        let mut st = self.lock();
        if st.play.map(|(p, _)| p) != Some(play) {
            st.removed.iter_mut().for_each(|r| *r = false);
        }
        if st.play != Some((play, batch)) {
            st.play = Some((play, batch));
            st.in_play.iter_mut().for_each(|p| *p = false);
            st.selected.iter_mut().for_each(|p| *p = false);
            st.fail_at.iter_mut().for_each(|p| *p = None);
        }
        st.in_play[me] = selected;
        st.selected[me] = selected;
        st.generation += 1;
    }

    /// Whether any host runs the current play (asked by the last host of its first round).
    pub fn any_selected(&self) -> bool {
        self.lock().selected.iter().any(|s| *s)
    }

    /// `me` failed for good (or was unreachable): it is no longer one of the play's hosts.
    pub fn host_failed(&self, me: usize) {
        let mut st = self.lock();
        st.in_play[me] = false;
        st.removed[me] = true;
        st.generation += 1;
    }

    /// A task failed on `me` under `any_errors_fatal`: every other host of the play fails
    /// at its next task after this round.
    pub fn fail_others(&self, me: usize) {
        let mut st = self.lock();
        let round = st.rounds;
        for h in 0..self.hosts.len() {
            if h != me && st.in_play[h] && st.fail_at[h].is_none() {
                st.fail_at[h] = Some(round);
                // Ansible's mark_host_failed: out of ansible_play_hosts, rescued or not.
                st.in_play[h] = false;
                st.removed[h] = true;
                st.generation += 1;
            }
        }
    }

    /// The whole run ends: every host stops at its next gate.
    pub fn stop_all(&self) {
        self.lock().stopped = true;
    }

    /// `me` left the play without failing (`meta: end_host`).
    pub fn host_ended(&self, me: usize) {
        let mut st = self.lock();
        st.in_play[me] = false;
        st.removed[me] = true;
        st.generation += 1;
    }

    /// Which of the files included at `pos` this one is (`key`: the file and its
    /// variables), numbered in the order hosts first included them.
    pub fn include_id(&self, pos: &[u32], key: &str) -> u32 {
        let mut st = self.lock();
        let seen = st.includes.entry(pos.to_vec()).or_default();
        let i = match seen.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                seen.push(key.to_string());
                seen.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
    }

    /// `me` set these variables (they replace what it published before).
    pub fn publish(&self, me: usize, vars: indexmap::IndexMap<String, minijinja::Value>) {
        self.lock().published[me] = Some(std::sync::Arc::new(vars));
    }

    /// What host `name` published, if it is one of this run's hosts.
    pub fn published(
        &self,
        name: &str,
    ) -> Option<std::sync::Arc<indexmap::IndexMap<String, minijinja::Value>>> {
        let i = self.hosts.iter().position(|h| h == name)?;
        self.lock().published[i].clone()
    }

    /// The first host of a round ran its `run_once` task: what it did.
    pub fn ran_once(&self, done: RunOnce) {
        self.lock().run_once = Some(done);
    }

    /// What the first host of round `round` did with its `run_once` task, if it ran one.
    pub fn run_once_result(&self, round: u64) -> Option<RunOnce> {
        self.lock()
            .run_once
            .as_ref()
            .filter(|r| r.round == round)
            .cloned()
    }

    /// `meta: end_play`: the play ends for every host.
    pub fn end_play(&self) {
        let mut st = self.lock();
        st.ended = st.play.map(|(p, _)| p);
    }

    /// The current play's hosts that have not failed, in inventory order, and all of
    /// them; with the generation they belong to.
    /// The current batch's hosts that have not failed (`ansible_play_batch`), the hosts
    /// of the play (every batch) that failed or ended (out of `ansible_play_hosts`), and
    /// the generation they belong to.
    pub fn play_hosts(&self) -> (Vec<String>, Vec<String>, u64) {
        let st = self.lock();
        let pick = |v: &[bool]| {
            self.hosts
                .iter()
                .zip(v)
                .filter(|(_, s)| **s)
                .map(|(h, _)| h.clone())
                .collect::<Vec<_>>()
        };
        // A host whose run ended (it failed in an earlier play) is out too.
        let out: Vec<bool> = st
            .removed
            .iter()
            .zip(&st.left)
            .map(|(r, l)| *r || *l)
            .collect();
        (pick(&st.in_play), pick(&out), st.generation)
    }
}

/// A host's place in a [`Lockstep`]; leaves it when dropped (even on a panic), so the
/// other hosts never wait for a thread that is gone.
#[derive(Debug)]
pub struct Member {
    pub lockstep: std::sync::Arc<Lockstep>,
    pub me: usize,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.lockstep.leave(self.me);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Three hosts; host 1 skips the include (positions [1,0,x]) that 0 and 2 run: the
    /// included tasks run before the task after the include, round by round.
    #[test]
    fn rounds_follow_positions_then_host_order() {
        let ls = Arc::new(Lockstep::new(vec!["a".into(), "b".into(), "c".into()]));
        let log = Arc::new(Mutex::new(Vec::new()));
        let plans: Vec<Vec<Vec<u32>>> = vec![
            vec![vec![0], vec![1], vec![1, 0], vec![1, 1], vec![2]],
            vec![vec![0], vec![1], vec![2]],
            vec![vec![0], vec![1], vec![1, 0], vec![1, 1], vec![2]],
        ];
        std::thread::scope(|s| {
            for (me, plan) in plans.into_iter().enumerate() {
                let ls = ls.clone();
                let log = log.clone();
                s.spawn(move || {
                    let _m = Member {
                        lockstep: ls.clone(),
                        me,
                    };
                    for pos in plan {
                        let t = ls.gate(me, &pos);
                        log.lock().unwrap().push((pos, me, t.first, t.last));
                    }
                });
            }
        });
        let log = log.lock().unwrap().clone();
        let order: Vec<(Vec<u32>, usize)> =
            log.iter().map(|(p, h, _, _)| (p.clone(), *h)).collect();
        assert_eq!(
            order,
            vec![
                (vec![0], 0),
                (vec![0], 1),
                (vec![0], 2),
                (vec![1], 0),
                (vec![1], 1),
                (vec![1], 2),
                (vec![1, 0], 0),
                (vec![1, 0], 2),
                (vec![1, 1], 0),
                (vec![1, 1], 2),
                (vec![2], 0),
                (vec![2], 1),
                (vec![2], 2),
            ]
        );
        let firsts: Vec<bool> = log.iter().map(|e| e.2).collect();
        assert_eq!(
            firsts,
            vec![
                true, false, false, true, false, false, true, false, true, false, true, false,
                false
            ]
        );
        let lasts: Vec<bool> = log.iter().map(|e| e.3).collect();
        assert_eq!(
            lasts,
            vec![
                false, false, true, false, false, true, false, true, false, true, false, false,
                true
            ]
        );
    }

    #[test]
    fn a_fatal_failure_fails_the_others_after_its_round() {
        let ls = Arc::new(Lockstep::new(vec!["a".into(), "b".into()]));
        let seen = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|s| {
            for me in 0..2 {
                let ls = ls.clone();
                let seen = seen.clone();
                s.spawn(move || {
                    let _m = Member {
                        lockstep: ls.clone(),
                        me,
                    };
                    ls.gate(me, &[0, 0]);
                    ls.start_play(me, 0, 0, true);
                    let t = ls.gate(me, &[0, 0, 1]);
                    if me == 0 {
                        ls.fail_others(0);
                    }
                    seen.lock().unwrap().push((me, 1, t.verdict));
                    let t = ls.gate(me, &[0, 0, 2]);
                    seen.lock().unwrap().push((me, 2, t.verdict));
                });
            }
        });
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (0, 1, Verdict::Run),
                (1, 1, Verdict::Run),
                (0, 2, Verdict::Run),
                (1, 2, Verdict::Fail),
            ]
        );
        // b was marked failed: it left ansible_play_hosts.
        assert_eq!(ls.play_hosts().0, vec!["a".to_string()]);
    }
}
