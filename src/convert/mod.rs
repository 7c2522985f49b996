//! ANN-to-SNN conversion of trained dense layers.
//!
//! ```text
//! model file (safetensors | npz | onnx) --load_model--> Ann --calibrate(data)--> per-layer scales
//!   --convert--> Converted (IF layers, scaled weights) --write--> NET.toml + NET.safetensors
//! ```
//!
//! Each ReLU layer becomes a population of IF neurons with threshold 1 and reset by
//! subtraction (rate coding: a neuron's spike rate per step approximates its normalized ANN
//! activation). Data-based normalization (Diehl et al. 2015: the maximum activation;
//! Rueckauer et al. 2017: the p-th percentile of the non-zero activations) divides layer `l`'s
//! weights by `lambda_l / lambda_(l-1)` and its biases by `lambda_l`, so activations fall in
//! `[0, 1]` spikes per step. Biases become constant input currents. The input is an `analog`
//! population: a constant current `W x` into the first layer (computed once per sample), or
//! Poisson or regular spike trains. The output layer integrates without spiking and its
//! membrane potential is read (or spikes and its spike counts are read).
//!
//! The converted network is an ordinary network file (one step = 1 ms) whose dense projections
//! and biases point into a safetensors file beside it, plus a `[conversion]` table that
//! `synops eval` reads.

pub mod ann;
pub mod compress;
pub mod features;
pub mod layers;
pub mod onnx;
pub mod tensors;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use ann::{Ann, Layout};
use compress::{LayerCompression, Pruning, Quantization, QuantizedLayer};
use layers::{NeuronLayer, Stage};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// How to read a model file.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Layer order (weight tensor prefixes), for state dicts whose order cannot be inferred.
    pub order: Option<Vec<String>>,
    /// Layout of 2-D weight tensors in state dicts.
    pub layout: Layout,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            order: None,
            layout: Layout::Auto,
        }
    }
}

/// Read a trained model: `.safetensors` or `.npz` (a state dict) or `.onnx` (a graph).
pub fn load_model(path: &Path, options: &LoadOptions) -> Result<Ann> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let ann = match ext {
        "safetensors" => ann::from_state_dict(
            &tensors::read_safetensors(path)?,
            path,
            options.order.as_deref(),
            options.layout,
        )?,
        "npz" => ann::from_state_dict(
            &tensors::read_npz(path)?,
            path,
            options.order.as_deref(),
            options.layout,
        )?,
        "onnx" => {
            let (_, ann) = onnx::read_onnx(path)?;
            ann
        }
        _ => {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: "unknown model format: expected .safetensors, .npz or .onnx".into(),
            });
        }
    };
    ann.check(path)?;
    Ok(ann)
}

/// Data-based normalization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Normalization {
    /// The maximum activation of each layer (Diehl et al. 2015).
    Max,
    /// The p-th percentile of each layer's non-zero activations (Rueckauer et al. 2017).
    Percentile {
        /// Percentile in (0, 100].
        p: f64,
    },
}

impl std::fmt::Display for Normalization {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Normalization::Max => write!(f, "max"),
            Normalization::Percentile { p } => write!(f, "percentile {p}"),
        }
    }
}

/// How the input reaches the first layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputEncoding {
    /// Pixel values as a constant current.
    Analog,
    /// Poisson spike trains at `value * max_rate`.
    Poisson,
    /// Regular spike trains at `value * max_rate`.
    Regular,
}

/// How the class is read from the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readout {
    /// Membrane potential of a non-spiking output layer.
    Potential,
    /// Spike counts of a spiking output layer (ties broken by the potential).
    Spikes,
}

/// How the neurons reset after a spike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConvertReset {
    /// Subtract the threshold (keeps the overshoot; default).
    Subtract,
    /// Reset to zero.
    Zero,
}

/// Options of [`convert`].
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Normalization. Default: percentile 99.9.
    pub normalization: Normalization,
    /// Reset. Default: subtract.
    pub reset: ConvertReset,
    /// Input encoding. Default: analog.
    pub encoding: InputEncoding,
    /// Output decoding. Default: potential.
    pub readout: Readout,
    /// Rate of an input of value 1 under spike encodings \[Hz\] (one step = 1 ms). Default 1000.
    pub max_rate_hz: f64,
    /// Time steps of the network file's default run. Default 100.
    pub timesteps: u32,
    /// Membrane potential of every layer neuron at the start of a sample, as a fraction of the
    /// threshold: 0, or 0.5 after Bu et al. (ICLR 2022), which with reset by subtraction makes
    /// the spike count of a constant input `z` exactly `clip(floor(z T + 1/2), 0, T)` (the
    /// rounded rate instead of the floored one).
    pub initial_potential: f64,
    /// Weight quantization (see [`compress`]); `None`: 32-bit floats.
    pub quantization: Option<Quantization>,
    /// Magnitude pruning (see [`compress`]); `None`: every weight kept.
    pub pruning: Option<Pruning>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            normalization: Normalization::Percentile { p: 99.9 },
            reset: ConvertReset::Subtract,
            encoding: InputEncoding::Analog,
            readout: Readout::Potential,
            max_rate_hz: 1000.0,
            timesteps: 100,
            initial_potential: 0.0,
            quantization: None,
            pruning: None,
        }
    }
}

/// Calibration statistics and the scale of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerScale {
    /// Population name in the converted network.
    pub name: String,
    /// Name of the layer in the model file.
    pub source: String,
    /// Neurons.
    pub neurons: usize,
    /// Largest activation on the calibration data.
    pub calibration_max: f64,
    /// The percentile of the non-zero activations (the one asked for, or 99.9 with `max`).
    pub calibration_percentile: f64,
    /// `lambda`: the activation that maps to one spike per step.
    pub scale: f64,
    /// Largest |bias| after scaling, relative to the threshold (1): the bias current per step.
    pub bias_threshold_ratio: f64,
}

/// `p`-th percentile with linear interpolation between order statistics (NumPy's default).
pub fn percentile(values: &mut [f32], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = p / 100.0 * (values.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    let (_, &mut a, rest) = values.select_nth_unstable_by(lo, f32::total_cmp);
    let b = if hi == lo {
        a
    } else {
        rest.iter().copied().fold(f32::INFINITY, f32::min)
    };
    f64::from(a) + (rank - lo as f64) * (f64::from(b) - f64::from(a))
}

/// Per layer of neurons (see [`layers`]): the maximum and the `p`-th percentile of the
/// non-zero activations over `data` (for the output layer: of the positive part of the logits).
pub fn calibrate(ann: &Ann, data: &Dataset, p: f64) -> Vec<(f64, f64)> {
    let per_sample: Vec<Vec<Vec<f32>>> = (0..data.len())
        .into_par_iter()
        .map(|i| ann.neuron_outputs(data.image(i)))
        .collect();
    let layers = per_sample.first().map_or(0, Vec::len);
    (0..layers)
        .map(|l| {
            let mut nonzero: Vec<f32> = per_sample
                .iter()
                .flat_map(|a| a[l].iter().copied().filter(|&x| x > 0.0))
                .collect();
            let max = nonzero.iter().copied().fold(0f32, f32::max);
            (f64::from(max), percentile(&mut nonzero, p))
        })
        .collect()
}

/// A converted network, ready to be written.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The scaled layers (`W_l lambda_(l-1) / lambda_l`, `b_l / lambda_l`), named after their
    /// populations.
    pub ann: Ann,
    /// Per-layer calibration and scale.
    pub scales: Vec<LayerScale>,
    /// Options used.
    pub options: ConvertOptions,
    /// Values of the input population in the network file (a calibration sample), so that
    /// `synops run` simulates one real input.
    pub example_input: Vec<f32>,
    /// The model file it came from.
    pub source_model: String,
    /// Per layer: bits, threshold and weights kept (see [`compress`]).
    pub compression: Vec<LayerCompression>,
    /// Per layer of a quantized network: its threshold and scale multipliers (its weights in
    /// `ann` are then the whole numbers `q`, its biases whole numbers of threshold units).
    pub quantized: Vec<QuantizedLayer>,
}

/// Convert an ANN with calibration data.
pub fn convert(
    ann: &Ann,
    calibration: &Dataset,
    source_model: &str,
    options: &ConvertOptions,
) -> Result<Converted> {
    if calibration.is_empty() {
        return Err(Error::Data {
            path: source_model.into(),
            message: "no calibration samples".into(),
        });
    }
    let neuron_layers = ann.neuron_layers().map_err(|message| Error::Data {
        path: source_model.into(),
        message,
    })?;
    crate::data::check_shape(calibration, &ann.input_shape(), Path::new(source_model))?;
    crate::data::check_classes(calibration, ann.n_out(), Path::new(source_model))?;
    let p = match options.normalization {
        Normalization::Percentile { p } => p,
        Normalization::Max => 99.9,
    };
    let stats = calibrate(ann, calibration, p);
    let n = neuron_layers.len();
    let mut lambdas = Vec::with_capacity(n);
    let mut scales = Vec::with_capacity(n);
    for (l, (layer, &(max, pct))) in neuron_layers.iter().zip(&stats).enumerate() {
        let mut lambda = match options.normalization {
            Normalization::Max => max,
            Normalization::Percentile { .. } => pct,
        };
        if lambda <= 0.0 {
            lambda = 1.0; // a dead layer: nothing to scale
        }
        scales.push(LayerScale {
            name: layer_name(l, n),
            source: layer.name().to_string(),
            neurons: layer.neurons(),
            calibration_max: max,
            calibration_percentile: pct,
            scale: lambda,
            bias_threshold_ratio: 0.0,
        });
        lambdas.push(lambda);
    }
    let mut scaled = ann.clone();
    let mut failed = None;
    scaled.scale_neuron_layers(|l, weight, bias| {
        let previous = if l == 0 { 1.0 } else { lambdas[l - 1] }; // inputs are in [0, 1]
        let w_factor = previous / lambdas[l];
        weight
            .iter_mut()
            .for_each(|w| *w = (f64::from(*w) * w_factor) as f32);
        bias.iter_mut()
            .for_each(|b| *b = (f64::from(*b) / lambdas[l]) as f32);
        scales[l].bias_threshold_ratio = bias.iter().fold(0f64, |m, &b| m.max(f64::from(b).abs()));
        if failed.is_none() {
            failed = check_scaled(weight, bias, &scales[l].source, lambdas[l], source_model).err();
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    scaled.rename_neuron_layers(|l| layer_name(l, n));
    let (compression, quantized) = compress_layers(&mut scaled, options, calibration);
    Ok(Converted {
        ann: scaled,
        scales,
        options: options.clone(),
        example_input: calibration.image(0).to_vec(),
        source_model: source_model.to_string(),
        compression,
        quantized,
    })
}

impl Converted {
    /// This float conversion with its weights pruned and quantized as `quantization` and
    /// `pruning` ask, without calibrating again: what [`convert`] gives with these options.
    /// `None` for a conversion that is already compressed.
    pub fn compressed(
        &self,
        quantization: Option<Quantization>,
        pruning: Option<Pruning>,
        calibration: &Dataset,
    ) -> Option<Converted> {
        if self.options.quantization.is_some() || self.options.pruning.is_some() {
            return None;
        }
        let options = ConvertOptions {
            quantization,
            pruning,
            ..self.options.clone()
        };
        let mut ann = self.ann.clone();
        let (compression, quantized) = compress_layers(&mut ann, &options, calibration);
        Some(Converted {
            ann,
            options,
            scales: self.scales.clone(),
            example_input: self.example_input.clone(),
            source_model: self.source_model.clone(),
            compression,
            quantized,
        })
    }
}

/// Prune, then quantize, the normalized layers of `ann` as `options` ask.
fn compress_layers(
    ann: &mut Ann,
    options: &ConvertOptions,
    calibration: &Dataset,
) -> (Vec<LayerCompression>, Vec<QuantizedLayer>) {
    let mut weights: Vec<Vec<f32>> = Vec::new();
    ann.scale_neuron_layers(|_, w, _| weights.push(w.to_vec()));
    let totals: Vec<u64> = weights.iter().map(|w| w.len() as u64).collect();
    let kept = match &options.pruning {
        Some(p) => {
            let mut views: Vec<&mut [f32]> = weights.iter_mut().map(|w| &mut w[..]).collect();
            compress::prune(&mut views, p)
        }
        None => totals.clone(),
    };
    let corrected = options.pruning.is_some_and(|p| p.bias_correction);
    let float = corrected.then(|| ann.clone());
    ann.scale_neuron_layers(|l, w, _| w.copy_from_slice(&weights[l]));
    if let Some(float) = &float {
        correct_biases(float, ann, calibration);
    }
    let mut quantized = Vec::new();
    ann.scale_neuron_layers(|_, w, b| {
        if let Some(q) = &options.quantization {
            quantized.push(compress::quantize_layer(w, b, b.len(), q));
        }
    });
    let names: Vec<String> = ann.neuron_layers().map_or_else(
        |_| Vec::new(),
        |ls| ls.iter().map(|l| l.name().to_string()).collect(),
    );
    let compression = (0..totals.len())
        .map(|l| LayerCompression {
            name: names.get(l).cloned().unwrap_or_default(),
            weights: totals[l],
            kept: kept[l],
            bits: options.quantization.map_or(32, |q| q.bits),
            threshold: quantized.get(l).map_or(1.0, |q| q.threshold),
            scales: quantized.get(l).map_or(0, |q| q.multipliers.len() as u64),
        })
        .collect();
    (compression, quantized)
}

/// Calibration samples that bias correction averages over.
const BIAS_CORRECTION_SAMPLES: usize = 1000;

/// Empirical bias correction after pruning (as Nagel et al., ICCV 2019, for quantization):
/// layer by layer, each output channel's bias is moved by the mean difference between its
/// pre-activation in `float` and in `pruned` (the layers before already corrected) over
/// calibration samples, so that pruning leaves every channel's mean input as it was.
fn correct_biases(float: &Ann, pruned: &mut Ann, data: &Dataset) {
    let n = data.len().min(BIAS_CORRECTION_SAMPLES);
    let layers = pruned.neuron_layers().map_or(0, |l| l.len());
    for k in 0..layers {
        let channels = match pruned.neuron_layers().expect("checked")[k].stage {
            Stage::Conv(c) => c.out_channels,
            Stage::Dense(d) => d.n_out,
        };
        let (f_lin, p_lin) = (float.linear_at(k), pruned.linear_at(k));
        let sums = (0..n)
            .into_par_iter()
            .map(|i| {
                let x = data.image(i);
                let (a, b) = (&f_lin.neuron_outputs(x)[k], &p_lin.neuron_outputs(x)[k]);
                let per = a.len() / channels;
                (0..channels)
                    .map(|c| {
                        let range = c * per..(c + 1) * per;
                        (a[range.clone()].iter().zip(&b[range]))
                            .map(|(&f, &p)| f64::from(f) - f64::from(p))
                            .sum::<f64>()
                            / per as f64
                    })
                    .collect::<Vec<f64>>()
            })
            .reduce(
                || vec![0.0; channels],
                |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
            );
        pruned.scale_neuron_layers(|l, _, bias| {
            if l == k {
                for (b, s) in bias.iter_mut().zip(&sums) {
                    *b = (f64::from(*b) + s / n as f64) as f32;
                }
            }
        });
    }
}

/// The population of the `l`-th of `n` layers of neurons.
fn layer_name(l: usize, n: usize) -> String {
    if l + 1 == n {
        "output".to_string()
    } else {
        format!("hidden{}", l + 1)
    }
}

/// Refuse a scaled layer with a weight or bias that is not finite as `f32` (a model whose
/// weights or activations reach beyond what `f32` holds once normalized).
fn check_scaled(
    weight: &[f32],
    bias: &[f32],
    source: &str,
    lambda: f64,
    model: &str,
) -> Result<()> {
    let bad = weight.iter().chain(bias).any(|x| !x.is_finite());
    if bad || !lambda.is_finite() {
        return Err(Error::Data {
            path: model.into(),
            message: format!(
                "layer `{source}`: normalized by its activation scale {}, its weights or biases leave the range of 32-bit floats; the model's weights are too large to convert",
                crate::error::short_number(lambda)
            ),
        });
    }
    Ok(())
}

/// The `[conversion]` table of a converted network file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionSpec {
    /// The model file converted.
    pub source_model: String,
    /// The analog input population.
    pub input: String,
    /// Layer populations in order, the last being the output; their weights and biases are the
    /// tensors `<name>.weight` and `<name>.bias` of `weights`.
    pub layers: Vec<String>,
    /// The safetensors file with the scaled weights.
    pub weights: String,
    /// How the output is read.
    pub readout: Readout,
    /// Input encoding.
    pub encoding: InputEncoding,
    /// Normalization used.
    pub normalization: Normalization,
    /// Reset used.
    pub reset: ConvertReset,
    /// Per-layer scales.
    pub scales: Vec<LayerScale>,
    /// The quantization of the weights, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// The pruning of the weights, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruning: Option<Pruning>,
    /// Per layer: bits, threshold and weights kept; empty in networks converted before it
    /// was recorded (32-bit floats, threshold 1, nothing pruned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compression: Vec<LayerCompression>,
}

impl Converted {
    /// The per-layer table printed by `synops convert`.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| layer | model layer | neurons | calibration max | calibration p{} | scale (lambda) | max |bias| / threshold |",
            match self.options.normalization {
                Normalization::Percentile { p } => p,
                Normalization::Max => 99.9,
            }
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for l in &self.scales {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
                l.name,
                l.source,
                l.neurons,
                l.calibration_max,
                l.calibration_percentile,
                l.scale,
                l.bias_threshold_ratio
            );
        }
        s
    }

    /// Write `<out>.toml` and `<out>.safetensors` (`out` without extension).
    pub fn write(&self, out: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
        let toml_path = out.with_extension("toml");
        let weights_path = out.with_extension("safetensors");
        let weights_name = weights_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = out.file_name().map_or_else(
            || "converted".into(),
            |n| crate::network::names::to_name(&n.to_string_lossy()),
        );
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "cannot create folder", e))?;
        }
        let layers = self.ann.neuron_layers().map_err(|message| Error::Data {
            path: toml_path.clone(),
            message,
        })?;
        let stored = layer_tensors(&layers, &self.quantized, self.options.quantization);
        let tensors: Vec<(String, safetensors::tensor::TensorView)> = stored
            .iter()
            .map(|t| {
                let view = safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                    .expect("shape matches data");
                (t.name.clone(), view)
            })
            .collect();
        let serialized = safetensors::serialize(tensors, None).map_err(|e| Error::Data {
            path: weights_path.clone(),
            message: format!("cannot serialize: {e}"),
        })?;
        write_atomic(&weights_path, |w| w.write_all(&serialized))?;

        let o = &self.options;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# Converted by synops convert from {}.",
            self.source_model
        );
        let _ = writeln!(
            t,
            "# IF neurons (threshold 1, one step = 1 ms); weights and biases in {weights_name}."
        );
        let _ = writeln!(
            t,
            "# `synops eval` replaces the input values sample by sample; `synops run` simulates the"
        );
        let _ = writeln!(t, "# example input below (the first calibration image).");
        let _ = writeln!(t, "version = 1\nname = {:?}", name);
        let _ = writeln!(
            t,
            "description = \"{} normalization, reset by {:?}, {:?} input, {:?} read-out\"",
            o.normalization, o.reset, o.encoding, o.readout
        );
        let _ = writeln!(
            t,
            "\n[simulation]\ndt_ms = 1.0\nduration_ms = {}.0\nseed = 0",
            o.timesteps
        );
        let values: Vec<String> = self.example_input.iter().map(|v| format!("{v}")).collect();
        let encoding = match o.encoding {
            InputEncoding::Analog => "current",
            InputEncoding::Poisson => "poisson",
            InputEncoding::Regular => "regular",
        };
        let _ = writeln!(
            t,
            "\n[[population]]\nname = \"input\"\nsize = {}\nmodel = \"analog\"\nencoding = \"{encoding}\"\nmax_rate_hz = {:?}\nvalues = [{}]",
            self.ann.n_in(),
            o.max_rate_hz,
            values.join(", ")
        );
        let reset = match o.reset {
            ConvertReset::Subtract => "subtract",
            ConvertReset::Zero => "value",
        };
        let n = layers.len();
        for (k, l) in layers.iter().enumerate() {
            let readout = k + 1 == n;
            let threshold = self.quantized.get(k).map_or(1.0, |q| q.threshold);
            let initial = match self.quantized.get(k) {
                Some(_) => (o.initial_potential * threshold).round(),
                None => o.initial_potential,
            };
            let _ = writeln!(
                t,
                "\n[[population]]\nname = \"{}\"\nsize = {}\nmodel = \"if\"\nv_th_mv = {threshold:?}\nv_reset_mv = 0.0\nv_init_mv = {initial:?}\nreset = \"{reset}\"\nbias_tensor = {{ file = \"{weights_name}\", tensor = \"{}.bias\" }}",
                l.name(),
                l.neurons(),
                l.name()
            );
            if readout && o.readout == Readout::Potential {
                let _ = writeln!(t, "spiking = false");
            }
        }
        let mut source = "input".to_string();
        for (k, l) in layers.iter().enumerate() {
            let pruned = self.compression.get(k).is_some_and(|c| c.kept < c.weights);
            let stored = (!self.quantized.is_empty(), pruned);
            let _ = writeln!(
                t,
                "\n[[projection]]\nsource = \"{source}\"\ntarget = \"{}\"\nconnectivity = {}\ndelay_ms = 1.0",
                l.name(),
                connectivity(l, &weights_name, stored)
            );
            source = l.name().to_string();
        }
        for l in &layers {
            let _ = writeln!(t, "\n[[record.spikes]]\npopulation = \"{}\"", l.name());
        }
        let conversion = ConversionSpec {
            source_model: self.source_model.clone(),
            input: "input".into(),
            layers: layers.iter().map(|l| l.name().to_string()).collect(),
            weights: weights_name,
            readout: o.readout,
            encoding: o.encoding,
            normalization: o.normalization,
            reset: o.reset,
            scales: self.scales.clone(),
            quantization: o.quantization,
            pruning: o.pruning,
            compression: self.compression.clone(),
        };
        #[derive(Serialize)]
        struct Wrapper<'c> {
            conversion: &'c ConversionSpec,
        }
        let table = toml::to_string(&Wrapper {
            conversion: &conversion,
        })
        .map_err(|e| Error::Data {
            path: toml_path.clone(),
            message: format!("cannot write the conversion table: {e}"),
        })?;
        let _ = writeln!(t, "\n# What `synops eval` needs to know.\n{table}");
        write_atomic(&toml_path, |w| w.write_all(t.as_bytes()))?;
        // What is written must read back as a valid network; if not, nothing is left behind.
        if let Err(e) = crate::network::compile_file(&toml_path, &Default::default()) {
            let _ = std::fs::remove_file(&toml_path);
            let _ = std::fs::remove_file(&weights_path);
            return Err(Error::Data {
                path: toml_path,
                message: format!("the converted network does not validate (nothing written): {e}"),
            });
        }
        Ok((toml_path, weights_path))
    }
}

/// One tensor to write.
struct StoredTensor {
    name: String,
    shape: Vec<usize>,
    dtype: safetensors::Dtype,
    bytes: Vec<u8>,
}

impl StoredTensor {
    fn f32(name: String, shape: Vec<usize>, data: &[f32]) -> Self {
        let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let dtype = safetensors::Dtype::F32;
        StoredTensor {
            name,
            shape,
            dtype,
            bytes,
        }
    }

    /// Whole numbers `data` as 8-bit integers (`bits` <= 8) or 16-bit ones.
    fn integers(name: String, shape: Vec<usize>, data: &[f32], bits: u32) -> Self {
        let (dtype, bytes) = if bits <= 8 {
            let bytes = data.iter().map(|&x| (x as i8) as u8).collect();
            (safetensors::Dtype::I8, bytes)
        } else {
            let bytes = data
                .iter()
                .flat_map(|&x| (x as i16).to_le_bytes())
                .collect();
            (safetensors::Dtype::I16, bytes)
        };
        StoredTensor {
            name,
            shape,
            dtype,
            bytes,
        }
    }
}

/// The tensors of the converted layers: `<name>.weight` (PyTorch's layout: `[out, in]` or
/// `[out, in / groups, rows, cols]`) and `<name>.bias`, one per neuron (a convolution's
/// channel bias at each of its positions); a quantized layer's weights are integers, with
/// their multipliers in `<name>.weight_scale`.
fn layer_tensors(
    layers: &[NeuronLayer],
    quantized: &[QuantizedLayer],
    quantization: Option<Quantization>,
) -> Vec<StoredTensor> {
    let mut out = Vec::new();
    for (k, l) in layers.iter().enumerate() {
        let name = l.name();
        let (shape, weight, bias) = match l.stage {
            Stage::Dense(d) => (vec![d.n_out, d.n_in], &d.weight, d.bias.clone()),
            Stage::Conv(c) => {
                let per_group = c.in_shape[0] / c.groups;
                let shape = vec![c.out_channels, per_group, c.kernel[0], c.kernel[1]];
                let [_, h, w] = c.out_shape();
                let bias = c
                    .bias
                    .iter()
                    .flat_map(|&b| std::iter::repeat_n(b, h * w))
                    .collect();
                (shape, &c.weight, bias)
            }
        };
        let weight_name = format!("{name}.weight");
        match (quantized.get(k), quantization) {
            (Some(q), Some(quantization)) => {
                out.push(StoredTensor::integers(
                    weight_name,
                    shape,
                    weight,
                    quantization.bits,
                ));
                let scales = &q.multipliers;
                out.push(StoredTensor::f32(
                    format!("{name}.weight_scale"),
                    vec![scales.len()],
                    scales,
                ));
            }
            _ => out.push(StoredTensor::f32(weight_name, shape, weight)),
        }
        out.push(StoredTensor::f32(
            format!("{name}.bias"),
            vec![bias.len()],
            &bias,
        ));
    }
    out
}

/// The connectivity of the projection into a layer, as the network file writes it.
fn connectivity(l: &NeuronLayer, weights: &str, (quantized, pruned): (bool, bool)) -> String {
    let name = l.name();
    let mut extra = String::new();
    if quantized {
        let _ = write!(extra, ", weight_scale = \"{name}.weight_scale\"");
    }
    if pruned {
        extra.push_str(", drop_zeros = true");
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let pool = l.pool.map(|p| {
        format!(
            "pool = {{ kernel = [{}], stride = [{}], padding = [{}], count_include_pad = {} }}",
            list(&p.kernel),
            list(&p.stride),
            list(&p.pads),
            p.count_include_pad
        )
    });
    let input = |shape: &[usize]| format!("input = [{}]", list(shape));
    match (l.stage, pool) {
        (Stage::Dense(_), None) => format!(
            "{{ rule = \"dense\", file = \"{weights}\", tensor = \"{name}.weight\"{extra} }}"
        ),
        (Stage::Dense(_), Some(pool)) => format!(
            "{{ rule = \"conv\", file = \"{weights}\", tensor = \"{name}.weight\", {}, {pool}{extra} }}",
            input(&l.pool.expect("a pooling").in_shape)
        ),
        (Stage::Conv(c), pool) => {
            let source = l.pool.map_or(c.in_shape, |p| p.in_shape);
            format!(
                "{{ rule = \"conv\", file = \"{weights}\", tensor = \"{name}.weight\", {}, stride = [{}], padding = [{}], dilation = [{}], groups = {}{}{extra} }}",
                input(&source),
                list(&c.stride),
                list(&c.pads),
                list(&c.dilation),
                c.groups,
                pool.map_or(String::new(), |p| format!(", {p}"))
            )
        }
    }
}
