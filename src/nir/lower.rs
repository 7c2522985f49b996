//! Lowering a NIR graph onto synops' exact models: neuron nodes become populations, the chains
//! of linear nodes between them become projections.
//!
//! NIR nodes are continuous-time systems driven by their input `I(t)`; spikes are unit
//! impulses, so an input spike of weight `w` makes each model jump by what its ODE integrates
//! over the impulse:
//!
//! | NIR node | ODE | synops model | jump of an input spike of weight `w` | constant input `b` (an Affine's bias) |
//! |---|---|---|---|---|
//! | `IF` | `dv/dt = R I` | `if` | `Δv = R w` | slope `R b` (`bias_mv_per_ms`) |
//! | `I` | `dv/dt = R I` | `if`, not spiking | `Δv = R w` | slope `R b` |
//! | `LIF` | `τ dv/dt = v_leak - v + R I` | `lif_delta` | `Δv = R w / τ` | shift `R b` of the rest (`bias_mv`) |
//! | `LI` | the same, no threshold | `lif_delta`, not spiking | `Δv = R w / τ` | shift `R b` |
//! | `CubaLIF` | `τ_syn dI/dt = -I + w_in S`, `τ_mem dv/dt = v_leak - v + R I` | `lif_exp` (both currents with `τ_syn`) | `Δi = R w_in w / τ_syn` (`i = R I`) | shift `R w_in b`, the current's steady state |
//! | `CubaLI` | the same, no threshold | `lif_exp`, not spiking | as `CubaLIF` | as `CubaLIF` |
//!
//! `R`, `w_in` and the bias may differ from neuron to neuron: they are folded into each
//! target's weights. Time constants, thresholds, `v_leak` and `v_reset` (NIR's default 0) are
//! one value per population; a node whose neurons differ in them is refused. Times are in the
//! file's unit: seconds (NIR's, snnTorch's and Norse's) or steps of `dt` (sinabs'), as the
//! caller says. The reset (to `v_reset` as NIR defines it, or by subtraction as sinabs does) is
//! the caller's choice too, and so is what a spike is: a unit impulse, as NIR defines it, or
//! the value 1 held for one step (area `dt`), as exporters that discretize by forward Euler
//! read it (snnTorch writes `r = tau / dt` and `w_in = tau_syn / dt` for that): every jump is
//! then multiplied by `dt` in the file's unit. Every projection takes one step (synops'
//! smallest delay).
//!
//! Between two populations a path may hold `Affine`, `Linear`, `Scale` and `Flatten` nodes in
//! any number (composed into one matrix), or one `SumPool2d`/`AvgPool2d` and then one
//! `Conv2d`, `Conv1d`, `Affine` or `Linear` (a kernel stored once; see
//! [`crate::network::kernel`]); its `Delay` nodes add to the projection's delay.

use super::graph::{Array, Graph, Node, Value};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The unit of the times (time constants) in a NIR file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds, as NIR defines them (snnTorch, Norse, Rockpool, Lava).
    Seconds,
    /// Steps of `dt` (sinabs writes time constants in steps).
    Steps,
}

/// How spiking nodes reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMode {
    /// To `v_reset`, as NIR defines it.
    Value,
    /// By subtracting `v_threshold - v_reset`, as sinabs does.
    Subtract,
}

/// What a spike is as an input signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpikeArea {
    /// A unit impulse (a Dirac delta of area 1), as NIR defines spikes.
    Dirac,
    /// The value 1 held for one step (area `dt` in the file's time unit), as exporters that
    /// discretize by forward Euler read them (snnTorch: `w_in = tau_syn / dt`, `r = tau / dt`).
    Step,
}

/// How to lower a graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// The step \[ms\].
    pub dt_ms: f64,
    /// The unit of the file's times.
    pub time_unit: TimeUnit,
    /// The reset of spiking nodes.
    pub reset: ResetMode,
    /// What a spike is as an input.
    pub spike: SpikeArea,
}

impl Options {
    /// The area of one spike in the file's time unit (the factor of every jump).
    fn spike_area(&self) -> f64 {
        match self.spike {
            SpikeArea::Dirac => 1.0,
            SpikeArea::Step => self.dt_ms / self.ms_per_unit(),
        }
    }

    /// Milliseconds per unit of the file's times.
    fn ms_per_unit(&self) -> f64 {
        match self.time_unit {
            TimeUnit::Seconds => 1000.0,
            TimeUnit::Steps => self.dt_ms,
        }
    }
}

/// The synops model a neuron node becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// `if` (from `IF`, or `I` not spiking).
    If,
    /// `lif_delta` (from `LIF`, or `LI` not spiking).
    LifDelta,
    /// `lif_exp` (from `CubaLIF`, or `CubaLI` not spiking).
    LifExp,
}

/// A population of the lowered network.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    /// The population's name (the node's, made valid).
    pub name: String,
    /// The NIR node it comes from.
    pub node: String,
    /// The NIR type.
    pub kind: String,
    /// `[C, H, W]`, `[n]`, ...
    pub shape: Vec<usize>,
    /// `None` for an input (a spike source).
    pub model: Option<Model>,
    /// Whether it spikes.
    pub spiking: bool,
    /// Scalar parameters by synops field name (`tau_m_ms`, `v_th_mv`, ...).
    pub params: Vec<(&'static str, f64)>,
    /// Per-neuron jump factor of an input weight (`R`, `R / τ`, `R w_in / τ_syn`).
    pub jump: Vec<f64>,
    /// Per-neuron factor of a constant input into a bias (see the module table).
    pub bias_factor: Vec<f64>,
    /// Per-neuron bias, summed over the incoming paths (in synops' unit).
    pub bias: Vec<f64>,
    /// Whether the graph's Output reads it.
    pub output: bool,
}

impl Population {
    /// Neurons.
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// How a projection's synapses are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Synapses {
    /// Every source to every target, `[targets, sources]` row-major.
    Dense(Vec<f64>),
    /// A convolution (or a linear layer after a flatten), optionally after a pooling.
    Kernel(Box<Kernel>),
}

/// A kernel projection (see `rule = "conv"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// `[out, in / groups, kh, kw]`, or `[out, in]` for a linear layer after a flatten.
    pub shape: Vec<usize>,
    /// The weights, already multiplied by the target's jump factor.
    pub weights: Vec<f64>,
    /// The source's `[C, H, W]`.
    pub input: [usize; 3],
    /// `[rows, cols]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub padding: [usize; 4],
    /// `[rows, cols]`.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// A pooling before the kernel: `(kernel, stride, padding [t, l, b, r])`, averaging (a sum
    /// pooling is an average whose divisor is folded into the weights).
    pub pool: Option<([usize; 2], [usize; 2], [usize; 4])>,
}

/// A projection of the lowered network.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Index of the source population.
    pub source: usize,
    /// Index of the target population.
    pub target: usize,
    /// The NIR nodes of the path, source to target.
    pub path: Vec<String>,
    /// The synapses.
    pub synapses: Synapses,
    /// The delay \[steps\]: one, plus the path's `Delay` nodes.
    pub delay_steps: u32,
}

/// A lowered graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    /// Populations: inputs first, in the file's order.
    pub populations: Vec<Population>,
    /// Projections.
    pub projections: Vec<Projection>,
    /// What was assumed, one line per population.
    pub notes: Vec<String>,
}

/// The most paths between populations a graph may have (a hostile graph of parallel linear
/// nodes could have exponentially many).
const MAX_PATHS: usize = 10_000;

/// The NIR types synops lowers.
pub const SUPPORTED: &[&str] = &[
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "Flatten",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Conv1d",
    "Delay",
    "IF",
    "I",
    "LIF",
    "LI",
    "CubaLIF",
    "CubaLI",
];

const NEURONS: &[&str] = &["IF", "I", "LIF", "LI", "CubaLIF", "CubaLI"];

/// Lower `graph` (read from `path`, named in errors).
pub fn lower(graph: &Graph, path: &Path, options: &Options) -> Result<Lowered> {
    let fail = |message: String| Error::Data {
        path: path.to_path_buf(),
        message,
    };
    if !(options.dt_ms > 0.0 && options.dt_ms.is_finite()) {
        return Err(fail(format!(
            "--dt-ms: {} is not a step (a positive number of milliseconds)",
            options.dt_ms
        )));
    }
    for node in &graph.nodes {
        if !SUPPORTED.contains(&node.kind.as_str()) {
            return Err(fail(format!(
                "node `{}` is a `{}`, which synops does not import (it imports {})",
                node.name,
                node.kind,
                SUPPORTED.join(", ")
            )));
        }
    }
    let mut lowered = Lowered {
        populations: Vec::new(),
        projections: Vec::new(),
        notes: Vec::new(),
    };
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let is_source = |n: &Node| n.kind == "Input" && !n.nested;
    for node in graph.nodes.iter().filter(|n| is_source(n)) {
        let pop = input_population(node).map_err(fail)?;
        index.insert(node.name.clone(), lowered.populations.len());
        lowered.populations.push(pop);
    }
    for node in graph
        .nodes
        .iter()
        .filter(|n| NEURONS.contains(&n.kind.as_str()))
    {
        let pop = neuron_population(node, options).map_err(fail)?;
        lowered.notes.push(note(&pop, options));
        index.insert(node.name.clone(), lowered.populations.len());
        lowered.populations.push(pop);
    }
    if lowered.populations.iter().all(|p| p.model.is_none()) {
        return Err(fail(
            "the graph has no neuron node (IF, LIF, CubaLIF, ...)".into(),
        ));
    }
    let incoming = predecessors(graph);
    for (name, &target) in &index {
        if lowered.populations[target].model.is_none() {
            continue;
        }
        for path_nodes in paths_into(graph, &incoming, &index, name).map_err(fail)? {
            let source = index[&path_nodes[0]];
            let projection = lower_path(
                graph,
                &lowered.populations,
                (source, target),
                &path_nodes,
                options,
            )
            .map_err(|m| fail(format!("the path {}: {m}", path_nodes.join(" -> "))))?;
            if let Some((proj, bias)) = projection {
                add_bias(&mut lowered.populations[target], &bias);
                lowered.projections.push(proj);
            }
        }
    }
    mark_outputs(graph, &incoming, &index, &mut lowered).map_err(fail)?;
    Ok(lowered)
}

/// The spike source of a top-level `Input` node.
fn input_population(node: &Node) -> std::result::Result<Population, String> {
    let shape = node
        .array("shape")
        .ok_or_else(|| format!("node `{}` (Input) has no `shape`", node.name))?;
    let dims = whole_numbers(&shape.values)
        .filter(|d| !d.is_empty() && d.iter().all(|&x| x > 0))
        .ok_or_else(|| {
            format!(
                "node `{}` (Input): shape {:?} is not a list of positive sizes",
                node.name, shape.values
            )
        })?;
    checked_size(&node.name, &dims)?;
    Ok(Population {
        name: crate::network::names::to_name(&node.name),
        node: node.name.clone(),
        kind: node.kind.clone(),
        shape: dims,
        model: None,
        spiking: true,
        params: Vec::new(),
        jump: Vec::new(),
        bias_factor: Vec::new(),
        bias: Vec::new(),
        output: false,
    })
}

/// The most neurons one node may have.
const MAX_NEURONS: usize = 100_000_000;

fn checked_size(node: &str, dims: &[usize]) -> std::result::Result<usize, String> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_NEURONS)
        .ok_or_else(|| format!("node `{node}`: shape {dims:?} is more than {MAX_NEURONS} neurons"))
}

fn whole_numbers(values: &[f64]) -> Option<Vec<usize>> {
    values
        .iter()
        .map(|&v| (v >= 0.0 && v.fract() == 0.0 && v < 1e15).then_some(v as usize))
        .collect()
}

/// A neuron node's parameters: `name` as one value per neuron (a scalar repeated), or the
/// default where the node has none.
struct Params<'n> {
    node: &'n Node,
    shape: Vec<usize>,
    size: usize,
}

impl<'n> Params<'n> {
    /// The node's neurons: the shape of its largest parameter (`main` must be there).
    fn new(node: &'n Node, main: &str) -> std::result::Result<Self, String> {
        node.array(main)
            .ok_or_else(|| format!("node `{}` ({}) has no `{main}`", node.name, node.kind))?;
        let array = node
            .params
            .values()
            .filter_map(|v| match v {
                Value::Numbers(a) => Some(a),
                Value::Text(_) => None,
            })
            .max_by_key(|a| a.values.len())
            .expect("the node has `main`");
        let shape = if array.shape.is_empty() {
            vec![1]
        } else {
            array.shape.clone()
        };
        let size = checked_size(&node.name, &shape)?;
        Ok(Params { node, shape, size })
    }

    fn per_neuron(
        &self,
        name: &str,
        default: Option<f64>,
    ) -> std::result::Result<Vec<f64>, String> {
        let at = || format!("node `{}` ({}): `{name}`", self.node.name, self.node.kind);
        let values = match (self.node.array(name), default) {
            (Some(a), _) => self.spread(a).ok_or_else(|| {
                format!(
                    "{}: shape {:?} does not fit the node's {} neurons (shape {:?})",
                    at(),
                    a.shape,
                    self.size,
                    self.shape
                )
            })?,
            (None, Some(d)) => vec![d; self.size],
            (None, None) => return Err(format!("{} is missing", at())),
        };
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(format!("{}: {v} is not a finite number", at()));
        }
        Ok(values)
    }

    fn spread(&self, a: &Array) -> Option<Vec<f64>> {
        match a.values.len() {
            1 => Some(vec![a.values[0]; self.size]),
            n if n == self.size => Some(a.values.clone()),
            _ => None,
        }
    }

    /// One value for the whole node; refused when its neurons differ.
    fn uniform(&self, name: &str, default: Option<f64>) -> std::result::Result<f64, String> {
        let values = self.per_neuron(name, default)?;
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        if lo != hi {
            return Err(format!(
                "node `{}` ({}): `{name}` ranges from {lo} to {hi} across its neurons; a synops population has one value",
                self.node.name, self.node.kind
            ));
        }
        Ok(lo)
    }

    fn positive(&self, name: &str) -> std::result::Result<f64, String> {
        let v = self.uniform(name, None)?;
        if v > 0.0 {
            Ok(v)
        } else {
            Err(format!(
                "node `{}` ({}): `{name}` = {v}, a time constant above 0",
                self.node.name, self.node.kind
            ))
        }
    }
}

/// The population of a neuron node, with its model, parameters and factors.
fn neuron_population(node: &Node, options: &Options) -> std::result::Result<Population, String> {
    let kind = node.kind.as_str();
    let spiking = matches!(kind, "IF" | "LIF" | "CubaLIF");
    let main = match kind {
        "IF" | "LIF" | "CubaLIF" => "v_threshold",
        "I" => "r",
        "LI" => "tau",
        _ => "tau_mem",
    };
    let p = Params::new(node, main)?;
    let unit = options.ms_per_unit();
    let r = p.per_neuron("r", Some(1.0))?;
    let mut params: Vec<(&'static str, f64)> = Vec::new();
    let (model, mut jump, bias_factor) = match kind {
        "IF" | "I" => (Model::If, r.clone(), r.iter().map(|r| r / unit).collect()),
        "LIF" | "LI" => {
            let tau = p.positive("tau")?;
            params.push(("tau_m_ms", tau * unit));
            params.push(("v_rest_mv", p.uniform("v_leak", Some(0.0))?));
            (
                Model::LifDelta,
                r.iter().map(|r| r / tau).collect(),
                r.clone(),
            )
        }
        _ => {
            let (tau_mem, tau_syn) = (p.positive("tau_mem")?, p.positive("tau_syn")?);
            let w_in = p.per_neuron("w_in", Some(1.0))?;
            params.push(("tau_m_ms", tau_mem * unit));
            params.push(("tau_syn_exc_ms", tau_syn * unit));
            params.push(("tau_syn_inh_ms", tau_syn * unit));
            params.push(("v_rest_mv", p.uniform("v_leak", Some(0.0))?));
            let rw: Vec<f64> = r.iter().zip(&w_in).map(|(r, w)| r * w).collect();
            (Model::LifExp, rw.iter().map(|x| x / tau_syn).collect(), rw)
        }
    };
    let area = options.spike_area();
    for j in &mut jump {
        *j *= area;
    }
    if spiking {
        params.push(("v_th_mv", p.uniform("v_threshold", None)?));
        params.push(("v_reset_mv", p.uniform("v_reset", Some(0.0))?));
    } else {
        // Never reached: the population does not spike.
        params.push(("v_th_mv", f64::MAX));
    }
    Ok(Population {
        name: crate::network::names::to_name(&node.name),
        node: node.name.clone(),
        kind: kind.to_string(),
        shape: p.shape.clone(),
        model: Some(model),
        spiking,
        params,
        jump,
        bias_factor,
        bias: vec![0.0; p.size],
        output: false,
    })
}

/// The line of the import report for a population.
fn note(p: &Population, options: &Options) -> String {
    let model = match p.model {
        Some(Model::If) => "if",
        Some(Model::LifDelta) => "lif_delta",
        Some(Model::LifExp) => "lif_exp",
        None => "spike_source",
    };
    let params: Vec<String> = p
        .params
        .iter()
        .filter(|(k, _)| *k != "v_th_mv" || p.spiking)
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let reset = match (p.spiking, options.reset) {
        (false, _) => "not spiking",
        (true, ResetMode::Value) => "reset to v_reset",
        (true, ResetMode::Subtract) => "reset by subtraction",
    };
    let jump = match p.kind.as_str() {
        "IF" | "I" => "jump R w",
        "LIF" | "LI" => "jump R w / tau",
        _ => "current jump R w_in w / tau_syn",
    };
    format!(
        "{} ({}, {} neurons) -> {model}: {}; {reset}; {jump}",
        p.node,
        p.kind,
        p.size(),
        params.join(", ")
    )
}

/// For every node, the nodes with an edge into it.
fn predecessors(graph: &Graph) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (s, t) in &graph.edges {
        map.entry(t.as_str()).or_default().push(s.as_str());
    }
    map
}

/// Every path of non-population nodes from a population into `target`, each written source
/// population first and without the target.
fn paths_into(
    graph: &Graph,
    incoming: &BTreeMap<&str, Vec<&str>>,
    populations: &BTreeMap<String, usize>,
    target: &str,
) -> std::result::Result<Vec<Vec<String>>, String> {
    let mut found = Vec::new();
    let mut stack: Vec<Vec<String>> = incoming
        .get(target)
        .map(|v| v.iter().map(|s| vec![s.to_string()]).collect())
        .unwrap_or_default();
    while let Some(reversed) = stack.pop() {
        let head = reversed.last().expect("a path has a node").clone();
        if populations.contains_key(&head) {
            found.push(reversed.into_iter().rev().collect());
            if found.len() > MAX_PATHS {
                return Err(format!("more than {MAX_PATHS} paths lead into `{target}`"));
            }
            continue;
        }
        let node = graph
            .node(&head)
            .ok_or_else(|| format!("an edge names the missing node `{head}`"))?;
        let sources = incoming.get(head.as_str()).cloned().unwrap_or_default();
        if sources.is_empty() && !(node.kind == "Input" && node.nested) {
            return Err(format!(
                "node `{head}` ({}) leads into `{target}` but nothing leads into it",
                node.kind
            ));
        }
        for s in sources {
            if reversed.iter().any(|n| n == s) {
                return Err(format!(
                    "a loop of linear nodes without neurons passes through `{s}`"
                ));
            }
            let mut longer = reversed.clone();
            longer.push(s.to_string());
            stack.push(longer);
        }
    }
    found.sort();
    Ok(found)
}

/// Mark the populations the graph's `Output` nodes read.
fn mark_outputs(
    graph: &Graph,
    incoming: &BTreeMap<&str, Vec<&str>>,
    index: &BTreeMap<String, usize>,
    lowered: &mut Lowered,
) -> std::result::Result<(), String> {
    for out in graph
        .nodes
        .iter()
        .filter(|n| n.kind == "Output" && !n.nested)
    {
        for path in paths_into(graph, incoming, index, &out.name)? {
            let passes = path[1..]
                .iter()
                .all(|n| graph.node(n).is_some_and(|n| n.nested));
            if !passes {
                return Err(format!(
                    "the Output `{}` reads {} through linear nodes; synops reads the outputs of neuron nodes",
                    out.name,
                    path.join(" -> ")
                ));
            }
            lowered.populations[index[&path[0]]].output = true;
        }
    }
    Ok(())
}

fn add_bias(p: &mut Population, bias: &[f64]) {
    for ((b, x), f) in p.bias.iter_mut().zip(bias).zip(&p.bias_factor) {
        *b += x * f;
    }
}

/// A path's nodes as operations on the way from source to target.
enum Op<'g> {
    /// `y = W x + b`: `[out, in]`.
    Matrix(&'g Array, Option<&'g Array>),
    /// `y = s * x` per element.
    Scale(&'g Array),
    /// Nothing (flatten, or a subgraph's Input or Output).
    Pass,
    /// A pooling or a convolution (lowered by [`super::kernel`]).
    Kernel,
}

fn op<'g>(node: &'g Node) -> std::result::Result<Op<'g>, String> {
    let array = |name: &str| {
        node.array(name)
            .ok_or_else(|| format!("node `{}` ({}) has no `{name}`", node.name, node.kind))
    };
    Ok(match node.kind.as_str() {
        "Affine" => Op::Matrix(array("weight")?, node.array("bias")),
        "Linear" => Op::Matrix(array("weight")?, None),
        "Scale" => Op::Scale(array("scale")?),
        "Flatten" | "Input" | "Output" => Op::Pass,
        "SumPool2d" | "AvgPool2d" | "Conv2d" | "Conv1d" => Op::Kernel,
        // Lowered as the projection's delay (see [`path_delay`]).
        "Delay" => Op::Pass,
        other => {
            return Err(format!(
                "`{}` ({other}) cannot lie between populations",
                node.name
            ));
        }
    })
}

/// The projection of one path and the bias it brings to the target (per target neuron, in
/// the input's unit), or `None` for a path that carries nothing (all weights zero).
fn lower_path(
    graph: &Graph,
    populations: &[Population],
    (source, target): (usize, usize),
    path: &[String],
    options: &Options,
) -> std::result::Result<Option<(Projection, Vec<f64>)>, String> {
    let delay_steps = 1 + path_delay(&ops_nodes(graph, path), options)?;
    let ops: Vec<Op> = path[1..]
        .iter()
        .map(|n| op(graph.node(n).expect("paths hold existing nodes")))
        .collect::<std::result::Result<_, _>>()?;
    let (src, tgt) = (&populations[source], &populations[target]);
    let kernel = ops.iter().any(|o| matches!(o, Op::Kernel));
    let (synapses, bias) = if kernel {
        super::kernel::lower_kernel(&ops_nodes(graph, path), src, tgt)?
    } else {
        dense(&ops, src.size(), tgt)?
    };
    Ok(Some((
        Projection {
            source,
            target,
            path: path.to_vec(),
            synapses,
            delay_steps,
        },
        bias,
    )))
}

/// The steps of a path's `Delay` nodes (each one value for all its elements).
fn path_delay(nodes: &[&Node], options: &Options) -> std::result::Result<u32, String> {
    let mut steps = 0u32;
    for node in nodes.iter().filter(|n| n.kind == "Delay") {
        let values = &node
            .array("delay")
            .ok_or_else(|| format!("node `{}` (Delay) has no `delay`", node.name))?
            .values;
        let first = values.first().copied().unwrap_or(0.0);
        if values.iter().any(|&d| d != first) {
            return Err(format!(
                "node `{}` (Delay): its elements have different delays; synops lowers one delay per Delay node",
                node.name
            ));
        }
        let exact = first * options.ms_per_unit() / options.dt_ms;
        let whole = exact.round();
        if !(first >= 0.0 && (exact - whole).abs() <= 1e-6 * whole.max(1.0) && whole < 1e9) {
            return Err(format!(
                "node `{}` (Delay): {first} is not a whole number of steps of {} ms",
                node.name, options.dt_ms
            ));
        }
        steps += whole as u32;
    }
    Ok(steps)
}

fn ops_nodes<'g>(graph: &'g Graph, path: &[String]) -> Vec<&'g Node> {
    path[1..]
        .iter()
        .map(|n| graph.node(n).expect("paths hold existing nodes"))
        .collect()
}

/// Compose a chain of matrices, scales and flattens into one `[targets, sources]` matrix of
/// jumps and a bias.
fn dense(
    ops: &[Op],
    sources: usize,
    target: &Population,
) -> std::result::Result<(Synapses, Vec<f64>), String> {
    // The identity as the start: rows are the current outputs.
    let mut rows = sources;
    let mut w: Option<Vec<f64>> = None;
    let mut bias = vec![0.0; sources];
    for o in ops {
        match o {
            Op::Pass => {}
            Op::Scale(s) => {
                if s.values.len() != rows && s.values.len() != 1 {
                    return Err(format!(
                        "a Scale of {} values on {rows} values",
                        s.values.len()
                    ));
                }
                let scale = |i: usize| {
                    if s.values.len() == 1 {
                        s.values[0]
                    } else {
                        s.values[i]
                    }
                };
                let m = w.get_or_insert_with(|| identity(sources));
                for i in 0..rows {
                    for x in &mut m[i * sources..(i + 1) * sources] {
                        *x *= scale(i);
                    }
                    bias[i] *= scale(i);
                }
            }
            Op::Matrix(weight, b) => {
                let (out, inp) = match weight.shape.as_slice() {
                    [o, i] => (*o, *i),
                    [o] => (*o, 1),
                    s => return Err(format!("a weight of shape {s:?}, expected [out, in]")),
                };
                if inp != rows {
                    return Err(format!("a weight [{out}, {inp}] on {rows} values"));
                }
                if out.checked_mul(sources).is_none_or(|n| n > 1 << 28) {
                    return Err(format!(
                        "{out} x {sources} weights are too many for dense rows"
                    ));
                }
                let prev = w.take().unwrap_or_else(|| identity(sources));
                let mut next = vec![0.0; out * sources];
                let mut next_bias = vec![0.0; out];
                for o in 0..out {
                    let wrow = &weight.values[o * inp..(o + 1) * inp];
                    for (k, &wk) in wrow.iter().enumerate().filter(|(_, w)| **w != 0.0) {
                        let prow = &prev[k * sources..(k + 1) * sources];
                        for (x, p) in next[o * sources..(o + 1) * sources].iter_mut().zip(prow) {
                            *x += wk * p;
                        }
                        next_bias[o] += wk * bias[k];
                    }
                    if let Some(b) = b {
                        next_bias[o] += b.values.get(o).copied().unwrap_or(0.0);
                    }
                }
                if let Some(b) = b
                    && b.values.len() != out
                {
                    return Err(format!(
                        "a bias of {} values for {out} outputs",
                        b.values.len()
                    ));
                }
                w = Some(next);
                bias = next_bias;
                rows = out;
            }
            Op::Kernel => unreachable!("kernel paths are lowered apart"),
        }
    }
    if rows != target.size() {
        return Err(format!(
            "it carries {rows} values into `{}`, which has {} neurons",
            target.node,
            target.size()
        ));
    }
    let mut m = w.unwrap_or_else(|| identity(sources));
    for (j, row) in m.chunks_mut(sources).enumerate() {
        for x in row {
            *x *= target.jump[j];
        }
    }
    Ok((Synapses::Dense(m), bias))
}

fn identity(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
    m
}

/// A parameter read as text (`padding = "same"`), if it is one.
pub fn text<'n>(node: &'n Node, name: &str) -> Option<&'n str> {
    match node.params.get(name) {
        Some(Value::Text(t)) => Some(t.as_str()),
        _ => None,
    }
}
