//! The rate recorder: spikes of a population counted in bins of `bin_ms`.

use crate::network::CompiledNetwork;

/// Empty bins for every `[[record.rates]]` of `net`.
pub(super) fn bins(net: &CompiledNetwork) -> Vec<Vec<u64>> {
    let recorders = net.record.rates.iter();
    recorders
        .map(|&(_, bin)| vec![0; net.steps.div_ceil(bin) as usize])
        .collect()
}

/// Count `spikes` spikes of `population` in `step` in the bins that record it.
pub(super) fn record(
    net: &CompiledNetwork,
    bins: &mut [Vec<u64>],
    (step, population, spikes): (u32, usize, usize),
) {
    for (r, &(p, bin)) in net.record.rates.iter().enumerate() {
        if p == population {
            bins[r][((step - 1) / bin) as usize] += spikes as u64;
        }
    }
}
