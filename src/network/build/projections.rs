//! Projections: weights (their field, sign, receptor and bound), delays and the connectivity
//! rule planned for every projection, then the synapse tables generated.

use super::*;

/// The weight field a projection or drive into `target` must use (`weight_mv`, or `weight_ns`
/// for conductance-based targets), refusing the other one.
pub(super) fn weight_field(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    (target, name): (&Population, &str),
    (mv, ns): (bool, bool),
) -> Result<&'static str> {
    let synapses = target.synapses();
    let wanted = synapses.weight_field();
    let wrong = match synapses {
        crate::model::Synapses::Voltage => ns.then_some("weight_ns"),
        crate::model::Synapses::Conductance => mv.then_some("weight_mv"),
    };
    match wrong {
        Some(wrong) => Err(ctx.err(
            field(wrong),
            format!(
                "population `{name}` (model `{}`) takes its weights as {wanted}",
                target.model_name().unwrap_or("source")
            ),
        )),
        None => Ok(wanted),
    }
}

/// The receptor of a projection or drive: the one named, or else by the sign of its lowest
/// weight (conductances, always ≥ 0: excitatory unless named).
pub(super) fn receptor_of(
    named: Option<ReceptorSpec>,
    lowest: f64,
    synapses: crate::model::Synapses,
) -> Receptor {
    match named {
        Some(ReceptorSpec::Exc) => Receptor::Exc,
        Some(ReceptorSpec::Inh) => Receptor::Inh,
        None if lowest >= 0.0 || synapses == crate::model::Synapses::Conductance => Receptor::Exc,
        None => Receptor::Inh,
    }
}

/// Whether weights in `(lo, hi)` have the sign `receptor` takes: conductances ≥ 0 for both,
/// potentials ≥ 0 for excitatory and ≤ 0 for inhibitory.
pub(super) fn weight_sign_ok(
    receptor: Receptor,
    (lo, hi): (f64, f64),
    synapses: crate::model::Synapses,
) -> bool {
    match (synapses, receptor) {
        (crate::model::Synapses::Conductance, _) | (_, Receptor::Exc) => lo >= 0.0 && hi >= 0.0,
        (_, Receptor::Inh) => lo <= 0.0 && hi <= 0.0,
    }
}

/// The refusal of weights of the wrong sign.
pub(super) fn weight_sign_message(receptor: Receptor, synapses: crate::model::Synapses) -> String {
    if synapses == crate::model::Synapses::Conductance {
        return "conductance weights must be >= 0 for both receptors (name the receptor: receptor = \"inh\")".to_string();
    }
    format!(
        "weights of an {} projection must be {} (one sign per projection; a normal distribution is redrawn where it crosses zero)",
        if receptor == Receptor::Exc {
            "excitatory"
        } else {
            "inhibitory"
        },
        if receptor == Receptor::Exc {
            ">= 0"
        } else {
            "<= 0"
        }
    )
}

impl PlannedProjection {
    /// The target population's index.
    pub(super) fn target(&self) -> usize {
        self.target
    }
}

/// A checked projection whose synapses are not generated yet.
pub(super) struct PlannedProjection {
    name: String,
    source: usize,
    target: usize,
    receptor: Receptor,
    /// `None` for an explicit list.
    rule: Option<Rule>,
    shape: Shape,
    weight: ValueSpec,
    /// `(lowest, highest, drawn per synapse)` in steps.
    delay: (u32, u32, bool),
    /// The CSV file and its rows for `from_file`.
    explicit: Option<(PathBuf, CsvRows)>,
    /// Weights read from a tensor: a dense projection's source-major rows, or a kernel.
    tensor: Option<Weights>,
    /// The synapse table of a tensor projection that is not dense rows, built once while
    /// planning: a kernel's fan-outs, or the kept synapses of a dense layer without its zeros.
    kernel_rows: Option<Csr>,
}

/// Refuse weights (or current amplitudes) in `range` whose size alone takes `target`'s state
/// beyond its bound (see [`crate::neuron::Dynamics::state_bound`]).
pub(super) fn check_weight_bound(
    ctx: &Ctx,
    (field, what): (&str, &str),
    range: (f64, f64),
    target: &Population,
) -> Result<()> {
    let bound = match &target.kind {
        PopulationKind::Neurons { dynamics, .. } => dynamics.state_bound(),
        PopulationKind::Clocked { model, .. } => model.state_bound(),
        _ => return Ok(()),
    };
    let largest = range.0.abs().max(range.1.abs());
    let unit = match target.synapses() {
        crate::model::Synapses::Voltage => "mV",
        crate::model::Synapses::Conductance => "nS",
    };
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // the negation is what makes NaN beyond
    if !(largest <= bound) {
        return Err(ctx.err(
            field,
            format!(
                "{what} of {} {unit} is beyond the largest state of population `{}` (±{} {unit}, {} times its voltage scale): no neuron can take such an input",
                short_number(largest),
                target.name,
                short_number(bound),
                short_number(crate::neuron::STATE_BOUND_FACTOR)
            ),
        ));
    }
    Ok(())
}

/// Check every projection and refuse the network if its synapses, state and recordings would
/// not fit in memory.
pub(super) fn plan_projections(
    ctx: &Ctx,
    spec: &NetworkSpec,
    populations: &[Population],
    options: &CompileOptions,
    steps: u32,
) -> Result<Vec<PlannedProjection>> {
    let mut planned = Vec::with_capacity(spec.projections.len());
    let mut expected_total = 0f64;
    let mut bytes_needed = 0f64;
    for pr in &spec.projections {
        let (name, source, target) = plan_endpoints(ctx, pr, spec, populations)?;
        let field = |f: &str| format!("projection \"{name}\".{f}");
        let (weight, tensor, receptor) =
            plan_weights(ctx, &field, pr, populations, (source, target))?;
        let (delay, shape, rule, explicit) =
            plan_connectivity(ctx, &field, pr, populations, (source, target), options)?;
        let (tensor, kernel_table) = match tensor {
            Some((weights, table)) => (Some(weights), table),
            None => (None, None),
        };
        let expected = match (&rule, &explicit, &kernel_table) {
            (Some(r), _, _) => connect::expected_synapses(r, &shape),
            (None, Some((_, rows)), _) => rows.len() as f64,
            (_, _, Some(csr)) => csr.len() as f64,
            _ => f64::from(shape.sources) * f64::from(shape.targets),
        };
        // An explicit list holds its parsed rows and edges while its tables are built; a
        // kernel holds no synapse.
        let per_synapse = if kernel_table.is_some() {
            0.0
        } else if explicit.is_some() {
            BYTES_PER_CSV_ROW
        } else {
            4.0 + if matches!(weight, ValueSpec::Constant(_)) {
                0.0
            } else {
                4.0
            } + if delay.2 { 4.0 } else { 0.0 }
        };
        bytes_needed += expected * per_synapse + f64::from(shape.sources) * 8.0;
        expected_total += expected;
        if expected > f64::from(u32::MAX) * 0.99 && per_synapse > 0.0 {
            return Err(Error::TooLarge {
                path: ctx.path.to_path_buf(),
                needed_mb: bytes_needed / 1e6,
                available_mb: available_memory_bytes().unwrap_or(0) as f64 / 1e6,
                synapses: expected as u64,
                neurons: populations.iter().map(|p| u64::from(p.size)).sum(),
            });
        }
        planned.push(PlannedProjection {
            name,
            source,
            target,
            receptor,
            rule,
            shape,
            weight,
            delay,
            explicit,
            tensor,
            kernel_rows: kernel_table,
        });
    }
    let neurons: u64 = populations.iter().map(|p| u64::from(p.size)).sum();
    bytes_needed += neurons as f64 * BYTES_PER_NEURON;
    bytes_needed += recording_bytes(spec, f64::from(steps), ctx.dt);
    if let Some(limit) = exceeds_memory(bytes_needed, options.memory_limit_bytes) {
        return Err(Error::TooLarge {
            path: ctx.path.to_path_buf(),
            needed_mb: bytes_needed / 1e6,
            available_mb: limit as f64 / 1e6,
            synapses: expected_total as u64,
            neurons,
        });
    }

    Ok(planned)
}

/// A projection's name and its source and target populations, checked.
fn plan_endpoints(
    ctx: &Ctx,
    pr: &ProjectionSpec,
    spec: &NetworkSpec,
    populations: &[Population],
) -> Result<(String, usize, usize)> {
    let name = pr
        .name
        .clone()
        .unwrap_or_else(|| format!("{}->{}", pr.source, pr.target));
    let field = |f: &str| format!("projection \"{name}\".{f}");
    let source = population_index(ctx, &field("source"), &pr.source, &spec.populations)?;
    let target = population_index(ctx, &field("target"), &pr.target, &spec.populations)?;
    if !populations[target].is_neurons() {
        return Err(ctx.err(
            field("target"),
            format!(
                "population `{}` is a spike source and cannot receive synapses",
                pr.target
            ),
        ));
    }
    let current_source = matches!(
        populations[source].kind,
        PopulationKind::Analog {
            encoding: Encoding::Current,
            ..
        }
    );
    if current_source && matches!(populations[target].kind, PopulationKind::Clocked { .. }) {
        return Err(ctx.err(
            field("target"),
            format!(
                "`{}` is current-encoded and drives its targets' bias, which model `{}` takes as a parameter; use encoding = \"poisson\" or \"regular\"",
                pr.source,
                populations[target].model_name().unwrap_or_default()
            ),
        ));
    }
    Ok((name, source, target))
}

/// A tensor's weights as stored, with the synapse table of those it keeps when it drops its
/// zeros.
type StoredWeights = (Weights, Option<Csr>);

/// A projection's weights (a number or distribution, or a dense tensor's rows) with their
/// field, sign, receptor and bound checked.
fn plan_weights(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    pr: &ProjectionSpec,
    populations: &[Population],
    (source, target): (usize, usize),
) -> Result<(ValueSpec, Option<StoredWeights>, Receptor)> {
    let synapses = populations[target].synapses();
    let weight_field = weight_field(
        ctx,
        &field,
        (&populations[target], &pr.target),
        (pr.weight_mv.is_some(), pr.weight_ns.is_some()),
    )?;
    let given = pr.weight_mv.as_ref().or(pr.weight_ns.as_ref());
    // Dense and conv projections take their weights from a tensor, every other rule from their
    // weight field.
    let conv = super::kernels::ConvGeometry::of(&pr.connectivity);
    let from_tensor = matches!(pr.connectivity, ConnectivitySpec::Dense { .. }) || conv.is_some();
    if from_tensor && given.is_some() {
        return Err(ctx.err(
            field(weight_field),
            format!(
                "a {} projection takes its weights from its tensor; remove {weight_field}",
                if conv.is_some() { "conv" } else { "dense" }
            ),
        ));
    }
    let tensor = match (&pr.connectivity, conv) {
        (
            ConnectivitySpec::Dense {
                file,
                tensor,
                weight_scale,
                ..
            },
            _,
        ) => {
            let sizes = (populations[source].size, populations[target].size);
            let rows = dense_rows(ctx, &field("connectivity"), (file, tensor), sizes)?;
            let scales = match weight_scale {
                Some(name) => super::kernels::read_scales(
                    ctx,
                    &field("connectivity"),
                    (file, name),
                    sizes.1 as usize,
                )?,
                None => vec![1.0; sizes.1 as usize],
            };
            let drop_zeros =
                matches!(pr.connectivity, ConnectivitySpec::Dense { drop_zeros, .. } if drop_zeros);
            Some(stored_rows(rows, scales, drop_zeros))
        }
        (_, Some(g)) => {
            let kernel = conv_kernel(
                ctx,
                &field("connectivity"),
                &g,
                (&populations[source], &populations[target]),
            )?;
            let rows = kernel_rows(&kernel).ok_or_else(|| {
                ctx.err(
                    field("connectivity"),
                    "the convolution makes more than 4294967295 connections, more than one projection holds",
                )
            })?;
            Some((Weights::Kernel(Box::new(kernel)), Some(rows)))
        }
        _ => None,
    };
    let weight = match (given, &tensor) {
        (Some(w), None) => ctx.value(&field(weight_field), w)?,
        (None, None) => {
            return Err(ctx.err(field(weight_field), "required (a number or a distribution)"));
        }
        (_, Some(_)) => ValueSpec::Constant(0.0),
    };
    let range = |ws: &[f32]| {
        ws.iter().fold((0f64, 0f64), |(lo, hi), &w| {
            (lo.min(f64::from(w)), hi.max(f64::from(w)))
        })
    };
    let (wlo, whi) = match (tensor.as_ref().map(|t| &t.0), weight) {
        (Some(Weights::DenseRows(ws) | Weights::PerSynapse(ws)), _) => range(ws),
        (Some(Weights::DenseRowsI8(rows)), _) => rows.range(),
        (Some(Weights::PerSynapseI8(ws)), _) => {
            let csr = tensor.as_ref().and_then(|t| t.1.as_ref());
            ws.range(&csr.expect("listed synapses have a table").targets)
        }
        (Some(Weights::Kernel(k)), _) => range(&k.weights),
        (Some(_), _) => unreachable!("a tensor's weights are rows, listed or a kernel"),
        (_, ValueSpec::Constant(c)) => (c, c),
        (_, ValueSpec::Uniform { lo, hi }) => (lo, hi),
        (_, ValueSpec::Normal { mean, .. }) => (mean, mean),
    };
    let receptor = receptor_of(pr.receptor, wlo, synapses);
    // Delta-synapse targets add both signs to the potential; only targets with two
    // receptors need one sign.
    let mixed_ok = tensor.is_some() && !populations[target].has_two_receptors();
    if !weight_sign_ok(receptor, (wlo, whi), synapses) && !mixed_ok {
        return Err(ctx.err(field(weight_field), weight_sign_message(receptor, synapses)));
    }
    check_weight_bound(
        ctx,
        (&field(weight_field), "a weight"),
        (wlo, whi),
        &populations[target],
    )?;
    Ok((weight, tensor, receptor))
}

/// A projection's delays, shape and connectivity: the rule (each rule checking its own
/// parameters) or the explicit list read from its file.
#[allow(clippy::type_complexity)]
fn plan_connectivity(
    ctx: &Ctx,
    field: &dyn Fn(&str) -> String,
    pr: &ProjectionSpec,
    populations: &[Population],
    (source, target): (usize, usize),
    options: &CompileOptions,
) -> Result<(
    (u32, u32, bool),
    Shape,
    Option<Rule>,
    Option<(PathBuf, CsvRows)>,
)> {
    let delay = plan_delay(ctx, &field("delay_ms"), &pr.delay_ms)?;
    let shape = Shape {
        sources: populations[source].size,
        targets: populations[target].size,
        same_population: source == target,
        allow_autapses: pr.allow_autapses,
        allow_multapses: pr.allow_multapses,
    };
    let cfield = field("connectivity");
    let rule = Rule::checked(&pr.connectivity, &shape).map_err(|e| {
        let at = e.field.map_or(cfield.clone(), |f| format!("{cfield}.{f}"));
        ctx.err(at, e.message)
    })?;
    let explicit = match &pr.connectivity {
        ConnectivitySpec::FromFile { file } => {
            let file = resolve(ctx.path, file);
            let columns = ["source", "target", "weight_mv", "delay_ms"];
            let rows = read_csv(&file, &columns, 2, options.memory_limit_bytes)?;
            Some((file, rows))
        }
        ConnectivitySpec::Dense { .. } | ConnectivitySpec::Conv { .. } if delay.2 => {
            return Err(ctx.err(
                field("delay_ms"),
                "a projection with weights from a tensor has one delay",
            ));
        }
        _ => None,
    };
    Ok((delay, shape, rule, explicit))
}

/// The delays of a projection in steps: `(lowest, highest, drawn per synapse)`.
fn plan_delay(ctx: &Ctx, field: &str, delay_ms: &ValueSpec) -> Result<(u32, u32, bool)> {
    let delay = match ctx.value(field, delay_ms)? {
        ValueSpec::Constant(d) => {
            let s = ctx.steps(field, d, 1)?;
            (s, s, false)
        }
        ValueSpec::Uniform { lo, hi } => (ctx.steps(field, lo, 1)?, ctx.steps(field, hi, 1)?, true),
        ValueSpec::Normal { .. } => {
            return Err(ctx.err(
                field,
                "delays must be a number or { uniform = [lo, hi] } (drawn as whole steps)",
            ));
        }
    };
    if delay.1 > 65535 {
        return Err(ctx.err(field, "delays longer than 65535 steps are not supported"));
    }
    Ok(delay)
}

/// The weights of a dense projection from its `[targets, sources]` tensor (PyTorch's
/// `[out, in]`), as source-major rows: row `s` holds the weights from source `s` to every
/// target.
fn dense_rows(
    ctx: &Ctx,
    field: &str,
    (file, tensor): (&str, &str),
    (sources, targets): (u32, u32),
) -> Result<Vec<f32>> {
    let t = read_tensor(ctx, field, file, tensor)?;
    if t.shape != [targets as usize, sources as usize] {
        return Err(ctx.err(
            field,
            format!(
                "tensor `{tensor}` has shape {:?}; a dense projection from {sources} to {targets} neurons needs [{targets}, {sources}] (PyTorch [out, in])",
                t.shape
            ),
        ));
    }
    let (ns, nt) = (sources as usize, targets as usize);
    let mut rows = vec![0f32; ns * nt];
    for j in 0..nt {
        for i in 0..ns {
            rows[i * nt + j] = t.data[j * ns + i];
        }
    }
    Ok(rows)
}

/// How a dense projection's source-major `rows` (scaled per target by `scales`) are stored:
/// as 8-bit rows with the scales beside them when every weight is a whole number in
/// -128..=127 (a quantized layer: a quarter of the memory traffic), as `f32` rows otherwise;
/// with `drop_zeros`, as a table of the non-zero synapses only, in row order (8-bit with the
/// scales beside them, or `f32`, alike).
fn stored_rows(rows: Vec<f32>, scales: Vec<f32>, drop_zeros: bool) -> (Weights, Option<Csr>) {
    let targets = scales.len().max(1);
    let scaled = |t: usize, w: f32| (f64::from(w) * f64::from(scales[t])) as f32;
    let byte = |w: f32| w.fract() == 0.0 && (-128.0..=127.0).contains(&w);
    let bytes = !rows.is_empty() && rows.iter().all(|&w| byte(w));
    if drop_zeros {
        let mut row_ptr = vec![0u32];
        let (mut kept, mut weights, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows.chunks(targets) {
            for (t, &w) in row.iter().enumerate().filter(|(_, w)| **w != 0.0) {
                kept.push(t as u32);
                if bytes {
                    values.push(w as i8);
                } else {
                    weights.push(scaled(t, w));
                }
            }
            row_ptr.push(kept.len() as u32);
        }
        let csr = Csr {
            row_ptr,
            targets: kept,
        };
        let weights = if bytes {
            Weights::PerSynapseI8(IntegerSynapses { values, scales })
        } else {
            Weights::PerSynapse(weights)
        };
        return (weights, Some(csr));
    }
    if bytes {
        let rows = rows.iter().map(|&w| w as i8).collect();
        return (Weights::DenseRowsI8(IntegerRows { rows, scales }), None);
    }
    let rows = (rows.chunks(targets))
        .flat_map(|row| row.iter().enumerate().map(|(t, &w)| scaled(t, w)))
        .collect();
    (Weights::DenseRows(rows), None)
}

/// Read one tensor of a safetensors file named in a network file.
pub(super) fn read_tensor(
    ctx: &Ctx,
    field: &str,
    file: &str,
    tensor: &str,
) -> Result<crate::convert::tensors::Tensor> {
    let path = resolve(ctx.path, file);
    let mut tensors = crate::convert::tensors::read_safetensors(&path)?;
    let t = tensors.remove(tensor).ok_or_else(|| {
        let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
        ctx.err(
            field,
            format!(
                "{} has no tensor `{tensor}` (it has: {})",
                path.display(),
                names.join(", ")
            ),
        )
    })?;
    if let Some(i) = t.data.iter().position(|x| !x.is_finite()) {
        return Err(ctx.err(
            field,
            format!("tensor `{tensor}` has a non-finite value at flat index {i}"),
        ));
    }
    Ok(t)
}

/// Generate the synapses of a planned projection.
/// The synapses of an explicit list (`from_file`): the synapse table, and per synapse its
/// weight (NaN where the file gives none) and delay \[steps\]. The rows are dropped as soon as
/// they are turned into edges.
pub(super) fn explicit_synapses(
    ctx: &Ctx,
    pl: &PlannedProjection,
    file: &Path,
    rows: CsvRows,
) -> Result<(Csr, Vec<f32>, Vec<u32>)> {
    let mut edges: Vec<(u32, u32, u32, f32)> = Vec::with_capacity(rows.len());
    for (line, cols) in rows.iter() {
        let s = csv_index(file, line, cols[0], pl.shape.sources, "source")?;
        let t = csv_index(file, line, cols[1], pl.shape.targets, "target")?;
        let w = column(cols, 2);
        if let Some(w) = w {
            let ok = match pl.receptor {
                Receptor::Exc => w >= 0.0,
                Receptor::Inh => w <= 0.0,
            };
            if !ok {
                return Err(Error::Csv {
                    path: file.to_path_buf(),
                    line,
                    message: format!(
                        "weight {} has the wrong sign for this projection's receptor",
                        short_number(w)
                    ),
                });
            }
        }
        let d = match column(cols, 3) {
            Some(d) => ctx.steps(&format!("{}:{line}: delay_ms", file.display()), d, 1)?,
            None => pl.delay.0,
        };
        edges.push((s, d, t, w.map_or(f32::NAN, |w| w as f32)));
    }
    drop(rows);
    edges.sort_by_key(|e| (e.0, e.1, e.2));
    let mut row_ptr = vec![0u32; pl.shape.sources as usize + 1];
    for e in &edges {
        row_ptr[e.0 as usize + 1] += 1;
    }
    for i in 0..pl.shape.sources as usize {
        row_ptr[i + 1] += row_ptr[i];
    }
    let targets = edges.iter().map(|e| e.2).collect();
    let weights = edges.iter().map(|e| e.3).collect();
    let delays = edges.iter().map(|e| e.1).collect();
    Ok((Csr { row_ptr, targets }, weights, delays))
}

/// The projection's synapses; with `local` (one rank's targets), a rule that can draw the
/// synapses onto them alone, with no per-synapse draws after it, draws only those (the
/// caller filters the others, see [`keep_targets`]).
pub(super) fn generate_projection(
    ctx: &Ctx,
    j: usize,
    mut pl: PlannedProjection,
    seed: u64,
    local: Option<std::ops::Range<u32>>,
) -> Result<Projection> {
    let field = |f: &str| format!("projection \"{}\".{f}", pl.name);
    if let Some(weights) = pl.tensor {
        let csr = pl
            .kernel_rows
            .unwrap_or_else(|| Csr::dense(pl.shape.sources, pl.shape.targets));
        return Ok(Projection {
            csr,
            weights,
            delays: Delays::Constant(pl.delay.0),
            name: pl.name,
            source: pl.source,
            target: pl.target,
            receptor: pl.receptor,
            plasticity: None,
        });
    }
    let explicit = pl.explicit.take();
    let (csr, explicit_weights, explicit_delays) = match (&pl.rule, explicit) {
        (Some(rule), _) => {
            // Weights or delays drawn per synapse follow the whole table's order.
            let alone = matches!(pl.weight, ValueSpec::Constant(_)) && !pl.delay.2;
            let local = local.filter(|_| alone);
            (
                connect::generate_onto(rule, &pl.shape, seed, j, local),
                None,
                None,
            )
        }
        (None, Some((file, rows))) => {
            let (csr, weights, delays) = explicit_synapses(ctx, &pl, &file, rows)?;
            (csr, Some(weights), Some(delays))
        }
        _ => unreachable!(),
    };
    let n_syn = csr.len();
    let mut wrng = Stream::new(seed, Purpose::Connectivity, j as u64 * 4 + 1, 0);
    let sign = if pl.receptor == Receptor::Exc {
        1.0
    } else {
        -1.0
    };
    let draw_weight = |rng: &mut Stream| loop {
        let w = draw(&pl.weight, rng);
        if w * sign >= 0.0 {
            return w;
        }
    };
    let weights = match (&explicit_weights, pl.weight) {
        (None, ValueSpec::Constant(c)) => Weights::Constant(c),
        (Some(ws), ValueSpec::Constant(c)) if ws.iter().all(|w| w.is_nan()) => Weights::Constant(c),
        (Some(ws), _) => Weights::PerSynapse(
            ws.iter()
                .map(|&w| {
                    if w.is_nan() {
                        draw_weight(&mut wrng) as f32
                    } else {
                        w
                    }
                })
                .collect(),
        ),
        (None, _) => {
            Weights::PerSynapse((0..n_syn).map(|_| draw_weight(&mut wrng) as f32).collect())
        }
    };
    let mut csr = csr;
    let mut weights = weights;
    let delays = match explicit_delays {
        Some(d) if d.iter().all(|&x| x == pl.delay.0) && !pl.delay.2 => {
            Delays::Constant(pl.delay.0)
        }
        Some(d) => runs_from(&csr, &d),
        None if !pl.delay.2 => Delays::Constant(pl.delay.0),
        None => {
            let mut drng = Stream::new(seed, Purpose::Connectivity, j as u64 * 4 + 2, 0);
            let span = u64::from(pl.delay.1 - pl.delay.0) + 1;
            let mut d: Vec<u32> = (0..n_syn)
                .map(|_| pl.delay.0 + drng.below(span) as u32)
                .collect();
            sort_rows_by_delay(&mut csr, &mut weights, &mut d);
            runs_from(&csr, &d)
        }
    };
    if let Weights::PerSynapse(w) = &weights
        && let Some(i) = w.iter().position(|x| !x.is_finite())
    {
        return Err(ctx.err(
            field("weight_mv"),
            format!("synapse {i} has a non-finite weight"),
        ));
    }
    Ok(Projection {
        name: pl.name,
        source: pl.source,
        target: pl.target,
        receptor: pl.receptor,
        csr,
        weights,
        delays,
        plasticity: None,
    })
}

/// Sort every row by (delay, target), permuting weights and delays alike.
pub(super) fn sort_rows_by_delay(csr: &mut Csr, weights: &mut Weights, delays: &mut [u32]) {
    let rows = csr.row_ptr.len() - 1;
    let mut order: Vec<usize> = Vec::new();
    for s in 0..rows {
        let range = csr.row(s as u32);
        order.clear();
        order.extend(range.clone());
        order.sort_by_key(|&i| (delays[i], csr.targets[i]));
        let t: Vec<u32> = order.iter().map(|&i| csr.targets[i]).collect();
        let d: Vec<u32> = order.iter().map(|&i| delays[i]).collect();
        csr.targets[range.clone()].copy_from_slice(&t);
        delays[range.clone()].copy_from_slice(&d);
        if let Weights::PerSynapse(w) = weights {
            let ws: Vec<f32> = order.iter().map(|&i| w[i]).collect();
            w[range].copy_from_slice(&ws);
        }
    }
}

/// Delay runs of rows already sorted by delay.
/// Keep only the synapses of `projection` onto targets in `range` (one rank's neurons), in
/// their order: each target keeps its synapses, in the order it sums them. Dense rows and
/// kernels, which list no synapses, stay whole.
pub(super) fn keep_targets(projection: &mut Projection, range: std::ops::Range<u32>) {
    if matches!(
        projection.weights,
        Weights::DenseRows(_) | Weights::DenseRowsI8(_) | Weights::Kernel(_)
    ) {
        return;
    }
    let csr = &projection.csr;
    // (A rule that drew only the rank's targets left nothing to filter.)
    if csr.targets.iter().all(|t| range.contains(t)) {
        return;
    }
    let kept: Vec<bool> = csr.targets.iter().map(|t| range.contains(t)).collect();
    let mut row_ptr = Vec::with_capacity(csr.row_ptr.len());
    row_ptr.push(0u32);
    let mut count = 0u32;
    for s in 0..csr.row_ptr.len() - 1 {
        count += kept[csr.row(s as u32)].iter().filter(|&&k| k).count() as u32;
        row_ptr.push(count);
    }
    fn keep<T: Copy>(values: &[T], kept: &[bool]) -> Vec<T> {
        (values.iter().zip(kept))
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect()
    }
    let targets = keep(&csr.targets, &kept);
    match &mut projection.weights {
        Weights::PerSynapse(w) => *w = keep(w, &kept),
        Weights::PerSynapseF64(w) => *w = keep(w, &kept),
        Weights::PerSynapseI8(w) => w.values = keep(&w.values, &kept),
        _ => {}
    }
    let delays = match &projection.delays {
        Delays::Constant(_) => None,
        Delays::Runs { run_ptr, runs } => {
            let mut per_synapse = Vec::with_capacity(kept.len());
            for s in 0..run_ptr.len() - 1 {
                let mut start = csr.row_ptr[s];
                for &(d, end) in &runs[run_ptr[s] as usize..run_ptr[s + 1] as usize] {
                    per_synapse.extend((start..end).map(|_| d));
                    start = end;
                }
            }
            Some(keep(&per_synapse, &kept))
        }
    };
    projection.csr = Csr { row_ptr, targets };
    if let Some(d) = delays {
        projection.delays = runs_from(&projection.csr, &d);
    }
}

pub(super) fn runs_from(csr: &Csr, delays: &[u32]) -> Delays {
    let mut run_ptr = vec![0u32];
    let mut runs = Vec::new();
    for s in 0..csr.row_ptr.len() - 1 {
        let range = csr.row(s as u32);
        let mut i = range.start;
        while i < range.end {
            let d = delays[i];
            let mut e = i;
            while e < range.end && delays[e] == d {
                e += 1;
            }
            runs.push((d, e as u32));
            i = e;
        }
        run_ptr.push(runs.len() as u32);
    }
    Delays::Runs { run_ptr, runs }
}
