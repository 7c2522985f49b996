//! The memory estimate: networks refused before anything large is allocated.

use super::*;

/// Bytes of memory per neuron: its initial state, its runtime record and its share of the
/// engine's per-neuron arrays.
pub(super) const BYTES_PER_NEURON: f64 = 96.0;

/// Refuse a network whose neurons alone would not fit in memory, before allocating them.
pub(super) fn check_neurons_fit(
    ctx: &Ctx,
    spec: &NetworkSpec,
    options: &CompileOptions,
) -> Result<()> {
    let neurons: u64 = spec.populations.iter().map(|p| p.size).sum();
    let needed = neurons as f64 * BYTES_PER_NEURON;
    match exceeds_memory(needed, options.memory_limit_bytes) {
        Some(limit) => Err(Error::TooLarge {
            path: ctx.path.to_path_buf(),
            needed_mb: needed / 1e6,
            available_mb: limit as f64 / 1e6,
            synapses: 0,
            neurons,
        }),
        None => Ok(()),
    }
}

/// The memory limit (`limit`, or else the memory available) when `needed` bytes exceed 90 %
/// of it; `None` when they fit or nothing is known.
pub(in crate::network) fn exceeds_memory(needed: f64, limit: Option<u64>) -> Option<u64> {
    limit
        .or_else(available_memory_bytes)
        .filter(|&limit| needed > limit as f64 * 0.9)
}

/// The memory the machine reports as available \[bytes\].
pub(super) fn available_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
