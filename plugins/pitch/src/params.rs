//! Prism Pitch's parameters: `prism-shared`'s schema ([`schema`]) as nice-plug parameters.
//! The ids below must equal the schema's (they key saved sessions); a test checks them.

use nice_plug::prelude::*;
use prism_plugin::{params, EditorSize, ShellParams};
use prism_shared::pitch::notes::NoteSettings;
use prism_shared::pitch::{schema, PitchSettings};

/// All automatable, persisted parameters.
#[derive(Params)]
pub struct PitchParams {
    #[id = "min_hz"]
    pub min_hz: FloatParam,
    #[id = "max_hz"]
    pub max_hz: FloatParam,
    #[id = "ref_hz"]
    pub reference_hz: FloatParam,
    #[id = "voicing"]
    pub voicing_threshold: FloatParam,
    #[id = "midi_out"]
    pub midi_out: BoolParam,
    #[id = "bend"]
    pub bend_range: IntParam,
    #[id = "min_note"]
    pub min_note_ms: FloatParam,
    #[id = "transpose"]
    pub transpose: IntParam,
    /// The editor's size, saved with the session.
    #[persist = "editor_size"]
    pub editor_size: EditorSize,
}

impl Default for PitchParams {
    fn default() -> Self {
        Self {
            min_hz: params::float(&schema::MIN_HZ, ""),
            max_hz: params::float(&schema::MAX_HZ, ""),
            reference_hz: params::float(&schema::REFERENCE_HZ, ""),
            voicing_threshold: params::float(&schema::VOICING_THRESHOLD, ""),
            midi_out: params::bool(&schema::MIDI_OUT, ""),
            bend_range: params::int(&schema::BEND_RANGE),
            min_note_ms: params::float(&schema::MIN_NOTE_MS, ""),
            transpose: params::int(&schema::TRANSPOSE),
            editor_size: EditorSize::new(900.0, 600.0),
        }
    }
}

impl PitchParams {
    /// The tracker settings these parameters describe (the tracker orders the range and
    /// keeps it at least an octave wide).
    pub fn settings(&self) -> PitchSettings {
        PitchSettings {
            min_hz: self.min_hz.value(),
            max_hz: self.max_hz.value(),
            reference_hz: self.reference_hz.value(),
            voicing_threshold: self.voicing_threshold.value(),
        }
    }

    /// The MIDI note settings.
    pub fn note_settings(&self) -> NoteSettings {
        NoteSettings {
            enabled: self.midi_out.value(),
            bend_range: self.bend_range.value(),
            min_note_ms: self.min_note_ms.value(),
            transpose: self.transpose.value(),
        }
    }
}

impl ShellParams for PitchParams {
    fn editor_size(&self) -> &EditorSize {
        &self.editor_size
    }
}
