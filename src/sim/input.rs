//! External spike generation: independent Poisson drives, Poisson source populations and
//! replayed spike times. Both engines use this same code, so they see identical input.
//!
//! A Poisson field draws, for every selected neuron and step, a Poisson count with mean
//! `lambda = rate * dt` (capped at one spike per step for source populations, which makes each
//! source a Bernoulli process with probability `1 - exp(-lambda)` per step: exactly a Poisson
//! process observed on the step grid). Two exact methods:
//!
//! * dense (`lambda >= 0.1`): one 32-bit random number per neuron and step, turned into a count
//!   by a precomputed inverse-CDF table (Brunel's 20 kHz drive: lambda = 2);
//! * sparse (`lambda < 0.1`): the positions (step, neuron) with a non-zero count are found by
//!   geometric skips and only they get a count, from the zero-truncated table. Cost follows the
//!   number of input spikes, not neurons x steps.
//!
//! Random numbers come from one stream per block of [`BLOCK_SIZE`] neurons.

use crate::rng::{BLOCK_SIZE, Purpose, Stream};

/// Threshold of `lambda` above which the dense method is used.
const DENSE_LAMBDA: f64 = 0.1;

/// Cumulative thresholds on 32-bit uniforms: `count = #{k : u >= table[k]}`.
fn count_table(lambda: f64, truncate_zero: bool, cap_one: bool) -> Vec<u64> {
    let scale = 4_294_967_296.0; // 2^32
    let p0 = (-lambda).exp();
    let norm = if truncate_zero { 1.0 - p0 } else { 1.0 };
    let mut table = Vec::new();
    let mut pmf = p0;
    let mut cdf = if truncate_zero { 0.0 } else { p0 };
    let mut k = 0u32;
    if truncate_zero {
        k = 1;
        pmf *= lambda;
        cdf = pmf;
    }
    loop {
        let threshold = (cdf / norm * scale).round();
        if threshold >= scale || (cap_one && !table.is_empty()) || (cap_one && truncate_zero) {
            break;
        }
        table.push(threshold as u64);
        k += 1;
        pmf *= lambda / f64::from(k);
        cdf += pmf;
        if k > 100_000 {
            break;
        }
    }
    table
}

/// Inverse-CDF lookup with a guide table (Chen & Asau 1974): `guide[j]` is the count of the
/// smallest uniform in bucket `j` (top 8 bits), so the linear search starts close to the answer.
#[derive(Debug, Clone)]
struct CountTable {
    thresholds: Vec<u64>,
    guide: [u32; 256],
}

impl CountTable {
    fn new(thresholds: Vec<u64>) -> Self {
        let mut guide = [0u32; 256];
        for (j, g) in guide.iter_mut().enumerate() {
            let u = (j as u64) << 24;
            *g = thresholds.iter().take_while(|&&t| u >= t).count() as u32;
        }
        CountTable { thresholds, guide }
    }

    /// `#{k : u >= thresholds[k]}`.
    #[inline]
    fn count(&self, u: u32) -> u32 {
        let mut k = self.guide[(u >> 24) as usize];
        let u = u64::from(u);
        while let Some(&t) = self.thresholds.get(k as usize) {
            if u < t {
                break;
            }
            k += 1;
        }
        k
    }
}

/// One block's generator. Aligned so that blocks advanced by different threads never share a
/// cache line (each draw writes the generator's state).
#[derive(Debug, Clone)]
#[repr(align(128))]
struct Block {
    rng: Stream,
    first: usize,
    len: usize,
    /// Sparse method: next position `(step - 1) * len + local` with a non-zero count.
    next: u64,
}

#[derive(Debug, Clone)]
enum Method {
    Dense { table: CountTable },
    Sparse { log_q: f64, truncated: CountTable },
    Silent,
}

/// Poisson counts for a set of neurons, step by step.
#[derive(Debug, Clone)]
pub struct PoissonField {
    neurons: Vec<u32>,
    blocks: Vec<Block>,
    method: Method,
}

impl PoissonField {
    /// A field over `neurons` with mean `lambda` per step; `cap_one` limits counts to 1.
    /// `index` distinguishes fields of the same purpose. Block `b` of the list (neurons
    /// `b * BLOCK_SIZE ..`) draws from stream `first_block + b`, so a field over a
    /// block-aligned part of a list draws exactly what the whole list's field draws there.
    pub fn new(
        neurons: Vec<u32>,
        lambda: f64,
        cap_one: bool,
        seed: u64,
        purpose: Purpose,
        index: u64,
        first_block: u64,
    ) -> Self {
        let method = if lambda <= 0.0 {
            Method::Silent
        } else if lambda >= DENSE_LAMBDA {
            Method::Dense {
                table: CountTable::new(count_table(lambda, false, cap_one)),
            }
        } else {
            Method::Sparse {
                log_q: -lambda,
                truncated: CountTable::new(count_table(lambda, true, cap_one)),
            }
        };
        let mut blocks: Vec<Block> = (0..neurons.len())
            .step_by(BLOCK_SIZE)
            .enumerate()
            .map(|(b, first)| Block {
                rng: Stream::new(seed, purpose, index, first_block + b as u64),
                first,
                len: BLOCK_SIZE.min(neurons.len() - first),
                next: 0,
            })
            .collect();
        if let Method::Sparse { log_q, .. } = method {
            for b in &mut blocks {
                b.next = b.rng.geometric_skip(log_q);
            }
        }
        PoissonField {
            neurons,
            blocks,
            method,
        }
    }

    /// Whether every neuron draws a count every step (the dense method).
    pub fn is_dense(&self) -> bool {
        matches!(self.method, Method::Dense { .. })
    }

    /// The largest count one neuron can receive in a step (0 for a silent field).
    pub fn max_count(&self) -> u32 {
        match &self.method {
            Method::Dense { table }
            | Method::Sparse {
                truncated: table, ..
            } => table.thresholds.len() as u32,
            Method::Silent => 0,
        }
    }

    /// Dense method: call `emit(position, count)` for every neuron of the list at the next
    /// step, zero counts included, without branches on the count. The counts are those of
    /// [`Self::step`].
    #[inline]
    pub fn step_dense(&mut self, mut emit: impl FnMut(usize, u32)) {
        let Method::Dense { table } = &self.method else {
            panic!("step_dense needs the dense method")
        };
        for b in &mut self.blocks {
            for k in b.first..b.first + b.len {
                emit(k, table.count(b.rng.next_u32()));
            }
        }
    }

    /// Call `emit(neuron, count)` for every neuron with a non-zero count at `step` (>= 1),
    /// in ascending order of position in the neuron list.
    #[inline]
    pub fn step(&mut self, step: u32, mut emit: impl FnMut(u32, u32)) {
        match &self.method {
            Method::Silent => {}
            Method::Dense { table } => {
                for b in &mut self.blocks {
                    for &n in &self.neurons[b.first..b.first + b.len] {
                        let c = table.count(b.rng.next_u32());
                        if c > 0 {
                            emit(n, c);
                        }
                    }
                }
            }
            Method::Sparse { log_q, truncated } => {
                for b in &mut self.blocks {
                    let len = b.len as u64;
                    let end = u64::from(step) * len;
                    while b.next < end {
                        let local = (b.next - (u64::from(step) - 1) * len) as usize;
                        let c = 1 + truncated.count(b.rng.next_u32());
                        emit(self.neurons[b.first + local], c);
                        b.next = b
                            .next
                            .saturating_add(1)
                            .saturating_add(b.rng.geometric_skip(*log_q));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(lambda: f64, cap_one: bool) -> (f64, f64) {
        let n = 2000u32;
        let steps = 200u32;
        let mut field = PoissonField::new(
            (0..n).collect(),
            lambda,
            cap_one,
            5,
            Purpose::PoissonDrive,
            0,
            0,
        );
        let mut per_neuron = vec![0f64; n as usize];
        for t in 1..=steps {
            field.step(t, |i, c| per_neuron[i as usize] += f64::from(c));
        }
        let mean = per_neuron.iter().sum::<f64>() / f64::from(n * steps);
        let var = per_neuron
            .iter()
            .map(|&x| (x - mean * f64::from(steps)).powi(2))
            .sum::<f64>()
            / f64::from(n - 1)
            / f64::from(steps);
        (mean, var)
    }

    #[test]
    fn dense_and_sparse_counts_have_poisson_mean_and_variance() {
        for lambda in [0.02, 0.3, 2.0] {
            let (mean, var) = moments(lambda, false);
            let se = (lambda / 400_000.0).sqrt();
            assert!(
                (mean - lambda).abs() < 5.0 * se,
                "lambda {lambda}: mean {mean}"
            );
            assert!(
                (var / lambda - 1.0).abs() < 0.1,
                "lambda {lambda}: var {var}"
            );
        }
    }

    #[test]
    fn capped_counts_are_bernoulli() {
        for lambda in [0.01, 0.5] {
            let (mean, _) = moments(lambda, true);
            let p = 1.0 - (-lambda).exp();
            let se = (p * (1.0 - p) / 400_000.0).sqrt();
            assert!(
                (mean - p).abs() < 5.0 * se,
                "lambda {lambda}: {mean} vs {p}"
            );
        }
    }
}
