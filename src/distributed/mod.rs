//! Runs split over ranks: processes (MPI, with the `mpi` feature) or threads standing in for
//! them (in tests), each advancing its own parts of every population.
//!
//! Every rank holds the whole compiled network and does the sequential part of each step
//! (spike sources, routing every spike into the delay ring) alike; the parts of each
//! population (1,024-neuron blocks, cut as for `ranks x threads` threads) are dealt out in
//! contiguous runs, rank 0 first, and a rank advances only its own. After the parts of a step,
//! the ranks exchange their spikes (one gather of counts and one variable-length gather), so
//! that every rank knows the step's spikes in population and index order: the order a
//! single process has. As every neuron sums its inputs in bundle order whatever the parts,
//! the spikes, counts and traces are bit-identical for any number of ranks and threads.
//! Counters kept by the parts are summed over the ranks at the end (integers: exact); traces
//! are taken from the rank that owns each neuron; only rank 0 writes files.

#[cfg(feature = "mpi")]
pub mod mpi;
pub mod threads;

/// The collective operations a distributed run needs from its ranks. Every rank calls each
/// operation in the same order (they are collective: a rank that calls one waits for all).
pub trait Ranks: Send {
    /// This rank (0 ..= size - 1).
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `local` words, concatenated in rank order, into `all`, with each rank's
    /// number of words into `lengths`.
    fn all_gather(&mut self, local: &[u32], all: &mut Vec<u32>, lengths: &mut Vec<usize>);
    /// Sum `values` element by element over the ranks (every rank passes as many).
    fn sum(&mut self, values: &mut [u64]);
    /// Every rank's `local` values (as many on every rank), concatenated in rank order.
    fn all_gather_f64(&mut self, local: &[f64]) -> Vec<f64>;
}

/// Which rank owns part `k` of a population cut into `parts` parts, on `ranks` ranks:
/// contiguous runs, rank 0 first (so that spikes gathered in rank order are in index order).
pub fn owner(k: usize, parts: usize, ranks: usize) -> usize {
    k * ranks / parts.max(1)
}

/// The neurons of one rank of a distributed run, for building only the synapses onto them:
/// rank `rank` of `ranks`, each running `threads` threads (see [`owner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTargets {
    /// This rank.
    pub rank: usize,
    /// The number of ranks.
    pub ranks: usize,
    /// Threads per rank.
    pub threads: usize,
}

impl LocalTargets {
    /// The neurons this rank owns of a population of `size`: the parts of
    /// `ranks x threads` that [`owner`] gives it, one contiguous range (empty if none).
    pub fn range(&self, size: u32) -> std::ops::Range<u32> {
        let bounds = crate::sim::part_bounds(size, self.ranks * self.threads);
        let parts = bounds.len() - 1;
        let mut owned = (0..parts).filter(|&k| owner(k, parts, self.ranks) == self.rank);
        match (owned.next(), owned.next_back()) {
            (Some(a), Some(b)) => bounds[a]..bounds[b + 1],
            (Some(a), None) => bounds[a]..bounds[a + 1],
            _ => 0..0,
        }
    }
}

/// The lowest rank whose `failed` is true, asked of every rank (collective).
pub fn first_failure(ranks: &mut dyn Ranks, failed: bool) -> Option<usize> {
    let mut flags = vec![0u64; ranks.size()];
    flags[ranks.rank()] = u64::from(failed);
    ranks.sum(&mut flags);
    flags.iter().position(|&f| f != 0)
}

/// Numbers written as the 32-bit words an exchange carries, and read back in the same
/// order ([`Words::put`], [`Words::take`]): the encoding of per-sample results that ranks
/// gather.
#[derive(Debug, Default)]
pub struct Words(pub Vec<u32>);

impl Words {
    /// Append `value` (two words, low first).
    pub fn put(&mut self, value: u64) {
        self.0.extend([value as u32, (value >> 32) as u32]);
    }

    /// Append the bits of `value`.
    pub fn put_f64(&mut self, value: f64) {
        self.put(value.to_bits());
    }

    /// Append a length, then the values.
    pub fn put_all(&mut self, values: impl ExactSizeIterator<Item = u64>) {
        self.put(values.len() as u64);
        for v in values {
            self.put(v);
        }
    }

    /// The next value of `words` (advanced past it); `None` at the end.
    pub fn take(words: &mut &[u32]) -> Option<u64> {
        let (pair, rest) = words.split_first_chunk::<2>()?;
        *words = rest;
        Some(u64::from(pair[0]) | (u64::from(pair[1]) << 32))
    }

    /// The next length-prefixed values of `words`.
    pub fn take_all(words: &mut &[u32]) -> Option<Vec<u64>> {
        let n = usize::try_from(Self::take(words)?).ok()?;
        (0..n).map(|_| Self::take(words)).collect()
    }
}
