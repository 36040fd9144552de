//! Sample-exact comparisons for test assertions.

/// Index and values of the first sample where `a` and `b` differ bit-wise (`NaN`s compare by
/// bits too), or `None` if identical. Lengths must match.
pub fn first_bit_difference(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .enumerate()
        .find(|(_, (x, y))| x.to_bits() != y.to_bits())
        .map(|(i, (x, y))| (i, *x, *y))
}

/// Index and value of the first non-finite sample.
pub fn first_non_finite(a: &[f32]) -> Option<(usize, f32)> {
    a.iter()
        .enumerate()
        .find(|(_, x)| !x.is_finite())
        .map(|(i, x)| (i, *x))
}

/// Index and value of the first subnormal sample.
pub fn first_subnormal(a: &[f32]) -> Option<(usize, f32)> {
    a.iter()
        .enumerate()
        .find(|(_, x)| x.is_subnormal())
        .map(|(i, x)| (i, *x))
}
