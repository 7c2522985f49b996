//! Random streams: every random number in synops comes from here.
//!
//! A simulation has one `seed`. Each consumer of randomness (the connectivity of one projection,
//! the initial state of one population, the Poisson drive of one input, ...) gets its own
//! independent [`Stream`], addressed by a [`Purpose`], an index (projection, population or input
//! number) and a block number (a fixed range of neurons). Streams never depend on the order in
//! which other streams were used or on the number of threads, so results are fixed by the seed.
//!
//! The generator is ChaCha8 from `rand_chacha`, whose output is specified by the cipher and
//! therefore stable across crate versions (unlike `StdRng`). The sampling algorithms below
//! (uniform, exponential, normal, bounded integers) are our own, so an upgrade of `rand` cannot
//! change them either; `tests/determinism.rs` pins the first outputs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Number of neurons whose random numbers share one stream.
///
/// A later parallel engine gives whole blocks to threads, so per-block streams keep results
/// independent of the number of threads.
pub const BLOCK_SIZE: usize = 1024;

/// What a random stream is used for; part of the stream's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Connectivity and synapse parameters of a projection.
    Connectivity = 1,
    /// Initial state of a population.
    InitialState = 2,
    /// Independent Poisson drive of an input.
    PoissonDrive = 3,
    /// Spikes of a Poisson source population.
    PoissonSource = 4,
    /// Gaussian noise input.
    Noise = 5,
}

/// SplitMix64 finalizer: a bijective 64-bit mixer used to derive stream keys.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One independent random stream (ChaCha8 with a derived key and stream number).
#[derive(Clone, Debug)]
pub struct Stream {
    rng: ChaCha8Rng,
}

impl Stream {
    /// The stream for `(seed, purpose, index, block)`.
    pub fn new(seed: u64, purpose: Purpose, index: u64, block: u64) -> Self {
        let mut key = [0u8; 32];
        let mut state = mix64(seed ^ mix64(purpose as u64));
        state = mix64(state ^ mix64(index.wrapping_add(0x51_7CC1_B727_220A)));
        for chunk in key.chunks_exact_mut(8) {
            state = mix64(state);
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(block);
        Stream { rng }
    }

    /// 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`, safe to take the logarithm of.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub fn uniform_range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard exponential (mean 1), by inversion.
    #[inline]
    pub fn exponential(&mut self) -> f64 {
        -self.uniform_open0().ln()
    }

    /// Normal with the given mean and standard deviation (Box-Muller, one value per call).
    pub fn normal(&mut self, mean: f64, std: f64) -> f64 {
        let u1 = self.uniform_open0();
        let u2 = self.uniform();
        mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `[0, n)`, unbiased (Lemire's method with rejection). `n` must be > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = (self.next_u64() as u128) * (n as u128);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// Number of failures before the first success of a Bernoulli(p) sequence, given
    /// `log_q = ln(1 - p)` (geometric skip). Returns `u64::MAX` when `p == 0`.
    #[inline]
    pub fn geometric_skip(&mut self, log_q: f64) -> u64 {
        if log_q == 0.0 {
            return u64::MAX;
        }
        let skip = (self.uniform_open0().ln() / log_q).floor();
        if skip >= u64::MAX as f64 {
            u64::MAX
        } else {
            skip as u64
        }
    }
}
