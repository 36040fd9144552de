//! Prism Chroma's parameters. IDs are short and never renamed (they key saved sessions).

use nice_plug::prelude::*;
use prism_shared::{ChordVocabulary, ChromaSettings};

/// Chord vocabulary as a host-visible enum.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    /// 24 major/minor triads and N.
    #[id = "majmin"]
    #[name = "Major/minor"]
    MajMin,
    /// Adds 7, maj7 and min7.
    #[id = "sevenths"]
    #[name = "Sevenths"]
    Sevenths,
    /// Adds dim, aug, sus2, sus4, dim7 and hdim7.
    #[id = "full"]
    #[name = "Full"]
    Full,
}

impl From<Vocabulary> for ChordVocabulary {
    fn from(v: Vocabulary) -> Self {
        match v {
            Vocabulary::MajMin => ChordVocabulary::MajMin,
            Vocabulary::Sevenths => ChordVocabulary::Sevenths,
            Vocabulary::Full => ChordVocabulary::Full,
        }
    }
}

/// All automatable, persisted parameters.
#[derive(Params)]
pub struct ChromaParams {
    /// A4 reference in Hz, 415–466.
    #[id = "ref_hz"]
    pub reference_hz: FloatParam,
    /// Apply the running tuning estimate on top of the reference.
    #[id = "auto_tune"]
    pub auto_tuning: BoolParam,
    /// Chroma smoothing time constant in ms (0 = off, lowest latency).
    #[id = "smooth_ms"]
    pub smoothing_ms: FloatParam,
    /// Log-compression factor γ of `ln(1 + γ·E/E_max)` (relative to the frame's peak).
    #[id = "compress"]
    pub compression: FloatParam,
    /// Chord vocabulary.
    #[id = "vocab"]
    pub vocabulary: EnumParam<Vocabulary>,
    /// HPSS drum suppression before the chroma.
    #[id = "hpss"]
    pub drum_suppression: BoolParam,
    /// Hold the display and the MIDI chord.
    #[id = "freeze"]
    pub freeze: BoolParam,
    /// Send the detected chord as MIDI notes.
    #[id = "midi_out"]
    pub midi_out: BoolParam,
}

impl Default for ChromaParams {
    fn default() -> Self {
        Self {
            reference_hz: FloatParam::new(
                "Reference Pitch",
                440.0,
                FloatRange::Linear {
                    min: 415.0,
                    max: 466.0,
                },
            )
            .with_step_size(0.1)
            .with_unit(" Hz"),
            auto_tuning: BoolParam::new("Auto Tuning", true),
            smoothing_ms: FloatParam::new(
                "Smoothing",
                0.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: 2000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_step_size(1.0)
            .with_unit(" ms"),
            compression: FloatParam::new(
                "Compression",
                30.0,
                FloatRange::Skewed {
                    min: 1.0,
                    max: 10_000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_step_size(1.0),
            vocabulary: EnumParam::new("Chord Vocabulary", Vocabulary::MajMin),
            drum_suppression: BoolParam::new("Drum Suppression", true),
            freeze: BoolParam::new("Freeze", false),
            midi_out: BoolParam::new("MIDI Chords", true),
        }
    }
}

impl ChromaParams {
    /// The analyser settings these parameters describe.
    pub fn settings(&self) -> ChromaSettings {
        ChromaSettings {
            reference_hz: self.reference_hz.value(),
            auto_tuning: self.auto_tuning.value(),
            smoothing_ms: self.smoothing_ms.value(),
            compression: self.compression.value(),
            vocabulary: self.vocabulary.value().into(),
            drum_suppression: self.drum_suppression.value(),
        }
    }
}
