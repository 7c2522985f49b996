//! Export of a compiled network as a NIR graph (`synops export-nir NET.toml -o model.nir`),
//! the inverse of [`super::lower`] with times in seconds:
//!
//! | synops | NIR | chosen so that |
//! |---|---|---|
//! | `if` (spiking / not) | `IF` / `I`, `r = 1` | a weight `w` jumps `v` by `w` |
//! | `lif_delta` | `LIF` / `LI`, `tau = tau_m`, `r = tau`, `v_leak = v_rest` | `R w / tau = w` |
//! | `lif_exp` (one `tau_syn`, spiking) | `CubaLIF`, `r = 1`, `w_in = tau_syn` | `R w_in w / tau_syn = w` |
//! | spike sources, Poisson, analog inputs | `Input` | |
//! | a projection | `Affine` `[targets, sources]` (a kernel written out dense), the target's bias on its first | |
//!
//! A bias becomes the constant input `b` of the NIR ODE (`1000 x` the `if` slope per ms,
//! `bias_mv / r` for `lif_delta`, `bias_mv / (r w_in)` for `lif_exp`); an analog input's
//! current weights are scaled alike. Every projection must take one step (NIR has no delay on
//! an edge); refractory periods, clocked models and two synaptic time constants have no NIR
//! node and are refused. Reset by subtraction and initial potentials are not part of NIR: they
//! are reported as notes (sinabs and `import-nir --reset subtract` read the reset so), as is a
//! `v_reset` other than 0 (NIR 1.0 resets to 0).

use crate::CompiledNetwork;
use crate::error::{Error, Result};
use crate::network::compiled::{Delays, PopulationKind, Projection};
use crate::network::spec::ResetSpec;
use crate::neuron::Model;
use hdf5_pure::FileBuilder;
use std::path::Path;

/// The most weights one exported projection may hold (NIR stores them dense).
const MAX_WEIGHTS: usize = 1 << 26;

/// One node to write: name, NIR type, parameters `(name, shape, values)`.
struct NirNode {
    name: String,
    kind: &'static str,
    params: Vec<(&'static str, Vec<u64>, Vec<f32>)>,
}

/// What an export wrote and what NIR could not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The NIR file's bytes.
    pub bytes: Vec<u8>,
    /// Properties of the network NIR does not express (the reader must be told).
    pub notes: Vec<String>,
}

/// Export `net` (read from `path`, named in errors) as a NIR file's bytes.
pub fn export(net: &CompiledNetwork, path: &Path) -> Result<Exported> {
    let fail = |message: String| Error::Data {
        path: path.to_path_buf(),
        message,
    };
    let mut notes = Vec::new();
    let mut nodes: Vec<NirNode> = Vec::new();
    // Per population: (the constant-input factor of its NIR node, its bias as NIR input).
    let mut scale: Vec<f64> = Vec::with_capacity(net.populations.len());
    let mut biases: Vec<Option<Vec<f64>>> = Vec::with_capacity(net.populations.len());
    for p in &net.populations {
        let (node, factor, bias) = population_node(p, &mut notes).map_err(&fail)?;
        nodes.push(node);
        scale.push(factor);
        biases.push(bias);
    }
    let mut edges: Vec<(String, String)> = Vec::new();
    for (k, pr) in net.projections.iter().enumerate() {
        let node = projection_node(net, k, pr, &scale, &mut biases).map_err(&fail)?;
        edges.push((net.populations[pr.source].name.clone(), node.name.clone()));
        edges.push((node.name.clone(), net.populations[pr.target].name.clone()));
        nodes.push(node);
    }
    for (p, bias) in net.populations.iter().zip(&biases) {
        if bias.as_ref().is_some_and(|b| b.iter().any(|x| *x != 0.0)) {
            return Err(fail(format!(
                "population `{}` has a bias but no projection into it to carry it (NIR puts a bias on an Affine)",
                p.name
            )));
        }
    }
    let outputs = output_populations(net);
    for &o in &outputs {
        let name = format!("output_{}", net.populations[o].name);
        let size = net.populations[o].size;
        nodes.push(NirNode {
            name: name.clone(),
            kind: "Output",
            params: vec![("shape", vec![1], vec![size as f32])],
        });
        edges.push((net.populations[o].name.clone(), name));
    }
    let bytes =
        write(&nodes, &edges).map_err(|e| fail(format!("cannot write the NIR file: {e}")))?;
    Ok(Exported { bytes, notes })
}

/// The populations no projection leaves: the graph's outputs.
fn output_populations(net: &CompiledNetwork) -> Vec<usize> {
    (0..net.populations.len())
        .filter(|&p| net.populations[p].is_neurons())
        .filter(|&p| !net.projections.iter().any(|pr| pr.source == p))
        .collect()
}

/// A population's node, the factor that turns a synops constant input into the NIR input, and
/// its bias (NIR input units) when it has one.
fn population_node(
    p: &crate::network::compiled::Population,
    notes: &mut Vec<String>,
) -> std::result::Result<(NirNode, f64, Option<Vec<f64>>), String> {
    let n = u64::from(p.size);
    let full = |v: f64| vec![v as f32; p.size as usize];
    let (dynamics, initial) = match &p.kind {
        PopulationKind::Neurons { dynamics, initial } => (dynamics, initial),
        PopulationKind::Clocked { .. } => {
            return Err(format!(
                "population `{}`: a clocked model has no NIR node (NIR has IF, LIF, CubaLIF and their non-spiking forms)",
                p.name
            ));
        }
        _ => {
            let node = NirNode {
                name: p.name.clone(),
                kind: "Input",
                params: vec![("shape", vec![1], vec![p.size as f32])],
            };
            return Ok((node, 1.0, None));
        }
    };
    let q = &dynamics.params;
    if q.ref_steps > 0 {
        return Err(format!(
            "population `{}`: NIR has no refractory period (t_ref_ms > 0)",
            p.name
        ));
    }
    if q.spiking && q.reset == ResetSpec::Subtract {
        notes.push(format!(
            "population `{}` resets by subtraction, which NIR does not say: import with --reset subtract (sinabs reads IF so)",
            p.name
        ));
    }
    if initial.iter().any(|a| a.v != 0.0) {
        notes.push(format!(
            "population `{}` starts at a potential other than 0, which NIR does not carry",
            p.name
        ));
    }
    let mut params: Vec<(&'static str, Vec<u64>, Vec<f32>)> = Vec::new();
    let (kind, factor) = match q.model {
        Model::If => {
            params.push(("r", vec![n], full(1.0)));
            (if q.spiking { "IF" } else { "I" }, 1000.0)
        }
        Model::LifDelta => {
            let tau = q.tau_m_ms * 1e-3;
            params.push(("tau", vec![n], full(tau)));
            params.push(("r", vec![n], full(tau)));
            params.push(("v_leak", vec![n], full(q.v_rest_mv)));
            (if q.spiking { "LIF" } else { "LI" }, 1.0 / tau)
        }
        Model::LifExp => {
            if q.tau_exc_ms != q.tau_inh_ms {
                return Err(format!(
                    "population `{}`: CubaLIF has one synaptic time constant; tau_syn_exc_ms {} and tau_syn_inh_ms {} differ",
                    p.name, q.tau_exc_ms, q.tau_inh_ms
                ));
            }
            if !q.spiking {
                return Err(format!(
                    "population `{}`: a non-spiking lif_exp would be a CubaLI, which NIR 1.0 does not define",
                    p.name
                ));
            }
            let tau_syn = q.tau_exc_ms * 1e-3;
            params.push(("tau_syn", vec![n], full(tau_syn)));
            params.push(("tau_mem", vec![n], full(q.tau_m_ms * 1e-3)));
            params.push(("r", vec![n], full(1.0)));
            params.push(("w_in", vec![n], full(tau_syn)));
            params.push(("v_leak", vec![n], full(q.v_rest_mv)));
            ("CubaLIF", 1.0 / tau_syn)
        }
    };
    if q.spiking {
        // NIR 1.0's IF, LIF and CubaLIF reset to 0 and have no `v_reset` field.
        params.push(("v_threshold", vec![n], full(q.v_th_mv)));
        if q.v_reset_mv != 0.0 {
            notes.push(format!(
                "population `{}` resets to {} mV; NIR 1.0 resets to 0",
                p.name, q.v_reset_mv
            ));
        }
    }
    let bias: Vec<f64> = initial.iter().map(|a| a.bias * factor).collect();
    let node = NirNode {
        name: p.name.clone(),
        kind,
        params,
    };
    Ok((node, factor, Some(bias)))
}

/// A projection as an `Affine` node (the target's bias on its first projection).
fn projection_node(
    net: &CompiledNetwork,
    k: usize,
    pr: &Projection,
    scale: &[f64],
    biases: &mut [Option<Vec<f64>>],
) -> std::result::Result<NirNode, String> {
    if pr.plasticity.is_some() {
        return Err(format!(
            "projection `{}` is plastic; NIR holds fixed weights",
            pr.name
        ));
    }
    let one_step = matches!(pr.delays, Delays::Constant(1));
    if !one_step {
        return Err(format!(
            "projection `{}`: a delay of one step is what an edge takes; other delays have no NIR form here",
            pr.name
        ));
    }
    let (s, t) = (&net.populations[pr.source], &net.populations[pr.target]);
    let (ns, nt) = (s.size as usize, t.size as usize);
    if ns.checked_mul(nt).is_none_or(|x| x > MAX_WEIGHTS) {
        return Err(format!(
            "projection `{}`: {ns} x {nt} weights are too many to write dense",
            pr.name
        ));
    }
    // An analog input drives by current: its weights are constant inputs, scaled as biases.
    let current = matches!(
        s.kind,
        PopulationKind::Analog {
            encoding: crate::network::compiled::Encoding::Current,
            ..
        }
    );
    let factor = if current { scale[pr.target] } else { 1.0 };
    let mut w = vec![0f32; ns * nt];
    let mut scratch = crate::network::kernel::KernelScratch::default();
    for src in 0..s.size {
        pr.for_each_synapse(src, &mut scratch, |tgt, x| {
            w[tgt as usize * ns + src as usize] += (x * factor) as f32;
        });
    }
    let bias: Vec<f32> = biases[pr.target]
        .take()
        .unwrap_or_else(|| vec![0.0; nt])
        .iter()
        .map(|&b| b as f32)
        .collect();
    Ok(NirNode {
        name: format!("p{k}_{}", pr.name.replace(['.', '/'], "_")),
        kind: "Affine",
        params: vec![
            ("weight", vec![nt as u64, ns as u64], w),
            ("bias", vec![nt as u64], bias),
        ],
    })
}

/// The NIR file of `nodes` and `edges`, laid out as `nir.write` lays it.
fn write(nodes: &[NirNode], edges: &[(String, String)]) -> std::result::Result<Vec<u8>, String> {
    let mut b = FileBuilder::new();
    b.create_dataset("version")
        .with_vlen_strings(&["1.0.4"])
        .with_shape(&[]);
    let mut root = b.create_group("node");
    root.create_dataset("type")
        .with_vlen_strings(&["NIRGraph"])
        .with_shape(&[]);
    let flat: Vec<&str> = edges
        .iter()
        .flat_map(|(s, t)| [s.as_str(), t.as_str()])
        .collect();
    root.create_dataset("edges")
        .with_vlen_strings(&flat)
        .with_shape(&[edges.len() as u64, 2]);
    let mut group = root.create_group("nodes");
    for node in nodes {
        let mut g = group.create_group(&node.name);
        g.create_dataset("type")
            .with_vlen_strings(&[node.kind])
            .with_shape(&[]);
        for (name, shape, values) in &node.params {
            if node.kind == "Input" || node.kind == "Output" {
                let ints: Vec<i64> = values.iter().map(|&v| v as i64).collect();
                g.create_dataset(name)
                    .with_i64_data(&ints)
                    .with_shape(shape);
            } else {
                g.create_dataset(name)
                    .with_f32_data(values)
                    .with_shape(shape);
            }
        }
        group.add_group(g.finish());
    }
    root.add_group(group.finish());
    b.add_group(root.finish());
    b.finish().map_err(|e| e.to_string())
}
