//! Energy estimates from exact operation counts and hardware profiles.
//!
//! A [`Profile`] gives the energy of one operation of each kind on one device, how the device
//! executes a spiking network ([`Execution`]), and the published source and operating point of
//! every value (`profiles.toml` holds the built-in ones; users add their own in the same
//! format). An [`EnergyReport`] multiplies counts of the network's activity, read from a run
//! (`summary.json`) or an evaluation (`eval.json`), by those constants:
//!
//! - neurons: on `clock` devices every neuron at every step (neurons x steps), split into
//!   active and inactive neuron-steps where the device prices them apart; on `event` devices
//!   only the active neuron-steps; on `all_in` devices nothing apart from the synaptic events.
//!   A neuron-step is *active* when the neuron received at least one input event (synaptic or
//!   external), carried a non-zero constant current, or spiked in that step;
//! - synaptic operations, and the input events of independent Poisson drives (synaptic
//!   traffic on a chip);
//! - spikes sent, where the device prices them, and hops between tiles with `--hops`;
//! - one weight fetch per SOP and MAC, priced by the memory level that holds all the weights.
//!
//! The engine's own work (its updates and threshold checks) is never charged: the energy of an
//! event-driven and a clock-driven run of the same network is the same. For converted networks
//! the ANN runs on a digital device over the same scope (its MACs as dense hardware does them,
//! bias adds, activations, weight fetches), beside the SNN; the report gives their ratio and
//! the break-even spike rate, and across every evaluated T one table of accuracy and energy.

mod input;
mod profile;

pub use input::{ResultFile, read_result};
pub use profile::{
    BUILTIN_PROFILES, DeviceKind, Execution, MemoryTier, Profile, load_profiles, parse_profiles,
    select,
};

use crate::error::{Error, Result};
use crate::eval::{EvalReport, TimestepResult};
use crate::neuron::{Model, UpdateOperations};
use crate::output::Summary;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// What a report charges beyond the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    /// Charge one weight fetch per SOP and MAC on devices that model memory.
    pub memory: bool,
    /// Mean hops of a spike between tiles, east-west and north-south (a mapping assumption;
    /// none: routing between tiles is not charged).
    pub hops: Option<[f64; 2]>,
    /// The ANN skips MACs of zero inputs (default: dense hardware does them all).
    pub ann_skip_zeros: bool,
}

/// One counted operation and its energy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// Projection, layer, population or drive.
    pub part: String,
    /// `sop`, `external_sop`, `neuron_update`, `neuron_update_active`,
    /// `neuron_update_inactive`, `spike`, `hop_east_west`, `hop_north_south`, `mac`, `add`,
    /// `activation` or `memory_access`.
    pub operation: String,
    /// Operations per simulated second (runs) or per inference (evaluations; a mean).
    pub count: f64,
    /// Energy per operation \[pJ\].
    pub pj_per_op: f64,
    /// `count * pj_per_op` \[J\].
    pub energy_j: f64,
    /// Runs: the operations of the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_count: Option<u64>,
}

/// Energy of one network on one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceEnergy {
    /// Device (profile name).
    pub device: String,
    /// What runs: `snn` or `ann`.
    pub network: String,
    /// The device's execution model (`clock`, `event`, `all_in`).
    pub execution: String,
    /// The memory level charged for weight fetches, and why (absent: none charged).
    pub memory_tier: Option<String>,
    /// Every counted operation.
    pub items: Vec<Item>,
    /// Sum \[J\] (per simulated second or per inference).
    pub total_j: f64,
    /// Runs: the energy of the whole run as run \[J\].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_total_j: Option<f64>,
}

/// The SNN on one device against the ANN.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    /// SNN device.
    pub snn_device: String,
    /// SNN energy per inference \[J\].
    pub snn_j: f64,
    /// ANN device.
    pub ann_device: String,
    /// ANN energy per inference \[J\].
    pub ann_j: f64,
    /// `ann_j / snn_j`: above 1 the SNN is cheaper.
    pub ann_over_snn: f64,
    /// Measured mean rate of the spiking units that feed synapses [spikes per unit per step].
    pub measured_rate: f64,
    /// Rate at which the SNN costs as much as the ANN, the energy that does not scale with
    /// spikes (neuron-steps, input MACs) held fixed [spikes per unit per step]; `null` if the
    /// SNN costs more even without spikes.
    pub break_even_rate: Option<f64>,
}

/// One device's energy per inference at one T.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceAtT {
    /// SNN device.
    pub device: String,
    /// SNN energy per inference \[J\].
    pub snn_j: f64,
    /// ANN energy / SNN energy.
    pub ann_over_snn: f64,
}

/// One row of the table across time steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimestepEnergy {
    /// Time steps.
    pub t: u32,
    /// SNN accuracy.
    pub accuracy: f64,
    /// SOPs per inference.
    pub sops_per_sample: f64,
    /// Per SNN device.
    pub devices: Vec<DeviceAtT>,
    /// ANN energy per inference \[J\] (the same at every T).
    pub ann_j: f64,
}

/// The ANN beside the SNN: its accuracy and where it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnnReference {
    /// Device.
    pub device: String,
    /// Accuracy on the evaluated samples.
    pub accuracy: f64,
    /// Energy per inference \[J\].
    pub energy_j: f64,
}

/// A constant used, with its source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assumption {
    /// Device.
    pub device: String,
    /// Field, e.g. `sop_pj`.
    pub quantity: String,
    /// Value \[pJ\].
    pub value_pj: f64,
    /// Citation.
    pub source: String,
    /// Where the value holds.
    pub operating_point: String,
}

/// An energy report (`energy.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnergyReport {
    /// Network or model name.
    pub network: String,
    /// `simulated second` (runs) or `inference` (evaluations).
    pub per: String,
    /// Time steps of the detailed evaluation results (evaluations only).
    pub timesteps: Option<u32>,
    /// Runs: the simulated time \[ms\].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Whether weight fetches from memory were charged.
    pub memory: bool,
    /// Whether the ANN skipped the MACs of zero inputs.
    pub ann_skip_zeros: bool,
    /// Mean hops per spike between tiles charged (east-west, north-south).
    pub hops: Option<[f64; 2]>,
    /// Per device and network.
    pub devices: Vec<DeviceEnergy>,
    /// SNN against ANN (evaluations only).
    pub comparisons: Vec<Comparison>,
    /// Evaluations: accuracy and energy per inference at every evaluated T.
    pub across_timesteps: Vec<TimestepEnergy>,
    /// Evaluations: the ANN's accuracy, and the device it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ann: Option<AnnReference>,
    /// Every constant used, with its source.
    pub assumptions: Vec<Assumption>,
    /// Notes on how counts were charged.
    pub notes: Vec<String>,
}

/// Items of one device, per simulated second (`per` = the run's seconds) or per inference
/// (`per` = 1).
struct Charges<'p> {
    device: &'p Profile,
    per: f64,
    run: bool,
    items: Vec<Item>,
}

impl<'p> Charges<'p> {
    fn new(device: &'p Profile, per: f64, run: bool) -> Self {
        Charges {
            device,
            per,
            run,
            items: Vec::new(),
        }
    }

    /// Charge `count` operations (of the run, or per inference) at `pj` each.
    fn add(&mut self, part: &str, operation: &str, count: f64, pj: f64) {
        let per = count / self.per;
        self.items.push(Item {
            part: part.to_string(),
            operation: operation.to_string(),
            count: per,
            pj_per_op: pj,
            energy_j: per * pj * 1e-12,
            run_count: self.run.then_some(count as u64),
        });
    }

    /// Neuron updates of `neuron_steps` steps of neurons of `model`, `active` of them active.
    /// `model`: its name, and its arithmetic where the summary gives it (clocked models).
    fn neurons(
        &mut self,
        part: &str,
        model: (&str, Option<UpdateOperations>),
        neuron_steps: f64,
        active: f64,
    ) -> Result<()> {
        let d = self.device;
        let upd = match d.execution {
            Execution::AllIn => return Ok(()),
            _ => update_pj(d, model)?,
        };
        match (d.execution, d.inactive_neuron_update_pj) {
            (Execution::Event, _) => self.add(part, "neuron_update", active, upd),
            (_, Some(inactive)) => {
                self.add(part, "neuron_update_active", active, upd);
                self.add(
                    part,
                    "neuron_update_inactive",
                    neuron_steps - active,
                    inactive,
                );
            }
            _ => self.add(part, "neuron_update", neuron_steps, upd),
        }
        Ok(())
    }

    /// Spikes sent by `part`, and their hops between tiles if a mapping is assumed.
    fn spikes(&mut self, part: &str, spikes: f64, hops: Option<[f64; 2]>) {
        let d = self.device;
        if d.execution == Execution::AllIn || spikes == 0.0 {
            return;
        }
        if let Some(pj) = d.spike_pj {
            self.add(part, "spike", spikes, pj);
        }
        if let Some([ew, ns]) = hops {
            if let Some(pj) = d.hop_east_west_pj {
                self.add(part, "hop_east_west", spikes * ew, pj);
            }
            if let Some(pj) = d.hop_north_south_pj {
                self.add(part, "hop_north_south", spikes * ns, pj);
            }
        }
    }

    fn finish(self, network: &str, tier: Option<String>) -> DeviceEnergy {
        let total_j: f64 = self.items.iter().map(|i| i.energy_j).sum();
        DeviceEnergy {
            device: self.device.name.clone(),
            network: network.to_string(),
            execution: self.device.execution.as_str().to_string(),
            memory_tier: tier,
            run_total_j: self.run.then_some(total_j * self.per),
            total_j,
            items: self.items,
        }
    }
}

fn need(profile: &Profile, value: Option<f64>, what: &str) -> Result<f64> {
    value.ok_or_else(|| Error::Data {
        path: "--device".into(),
        message: format!("device `{}` has no energy per {what}", profile.name),
    })
}

/// Energy of one update of a neuron of `model` on `d`: the profile's figure, or the
/// arithmetic of the model at the profile's multiply and add energies.
fn update_pj(d: &Profile, (model, ops): (&str, Option<UpdateOperations>)) -> Result<f64> {
    if let Some(pj) = d.neuron_update_pj {
        return Ok(pj);
    }
    let ops = ops
        .or_else(|| Model::from_name(model).map(Model::update_operations))
        .ok_or_else(|| Error::Data {
            path: "--device".into(),
            message: format!("unknown neuron model `{model}` (known: if, lif_delta, lif_exp)"),
        })?;
    let mul = need(d, d.multiply_pj, "multiplication")?;
    let add = need(d, d.add_pj, "addition")?;
    Ok(f64::from(ops.multiplies) * mul + f64::from(ops.adds) * add)
}

/// The memory tier of `device` charged for `weights` weights, with the reason, or `None`.
fn tier_for(device: &Profile, weights: u64, options: &Options) -> Option<(f64, String)> {
    let bytes = weights * device.weight_bytes();
    let how = format!("{weights} weights x {} B", device.weight_bytes());
    tier_for_bytes(device, (bytes, how), options)
}

/// The memory tier of `device` charged for the weights of an evaluated network: their own
/// bits where it was quantized, the device's weight size otherwise.
fn eval_tier(device: &Profile, eval: &EvalReport, options: &Options) -> Option<(f64, String)> {
    if !eval.weight_bits_per_layer.iter().any(|&b| b < 32) {
        return tier_for(device, eval.weights_stored_or_kept(), options);
    }
    let bytes = eval.weight_bytes_on(device.weight_bytes());
    let bits: Vec<String> = (eval.weight_bits_per_layer.iter())
        .map(u32::to_string)
        .collect();
    let how = format!(
        "{} weights of {} bits",
        eval.weights_stored_or_kept(),
        bits.join("/")
    );
    tier_for_bytes(device, (bytes, how), options)
}

/// The memory tier of `device` for weights of `bytes` bytes (`how`: how they add up).
fn tier_for_bytes(
    device: &Profile,
    (bytes, how): (u64, String),
    options: &Options,
) -> Option<(f64, String)> {
    if !options.memory {
        return None;
    }
    device.memory_tier(bytes).map(|t| {
        let why = format!(
            "{}: {how} = {bytes} B{}",
            t.name,
            t.capacity_bytes
                .map_or(" (larger than every on-chip level)".into(), |c| format!(
                    " fit in {c} B"
                ))
        );
        (t.read_pj, why)
    })
}

fn assumptions(devices: &[&Profile], tiers: &[(String, String, f64)]) -> Vec<Assumption> {
    let mut out: Vec<Assumption> = Vec::new();
    for d in devices {
        if out.iter().any(|a| a.device == d.name) {
            continue;
        }
        for (name, value) in d.values() {
            let Some(v) = value else { continue };
            if name == "memory" {
                continue;
            }
            out.push(Assumption {
                device: d.name.clone(),
                quantity: name.to_string(),
                value_pj: v,
                source: d.sources.get(name).cloned().unwrap_or_default(),
                operating_point: d.operating_point.clone(),
            });
        }
        for (device, tier, pj) in tiers.iter().filter(|t| t.0 == d.name) {
            out.push(Assumption {
                device: device.clone(),
                quantity: format!("memory_access ({tier})"),
                value_pj: *pj,
                source: d.sources.get("memory").cloned().unwrap_or_default(),
                operating_point: d.operating_point.clone(),
            });
        }
    }
    out
}

fn memory_notes(devices: &[&Profile], options: &Options) -> Vec<String> {
    let mut notes = Vec::new();
    if !options.memory {
        notes.push("weight fetches from memory not charged (--no-memory)".into());
        return notes;
    }
    for d in devices.iter().filter(|d| d.memory.is_empty()) {
        notes.push(match d.execution {
            Execution::AllIn => format!("`{}`: all-in, memory included in its per-event energy", d.name),
            _ => format!("`{}`: no memory levels in its profile: weight reads are those included in its SOP energy, none charged apart", d.name),
        });
    }
    notes
}

fn execution_notes(devices: &[&Profile]) -> Vec<String> {
    let mut notes = vec![
        "a neuron-step is active when the neuron received at least one input event (synaptic or external), carried a non-zero constant current, or spiked in that step; counted from the network's activity, the same for the event and the clock engine".to_string(),
        "the engine's own work (its updates and threshold checks, in summary.json) is not charged: it is the simulator's cost, not the device's".to_string(),
    ];
    for d in devices {
        let what = match (d.execution, d.inactive_neuron_update_pj) {
            (Execution::Clock, Some(_)) => {
                "clock: every neuron at every step, active and inactive neuron-steps priced apart"
            }
            (Execution::Clock, None) => "clock: every neuron at every step at one price",
            (Execution::Event, _) => "event: neurons charged only in their active steps",
            (Execution::AllIn, _) => {
                "all-in: synaptic events only; neuron updates, memory and routing included at its calibration point"
            }
        };
        let model = if d.neuron_update_pj.is_none() && d.execution != Execution::AllIn {
            "; a neuron update costs its model's multiplies and adds (if: 2 adds; lif_delta: 1 multiply, 4 adds; lif_exp: 5 multiplies, 7 adds)"
        } else {
            ""
        };
        notes.push(format!("`{}` {what}{model}", d.name));
    }
    notes
}

/// The weight updates of plastic projections, and the devices that give no figure for them.
fn plasticity_notes(summary: &Summary, devices: &[&Profile]) -> Vec<String> {
    let updates: u64 = summary.projections.iter().map(|p| p.synaptic_updates).sum();
    if updates == 0 {
        return Vec::new();
    }
    let mut notes = vec![format!(
        "{updates} synaptic weight updates (plasticity: one per synapse at each spike of its source reaching it and of its target) are charged as `synaptic_update` where a device gives a figure"
    )];
    for d in devices.iter().filter(|d| d.synaptic_update_pj.is_none()) {
        notes.push(format!(
            "`{}` gives no energy per synaptic update: the updates are not charged there, so its figure is a lower bound",
            d.name
        ));
    }
    notes
}

impl EnergyReport {
    /// Energy of a simulation run per simulated second, on each SNN device.
    pub fn from_run(summary: &Summary, devices: &[&Profile], options: &Options) -> Result<Self> {
        let seconds = summary.duration_ms * 1e-3;
        let mut out = Vec::new();
        let mut tiers = Vec::new();
        for d in devices {
            let sop = need(d, d.sop_pj, "synaptic operation")?;
            let tier = tier_for(d, summary.synapses, options);
            let mut c = Charges::new(d, seconds, true);
            for p in &summary.projections {
                c.add(&p.name, "sop", p.synaptic_events as f64, sop);
                if let Some((pj, _)) = &tier {
                    c.add(&p.name, "memory_access", p.synaptic_events as f64, *pj);
                }
                if let (Some(pj), true) = (d.synaptic_update_pj, p.synaptic_updates > 0) {
                    c.add(&p.name, "synaptic_update", p.synaptic_updates as f64, pj);
                }
            }
            for dr in &summary.drives {
                let part = format!("drive into {}", dr.target);
                c.add(&part, "external_sop", dr.events as f64, sop);
            }
            for p in &summary.populations {
                if let Some(model) = &p.model {
                    let (steps, active) = (p.neuron_steps as f64, p.active_neuron_steps as f64);
                    let ops = p.update_operations;
                    c.neurons(&p.name, (model, ops), steps, active)?;
                }
                c.spikes(&p.name, p.spikes as f64, options.hops);
            }
            if let Some((pj, why)) = &tier {
                tiers.push((d.name.clone(), why.clone(), *pj));
            }
            out.push(c.finish("snn", tier.map(|t| t.1)));
        }
        let mut notes = vec![format!(
            "counts of a {} ms run ({} steps; the {} engine, whose choice changes no count charged), divided by its duration; the whole run's counts and energy are given beside",
            summary.duration_ms, summary.steps, summary.engine
        )];
        if !summary.drives.is_empty() {
            notes.push("the input events of independent Poisson drives are synaptic traffic on a chip: charged as `external_sop` at the SOP energy (their single weight per drive needs no weight fetch)".into());
        }
        notes.extend(plasticity_notes(summary, devices));
        notes.extend(execution_notes(devices));
        notes.extend(memory_notes(devices, options));
        notes.extend(hop_notes(devices, options));
        Ok(EnergyReport {
            network: summary.network.clone(),
            per: "simulated second".into(),
            timesteps: None,
            duration_ms: Some(summary.duration_ms),
            memory: options.memory,
            ann_skip_zeros: false,
            hops: options.hops,
            devices: out,
            comparisons: Vec::new(),
            across_timesteps: Vec::new(),
            ann: None,
            assumptions: assumptions(devices, &tiers),
            notes,
        })
    }

    /// Energy per inference of a converted network at `t` time steps (default: the largest)
    /// on each SNN device and of its ANN on `ann_device`, and the totals at every T.
    pub fn from_eval(
        eval: &EvalReport,
        t: Option<u32>,
        devices: &[&Profile],
        ann_device: &Profile,
        options: &Options,
    ) -> Result<Self> {
        let at = timestep(eval, t)?;
        let (ann, ann_tier) = ann_energy(eval, ann_device, options)?;
        let mut out = Vec::new();
        let mut comparisons = Vec::new();
        let mut tiers = Vec::new();
        let rate = measured_rate(eval, at);
        for d in devices {
            let (snn, variable) = snn_energy(eval, at, d, ann_device, options)?;
            let fixed = snn.total_j - variable;
            let break_even_rate = (ann.total_j > fixed && variable > 0.0)
                .then(|| rate * (ann.total_j - fixed) / variable);
            comparisons.push(Comparison {
                snn_device: d.name.clone(),
                snn_j: snn.total_j,
                ann_device: ann_device.name.clone(),
                ann_j: ann.total_j,
                ann_over_snn: ann.total_j / snn.total_j,
                measured_rate: rate,
                break_even_rate,
            });
            if let Some((pj, why)) = eval_tier(d, eval, options) {
                tiers.push((d.name.clone(), why, pj));
            }
            out.push(snn);
        }
        if let Some((pj, why)) = ann_tier {
            tiers.push((ann_device.name.clone(), why, pj));
        }
        out.push(ann.clone());
        let across_timesteps = across(eval, devices, ann_device, ann.total_j, options)?;
        let mut all: Vec<&Profile> = devices.to_vec();
        all.push(ann_device);
        Ok(EnergyReport {
            network: eval.model.clone(),
            per: "inference".into(),
            timesteps: Some(at.t),
            duration_ms: None,
            memory: options.memory,
            ann_skip_zeros: options.ann_skip_zeros,
            hops: options.hops,
            devices: out,
            comparisons,
            across_timesteps,
            ann: Some(AnnReference {
                device: ann_device.name.clone(),
                accuracy: eval.ann_accuracy,
                energy_j: ann.total_j,
            }),
            assumptions: assumptions(&all, &tiers),
            notes: eval_notes(eval, at, devices, ann_device, options),
        })
    }
}

fn hop_notes(devices: &[&Profile], options: &Options) -> Vec<String> {
    match options.hops {
        None if devices.iter().any(|d| d.hop_east_west_pj.is_some()) => vec![
            "routing between tiles not charged: it needs a mapping assumption (--hops EW,NS, mean hops per spike)".into(),
        ],
        Some([ew, ns]) => vec![format!(
            "routing: every spike assumed to travel {ew} east-west and {ns} north-south hops (--hops), on devices that price hops"
        )],
        None => Vec::new(),
    }
}

fn timestep(eval: &EvalReport, t: Option<u32>) -> Result<&TimestepResult> {
    let list = || {
        eval.timesteps
            .iter()
            .map(|r| r.t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match t {
        Some(t) => eval
            .timesteps
            .iter()
            .find(|r| r.t == t)
            .ok_or_else(|| Error::Data {
                path: "--timesteps".into(),
                message: format!(
                    "the evaluation has no result at T = {t} (it has {})",
                    list()
                ),
            }),
        None => eval.timesteps.last().ok_or_else(|| Error::Data {
            path: "eval.json".into(),
            message: "no time steps".into(),
        }),
    }
}

/// Mean spike rate of the units that feed synapses (the input when it spikes, and every layer
/// but the last) [spikes per unit per step].
fn measured_rate(eval: &EvalReport, at: &TimestepResult) -> f64 {
    let layers = eval.layer_names.len();
    let input_spikes = at.sops_per_layer[0] > 0.0;
    let mut units = if input_spikes {
        eval.input_units as f64
    } else {
        0.0
    };
    let mut spikes = if input_spikes {
        at.spikes_per_layer[0]
    } else {
        0.0
    };
    for l in 0..layers.saturating_sub(1) {
        units += eval.layer_neurons[l] as f64;
        spikes += at.spikes_per_layer[l + 1];
    }
    spikes / units.max(1.0) / f64::from(at.t)
}

/// The ANN on its device, per inference: MACs, bias adds, activations and weight fetches.
fn ann_energy(
    eval: &EvalReport,
    d: &Profile,
    options: &Options,
) -> Result<(DeviceEnergy, Option<(f64, String)>)> {
    let mac = need(d, d.mac_pj, "multiply-accumulate")?;
    let add = d.add_pj.unwrap_or(mac);
    let tier = eval_tier(d, eval, options);
    let mut c = Charges::new(d, 1.0, false);
    let layers = eval.layer_names.len();
    for (l, name) in eval.layer_names.iter().enumerate() {
        let macs = if options.ann_skip_zeros {
            eval.ann_nonzero_macs_per_layer[l]
        } else {
            eval.ann_macs_per_layer[l] as f64
        };
        c.add(name, "mac", macs, mac);
        c.add(name, "add", eval.ann_bias_adds_per_layer[l] as f64, add);
        if l + 1 < layers {
            c.add(name, "activation", eval.layer_neurons[l] as f64, add);
        }
        if let Some((pj, _)) = &tier {
            c.add(name, "memory_access", macs, *pj);
        }
    }
    let why = tier.as_ref().map(|t| t.1.clone());
    Ok((c.finish("ann", why), tier))
}

/// The SNN on device `d` at one T, per inference, and the part of its energy that scales
/// with the spike rate (SOPs, their weight fetches, spikes and hops).
fn snn_energy(
    eval: &EvalReport,
    at: &TimestepResult,
    d: &Profile,
    host: &Profile,
    options: &Options,
) -> Result<(DeviceEnergy, f64)> {
    let sop = need(d, d.sop_pj, "synaptic operation")?;
    let tier = eval_tier(d, eval, options);
    let mut c = Charges::new(d, 1.0, false);
    if eval.input_macs_per_sample > 0.0 {
        // The constant input current is computed once per sample, on the device if it can
        // multiply, else on the ANN device (the host), with the weights it reads.
        let mac = match d.mac_pj {
            Some(m) => m,
            None => need(host, host.mac_pj, "multiply-accumulate")?,
        };
        c.add("input", "mac", eval.input_macs_per_sample, mac);
        let input_tier = if d.mac_pj.is_some() {
            tier.clone()
        } else {
            eval_tier(host, eval, options)
        };
        if let Some((pj, _)) = input_tier {
            c.add("input", "memory_access", eval.input_macs_per_sample, pj);
        }
    }
    let fixed_items = c.items.len();
    c.spikes("input", at.spikes_per_layer[0], options.hops);
    // Sorted, for the binary search below.
    let variable_ops = [
        "hop_east_west",
        "hop_north_south",
        "memory_access",
        "sop",
        "spike",
    ];
    for (l, name) in eval.layer_names.iter().enumerate() {
        c.add(name, "sop", at.sops_per_layer[l], sop);
        if let Some((pj, _)) = &tier {
            c.add(name, "memory_access", at.sops_per_layer[l], *pj);
        }
        let steps = at.neuron_steps_per_layer[l];
        c.neurons(
            name,
            (&eval.layer_models[l], None),
            steps,
            at.active_neuron_steps_per_layer[l],
        )?;
        c.spikes(name, at.spikes_per_layer[l + 1], options.hops);
    }
    let variable: f64 = c.items[fixed_items..]
        .iter()
        .filter(|i| variable_ops.binary_search(&i.operation.as_str()).is_ok())
        .map(|i| i.energy_j)
        .sum();
    Ok((c.finish("snn", tier.map(|t| t.1)), variable))
}

/// Accuracy and energy per inference at every evaluated T.
fn across(
    eval: &EvalReport,
    devices: &[&Profile],
    host: &Profile,
    ann_j: f64,
    options: &Options,
) -> Result<Vec<TimestepEnergy>> {
    eval.timesteps
        .iter()
        .map(|at| {
            let devices = devices
                .iter()
                .map(|d| {
                    let (snn, _) = snn_energy(eval, at, d, host, options)?;
                    Ok(DeviceAtT {
                        device: d.name.clone(),
                        snn_j: snn.total_j,
                        ann_over_snn: ann_j / snn.total_j,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(TimestepEnergy {
                t: at.t,
                accuracy: at.accuracy,
                sops_per_sample: at.sops_per_sample,
                devices,
                ann_j,
            })
        })
        .collect()
}

fn eval_notes(
    eval: &EvalReport,
    at: &TimestepResult,
    devices: &[&Profile],
    ann_device: &Profile,
    options: &Options,
) -> Vec<String> {
    let macs = if options.ann_skip_zeros {
        format!(
            "{:.0} MACs (zero inputs skipped, --ann-skip-zeros; dense hardware does {})",
            eval.ann_nonzero_macs_per_layer.iter().sum::<f64>(),
            eval.ann_macs_per_sample
        )
    } else {
        format!(
            "{} MACs as dense hardware does them (zeros included)",
            eval.ann_macs_per_sample
        )
    };
    let mut notes = vec![
        format!("SNN counts are means over {} samples at T = {} steps, read from the evaluation", eval.samples, at.t),
        format!("ANN: {macs}, one bias add per neuron, one activation (a comparison, charged as an add) per hidden neuron, one weight fetch per MAC when memory is charged, per inference"),
        eval.input_layer_ops.clone(),
        "break-even rate: the mean spike rate at which the SNN's rate-proportional energy (SOPs, their weight fetches, spikes) brings it to the ANN's energy, neuron-steps and input MACs held at their measured values".into(),
    ];
    if ann_device.add_pj.is_none() {
        notes.push(format!(
            "device `{}` gives no add energy: bias adds and activations charged as MACs",
            ann_device.name
        ));
    }
    if eval.input_macs_per_sample > 0.0 && devices.iter().any(|d| d.mac_pj.is_none()) {
        notes.push(format!(
            "devices without a MAC energy have the input currents computed on `{}`",
            ann_device.name
        ));
    }
    let mut all = devices.to_vec();
    all.push(ann_device);
    notes.extend(execution_notes(devices));
    notes.extend(memory_notes(&all, options));
    notes.extend(hop_notes(devices, options));
    notes
}

/// A count as text: integers without decimals, means with one.
fn count_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

impl EnergyReport {
    /// Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let t = self
            .timesteps
            .map(|t| format!(" at T = {t}"))
            .unwrap_or_default();
        let _ = writeln!(s, "# Energy of {}{t}, per {}\n", self.network, self.per);
        self.markdown_across(&mut s);
        self.markdown_totals(&mut s);
        self.markdown_comparisons(&mut s);
        self.markdown_items(&mut s);
        let _ = writeln!(s, "\n## Assumptions and sources\n");
        for a in &self.assumptions {
            let _ = writeln!(
                s,
                "- `{}` {} = {} pJ: {} ({})",
                a.device, a.quantity, a.value_pj, a.source, a.operating_point
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        s
    }

    fn markdown_across(&self, s: &mut String) {
        let Some(first) = self.across_timesteps.first() else {
            return;
        };
        let names: Vec<&str> = first.devices.iter().map(|d| d.device.as_str()).collect();
        let _ = write!(s, "| T | accuracy | SOPs |");
        for n in &names {
            let _ = write!(s, " {n} | ANN / {n} |");
        }
        let _ = writeln!(s, " ANN |");
        let _ = writeln!(s, "|---|---|---|{}---|", "---|---|".repeat(names.len()));
        for row in &self.across_timesteps {
            let _ = write!(
                s,
                "| {} | {:.2}% | {:.0} |",
                row.t,
                100.0 * row.accuracy,
                row.sops_per_sample
            );
            for d in &row.devices {
                let _ = write!(s, " {} | {:.3} |", joules(d.snn_j), d.ann_over_snn);
            }
            let _ = writeln!(s, " {} |", joules(row.ann_j));
        }
        let _ = writeln!(
            s,
            "\nDetails below at T = {}.\n",
            self.timesteps.unwrap_or(0)
        );
    }

    fn markdown_totals(&self, s: &mut String) {
        let run = self.duration_ms.is_some();
        let _ = writeln!(
            s,
            "| device | execution | network | energy per {} |{}",
            self.per,
            if run { " energy of the run |" } else { "" }
        );
        let _ = writeln!(s, "|---|---|---|---|{}", if run { "---|" } else { "" });
        for d in &self.devices {
            let whole = d
                .run_total_j
                .map_or(String::new(), |j| format!(" {} |", joules(j)));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |{whole}",
                d.device,
                d.execution,
                d.network,
                joules(d.total_j)
            );
        }
    }

    fn markdown_comparisons(&self, s: &mut String) {
        if self.comparisons.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "\n| SNN device | SNN | ANN device | ANN | ANN / SNN | measured rate | break-even rate |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for c in &self.comparisons {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.3} | {:.4} | {} |",
                c.snn_device,
                joules(c.snn_j),
                c.ann_device,
                joules(c.ann_j),
                c.ann_over_snn,
                c.measured_rate,
                c.break_even_rate
                    .map_or("never (SNN dearer at rate 0)".into(), |r| format!("{r:.4}"))
            );
        }
    }

    fn markdown_items(&self, s: &mut String) {
        let run = self.duration_ms.is_some();
        for d in &self.devices {
            let _ = writeln!(s, "\n## {} on {}\n", d.network.to_uppercase(), d.device);
            if let Some(tier) = &d.memory_tier {
                let _ = writeln!(s, "Weights in {tier}.\n");
            }
            let _ = writeln!(
                s,
                "| part | operation |{} count per {} | pJ/op | energy | share |",
                if run { " count in the run |" } else { "" },
                self.per
            );
            let _ = writeln!(
                s,
                "|---|---|{}---|---|---|---|",
                if run { "---|" } else { "" }
            );
            for i in &d.items {
                let share = if d.total_j > 0.0 {
                    100.0 * i.energy_j / d.total_j
                } else {
                    0.0
                };
                let whole = i.run_count.map_or(String::new(), |c| format!(" {c} |"));
                let _ = writeln!(
                    s,
                    "| {} | {} |{whole} {} | {} | {} | {share:.1}% |",
                    i.part,
                    i.operation,
                    count_text(i.count),
                    i.pj_per_op,
                    joules(i.energy_j)
                );
            }
        }
    }

    /// CSV: one row per counted operation.
    pub fn csv(&self) -> String {
        let mut s =
            String::from("device,network,part,operation,count,pj_per_op,energy_j,run_count\n");
        for d in &self.devices {
            for i in &d.items {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{},{}",
                    d.device,
                    d.network,
                    i.part,
                    i.operation,
                    i.count,
                    i.pj_per_op,
                    i.energy_j,
                    i.run_count.map_or(String::new(), |c| c.to_string())
                );
            }
        }
        s
    }
}

/// The unit to show energies up to `max_j` joules in: `(factor, unit)`.
pub fn unit(max_j: f64) -> (f64, &'static str) {
    if max_j >= 1.0 {
        (1.0, "J")
    } else if max_j >= 1e-3 {
        (1e3, "mJ")
    } else if max_j >= 1e-6 {
        (1e6, "µJ")
    } else if max_j >= 1e-9 {
        (1e9, "nJ")
    } else {
        (1e12, "pJ")
    }
}

fn joules(j: f64) -> String {
    let (factor, unit) = unit(j);
    format!("{:.3} {unit}", j * factor)
}
