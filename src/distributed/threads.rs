//! Ranks that are threads of one process, exchanging through shared memory: the same
//! collective operations as MPI's, so that a distributed run can be tested without an MPI
//! library (each thread runs its own [`crate::Simulation`] of one rank).

use super::Ranks;
use std::sync::{Arc, Barrier, Mutex, PoisonError};

/// What the threads share: one slot per rank, and a barrier.
struct Shared {
    words: Mutex<Vec<Vec<u32>>>,
    numbers: Mutex<Vec<Vec<f64>>>,
    counts: Mutex<Vec<Vec<u64>>>,
    barrier: Barrier,
}

/// One rank of a group of threads (see [`group`]).
pub struct ThreadRank {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

/// `size` ranks, one to hand to each thread.
pub fn group(size: usize) -> Vec<ThreadRank> {
    let shared = Arc::new(Shared {
        words: Mutex::new(vec![Vec::new(); size]),
        numbers: Mutex::new(vec![Vec::new(); size]),
        counts: Mutex::new(vec![Vec::new(); size]),
        barrier: Barrier::new(size),
    });
    (0..size)
        .map(|rank| ThreadRank {
            rank,
            size,
            shared: shared.clone(),
        })
        .collect()
}

impl ThreadRank {
    /// Put `value` in this rank's slot, wait for every rank, read all slots, and wait again
    /// (so that no slot is overwritten before every rank has read it).
    fn exchange<T: Clone, R>(
        &self,
        slots: &Mutex<Vec<T>>,
        value: T,
        read: impl FnOnce(&[T]) -> R,
    ) -> R {
        slots.lock().unwrap_or_else(PoisonError::into_inner)[self.rank] = value;
        self.shared.barrier.wait();
        let result = read(&slots.lock().unwrap_or_else(PoisonError::into_inner));
        self.shared.barrier.wait();
        result
    }
}

impl Ranks for ThreadRank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather(&mut self, local: &[u32], all: &mut Vec<u32>, lengths: &mut Vec<usize>) {
        self.exchange(&self.shared.words, local.to_vec(), |slots| {
            all.clear();
            lengths.clear();
            for slot in slots {
                all.extend_from_slice(slot);
                lengths.push(slot.len());
            }
        });
    }

    fn sum(&mut self, values: &mut [u64]) {
        self.exchange(&self.shared.counts, values.to_vec(), |slots| {
            for (k, v) in values.iter_mut().enumerate() {
                *v = slots.iter().map(|s| s[k]).sum();
            }
        });
    }

    fn all_gather_f64(&mut self, local: &[f64]) -> Vec<f64> {
        self.exchange(&self.shared.numbers, local.to_vec(), |slots| slots.concat())
    }
}
