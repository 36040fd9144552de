//! Prism Pitch's parameters. IDs are short and never renamed (they key saved sessions).

use nice_plug::prelude::*;
use prism_shared::pitch::notes::NoteSettings;
use prism_shared::pitch::PitchSettings;

/// All automatable, persisted parameters.
#[derive(Params)]
pub struct PitchParams {
    /// Lowest pitch searched, Hz.
    #[id = "min_hz"]
    pub min_hz: FloatParam,
    /// Highest pitch searched, Hz.
    #[id = "max_hz"]
    pub max_hz: FloatParam,
    /// A4 reference in Hz, 415–466 (tuner and MIDI notes).
    #[id = "ref_hz"]
    pub reference_hz: FloatParam,
    /// Minimum voicing probability of a voiced frame.
    #[id = "voicing"]
    pub voicing_threshold: FloatParam,
    /// Send notes and pitch bend.
    #[id = "midi_out"]
    pub midi_out: BoolParam,
    /// Pitch-bend range of the receiving synth, semitones.
    #[id = "bend"]
    pub bend_range: IntParam,
    /// Minimum note length, ms.
    #[id = "min_note"]
    pub min_note_ms: FloatParam,
    /// Transposition of the sent notes, semitones.
    #[id = "transpose"]
    pub transpose: IntParam,
}

impl Default for PitchParams {
    fn default() -> Self {
        let hz = |name: &str, default: f32| {
            FloatParam::new(
                name,
                default,
                FloatRange::Skewed {
                    min: 40.0,
                    max: 4000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_step_size(1.0)
            .with_unit(" Hz")
        };
        Self {
            min_hz: hz("Lowest Pitch", 40.0),
            max_hz: hz("Highest Pitch", 2000.0),
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
            voicing_threshold: FloatParam::new(
                "Voicing Threshold",
                PitchSettings::default().voicing_threshold,
                FloatRange::Linear { min: 0.0, max: 1.0 },
            )
            .with_step_size(0.01),
            midi_out: BoolParam::new("MIDI Out", true),
            bend_range: IntParam::new("Bend Range", 2, IntRange::Linear { min: 1, max: 24 })
                .with_unit(" st"),
            min_note_ms: FloatParam::new(
                "Minimum Note Length",
                40.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: 500.0,
                    factor: FloatRange::skew_factor(-1.0),
                },
            )
            .with_step_size(1.0)
            .with_unit(" ms"),
            transpose: IntParam::new("Transpose", 0, IntRange::Linear { min: -24, max: 24 })
                .with_unit(" st"),
        }
    }
}

impl PitchParams {
    /// The tracker settings these parameters describe (the range is ordered and at least
    /// an octave wide however the two range parameters are set).
    pub fn settings(&self) -> PitchSettings {
        let (a, b) = (self.min_hz.value(), self.max_hz.value());
        PitchSettings {
            min_hz: a.min(b),
            max_hz: a.max(b),
            reference_hz: self.reference_hz.value(),
            voicing_threshold: self.voicing_threshold.value(),
        }
    }

    /// The MIDI note settings.
    pub fn note_settings(&self) -> NoteSettings {
        NoteSettings {
            enabled: self.midi_out.value(),
            bend_range: self.bend_range.value() as f32,
            min_note_ms: self.min_note_ms.value(),
            transpose: self.transpose.value(),
        }
    }
}
