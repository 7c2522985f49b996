//! The neuron-model seam: every model a network file can name, and the one trait a model
//! outside the exact core implements.
//!
//! Two kinds of models run on the same engines:
//!
//! * **Exact** models (`if.rs`, `lif_delta.rs`, `lif_exp.rs`, implementing
//!   [`crate::neuron::ExactModel`] over the shared machinery of [`crate::neuron`]): linear with
//!   constant coefficients, integrated in closed form, with a rigorous prediction of their next
//!   threshold crossing, so the event engine computes a neuron only when an input arrives or a
//!   crossing is possible. They are dispatched in one place, [`crate::neuron::with_exact_model`].
//! * **Clocked** models (one file each in this folder): models whose state cannot be predicted
//!   rigorously between inputs (nonlinear, or linear with time-varying coefficients). Their
//!   populations are updated every step in both engines (the event engine still delivers their
//!   synaptic events event-driven, into dense per-neuron accumulators, or straight into the
//!   fields of a model that declares [`ClockedModel::DIRECT_INPUTS`]), so their neuron updates
//!   equal their clock-equivalent updates, and both engines give the same spikes.
//!
//! # Adding a model
//!
//! One new file plus one registration line: write a type implementing [`ClockedModel`] (its
//! parameter struct, its state record, its update; see [`izhikevich`] for a short one) in
//! `src/model/<name>.rs`, and add `<name>: <Type>` to the `clocked_models!` list at the
//! bottom of this file (which declares the module too). The network file then selects
//! it with `model = "<NAME>"`; its parameters are the model's own struct, whose unknown fields
//! are refused with the nearest valid name; `traces.csv` gains its state variables.

pub mod r#if;
pub mod lif_delta;
pub mod lif_exp;
pub mod method;

use crate::neuron::UpdateOperations;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;

/// The most state variables a model may record in `traces.csv`.
pub const MAX_VARIABLES: usize = 4;

/// Neurons per block of a clocked population's state: a block keeps each field of its
/// neurons' records in an array of its own (struct of arrays), so that the update of a block
/// reads and writes whole vectors, and its flags fill one 64-bit word.
pub const BLOCK: usize = 64;

/// The most `f64` fields a clocked model's state record may have.
pub const MAX_FIELDS: usize = 8;

/// A clocked model's state record as the engine stores it: [`Record::FIELDS`] `f64` values,
/// kept field by field in blocks of [`BLOCK`] neurons. Declared for a struct of `f64` fields
/// by [`record!`](crate::model::record).
pub trait Record: Copy + Debug + Send + Sync {
    /// Number of fields (at most [`MAX_FIELDS`]).
    const FIELDS: usize;
    /// The record from its fields (the first [`Record::FIELDS`] of `fields`).
    fn from_fields(fields: &[f64; MAX_FIELDS]) -> Self;
    /// The fields of the record, in declaration order (the rest 0).
    fn fields(&self) -> [f64; MAX_FIELDS];
}

/// Implement [`Record`] for a struct whose fields are all `f64`:
/// `record!(State { v, w, ref_end });` stores them in that order.
#[macro_export]
macro_rules! record {
    ($name:ident { $($field:ident),+ $(,)? }) => {
        impl $crate::model::Record for $name {
            const FIELDS: usize = [$(stringify!($field)),+].len();
            #[inline(always)]
            fn from_fields(fields: &[f64; $crate::model::MAX_FIELDS]) -> Self {
                let mut k = 0;
                $(let $field = fields[k]; k += 1;)+
                let _ = k;
                $name { $($field),+ }
            }
            #[inline(always)]
            fn fields(&self) -> [f64; $crate::model::MAX_FIELDS] {
                let mut fields = [0.0; $crate::model::MAX_FIELDS];
                let mut k = 0;
                $(fields[k] = self.$field; k += 1;)+
                let _ = k;
                fields
            }
        }
    };
}
pub use record;

/// Neuron `lane`'s record in `block` (the fields of a block of [`BLOCK`] neurons).
#[inline(always)]
pub fn load<S: Record>(block: &[[f64; BLOCK]], lane: usize) -> S {
    let block = &block[..S::FIELDS];
    let mut fields = [0.0; MAX_FIELDS];
    for (field, row) in fields.iter_mut().zip(block) {
        *field = row[lane];
    }
    S::from_fields(&fields)
}

/// Write neuron `lane`'s record into `block`.
#[inline(always)]
pub fn store<S: Record>(block: &mut [[f64; BLOCK]], lane: usize, record: &S) {
    let block = &mut block[..S::FIELDS];
    for (row, field) in block.iter_mut().zip(record.fields()) {
        row[lane] = field;
    }
}

/// How a model's synaptic inputs are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synapses {
    /// Weights are potential jumps \[mV\] (`weight_mv`): excitatory ≥ 0, inhibitory ≤ 0.
    Voltage,
    /// Weights are conductance jumps \[nS\] (`weight_ns`), ≥ 0 for both receptors.
    Conductance,
}

impl Synapses {
    /// The projection field that holds such weights.
    pub fn weight_field(self) -> &'static str {
        match self {
            Synapses::Voltage => "weight_mv",
            Synapses::Conductance => "weight_ns",
        }
    }
}

/// A wrong parameter: the field (as written in the network file) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// The field.
    pub field: &'static str,
    /// What is wrong, with the value and the valid range.
    pub message: String,
}

impl ParamError {
    /// A refusal of `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ParamError {
            field,
            message: message.into(),
        }
    }
}

/// Refuse `value` of `field` unless it is finite and above 0.
pub fn positive(field: &'static str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ParamError::new(
            field,
            format!("must be a finite number above 0, got {value}"),
        ))
    }
}

/// Refuse `value` of `field` unless it is finite.
pub fn finite(field: &'static str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParamError::new(
            field,
            format!("must be a finite number, got {value}"),
        ))
    }
}

/// Why potential `v` \[mV\] is refused: not finite, or beyond ±[`MAX_POTENTIAL_MV`] (the
/// range of every model's potentials, exact and clocked); `None` when it is within.
///
/// [`MAX_POTENTIAL_MV`]: crate::network::build::MAX_POTENTIAL_MV
pub fn potential_refusal(v: f64) -> Option<String> {
    use crate::error::short_number;
    use crate::network::build::MAX_POTENTIAL_MV;
    if !v.is_finite() {
        Some(format!("must be a finite number, got {v}"))
    } else if v.abs() > MAX_POTENTIAL_MV {
        Some(format!(
            "{} mV is beyond ±{} mV, the range of a model's potentials",
            short_number(v),
            short_number(MAX_POTENTIAL_MV)
        ))
    } else {
        None
    }
}

/// Refuse potential `value` of `field` unless it is finite and within the potentials' range.
pub fn potential(field: &'static str, value: f64) -> Result<f64, ParamError> {
    match potential_refusal(value) {
        Some(message) => Err(ParamError::new(field, message)),
        None => Ok(value),
    }
}

/// Refuse `value` of `field` unless it is below `limit` (the parameter `name`): a reset
/// potential below the threshold it resets from.
pub fn below(
    field: &'static str,
    value: f64,
    (name, limit): (&str, f64),
) -> Result<(), ParamError> {
    if value < limit {
        Ok(())
    } else {
        Err(ParamError::new(
            field,
            format!("must be below {name} = {limit}, got {value}"),
        ))
    }
}

/// The scale of a model's potentials: the largest magnitude of `values`, and at least 1 mV.
pub(crate) use crate::neuron::largest_magnitude;

/// Refuse a refractory period that is negative or not a whole number of steps; the steps.
pub fn refractory_steps(field: &'static str, t_ref_ms: f64, dt_ms: f64) -> Result<u32, ParamError> {
    let steps = t_ref_ms / dt_ms;
    let whole = steps.round();
    if !(t_ref_ms >= 0.0 && (steps - whole).abs() <= 1e-6 * whole.max(1.0) && whole < 1e9) {
        return Err(ParamError::new(
            field,
            format!("must be a whole number of steps of {dt_ms} ms, at least 0, got {t_ref_ms}"),
        ));
    }
    Ok(whole as u32)
}

/// Refuse a method that applies only to some models (`integrating_factor`, `izhikevich_2003`).
pub fn explicit_method(method: method::Method) -> Result<method::Method, ParamError> {
    match method {
        method::Method::IntegratingFactor => Err(ParamError::new(
            "method",
            "integrating_factor applies to conductance-based models; this model takes euler or rk4",
        )),
        method::Method::Izhikevich2003 => Err(ParamError::new(
            "method",
            "izhikevich_2003 applies to the izhikevich model; this model takes euler or rk4",
        )),
        m => Ok(m),
    }
}

/// A neuron model updated every step: its parameters, its state record and its update.
///
/// The update of step `t` advances the state from step `t - 1` to `t`, adds the inputs that
/// arrive at `t` (summed per receptor), then checks the threshold, as the exact models do (see
/// [`crate::neuron`]'s time semantics).
pub trait ClockedModel: Debug + Clone + Send + Sync + Sized + 'static {
    /// The name in network files.
    const NAME: &'static str;
    /// The parameters as written in a `[[population]]` table (besides `name`, `size`, `model`
    /// and `v_init_mv`); unknown fields are refused.
    type Params: DeserializeOwned;
    /// One neuron's state: only what the model needs, `f64` fields declared by
    /// [`record!`](crate::model::record).
    type State: Record;
    /// The state variables, as `traces.csv` columns with their units, the potential first.
    const VARIABLES: &'static [&'static str];
    /// How inputs are weighted.
    const SYNAPSES: Synapses;
    /// The fields (excitatory, inhibitory) that take the step's inputs, for a model whose
    /// [`Self::advance`] adds each input to a field of its own (`field = advanced field +
    /// input`) and uses it for nothing else in the step (for the potential or the crossing):
    /// the engine then steps its neurons without inputs and adds each input event straight
    /// into its field afterwards, instead of summing the inputs in accumulators that every
    /// step reads and clears (a third of a small model's memory traffic). The sums differ in
    /// rounding only (each event added to the field in turn), the same in both engines.
    const DIRECT_INPUTS: Option<[usize; 2]> = None;

    /// Check the parameters and precompute what the update needs for step `dt_ms`.
    fn new(params: Self::Params, dt_ms: f64) -> Result<Self, ParamError>;
    /// The initial state of a neuron at potential `v_mv`.
    fn initial(&self, v_mv: f64) -> Self::State;
    /// The initial state of a neuron at potential `v_mv` with the variables `given` (by their
    /// index in [`Self::VARIABLES`]); by default [`Self::initial`] with those replaced. A model
    /// whose defaults depend on a given variable overrides it.
    fn initial_given(&self, v_mv: f64, given: &[Option<f64>; MAX_VARIABLES]) -> Self::State {
        let mut values = [0.0; MAX_VARIABLES];
        self.values(&self.initial(v_mv), &mut values);
        for (value, given) in values.iter_mut().zip(given) {
            *value = given.unwrap_or(*value);
        }
        self.with_values(&values)
    }
    /// The state with variables `values` (in the order of [`Self::VARIABLES`]), the inverse
    /// of [`Self::values`].
    fn with_values(&self, values: &[f64; MAX_VARIABLES]) -> Self::State;
    /// The initial potential when the file gives none \[mV\].
    fn resting_potential(&self) -> f64;
    /// The voltage scale of the parameters \[mV\], for the runaway bound.
    fn voltage_scale(&self) -> f64;
    /// The first half of step `t` of one neuron: advance its state from `t - 1` to `t` and
    /// add the inputs arriving at `t`. Written without branches that depend on the state
    /// (selects instead), so that the engine's loop over a block of neurons vectorizes.
    fn advance(&self, state: &mut Self::State, t: u32, in_exc: f64, in_inh: f64);
    /// Step `t` of the neurons of a block (one per lane of `inputs`, at most [`BLOCK`]): which
    /// received input, [`Self::advance`] with their inputs, which crossed and their
    /// magnitudes, in one pass ([`step_lanes`]). A model with several methods overrides it to
    /// choose the method once per block, so that the loop over the block holds no branch and
    /// vectorizes.
    #[inline(always)]
    fn advance_block(
        &self,
        block: &mut [[f64; BLOCK]],
        t: u32,
        inputs: &mut impl BlockInputs,
    ) -> Lanes {
        // (The closure inlined: a call would lose the caller's target features.)
        step_lanes(
            self,
            block,
            t,
            inputs,
            #[inline(always)]
            |s: &mut Self::State, e, i| self.advance(s, t, e, i),
        )
    }
    /// Whether the neuron crosses its threshold at step `t` (after [`Self::advance`]). Without
    /// branches, as `advance`: the engine checks a block of neurons at once.
    fn crossed(&self, state: &Self::State, t: u32) -> bool;
    /// The reset of a neuron that crossed at step `t`.
    fn reset(&self, state: &mut Self::State, t: u32);
    /// The second half of step `t`: check the threshold and reset; true if it spikes.
    #[inline(always)]
    fn fire(&self, state: &mut Self::State, t: u32) -> bool {
        let crossed = self.crossed(state, t);
        if crossed {
            self.reset(state, t);
        }
        crossed
    }
    /// Step `t` of one neuron with the inputs arriving at `t`; true if it spikes.
    #[inline(always)]
    fn update(&self, state: &mut Self::State, t: u32, in_exc: f64, in_inh: f64) -> bool {
        self.advance(state, t, in_exc, in_inh);
        self.fire(state, t)
    }
    /// The state variables (in the order of [`Self::VARIABLES`]).
    fn values(&self, state: &Self::State, out: &mut [f64; MAX_VARIABLES]);
    /// The sum of the magnitudes of the state: not finite if a variable is not.
    fn magnitude(state: &Self::State) -> f64;
    /// The arithmetic of one update, for energy estimates.
    fn operations(&self) -> UpdateOperations;
}

/// A clocked model with its parameters, as populations hold it (object-safe).
pub trait CompiledModel: Debug + Send + Sync {
    /// The name in network files.
    fn name(&self) -> &'static str;
    /// The state variables' column names.
    fn variables(&self) -> &'static [&'static str];
    /// How inputs are weighted.
    fn synapses(&self) -> Synapses;
    /// The initial potential when the file gives none \[mV\].
    fn resting_potential(&self) -> f64;
    /// The largest magnitude a state may reach: [`crate::neuron::STATE_BOUND_FACTOR`] times
    /// the voltage scale of the parameters.
    fn state_bound(&self) -> f64;
    /// The state variables of a neuron starting at potential `v_mv`, the others `given`
    /// (the file's `initial` table) or at their defaults.
    fn initial_values(
        &self,
        v_mv: f64,
        given: &[Option<f64>; MAX_VARIABLES],
    ) -> [f64; MAX_VARIABLES];
    /// The states of neurons starting with state variables `initial`.
    fn states(&self, initial: &[[f64; MAX_VARIABLES]]) -> Box<dyn ClockedStates>;
    /// The arithmetic of one update.
    fn operations(&self) -> UpdateOperations;
}

/// The states of a range of neurons of a clocked population, updated together.
pub trait ClockedStates: Debug + Send + Sync {
    /// Number of neurons.
    fn len(&self) -> usize;
    /// True when there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Step `t` of every neuron: inputs taken from `exc` and `inh` (which are left at -0.0;
    /// unused by a model with direct inputs, see [`Self::direct_inputs`]), the indices (plus
    /// `lo`) of spiking neurons pushed to `spikes`, bit `i` of `received` set where neuron `i`
    /// had an input. Returns the sum of the magnitudes of the states.
    fn update(&mut self, step: Step<'_>) -> f64;
    /// Neuron `i`'s state variables.
    fn values(&self, i: usize, out: &mut [f64; MAX_VARIABLES]);
    /// The first neuron whose state is beyond `bound` or not finite.
    fn find_runaway(&self, bound: f64) -> Option<u32>;
    /// The fields that take inputs directly, for a model with
    /// [`ClockedModel::DIRECT_INPUTS`]: its update then takes no inputs, and the step's input
    /// events are added into these after it.
    fn direct_inputs(&mut self) -> Option<DirectInputs<'_>>;
}

/// The state fields a clocked population's inputs are added into, for a model with
/// [`ClockedModel::DIRECT_INPUTS`].
#[derive(Debug)]
pub struct DirectInputs<'a> {
    blocks: &'a mut [[f64; BLOCK]],
    /// Rows per block: the fields of a record.
    rows_per_block: usize,
    /// The field of each receptor.
    rows: [usize; 2],
}

impl DirectInputs<'_> {
    /// Add `w` into local neuron `i`'s field of `receptor` (0 excitatory, 1 inhibitory).
    #[inline(always)]
    pub fn add(&mut self, i: usize, receptor: usize, w: f64) {
        let row = if receptor == 0 {
            self.rows[0]
        } else {
            self.rows[1]
        };
        self.blocks[i / BLOCK * self.rows_per_block + row][i % BLOCK] += w;
    }
}

/// What one step of a [`ClockedStates`] reads and writes.
pub struct Step<'a> {
    /// The step.
    pub t: u32,
    /// Excitatory inputs of the step, one per neuron.
    pub exc: &'a mut [f64],
    /// Inhibitory inputs of the step.
    pub inh: &'a mut [f64],
    /// Index of the first neuron in its population.
    pub lo: u32,
    /// Spiking neurons (population indices).
    pub spikes: &'a mut Vec<u32>,
    /// One bit per neuron: received an input.
    pub received: &'a mut [u64],
}

/// A [`ClockedModel`] with its parameters.
#[derive(Debug, Clone)]
struct Compiled<M: ClockedModel>(Arc<M>);

impl<M: ClockedModel> CompiledModel for Compiled<M> {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn variables(&self) -> &'static [&'static str] {
        M::VARIABLES
    }
    fn synapses(&self) -> Synapses {
        M::SYNAPSES
    }
    fn resting_potential(&self) -> f64 {
        self.0.resting_potential()
    }
    fn state_bound(&self) -> f64 {
        crate::neuron::STATE_BOUND_FACTOR * self.0.voltage_scale().max(1.0)
    }
    fn initial_values(
        &self,
        v_mv: f64,
        given: &[Option<f64>; MAX_VARIABLES],
    ) -> [f64; MAX_VARIABLES] {
        let mut values = [0.0; MAX_VARIABLES];
        self.0
            .values(&self.0.initial_given(v_mv, given), &mut values);
        values
    }
    fn states(&self, initial: &[[f64; MAX_VARIABLES]]) -> Box<dyn ClockedStates> {
        const { assert!(M::State::FIELDS <= MAX_FIELDS) };
        let rows = M::State::FIELDS;
        let mut blocks = vec![[0.0; BLOCK]; initial.len().div_ceil(BLOCK) * rows];
        for (i, values) in initial.iter().enumerate() {
            let block = &mut blocks[i / BLOCK * rows..];
            store(block, i % BLOCK, &self.0.with_values(values));
        }
        Box::new(States {
            model: self.0.clone(),
            len: initial.len(),
            blocks,
        })
    }
    fn operations(&self) -> UpdateOperations {
        self.0.operations()
    }
}

/// The states of neurons of model `M`, in blocks of [`BLOCK`] neurons, each block
/// [`Record::FIELDS`] arrays of one field (the last block's lanes beyond the neurons unused).
#[derive(Debug)]
struct States<M: ClockedModel> {
    model: Arc<M>,
    len: usize,
    blocks: Vec<[f64; BLOCK]>,
}

impl<M: ClockedModel> States<M> {
    /// Neuron `i`'s record.
    fn get(&self, i: usize) -> M::State {
        load(&self.blocks[i / BLOCK * M::State::FIELDS..], i % BLOCK)
    }
}

impl<M: ClockedModel> ClockedStates for States<M> {
    fn len(&self) -> usize {
        self.len
    }

    fn update(&mut self, step: Step<'_>) -> f64 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX-512F and FMA (checked just above).
            return unsafe { update_avx512(self, step) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the processor has AVX2 and FMA (checked just above).
            return unsafe { update_avx2(self, step) };
        }
        update_blocks(self, step)
    }

    fn values(&self, i: usize, out: &mut [f64; MAX_VARIABLES]) {
        self.model.values(&self.get(i), out);
    }

    #[allow(clippy::neg_cmp_op_on_partial_ord)] // the negation is what makes NaN beyond
    fn find_runaway(&self, bound: f64) -> Option<u32> {
        let beyond = |i: &usize| !(M::magnitude(&self.get(*i)) <= bound);
        (0..self.len).find(beyond).map(|i| i as u32)
    }

    fn direct_inputs(&mut self) -> Option<DirectInputs<'_>> {
        M::DIRECT_INPUTS.map(|rows| DirectInputs {
            blocks: &mut self.blocks,
            rows_per_block: M::State::FIELDS,
            rows,
        })
    }
}

/// [`ClockedStates::update`] compiled for AVX2 (4 lanes of f64 instead of SSE2's 2) and FMA.
/// A model's plain `a * b + c` stays two roundings (Rust never fuses them) and its
/// `mul_add` is one rounding on every build (the FMA unit here, the library's `fma`
/// elsewhere): results do not depend on the processor.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn update_avx2<M: ClockedModel>(states: &mut States<M>, step: Step<'_>) -> f64 {
    update_blocks(states, step)
}

/// [`ClockedStates::update`] compiled for AVX-512 (8 lanes of f64) and FMA, rounding like
/// [`update_avx2`]: the same bits as every other build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn update_avx512<M: ClockedModel>(states: &mut States<M>, step: Step<'_>) -> f64 {
    update_blocks(states, step)
}

/// The step of every neuron, a block of [`BLOCK`] at a time (see [`block_step`]); then only
/// the neurons that crossed are reset.
#[inline(always)]
fn update_blocks<M: ClockedModel>(states: &mut States<M>, step: Step<'_>) -> f64 {
    let model = &*states.model;
    let len = states.len;
    let Step {
        t,
        exc,
        inh,
        lo,
        spikes,
        received,
    } = step;
    let mut out = BlockOutputs {
        t,
        lo,
        spikes,
        received,
    };
    let blocks = states.blocks.chunks_mut(M::State::FIELDS).enumerate();
    let mut magnitudes = 0.0f64;
    if M::DIRECT_INPUTS.is_some() {
        for (w, block) in blocks {
            let lanes = (len - w * BLOCK).min(BLOCK);
            magnitudes += block_step(model, block, w, &mut NoInputs { lanes }, &mut out);
        }
    } else {
        for ((w, block), (exc, inh)) in blocks.zip(exc.chunks_mut(BLOCK).zip(inh.chunks_mut(BLOCK)))
        {
            let mut inputs = Accumulated { exc, inh };
            magnitudes += block_step(model, block, w, &mut inputs, &mut out);
        }
    }
    magnitudes
}

/// Where a block's step writes its spikes and received bits.
struct BlockOutputs<'a> {
    t: u32,
    lo: u32,
    spikes: &'a mut Vec<u32>,
    received: &'a mut [u64],
}

/// Step `t` of block `w`'s neurons (see [`ClockedModel::advance_block`]), then the reset of
/// those that crossed; returns the sum of their magnitudes.
#[inline(always)]
fn block_step<M: ClockedModel, I: BlockInputs>(
    model: &M,
    block: &mut [[f64; BLOCK]],
    w: usize,
    inputs: &mut I,
    out: &mut BlockOutputs<'_>,
) -> f64 {
    let t = out.t;
    // A whole block is stepped with its length known (every pass one run of whole vectors);
    // the population's last block, if short, with its own.
    let lanes = if inputs.lanes() == BLOCK {
        model.advance_block(block, t, &mut inputs.whole())
    } else {
        model.advance_block(block, t, inputs)
    };
    out.received[w] |= lanes.received;
    let mut crossed = lanes.crossed;
    while crossed != 0 {
        let b = crossed.trailing_zeros() as usize;
        crossed &= crossed - 1;
        let mut s: M::State = load(block, b);
        model.reset(&mut s, t);
        store(block, b, &s);
        out.spikes.push(out.lo + (w * BLOCK + b) as u32);
    }
    lanes.magnitude
}

/// Where a block's step takes each lane's inputs from.
pub trait BlockInputs {
    /// The same inputs with [`BLOCK`] lanes known at compile time (only called when
    /// [`Self::lanes`] is `BLOCK`).
    type Whole<'b>: BlockInputs
    where
        Self: 'b;
    /// The lanes (neurons) of the block, at most [`BLOCK`].
    fn lanes(&self) -> usize;
    /// Lane `j`'s excitatory and inhibitory inputs, taken (an accumulator is left at -0.0).
    fn take(&mut self, j: usize) -> (f64, f64);
    /// See [`Self::Whole`].
    fn whole(&mut self) -> Self::Whole<'_>;
}

/// Inputs summed in accumulators, one per lane and receptor, left at -0.0 (an accumulator
/// that received nothing is still -0.0: sign bit set, no other).
#[derive(Debug)]
pub struct Accumulated<'a> {
    /// Excitatory sums.
    pub exc: &'a mut [f64],
    /// Inhibitory sums.
    pub inh: &'a mut [f64],
}

impl BlockInputs for Accumulated<'_> {
    type Whole<'b>
        = Accumulated<'b>
    where
        Self: 'b;

    #[inline(always)]
    fn lanes(&self) -> usize {
        self.exc.len().min(self.inh.len()).min(BLOCK)
    }

    #[inline(always)]
    fn take(&mut self, j: usize) -> (f64, f64) {
        (
            std::mem::replace(&mut self.exc[j], -0.0),
            std::mem::replace(&mut self.inh[j], -0.0),
        )
    }

    #[inline(always)]
    fn whole(&mut self) -> Accumulated<'_> {
        Accumulated {
            exc: &mut self.exc[..BLOCK],
            inh: &mut self.inh[..BLOCK],
        }
    }
}

/// No inputs: those of a model with [`ClockedModel::DIRECT_INPUTS`] are added into its
/// state after the step. Each lane takes -0.0, which the compiler folds away (`x + -0.0` is
/// `x` for every `x`).
#[derive(Debug, Clone, Copy)]
pub struct NoInputs {
    /// The lanes of the block.
    pub lanes: usize,
}

/// [`NoInputs`] of a whole block: a type of its own, so that the lane count is one in the
/// type (`NoInputs { lanes: BLOCK }` measured slower: its count was not carried into the
/// loop as a constant).
#[derive(Debug, Clone, Copy)]
pub struct NoInputsWhole;

impl BlockInputs for NoInputs {
    type Whole<'b> = NoInputsWhole;

    #[inline(always)]
    fn lanes(&self) -> usize {
        self.lanes.min(BLOCK)
    }

    #[inline(always)]
    fn take(&mut self, _: usize) -> (f64, f64) {
        (-0.0, -0.0)
    }

    #[inline(always)]
    fn whole(&mut self) -> NoInputsWhole {
        NoInputsWhole
    }
}

impl BlockInputs for NoInputsWhole {
    type Whole<'b> = NoInputsWhole;

    #[inline(always)]
    fn lanes(&self) -> usize {
        BLOCK
    }

    #[inline(always)]
    fn take(&mut self, _: usize) -> (f64, f64) {
        (-0.0, -0.0)
    }

    #[inline(always)]
    fn whole(&mut self) -> NoInputsWhole {
        NoInputsWhole
    }
}

/// What the step of a block's neurons found (see [`step_lanes`]).
#[derive(Debug, Clone, Copy)]
pub struct Lanes {
    /// Bit `j`: lane `j` received input.
    pub received: u64,
    /// Bit `j`: lane `j` crossed its threshold.
    pub crossed: u64,
    /// The sum of the magnitudes of the states, added pairwise: only a trigger of the
    /// runaway search, which then checks every neuron (a sum of non-negative terms is at
    /// least each of them in any order).
    pub magnitude: f64,
}

/// The sum of 64 numbers: eight columns of eight added down (whole vectors, no store and
/// reload of partial sums), then the eight column sums in pairs.
#[inline(always)]
fn pairwise_sum(values: &[f64; BLOCK]) -> f64 {
    let mut columns = [0.0f64; 8];
    for row in values.chunks_exact(8) {
        for (c, v) in columns.iter_mut().zip(row) {
            *c += v;
        }
    }
    let [a, b, c, d, e, f, g, h] = columns;
    ((a + e) + (c + g)) + ((b + f) + (d + h))
}

/// Step `t` of the neurons of a block (one per lane of `inputs`) in one pass without
/// branches (it vectorizes): for each, whether it received input (see [`Accumulated`]),
/// `advance(state, in_exc, in_inh)` taking its inputs, its magnitude and whether it crossed.
/// One pass reads and writes each field once; the engine resets the neurons that crossed
/// afterwards.
#[inline(always)]
pub fn step_lanes<M: ClockedModel>(
    model: &M,
    block: &mut [[f64; BLOCK]],
    t: u32,
    inputs: &mut impl BlockInputs,
    advance: impl Fn(&mut M::State, f64, f64),
) -> Lanes {
    let block = &mut block[..M::State::FIELDS];
    let lanes = inputs.lanes();
    let (mut received, mut crossed) = (0u64, 0u64);
    let mut sizes = [0.0f64; BLOCK];
    for (j, size) in sizes.iter_mut().enumerate().take(lanes) {
        let (r, c, magnitude) = lane_step(model, block, t, inputs, &advance, j);
        received |= u64::from(r) << j;
        crossed |= u64::from(c) << j;
        *size = magnitude;
    }
    Lanes {
        received,
        crossed,
        magnitude: pairwise_sum(&sizes),
    }
}

/// Lane `j`'s step (see [`step_lanes`]): whether it received input, whether it crossed, its
/// magnitude.
#[inline(always)]
fn lane_step<M: ClockedModel>(
    model: &M,
    block: &mut [[f64; BLOCK]],
    t: u32,
    inputs: &mut impl BlockInputs,
    advance: &impl Fn(&mut M::State, f64, f64),
    j: usize,
) -> (bool, bool, f64) {
    let mut s: M::State = load(block, j);
    let input = inputs.take(j);
    advance(&mut s, input.0, input.1);
    store(block, j, &s);
    (
        (input.0.to_bits() | input.1.to_bits()) != (-0.0f64).to_bits(),
        model.crossed(&s, t),
        M::magnitude(&s),
    )
}

/// A clocked model as the registry lists it: its name and how to build it from a
/// population's parameter table.
pub struct Entry {
    /// The name in network files.
    pub name: &'static str,
    /// Check that a parameter table matches the model's parameter struct (at parsing, where
    /// errors are located by line and column).
    pub check: fn(toml::de::Deserializer<'_>) -> Result<(), toml::de::Error>,
    /// Deserialize and check the parameters; `dt_ms` is the run's step.
    pub build: BuildFn,
}

/// Builds a model from a population's parameter table and the run's step \[ms\].
pub type BuildFn = fn(&toml::Table, f64) -> Result<Arc<dyn CompiledModel>, BuildError>;

/// Why a parameter table did not build a model.
#[derive(Debug)]
pub enum BuildError {
    /// The table does not match the parameter struct (unknown or missing field, wrong type).
    Format(String),
    /// A value is out of range.
    Param(ParamError),
}

/// Build model `M` from a parameter table.
fn build<M: ClockedModel>(
    table: &toml::Table,
    dt_ms: f64,
) -> Result<Arc<dyn CompiledModel>, BuildError> {
    let params = toml::Value::Table(table.clone())
        .try_into::<M::Params>()
        .map_err(|e| BuildError::Format(e.message().to_string()))?;
    let model = M::new(params, dt_ms).map_err(BuildError::Param)?;
    Ok(Arc::new(Compiled(Arc::new(model))))
}

/// Check a parameter table against model `M`'s parameter struct.
fn check<M: ClockedModel>(table: toml::de::Deserializer<'_>) -> Result<(), toml::de::Error> {
    M::Params::deserialize(table).map(|_| ())
}

/// Registers clocked models, one line each, `module: Type`: declares the module (the file
/// `src/model/<module>.rs`) and lists the model in [`CLOCKED`].
macro_rules! clocked_models {
    ($($module:ident: $model:ident),* $(,)?) => {
        $(pub mod $module;)*
        /// Every registered clocked model.
        pub static CLOCKED: &[Entry] = &[$(Entry {
            name: <$module::$model as ClockedModel>::NAME,
            check: check::<$module::$model>,
            build: build::<$module::$model>,
        }),*];
    };
}

clocked_models!(
    lif_cond_exp: LifCondExp,
    lif_exp_adapt: LifExpAdapt,
    adex: Adex,
    izhikevich: Izhikevich,
);

/// The clocked model named `name`, if one is registered.
pub fn clocked(name: &str) -> Option<&'static Entry> {
    CLOCKED.iter().find(|e| e.name == name)
}

/// The names of the exact models, in the order documentation lists them.
pub const EXACT: [&str; 3] = ["if", "lif_delta", "lif_exp"];

/// The names of every simulated model, exact then clocked.
pub fn simulated_names() -> Vec<&'static str> {
    EXACT
        .iter()
        .copied()
        .chain(CLOCKED.iter().map(|e| e.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, pairwise_sum};

    #[test]
    fn the_pairwise_sum_is_the_sum() {
        let values: [f64; BLOCK] = std::array::from_fn(|j| j as f64 * 0.5);
        assert_eq!(pairwise_sum(&values), 1008.0);
        let mut with_nan = values;
        with_nan[37] = f64::NAN;
        assert!(pairwise_sum(&with_nan).is_nan());
    }
}
