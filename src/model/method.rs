//! Numerical methods of the clocked models, selected per population by `method = "..."`.

use serde::Deserialize;

/// How a clocked model integrates its state over one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Forward Euler on every state variable from the values at the start of the step: the
    /// method Brian2 (`method = "euler"`) and NEST's `izhikevich` use, offered to reproduce
    /// their numbers. First order: its error shrinks with `dt`, not below it.
    Euler,
    /// The classical fourth-order Runge–Kutta method over the step (local error O(dt⁵)).
    Rk4,
    /// For a potential linear in itself with coefficients known in closed form (conductance
    /// models): the exact integrating factor, and Boole's rule on the input
    /// integral (see [`super::lif_cond_exp`]).
    IntegratingFactor,
    /// Izhikevich's (2003) scheme for his model (see [`super::izhikevich`]).
    #[serde(rename = "izhikevich_2003")]
    Izhikevich2003,
}

impl Method {
    /// The name as written in network files.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Euler => "euler",
            Method::Rk4 => "rk4",
            Method::IntegratingFactor => "integrating_factor",
            Method::Izhikevich2003 => "izhikevich_2003",
        }
    }
}

/// `e^x` to within 2 ulp of the exact value (test: `exp_matches_the_library_to_2_ulp`), from
/// additions, multiplications and bit operations only: it vectorizes inside the clocked
/// models' loops (the library's `exp` is a call per value) and gives the same bits on every
/// processor. `x` is clamped to ±700, where `e^x` is still a normal number.
///
/// Method: `x = k ln 2 + r` with `k` the nearest integer to `x / ln 2` and `|r| <= ln 2 / 2`
/// (Cody–Waite, `ln 2` split in two parts); `e^r` by its Taylor series to degree 13 (truncation
/// below 1e-17 relative); `2^k` written into the exponent bits.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO, LN2_HI with its low 21 bits zero (k LN2_HI is exact).
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    // 1.5 x 2^52: adding it rounds to an integer, which then sits in the low bits.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-700.0, 700.0);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 6_227_020_800.0; // 1/13!
    for d in [
        479_001_600.0,
        39_916_800.0,
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        p = p * r + 1.0 / d;
    }
    // The integer k in the low 32 bits of `shifted`, moved into the exponent field.
    let k_bits = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    let scale = f64::from_bits(((k_bits + 1023) as u64) << 52);
    p * scale
}

/// The natural logarithm of a positive finite `x`, deterministic (the same bits on every
/// processor and build: no FMA, no library call) to a few ulp: `x = m 2^e` with `m` in
/// `[sqrt(1/2), sqrt(2))`, and `ln m = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, `|s| <= 0.172`, by
/// its series to `s^23`. Zero gives minus infinity; negative numbers and NaN give NaN.
pub fn ln(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    if x < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first (2^54).
        return ln(x * 18_014_398_509_481_984.0) - 54.0 * std::f64::consts::LN_2;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = 1.0 / 23.0;
    for d in [21.0, 19.0, 17.0, 15.0, 13.0, 11.0, 9.0, 7.0, 5.0, 3.0, 1.0] {
        p = p * s2 + 1.0 / d;
    }
    let e = e as f64;
    e * LN2_HI + (e * LN2_LO + 2.0 * s * p)
}

#[cfg(test)]
mod tests {
    use super::exp;

    #[test]
    fn ln_matches_the_library_to_4_ulp() {
        let mut x = 1e-310f64;
        while x < 1e300 {
            for f in [
                1.0,
                1.0000001,
                1.3,
                std::f64::consts::SQRT_2 * (1.0 - 1e-15),
                std::f64::consts::SQRT_2 * (1.0 + 1e-15),
                1.7,
                1.99999,
            ] {
                let (ours, library) = (super::ln(x * f), (x * f).ln());
                let ulp = library.abs().max(1e-300) * f64::EPSILON;
                assert!(
                    (ours - library).abs() <= 4.0 * ulp,
                    "ln({}) = {ours}, library {library}",
                    x * f
                );
            }
            x *= 3.7;
        }
        assert_eq!(super::ln(1.0), 0.0);
        assert_eq!(super::ln(0.0), f64::NEG_INFINITY);
        assert!(super::ln(-1.0).is_nan());
    }

    #[test]
    fn exp_matches_the_library_to_2_ulp() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut worst = 0.0f64;
        for k in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            // Mostly the range the models use, some of the whole range.
            let v = if k % 10 == 0 {
                -700.0 + 1400.0 * u
            } else {
                -5.0 + 6.0 * u
            };
            let (ours, library) = (exp(v), v.exp());
            let ulp = (library.to_bits() as i64 - ours.to_bits() as i64).abs();
            worst = worst.max(ulp as f64);
        }
        assert!(worst <= 2.0, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1e9) > 0.0 && exp(1e9).is_finite());
    }
}
