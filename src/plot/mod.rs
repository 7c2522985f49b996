//! Figures from the files synops writes, as PNG or SVG, headless.
//!
//! Every figure reads result files only (`spikes.csv`, `traces.csv`, `weights.csv`,
//! `summary.json`, `eval.json`, `energy.json`); nothing here runs inside the simulation loop. PNG text uses the
//! DejaVu Sans font bundled in the crate (no system font or graphics library is needed); SVG
//! output needs none. Figures are drawn to a temporary file and renamed into place.

mod data;
mod weights;

use crate::error::{Error, Result};
use data::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
pub use weights::{DEFAULT_TRACED, WeightData};

/// The figure kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Spike raster, populations coloured.
    Raster,
    /// Population rates over time and the distribution of per-neuron rates.
    Rates,
    /// Membrane potential (and synaptic currents) of traced neurons.
    Traces,
    /// Inter-spike intervals and their coefficient of variation.
    Isi,
    /// Energy per layer or projection, per device, SNN and ANN.
    Energy,
    /// Accuracy against time steps, with the ANN's accuracy.
    Accuracy,
    /// Accuracy against SOPs per inference, with the ANN's MACs.
    Tradeoff,
    /// Per-layer SNN rate against normalized ANN activation.
    Layers,
    /// Accuracy against energy per inference, one line per device, the ANN as reference.
    EnergyVsT,
    /// Weight distribution of plastic projections over time, and chosen synapses' weights.
    Weights,
    /// Accuracy against energy per inference of every point of a sweep, per device, with
    /// its Pareto front.
    Pareto,
}

impl Kind {
    /// All kinds, for help texts and tests.
    pub const ALL: [Kind; 11] = [
        Kind::Raster,
        Kind::Rates,
        Kind::Traces,
        Kind::Isi,
        Kind::Energy,
        Kind::Accuracy,
        Kind::Tradeoff,
        Kind::Layers,
        Kind::EnergyVsT,
        Kind::Weights,
        Kind::Pareto,
    ];

    /// The name used on the command line and as a file stem.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Raster => "raster",
            Kind::Rates => "rates",
            Kind::Traces => "traces",
            Kind::Isi => "isi",
            Kind::Energy => "energy",
            Kind::Accuracy => "accuracy",
            Kind::Tradeoff => "tradeoff",
            Kind::Layers => "layers",
            Kind::EnergyVsT => "energy-vs-t",
            Kind::Weights => "weights",
            Kind::Pareto => "pareto",
        }
    }
}

static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| unreachable!("the bundled font is valid"));
    });
}

/// Colours of successive series.
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// The smallest width or height of a figure \[pixels\] that leaves room for its axes.
pub const MIN_PIXELS: u32 = 200;
/// The largest width or height of a figure \[pixels\] (a 10,000 x 10,000 PNG is 300 MB in
/// memory).
pub const MAX_PIXELS: u32 = 10_000;

/// Draw figure `kind` from `input` (a results folder or the file itself) into `output`
/// (`.png` or `.svg`) of `size` pixels.
pub fn plot(kind: Kind, input: &Path, output: &Path, size: (u32, u32)) -> Result<()> {
    plot_with(kind, input, output, size, &[])
}

/// [`plot`], tracing the weights of `synapses` (indices as in `weights.csv`) in a
/// [`Kind::Weights`] figure; other kinds take no synapses.
pub fn plot_with(
    kind: Kind,
    input: &Path,
    output: &Path,
    size: (u32, u32),
    synapses: &[u32],
) -> Result<()> {
    if !synapses.is_empty() && kind != Kind::Weights {
        return Err(Error::Data {
            path: "--synapses".into(),
            message: format!(
                "chooses the synapses of `plot weights`; a {} figure has none",
                kind.name()
            ),
        });
    }
    for (name, pixels) in [("--width", size.0), ("--height", size.1)] {
        if !(MIN_PIXELS..=MAX_PIXELS).contains(&pixels) {
            return Err(Error::Data {
                path: name.into(),
                message: format!(
                    "a figure is {MIN_PIXELS} to {MAX_PIXELS} pixels wide and high, got {pixels}"
                ),
            });
        }
    }
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let svg = match ext.as_deref() {
        Some("svg") => true,
        Some("png") => false,
        _ => {
            return Err(Error::Data {
                path: output.to_path_buf(),
                message: "the figure's file name must end in .png or .svg".into(),
            });
        }
    };
    // Read and check all input before creating any file.
    let figure = Figure::load(kind, input, synapses)?;
    register_font();
    if output.is_dir() {
        return Err(Error::Data {
            path: output.to_path_buf(),
            message: "is a folder; name the figure's file (.png or .svg)".into(),
        });
    }
    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(
        ".{stem}.tmp-{}.{}",
        std::process::id(),
        if svg { "svg" } else { "png" }
    ));
    // Whether the figure can be written there, said in the operating system's words (the
    // drawing backends report it as a debug dump).
    std::fs::File::create(&tmp).map_err(|e| Error::io(output, "cannot write", e))?;
    let drawn = if svg {
        let root = SVGBackend::new(&tmp, size).into_drawing_area();
        figure.draw(root)
    } else {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        figure.draw(root)
    };
    let result = drawn
        .map_err(|message| Error::Data {
            path: output.to_path_buf(),
            message: format!("cannot draw: {message}"),
        })
        .and_then(|()| {
            std::fs::rename(&tmp, output).map_err(|e| Error::io(output, "cannot write", e))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A figure's data, loaded and checked.
enum Figure {
    Raster(SpikeData),
    Rates(SpikeData),
    Traces(TraceData),
    Isi(SpikeData),
    Energy(Box<crate::energy::EnergyReport>),
    Accuracy(Box<crate::eval::EvalReport>),
    Tradeoff(Box<crate::eval::EvalReport>),
    Layers(Box<crate::eval::EvalReport>),
    EnergyVsT(Box<crate::energy::EnergyReport>),
    Weights(WeightData),
    Pareto(Box<crate::sweep::SweepReport>),
}

impl Figure {
    fn load(kind: Kind, input: &Path, synapses: &[u32]) -> Result<Self> {
        Ok(match kind {
            Kind::Weights => Figure::Weights(WeightData::load(input, synapses)?),
            Kind::Pareto => {
                let report: crate::sweep::SweepReport = load_json(input, "sweep.json")?;
                report.check().map_err(|message| Error::Data {
                    path: resolve(input, "sweep.json").unwrap_or_else(|_| input.to_path_buf()),
                    message,
                })?;
                Figure::Pareto(Box::new(report))
            }
            Kind::Raster => Figure::Raster(SpikeData::load(input)?),
            Kind::Rates => Figure::Rates(SpikeData::load(input)?),
            Kind::Isi => Figure::Isi(SpikeData::load(input)?),
            Kind::Traces => Figure::Traces(TraceData::load(input)?),
            Kind::Energy => Figure::Energy(Box::new(load_json(input, "energy.json")?)),
            Kind::Accuracy => Figure::Accuracy(Box::new(load_json(input, "eval.json")?)),
            Kind::Tradeoff => Figure::Tradeoff(Box::new(load_json(input, "eval.json")?)),
            Kind::Layers => Figure::Layers(Box::new(load_json(input, "eval.json")?)),
            Kind::EnergyVsT => {
                let report: crate::energy::EnergyReport = load_json(input, "energy.json")?;
                if report.across_timesteps.is_empty() || report.ann.is_none() {
                    return Err(Error::Data {
                        path: input.to_path_buf(),
                        message: "an energy report of an evaluation is needed (this one has no time steps): make it with `synops energy eval.json --format json` or `synops eval --energy`".into(),
                    });
                }
                Figure::EnergyVsT(Box::new(report))
            }
        })
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        match self {
            Figure::Raster(d) => draw_raster(&root, d).map_err(err)?,
            Figure::Rates(d) => draw_rates(&root, d).map_err(err)?,
            Figure::Traces(d) => draw_traces(&root, d).map_err(err)?,
            Figure::Isi(d) => draw_isi(&root, d).map_err(err)?,
            Figure::Energy(r) => draw_energy(&root, r).map_err(err)?,
            Figure::Accuracy(r) => draw_accuracy(&root, r).map_err(err)?,
            Figure::Tradeoff(r) => draw_tradeoff(&root, r).map_err(err)?,
            Figure::Layers(r) => draw_layers(&root, r).map_err(err)?,
            Figure::EnergyVsT(r) => draw_energy_vs_t(&root, r).map_err(err)?,
            Figure::Weights(d) => weights::draw_weights(&root, d).map_err(err)?,
            Figure::Pareto(r) => draw_pareto(&root, r).map_err(err)?,
        }
        root.present().map_err(err)
    }
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn title_font() -> TextStyle<'static> {
    ("sans-serif", 22).into_font().into()
}

fn label_font() -> TextStyle<'static> {
    ("sans-serif", 15).into_font().into()
}

fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
}

/// Neurons shown per population in a raster: a stated subset of large populations.
const RASTER_NEURONS: u32 = 200;

fn draw_raster<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &SpikeData) -> DrawResult<DB> {
    let shown: Vec<u32> = d
        .populations
        .iter()
        .map(|p| p.size.min(RASTER_NEURONS))
        .collect();
    let total: u32 = shown.iter().sum::<u32>().max(1);
    let subset = d.populations.iter().any(|p| p.size > RASTER_NEURONS);
    let caption = if subset {
        format!(
            "{}: spike raster (first {RASTER_NEURONS} neurons of each population)",
            d.network
        )
    } else {
        format!("{}: spike raster", d.network)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(caption, title_font())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..d.duration_ms, 0f64..f64::from(total))?;
    chart
        .configure_mesh()
        .x_desc("time [ms]")
        .y_desc("neuron (populations stacked)")
        .axis_desc_style(label_font())
        .x_labels(10)
        .y_labels(8)
        .disable_mesh()
        .draw()?;
    let mut offset = 0u32;
    let radius = if total > 300 { 1 } else { 2 };
    for (k, p) in d.populations.iter().enumerate() {
        let c = color(k);
        let off = offset;
        let limit = shown[k];
        chart
            .draw_series(
                d.spikes
                    .iter()
                    .filter(|s| s.population == k && s.index < limit)
                    .map(move |s| {
                        Circle::new(
                            (s.time_ms, f64::from(off + s.index) + 0.5),
                            radius,
                            c.filled(),
                        )
                    }),
            )?
            .label(format!("{} ({} of {} neurons)", p.name, limit, p.size))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
        offset += limit;
    }
    legend(&mut chart)
}

fn draw_rates<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &SpikeData) -> DrawResult<DB> {
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 * 3 / 5);
    // Population rate over time.
    let bins = 100usize;
    let bin_ms = d.duration_ms / bins as f64;
    let series: Vec<Vec<(f64, f64)>> = d
        .populations
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut counts = vec![0f64; bins];
            for s in d.spikes.iter().filter(|s| s.population == k) {
                let b = ((s.time_ms / bin_ms) as usize).min(bins - 1);
                counts[b] += 1.0;
            }
            counts
                .iter()
                .enumerate()
                .map(|(b, &c)| {
                    (
                        (b as f64 + 0.5) * bin_ms,
                        c / f64::from(p.recorded.max(1)) / (bin_ms * 1e-3),
                    )
                })
                .collect()
        })
        .collect();
    let max_rate = series
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(&left)
        .caption(
            format!("{}: population rate ({bin_ms:.1} ms bins)", d.network),
            title_font(),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..d.duration_ms, 0f64..max_rate)?;
    chart
        .configure_mesh()
        .x_desc("time [ms]")
        .y_desc("rate [Hz]")
        .axis_desc_style(label_font())
        .x_labels(8)
        .y_labels(8)
        .draw()?;
    for (k, (p, s)) in d.populations.iter().zip(&series).enumerate() {
        let c = color(k);
        chart
            .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(2)))?
            .label(&p.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    legend(&mut chart)?;
    // Per-neuron rate histogram.
    let seconds = d.duration_ms * 1e-3;
    let per_neuron: Vec<(String, Vec<f64>)> = d
        .populations
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut c = vec![0f64; p.size as usize];
            for s in d.spikes.iter().filter(|s| s.population == k) {
                c[s.index as usize] += 1.0;
            }
            if p.recorded < p.size {
                // Only some neurons were recorded: count those that spiked.
                c.retain(|&x| x > 0.0);
            }
            (p.name.clone(), c.iter().map(|x| x / seconds).collect())
        })
        .collect();
    histogram(
        &right,
        "per-neuron rates",
        "rate [Hz]",
        "fraction of neurons",
        &per_neuron,
    )
}

fn draw_traces<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &TraceData) -> DrawResult<DB> {
    let has_currents = d
        .traces
        .iter()
        .any(|t| t.others.iter().any(|(_, o)| o.iter().any(|s| s.1 != 0.0)));
    let (top, bottom) = if has_currents {
        let (a, b) = root.split_vertically(root.dim_in_pixel().1 * 3 / 5);
        (a, Some(b))
    } else {
        (root.clone(), None)
    };
    let t_max = d
        .traces
        .iter()
        .flat_map(|t| t.samples.last())
        .map(|s| s.0)
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut v_lo = d
        .traces
        .iter()
        .flat_map(|t| &t.samples)
        .map(|s| s.1)
        .fold(f64::INFINITY, f64::min);
    let mut v_hi = d
        .traces
        .iter()
        .flat_map(|t| &t.samples)
        .map(|s| s.1)
        .fold(f64::NEG_INFINITY, f64::max);
    for t in &d.traces {
        if let Some(th) = t.threshold {
            v_lo = v_lo.min(th);
            v_hi = v_hi.max(th);
        }
    }
    let pad = ((v_hi - v_lo) * 0.08).max(0.5);
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("{}: membrane potential", d.network), title_font())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_max, (v_lo - pad)..(v_hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("time [ms]")
        .y_desc("v [mV]")
        .axis_desc_style(label_font())
        .x_labels(8)
        .y_labels(8)
        .draw()?;
    for (k, t) in d.traces.iter().enumerate() {
        let c = color(k);
        chart
            .draw_series(LineSeries::new(
                t.samples.iter().map(|s| (s.0, s.1)),
                c.stroke_width(2),
            ))?
            .label(format!("{}[{}]", t.population, t.index))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        // Spike marks at the top of the plot.
        let y0 = v_hi + pad * 0.2;
        let y1 = v_hi + pad * 0.9;
        chart.draw_series(
            t.spikes
                .iter()
                .map(|&ts| PathElement::new(vec![(ts, y0), (ts, y1)], c.stroke_width(2))),
        )?;
    }
    let mut thresholds: Vec<f64> = d.traces.iter().filter_map(|t| t.threshold).collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    for (k, th) in thresholds.into_iter().enumerate() {
        let dashes = (0..60).map(|i| {
            let x0 = t_max * i as f64 / 60.0;
            PathElement::new(
                vec![(x0, th), (x0 + t_max / 120.0, th)],
                BLACK.stroke_width(1),
            )
        });
        let series = chart.draw_series(dashes)?;
        if k == 0 {
            series.label("threshold").legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 8, y), (x + 12, y), (x + 20, y)], BLACK)
            });
        }
    }
    legend(&mut chart)?;
    if let Some(bottom) = bottom {
        let others = || d.traces.iter().flat_map(|t| &t.others).flat_map(|(_, o)| o);
        let lo = others().map(|s| s.1).fold(0.0, f64::min);
        let hi = others().map(|s| s.1).fold(0.0, f64::max);
        let pad = ((hi - lo) * 0.08).max(0.1);
        let mut chart = ChartBuilder::on(&bottom)
            .caption("other state variables", ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..t_max, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("time [ms]")
            .y_desc("value (unit in the legend)")
            .axis_desc_style(label_font())
            .x_labels(8)
            .y_labels(6)
            .draw()?;
        for (k, t) in d.traces.iter().enumerate() {
            let c = color(k);
            for (j, (name, values)) in t.others.iter().enumerate() {
                // The first variable in the neuron's colour, the next ones lighter and thinner.
                let style = if j == 0 {
                    c.stroke_width(2)
                } else {
                    c.mix(0.5).stroke_width(1)
                };
                chart
                    .draw_series(LineSeries::new(values.iter().copied(), style))?
                    .label(format!("{}[{}] {name}", t.population, t.index))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
        }
        legend(&mut chart)?;
    }
    Ok(())
}

/// Histograms of several groups side by side, as fractions of each group.
fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    groups: &[(String, Vec<f64>)],
) -> DrawResult<DB> {
    // Only finite values have a bin (and an infinite one would make the axis endless).
    let top = groups
        .iter()
        .flat_map(|g| &g.1)
        .copied()
        .filter(|x| x.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9);
    let bins = 40usize;
    let width = top / bins as f64 * 1.0001;
    let hists: Vec<Vec<f64>> = groups
        .iter()
        .map(|(_, v)| {
            let mut h = vec![0f64; bins];
            for &x in v.iter().filter(|x| x.is_finite()) {
                h[((x / width) as usize).min(bins - 1)] += 1.0;
            }
            let n = v.len().max(1) as f64;
            h.iter().map(|c| c / n).collect()
        })
        .collect();
    let ymax = hists
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, title_font())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..width * bins as f64, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(label_font())
        .x_labels(6)
        .y_labels(8)
        .draw()?;
    let n = groups.len().max(1) as f64;
    for (k, ((name, _), h)) in groups.iter().zip(&hists).enumerate() {
        let c = color(k);
        chart
            .draw_series(
                h.iter()
                    .enumerate()
                    .filter(|(_, v)| **v > 0.0)
                    .map(move |(b, &v)| {
                        let x0 = b as f64 * width + width * k as f64 / n;
                        Rectangle::new([(x0, 0.0), (x0 + width / n, v)], c.mix(0.8).filled())
                    }),
            )?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    legend(&mut chart)
}

fn draw_isi<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &SpikeData) -> DrawResult<DB> {
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let mut isis = Vec::new();
    let mut cvs = Vec::new();
    for (k, p) in d.populations.iter().enumerate() {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); p.size as usize];
        for s in d.spikes.iter().filter(|s| s.population == k) {
            times[s.index as usize].push(s.time_ms);
        }
        let mut pop_isi = Vec::new();
        let mut pop_cv = Vec::new();
        for t in &mut times {
            // (A hand-edited file may list a neuron's spikes out of order.)
            t.sort_by(f64::total_cmp);
            let intervals: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            let mean = intervals.iter().sum::<f64>() / intervals.len().max(1) as f64;
            if intervals.len() >= 2 && mean > 0.0 {
                let var = intervals.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                    / intervals.len() as f64;
                pop_cv.push(var.sqrt() / mean);
            }
            pop_isi.extend(intervals);
        }
        isis.push((p.name.clone(), pop_isi));
        cvs.push((
            format!("{} ({} neurons with >= 3 spikes)", p.name, pop_cv.len()),
            pop_cv,
        ));
    }
    histogram(
        &left,
        &format!("{}: inter-spike intervals", d.network),
        "ISI [ms]",
        "fraction of intervals",
        &isis,
    )?;
    histogram(
        &right,
        "coefficient of variation of ISIs",
        "CV",
        "fraction of neurons",
        &cvs,
    )
}

fn draw_energy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &crate::energy::EnergyReport,
) -> DrawResult<DB> {
    let mut parts: Vec<String> = Vec::new();
    for d in &r.devices {
        for i in &d.items {
            if !parts.contains(&i.part) {
                parts.push(i.part.clone());
            }
        }
    }
    let series: Vec<(String, Vec<f64>)> = r
        .devices
        .iter()
        .map(|d| {
            let per: Vec<f64> = parts
                .iter()
                .map(|p| {
                    d.items
                        .iter()
                        .filter(|i| &i.part == p)
                        .map(|i| i.energy_j)
                        .sum()
                })
                .collect();
            (format!("{} on {}", d.network.to_uppercase(), d.device), per)
        })
        .collect();
    let max = series
        .iter()
        .flat_map(|s| &s.1)
        .copied()
        .fold(0.0, f64::max)
        .max(1e-15);
    let (scale, unit) = crate::energy::unit(max);
    let t = r
        .timesteps
        .map(|t| format!(", T = {t}"))
        .unwrap_or_default();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: energy per {}{t}", r.network, r.per),
            title_font(),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..parts.len() as f64, 0f64..max * scale * 1.15)?;
    let names = parts.clone();
    chart
        .configure_mesh()
        .x_desc("layer / projection / population")
        .y_desc(format!("energy [{unit}]"))
        .axis_desc_style(label_font())
        .x_labels(parts.len() * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (x - i as f64 - 0.5).abs() < 0.26 {
                names.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_labels(8)
        .disable_x_mesh()
        .draw()?;
    let n = series.len().max(1) as f64;
    for (k, (name, values)) in series.iter().enumerate() {
        let c = color(k);
        chart
            .draw_series(values.iter().enumerate().map(move |(p, &v)| {
                let x0 = p as f64 + 0.1 + 0.8 * k as f64 / n;
                Rectangle::new([(x0, 0.0), (x0 + 0.8 / n, v * scale)], c.filled())
            }))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    legend(&mut chart)
}

fn accuracy_range(r: &crate::eval::EvalReport) -> std::ops::Range<f64> {
    let lo = r
        .timesteps
        .iter()
        .map(|t| t.accuracy)
        .fold(r.ann_accuracy, f64::min)
        * 100.0;
    let hi = r
        .timesteps
        .iter()
        .map(|t| t.accuracy)
        .fold(r.ann_accuracy, f64::max)
        * 100.0;
    let pad = ((hi - lo) * 0.15).max(0.2);
    (lo - pad).max(0.0)..(hi + pad).min(100.0)
}

fn draw_accuracy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &crate::eval::EvalReport,
) -> DrawResult<DB> {
    let t_max = r.timesteps.iter().map(|t| t.t).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "{}: accuracy against time steps ({} samples)",
                r.model, r.samples
            ),
            title_font(),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_max * 1.05, accuracy_range(r))?;
    chart
        .configure_mesh()
        .x_desc("time steps T")
        .y_desc("accuracy [%]")
        .axis_desc_style(label_font())
        .x_labels(10)
        .y_labels(8)
        .draw()?;
    let points: Vec<(f64, f64)> = r
        .timesteps
        .iter()
        .map(|t| (f64::from(t.t), t.accuracy * 100.0))
        .collect();
    let c = color(0);
    chart
        .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
        .label(format!(
            "SNN ({} input, {} read-out)",
            r.input_encoding, r.readout
        ))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    let ann = r.ann_accuracy * 100.0;
    let red = color(1);
    chart
        .draw_series(DashedLineSeries::new(
            vec![(0.0, ann), (t_max * 1.05, ann)],
            8,
            5,
            red.stroke_width(2),
        ))?
        .label(format!("ANN {ann:.2}%"))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    legend(&mut chart)
}

/// Accuracy against energy per inference (log axis), one line per SNN device through its
/// time steps, each point labelled by T; the ANN's energy and accuracy as dashed lines.
/// The axes of a figure of accuracy against energy per inference.
struct EnergyAxes {
    /// Energies \[J\] are drawn times this (in the axis' unit).
    scale: f64,
    /// The energy axis, in its unit.
    lo: f64,
    hi: f64,
    /// The accuracy axis \[%\].
    y: std::ops::Range<f64>,
}

type EnergyChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        plotters::coord::combinators::LogCoord<f64>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// Accuracy \[%\] against energy per inference (log axis) spanning `energies` \[J\] and
/// `accuracies` (fractions), the accuracy range padded by `pad` of itself.
fn energy_axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: String,
    (energies, accuracies): (impl Iterator<Item = f64>, impl Iterator<Item = f64>),
    pad: f64,
) -> std::result::Result<(EnergyChart<'a, DB>, EnergyAxes), DrawingAreaErrorKind<DB::ErrorType>> {
    let (lo, hi) = energies.fold((f64::MAX, 0f64), |(a, b), e| (a.min(e), b.max(e)));
    let (scale, unit) = crate::energy::unit(hi);
    let (lo, hi) = (lo * scale / 1.5, hi * scale * 1.5);
    let (a_lo, a_hi) = accuracies.fold((1f64, 0f64), |(a, b), x| (a.min(x), b.max(x)));
    let pad = ((a_hi - a_lo) * 100.0 * pad).max(0.5);
    let y = (a_lo * 100.0 - pad).max(0.0)..(a_hi * 100.0 + pad).min(100.5);
    let mut chart = ChartBuilder::on(root)
        .caption(caption, title_font())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d((lo..hi).log_scale(), y.clone())?;
    chart
        .configure_mesh()
        .x_desc(format!("energy per inference [{unit}]"))
        .y_desc("accuracy [%]")
        .axis_desc_style(label_font())
        .draw()?;
    Ok((chart, EnergyAxes { scale, lo, hi, y }))
}

fn draw_energy_vs_t<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &crate::energy::EnergyReport,
) -> DrawResult<DB> {
    let ann = r.ann.as_ref().expect("checked at load");
    let energies = r
        .across_timesteps
        .iter()
        .flat_map(|row| row.devices.iter().map(|d| d.snn_j))
        .chain([ann.energy_j]);
    let accs = r
        .across_timesteps
        .iter()
        .map(|row| row.accuracy)
        .chain([ann.accuracy]);
    let caption = format!("{}: accuracy against energy per inference", r.network);
    let (mut chart, axes) = energy_axes(root, caption, (energies, accs), 0.1)?;
    let EnergyAxes { scale, lo, hi, y } = axes;
    let names: Vec<&str> = r.across_timesteps[0]
        .devices
        .iter()
        .map(|d| d.device.as_str())
        .collect();
    for (k, name) in names.iter().enumerate() {
        let c = color(k);
        let points: Vec<(f64, f64, u32)> = r
            .across_timesteps
            .iter()
            .map(|row| (row.devices[k].snn_j * scale, row.accuracy * 100.0, row.t))
            .collect();
        let line = points.iter().map(|&(x, y, _)| (x, y));
        chart
            .draw_series(LineSeries::new(line, c.stroke_width(2)))?
            .label(format!("SNN on {name}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|&(x, y, t)| {
            EmptyElement::at((x, y))
                + Circle::new((0, 0), 4, c.filled())
                + Text::new(format!("T={t}"), (6, -14), ("sans-serif", 12).into_font())
        }))?;
    }
    let red = color(names.len());
    let (ax, ay) = (ann.energy_j * scale, ann.accuracy * 100.0);
    chart
        .draw_series(DashedLineSeries::new(
            vec![(ax, y.start), (ax, y.end)],
            8,
            5,
            red.stroke_width(2),
        ))?
        .label(format!("ANN on {}: {ay:.2}%", ann.device))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    chart.draw_series(DashedLineSeries::new(
        vec![(lo, ay), (hi, ay)],
        4,
        6,
        red.mix(0.5).stroke_width(1),
    ))?;
    chart.draw_series(std::iter::once(Circle::new((ax, ay), 5, red.filled())))?;
    legend(&mut chart)
}

fn draw_pareto<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &crate::sweep::SweepReport,
) -> DrawResult<DB> {
    let energies = r
        .points
        .iter()
        .flat_map(|p| p.energy.iter().map(|e| e.energy_j));
    let accs = r.points.iter().map(|p| p.accuracy);
    let caption = format!("{}: accuracy against energy, quantized and pruned", r.model);
    let (mut chart, axes) = energy_axes(root, caption, (energies, accs), 0.05)?;
    let EnergyAxes { scale, lo, hi, y } = axes;
    for (d, name) in r.devices.iter().enumerate() {
        let c = color(d);
        let all = r
            .points
            .iter()
            .map(|p| (p.energy[d].energy_j * scale, p.accuracy * 100.0));
        chart
            .draw_series(all.map(|xy| Circle::new(xy, 3, c.mix(0.5).stroke_width(1))))?
            .label(format!("{name}: every point"))
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, c.mix(0.5).stroke_width(1)));
        let front: Vec<(f64, f64, String)> = (r.front(d).into_iter())
            .map(|p| {
                let label = format!(
                    "{} p{:.0} T{}",
                    crate::sweep::bits_name(p.bits),
                    p.prune * 100.0,
                    p.t
                );
                (p.energy[d].energy_j * scale, p.accuracy * 100.0, label)
            })
            .collect();
        let line = front.iter().map(|(x, y, _)| (*x, *y));
        chart
            .draw_series(LineSeries::new(line, c.stroke_width(2)))?
            .label(format!("{name}: Pareto front"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        // Points are labelled where the last label is a twelfth of the axes away.
        let (x_span, y_span) = ((hi / lo).log10(), y.end - y.start);
        let mut last: Option<(f64, f64)> = None;
        chart.draw_series(front.iter().map(|(x, y, label)| {
            let far = last.is_none_or(|(lx, ly)| {
                (x / lx).log10().abs() > x_span / 12.0 || (y - ly).abs() > y_span / 12.0
            });
            let text = if far {
                last = Some((*x, *y));
                label.clone()
            } else {
                String::new()
            };
            EmptyElement::at((*x, *y))
                + Circle::new((0, 0), 4, c.filled())
                + Text::new(text, (6, 6), ("sans-serif", 11).into_font())
        }))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
}

fn draw_tradeoff<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &crate::eval::EvalReport,
) -> DrawResult<DB> {
    let x_max = r
        .timesteps
        .iter()
        .map(|t| t.sops_per_sample)
        .fold(r.ann_macs_per_sample as f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: accuracy against operations per inference", r.model),
            title_font(),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, accuracy_range(r))?;
    chart
        .configure_mesh()
        .x_desc("operations per inference (SNN: SOPs, ANN: MACs)")
        .y_desc("accuracy [%]")
        .axis_desc_style(label_font())
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|x| format!("{:.0}k", x / 1e3))
        .draw()?;
    let points: Vec<(f64, f64, u32)> = r
        .timesteps
        .iter()
        .map(|t| (t.sops_per_sample, t.accuracy * 100.0, t.t))
        .collect();
    let c = color(0);
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.0, p.1)),
            c.stroke_width(2),
        ))?
        .label("SNN (labels: time steps)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    chart.draw_series(points.iter().map(|&(x, y, t)| {
        EmptyElement::at((x, y))
            + Circle::new((0, 0), 4, c.filled())
            + Text::new(format!("T={t}"), (6, -16), ("sans-serif", 13))
    }))?;
    let red = color(1);
    let macs = r.ann_macs_per_sample as f64;
    let ann = r.ann_accuracy * 100.0;
    chart
        .draw_series(std::iter::once(
            EmptyElement::at((macs, ann))
                + TriangleMarker::new((0, 0), 7, red.filled())
                + Text::new(
                    format!("ANN: {:.0}k MACs", macs / 1e3),
                    (-120, -20),
                    ("sans-serif", 13),
                ),
        ))?
        .label(format!("ANN ({ann:.2}%, {} MACs)", r.ann_macs_per_sample))
        .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, red.filled()));
    legend(&mut chart)
}

fn draw_layers<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &crate::eval::EvalReport,
) -> DrawResult<DB> {
    let n = r.layers.len().max(1);
    let areas = root.split_evenly((1, n));
    for (k, (l, area)) in r.layers.iter().zip(&areas).enumerate() {
        let values = l.neuron_snn.iter().chain(&l.neuron_ann).copied();
        let lo = values.clone().fold(0.0, f64::min);
        let hi = values.fold(0.0, f64::max).max(1e-3);
        let pad = (hi - lo) * 0.05;
        let range = (lo - pad)..(hi + pad);
        let quantity = if l.quantity == "potential" {
            "potential per step [mV]"
        } else {
            "SNN rate [spikes/step]"
        };
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: {} (r = {:.4})", r.model, l.layer, l.correlation),
                ("sans-serif", 18),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(range.clone(), range.clone())?;
        chart
            .configure_mesh()
            .x_desc("normalized ANN activation")
            .y_desc(quantity)
            .axis_desc_style(label_font())
            .x_labels(6)
            .y_labels(6)
            .draw()?;
        let c = color(k);
        chart
            .draw_series(
                l.neuron_ann
                    .iter()
                    .zip(&l.neuron_snn)
                    .map(|(&a, &s)| Circle::new((a, s), 3, c.mix(0.7).filled())),
            )?
            .label(format!(
                "{} neurons (mean over samples)",
                l.neuron_snn.len()
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, c.filled()));
        chart
            .draw_series(LineSeries::new(
                vec![(range.start, range.start), (range.end, range.end)],
                BLACK.mix(0.6),
            ))?
            .label("identity")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
    }
    Ok(())
}

/// The figures `synops run --plots` draws from what a run recorded.
pub fn run_kinds(dir: &Path) -> Vec<Kind> {
    let mut kinds = Vec::new();
    if dir.join("spikes.csv").exists() {
        kinds.extend([Kind::Raster, Kind::Rates, Kind::Isi]);
    }
    if dir.join("traces.csv").exists() {
        kinds.push(Kind::Traces);
    }
    if dir.join("energy.json").exists() {
        kinds.push(Kind::Energy);
    }
    if dir.join("weights.csv").exists() {
        kinds.push(Kind::Weights);
    }
    kinds
}

/// The figures `synops eval --plots` draws.
pub fn eval_kinds(dir: &Path) -> Vec<Kind> {
    let mut kinds = vec![Kind::Accuracy, Kind::Tradeoff, Kind::Layers];
    if dir.join("energy.json").exists() {
        kinds.extend([Kind::Energy, Kind::EnergyVsT]);
    }
    kinds
}
