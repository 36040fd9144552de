//! Prism Chroma's parameters: `prism-shared`'s schema ([`schema`]) as nice-plug parameters.
//! The ids below must equal the schema's (they key saved sessions); a test checks them.

use nice_plug::prelude::*;
use prism_plugin::{params, Choice, EditorSize, ShellParams};
use prism_shared::analyzer::{schema, Evidence};
use prism_shared::{ChordVocabulary, ChromaSettings};

/// All automatable, persisted parameters.
#[derive(Params)]
pub struct ChromaParams {
    #[id = "ref_hz"]
    pub reference_hz: FloatParam,
    #[id = "auto_tune"]
    pub auto_tuning: BoolParam,
    #[id = "smooth_ms"]
    pub smoothing_ms: FloatParam,
    #[id = "compress"]
    pub compression: FloatParam,
    #[id = "vocab"]
    pub vocabulary: EnumParam<Choice<ChordVocabulary>>,
    #[id = "hpss"]
    pub drum_suppression: BoolParam,
    #[id = "evidence"]
    pub evidence: EnumParam<Choice<Evidence>>,
    #[id = "lookahead_ms"]
    pub lookahead_ms: FloatParam,
    #[id = "freeze"]
    pub freeze: BoolParam,
    #[id = "midi_out"]
    pub midi_out: BoolParam,
    /// The editor's size, saved with the session.
    #[persist = "editor_size"]
    pub editor_size: EditorSize,
}

impl Default for ChromaParams {
    fn default() -> Self {
        Self {
            reference_hz: params::float(&schema::REFERENCE_HZ, ""),
            auto_tuning: params::bool(&schema::AUTO_TUNING, ""),
            smoothing_ms: params::float(&schema::SMOOTHING_MS, ""),
            compression: params::float(&schema::COMPRESSION, ""),
            vocabulary: params::choice(),
            drum_suppression: params::bool(&schema::DRUM_SUPPRESSION, ""),
            evidence: params::choice(),
            lookahead_ms: params::float(&schema::LOOKAHEAD_MS, ""),
            freeze: params::bool(&schema::FREEZE, ""),
            midi_out: params::bool(&schema::MIDI_OUT, ""),
            editor_size: EditorSize::new(980.0, 640.0),
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
            vocabulary: self.vocabulary.value().0,
            drum_suppression: self.drum_suppression.value(),
            lookahead_ms: self.lookahead_ms.value(),
            evidence: self.evidence.value().0,
        }
    }
}

impl ShellParams for ChromaParams {
    fn editor_size(&self) -> &EditorSize {
        &self.editor_size
    }
}
