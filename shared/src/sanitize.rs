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
}
