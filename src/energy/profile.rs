//! Hardware profiles: the energy of each operation on one device, how the device executes a
//! spiking network, and the published source and operating point of every value.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

/// How a device runs a spiking network, which decides what its neurons cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Execution {
    /// Every mapped neuron is updated at every time step (Loihi, SpiNNaker, and the
    /// CPU/GPU/ARM profiles in KerasSpiking's convention): neurons x steps updates, split into
    /// active and inactive ones where the profile prices them apart.
    Clock,
    /// A neuron costs an update only in the steps in which it is active: it received an input
    /// event, carries a constant current, or spiked.
    Event,
    /// One figure per synaptic event that already includes neuron updates, memory and routing
    /// at its calibration point (TrueNorth).
    AllIn,
}

impl Execution {
    /// The name used in profile files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Execution::Clock => "clock",
            Execution::Event => "event",
            Execution::AllIn => "all_in",
        }
    }
}

/// One level of the memory that holds the weights: a weight fetch costs `read_pj` when all
/// weights fit in `capacity_bytes` (no capacity: the last level, e.g. DRAM).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryTier {
    /// Name, e.g. `SRAM 8 KB`.
    pub name: String,
    /// Capacity \[bytes\]; absent for the last level.
    pub capacity_bytes: Option<u64>,
    /// Energy of one weight fetch (a 64-bit read) \[pJ\].
    pub read_pj: f64,
}

/// One device's energy per operation \[pJ\], with its execution model and sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name used on the command line.
    pub name: String,
    /// One line describing the device.
    pub description: String,
    /// Neuromorphic or digital.
    pub kind: DeviceKind,
    /// How the device runs a spiking network (required).
    pub execution: Execution,
    /// Where the values hold (voltage, process, calibration network), as the sources state it.
    pub operating_point: String,
    /// Energy per synaptic operation \[pJ\].
    pub sop_pj: Option<f64>,
    /// Energy per (active) neuron update \[pJ\]. Absent on a digital profile with
    /// `multiply_pj` and `add_pj`: an update then costs the arithmetic of its model.
    pub neuron_update_pj: Option<f64>,
    /// Clock execution: energy per update of an inactive neuron \[pJ\] (default: the active one).
    pub inactive_neuron_update_pj: Option<f64>,
    /// Energy per spike sent by a neuron \[pJ\] (routing within a tile).
    pub spike_pj: Option<f64>,
    /// Energy per east-west hop of a spike between tiles \[pJ\] (charged with `--hops`).
    pub hop_east_west_pj: Option<f64>,
    /// Energy per north-south hop of a spike between tiles \[pJ\] (charged with `--hops`).
    pub hop_north_south_pj: Option<f64>,
    /// Energy per synaptic weight update \[pJ\] (plasticity: charged per `synaptic_updates`).
    pub synaptic_update_pj: Option<f64>,
    /// Energy per multiply-accumulate \[pJ\].
    pub mac_pj: Option<f64>,
    /// Energy per multiplication \[pJ\].
    pub multiply_pj: Option<f64>,
    /// Energy per addition \[pJ\].
    pub add_pj: Option<f64>,
    /// Bytes of one stored weight (picks the memory tier; default 4).
    pub weight_bytes: Option<u64>,
    /// Memory levels, smallest first; one weight fetch per SOP and MAC is charged at the first
    /// level that holds all the weights. Absent: weight reads are included in `sop_pj`, as the
    /// source says, or not modelled.
    #[serde(default)]
    pub memory: Vec<MemoryTier>,
    /// Source of every value given, by field name (`memory` for the tiers).
    pub sources: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: Vec<Profile>,
}

impl Profile {
    /// Every per-operation value, by field name.
    pub fn values(&self) -> [(&'static str, Option<f64>); 11] {
        [
            ("sop_pj", self.sop_pj),
            ("neuron_update_pj", self.neuron_update_pj),
            ("inactive_neuron_update_pj", self.inactive_neuron_update_pj),
            ("spike_pj", self.spike_pj),
            ("hop_east_west_pj", self.hop_east_west_pj),
            ("hop_north_south_pj", self.hop_north_south_pj),
            ("synaptic_update_pj", self.synaptic_update_pj),
            ("mac_pj", self.mac_pj),
            ("multiply_pj", self.multiply_pj),
            ("add_pj", self.add_pj),
            (
                "memory",
                self.memory.first().map(|_| self.memory[0].read_pj),
            ),
        ]
    }

    /// Bytes of one stored weight.
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes.unwrap_or(4)
    }

    /// The memory tier that holds `bytes` of weights, if the profile models memory.
    pub fn memory_tier(&self, bytes: u64) -> Option<&MemoryTier> {
        self.memory
            .iter()
            .find(|m| m.capacity_bytes.is_none_or(|c| bytes <= c))
    }

    fn check(&self, path: &Path) -> Result<()> {
        let field = |f: &str| format!("profile \"{}\".{f}", self.name);
        let bad = |f: &str, m: String| Err(Error::invalid(path, field(f), m));
        for (name, value) in self.values() {
            let Some(v) = value else { continue };
            if !v.is_finite() || v < 0.0 {
                return bad(
                    name,
                    format!("energy must be a finite number >= 0 pJ, got {v}"),
                );
            }
            if self.sources.get(name).is_none_or(|s| s.trim().is_empty()) {
                return bad(name, "has no source: add it under [profile.sources]".into());
            }
        }
        for key in self.sources.keys() {
            if !self.values().iter().any(|(n, v)| n == key && v.is_some()) {
                return bad(
                    &format!("sources.{key}"),
                    "a source for a value the profile does not give".into(),
                );
            }
        }
        self.check_memory(path)?;
        self.check_execution(path)
    }

    fn check_memory(&self, path: &Path) -> Result<()> {
        let field = |f: &str| format!("profile \"{}\".{f}", self.name);
        for (k, m) in self.memory.iter().enumerate() {
            let f = field(&format!("memory[{k}].read_pj"));
            if !m.read_pj.is_finite() || m.read_pj < 0.0 {
                let msg = format!("energy must be a finite number >= 0 pJ, got {}", m.read_pj);
                return Err(Error::invalid(path, f, msg));
            }
            let last = k + 1 == self.memory.len();
            if m.capacity_bytes.is_none() != last {
                let msg = "every memory tier but the last gives capacity_bytes; the last (the one that holds any size) gives none";
                return Err(Error::invalid(path, field(&format!("memory[{k}]")), msg));
            }
        }
        let caps: Vec<u64> = self
            .memory
            .iter()
            .filter_map(|m| m.capacity_bytes)
            .collect();
        if caps.windows(2).any(|w| w[0] >= w[1]) {
            let msg = "memory tiers must be listed smallest first";
            return Err(Error::invalid(path, field("memory"), msg));
        }
        if self.weight_bytes == Some(0) {
            return Err(Error::invalid(
                path,
                field("weight_bytes"),
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn check_execution(&self, path: &Path) -> Result<()> {
        let field = |f: &str| format!("profile \"{}\".{f}", self.name);
        let per_model = self.multiply_pj.is_some() && self.add_pj.is_some();
        match self.execution {
            Execution::AllIn => {
                if !self.memory.is_empty() {
                    let msg = "an all-in profile already includes memory accesses in its per-event energy";
                    return Err(Error::invalid(path, field("memory"), msg));
                }
                if self.neuron_update_pj.is_some() || self.inactive_neuron_update_pj.is_some() {
                    let msg = "an all-in profile includes neuron updates in its per-event energy";
                    return Err(Error::invalid(path, field("neuron_update_pj"), msg));
                }
            }
            Execution::Event if self.inactive_neuron_update_pj.is_some() => {
                let msg = "an event-driven device does not update inactive neurons";
                return Err(Error::invalid(
                    path,
                    field("inactive_neuron_update_pj"),
                    msg,
                ));
            }
            _ if self.neuron_update_pj.is_none() && !per_model && self.sop_pj.is_some() => {
                let msg = "a spiking device needs neuron_update_pj, or multiply_pj and add_pj to price each model's update";
                return Err(Error::invalid(path, field("neuron_update_pj"), msg));
            }
            _ => {}
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
        let text = crate::files::read_text(path, crate::files::InputKind::Text)?;
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
