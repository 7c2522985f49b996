//! Efficiency knobs of a converted network: magnitude pruning and weight quantization.
//!
//! Both act on the normalized layers, where every threshold is 1 and weights of different
//! layers are comparable.
//!
//! **Pruning** (`magnitude:F`) removes the fraction `F` of the weights with the smallest
//! magnitude, over all layers at once (`global`) or in each layer (`layer`). A pruned layer's
//! projection drops its zero weights: they are not stored, delivered or counted as SOPs. Then,
//! unless `uncorrected`, each layer's biases are corrected on the calibration samples, layer by
//! layer: every output channel gets back the mean pre-activation pruning took from it.
//!
//! **Quantization** (`BITS`) stores each weight as a whole number `q` in `±(2^(BITS-1) - 1)`
//! (symmetric) with a scale, and the neurons compute in whole numbers: in units of `1 / Θ` of
//! the threshold, a layer's threshold is the whole number `Θ = 2^F`, its weights are `q K`
//! (`K` a whole-number multiplier per layer or per output channel: the scale is `K / Θ`), its
//! biases and initial potentials are rounded to whole numbers. Every sum the engine forms is
//! then a whole number below 2^53, exact in its `f64` arithmetic in any order: the spikes are
//! those of integer hardware (an accumulator, an integer threshold, reset by subtraction).
//! Scales:
//! - `layer`: one scale per layer, `max |w| / qmax`;
//! - `channel`: one per output channel (neuron of a dense layer, channel of a convolution);
//! - `pow2`: one power of two per layer, the largest that keeps `max |w|` in range (`K` or `Θ`
//!   is 1: shift-based hardware).
//!
//! `F` is at most 19 (the threshold at most 2^19 units), and lower where a bias or a weight
//! would otherwise leave the whole numbers an `f32` tensor holds exactly (2^24).
//!
//! The analog input's constant current into the first layer is the one real-valued quantity:
//! pixels are real numbers (spike encodings make that layer whole-numbered too).

use serde::{Deserialize, Serialize};

/// The largest exponent of a quantized layer's threshold `2^F`.
pub const MAX_THRESHOLD_EXPONENT: i32 = 19;

/// Whole numbers an `f32` holds exactly: below 2^24.
const F32_WHOLE: f64 = (1u32 << 24) as f64;

/// How a layer's scales are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// One scale per layer.
    Layer,
    /// One scale per output channel.
    Channel,
    /// One power-of-two scale per layer.
    Pow2,
}

/// Weight quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantization {
    /// Bits per weight, sign included: 2 to 12.
    pub bits: u32,
    /// How the scales are chosen.
    pub scale: ScaleMode,
}

/// Over which weights a pruning fraction is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PruneScope {
    /// One magnitude threshold over all layers.
    Global,
    /// The fraction in each layer.
    Layer,
}

/// Magnitude pruning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pruning {
    /// Fraction of the weights removed, in [0, 1).
    pub fraction: f64,
    /// Over which weights.
    pub scope: PruneScope,
    /// Move each output channel's bias by the mean input pruning took from it, measured on
    /// the calibration samples (see [`crate::convert`]); `uncorrected` turns it off.
    #[serde(default = "corrected")]
    pub bias_correction: bool,
}

fn corrected() -> bool {
    true
}

/// The bits of a quantized layer, and what pruning left of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerCompression {
    /// Population.
    pub name: String,
    /// Weights stored before pruning (a kernel's once).
    pub weights: u64,
    /// Weights kept by pruning (all, without it).
    pub kept: u64,
    /// Bits per stored weight (32: floating point).
    pub bits: u32,
    /// The threshold in whole-number units (1 without quantization).
    pub threshold: f64,
    /// Scales stored (one per output channel, or one).
    pub scales: u64,
}

impl LayerCompression {
    /// Bytes of the stored weights: `kept x bits / 8`, plus 4 per scale of a quantized layer.
    pub fn weight_bytes(&self) -> u64 {
        let scales = if self.bits < 32 { self.scales * 4 } else { 0 };
        (self.kept * u64::from(self.bits)).div_ceil(8) + scales
    }
}

/// Parse `--quantize BITS[:layer|channel|pow2]`.
pub fn parse_quantization(text: &str) -> Result<Quantization, String> {
    let (bits, scale) = text.split_once(':').unwrap_or((text, "layer"));
    let bits: u32 = bits.trim().parse().map_err(|_| {
        format!("`{text}`: expected BITS[:layer|channel|pow2], e.g. 8 or 4:channel")
    })?;
    if !(2..=12).contains(&bits) {
        return Err(format!(
            "{bits} bits: quantization takes 2 to 12 bits per weight (32-bit floats need no --quantize)"
        ));
    }
    let scale = match scale.trim() {
        "layer" => ScaleMode::Layer,
        "channel" => ScaleMode::Channel,
        "pow2" => ScaleMode::Pow2,
        other => {
            return Err(format!(
                "unknown scale `{other}`: expected layer, channel or pow2"
            ));
        }
    };
    Ok(Quantization { bits, scale })
}

/// Parse `--prune magnitude:FRACTION[:global|layer][:uncorrected]`.
pub fn parse_pruning(text: &str) -> Result<Pruning, String> {
    let mut parts = text.split(':');
    let usage = || {
        format!(
            "`{text}`: expected magnitude:FRACTION[:global|layer][:uncorrected], e.g. magnitude:0.5"
        )
    };
    if parts.next().map(str::trim) != Some("magnitude") {
        return Err(usage());
    }
    let fraction: f64 = parts
        .next()
        .and_then(|f| f.trim().parse().ok())
        .ok_or_else(usage)?;
    if !(0.0..1.0).contains(&fraction) {
        return Err(format!(
            "pruning fraction {fraction}: must be in [0, 1) (the fraction of weights removed)"
        ));
    }
    let mut scope = PruneScope::Global;
    let mut bias_correction = true;
    for (k, part) in parts.map(str::trim).enumerate() {
        match part {
            "global" if k == 0 => scope = PruneScope::Global,
            "layer" if k == 0 => scope = PruneScope::Layer,
            "uncorrected" if bias_correction => bias_correction = false,
            other if k == 0 => {
                return Err(format!(
                    "unknown scope `{other}`: expected global or layer (then uncorrected, optionally)"
                ));
            }
            _ => return Err(usage()),
        }
    }
    Ok(Pruning {
        fraction,
        scope,
        bias_correction,
    })
}

/// Zero the smallest-magnitude weights of `layers` (each layer's weights) as `pruning` asks;
/// returns the weights kept per layer. Ties at the cut are broken by position, so exactly
/// `round(fraction x weights)` go.
pub fn prune(layers: &mut [&mut [f32]], pruning: &Pruning) -> Vec<u64> {
    match pruning.scope {
        PruneScope::Layer => {
            for w in layers.iter_mut() {
                prune_smallest(&mut [&mut **w], pruning.fraction);
            }
        }
        PruneScope::Global => prune_smallest(layers, pruning.fraction),
    }
    layers
        .iter()
        .map(|w| w.iter().filter(|&&x| x != 0.0).count() as u64)
        .collect()
}

/// Zero the `fraction` of the weights of all of `layers` with the smallest magnitude.
fn prune_smallest(layers: &mut [&mut [f32]], fraction: f64) {
    let total: usize = layers.iter().map(|w| w.len()).sum();
    let cut = (fraction * total as f64).round() as usize;
    if cut == 0 {
        return;
    }
    let mut order: Vec<(f32, u32, u32)> = Vec::with_capacity(total);
    for (l, w) in layers.iter().enumerate() {
        order.extend(
            w.iter()
                .enumerate()
                .map(|(i, x)| (x.abs(), l as u32, i as u32)),
        );
    }
    order.select_nth_unstable_by(cut - 1, |a, b| {
        a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2)))
    });
    for &(_, l, i) in &order[..cut] {
        layers[l as usize][i as usize] = 0.0;
    }
}

/// A quantized layer: its threshold, and its weights and biases rewritten in place as whole
/// numbers (weights `q`, biases in units of `1 / threshold`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedLayer {
    /// `Θ = 2^F`: the threshold in whole-number units.
    pub threshold: f64,
    /// The multiplier `K` of each output channel (or one for the layer): weight = `q K`.
    pub multipliers: Vec<f32>,
    /// Weights that did not fit `±qmax` and were clipped (only `pow2` can clip: never 0 scale).
    pub clipped: u64,
}

/// Quantize one normalized layer (threshold 1) of `channels` output channels, the weights of
/// channel `c` being the `c`-th of `channels` equal chunks; rewrites `weight` to `q` and `bias`
/// to whole numbers in units of `1 / threshold`.
pub fn quantize_layer(
    weight: &mut [f32],
    bias: &mut [f32],
    channels: usize,
    q: &Quantization,
) -> QuantizedLayer {
    let qmax = f64::from((1u32 << (q.bits - 1)) - 1);
    let channels = channels.max(1);
    let per = weight.len().div_ceil(channels).max(1);
    let channel_max: Vec<f64> = weight
        .chunks(per)
        .map(|c| c.iter().fold(0f64, |m, &w| m.max(f64::from(w).abs())))
        .collect();
    let layer_max = channel_max.iter().copied().fold(0f64, f64::max);
    let bias_max = bias.iter().fold(0f64, |m, &b| m.max(f64::from(b).abs()));
    let nonzero = |m: f64| if m > 0.0 { m } else { layer_max.max(1.0) };
    // The exponent F: as large as allowed, so that the multipliers carry the scales closely.
    let mut f = MAX_THRESHOLD_EXPONENT;
    let fits = |f: i32| {
        let theta = f64::powi(2.0, f);
        bias_max * theta < F32_WHOLE && layer_max * theta < F32_WHOLE / 2.0
    };
    while f > 0 && !fits(f) {
        f -= 1;
    }
    let (theta, multipliers): (f64, Vec<f64>) = match q.scale {
        ScaleMode::Layer => {
            let theta = f64::powi(2.0, f);
            let k = (nonzero(layer_max) / qmax * theta).ceil();
            (theta, vec![k])
        }
        ScaleMode::Channel => {
            let theta = f64::powi(2.0, f);
            let ks = (channel_max.iter())
                .map(|&m| (nonzero(m) / qmax * theta).ceil())
                .collect();
            (theta, ks)
        }
        ScaleMode::Pow2 => {
            // The scale 2^-e, e the largest with max|w| 2^e <= qmax.
            let e = (qmax / nonzero(layer_max)).log2().floor() as i32;
            let e = e.min(f);
            if e >= 0 {
                (f64::powi(2.0, e), vec![1.0])
            } else {
                (1.0, vec![f64::powi(2.0, -e)])
            }
        }
    };
    let mut clipped = 0;
    for (c, chunk) in weight.chunks_mut(per).enumerate() {
        let k = multipliers[c.min(multipliers.len() - 1)];
        for w in chunk {
            let x = (f64::from(*w) * theta / k).round();
            if x.abs() > qmax {
                clipped += 1;
            }
            *w = x.clamp(-qmax, qmax) as f32;
        }
    }
    for b in bias.iter_mut() {
        *b = (f64::from(*b) * theta).round() as f32;
    }
    QuantizedLayer {
        threshold: theta,
        multipliers: multipliers.iter().map(|&k| k as f32).collect(),
        clipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse_with_reasons() {
        assert_eq!(
            parse_quantization("4:channel"),
            Ok(Quantization {
                bits: 4,
                scale: ScaleMode::Channel
            })
        );
        assert_eq!(parse_quantization("8").unwrap().scale, ScaleMode::Layer);
        assert!(parse_quantization("1").unwrap_err().contains("2 to 12"));
        assert!(
            parse_quantization("8:row")
                .unwrap_err()
                .contains("unknown scale")
        );
        assert!(parse_quantization("x").unwrap_err().contains("BITS"));
        let p = parse_pruning("magnitude:0.5:layer:uncorrected").unwrap();
        assert!(!p.bias_correction);
        assert!(parse_pruning("magnitude:0.5:uncorrected").unwrap().scope == PruneScope::Global);
        assert!(parse_pruning("magnitude:0.5").unwrap().bias_correction);
        let p = parse_pruning("magnitude:0.5:layer").unwrap();
        assert_eq!((p.fraction, p.scope), (0.5, PruneScope::Layer));
        assert!(parse_pruning("magnitude:1").unwrap_err().contains("[0, 1)"));
        assert!(
            parse_pruning("random:0.5")
                .unwrap_err()
                .contains("magnitude:FRACTION")
        );
        assert!(
            parse_pruning("magnitude:0.5:all")
                .unwrap_err()
                .contains("unknown scope")
        );
    }

    #[test]
    fn pruning_removes_exactly_the_smallest_weights() {
        let mut a = vec![0.5f32, -0.1, 0.3, -0.05];
        let mut b = vec![0.2f32, 0.01, -0.4, 0.6];
        let kept = prune(
            &mut [&mut a, &mut b],
            &Pruning {
                bias_correction: true,
                fraction: 0.5,
                scope: PruneScope::Global,
            },
        );
        assert_eq!(a, [0.5, 0.0, 0.3, 0.0]);
        assert_eq!(b, [0.0, 0.0, -0.4, 0.6]);
        assert_eq!(kept, [2, 2]);
        let mut a = vec![0.5f32, -0.1, 0.3, -0.05];
        let mut b = vec![0.2f32, 0.01, -0.4, 0.6];
        let kept = prune(
            &mut [&mut a, &mut b],
            &Pruning {
                bias_correction: true,
                fraction: 0.25,
                scope: PruneScope::Layer,
            },
        );
        assert_eq!((a[3], b[1]), (0.0, 0.0));
        assert_eq!(kept, [3, 3]);
    }

    /// Every quantized weight is a whole number within ±qmax, and `q K / Θ` is within half a
    /// step of the weight it stands for.
    #[test]
    fn quantized_weights_are_whole_and_within_half_a_step() {
        let original: Vec<f32> = (0..64)
            .map(|k| ((k * 37 % 29) as f32 - 14.0) / 17.0)
            .collect();
        for bits in [2, 4, 8, 12] {
            for scale in [ScaleMode::Layer, ScaleMode::Channel, ScaleMode::Pow2] {
                let (mut w, mut b) = (original.clone(), vec![0.25f32, -1.5, 0.0, 2.0]);
                let q = quantize_layer(&mut w, &mut b, 4, &Quantization { bits, scale });
                let qmax = f64::from((1u32 << (bits - 1)) - 1);
                assert_eq!(q.clipped, 0, "{bits} {scale:?}");
                assert!(q.threshold.fract() == 0.0 && q.threshold <= f64::powi(2.0, 19));
                for (c, (chunk, orig)) in w.chunks(16).zip(original.chunks(16)).enumerate() {
                    let k = f64::from(q.multipliers[c.min(q.multipliers.len() - 1)]);
                    for (&x, &o) in chunk.iter().zip(orig) {
                        let x = f64::from(x);
                        assert!(x.fract() == 0.0 && x.abs() <= qmax, "{bits} {scale:?} {x}");
                        let step = k / q.threshold;
                        assert!((x * step - f64::from(o)).abs() <= step / 2.0 + 1e-12);
                    }
                }
                let want = [0.25, -1.5, 0.0, 2.0].map(|v: f64| (v * q.threshold).round() as f32);
                assert_eq!(b, want);
            }
        }
    }
}
