//! The memory-traffic floor of a clocked population's step: how long one processor takes
//! just to stream the state of the COBA network (4,000 neurons; the potential, the two
//! conductances and the refractory end as `f64`, plus the two input accumulators) through
//! the cheapest update there is, forward Euler, for 1 s at dt = 0.1 ms (10,000 steps), with
//! the accumulators read and cleared as the engine does, and without them (inputs added
//! straight into the conductances).
//!
//! No simulator that keeps this state in `f64` can step it faster on this processor; set
//! against a simulator's loop time, it says what part of that time is the memory system's.
//!
//! ```text
//! cargo run --release --example state_traffic [NEURONS] [STEPS]
//! ```

use std::hint::black_box;
use std::time::Instant;

/// The state of one population as struct of arrays.
struct Population {
    v: Vec<f64>,
    g_exc: Vec<f64>,
    g_inh: Vec<f64>,
    ref_end: Vec<f64>,
    in_exc: Vec<f64>,
    in_inh: Vec<f64>,
}

impl Population {
    fn new(n: usize) -> Self {
        Population {
            v: (0..n).map(|i| -60.0 + (i % 10) as f64).collect(),
            g_exc: vec![40.0; n],
            g_inh: vec![200.0; n],
            ref_end: vec![0.0; n],
            in_exc: vec![-0.0; n],
            in_inh: vec![-0.0; n],
        }
    }

    /// One Euler step of COBA's neurons; `ACCUMULATORS` reads and clears the inputs.
    #[inline(always)]
    fn step<const ACCUMULATORS: bool>(&mut self, t: f64) -> usize {
        let (h, inv_tau, inv_g) = (0.1, 1.0 / 20.0, 1.0 / 10.0);
        let n = self.v.len();
        // (Sliced to one length: no bounds checks in the loop, which then vectorizes.)
        let (v, g_exc, g_inh) = (&mut self.v[..n], &mut self.g_exc[..n], &mut self.g_inh[..n]);
        let (ref_end, in_exc, in_inh) = (
            &self.ref_end[..n],
            &mut self.in_exc[..n],
            &mut self.in_inh[..n],
        );
        let mut crossed = 0;
        for i in 0..n {
            let (ge, gi) = (g_exc[i] * inv_g, g_inh[i] * inv_g);
            let a = (-60.0 + gi * -80.0) * inv_tau;
            let b = (1.0 + ge + gi) * inv_tau;
            let advanced = v[i] + h * (a - b * v[i]);
            v[i] = if t <= ref_end[i] { v[i] } else { advanced };
            let (e, n) = if ACCUMULATORS {
                (
                    std::mem::replace(&mut in_exc[i], -0.0),
                    std::mem::replace(&mut in_inh[i], -0.0),
                )
            } else {
                (0.0, 0.0)
            };
            g_exc[i] = g_exc[i] * 0.98 + e;
            g_inh[i] = g_inh[i] * 0.99 + n;
            crossed += usize::from(v[i] >= -50.0);
        }
        crossed
    }
}

/// Seconds to run `steps` steps (inlined into the callers compiled for wider vectors).
#[inline(always)]
fn time<const ACCUMULATORS: bool>(n: usize, steps: u32) -> f64 {
    let mut population = Population::new(n);
    let start = Instant::now();
    let mut crossed = 0;
    for t in 0..steps {
        crossed += population.step::<ACCUMULATORS>(f64::from(t));
    }
    black_box(crossed);
    start.elapsed().as_secs_f64()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn time_avx512<const ACCUMULATORS: bool>(n: usize, steps: u32) -> f64 {
    time::<ACCUMULATORS>(n, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn time_avx2<const ACCUMULATORS: bool>(n: usize, steps: u32) -> f64 {
    time::<ACCUMULATORS>(n, steps)
}

/// The best vector width this processor has, as the engine chooses it.
fn time_best<const ACCUMULATORS: bool>(n: usize, steps: u32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the processor has AVX-512F (checked just above).
            return unsafe { time_avx512::<ACCUMULATORS>(n, steps) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            return unsafe { time_avx2::<ACCUMULATORS>(n, steps) };
        }
    }
    time::<ACCUMULATORS>(n, steps)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(4000, |a| a.parse().expect("NEURONS is a number"));
    let steps: u32 = args
        .next()
        .map_or(10_000, |a| a.parse().expect("STEPS is a number"));
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        with.push(time_best::<true>(n, steps));
        without.push(time_best::<false>(n, steps));
    }
    let per_step = |s: f64| s / f64::from(steps) * 1e6;
    let (a, b) = (median(with), median(without));
    println!(
        "{n} neurons, {steps} steps, medians of 7: with accumulators {a:.4} s ({:.2} us/step, \
         {} B/neuron/step), without {b:.4} s ({:.2} us/step, {} B/neuron/step)",
        per_step(a),
        2 * 6 * 8,
        per_step(b),
        2 * 4 * 8
    );
}
