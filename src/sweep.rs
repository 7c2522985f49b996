//! The accuracy–energy trade-off of quantization and pruning (`synops sweep`).
//!
//! One float conversion is calibrated; every point of the grid (bits per weight × fraction
//! pruned) is that conversion compressed (see [`crate::convert::compress`]), written as a
//! network file, and evaluated once at the longest time step, its prediction read at every
//! shorter one. Energy per inference is priced on each chosen device with the weights in the
//! memory level they fit in at that point's size (see [`crate::energy`]); a device named
//! `FLOAT/INTEGER` (e.g. `cmos45-fp32/cmos45-int8`) prices float points on the first profile
//! and quantized ones on the second, as hardware computes in the weights' arithmetic. A point is on a
//! device's Pareto front when no other point is at least as accurate for at most its energy,
//! and better in one of the two.

use crate::convert::Converted;
use crate::convert::compress::{PruneScope, Pruning, Quantization, ScaleMode};
use crate::data::Dataset;
use crate::energy::{EnergyReport, Options, Profile};
use crate::error::{Error, Result};
use crate::eval::{ConvertedNetwork, EvalReport, evaluate_over};
use crate::sim::Engine;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// Bits of an uncompressed (float) weight in a grid.
pub const FLOAT_BITS: u32 = 32;

/// The grid of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Bits per weight: [`FLOAT_BITS`] for floats, else 2 to 12.
    pub bits: Vec<u32>,
    /// Fractions of the weights pruned, in [0, 1) (0: none).
    pub prune: Vec<f64>,
    /// Time steps at which every point is read.
    pub timesteps: Vec<u32>,
    /// How quantized layers are scaled.
    pub scale: ScaleMode,
    /// Over which weights a fraction is pruned.
    pub scope: PruneScope,
    /// Correct the biases of pruned layers (see [`Pruning::bias_correction`]).
    pub bias_correction: bool,
}

impl Grid {
    /// Sort and deduplicate the grid, and check every value (named as the option that gave it).
    pub fn checked(mut self) -> Result<Self> {
        let bad = |option: &str, message: String| Error::Data {
            path: option.into(),
            message,
        };
        if let Some(&b) = (self.bits.iter()).find(|&&b| b != FLOAT_BITS && !(2..=12).contains(&b)) {
            return Err(bad(
                "--bits",
                format!("{b} bits: a grid takes 32 (float) or 2 to 12 bits per weight"),
            ));
        }
        if let Some(&f) = self.prune.iter().find(|f| !(0.0..1.0).contains(*f)) {
            return Err(bad(
                "--prune",
                format!(
                    "pruning fraction {f}: must be in [0, 1) (the fraction of weights removed)"
                ),
            ));
        }
        if self.timesteps.contains(&0) {
            return Err(bad("--timesteps", "time steps must be at least 1".into()));
        }
        for (option, empty) in [
            ("--bits", self.bits.is_empty()),
            ("--prune", self.prune.is_empty()),
            ("--timesteps", self.timesteps.is_empty()),
        ] {
            if empty {
                return Err(bad(option, "needs at least one value".into()));
            }
        }
        self.bits.sort_unstable_by(|a, b| b.cmp(a));
        self.bits.dedup();
        self.prune.sort_by(f64::total_cmp);
        self.prune.dedup();
        self.timesteps.sort_unstable();
        self.timesteps.dedup();
        Ok(self)
    }

    /// The grid's (bits, fraction) pairs, floats and unpruned first.
    pub fn pairs(&self) -> Vec<(u32, f64)> {
        let bits = self.bits.iter();
        bits.flat_map(|&b| self.prune.iter().map(move |&p| (b, p)))
            .collect()
    }

    fn quantization(&self, bits: u32) -> Option<Quantization> {
        (bits != FLOAT_BITS).then_some(Quantization {
            bits,
            scale: self.scale,
        })
    }

    fn pruning(&self, fraction: f64) -> Option<Pruning> {
        (fraction > 0.0).then_some(Pruning {
            fraction,
            scope: self.scope,
            bias_correction: self.bias_correction,
        })
    }
}

/// A device of a sweep: the profile pricing float points, and the one pricing quantized
/// points (the same profile, or its integer counterpart).
#[derive(Debug, Clone, Copy)]
pub struct SweepDevice<'p> {
    /// Float weights run on this profile.
    pub float: &'p Profile,
    /// Quantized weights run on this profile.
    pub integer: &'p Profile,
}

impl<'p> SweepDevice<'p> {
    /// `NAME` (one profile for every point) or `FLOAT/INTEGER`, from `profiles`.
    pub fn select(profiles: &'p [Profile], name: &str) -> Result<Self> {
        let (float, integer) = name.split_once('/').unwrap_or((name, name));
        let found = crate::energy::select(profiles, &[float.to_string(), integer.to_string()])?;
        Ok(SweepDevice {
            float: found[0],
            integer: found[1],
        })
    }

    /// `NAME`, or `FLOAT/INTEGER`.
    pub fn name(&self) -> String {
        if self.float.name == self.integer.name {
            self.float.name.clone()
        } else {
            format!("{}/{}", self.float.name, self.integer.name)
        }
    }

    fn for_bits(&self, bits: u32) -> &'p Profile {
        if bits == FLOAT_BITS {
            self.float
        } else {
            self.integer
        }
    }
}

/// One device's energy at one point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointEnergy {
    /// Device, as named in the sweep (`NAME` or `FLOAT/INTEGER`).
    pub device: String,
    /// The profile that priced this point.
    pub profile: String,
    /// SNN energy per inference \[J\].
    pub energy_j: f64,
    /// The memory level the weights were fetched from, and why.
    pub memory_tier: Option<String>,
    /// Energy saved against the float, unpruned point at the same time steps, as a fraction
    /// (absent when the grid has no such point).
    pub saved: Option<f64>,
    /// On this device's Pareto front of accuracy against energy.
    pub pareto: bool,
}

/// One point of the grid at one time step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Bits per weight ([`FLOAT_BITS`]: float).
    pub bits: u32,
    /// Fraction of the weights pruned.
    pub prune: f64,
    /// Time steps.
    pub t: u32,
    /// SNN accuracy.
    pub accuracy: f64,
    /// The accuracy of the ANN with these weights (quantized and pruned alike).
    pub ann_accuracy: f64,
    /// SOPs per inference.
    pub sops_per_sample: f64,
    /// Weights stored (those pruning kept).
    pub weights: u64,
    /// Bytes of the stored weights, scales included (4 per float weight).
    pub weight_bytes: u64,
    /// The point's network file, relative to the sweep's folder.
    pub network: String,
    /// Per device.
    pub energy: Vec<PointEnergy>,
}

/// `sweep.json`: the whole grid.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReport {
    /// Model file.
    pub model: String,
    /// Test samples evaluated at each point.
    pub samples: usize,
    /// Engine.
    pub engine: String,
    /// Quantization scales (`layer`, `channel`, `pow2`).
    pub scale: ScaleMode,
    /// Pruning scope (`global`, `layer`).
    pub scope: PruneScope,
    /// SNN devices priced.
    pub devices: Vec<String>,
    /// The ANN's device, and the float ANN's energy per inference on it \[J\].
    pub ann_device: String,
    /// The float ANN's energy per inference on `ann_device` \[J\] (absent without a float,
    /// unpruned point).
    pub ann_energy_j: Option<f64>,
    /// Every point, grouped by (bits, prune), time steps increasing.
    pub points: Vec<SweepPoint>,
}

/// What a sweep evaluates and where it writes.
pub struct Sweep<'a> {
    /// The float conversion (no `--quantize`, no `--prune`).
    pub float: &'a Converted,
    /// The grid.
    pub grid: &'a Grid,
    /// The calibration samples of the float conversion (pruning corrects biases on them).
    pub calibration: &'a Dataset,
    /// Test data.
    pub test: &'a Dataset,
    /// Engine.
    pub engine: Engine,
    /// SNN devices.
    pub devices: &'a [SweepDevice<'a>],
    /// The ANN's device.
    pub ann_device: &'a Profile,
    /// Folder of the points' networks and evaluations.
    pub out: &'a Path,
}

impl Sweep<'_> {
    /// Convert, evaluate and price every point; `progress(done)` counts samples evaluated.
    pub fn run(&self, progress: impl Fn(usize) + Sync) -> Result<SweepReport> {
        let pairs = self.grid.pairs();
        let mut points = Vec::new();
        let mut ann_energy_j = None;
        for (k, &(bits, prune)) in pairs.iter().enumerate() {
            let done = k * self.test.len();
            let (eval, network) = self.evaluate_point(bits, prune, |d| progress(done + d))?;
            let energy = self.price(&eval, bits)?;
            if bits == FLOAT_BITS && prune == 0.0 {
                ann_energy_j = energy.ann.as_ref().map(|a| a.energy_j);
            }
            let names: Vec<String> = self.devices.iter().map(SweepDevice::name).collect();
            points.extend(point_rows(
                (bits, prune),
                &eval,
                &energy,
                (&network, &names),
            ));
        }
        mark_savings(&mut points);
        mark_pareto(&mut points, self.devices.len());
        Ok(SweepReport {
            model: self.float.source_model.clone(),
            samples: self.test.len(),
            engine: self.engine.as_str().into(),
            scale: self.grid.scale,
            scope: self.grid.scope,
            devices: self.devices.iter().map(SweepDevice::name).collect(),
            ann_device: self.ann_device.name.clone(),
            ann_energy_j,
            points,
        })
    }

    /// Write one point's network into its folder, evaluate it, and write its `eval.json`.
    fn evaluate_point(
        &self,
        bits: u32,
        prune: f64,
        progress: impl Fn(usize) + Sync,
    ) -> Result<(EvalReport, String)> {
        let grid = self.grid;
        let converted = self
            .float
            .compressed(
                grid.quantization(bits),
                grid.pruning(prune),
                self.calibration,
            )
            .expect("the sweep starts from a float conversion");
        let label = point_label(bits, prune);
        let dir = self.out.join(&label);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "cannot create", e))?;
        let (net_path, _) = converted.write(&dir.join("network"))?;
        let max_t = *grid.timesteps.last().expect("a checked grid");
        let cn = ConvertedNetwork::load(&net_path, max_t)?;
        let plan = (self.engine, None);
        let eval = evaluate_over(&cn, self.test, &grid.timesteps, plan, None, progress)?;
        crate::output::write_atomic(&dir.join("eval.json"), |w| {
            serde_json::to_writer_pretty(&mut *w, &eval).map_err(std::io::Error::other)?;
            writeln!(w)
        })?;
        Ok((eval, format!("{label}/network.toml")))
    }

    /// Price an evaluated point on each device's profile for its weights.
    fn price(&self, eval: &EvalReport, bits: u32) -> Result<EnergyReport> {
        let options = Options {
            memory: true,
            ..Default::default()
        };
        let profiles: Vec<&Profile> = self.devices.iter().map(|d| d.for_bits(bits)).collect();
        EnergyReport::from_eval(eval, None, &profiles, self.ann_device, &options)
    }
}

/// A point's folder: `float-prune0`, `int8-prune0.5`.
pub fn point_label(bits: u32, prune: f64) -> String {
    format!("{}-prune{prune}", bits_name(bits))
}

/// The rows of one (bits, prune) pair, one per time step: its network file, and the sweep's
/// names of the devices `energy` priced, in order.
fn point_rows(
    (bits, prune): (u32, f64),
    eval: &EvalReport,
    energy: &EnergyReport,
    (network, names): (&str, &[String]),
) -> Vec<SweepPoint> {
    let weights = eval.weights_stored_or_kept();
    let weight_bytes = eval.weight_bytes_on(4);
    let tier = |device: &str| {
        (energy.devices.iter())
            .find(|d| d.device == device && d.network == "snn")
            .and_then(|d| d.memory_tier.clone())
    };
    (eval.timesteps.iter().zip(&energy.across_timesteps))
        .map(|(at, row)| SweepPoint {
            bits,
            prune,
            t: at.t,
            accuracy: at.accuracy,
            ann_accuracy: eval.ann_accuracy,
            sops_per_sample: at.sops_per_sample,
            weights,
            weight_bytes,
            network: network.to_string(),
            energy: (row.devices.iter().zip(names))
                .map(|(d, name)| PointEnergy {
                    device: name.clone(),
                    profile: d.device.clone(),
                    energy_j: d.snn_j,
                    memory_tier: tier(&d.device),
                    saved: None,
                    pareto: false,
                })
                .collect(),
        })
        .collect()
}

/// Energy saved against the float, unpruned point at the same time steps.
fn mark_savings(points: &mut [SweepPoint]) {
    let baseline: Vec<(u32, Vec<f64>)> = (points.iter())
        .filter(|p| p.bits == FLOAT_BITS && p.prune == 0.0)
        .map(|p| (p.t, p.energy.iter().map(|e| e.energy_j).collect()))
        .collect();
    for p in points.iter_mut() {
        let Some((_, base)) = baseline.iter().find(|(t, _)| *t == p.t) else {
            continue;
        };
        for (e, b) in p.energy.iter_mut().zip(base) {
            e.saved = Some(1.0 - e.energy_j / b);
        }
    }
}

/// Flag, per device, the points no other point dominates (as accurate or more for as little
/// energy or less, and better in one).
fn mark_pareto(points: &mut [SweepPoint], devices: usize) {
    for d in 0..devices {
        let at: Vec<(f64, f64)> = (points.iter())
            .map(|p| (p.accuracy, p.energy[d].energy_j))
            .collect();
        for (p, &(acc, e)) in points.iter_mut().zip(&at) {
            let dominated = at
                .iter()
                .any(|&(a, f)| a >= acc && f <= e && (a > acc || f < e));
            p.energy[d].pareto = !dominated;
        }
    }
}

impl SweepReport {
    /// Every point on `device`'s Pareto front, cheapest first.
    pub fn front(&self, device: usize) -> Vec<&SweepPoint> {
        let mut front: Vec<&SweepPoint> = (self.points.iter())
            .filter(|p| p.energy[device].pareto)
            .collect();
        front.sort_by(|a, b| {
            a.energy[device]
                .energy_j
                .total_cmp(&b.energy[device].energy_j)
        });
        front
    }

    /// `sweep.csv`: one row per point, per device an energy, a saving and a Pareto flag.
    pub fn csv(&self) -> String {
        let mut s =
            "bits,prune,t,accuracy,ann_accuracy,sops_per_sample,weights,weight_bytes".to_string();
        for d in &self.devices {
            let _ = write!(s, ",{d}_energy_j,{d}_saved,{d}_pareto");
        }
        s.push('\n');
        for p in &self.points {
            let _ = write!(
                s,
                "{},{},{},{},{},{},{},{}",
                p.bits,
                p.prune,
                p.t,
                p.accuracy,
                p.ann_accuracy,
                p.sops_per_sample,
                p.weights,
                p.weight_bytes
            );
            for e in &p.energy {
                let saved = e.saved.map_or(String::new(), |x| x.to_string());
                let _ = write!(s, ",{},{saved},{}", e.energy_j, u8::from(e.pareto));
            }
            s.push('\n');
        }
        s
    }

    /// `sweep.md`: the grid as a table, then each device's Pareto front.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Sweep: {}\n\n{} test samples, {} engine, quantization scales per {}, pruning {}.\n\n",
            self.model,
            self.samples,
            self.engine,
            scale_name(self.scale),
            scope_name(self.scope)
        );
        s += "Energy per inference with the weights fetched from the memory level they fit in; saved: against float weights, unpruned, at the same T; * on the device's Pareto front.\n\n";
        s += "| weights | pruned | T | accuracy | ANN | SOPs | stored | bytes |";
        for d in &self.devices {
            let _ = write!(s, " {d} | saved |");
        }
        s += "\n|---|---:|---:|---:|---:|---:|---:|---:|";
        s += &"---:|---:|".repeat(self.devices.len());
        s.push('\n');
        for p in &self.points {
            let _ = write!(
                s,
                "| {} | {:.0}% | {} | {:.2}% | {:.2}% | {:.0} | {} | {} |",
                bits_name(p.bits),
                p.prune * 100.0,
                p.t,
                p.accuracy * 100.0,
                p.ann_accuracy * 100.0,
                p.sops_per_sample,
                p.weights,
                p.weight_bytes
            );
            for e in &p.energy {
                let star = if e.pareto { " *" } else { "" };
                let saved = e.saved.map_or("–".into(), |x| format!("{:.1}%", x * 100.0));
                let _ = write!(s, " {}{star} | {saved} |", joules(e.energy_j));
            }
            s.push('\n');
        }
        for (d, name) in self.devices.iter().enumerate() {
            let _ = writeln!(s, "\n## Pareto front on {name}\n");
            s += "| weights | pruned | T | accuracy | energy | weights in |\n|---|---:|---:|---:|---:|---|\n";
            for p in self.front(d) {
                let e = &p.energy[d];
                let tier = e.memory_tier.as_deref().unwrap_or("–");
                let _ = writeln!(
                    s,
                    "| {} | {:.0}% | {} | {:.2}% | {} | {tier} |",
                    bits_name(p.bits),
                    p.prune * 100.0,
                    p.t,
                    p.accuracy * 100.0,
                    joules(e.energy_j)
                );
            }
        }
        s
    }
}

/// `float` or `int8`.
pub fn bits_name(bits: u32) -> String {
    if bits == FLOAT_BITS {
        "float".into()
    } else {
        format!("int{bits}")
    }
}

fn scale_name(scale: ScaleMode) -> &'static str {
    match scale {
        ScaleMode::Layer => "layer",
        ScaleMode::Channel => "output channel",
        ScaleMode::Pow2 => "layer, powers of two",
    }
}

fn scope_name(scope: PruneScope) -> &'static str {
    match scope {
        PruneScope::Global => "over all layers",
        PruneScope::Layer => "in each layer",
    }
}

fn joules(j: f64) -> String {
    let (scale, unit) = crate::energy::unit(j);
    format!("{:.3} {unit}", j * scale)
}

impl SweepReport {
    /// Check what a figure needs: an energy per device at every point, energies above 0
    /// and accuracies in [0, 1].
    pub fn check(&self) -> std::result::Result<(), String> {
        let devices = self.devices.len();
        if devices == 0 || self.points.is_empty() {
            return Err("no devices or no points: not the result of a sweep".into());
        }
        for (k, p) in self.points.iter().enumerate() {
            if p.energy.len() != devices {
                return Err(format!(
                    "points[{k}]: {} energies for {devices} devices",
                    p.energy.len()
                ));
            }
            if !(0.0..=1.0).contains(&p.accuracy) {
                return Err(format!(
                    "points[{k}].accuracy: {} is not in [0, 1]",
                    p.accuracy
                ));
            }
            if let Some(e) = p
                .energy
                .iter()
                .find(|e| !(e.energy_j.is_finite() && e.energy_j > 0.0))
            {
                return Err(format!(
                    "points[{k}]: energy {} J on {} is not above 0",
                    e.energy_j, e.device
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(accuracy: f64, energy_j: f64) -> SweepPoint {
        SweepPoint {
            bits: 8,
            prune: 0.0,
            t: 10,
            accuracy,
            ann_accuracy: 0.0,
            sops_per_sample: 0.0,
            weights: 0,
            weight_bytes: 0,
            network: String::new(),
            energy: vec![PointEnergy {
                device: "d".into(),
                profile: "d".into(),
                energy_j,
                memory_tier: None,
                saved: None,
                pareto: false,
            }],
        }
    }

    #[test]
    fn the_front_keeps_the_points_nothing_beats() {
        let mut points = vec![
            point(0.9, 1.0),
            point(0.95, 2.0),
            point(0.9, 1.5), // as accurate as the first, dearer
            point(0.8, 0.5),
            point(0.85, 1.0), // dearer than the first for less
            point(0.95, 2.0), // a tie with the second: both stay
        ];
        mark_pareto(&mut points, 1);
        let flags: Vec<bool> = points.iter().map(|p| p.energy[0].pareto).collect();
        assert_eq!(flags, [true, true, false, true, false, true]);
    }

    #[test]
    fn a_grid_is_checked_and_ordered() {
        let grid = Grid {
            bits: vec![4, 32, 8, 8],
            prune: vec![0.5, 0.0],
            timesteps: vec![50, 10],
            scale: ScaleMode::Layer,
            scope: PruneScope::Global,
            bias_correction: true,
        };
        let g = grid.clone().checked().unwrap();
        assert_eq!(g.bits, [32, 8, 4]);
        assert_eq!(g.pairs()[..2], [(32, 0.0), (32, 0.5)]);
        assert_eq!(g.timesteps, [10, 50]);
        let bad = |grid: Grid| grid.checked().unwrap_err().to_string();
        assert!(
            bad(Grid {
                bits: vec![16],
                ..grid.clone()
            })
            .contains("16 bits")
        );
        assert!(
            bad(Grid {
                prune: vec![1.0],
                ..grid.clone()
            })
            .contains("fraction 1")
        );
        assert!(
            bad(Grid {
                timesteps: vec![0],
                ..grid.clone()
            })
            .contains("--timesteps")
        );
        assert!(
            bad(Grid {
                prune: vec![],
                ..grid
            })
            .contains("--prune")
        );
    }
}
