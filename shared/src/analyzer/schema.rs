//! Prism Chroma's parameters, stated once (see [`crate::params`]).

use crate::params::{BoolSpec, ChoiceSpec, FloatSpec, Spec, Taper};

pub use crate::params::REFERENCE_HZ;

/// Apply the running tuning estimate on top of the reference.
pub const AUTO_TUNING: BoolSpec = BoolSpec {
    id: "auto_tune",
    name: "Auto Tuning",
    flag: Some("no-auto-tuning"),
    default: true,
};
/// Chroma smoothing time constant (0 = off, lowest latency).
pub const SMOOTHING_MS: FloatSpec = FloatSpec {
    id: "smooth_ms",
    name: "Smoothing",
    flag: Some("smoothing-ms"),
    min: 0.0,
    max: 2000.0,
    default: 0.0,
    step: 1.0,
    unit: " ms",
    taper: Taper::Skewed(-2.0),
};
/// Log-compression factor γ of `ln(1 + γ·E/E_max)` (relative to the frame's peak).
pub const COMPRESSION: FloatSpec = FloatSpec {
    id: "compress",
    name: "Compression",
    flag: Some("compression"),
    min: 1.0,
    max: 10_000.0,
    default: 30.0,
    step: 1.0,
    unit: "",
    taper: Taper::Skewed(-2.0),
};
/// Chord vocabulary ([`crate::ChordVocabulary`]).
pub const VOCABULARY: ChoiceSpec = ChoiceSpec {
    id: "vocab",
    name: "Chord Vocabulary",
    flag: Some("vocabulary"),
    ids: &["majmin", "sevenths", "full"],
    names: &["Major/minor", "Sevenths", "Full"],
    default: 0,
};
/// HPSS drum suppression before the chroma.
pub const DRUM_SUPPRESSION: BoolSpec = BoolSpec {
    id: "hpss",
    name: "Drum Suppression",
    flag: Some("no-drum-suppression"),
    default: true,
};
/// What the chord recogniser listens to ([`crate::analyzer::Evidence`]).
pub const EVIDENCE: ChoiceSpec = ChoiceSpec {
    id: "evidence",
    name: "Chord Evidence",
    flag: Some("evidence"),
    ids: &["filterbank", "nnls", "learned"],
    names: &["Templates", "NNLS notes", "NNLS + model"],
    default: 2,
};
/// Look-ahead of the chord decision: the display and the chord MIDI lag the music by it
/// (the audio does not), and the decision sees that much of the future.
pub const LOOKAHEAD_MS: FloatSpec = FloatSpec {
    id: "lookahead_ms",
    name: "Look-ahead",
    flag: Some("lookahead-ms"),
    min: 0.0,
    max: 500.0,
    default: 0.0,
    step: 1.0,
    unit: " ms",
    taper: Taper::Linear,
};
/// Hold the display and the MIDI chord (plugin only).
pub const FREEZE: BoolSpec = BoolSpec {
    id: "freeze",
    name: "Freeze",
    flag: None,
    default: false,
};
/// Send the detected chord as MIDI notes (`prism chroma --midi FILE` writes them).
pub const MIDI_OUT: BoolSpec = BoolSpec {
    id: "midi_out",
    name: "MIDI Chords",
    flag: None,
    default: true,
};

/// Every parameter, in the plugin's order.
pub const ALL: &[Spec] = &[
    Spec::Float(&REFERENCE_HZ),
    Spec::Bool(&AUTO_TUNING),
    Spec::Float(&SMOOTHING_MS),
    Spec::Float(&COMPRESSION),
    Spec::Choice(&VOCABULARY),
    Spec::Bool(&DRUM_SUPPRESSION),
    Spec::Choice(&EVIDENCE),
    Spec::Float(&LOOKAHEAD_MS),
    Spec::Bool(&FREEZE),
    Spec::Bool(&MIDI_OUT),
];
