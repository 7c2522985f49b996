//! Dense rows added into `f64` sums, compiled for the processor's vector width (AVX2 where it
//! has it, found at run time; SSE2 otherwise). Each sum gets one addition per row in row
//! order, products rounded before the addition, on every build: the same bits everywhere.

/// `sums[k] += f64::from(row[k]) * x` for every `k` (the two lengths equal).
#[inline]
pub(crate) fn add_scaled_row(sums: &mut [f64], row: &[f32], x: f64) {
    debug_assert_eq!(sums.len(), row.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2 (checked just above).
        return unsafe { add_scaled_row_avx2(sums, row, x) };
    }
    scaled(sums, row, x);
}

/// `sums[k] += f64::from(row[k])` for every `k` (the two lengths equal).
#[inline]
pub(crate) fn add_row(sums: &mut [f64], row: &[f32]) {
    debug_assert_eq!(sums.len(), row.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2 (checked just above).
        return unsafe { add_row_avx2(sums, row) };
    }
    plain(sums, row);
}

#[inline(always)]
fn scaled(sums: &mut [f64], row: &[f32], x: f64) {
    for (sum, &w) in sums.iter_mut().zip(row) {
        *sum += f64::from(w) * x;
    }
}

#[inline(always)]
fn plain(sums: &mut [f64], row: &[f32]) {
    for (sum, &w) in sums.iter_mut().zip(row) {
        *sum += f64::from(w);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_scaled_row_avx2(sums: &mut [f64], row: &[f32], x: f64) {
    scaled(sums, row, x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_row_avx2(sums: &mut [f64], row: &[f32]) {
    plain(sums, row);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatched loops give the portable loops' bits, at lengths around the vector widths.
    #[test]
    fn rows_match_the_portable_loops() {
        let value = |k: usize| ((k * 2_654_435_761) % 1000) as f32 / 37.0 - 13.0;
        for n in [0, 1, 3, 4, 5, 8, 10, 17, 256] {
            let row: Vec<f32> = (0..n).map(|k| value(k) * 1e-3).collect();
            let start: Vec<f64> = (0..n).map(|k| f64::from(value(k + 5))).collect();
            let (mut a, mut b) = (start.clone(), start.clone());
            add_scaled_row(&mut a, &row, 0.3);
            scaled(&mut b, &row, 0.3);
            assert_eq!(a, b);
            add_row(&mut a, &row);
            plain(&mut b, &row);
            assert_eq!(a, b);
        }
    }
}
