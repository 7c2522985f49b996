//! Connectivity rules: from a rule and population sizes to a CSR table by source.
//!
//! Each rule draws from per-block random streams (blocks of [`BLOCK_SIZE`] sources, or targets
//! for `fixed_indegree`), so the result depends only on the seed. `fixed_indegree` is generated
//! by target and transposed in two passes over the same random streams (count, then fill), so no
//! temporary edge list is ever held: peak memory is the final table.

use super::compiled::Csr;
use crate::rng::{BLOCK_SIZE, Purpose, Stream};

/// A checked connectivity rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Every source to every target.
    AllToAll,
    /// Source i to target i.
    OneToOne,
    /// Each pair with probability p.
    FixedProbability(f64),
    /// Each target gets exactly k synapses.
    FixedIndegree(u32),
    /// Each source makes exactly k synapses.
    FixedOutdegree(u32),
}

/// Sizes and options of one projection's connectivity.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Source population size.
    pub sources: u32,
    /// Target population size.
    pub targets: u32,
    /// Source and target are the same population (autapses are possible).
    pub same_population: bool,
    /// Allow i -> i when `same_population`.
    pub allow_autapses: bool,
    /// Allow several synapses between one pair.
    pub allow_multapses: bool,
}

impl Shape {
    fn excludes_self(&self) -> bool {
        self.same_population && !self.allow_autapses
    }
}

/// Expected number of synapses of a rule (for the memory estimate before building).
pub fn expected_synapses(rule: &Rule, shape: &Shape) -> f64 {
    let (s, t) = (f64::from(shape.sources), f64::from(shape.targets));
    let pairs = if shape.excludes_self() {
        s * t - s.min(t)
    } else {
        s * t
    };
    match *rule {
        Rule::AllToAll => pairs,
        Rule::OneToOne => s.min(t),
        Rule::FixedProbability(p) => p * pairs,
        Rule::FixedIndegree(k) => f64::from(k) * t,
        Rule::FixedOutdegree(k) => f64::from(k) * s,
    }
}

/// How to draw the partners of one neuron for the fixed-degree rules.
#[derive(Clone, Copy)]
struct PartnerDraw {
    /// Size of the population the partners come from.
    n: u32,
    /// Number of partners.
    k: u32,
    /// Exclude the neuron itself (no autapses within one population).
    exclude_me: bool,
    /// Allow the same partner several times.
    multapses: bool,
}

/// Draw the partners of neuron `me`, calling `emit` for each. Without multapses the partners
/// are distinct (Floyd's algorithm, with `chosen` as scratch, all false on entry and on return).
fn draw_partners(
    stream: &mut Stream,
    draw: PartnerDraw,
    me: u32,
    chosen: &mut [bool],
    mut emit: impl FnMut(u32),
) {
    let PartnerDraw {
        n,
        k,
        exclude_me,
        multapses,
    } = draw;
    let candidates = if exclude_me { n - 1 } else { n };
    let map = |x: u32| if exclude_me && x >= me { x + 1 } else { x };
    if multapses {
        for _ in 0..k {
            emit(map(stream.below(u64::from(candidates)) as u32));
        }
        return;
    }
    let mut picked = Vec::with_capacity(k as usize);
    for j in (candidates - k)..candidates {
        let t = stream.below(u64::from(j) + 1) as u32;
        let pick = if chosen[t as usize] { j } else { t };
        chosen[pick as usize] = true;
        picked.push(pick);
    }
    for &p in &picked {
        chosen[p as usize] = false;
        emit(map(p));
    }
}

fn stream(seed: u64, projection: usize, block: usize) -> Stream {
    Stream::new(
        seed,
        Purpose::Connectivity,
        projection as u64 * 4,
        block as u64,
    )
}

/// Build the CSR table of a rule. The caller has checked that the rule fits the shape (e.g.
/// `k <= candidates` without multapses) and that the synapse count fits in `u32`.
pub fn generate(rule: &Rule, shape: &Shape, seed: u64, projection: usize) -> Csr {
    let (ns, nt) = (shape.sources, shape.targets);
    let mut row_ptr = Vec::with_capacity(ns as usize + 1);
    row_ptr.push(0u32);
    let mut targets: Vec<u32> = Vec::new();
    match *rule {
        Rule::AllToAll => {
            for s in 0..ns {
                targets.extend((0..nt).filter(|&t| !(shape.excludes_self() && t == s)));
                row_ptr.push(targets.len() as u32);
            }
        }
        Rule::OneToOne => {
            for s in 0..ns {
                if s < nt {
                    targets.push(s);
                }
                row_ptr.push(targets.len() as u32);
            }
        }
        Rule::FixedProbability(p) => {
            targets.reserve((expected_synapses(rule, shape) * 1.01) as usize + 16);
            let log_q = (1.0 - p).ln();
            for (block, first) in (0..ns).step_by(BLOCK_SIZE).enumerate() {
                let mut rng = stream(seed, projection, block);
                for s in first..(first + BLOCK_SIZE as u32).min(ns) {
                    if p >= 1.0 {
                        targets.extend((0..nt).filter(|&t| !(shape.excludes_self() && t == s)));
                    } else {
                        let mut t = 0u64;
                        loop {
                            let skip = rng.geometric_skip(log_q);
                            t = t.saturating_add(skip);
                            if t >= u64::from(nt) {
                                break;
                            }
                            if !(shape.excludes_self() && t as u32 == s) {
                                targets.push(t as u32);
                            }
                            t += 1;
                        }
                    }
                    row_ptr.push(targets.len() as u32);
                }
            }
        }
        Rule::FixedOutdegree(k) => {
            targets.reserve(ns as usize * k as usize);
            let mut chosen = vec![false; nt as usize];
            for (block, first) in (0..ns).step_by(BLOCK_SIZE).enumerate() {
                let mut rng = stream(seed, projection, block);
                for s in first..(first + BLOCK_SIZE as u32).min(ns) {
                    let start = targets.len();
                    draw_partners(
                        &mut rng,
                        PartnerDraw {
                            n: nt,
                            k,
                            exclude_me: shape.excludes_self(),
                            multapses: shape.allow_multapses,
                        },
                        s,
                        &mut chosen,
                        |t| targets.push(t),
                    );
                    targets[start..].sort_unstable();
                    row_ptr.push(targets.len() as u32);
                }
            }
        }
        Rule::FixedIndegree(k) => {
            // Pass 1 counts synapses per source, pass 2 replays the same draws and fills rows.
            let mut chosen = vec![false; ns as usize];
            let mut counts = vec![0u32; ns as usize];
            let mut replay = |visit: &mut dyn FnMut(u32, u32)| {
                for (block, first) in (0..nt).step_by(BLOCK_SIZE).enumerate() {
                    let mut rng = stream(seed, projection, block);
                    for t in first..(first + BLOCK_SIZE as u32).min(nt) {
                        draw_partners(
                            &mut rng,
                            PartnerDraw {
                                n: ns,
                                k,
                                exclude_me: shape.excludes_self(),
                                multapses: shape.allow_multapses,
                            },
                            t,
                            &mut chosen,
                            |s| visit(s, t),
                        );
                    }
                }
            };
            replay(&mut |s, _| counts[s as usize] += 1);
            let mut total = 0u32;
            for c in &counts {
                total += c;
                row_ptr.push(total);
            }
            targets = vec![0; total as usize];
            let mut cursor: Vec<u32> = row_ptr[..ns as usize].to_vec();
            replay(&mut |s, t| {
                let c = &mut cursor[s as usize];
                targets[*c as usize] = t;
                *c += 1;
            });
        }
    }
    targets.shrink_to_fit();
    Csr { row_ptr, targets }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(ns: u32, nt: u32, same: bool, autapses: bool, multapses: bool) -> Shape {
        Shape {
            sources: ns,
            targets: nt,
            same_population: same,
            allow_autapses: autapses,
            allow_multapses: multapses,
        }
    }

    fn indegrees(csr: &Csr, nt: u32) -> Vec<u32> {
        let mut d = vec![0; nt as usize];
        for &t in &csr.targets {
            d[t as usize] += 1;
        }
        d
    }

    #[test]
    fn fixed_indegree_gives_exact_indegree_without_autapses_or_multapses() {
        let sh = shape(300, 300, true, false, false);
        let csr = generate(&Rule::FixedIndegree(50), &sh, 7, 0);
        assert!(indegrees(&csr, 300).iter().all(|&d| d == 50));
        for s in 0..300 {
            let row = &csr.targets[csr.row(s)];
            assert!(row.windows(2).all(|w| w[0] < w[1]), "row sorted and unique");
            assert!(!row.contains(&s), "no autapse");
        }
    }

    #[test]
    fn fixed_outdegree_and_probability_respect_options() {
        let sh = shape(200, 150, false, true, false);
        let csr = generate(&Rule::FixedOutdegree(30), &sh, 1, 2);
        for s in 0..200 {
            assert_eq!(csr.row(s).len(), 30);
        }
        let sh = shape(1000, 1000, true, false, true);
        let csr = generate(&Rule::FixedProbability(0.1), &sh, 3, 1);
        let n = csr.len() as f64;
        let expected = 0.1 * 999_000.0;
        assert!(
            (n - expected).abs() < 5.0 * (expected * 0.9).sqrt(),
            "{n} vs {expected}"
        );
        for s in 0..1000 {
            assert!(!csr.targets[csr.row(s)].contains(&s));
        }
    }

    #[test]
    fn generation_is_fixed_by_the_seed() {
        let sh = shape(2500, 2500, true, true, true);
        let a = generate(&Rule::FixedIndegree(20), &sh, 11, 0);
        let b = generate(&Rule::FixedIndegree(20), &sh, 11, 0);
        let c = generate(&Rule::FixedIndegree(20), &sh, 12, 0);
        assert_eq!(a.targets, b.targets);
        assert_eq!(a.row_ptr, b.row_ptr);
        assert_ne!(a.targets, c.targets);
    }
}
