//! The `weights` figure: how the weights of plastic projections move during a run, from
//! `weights.csv` (the snapshots of `[[record.weights]]`).
//!
//! Each recorded projection (the first four) gets a row of two panels: on the left, the distribution of its
//! recorded weights at every snapshot (a heat map: time across, weight up, the colour the
//! fraction of synapses in that weight bin, the mean as a white line); on the right, the weight
//! of chosen synapses over time. Without a choice, six synapses are shown, picked at evenly
//! spaced ranks of their final weight (the lowest, the highest and four between), so the traces
//! span where the weights ended.

use super::data::{MAX_PLOT_VALUE, csv_rows, number, resolve, summary_beside, time};
use super::{DrawResult, color, label_font, legend, title_font};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// The header `weights.csv` starts with.
const WEIGHT_COLUMNS: &str = "time_ms,projection,synapse,source,target,weight";

/// Synapses traced per projection when none are chosen.
pub const DEFAULT_TRACED: usize = 6;

/// Projections drawn, a row each (the first ones of the file).
const MAX_ROWS: usize = 4;

/// Weight bins of the heat map.
const WEIGHT_BINS: usize = 40;

/// The recorded weights of one projection.
pub struct ProjectionWeights {
    /// The projection's name.
    pub name: String,
    /// Snapshot times \[ms\], increasing.
    pub times_ms: Vec<f64>,
    /// The recorded synapses' indices, in the file's order.
    pub synapses: Vec<u32>,
    /// `weights[snapshot][i]`: the weight of `synapses[i]` at `times_ms[snapshot]`.
    pub weights: Vec<Vec<f64>>,
    /// Indices into `synapses` of the traced synapses.
    pub traced: Vec<usize>,
}

/// The snapshots of a run's `weights.csv`, per projection.
pub struct WeightData {
    /// The network's name (from `summary.json` when it is beside the file).
    pub network: String,
    /// The projections, in the order they first appear in the file.
    pub projections: Vec<ProjectionWeights>,
}

impl WeightData {
    /// Read `weights.csv` (a file or a results folder) and trace `chosen` synapses (indices as
    /// in the file's `synapse` column), or [`DEFAULT_TRACED`] per projection when `chosen` is
    /// empty.
    pub fn load(input: &Path, chosen: &[u32]) -> Result<Self> {
        let path = resolve(input, "weights.csv")?;
        let summary = summary_beside(&path).ok();
        let duration = summary.as_ref().map(|s| s.duration_ms);
        let mut projections: Vec<ProjectionWeights> = Vec::new();
        for (line, cols) in csv_rows(&path, WEIGHT_COLUMNS)? {
            let t = time(&path, line, &cols[0], duration)?;
            let synapse = synapse_index(&path, line, &cols[2])?;
            let weight = number(&path, line, &cols[5])?;
            let k = match projections.iter().position(|p| p.name == cols[1]) {
                Some(k) => k,
                None => {
                    projections.push(ProjectionWeights::new(&cols[1]));
                    projections.len() - 1
                }
            };
            projections[k]
                .add(t, synapse, weight)
                .map_err(|message| Error::Csv {
                    path: path.clone(),
                    line,
                    message,
                })?;
        }
        if projections.is_empty() {
            return Err(Error::Csv {
                path: path.clone(),
                line: 2,
                message: "no weights: the file has a header and no snapshot".into(),
            });
        }
        for p in &mut projections {
            p.finish().map_err(|message| Error::Data {
                path: path.clone(),
                message,
            })?;
        }
        choose_traces(&path, &mut projections, chosen)?;
        let network = summary.map_or_else(|| "weights".to_string(), |s| s.network);
        Ok(WeightData {
            network,
            projections,
        })
    }
}

fn synapse_index(path: &Path, line: usize, text: &str) -> Result<u32> {
    let value = number(path, line, text)?;
    if value < 0.0 || value.fract() != 0.0 || value > f64::from(u32::MAX) {
        return Err(Error::Csv {
            path: path.to_path_buf(),
            line,
            message: format!("synapse `{text}` is not a synapse index (a whole number from 0)"),
        });
    }
    Ok(value as u32)
}

impl ProjectionWeights {
    fn new(name: &str) -> Self {
        ProjectionWeights {
            name: name.to_string(),
            times_ms: Vec::new(),
            synapses: Vec::new(),
            weights: Vec::new(),
            traced: Vec::new(),
        }
    }

    /// Add one row. The first snapshot lists the recorded synapses; every later one must list
    /// the same synapses in the same order, as the recorder writes them.
    fn add(&mut self, t: f64, synapse: u32, weight: f64) -> std::result::Result<(), String> {
        let last = self.times_ms.last().copied();
        if last != Some(t) {
            if let Some(previous) = last {
                if t < previous {
                    return Err(format!(
                        "time {t} ms of `{}` is before its previous snapshot at {previous} ms",
                        self.name
                    ));
                }
                self.check_complete()?;
            }
            self.times_ms.push(t);
            self.weights.push(Vec::with_capacity(self.synapses.len()));
        }
        let snapshot = self.weights.len() - 1;
        let row = &mut self.weights[snapshot];
        if snapshot == 0 {
            if self.synapses.contains(&synapse) {
                return Err(format!(
                    "synapse {synapse} of `{}` is listed twice at {t} ms",
                    self.name
                ));
            }
            self.synapses.push(synapse);
        } else if self.synapses.get(row.len()) != Some(&synapse) {
            return Err(format!(
                "synapse {synapse} of `{}` at {t} ms: each snapshot must list the synapses of the first one, in its order",
                self.name
            ));
        }
        row.push(weight);
        Ok(())
    }

    /// Whether the last snapshot lists every synapse of the first.
    fn check_complete(&self) -> std::result::Result<(), String> {
        let (t, row) = (self.times_ms.last(), self.weights.last());
        match (t, row) {
            (Some(t), Some(row)) if row.len() != self.synapses.len() => Err(format!(
                "the snapshot of `{}` at {t} ms lists {} synapses, the first one {}",
                self.name,
                row.len(),
                self.synapses.len()
            )),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> std::result::Result<(), String> {
        self.check_complete()
    }

    /// The final weights' ranks, evenly spaced from the lowest to the highest.
    fn default_traces(&self) -> Vec<usize> {
        let last = self.weights.last().map_or(&[][..], Vec::as_slice);
        let mut order: Vec<usize> = (0..last.len()).collect();
        order.sort_by(|&a, &b| last[a].total_cmp(&last[b]).then(a.cmp(&b)));
        let n = DEFAULT_TRACED.min(order.len());
        let mut picked: Vec<usize> = (0..n)
            .map(|i| order[i * (order.len() - 1) / (n - 1).max(1)])
            .collect();
        picked.dedup();
        picked
    }
}

/// Set each projection's traced synapses: `chosen` (each must be recorded in some projection)
/// or the default ranks.
fn choose_traces(path: &Path, projections: &mut [ProjectionWeights], chosen: &[u32]) -> Result<()> {
    if chosen.is_empty() {
        for p in projections {
            p.traced = p.default_traces();
        }
        return Ok(());
    }
    for &s in chosen {
        if !projections.iter().any(|p| p.synapses.contains(&s)) {
            let recorded: Vec<String> = projections
                .iter()
                .map(|p| format!("`{}`: {} synapses", p.name, p.synapses.len()))
                .collect();
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: format!(
                    "--synapses: synapse {s} is not in the file (recorded: {}); the ids are the file's `synapse` column",
                    recorded.join(", ")
                ),
            });
        }
    }
    for p in projections {
        p.traced = chosen
            .iter()
            .filter_map(|s| p.synapses.iter().position(|x| x == s))
            .collect();
    }
    Ok(())
}

/// Draw the figure: a row per projection.
pub(super) fn draw_weights<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &WeightData,
) -> DrawResult<DB> {
    let shown = d.projections.len().min(MAX_ROWS);
    let rows = root.split_evenly((shown, 1));
    for (k, (area, p)) in rows.iter().zip(&d.projections).enumerate() {
        let (left, right) = area.split_horizontally(area.dim_in_pixel().0 * 3 / 5);
        let (lo, hi) = weight_range(p);
        let title = if k == 0 && shown < d.projections.len() {
            format!(
                "{} (first {shown} of {} projections)",
                d.network,
                d.projections.len()
            )
        } else {
            d.network.clone()
        };
        draw_distribution(&left, &title, p, (lo, hi))?;
        draw_traces(&right, p, (lo, hi))?;
    }
    Ok(())
}

/// The smallest and largest recorded weight, widened to a drawable span.
fn weight_range(p: &ProjectionWeights) -> (f64, f64) {
    let all = || p.weights.iter().flatten().copied();
    let lo = all().fold(f64::INFINITY, f64::min);
    let hi = all().fold(f64::NEG_INFINITY, f64::max);
    let span = hi - lo;
    if span > lo.abs().max(hi.abs()) * 1e-12 && span.is_finite() {
        (lo, hi)
    } else {
        let pad = (lo.abs() * 0.05).clamp(1e-12, MAX_PLOT_VALUE / 4.0);
        (lo - pad, lo + pad)
    }
}

/// The edges of the snapshot columns: halfway between snapshots, the ends extended by half a
/// spacing.
fn column_edges(times: &[f64]) -> Vec<f64> {
    if times.len() == 1 {
        let half = (times[0].abs() * 0.05).max(0.5);
        return vec![times[0] - half, times[0] + half];
    }
    let mut edges = Vec::with_capacity(times.len() + 1);
    edges.push(times[0] - (times[1] - times[0]) / 2.0);
    edges.extend(times.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    let n = times.len();
    edges.push(times[n - 1] + (times[n - 1] - times[n - 2]) / 2.0);
    edges
}

/// Fraction of the snapshot's weights in each of [`WEIGHT_BINS`] bins over `(lo, hi)`.
fn bin_fractions(weights: &[f64], (lo, hi): (f64, f64)) -> Vec<f64> {
    let mut counts = vec![0f64; WEIGHT_BINS];
    let width = (hi - lo) / WEIGHT_BINS as f64;
    for &w in weights {
        let b = ((w - lo) / width)
            .floor()
            .clamp(0.0, (WEIGHT_BINS - 1) as f64);
        counts[b as usize] += 1.0;
    }
    let n = weights.len().max(1) as f64;
    counts.iter().map(|c| c / n).collect()
}

fn draw_distribution<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    network: &str,
    p: &ProjectionWeights,
    (lo, hi): (f64, f64),
) -> DrawResult<DB> {
    let edges = column_edges(&p.times_ms);
    let x_range = edges[0]..edges[edges.len() - 1];
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{network}: `{}`, {} synapse{}",
                p.name,
                p.synapses.len(),
                if p.synapses.len() == 1 { "" } else { "s" }
            ),
            title_font(),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, lo..hi)?;
    let fractions: Vec<Vec<f64>> = p
        .weights
        .iter()
        .map(|w| bin_fractions(w, (lo, hi)))
        .collect();
    let top = fractions
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-12);
    chart
        .configure_mesh()
        .x_desc("time [ms]")
        .y_desc("weight")
        .axis_desc_style(label_font())
        .x_labels(8)
        .y_labels(8)
        .disable_mesh()
        .draw()?;
    let bin = (hi - lo) / WEIGHT_BINS as f64;
    let cells = fractions.iter().enumerate().flat_map(|(s, column)| {
        let (x0, x1) = (edges[s], edges[s + 1]);
        column.iter().enumerate().map(move |(b, &f)| {
            let y0 = lo + b as f64 * bin;
            let shade = ViridisRGB::get_color_normalized(f, 0.0, top);
            Rectangle::new([(x0, y0), (x1, y0 + bin)], shade.filled())
        })
    });
    let brightest = ViridisRGB::get_color(1.0);
    chart
        .draw_series(cells)?
        .label(format!("colour: 0 to {:.1} % of synapses", top * 100.0))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], brightest.filled()));
    let means = p
        .times_ms
        .iter()
        .zip(&p.weights)
        .map(|(&t, w)| (t, w.iter().sum::<f64>() / w.len().max(1) as f64));
    chart
        .draw_series(LineSeries::new(means, WHITE.stroke_width(2)))?
        .label("mean weight")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    legend(&mut chart)
}

fn draw_traces<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &ProjectionWeights,
    (lo, hi): (f64, f64),
) -> DrawResult<DB> {
    let t0 = p.times_ms[0];
    let t1 = p.times_ms[p.times_ms.len() - 1];
    let x_range = if t1 > t0 { t0..t1 } else { t0 - 0.5..t0 + 0.5 };
    let pad = (hi - lo) * 0.04;
    let mut chart = ChartBuilder::on(area)
        .caption("chosen synapses", title_font())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("time [ms]")
        .y_desc("weight")
        .axis_desc_style(label_font())
        .x_labels(6)
        .y_labels(8)
        .draw()?;
    for (k, &i) in p.traced.iter().enumerate() {
        let c = color(k);
        let points = p.times_ms.iter().zip(&p.weights).map(|(&t, w)| (t, w[i]));
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))?
            .label(format!("synapse {}", p.synapses[i]))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        if p.times_ms.len() == 1 {
            let dot = Circle::new((t0, p.weights[0][i]), 4, c.filled());
            chart.draw_series(std::iter::once(dot))?;
        }
    }
    legend(&mut chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_count_every_weight_once_the_top_edge_in_the_last_bin() {
        let f = bin_fractions(&[0.0, 0.0, 0.5, 1.0], (0.0, 1.0));
        assert_eq!(f.len(), WEIGHT_BINS);
        assert_eq!(f[0], 0.5);
        assert_eq!(f[WEIGHT_BINS / 2], 0.25);
        assert_eq!(f[WEIGHT_BINS - 1], 0.25);
        assert_eq!(f.iter().sum::<f64>(), 1.0);
    }

    #[test]
    fn columns_meet_halfway_between_snapshots() {
        assert_eq!(column_edges(&[0.0, 10.0, 30.0]), [-5.0, 5.0, 20.0, 40.0]);
        assert_eq!(column_edges(&[100.0]), [95.0, 105.0]);
    }

    #[test]
    fn default_traces_run_from_the_lowest_final_weight_to_the_highest() {
        let mut p = ProjectionWeights::new("p");
        for (t, ws) in [
            (0.0, [0.5; 10]),
            (1.0, [3., 9., 1., 7., 5., 0., 8., 2., 6., 4.]),
        ] {
            for (s, w) in ws.iter().enumerate() {
                p.add(t, s as u32, *w).unwrap();
            }
        }
        p.finish().unwrap();
        let finals: Vec<f64> = p
            .default_traces()
            .iter()
            .map(|&i| p.weights[1][i])
            .collect();
        assert_eq!(finals.len(), DEFAULT_TRACED);
        assert_eq!(finals.first(), Some(&0.0));
        assert_eq!(finals.last(), Some(&9.0));
        assert!(finals.windows(2).all(|w| w[0] < w[1]), "{finals:?}");
    }

    #[test]
    fn snapshots_must_repeat_the_first_ones_synapses() {
        let mut p = ProjectionWeights::new("p");
        p.add(0.0, 0, 1.0).unwrap();
        p.add(0.0, 1, 1.0).unwrap();
        assert!(p.add(0.0, 1, 1.0).unwrap_err().contains("listed twice"));
        p.add(1.0, 0, 1.0).unwrap();
        assert!(p.add(1.0, 2, 1.0).unwrap_err().contains("in its order"));
        assert!(p.add(2.0, 0, 1.0).unwrap_err().contains("lists 1 synapses"));
        assert!(
            p.add(0.5, 0, 1.0)
                .unwrap_err()
                .contains("before its previous")
        );
    }
}
