//! Writing a lowered NIR graph as a synops network file, its weights and its input files; the
//! network is compiled before the call returns, and nothing is left behind if it fails.

use super::lower::{
    Kernel, Lowered, Model, Options, Population, Projection, ResetMode, Synapses, TimeUnit,
};
use crate::error::{Error, Result};
use crate::output::write_atomic;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Neurons of a non-spiking output population traced at most.
const MAX_TRACED: usize = 1000;

/// Write `lowered` (from `source`) as `<out>.toml` and the files beside it; returns every
/// path written, the network file first.
pub fn write(
    lowered: &Lowered,
    source: &Path,
    version: &str,
    options: &Options,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let stem = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, "cannot create folder", e))?;
    let mut w = Writer {
        stem: stem.clone(),
        dir: dir.clone(),
        tensors: Vec::new(),
        files: Vec::new(),
        toml: String::new(),
    };
    let result = w.all(lowered, source, version, options);
    let network = dir.join(format!("{stem}.toml"));
    let written = result.and_then(|()| {
        let weights = dir.join(format!("{stem}.safetensors"));
        w.write_tensors(&weights)?;
        write_atomic(&network, |f| f.write_all(w.toml.as_bytes()))?;
        w.files.insert(0, network.clone());
        crate::network::compile_file(&network, &Default::default()).map_err(|e| Error::Data {
            path: network.clone(),
            message: format!("the imported network does not validate (nothing written): {e}"),
        })?;
        Ok(w.files.clone())
    });
    if written.is_err() {
        for f in &w.files {
            let _ = std::fs::remove_file(f);
        }
    }
    written
}

struct Writer {
    stem: String,
    dir: PathBuf,
    /// `(name, shape, values)`, stored as F32.
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    files: Vec<PathBuf>,
    toml: String,
}

impl Writer {
    fn all(
        &mut self,
        lowered: &Lowered,
        source: &Path,
        version: &str,
        options: &Options,
    ) -> Result<()> {
        self.header(lowered, source, version, options);
        for p in &lowered.populations {
            self.population(p, options)?;
        }
        for (k, pr) in lowered.projections.iter().enumerate() {
            let (s, t) = (
                &lowered.populations[pr.source],
                &lowered.populations[pr.target],
            );
            self.projection(k, (s, t), pr, options)?;
        }
        self.records(lowered);
        Ok(())
    }

    fn header(&mut self, lowered: &Lowered, source: &Path, version: &str, options: &Options) {
        let t = &mut self.toml;
        let _ = writeln!(
            t,
            "# Imported by synops import-nir from {} (NIR {version}).",
            source.display()
        );
        let unit = match options.time_unit {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Steps => "steps of dt",
        };
        let reset = match options.reset {
            ResetMode::Value => "to v_reset (NIR's definition)",
            ResetMode::Subtract => "by subtraction of v_threshold - v_reset (sinabs')",
        };
        let _ = writeln!(
            t,
            "# Times in the file read as {unit}; spiking nodes reset {reset}."
        );
        let _ = writeln!(
            t,
            "# Every projection takes one step. Weights and biases are in {}.safetensors.",
            self.stem
        );
        for n in &lowered.notes {
            let _ = writeln!(t, "#   {n}");
        }
        let name = crate::network::names::to_name(&self.stem);
        let _ = writeln!(t, "version = 1\nname = {name:?}");
        let _ = writeln!(
            t,
            "description = {:?}",
            format!("imported from {}", source.display())
        );
        let _ = writeln!(
            t,
            "\n[simulation]\ndt_ms = {}\nduration_ms = {}\nseed = 0",
            number(options.dt_ms),
            number(options.dt_ms * 100.0)
        );
    }

    fn population(&mut self, p: &Population, options: &Options) -> Result<()> {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "\n# NIR node `{}` ({}), shape {:?}.",
            p.node, p.kind, p.shape
        );
        let _ = writeln!(
            t,
            "[[population]]\nname = {:?}\nsize = {}",
            p.name,
            p.size()
        );
        let Some(model) = p.model else {
            let file = format!("{}.{}.csv", self.stem, p.name);
            let path = self.dir.join(&file);
            write_atomic(&path, |f| f.write_all(b"time_ms,index\n"))?;
            self.files.push(path);
            let _ = writeln!(
                t,
                "model = \"spike_source\"\n# Spike times `time_ms,index`, to fill in.\nfile = {file:?}"
            );
            self.toml.push_str(&t);
            return Ok(());
        };
        let name = match model {
            Model::If => "if",
            Model::LifDelta => "lif_delta",
            Model::LifExp => "lif_exp",
        };
        let _ = writeln!(t, "model = \"{name}\"");
        for (k, v) in &p.params {
            let v = if *k == "v_th_mv" && !p.spiking {
                1.0
            } else {
                *v
            };
            let _ = writeln!(t, "{k} = {}", number(v));
        }
        let _ = writeln!(t, "v_init_mv = 0.0");
        if p.spiking {
            let reset = match options.reset {
                ResetMode::Value => "value",
                ResetMode::Subtract => "subtract",
            };
            let _ = writeln!(t, "reset = \"{reset}\"");
        } else {
            let _ = writeln!(t, "spiking = false");
        }
        if p.bias.iter().any(|b| *b != 0.0) {
            let tensor = format!("{}.bias", p.name);
            self.tensors.push((
                tensor.clone(),
                vec![p.size()],
                p.bias.iter().map(|&b| b as f32).collect(),
            ));
            let _ = writeln!(
                t,
                "bias_tensor = {{ file = \"{}.safetensors\", tensor = {tensor:?} }}",
                self.stem
            );
        }
        self.toml.push_str(&t);
        Ok(())
    }

    fn projection(
        &mut self,
        k: usize,
        (s, t): (&Population, &Population),
        pr: &Projection,
        options: &Options,
    ) -> Result<()> {
        let (path, synapses, delay_steps) = (&pr.path, &pr.synapses, pr.delay_steps);
        // Paths between the same populations (a recurrent one beside a feed-forward one, two
        // currents) are told apart by their number.
        let name = |suffix: &str| format!("p{k}{suffix}");
        let head = |suffix: &str| {
            format!(
                "\n# {}\n[[projection]]\nname = {:?}\nsource = {:?}\ntarget = {:?}\n",
                path.join(" -> ") + " -> " + &t.node,
                name(suffix),
                s.name,
                t.name
            )
        };
        let delay = format!(
            "delay_ms = {}\n",
            number(f64::from(delay_steps) * options.dt_ms)
        );
        match synapses {
            Synapses::Dense(w) if t.model == Some(Model::LifExp) => {
                for (sign, receptor) in [(1.0, "exc"), (-1.0, "inh")] {
                    let file = format!("{}.p{k}.{receptor}.csv", self.stem);
                    let mut csv = String::from("source,target,weight_mv\n");
                    let n = s.size();
                    for (j, row) in w.chunks(n).enumerate() {
                        for (i, &x) in row.iter().enumerate().filter(|(_, x)| **x * sign > 0.0) {
                            let _ = writeln!(csv, "{i},{j},{x}");
                        }
                    }
                    if csv.lines().count() == 1 {
                        continue;
                    }
                    let path = self.dir.join(&file);
                    write_atomic(&path, |f| f.write_all(csv.as_bytes()))?;
                    self.files.push(path);
                    let _ = write!(
                        self.toml,
                        "{}connectivity = {{ rule = \"from_file\", file = {file:?} }}\nreceptor = \"{receptor}\"\n# Every synapse has its weight in the file.\nweight_mv = 0.0\n{delay}",
                        head(&format!(".{receptor}"))
                    );
                }
            }
            Synapses::Dense(w) => {
                if w.iter().all(|x| *x == 0.0) {
                    return Ok(());
                }
                let tensor = format!("p{k}.weight");
                self.tensors.push((
                    tensor.clone(),
                    vec![t.size(), s.size()],
                    w.iter().map(|&x| x as f32).collect(),
                ));
                let _ = write!(
                    self.toml,
                    "{}connectivity = {{ rule = \"dense\", file = \"{}.safetensors\", tensor = {tensor:?} }}\n{delay}",
                    head(""),
                    self.stem
                );
            }
            Synapses::Kernel(kernel) => {
                let tensor = format!("p{k}.kernel");
                self.tensors.push((
                    tensor.clone(),
                    kernel.shape.clone(),
                    kernel.weights.iter().map(|&x| x as f32).collect(),
                ));
                let rule = conv_rule(kernel, &format!("{}.safetensors", self.stem), &tensor);
                let _ = write!(self.toml, "{}connectivity = {rule}\n{delay}", head(""));
            }
        }
        Ok(())
    }

    fn records(&mut self, lowered: &Lowered) {
        for p in lowered.populations.iter().filter(|p| p.model.is_some()) {
            if p.spiking {
                let _ = writeln!(self.toml, "\n[[record.spikes]]\npopulation = {:?}", p.name);
            } else if p.output {
                let n = p.size().min(MAX_TRACED);
                let indices: Vec<String> = (0..n).map(|i| i.to_string()).collect();
                let _ = writeln!(
                    self.toml,
                    "\n[[record.traces]]\npopulation = {:?}\nindices = [{}]",
                    p.name,
                    indices.join(", ")
                );
            }
        }
    }

    fn write_tensors(&self, path: &Path) -> Result<()> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        let bytes: Vec<Vec<u8>> = self
            .tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = self
            .tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| {
                let view =
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                        .expect("shape matches data");
                (name.clone(), view)
            })
            .collect();
        let serialized = safetensors::serialize(views, None).map_err(|e| Error::Data {
            path: path.to_path_buf(),
            message: format!("cannot serialize: {e}"),
        })?;
        write_atomic(path, |f| f.write_all(&serialized))
    }
}

/// A number as TOML writes it (a float always has a point).
fn number(v: f64) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E', 'i', 'N']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn conv_rule(k: &Kernel, file: &str, tensor: &str) -> String {
    let [c, h, w] = k.input;
    let mut rule = format!(
        "{{ rule = \"conv\", file = {file:?}, tensor = {tensor:?}, input = [{c}, {h}, {w}]"
    );
    if k.shape.len() == 4 {
        let _ = write!(
            rule,
            ", stride = {:?}, padding = {:?}, dilation = {:?}, groups = {}",
            k.stride, k.padding, k.dilation, k.groups
        );
    }
    if let Some((kernel, stride, padding)) = k.pool {
        let _ = write!(
            rule,
            ", pool = {{ kernel = {kernel:?}, stride = {stride:?}, padding = {padding:?}, count_include_pad = true }}"
        );
    }
    rule + " }"
}
