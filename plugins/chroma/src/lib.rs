//! Prism Chroma: live chromagram, tuning, chord and key, with the chord as MIDI out.
//!
//! Audio passes through untouched (latency 0). The analysis runs on the audio thread with
//! the allocation-free processors of `prism-shared`; frames reach the editor through a
//! lock-free SPSC ring, only while the editor is open.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF32;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use prism_shared::chord::chord_midi_notes;
use prism_shared::gui::{frame_ring, push_frame, FrameConsumer, FrameProducer};
use prism_shared::{ChromaAnalyzer, Processor};

mod editor;
pub mod params;

pub use params::ChromaParams;

/// Scalars the editor shows, written by the audio thread (relaxed atomics).
#[derive(Default)]
pub struct Meters {
    /// Decided chord index.
    pub chord: AtomicU32,
    /// Posterior of the decided chord.
    pub chord_confidence: AtomicF32,
    /// Decided key index.
    pub key: AtomicU32,
    /// Key confidence 0..1.
    pub key_confidence: AtomicF32,
    /// Estimated tuning relative to the reference, cents.
    pub tuning_cents: AtomicF32,
    /// Analysis frame rate in Hz (for the editor's time axis).
    pub frame_rate_hz: AtomicF32,
}

/// The plugin.
pub struct PrismChroma {
    params: Arc<ChromaParams>,
    editor_state: Arc<EguiEditorState>,
    meters: Arc<Meters>,
    analyzer: ChromaAnalyzer,
    /// Audio-thread end of the frame ring (the editor owns the consumer).
    frames_tx: FrameProducer,
    frames_rx: Option<FrameConsumer>,
    /// MIDI notes currently held by the chord output.
    sounding: [u8; 4],
    num_sounding: usize,
    /// Chord whose notes are held (0 = N / none).
    midi_chord: u16,
    /// Set by `reset()`: release held notes at the start of the next block.
    release_pending: bool,
}

impl Default for PrismChroma {
    fn default() -> Self {
        let (frames_tx, frames_rx) = frame_ring();
        Self {
            params: Arc::new(ChromaParams::default()),
            editor_state: EguiEditorState::from_size(
                nice_plug::editor::dpi::LogicalSize::new(980.0, 640.0),
                1.0,
            ),
            meters: Arc::new(Meters::default()),
            analyzer: ChromaAnalyzer::default(),
            frames_tx,
            frames_rx: Some(frames_rx),
            sounding: [0; 4],
            num_sounding: 0,
            midi_chord: 0,
            release_pending: false,
        }
    }
}

/// Sends note-ons (`velocity > 0`) or note-offs for `keys` on channel 1. A full host event
/// queue drops the event (nothing to do about it on the audio thread).
fn send_notes(
    context: &mut impl ProcessContext<PrismChroma>,
    keys: &[u8],
    timing: u32,
    velocity: f32,
) {
    for &key in keys {
        let (voice_id, channel, key) = (VoiceID::Wildcard, Channel::Number(0), Key::Number(key));
        let event = if velocity > 0.0 {
            NoteEvent::NoteOn {
                timing,
                voice_id,
                channel,
                key,
                velocity,
            }
        } else {
            NoteEvent::NoteOff {
                timing,
                voice_id,
                channel,
                key,
                velocity: 0.0,
            }
        };
        let _ = context.try_send_event(event);
    }
}

impl PrismChroma {
    fn release_notes(&mut self, timing: u32, context: &mut impl ProcessContext<Self>) {
        send_notes(context, &self.sounding[..self.num_sounding], timing, 0.0);
        self.num_sounding = 0;
        self.midi_chord = 0;
    }
}

impl Plugin for PrismChroma {
    const NAME: &'static str = "Prism Chroma";
    const VENDOR: &'static str = "Prism";
    const URL: &'static str = "https://example.invalid/prism";
    const EMAIL: &'static str = "prism@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;

    type Editor = editor::Editor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.meters.clone(),
            self.editor_state.clone(),
            self.frames_rx.take()?,
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let num_channels = audio_io_layout
            .main_input_channels
            .map(|c| c.get() as usize)
            .unwrap_or(2);
        self.analyzer.set_settings(self.params.settings());
        self.analyzer.prepare(
            buffer_config.sample_rate,
            buffer_config.max_buffer_size as usize,
            num_channels,
        );
        self.meters
            .frame_rate_hz
            .store(self.analyzer.frame_rate_hz(), Ordering::Relaxed);
        context.set_latency_samples(0);
        true
    }

    fn reset(&mut self) {
        self.analyzer.reset();
        if self.num_sounding > 0 {
            self.release_pending = true;
        }
    }

    // The audio thread: no locks, blocking calls, I/O or printing (clippy.toml).
    #[deny(
        clippy::disallowed_types,
        clippy::disallowed_methods,
        clippy::print_stdout,
        clippy::print_stderr,
        clippy::dbg_macro
    )]
    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Audio passes through bit-exact, except that subnormals become zero (hosts and
        // validators reject subnormal output); only analysis happens here.
        for channel in buffer.as_slice().iter_mut() {
            prism_shared::sanitize::flush_subnormals(channel);
        }
        self.analyzer.set_settings(self.params.settings());
        let midi_on = self.params.midi_out.value();
        let frozen = self.params.freeze.value();
        if self.release_pending || (!midi_on && self.num_sounding > 0) {
            self.release_pending = false;
            self.release_notes(0, context);
        }
        let editor_open = self.editor_state.is_open();

        let slices = buffer.as_slice_immutable();
        let mut channels: [&[f32]; 2] = [&[], &[]];
        let num_channels = slices.len().min(2);
        for (dst, src) in channels.iter_mut().zip(slices.iter()) {
            *dst = src;
        }
        if num_channels == 0 {
            return ProcessStatus::Normal;
        }

        let meters = &self.meters;
        let frames_tx = &mut self.frames_tx;
        let sounding = &mut self.sounding;
        let num_sounding = &mut self.num_sounding;
        let midi_chord = &mut self.midi_chord;
        self.analyzer
            .process(&channels[..num_channels], |frame, sample_idx| {
                if frozen {
                    return;
                }
                // Everything below is for the editor only: skipped while it is closed.
                if editor_open {
                    meters.chord.store(frame.chord as u32, Ordering::Relaxed);
                    meters
                        .chord_confidence
                        .store(frame.chord_confidence, Ordering::Relaxed);
                    meters.key.store(frame.key as u32, Ordering::Relaxed);
                    meters
                        .key_confidence
                        .store(frame.key_confidence, Ordering::Relaxed);
                    meters
                        .tuning_cents
                        .store(frame.estimated_tuning_cents, Ordering::Relaxed);
                    push_frame(frames_tx, frame);
                }
                if midi_on && frame.chord != *midi_chord {
                    *midi_chord = frame.chord;
                    let timing = sample_idx as u32;
                    send_notes(context, &sounding[..*num_sounding], timing, 0.0);
                    *num_sounding = chord_midi_notes(frame.chord as usize, sounding);
                    let velocity = (0.4 + 0.6 * frame.chord_confidence).clamp(0.05, 1.0);
                    send_notes(context, &sounding[..*num_sounding], timing, velocity);
                }
            });
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.num_sounding = 0;
        self.midi_chord = 0;
    }
}

impl ClapPlugin for PrismChroma {
    const CLAP_ID: &'static str = "com.prism-audio.chroma";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live chromagram, tuning, chord and key, with the chord as MIDI out");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(Self::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for PrismChroma {
    const VST3_CLASS_ID: [u8; 16] = *b"PrismChromaAnlyz";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(PrismChroma);
nice_export_vst3!(PrismChroma);
