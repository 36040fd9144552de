//! Prism Chroma: live chromagram, tuning, chord and key, with the chord as MIDI out.
//!
//! Audio passes through untouched (latency 0). The analysis runs on the audio thread with
//! `prism-shared`'s allocation-free [`ChromaAnalyzer`]; the chord goes out as MIDI through
//! [`ChordMidi`] (what `prism chroma --midi` writes); frames reach the editor through a
//! lock-free SPSC ring, only while the editor is open.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::prelude::*;
use prism_plugin::{Glue, Io, MidiSink, Setup, Shell};
use prism_shared::deadline::Deadline;
use prism_shared::gui::{frame_ring, push_frame, FrameConsumer, FrameProducer};
use prism_shared::midi::ChordMidi;
use prism_shared::{ChromaAnalyzer, Processor};

mod editor;
pub mod params;

pub use editor::Meters;
pub use params::ChromaParams;

/// The plugin.
pub type PrismChroma = Shell<Chroma>;

/// Prism Chroma's part of the plugin.
pub struct Chroma {
    meters: Arc<Meters>,
    analyzer: ChromaAnalyzer,
    frames_tx: FrameProducer,
    frames_rx: Option<FrameConsumer>,
    chords: ChordMidi,
    /// Set by `reset()`: release held notes at the start of the next block.
    release_pending: bool,
    /// The host renders offline (the learned chord layer's logits are waited for).
    rendering_offline: bool,
}

/// The learned chord layer in a render the host announces or states per call waits for
/// every frame's logits, so it equals `prism chroma`; otherwise it never waits while the host
/// keeps real-time pace (and waits while it runs far ahead of the wall clock).
fn deadline(offline: bool) -> Deadline {
    if offline {
        Deadline::Wait
    } else {
        Deadline::Auto
    }
}

impl Default for Chroma {
    fn default() -> Self {
        let (frames_tx, frames_rx) = frame_ring();
        Self {
            meters: Arc::default(),
            analyzer: ChromaAnalyzer::default(),
            frames_tx,
            frames_rx: Some(frames_rx),
            chords: ChordMidi::default(),
            release_pending: false,
            rendering_offline: false,
        }
    }
}

impl Glue for Chroma {
    type Params = ChromaParams;
    type View = editor::ChromaView;

    const NAME: &'static str = "Prism Chroma";
    const CLAP_ID: &'static str = "com.prism-audio.chroma";
    const DESCRIPTION: &'static str =
        "Live chromagram, tuning, chord and key, with the chord as MIDI out";
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
    const VST3_CLASS_ID: [u8; 16] = *b"PrismChromaAnlyz";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;

    fn activate(&mut self, params: &ChromaParams, setup: &Setup) -> u32 {
        self.analyzer.set_settings(params.settings());
        self.rendering_offline = setup.offline;
        self.analyzer.set_deadline(deadline(setup.offline));
        self.analyzer
            .prepare(setup.sample_rate, setup.max_block, setup.num_channels);
        let rate = self.analyzer.frame_rate_hz();
        self.meters.frame_rate_hz.store(rate, Ordering::Relaxed);
        let sample_rate = self.analyzer.sample_rate();
        self.meters
            .sample_rate_hz
            .store(sample_rate, Ordering::Relaxed);
        0
    }

    fn reset(&mut self, _params: &ChromaParams) {
        self.analyzer.reset();
        self.release_pending |= self.chords.is_sounding();
    }

    fn process(&mut self, params: &ChromaParams, mut io: Io, midi: &mut MidiSink) {
        let editor_open = io.editor_open;
        if io.offline != self.rendering_offline {
            self.rendering_offline = io.offline;
            self.analyzer.switch_deadline(deadline(io.offline));
        }
        let channels = io.passthrough();
        self.analyzer.set_settings(params.settings());
        let (midi_on, frozen) = (params.midi_out.value(), params.freeze.value());
        if self.release_pending || !midi_on {
            self.release_pending = false;
            self.chords.release(|m| midi.send(0, m));
        }
        let (meters, frames_tx, chords) = (&self.meters, &mut self.frames_tx, &mut self.chords);
        self.analyzer.process(channels.get(), |frame, sample_idx| {
            if frozen {
                return;
            }
            // For the editor only: skipped while it is closed.
            if editor_open {
                meters.show(frame);
                push_frame(frames_tx, frame);
            }
            if midi_on {
                let confidence = frame.chord_confidence;
                chords.decide(frame.chord, confidence, |m| midi.send(sample_idx as u32, m));
            }
        });
    }

    fn deactivate(&mut self) {
        self.chords = ChordMidi::default();
    }

    fn view(&mut self, params: Arc<ChromaParams>) -> Option<editor::ChromaView> {
        let frames = self.frames_rx.take()?;
        let model = self.analyzer.learned_telemetry();
        Some(editor::ChromaView::new(
            params,
            self.meters.clone(),
            frames,
            model,
        ))
    }
}

nice_export_clap!(PrismChroma);
nice_export_vst3!(PrismChroma);
