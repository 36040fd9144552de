//! Prism Pitch: real-time f0 tracking, a tuner, and audio-to-MIDI (notes + pitch bend).
//!
//! Audio passes through bit-exact (latency 0). `prism-shared`'s [`PitchTracker`] runs on the
//! audio thread without allocating; its notes go out sample-accurately as [`NoteWire`]
//! messages (the bend range announced as RPN 0 first; what `prism pitch --midi` writes);
//! frames reach the editor through a lock-free SPSC ring, only while the editor is open.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use nice_plug::prelude::*;
use prism_plugin::{Glue, Io, MidiSink, Setup, Shell};
use prism_shared::gui::{frame_ring_with_capacity, push_frame, FrameConsumer, FrameProducer};
use prism_shared::midi::NoteWire;
use prism_shared::pitch::notes::MidiEvents;
use prism_shared::{PitchFrame, PitchTracker, Processor};

mod editor;
pub mod params;

pub use editor::Meters;
pub use params::PitchParams;

/// The plugin.
pub type PrismPitch = Shell<Pitch>;

/// Frames buffered for the editor (≈ 6 s at 344 frames/s).
pub const PITCH_RING_CAPACITY: usize = 2048;

/// Prism Pitch's part of the plugin.
pub struct Pitch {
    meters: Arc<Meters>,
    tracker: PitchTracker,
    frames_tx: FrameProducer<PitchFrame>,
    frames_rx: Option<FrameConsumer<PitchFrame>>,
    /// Events to send at the start of the next block (note-off after `reset`).
    pending: MidiEvents,
    wire: NoteWire,
}

impl Default for Pitch {
    fn default() -> Self {
        let (frames_tx, frames_rx) = frame_ring_with_capacity(PITCH_RING_CAPACITY);
        let meters = Meters {
            note: AtomicI32::new(-1),
            ..Meters::default()
        };
        Self {
            meters: Arc::new(meters),
            tracker: PitchTracker::default(),
            frames_tx,
            frames_rx: Some(frames_rx),
            pending: MidiEvents::default(),
            wire: NoteWire::default(),
        }
    }
}

impl Glue for Pitch {
    type Params = PitchParams;
    type View = editor::PitchView;

    const NAME: &'static str = "Prism Pitch";
    const CLAP_ID: &'static str = "com.prism-audio.pitch";
    const DESCRIPTION: &'static str =
        "Real-time pitch tracking, tuner and audio-to-MIDI with pitch bend";
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
    const VST3_CLASS_ID: [u8; 16] = *b"PrismPitchTrackr";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;

    fn activate(&mut self, params: &PitchParams, setup: &Setup) -> u32 {
        let t = &mut self.tracker;
        t.set_settings(params.settings());
        t.set_note_settings(params.note_settings());
        t.prepare(setup.sample_rate, setup.max_block, setup.num_channels);
        let latency_ms = 1000.0 * t.latency_samples() as f32 / t.sample_rate();
        self.meters.latency_ms.store(latency_ms, Ordering::Relaxed);
        let rate = t.frame_rate_hz();
        self.meters.frame_rate_hz.store(rate, Ordering::Relaxed);
        self.wire.reset();
        // Audio is not delayed; the pitch estimate's own latency is shown in the editor.
        0
    }

    fn reset(&mut self, _params: &PitchParams) {
        // A sounding note must not hang: its note-off goes out with the next block.
        let release = self.tracker.release_notes();
        if !release.is_empty() {
            self.pending = release;
        }
        self.tracker.reset();
    }

    fn process(&mut self, params: &PitchParams, mut io: Io, midi: &mut MidiSink) {
        let editor_open = io.editor_open;
        let channels = io.passthrough();
        let notes = params.note_settings();
        self.tracker.set_settings(params.settings());
        self.tracker.set_note_settings(notes);
        if notes.enabled {
            self.wire.announce(notes.bend_range, |m| midi.send(0, m));
        } else {
            self.wire.reset();
        }
        for e in self.pending.iter() {
            midi.send(0, NoteWire::message(e));
        }
        self.pending.clear();
        let (meters, frames_tx) = (&self.meters, &mut self.frames_tx);
        self.tracker
            .process(channels.get(), |frame, events, sample_idx| {
                for e in events.iter() {
                    midi.send(sample_idx as u32, NoteWire::message(e));
                }
                // For the editor only: skipped while it is closed.
                if editor_open {
                    meters
                        .frequency_hz
                        .store(frame.frequency_hz, Ordering::Relaxed);
                    meters.confidence.store(frame.confidence, Ordering::Relaxed);
                    meters.voiced.store(frame.voiced, Ordering::Relaxed);
                    meters.note.store(frame.note as i32, Ordering::Relaxed);
                    push_frame(frames_tx, frame);
                }
            });
    }

    fn deactivate(&mut self) {
        let _ = self.tracker.release_notes();
        self.pending.clear();
    }

    fn view(&mut self, params: Arc<PitchParams>) -> Option<editor::PitchView> {
        let frames = self.frames_rx.take()?;
        Some(editor::PitchView::new(params, self.meters.clone(), frames))
    }
}

nice_export_clap!(PrismPitch);
nice_export_vst3!(PrismPitch);
