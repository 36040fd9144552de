//! Prism Pitch's parameters, stated once (see [`crate::params`]).

use super::{MAX_RANGE_HZ, MIN_RANGE_HZ};
use crate::params::{BoolSpec, FloatSpec, IntSpec, Spec, Taper};

pub use crate::params::REFERENCE_HZ;

const fn hz(id: &'static str, name: &'static str, flag: &'static str, default: f32) -> FloatSpec {
    FloatSpec {
        id,
        name,
        flag: Some(flag),
        min: MIN_RANGE_HZ,
        max: MAX_RANGE_HZ,
        default,
        step: 1.0,
        unit: " Hz",
        taper: Taper::Skewed(-2.0),
    }
}

/// Lowest pitch searched.
pub const MIN_HZ: FloatSpec = hz("min_hz", "Lowest Pitch", "fmin", 40.0);
/// Highest pitch searched.
pub const MAX_HZ: FloatSpec = hz("max_hz", "Highest Pitch", "fmax", 2000.0);
/// Minimum voicing probability of a voiced frame.
pub const VOICING_THRESHOLD: FloatSpec = FloatSpec {
    id: "voicing",
    name: "Voicing Threshold",
    flag: Some("voicing-threshold"),
    min: 0.0,
    max: 1.0,
    default: 0.1,
    step: 0.01,
    unit: "",
    taper: Taper::Linear,
};
/// Send notes and pitch bend (`prism pitch --midi FILE` writes them).
pub const MIDI_OUT: BoolSpec = BoolSpec {
    id: "midi_out",
    name: "MIDI Out",
    flag: None,
    default: true,
};
/// Pitch-bend range of the receiving synth (sent to it as RPN 0).
pub const BEND_RANGE: IntSpec = IntSpec {
    id: "bend",
    name: "Bend Range",
    flag: Some("bend-range"),
    min: 1,
    max: 24,
    default: 2,
    unit: " st",
};
/// Minimum note length.
pub const MIN_NOTE_MS: FloatSpec = FloatSpec {
    id: "min_note",
    name: "Minimum Note Length",
    flag: Some("min-note-ms"),
    min: 0.0,
    max: 500.0,
    default: 40.0,
    step: 1.0,
    unit: " ms",
    taper: Taper::Skewed(-1.0),
};
/// Transposition of the sent notes.
pub const TRANSPOSE: IntSpec = IntSpec {
    id: "transpose",
    name: "Transpose",
    flag: Some("transpose"),
    min: -24,
    max: 24,
    default: 0,
    unit: " st",
};

/// Every parameter, in the plugin's order.
pub const ALL: &[Spec] = &[
    Spec::Float(&MIN_HZ),
    Spec::Float(&MAX_HZ),
    Spec::Float(&REFERENCE_HZ),
    Spec::Float(&VOICING_THRESHOLD),
    Spec::Bool(&MIDI_OUT),
    Spec::Int(&BEND_RANGE),
    Spec::Float(&MIN_NOTE_MS),
    Spec::Int(&TRANSPOSE),
];
