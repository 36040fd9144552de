//! Prism Pitch: real-time f0 tracking, a tuner, and audio-to-MIDI (notes + pitch bend).
//!
//! Audio passes through bit-exact (latency 0). The tracker of `prism-shared` runs on the
//! audio thread without allocating; its MIDI events go out sample-accurately; frames reach
//! the editor through a lock-free SPSC ring, only while the editor is open.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF32;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;
use prism_shared::gui::{frame_ring_with_capacity, push_frame, FrameConsumer, FrameProducer};
use prism_shared::pitch::notes::{MidiEvents, MidiOut};
use prism_shared::{PitchFrame, PitchTracker, Processor};

mod editor;
pub mod params;

pub use params::PitchParams;

/// Frames buffered for the editor (≈ 6 s at 344 frames/s).
pub const PITCH_RING_CAPACITY: usize = 2048;

/// Scalars the editor shows, written by the audio thread (relaxed atomics).
#[derive(Default)]
pub struct Meters {
    /// Latest frequency estimate, Hz.
    pub frequency_hz: AtomicF32,
    /// Its confidence.
    pub confidence: AtomicF32,
    /// Whether it is voiced.
    pub voiced: AtomicBool,
    /// Sounding MIDI note (untransposed), −1 for none.
    pub note: AtomicI32,
    /// Frames per second (the editor's time axis).
    pub frame_rate_hz: AtomicF32,
    /// Algorithmic latency in ms.
    pub latency_ms: AtomicF32,
}

/// The plugin.
pub struct PrismPitch {
    params: Arc<PitchParams>,
    editor_state: Arc<EguiEditorState>,
    meters: Arc<Meters>,
    tracker: PitchTracker,
    frames_tx: FrameProducer<PitchFrame>,
    frames_rx: Option<FrameConsumer<PitchFrame>>,
    /// Events to send at the start of the next block (note-off after `reset`).
    pending: MidiEvents,
}

impl Default for PrismPitch {
    fn default() -> Self {
        let (frames_tx, frames_rx) = frame_ring_with_capacity(PITCH_RING_CAPACITY);
        Self {
            params: Arc::new(PitchParams::default()),
            editor_state: EguiEditorState::from_size(
                nice_plug::editor::dpi::LogicalSize::new(900.0, 600.0),
                1.0,
            ),
            meters: Arc::new(Meters {
                note: AtomicI32::new(-1),
                ..Meters::default()
            }),
            tracker: PitchTracker::default(),
            frames_tx,
            frames_rx: Some(frames_rx),
            pending: MidiEvents::default(),
        }
    }
}

/// Sends one segmenter event on channel 1. A full host queue drops it.
fn send(context: &mut impl ProcessContext<PrismPitch>, event: MidiOut, timing: u32) {
    let (voice_id, channel) = (VoiceID::Wildcard, Channel::Number(0));
    let event = match event {
        MidiOut::NoteOn { key, velocity } => NoteEvent::NoteOn {
            timing,
            voice_id,
            channel,
            key: Key::Number(key),
            velocity,
        },
        MidiOut::NoteOff { key } => NoteEvent::NoteOff {
            timing,
            voice_id,
            channel,
            key: Key::Number(key),
            velocity: 0.0,
        },
        MidiOut::PitchBend { value } => NoteEvent::MidiPitchBend {
            timing,
            channel: 0,
            value: (0.5 + 0.5 * value).clamp(0.0, 1.0),
        },
    };
    let _ = context.try_send_event(event);
}

impl Plugin for PrismPitch {
    const NAME: &'static str = "Prism Pitch";
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
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;

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
        self.tracker.set_settings(self.params.settings());
        self.tracker.set_note_settings(self.params.note_settings());
        self.tracker.prepare(
            buffer_config.sample_rate,
            buffer_config.max_buffer_size as usize,
            num_channels,
        );
        self.meters
            .frame_rate_hz
            .store(self.tracker.frame_rate_hz(), Ordering::Relaxed);
        self.meters.latency_ms.store(
            1000.0 * self.tracker.latency_samples() as f32 / self.tracker.sample_rate(),
            Ordering::Relaxed,
        );
        // Audio is not delayed; the pitch estimate's own latency is shown in the editor.
        context.set_latency_samples(0);
        true
    }

    fn reset(&mut self) {
        // A sounding note must not hang: its note-off goes out with the next block.
        let release = self.tracker.release_notes();
        if !release.is_empty() {
            self.pending = release;
        }
        self.tracker.reset();
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
        self.tracker.set_settings(self.params.settings());
        self.tracker.set_note_settings(self.params.note_settings());
        for e in self.pending.iter() {
            send(context, e, 0);
        }
        self.pending.clear();
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
        self.tracker
            .process(&channels[..num_channels], |frame, events, sample_idx| {
                for e in events.iter() {
                    send(context, e, sample_idx as u32);
                }
                // Everything below is for the editor only: skipped while it is closed.
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
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        let _ = self.tracker.release_notes();
        self.pending.clear();
    }
}

impl ClapPlugin for PrismPitch {
    const CLAP_ID: &'static str = "com.prism-audio.pitch";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time pitch tracking, tuner and audio-to-MIDI with pitch bend");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(Self::URL);
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for PrismPitch {
    const VST3_CLASS_ID: [u8; 16] = *b"PrismPitchTrackr";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(PrismPitch);
nice_export_vst3!(PrismPitch);
