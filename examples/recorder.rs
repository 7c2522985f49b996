//! A recorder of one's own, and a run that owns the weights it changes.
//!
//! Runs the shipped COBA network (conductance-based LIF, `lif_cond_exp`) for 200 ms with a
//! recorder that counts spikes per 10 ms bin through the recorder seam, then runs it again
//! with the inhibitory weights halved in that run only.
//!
//! ```sh
//! cargo run --release --example recorder
//! ```

use std::path::Path;
use synops::network::{CompileOptions, compile_file};
use synops::record::Recorder;
use synops::{Engine, Simulation};

/// Spikes of every population in bins of `bin` steps.
struct Binned {
    bin: u32,
    counts: Vec<u64>,
}

impl Recorder for Binned {
    fn spikes(&mut self, sim: &Simulation<'_>, _population: usize, neurons: &[u32]) {
        let k = ((sim.current_step() - 1) / self.bin) as usize;
        if self.counts.len() <= k {
            self.counts.resize(k + 1, 0);
        }
        self.counts[k] += neurons.len() as u64;
    }
}

fn main() -> synops::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("networks/coba.toml");
    let options = CompileOptions {
        duration_ms: Some(200.0),
        ..Default::default()
    };
    let net = compile_file(&path, &options)?;
    let bin = (10.0 / net.dt_ms).round() as u32;
    let mut binned = Binned {
        bin,
        counts: Vec::new(),
    };
    let mut sim = Simulation::new(&net, Engine::Event);
    sim.run_with(&mut binned).expect("COBA stays bounded");
    println!("spikes per 10 ms: {:?}", binned.counts);

    // The same network, the inhibitory weights halved in this run only.
    let mut weaker = Simulation::new(&net, Engine::Event);
    for (j, projection) in net.projections.iter().enumerate() {
        if net.populations[projection.source].name == "inh" {
            weaker.weights_mut(j).iter_mut().for_each(|w| *w *= 0.5);
        }
    }
    weaker.run(|_| {}).expect("COBA stays bounded");
    let total = |s: &Simulation| s.counts.spikes.iter().sum::<u64>();
    println!(
        "spikes: {} with the file's weights, {} with inhibition halved",
        total(&sim),
        total(&weaker)
    );
    Ok(())
}
