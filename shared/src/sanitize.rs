//! Input and output hygiene for the audio path.
//!
//! Policy (documented in the README): a non-finite input sample is treated as silence, a
//! finite sample is clamped to ±[`MAX_INPUT`], and anything below [`DENORMAL_FLOOR`] in
//! magnitude is flushed to zero so that denormals never reach the FFTs or recursive state.

/// Largest magnitude an input sample may have inside the analysers (+60 dBFS).
pub const MAX_INPUT: f32 = 1000.0;
/// Magnitudes below this are flushed to zero.
pub const DENORMAL_FLOOR: f32 = 1.0e-30;

/// Sanitises one input sample (see the module docs).
#[inline]
pub fn input_sample(x: f32) -> f32 {
    if x.is_finite() {
        if x.abs() < DENORMAL_FLOOR {
            0.0
        } else {
            x.clamp(-MAX_INPUT, MAX_INPUT)
        }
    } else {
        0.0
    }
}

/// Flushes a value to zero if it is non-finite or denormal-small. Used on recursive state.
#[inline]
pub fn flush(x: f32) -> f32 {
    if x.is_finite() && x.abs() >= DENORMAL_FLOOR {
        x
    } else {
        0.0
    }
}

/// Output hygiene: replaces every subnormal sample of `buf` with a zero of the same sign and
/// leaves every other bit pattern (normal, zero, NaN, ±Inf) untouched. Hosts and validators
/// (clap-validator among them) reject subnormal output, and a subnormal handed to the next
/// plugin costs it 10-100x per operation; a pass-through stays bit-exact otherwise.
/// Real-time safe.
#[inline]
pub fn flush_subnormals(buf: &mut [f32]) {
    for x in buf.iter_mut() {
        if x.is_subnormal() {
            *x = 0.0f32.copysign(*x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_and_tiny_inputs_become_zero_and_huge_ones_are_clamped() {
        assert_eq!(input_sample(f32::NAN), 0.0);
        assert_eq!(input_sample(f32::INFINITY), 0.0);
        assert_eq!(input_sample(f32::MIN_POSITIVE / 4.0), 0.0);
        assert_eq!(input_sample(f32::MAX), MAX_INPUT);
        assert_eq!(input_sample(-f32::MAX), -MAX_INPUT);
        assert_eq!(input_sample(0.25), 0.25);
    }

    #[test]
    fn flushing_zeroes_subnormals_only_and_keeps_their_sign() {
        let tiny = f32::MIN_POSITIVE / 8.0;
        let mut buf = [
            tiny,
            -tiny,
            f32::MIN_POSITIVE,
            0.5,
            f32::NAN,
            f32::INFINITY,
            -0.0,
        ];
        flush_subnormals(&mut buf);
        assert_eq!(buf[0].to_bits(), 0.0f32.to_bits());
        assert_eq!(buf[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(buf[2], f32::MIN_POSITIVE);
        assert_eq!(buf[3], 0.5);
        assert!(buf[4].is_nan());
        assert_eq!(buf[5], f32::INFINITY);
        assert_eq!(buf[6].to_bits(), (-0.0f32).to_bits());
    }
}
