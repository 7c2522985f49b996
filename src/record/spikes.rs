//! The spike recorder: the spikes of the neurons `[[record.spikes]]` selects.

use crate::network::CompiledNetwork;

/// Add the spikes of `population` in `step` that its recorder selects to `out`.
pub(super) fn record(
    net: &CompiledNetwork,
    out: &mut Vec<(u32, u32, u32)>,
    (step, population, neurons): (u32, usize, &[u32]),
) {
    if let Some(mask) = &net.record.spikes[population] {
        let selected = neurons.iter().filter(|&&n| mask[n as usize]);
        out.extend(selected.map(|&n| (step, population as u32, n)));
    }
}
