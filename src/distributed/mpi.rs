//! Ranks that are MPI processes (`mpirun -np N synops run ...`), through the `mpi` crate.

use super::Ranks;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

/// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, `srun`): only
/// then is MPI set up, so that a plain `synops run` needs no MPI runtime.
pub fn launched() -> bool {
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "PMIX_RANK",
        "MPI_LOCALNRANKS",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
}

/// This process's rank in `MPI_COMM_WORLD`. MPI is finalized when the [`mpi::environment::Universe`]
/// it was made from is dropped.
pub struct MpiRanks {
    world: SimpleCommunicator,
    /// Per rank: words in the last gather, and where they start.
    counts: Vec<i32>,
    displacements: Vec<i32>,
}

impl MpiRanks {
    /// The ranks of `universe`'s world.
    pub fn new(universe: &mpi::environment::Universe) -> Self {
        let world = universe.world();
        let size = world.size() as usize;
        MpiRanks {
            world,
            counts: vec![0; size],
            displacements: vec![0; size],
        }
    }

    /// End the whole job at once with `code` (every rank; used when one rank fails alone).
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

// SAFETY: MPI is initialized with `MPI_THREAD_SERIALIZED` (see [`initialize`]): any thread
// may call it as long as no two do at once, and a simulation makes its collective calls from
// one thread at a time (the one that runs its sequential phase).
unsafe impl Send for MpiRanks {}

/// Set up MPI for a distributed run, allowing calls from any one thread at a time.
pub fn initialize() -> Option<mpi::environment::Universe> {
    mpi::initialize_with_threading(mpi::Threading::Serialized).map(|(universe, _)| universe)
}

impl Ranks for MpiRanks {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&mut self, local: &[u32], all: &mut Vec<u32>, lengths: &mut Vec<usize>) {
        let n = i32::try_from(local.len()).expect("fewer than 2^31 spikes a step on one rank");
        self.world.all_gather_into(&n, &mut self.counts[..]);
        let mut total = 0i32;
        for (d, &c) in self.displacements.iter_mut().zip(&self.counts) {
            *d = total;
            total += c;
        }
        all.clear();
        all.resize(total as usize, 0);
        let mut partition =
            PartitionMut::new(&mut all[..], &self.counts[..], &self.displacements[..]);
        self.world.all_gather_varcount_into(local, &mut partition);
        lengths.clear();
        lengths.extend(self.counts.iter().map(|&c| c as usize));
    }

    fn sum(&mut self, values: &mut [u64]) {
        let local = values.to_vec();
        self.world
            .all_reduce_into(&local[..], values, SystemOperation::sum());
    }

    fn all_gather_f64(&mut self, local: &[f64]) -> Vec<f64> {
        let mut all = vec![0.0; local.len() * self.size()];
        self.world.all_gather_into(local, &mut all[..]);
        all
    }
}
