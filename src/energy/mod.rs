//! Energy estimates from exact operation counts and hardware profiles.
//!
//! A [`Profile`] gives the energy of one operation of each kind on one device, each value with
//! its published source (`profiles.toml` holds the built-in ones; users add their own in the
//! same format). An [`EnergyReport`] multiplies the counts of a run (`summary.json`) or an
//! evaluation (`eval.json`) by those constants: per projection or layer, in total, per
//! simulated second or per inference, and for converted networks the ANN on its device beside
//! the SNN, their ratio and the break-even spike rate. Energy is always counts x constants;
//! nothing is fitted.

use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::output::Summary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The built-in profiles, in the profile file format.
pub const BUILTIN_PROFILES: &str = include_str!("profiles.toml");

/// What kind of device a profile describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Runs spiking networks (SOPs and neuron updates).
    Neuromorphic,
    /// Conventional digital logic (MACs; SOPs as additions).
    Digital,
}

/// One device's energy per operation \[pJ\], with sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name used on the command line.
    pub name: String,
    /// One line describing the device.
    pub description: String,
    /// Neuromorphic or digital.
    pub kind: DeviceKind,
    /// The per-event figure includes memory, routing and neuron updates: no memory terms may
    /// be added to it. Default false.
    #[serde(default)]
    pub all_in: bool,
    /// Energy per synaptic operation \[pJ\].
    pub sop_pj: Option<f64>,
    /// Energy per neuron update \[pJ\].
    pub neuron_update_pj: Option<f64>,
    /// Energy per multiply-accumulate \[pJ\].
    pub mac_pj: Option<f64>,
    /// Energy per addition \[pJ\].
    pub add_pj: Option<f64>,
    /// Energy per weight fetch from memory \[pJ\] (charged only with `--memory`).
    pub memory_access_pj: Option<f64>,
    /// Source of every value given, by field name.
    pub sources: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: Vec<Profile>,
}

impl Profile {
    fn values(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("sop_pj", self.sop_pj),
            ("neuron_update_pj", self.neuron_update_pj),
            ("mac_pj", self.mac_pj),
            ("add_pj", self.add_pj),
            ("memory_access_pj", self.memory_access_pj),
        ]
    }

    fn check(&self, path: &Path) -> Result<()> {
        let field = |f: &str| format!("profile \"{}\".{f}", self.name);
        for (name, value) in self.values() {
            let Some(v) = value else { continue };
            if !v.is_finite() || v < 0.0 {
                return Err(Error::invalid(
                    path,
                    field(name),
                    format!("energy must be a finite number >= 0 pJ, got {v}"),
                ));
            }
            if self.sources.get(name).is_none_or(|s| s.trim().is_empty()) {
                return Err(Error::invalid(
                    path,
                    field(name),
                    "has no source: add it under [profile.sources]",
                ));
            }
        }
        for key in self.sources.keys() {
            if !self.values().iter().any(|(n, v)| n == key && v.is_some()) {
                return Err(Error::invalid(
                    path,
                    field(&format!("sources.{key}")),
                    "a source for a value the profile does not give",
                ));
            }
        }
        if self.all_in && self.memory_access_pj.is_some() {
            return Err(Error::invalid(
                path,
                field("memory_access_pj"),
                "an all-in profile already includes memory accesses in its per-event energy",
            ));
        }
        Ok(())
    }
}

/// Parse and check a profile file.
pub fn parse_profiles(text: &str, path: &Path) -> Result<Vec<Profile>> {
    let file: ProfileFile = toml::from_str(text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e
            .span()
            .map_or(1, |s| text[..s.start].matches('\n').count() + 1),
        column: 1,
        message: e.message().trim_end().to_string(),
    })?;
    for p in &file.profile {
        p.check(path)?;
    }
    Ok(file.profile)
}

/// The built-in profiles plus those of `extra` (which replace built-ins of the same name).
pub fn load_profiles(extra: Option<&Path>) -> Result<Vec<Profile>> {
    let mut profiles = parse_profiles(BUILTIN_PROFILES, Path::new("<built-in profiles>"))?;
    if let Some(path) = extra {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "cannot read", e))?;
        for p in parse_profiles(&text, path)? {
            profiles.retain(|q| q.name != p.name);
            profiles.push(p);
        }
    }
    Ok(profiles)
}

/// Look up profiles by name.
pub fn select<'p>(profiles: &'p [Profile], names: &[String]) -> Result<Vec<&'p Profile>> {
    names
        .iter()
        .map(|n| {
            profiles
                .iter()
                .find(|p| &p.name == n)
                .ok_or_else(|| Error::Data {
                    path: "--device".into(),
                    message: format!(
                        "unknown device `{n}` (known: {})",
                        profiles
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
        })
        .collect()
}

/// One counted operation and its energy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// Projection, layer or population.
    pub part: String,
    /// `sop`, `neuron_update`, `mac`, `add` or `memory_access`.
    pub operation: String,
    /// Operations (per inference or per simulated second; may be a mean).
    pub count: f64,
    /// Energy per operation \[pJ\].
    pub pj_per_op: f64,
    /// `count * pj_per_op` \[J\].
    pub energy_j: f64,
}

/// Energy of one network on one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceEnergy {
    /// Device (profile name).
    pub device: String,
    /// What runs: `snn` or `ann`.
    pub network: String,
    /// Every counted operation.
    pub items: Vec<Item>,
    /// Sum \[J\] (per inference or per simulated second).
    pub total_j: f64,
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
    /// Rate at which the SNN costs as much as the ANN, all else (neuron updates, input MACs)
    /// fixed [spikes per unit per step]; `null` if the SNN costs more even without spikes.
    pub break_even_rate: Option<f64>,
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
}

/// An energy report (`energy.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnergyReport {
    /// Network or model name.
    pub network: String,
    /// `per simulated second` (runs) or `per inference` (evaluations).
    pub per: String,
    /// Time steps of the evaluation read (evaluations only).
    pub timesteps: Option<u32>,
    /// Whether weight fetches from memory were charged.
    pub memory: bool,
    /// Per device and network.
    pub devices: Vec<DeviceEnergy>,
    /// SNN against ANN (evaluations only).
    pub comparisons: Vec<Comparison>,
    /// Every constant used, with its source.
    pub assumptions: Vec<Assumption>,
    /// Notes on how counts were charged.
    pub notes: Vec<String>,
}

fn need(profile: &Profile, value: Option<f64>, what: &str) -> Result<f64> {
    value.ok_or_else(|| Error::Data {
        path: "--device".into(),
        message: format!("device `{}` has no energy per {what}", profile.name),
    })
}

fn item(part: &str, operation: &str, count: f64, pj: f64) -> Item {
    Item {
        part: part.to_string(),
        operation: operation.to_string(),
        count,
        pj_per_op: pj,
        energy_j: count * pj * 1e-12,
    }
}

fn device_energy(device: &Profile, network: &str, items: Vec<Item>) -> DeviceEnergy {
    DeviceEnergy {
        device: device.name.clone(),
        network: network.to_string(),
        total_j: items.iter().map(|i| i.energy_j).sum(),
        items,
    }
}

fn memory_pj(device: &Profile, memory: bool) -> Result<Option<f64>> {
    if !memory {
        return Ok(None);
    }
    if device.all_in {
        return Err(Error::Data {
            path: "--memory".into(),
            message: format!(
                "device `{}` is all-in: its per-event energy already includes memory accesses",
                device.name
            ),
        });
    }
    need(device, device.memory_access_pj, "memory access").map(Some)
}

fn assumptions(devices: &[&Profile], memory: bool) -> Vec<Assumption> {
    let mut out = Vec::new();
    for d in devices {
        for (name, value) in d.values() {
            let Some(v) = value else { continue };
            if name == "memory_access_pj" && !memory {
                continue;
            }
            if out
                .iter()
                .any(|a: &Assumption| a.device == d.name && a.quantity == name)
            {
                continue;
            }
            out.push(Assumption {
                device: d.name.clone(),
                quantity: name.to_string(),
                value_pj: v,
                source: d.sources.get(name).cloned().unwrap_or_default(),
            });
        }
    }
    out
}

impl EnergyReport {
    /// Energy of a simulation run per simulated second, on each SNN device.
    pub fn from_run(summary: &Summary, devices: &[&Profile], memory: bool) -> Result<Self> {
        let seconds = summary.duration_ms * 1e-3;
        let mut out = Vec::new();
        for d in devices {
            let sop = need(d, d.sop_pj, "synaptic operation")?;
            let upd = need(d, d.neuron_update_pj, "neuron update")?;
            let mem = memory_pj(d, memory)?;
            let mut items = Vec::new();
            for p in &summary.projections {
                let sops = p.synaptic_events as f64 / seconds;
                items.push(item(&p.name, "sop", sops, sop));
                if let Some(m) = mem {
                    items.push(item(&p.name, "memory_access", sops, m));
                }
            }
            for p in &summary.populations {
                if p.neuron_updates > 0 && !d.all_in {
                    items.push(item(
                        &p.name,
                        "neuron_update",
                        p.neuron_updates as f64 / seconds,
                        upd,
                    ));
                }
            }
            out.push(device_energy(d, "snn", items));
        }
        let mut notes = vec![format!(
            "counts of a {} ms run with the {} engine, divided by its duration; neuron updates are those the engine made ({} of a clock-driven engine's {})",
            summary.duration_ms,
            summary.engine,
            summary.neuron_updates,
            summary.clock_equivalent_updates
        )];
        if devices.iter().any(|d| d.all_in) {
            notes.push("all-in devices are charged per synaptic event only".into());
        }
        Ok(EnergyReport {
            network: summary.network.clone(),
            per: "simulated second".into(),
            timesteps: None,
            memory,
            devices: out,
            comparisons: Vec::new(),
            assumptions: assumptions(devices, memory),
            notes,
        })
    }

    /// Energy per inference of a converted network at `t` time steps on each SNN device, and of
    /// its ANN on `ann_device`.
    pub fn from_eval(
        eval: &EvalReport,
        t: Option<u32>,
        devices: &[&Profile],
        ann_device: &Profile,
        memory: bool,
    ) -> Result<Self> {
        let at = match t {
            Some(t) => eval
                .timesteps
                .iter()
                .find(|r| r.t == t)
                .ok_or_else(|| Error::Data {
                    path: "--timesteps".into(),
                    message: format!(
                        "the evaluation has no result at T = {t} (it has {})",
                        eval.timesteps
                            .iter()
                            .map(|r| r.t.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?,
            None => eval.timesteps.last().ok_or_else(|| Error::Data {
                path: "eval.json".into(),
                message: "no time steps".into(),
            })?,
        };
        // ANN on its device.
        let mac = need(ann_device, ann_device.mac_pj, "multiply-accumulate")?;
        let add = ann_device.add_pj.unwrap_or(mac);
        let act = need(ann_device, ann_device.neuron_update_pj, "neuron update")?;
        let ann_mem = memory_pj(ann_device, memory)?;
        let mut ann_items = Vec::new();
        for (l, name) in eval.layer_names.iter().enumerate() {
            let macs = eval.ann_macs_per_layer[l] as f64;
            ann_items.push(item(name, "mac", macs, mac));
            ann_items.push(item(
                name,
                "add",
                eval.ann_bias_adds_per_layer[l] as f64,
                add,
            ));
            ann_items.push(item(
                name,
                "neuron_update",
                eval.layer_neurons[l] as f64,
                act,
            ));
            if let Some(m) = ann_mem {
                ann_items.push(item(name, "memory_access", macs, m));
            }
        }
        let ann = device_energy(ann_device, "ann", ann_items);
        let mut out = Vec::new();
        let mut comparisons = Vec::new();
        // Spiking units feeding each layer: the input (spike encodings) or the previous layer.
        let sources: Vec<f64> = (0..eval.layer_names.len())
            .map(|l| {
                if l == 0 {
                    eval.input_units as f64
                } else {
                    eval.layer_neurons[l - 1] as f64
                }
            })
            .collect();
        let source_spikes: f64 = (0..eval.layer_names.len())
            .map(|l| at.spikes_per_layer[l])
            .sum();
        let source_units: f64 = (0..eval.layer_names.len())
            .filter(|&l| at.sops_per_layer[l] > 0.0 || l > 0)
            .map(|l| sources[l])
            .sum();
        let measured_rate = source_spikes / source_units.max(1.0) / f64::from(at.t);
        for d in devices {
            let sop = need(d, d.sop_pj, "synaptic operation")?;
            let upd = need(d, d.neuron_update_pj, "neuron update")?;
            let mem = memory_pj(d, memory)?;
            let mut items = Vec::new();
            if eval.input_macs_per_sample > 0.0 {
                // The constant input current is computed once per sample, on the device if it
                // can multiply, else on the ANN device (the host).
                let (pj, _) = d.mac_pj.map_or((mac, &ann_device.name), |m| (m, &d.name));
                items.push(item("input", "mac", eval.input_macs_per_sample, pj));
            }
            let mut sop_energy = 0.0;
            for (l, name) in eval.layer_names.iter().enumerate() {
                let sops = at.sops_per_layer[l];
                let it = item(name, "sop", sops, sop);
                sop_energy += it.energy_j;
                items.push(it);
                if let Some(m) = mem {
                    let it = item(name, "memory_access", sops, m);
                    sop_energy += it.energy_j;
                    items.push(it);
                }
                if !d.all_in {
                    items.push(item(
                        name,
                        "neuron_update",
                        at.neuron_updates_per_layer[l],
                        upd,
                    ));
                }
            }
            let snn = device_energy(d, "snn", items);
            let fixed = snn.total_j - sop_energy;
            let break_even_rate = if ann.total_j > fixed && sop_energy > 0.0 {
                Some(measured_rate * (ann.total_j - fixed) / sop_energy)
            } else {
                None
            };
            comparisons.push(Comparison {
                snn_device: d.name.clone(),
                snn_j: snn.total_j,
                ann_device: ann_device.name.clone(),
                ann_j: ann.total_j,
                ann_over_snn: ann.total_j / snn.total_j,
                measured_rate,
                break_even_rate,
            });
            out.push(snn);
        }
        out.push(ann);
        let mut all: Vec<&Profile> = devices.to_vec();
        all.push(ann_device);
        let mut notes = vec![
            format!("SNN counts are means over {} samples at T = {} steps, read from the evaluation", eval.samples, at.t),
            format!("ANN: {} MACs, one bias add and one activation (charged as a neuron update) per neuron, per inference", eval.ann_macs_per_sample),
            eval.input_layer_ops.clone(),
            "break-even rate: the mean spike rate at which SOP energy brings the SNN to the ANN's energy, neuron updates and input MACs held at their measured values".into(),
        ];
        if ann_device.add_pj.is_none() {
            notes.push(format!(
                "device `{}` gives no add energy: bias adds charged as MACs",
                ann_device.name
            ));
        }
        if eval.input_macs_per_sample > 0.0 && devices.iter().any(|d| d.mac_pj.is_none()) {
            notes.push(format!(
                "devices without a MAC energy have the input currents computed on `{}`",
                ann_device.name
            ));
        }
        Ok(EnergyReport {
            network: eval.model.clone(),
            per: "inference".into(),
            timesteps: Some(at.t),
            memory,
            devices: out,
            comparisons,
            assumptions: assumptions(&all, memory),
            notes,
        })
    }

    /// Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let t = self
            .timesteps
            .map(|t| format!(" at T = {t}"))
            .unwrap_or_default();
        let _ = writeln!(s, "# Energy of {}{t}, {}\n", self.network, self.per);
        let _ = writeln!(s, "| device | network | total energy |");
        let _ = writeln!(s, "|---|---|---|");
        for d in &self.devices {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                d.device,
                d.network,
                joules(d.total_j)
            );
        }
        if !self.comparisons.is_empty() {
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
        for d in &self.devices {
            let _ = writeln!(s, "\n## {} on {}\n", d.network.to_uppercase(), d.device);
            let _ = writeln!(s, "| part | operation | count | pJ/op | energy | share |");
            let _ = writeln!(s, "|---|---|---|---|---|---|");
            for i in &d.items {
                let share = if d.total_j > 0.0 {
                    100.0 * i.energy_j / d.total_j
                } else {
                    0.0
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} | {} | {} | {share:.1}% |",
                    i.part,
                    i.operation,
                    i.count,
                    i.pj_per_op,
                    joules(i.energy_j)
                );
            }
        }
        let _ = writeln!(s, "\n## Assumptions and sources\n");
        for a in &self.assumptions {
            let _ = writeln!(
                s,
                "- `{}` {} = {} pJ: {}",
                a.device, a.quantity, a.value_pj, a.source
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        s
    }

    /// CSV: one row per counted operation.
    pub fn csv(&self) -> String {
        let mut s = String::from("device,network,part,operation,count,pj_per_op,energy_j\n");
        for d in &self.devices {
            for i in &d.items {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{}",
                    d.device, d.network, i.part, i.operation, i.count, i.pj_per_op, i.energy_j
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

/// A result file read back: a run's `summary.json` or an evaluation's `eval.json`.
pub enum ResultFile {
    /// From `synops run`.
    Run(Box<Summary>),
    /// From `synops eval`.
    Eval(Box<EvalReport>),
}

/// Read a `summary.json` or `eval.json`.
pub fn read_result(path: &Path) -> Result<ResultFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "cannot read", e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let bad = |e: serde_json::Error| Error::Data {
        path: path.to_path_buf(),
        message: format!("not a synops result: {e}"),
    };
    if value.get("timesteps").is_some() {
        Ok(ResultFile::Eval(Box::new(
            serde_json::from_value(value).map_err(bad)?,
        )))
    } else {
        Ok(ResultFile::Run(Box::new(
            serde_json::from_value(value).map_err(bad)?,
        )))
    }
}
