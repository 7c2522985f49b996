//! A team of threads that advances the parts of a simulation step after step.
//!
//! A step's parallel work is short (microseconds to a fraction of a millisecond), so handing
//! it to a general-purpose pool each step costs as much as the work: idle pool threads go to
//! sleep between steps and are woken through the kernel. The team keeps its threads for the
//! whole run. The calling thread (the owner) does the sequential part of each step, publishes
//! the step, works on parts like the others, and waits until every part is done.
//!
//! Each thread has parts of its own (assigned once, largest first to the least loaded thread),
//! which it claims first every step, so a part's state stays in the cache of one core. A thread
//! that has finished its own parts claims the parts that other threads have not started, from
//! the end of their lists. So no step waits for a thread that another process has taken the
//! core from: the threads that run do its work, and a late thread finds its parts done. Results
//! are collected in part order, so they do not depend on which thread advanced which part.
//!
//! Waiting threads spin for a short time, then sleep until woken (as OpenMP runtimes do). How
//! long they spin depends on the machine: while no thread of the team is being preempted,
//! long enough that an idle machine rarely pays for a wake-up; once one is (another process
//! wants its core), only briefly, so that a waiting thread gives its core up at once and the
//! scheduler can move the preempted thread onto it.

use super::part::{Part, StepInput};
use super::ring::Bundle;
use super::tables::RunTables;
use crate::network::compiled::CompiledNetwork;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a waiting thread spins before it sleeps while no thread of the team is preempted:
/// longer than most waits within a step on an idle machine (the imbalance between threads,
/// the owner's sequential part: 99.8 % of the waits of Brunel on two threads).
const SPIN_IDLE: Duration = Duration::from_micros(50);
/// How long a waiting thread spins while a thread of the team is being preempted by another
/// process, and always when there are more threads than cores: a spinning thread keeps the
/// one it waits for off the core.
const SPIN_CONTENDED: Duration = Duration::from_micros(2);
/// Rounds between two looks of a thread at the time it spent waiting for a core.
const ROUNDS_PER_PREEMPTION_CHECK: u64 = 16;
/// The share of its time a thread spends waiting for a core above which the team counts as
/// contended. On an idle machine a thread woken from sleep waits a few per cent of the time
/// for its core, and now and then a kernel thread takes it for a moment; a process sharing
/// the core takes about half.
const CONTENDED_WAIT_SHARE: f64 = 0.25;
/// Rounds of short spinning after a thread of the team was seen waiting for its core.
const CONTENDED_ROUNDS: u64 = 512;
/// Spins between two readings of the clock.
const SPINS_PER_CLOCK_READ: u32 = 64;

/// A value alone on its cache lines (two: adjacent lines are fetched in pairs).
#[repr(align(128))]
struct OwnLine<T>(T);

/// Where threads wait for a condition that another thread makes true: they spin for a short
/// time, then sleep until that thread wakes them.
struct WaitPlace {
    /// Threads asleep (or about to sleep) here.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl WaitPlace {
    fn new() -> Self {
        WaitPlace {
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Wait until `ready()` (which must read with `SeqCst`), spinning for `spin` first.
    fn wait_until(&self, spin: Duration, ready: impl Fn() -> bool) {
        let start = Instant::now();
        loop {
            for _ in 0..SPINS_PER_CLOCK_READ {
                if ready() {
                    return;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= spin {
                break;
            }
        }
        // A sleeper counts itself before its last look at the condition, and a waker makes
        // the condition true before it reads the count (all `SeqCst`): either the sleeper sees
        // the condition or the waker sees the sleeper. Taking the lock orders the wake-up
        // after the sleeper's last look.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !ready() {
            guard = self
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(guard);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wake the sleepers, after the condition they wait for was made true (with `SeqCst`).
    fn wake_all(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }
}

/// What the team shares. The parts live here during the parallel phase of a step and with the
/// simulation during its sequential phase.
pub(super) struct Team<'s> {
    net: &'s CompiledNetwork,
    /// The run's tables, here during the parallel phase of a step (the sequential phase may
    /// write them: plasticity changes weights).
    tables: RwLock<RunTables>,
    event: bool,
    profile: bool,
    /// Whether there are more threads than cores.
    oversubscribed: bool,
    /// The round until which waiting threads spin only [`SPIN_CONTENDED`].
    contended_until: OwnLine<AtomicU64>,
    parts: Vec<Mutex<Option<Part>>>,
    /// Per part, the last round it was claimed in.
    claimed: Vec<OwnLine<AtomicU64>>,
    /// The order in which each thread claims parts (thread 0 is the owner): its own parts,
    /// then the others' from the end of their lists.
    claim_order: Vec<Vec<usize>>,
    bundles: RwLock<Vec<Bundle>>,
    step: AtomicU32,
    /// The round being worked on: one per step, and one more to stop.
    round: OwnLine<AtomicU64>,
    /// Parts finished in the current round.
    done: OwnLine<AtomicUsize>,
    /// Set by the owner after its last step.
    stop: AtomicBool,
    /// Set when a thread of the team panics, so that no thread waits forever for it.
    poisoned: AtomicBool,
    /// Helpers wait here for the next round.
    helpers: WaitPlace,
    /// The owner waits here for the parts to be done.
    owner: WaitPlace,
}

/// Sets the team's poison flag if the thread holding it unwinds from a panic, and wakes every
/// waiting thread.
struct PoisonOnPanic<'t, 's>(&'t Team<'s>);

impl Drop for PoisonOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::SeqCst);
            self.0.helpers.wake_all();
            self.0.owner.wake_all();
        }
    }
}

impl<'s> Team<'s> {
    /// A team of `threads` threads (the caller included) for parts of the given sizes, running
    /// the event engine or not, profiling or not.
    pub fn new(
        threads: usize,
        net: &'s CompiledNetwork,
        (event, profile): (bool, bool),
        part_sizes: &[usize],
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Team {
            net,
            tables: RwLock::new(RunTables::default()),
            event,
            profile,
            oversubscribed: threads > cores,
            contended_until: OwnLine(AtomicU64::new(0)),
            parts: part_sizes.iter().map(|_| Mutex::new(None)).collect(),
            claimed: part_sizes
                .iter()
                .map(|_| OwnLine(AtomicU64::new(0)))
                .collect(),
            claim_order: claim_orders(&assign(threads, part_sizes)),
            bundles: RwLock::new(Vec::new()),
            step: AtomicU32::new(0),
            round: OwnLine(AtomicU64::new(0)),
            done: OwnLine(AtomicUsize::new(0)),
            stop: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            helpers: WaitPlace::new(),
            owner: WaitPlace::new(),
        }
    }

    /// The loop of helper thread `worker` (`1..threads`): work on each round until
    /// [`Self::finish`] (or until another thread panics).
    pub fn serve(&self, worker: usize) {
        let _guard = PoisonOnPanic(self);
        let mut seen = 0;
        let mut preemptions = Preemptions::new();
        loop {
            self.helpers.wait_until(self.spin(seen), || {
                self.round.0.load(Ordering::SeqCst) != seen || self.poisoned.load(Ordering::SeqCst)
            });
            if self.stop.load(Ordering::SeqCst) || self.poisoned.load(Ordering::SeqCst) {
                return;
            }
            seen = self.round.0.load(Ordering::SeqCst);
            self.work(worker, seen);
            self.watch(&mut preemptions, seen);
        }
    }

    /// Called by the owner: advance `parts` through step `step` with `bundles` arriving, on all
    /// threads, and give both back.
    pub fn step(
        &self,
        step: u32,
        (parts, bundles, tables): (&mut Vec<Part>, &mut Vec<Bundle>, &mut RunTables),
        preemptions: &mut Preemptions,
    ) {
        debug_assert_eq!(parts.len(), self.parts.len());
        for (slot, part) in self.parts.iter().zip(parts.drain(..)) {
            *slot.lock().expect("no thread panicked") = Some(part);
        }
        std::mem::swap(
            &mut *self.bundles.write().expect("no thread panicked"),
            bundles,
        );
        std::mem::swap(
            &mut *self.tables.write().expect("no thread panicked"),
            tables,
        );
        self.step.store(step, Ordering::Relaxed);
        self.done.0.store(0, Ordering::SeqCst);
        let round = self.round.0.fetch_add(1, Ordering::SeqCst) + 1;
        self.helpers.wake_all();
        self.work(0, round);
        self.watch(preemptions, round);
        self.owner.wait_until(self.spin(round), || {
            self.done.0.load(Ordering::SeqCst) == self.parts.len()
                || self.poisoned.load(Ordering::SeqCst)
        });
        assert!(
            !self.poisoned.load(Ordering::SeqCst),
            "a thread of the simulation panicked"
        );
        parts.extend(self.parts.iter().map(|slot| {
            slot.lock()
                .expect("no thread panicked")
                .take()
                .expect("every part is handed back")
        }));
        std::mem::swap(
            &mut *self.bundles.write().expect("no thread panicked"),
            bundles,
        );
        std::mem::swap(
            &mut *self.tables.write().expect("no thread panicked"),
            tables,
        );
    }

    /// Held by the owner for the whole run: if the owner panics (in a step or between steps),
    /// the helpers stop waiting for it.
    pub fn owner_guard(&self) -> impl Drop + '_ {
        PoisonOnPanic(self)
    }

    /// Called by the owner after the last step: release the helpers.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.round.0.fetch_add(1, Ordering::SeqCst);
        self.helpers.wake_all();
    }

    /// How long to spin in round `round`.
    fn spin(&self, round: u64) -> Duration {
        if self.oversubscribed || round < self.contended_until.0.load(Ordering::Relaxed) {
            SPIN_CONTENDED
        } else {
            SPIN_IDLE
        }
    }

    /// Every few rounds, look whether the calling thread was kept from its core since the last
    /// look; if it was, spin briefly for the next [`CONTENDED_ROUNDS`] rounds.
    fn watch(&self, preemptions: &mut Preemptions, round: u64) {
        if round.is_multiple_of(ROUNDS_PER_PREEMPTION_CHECK) && preemptions.since_last_look() {
            self.contended_until
                .0
                .fetch_max(round + CONTENDED_ROUNDS, Ordering::Relaxed);
        }
    }

    /// Claim and advance, in round `round`, the parts that thread `worker` can still claim. A
    /// thread that is late for a round (the round moved on while it was off its core) claims
    /// nothing: every part of a later round already carries that later round.
    fn work(&self, worker: usize, round: u64) {
        let mut shared = None;
        for &part in &self.claim_order[worker] {
            if self.claimed[part].0.fetch_max(round, Ordering::AcqRel) >= round {
                continue;
            }
            // The round cannot end before this part is done, so the owner does not touch the
            // bundles or the step until then.
            let (bundles, tables) = shared.get_or_insert_with(|| {
                let bundles = self.bundles.read().expect("no panic");
                (bundles, self.tables.read().expect("no panic"))
            });
            let input = StepInput {
                t: self.step.load(Ordering::Relaxed),
                net: self.net,
                bundles,
                tables,
                event: self.event,
                profile: self.profile,
            };
            self.parts[part]
                .lock()
                .expect("no thread panicked")
                .as_mut()
                .expect("parts are handed over before the step")
                .step(&input);
            if self.done.0.fetch_add(1, Ordering::SeqCst) + 1 == self.parts.len() {
                self.owner.wake_all();
            }
        }
    }
}

/// How the calling thread has been kept from its core: the time it spent runnable but waiting
/// for a core (another thread ran there), read from the scheduler's statistics where the
/// system keeps them (Linux: `/proc/thread-self/schedstat`).
pub(super) struct Preemptions {
    schedstat: Option<std::fs::File>,
    /// Wall-clock time and time spent waiting for a core at the last look.
    last: Option<(Instant, u64)>,
}

impl Preemptions {
    /// Start watching the calling thread.
    pub fn new() -> Self {
        let schedstat = std::fs::File::open("/proc/thread-self/schedstat").ok();
        let mut watch = Preemptions {
            schedstat,
            last: None,
        };
        watch.last = watch.waited_ns().map(|ns| (Instant::now(), ns));
        watch
    }

    /// Whether the calling thread spent more than [`CONTENDED_WAIT_SHARE`] of the time since
    /// the last look waiting for a core.
    fn since_last_look(&mut self) -> bool {
        let Some((then, waited_then)) = self.last else {
            return false;
        };
        let Some(waited_now) = self.waited_ns() else {
            self.last = None;
            return false;
        };
        let now = Instant::now();
        self.last = Some((now, waited_now));
        let wall_ns = now.duration_since(then).as_nanos() as f64;
        waited_now.saturating_sub(waited_then) as f64 > CONTENDED_WAIT_SHARE * wall_ns
    }

    /// Nanoseconds the calling thread has spent waiting for a core so far.
    fn waited_ns(&self) -> Option<u64> {
        let file = self.schedstat.as_ref()?;
        let mut text = [0u8; 96];
        let len = read_from_start(file, &mut text)?;
        let text = std::str::from_utf8(&text[..len]).ok()?;
        text.split_ascii_whitespace().nth(1)?.parse().ok()
    }
}

/// Read a file from its start into `buf` (one read: the scheduler's statistics are short).
#[cfg(unix)]
fn read_from_start(file: &std::fs::File, buf: &mut [u8]) -> Option<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, 0).ok()
}

/// Read a file from its start into `buf`.
#[cfg(not(unix))]
fn read_from_start(_file: &std::fs::File, _buf: &mut [u8]) -> Option<usize> {
    None
}

/// The parts each of `threads` threads owns: largest first to the least loaded thread.
fn assign(threads: usize, part_sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..part_sizes.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(part_sizes[k]));
    let mut assigned = vec![Vec::new(); threads];
    let mut load = vec![0usize; threads];
    for k in order {
        let least = (0..threads).min_by_key(|&w| load[w]).expect("threads >= 1");
        load[least] += part_sizes[k];
        assigned[least].push(k);
    }
    assigned
}

/// Each thread's claim order: its own parts in order, then each following thread's parts from
/// the end of that thread's list (which it works through from the start).
fn claim_orders(assigned: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let threads = assigned.len();
    (0..threads)
        .map(|w| {
            let mut order = assigned[w].clone();
            for other in (1..threads).map(|d| (w + d) % threads) {
                order.extend(assigned[other].iter().rev());
            }
            order
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_can_claim_every_part_own_parts_first() {
        let assigned = assign(3, &[5, 4, 3, 2, 1, 1]);
        assert_eq!(assigned, vec![vec![0, 5], vec![1, 4], vec![2, 3]]);
        let orders = claim_orders(&assigned);
        assert_eq!(orders[0], vec![0, 5, 4, 1, 3, 2]);
        assert_eq!(orders[1], vec![1, 4, 3, 2, 5, 0]);
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_sleeping_waiter_is_woken() {
        let place = WaitPlace::new();
        let flag = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| place.wait_until(Duration::ZERO, || flag.load(Ordering::SeqCst)));
            std::thread::sleep(Duration::from_millis(20));
            flag.store(true, Ordering::SeqCst);
            place.wake_all();
        });
        assert!(flag.load(Ordering::SeqCst));
    }
}
