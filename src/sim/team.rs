//! A team of threads that advances the parts of a simulation step after step.
//!
//! A step's parallel work is short (microseconds to a fraction of a millisecond), so handing
//! it to a general-purpose pool each step costs as much as the work: idle pool threads go to
//! sleep between steps and are woken through the kernel. The team keeps its threads for the
//! whole run and meets at a spinning barrier twice per step (start, end); the calling thread
//! does the sequential part of each step between the end of one step and the start of the
//! next, and works on parts like the others in between. Each thread advances the same parts
//! every step (assigned once, largest first to the least loaded thread), so a part's state
//! stays in the cache of one core; results are collected in part order, so they do not depend
//! on which thread advanced which part.

use super::part::{Part, StepInput};
use super::ring::Bundle;
use crate::network::compiled::CompiledNetwork;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

/// Spins before a waiting thread starts yielding its core to others, when every thread has a
/// core of its own. With more threads than cores, a spinning thread would keep the one it waits
/// for off the core, so waiting threads yield almost at once.
const SPINS_BEFORE_YIELD: u32 = 20_000;
const SPINS_BEFORE_YIELD_OVERSUBSCRIBED: u32 = 16;

/// A value alone on its cache lines (two: adjacent lines are fetched in pairs).
#[repr(align(128))]
struct OwnLine<T>(T);

/// A reusable barrier whose waiting threads spin (then yield) instead of sleeping.
struct SpinBarrier {
    threads: usize,
    spins_before_yield: u32,
    arrived: AtomicUsize,
    /// On a cache line of its own: waiting threads read it in a loop while arriving threads
    /// write `arrived`.
    generation: OwnLine<AtomicUsize>,
    /// Set when a thread of the team panics: the others stop waiting and panic too, so the
    /// panic reaches the caller instead of leaving threads waiting forever.
    poisoned: AtomicBool,
}

impl SpinBarrier {
    fn new(threads: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        SpinBarrier {
            threads,
            spins_before_yield: if threads <= cores {
                SPINS_BEFORE_YIELD
            } else {
                SPINS_BEFORE_YIELD_OVERSUBSCRIBED
            },
            arrived: AtomicUsize::new(0),
            generation: OwnLine(AtomicUsize::new(0)),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Wait until all threads have arrived. Everything a thread wrote before arriving is
    /// visible to every thread after it leaves.
    fn wait(&self) {
        let generation = self.generation.0.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            // The last to arrive resets the count before releasing the others, so none of
            // them can arrive at the next barrier before the reset.
            self.arrived.store(0, Ordering::Relaxed);
            self.generation
                .0
                .store(generation.wrapping_add(1), Ordering::Release);
        } else {
            let mut spins = 0u32;
            while self.generation.0.load(Ordering::Acquire) == generation {
                if self.poisoned.load(Ordering::Relaxed) {
                    panic!("another thread of the simulation panicked");
                }
                if spins < self.spins_before_yield {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Poisons the barrier if the thread holding it unwinds from a panic.
struct PoisonOnPanic<'b>(&'b SpinBarrier);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poisoned.store(true, Ordering::Relaxed);
        }
    }
}

/// What the team shares. The parts live here during the parallel phase of a step and with the
/// simulation during its sequential phase.
pub(super) struct Team<'s> {
    net: &'s CompiledNetwork,
    into_inh: &'s [bool],
    row_splits: &'s [Vec<u32>],
    event: bool,
    profile: bool,
    barrier: SpinBarrier,
    parts: Vec<Mutex<Option<Part>>>,
    /// The parts each thread advances (thread 0 is the caller).
    assigned: Vec<Vec<usize>>,
    bundles: RwLock<Vec<Bundle>>,
    step: AtomicU32,
    stop: AtomicBool,
}

impl<'s> Team<'s> {
    /// A team of `threads` threads (the caller included) for parts of the given sizes, running
    /// the event engine or not, profiling or not.
    pub fn new(
        threads: usize,
        net: &'s CompiledNetwork,
        into_inh: &'s [bool],
        row_splits: &'s [Vec<u32>],
        (event, profile): (bool, bool),
        part_sizes: &[usize],
    ) -> Self {
        let mut order: Vec<usize> = (0..part_sizes.len()).collect();
        order.sort_by_key(|&k| std::cmp::Reverse(part_sizes[k]));
        let mut assigned = vec![Vec::new(); threads];
        let mut load = vec![0usize; threads];
        for k in order {
            let least = (0..threads).min_by_key(|&w| load[w]).expect("threads >= 1");
            load[least] += part_sizes[k];
            assigned[least].push(k);
        }
        Team {
            net,
            into_inh,
            row_splits,
            event,
            profile,
            barrier: SpinBarrier::new(threads),
            parts: part_sizes.iter().map(|_| Mutex::new(None)).collect(),
            assigned,
            bundles: RwLock::new(Vec::new()),
            step: AtomicU32::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// The loop of helper thread `worker` (`1..threads`): one parallel phase per step until
    /// [`Self::finish`].
    pub fn serve(&self, worker: usize) {
        let _guard = PoisonOnPanic(&self.barrier);
        loop {
            self.barrier.wait();
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            self.work(worker);
            self.barrier.wait();
        }
    }

    /// Called by the owner: advance `parts` through step `step` with `bundles` arriving, on all
    /// threads, and give both back.
    pub fn step(&self, step: u32, parts: &mut Vec<Part>, bundles: &mut Vec<Bundle>) {
        debug_assert_eq!(parts.len(), self.parts.len());
        for (slot, part) in self.parts.iter().zip(parts.drain(..)) {
            *slot.lock().expect("no thread panicked") = Some(part);
        }
        std::mem::swap(
            &mut *self.bundles.write().expect("no thread panicked"),
            bundles,
        );
        self.step.store(step, Ordering::Relaxed);
        self.barrier.wait();
        self.work(0);
        self.barrier.wait();
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
    }

    /// Held by the owner for the whole run: if the owner panics (in a step or between steps),
    /// the helpers stop waiting for it.
    pub fn owner_guard(&self) -> impl Drop + '_ {
        PoisonOnPanic(&self.barrier)
    }

    /// Called by the owner after the last step: release the helpers.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Release);
        self.barrier.wait();
    }

    /// Advance the parts of thread `worker`.
    fn work(&self, worker: usize) {
        let bundles = self.bundles.read().expect("no thread panicked");
        let input = StepInput {
            t: self.step.load(Ordering::Relaxed),
            net: self.net,
            bundles: &bundles,
            into_inh: self.into_inh,
            row_splits: self.row_splits,
            event: self.event,
            profile: self.profile,
        };
        for &part in &self.assigned[worker] {
            self.parts[part]
                .lock()
                .expect("no thread panicked")
                .as_mut()
                .expect("parts are handed over before the step")
                .step(&input);
        }
    }
}
