//! Reading the result files a figure is drawn from, with errors that name the file and line.

use crate::error::{Error, Result, quoted, short_number};
use crate::output::Summary;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A population of a run.
pub struct PopInfo {
    pub name: String,
    pub size: u32,
    /// Neurons whose spikes are in the file (rates are per recorded neuron).
    pub recorded: u32,
    pub v_th_mv: Option<f64>,
}

/// One recorded spike.
pub struct Spike {
    pub time_ms: f64,
    pub population: usize,
    pub index: u32,
}

/// Spikes of a run with its populations.
pub struct SpikeData {
    pub network: String,
    pub duration_ms: f64,
    pub populations: Vec<PopInfo>,
    pub spikes: Vec<Spike>,
}

/// One traced neuron.
pub struct Trace {
    pub population: String,
    pub index: u32,
    pub threshold: Option<f64>,
    /// `(time_ms, v)`.
    pub samples: Vec<(f64, f64)>,
    /// The other state variables of the neuron's model, by column: `(time_ms, value)`.
    pub others: Vec<(String, Vec<(f64, f64)>)>,
    pub spikes: Vec<f64>,
}

/// Traces of a run.
pub struct TraceData {
    pub network: String,
    pub traces: Vec<Trace>,
}

/// The columns every `traces.csv` starts with; the state variables of the traced models follow.
const TRACE_COLUMNS: &str = "time_ms,population,index,v_mv";

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// `input` itself if it is a file, else `input/name`; refuses a missing file.
pub(super) fn resolve(input: &Path, name: &str) -> Result<PathBuf> {
    let path = if input.is_dir() {
        input.join(name)
    } else {
        input.to_path_buf()
    };
    if !path.exists() {
        return Err(Error::io(
            &path,
            "cannot read",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    Ok(path)
}

/// Read a JSON result (`eval.json`, `energy.json`).
pub fn load_json<T: DeserializeOwned>(input: &Path, name: &str) -> Result<T> {
    let path = resolve(input, name)?;
    let text = crate::files::read_text(&path, crate::files::InputKind::Results)?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.clone(),
        line: e.line(),
        column: e.column(),
        message: format!("not a synops {name}: {e}"),
    })
}

pub(super) fn summary_beside(file: &Path) -> Result<Summary> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let path = dir.join("summary.json");
    let summary: Summary = load_json(&path, "summary.json").map_err(|e| match e {
        Error::Io { path, .. } => bad(
            &path,
            format!(
                "needed beside {} (population sizes and duration): not found",
                file.display()
            ),
        ),
        other => other,
    })?;
    if !(summary.duration_ms > 0.0 && summary.duration_ms <= MAX_PLOT_VALUE) {
        return Err(bad(
            &path,
            format!(
                "duration_ms: {} is not a run's duration (above 0, at most {})",
                short_number(summary.duration_ms),
                short_number(MAX_PLOT_VALUE)
            ),
        ));
    }
    Ok(summary)
}

/// Rows of a CSV file: `(1-based line, columns)`.
type Rows = Vec<(usize, Vec<String>)>;

/// The header and rows of a `traces.csv`: its first columns fixed, the variables after them.
fn trace_rows(path: &Path) -> Result<(String, Rows)> {
    let text = crate::files::read_text(path, crate::files::InputKind::Results)?;
    let header = text.lines().next().unwrap_or_default().trim().to_string();
    let fixed = header == TRACE_COLUMNS || header.starts_with(&format!("{TRACE_COLUMNS},"));
    if !fixed {
        return Err(Error::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!("header `{header}`, expected `{TRACE_COLUMNS},...`"),
        });
    }
    Ok((header.clone(), csv_rows(path, &header)?))
}

pub(super) fn csv_rows(path: &Path, header: &str) -> Result<Rows> {
    let text = crate::files::read_text(path, crate::files::InputKind::Results)?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == header => {}
        Some((_, h)) => {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: 1,
                message: format!("header `{h}`, expected `{header}`"),
            });
        }
        None => {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: 1,
                message: "empty file".into(),
            });
        }
    }
    let columns = header.split(',').count();
    let mut rows = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
        if cols.len() != columns {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("expected {columns} columns, found {}", cols.len()),
            });
        }
        rows.push((i + 1, cols));
    }
    Ok(rows)
}

/// The largest magnitude a value of a figure may have: the difference of two such values (an
/// axis' span, an interval) is still finite.
pub const MAX_PLOT_VALUE: f64 = 1e300;

pub(super) fn number(path: &Path, line: usize, text: &str) -> Result<f64> {
    let value = text.parse::<f64>().ok().filter(|v| v.is_finite());
    let csv = |message: String| Error::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    match value {
        None => Err(csv(format!(
            "`{}` is not a finite number",
            quoted(text, 40)
        ))),
        Some(v) if v.abs() > MAX_PLOT_VALUE => Err(csv(format!(
            "{} is beyond ±{}, the largest value a figure can draw",
            short_number(v),
            short_number(MAX_PLOT_VALUE)
        ))),
        Some(v) => Ok(v),
    }
}

/// A spike or sample time of `path`, `line`: within the run (0 to `duration_ms`) when the run
/// is known.
pub(super) fn time(path: &Path, line: usize, text: &str, duration_ms: Option<f64>) -> Result<f64> {
    let t = number(path, line, text)?;
    match duration_ms {
        Some(d) if !(0.0..=d * (1.0 + 1e-9)).contains(&t) => Err(Error::Csv {
            path: path.to_path_buf(),
            line,
            message: format!(
                "time {} ms is outside the run (0 to {} ms, from summary.json)",
                short_number(t),
                short_number(d)
            ),
        }),
        _ => Ok(t),
    }
}

fn populations(summary: &Summary) -> Vec<PopInfo> {
    summary
        .populations
        .iter()
        .map(|p| PopInfo {
            name: p.name.clone(),
            size: p.neurons as u32,
            recorded: p.recorded_neurons.unwrap_or(p.neurons) as u32,
            v_th_mv: p.v_th_mv,
        })
        .collect()
}

fn read_spikes(path: &Path, pops: &[PopInfo], duration_ms: f64) -> Result<Vec<Spike>> {
    csv_rows(path, "time_ms,population,index")?
        .into_iter()
        .map(|(line, cols)| {
            let population =
                pops.iter()
                    .position(|p| p.name == cols[1])
                    .ok_or_else(|| Error::Csv {
                        path: path.to_path_buf(),
                        line,
                        message: format!("unknown population `{}`", cols[1]),
                    })?;
            let index = number(path, line, &cols[2])?;
            if index < 0.0 || index.fract() != 0.0 || index >= f64::from(pops[population].size) {
                return Err(Error::Csv {
                    path: path.to_path_buf(),
                    line,
                    message: format!("index {index} is not a neuron of `{}`", cols[1]),
                });
            }
            Ok(Spike {
                time_ms: time(path, line, &cols[0], Some(duration_ms))?,
                population,
                index: index as u32,
            })
        })
        .collect()
}

impl SpikeData {
    /// Read `spikes.csv` (a file or a results folder) and the `summary.json` beside it.
    pub fn load(input: &Path) -> Result<Self> {
        let path = resolve(input, "spikes.csv")?;
        let summary = summary_beside(&path)?;
        let all = populations(&summary);
        let spikes = read_spikes(&path, &all, summary.duration_ms)?;
        // Keep the populations whose spikes were recorded, renumbering the spikes.
        let keep: Vec<usize> = (0..all.len()).filter(|&k| all[k].recorded > 0).collect();
        let spikes = spikes
            .into_iter()
            .filter_map(|s| {
                let population = keep.iter().position(|&k| k == s.population)?;
                Some(Spike { population, ..s })
            })
            .collect();
        let populations = all.into_iter().filter(|p| p.recorded > 0).collect();
        Ok(SpikeData {
            network: summary.network,
            duration_ms: summary.duration_ms,
            populations,
            spikes,
        })
    }
}

impl TraceData {
    /// Read `traces.csv` (a file or a results folder) with the `summary.json` (thresholds) and
    /// `spikes.csv` (spike marks) beside it when present.
    pub fn load(input: &Path) -> Result<Self> {
        let path = resolve(input, "traces.csv")?;
        let summary = summary_beside(&path).ok();
        let pops = summary.as_ref().map(populations).unwrap_or_default();
        let spikes_path = path.parent().unwrap_or(Path::new(".")).join("spikes.csv");
        let spikes = if spikes_path.exists() && !pops.is_empty() {
            read_spikes(
                &spikes_path,
                &pops,
                summary.as_ref().map_or(f64::MAX, |s| s.duration_ms),
            )?
        } else {
            Vec::new()
        };
        let mut traces: Vec<Trace> = Vec::new();
        let (header, rows) = trace_rows(&path)?;
        let variables: Vec<&str> = header.split(',').skip(4).collect();
        for (line, cols) in rows {
            let index = number(&path, line, &cols[2])? as u32;
            let duration = summary.as_ref().map(|s| s.duration_ms);
            let t = time(&path, line, &cols[0], duration)?;
            let sample = (t, number(&path, line, &cols[3])?);
            let k = match traces
                .iter()
                .position(|t| t.population == cols[1] && t.index == index)
            {
                Some(k) => k,
                None => {
                    let pop = pops.iter().position(|p| p.name == cols[1]);
                    traces.push(Trace {
                        population: cols[1].clone(),
                        index,
                        threshold: pop.and_then(|p| pops[p].v_th_mv),
                        samples: Vec::new(),
                        others: Vec::new(),
                        spikes: spikes
                            .iter()
                            .filter(|s| Some(s.population) == pop && s.index == index)
                            .map(|s| s.time_ms)
                            .collect(),
                    });
                    traces.len() - 1
                }
            };
            let trace = &mut traces[k];
            trace.samples.push(sample);
            // A variable the neuron's model lacks is left empty.
            for (name, value) in variables.iter().zip(&cols[4..]) {
                if value.is_empty() {
                    continue;
                }
                let value = (t, number(&path, line, value)?);
                match trace.others.iter_mut().find(|(n, _)| n == name) {
                    Some((_, values)) => values.push(value),
                    None => trace.others.push((name.to_string(), vec![value])),
                }
            }
        }
        if traces.is_empty() {
            return Err(bad(&path, "no trace samples"));
        }
        Ok(TraceData {
            network: summary.map_or_else(|| "traces".into(), |s| s.network),
            traces,
        })
    }
}
