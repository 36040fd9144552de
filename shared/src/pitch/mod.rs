//! Prism Pitch: real-time monophonic f0 tracking, tuner and audio-to-MIDI.
//!
//! The chain, per hop of ≈ 2.9 ms (128 samples at 44.1 kHz, scaled with the rate):
//!
//! 1. the input is mixed to mono, sanitised, low-passed (Kaiser-windowed sinc FIR, 6 kHz
//!    corner) and decimated to an analysis rate of 20–40 kHz (22.05 kHz from 44.1 kHz):
//!    the harmonics that fix the period are kept, broadband noise above them is removed,
//!    and every FFT and loop after it costs half (the difference function ignores DC, so
//!    no high-pass);
//! 2. [`yin::Yin`] computes YIN's difference function over the newest
//!    [`WINDOW_S`] (20 ms) against every lag up to the lowest pitch's period, and pYIN's
//!    probabilistic candidates (sub-sample periods by parabolic interpolation);
//! 3. [`hmm::PitchHmm`] decodes pYIN's voiced/unvoiced pitch HMM online with a fixed lag
//!    of [`LAG_FRAMES`] frames (octave errors and single-frame outliers are rejected by
//!    continuity; note changes are followed through a jump transition);
//! 4. the decided frame's frequency is the candidate in the decided bin (sub-cent), its
//!    confidence the frame's voicing probability; frames more than 30 dB below the recent
//!    peak level (a follower falling 10 dB/s, capped at 0 dBFS) are unvoiced, so periodic
//!    release and reverb tails do not count as the note;
//! 5. [`notes::NoteSegmenter`] turns the track into MIDI notes and pitch bend.
//!
//! **Algorithmic latency** (a constant, [`PitchTracker::latency_samples`]): the FIR's
//! group delay, half the integration window and the decoding lag,
//! `D + W/2 + LAG_FRAMES·hop` = 0.5 ms + 7.5 ms + 5.8 ms = 13.8 ms at 44.1 kHz. The analysis of a period τ additionally spans τ/2 more
//! (1.1 ms at A4, 12.5 ms at 40 Hz). The plugin does not delay audio.

mod decimate;
pub mod hmm;
pub mod notes;
pub mod schema;
pub mod yin;

use crate::framing::Framer;
use crate::Processor;
use decimate::{decimation_for, Decimator};
use hmm::PitchHmm;
use notes::{MidiEvents, NoteSegmenter, NoteSettings};
use yin::{Candidates, Yin};

/// Integration window of the difference function, seconds.
pub const WINDOW_S: f32 = 0.015;
/// Hop at 44.1 kHz in samples (scaled with the sample rate elsewhere).
pub const HOP_44K: usize = 128;
/// Decoding lag of the HMM in frames.
pub const LAG_FRAMES: usize = 2;
/// Lowest and highest settable pitch range, Hz.
pub const MIN_RANGE_HZ: f32 = 40.0;
/// See [`MIN_RANGE_HZ`].
pub const MAX_RANGE_HZ: f32 = 4000.0;
/// Frames more than this far below the recent peak level are unvoiced, dB.
const RELATIVE_GATE_DB: f32 = 30.0;
/// Fall rate of the peak follower, dB per second.
const PEAK_DECAY_DB_PER_S: f32 = 10.0;
/// Low-pass (anti-alias) corner before the analysis, Hz (capped at 0.3 × the analysis rate).
const LOWPASS_HZ: f32 = 6000.0;

/// Note names, C first, with sharps.
pub const NOTE_NAMES: [&str; 12] = [
    "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
];

/// User-facing tracker settings. Changing them never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchSettings {
    /// Lowest pitch searched, Hz (40..=4000).
    pub min_hz: f32,
    /// Highest pitch searched, Hz (40..=4000, above `min_hz`).
    pub max_hz: f32,
    /// Reference pitch of A4 for the tuner and the MIDI notes, Hz (415..=466).
    pub reference_hz: f32,
    /// Frames with a voicing probability below this are reported unvoiced (0..=1).
    pub voicing_threshold: f32,
}

impl Default for PitchSettings {
    fn default() -> Self {
        Self {
            min_hz: schema::MIN_HZ.default,
            max_hz: schema::MAX_HZ.default,
            reference_hz: schema::REFERENCE_HZ.default,
            voicing_threshold: schema::VOICING_THRESHOLD.default,
        }
    }
}

impl PitchSettings {
    /// The settings inside their schema ranges, with the search range ordered and at least
    /// an octave wide.
    pub fn sanitized(self) -> Self {
        let (a, b) = (
            schema::MIN_HZ.clamp(self.min_hz),
            schema::MAX_HZ.clamp(self.max_hz),
        );
        let min_hz = a.min(b).min(MAX_RANGE_HZ / 2.0);
        let max_hz = a.max(b).max(min_hz * 2.0);
        Self {
            min_hz,
            max_hz,
            reference_hz: schema::REFERENCE_HZ.clamp(self.reference_hz),
            voicing_threshold: schema::VOICING_THRESHOLD.clamp(self.voicing_threshold),
        }
    }
}

/// One decided frame. `Copy` and small, so it can travel through a lock-free ring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchFrame {
    /// Stream position just after the last sample that produced this decision (samples
    /// since prepare/reset): when a live host sees it.
    pub end_sample: u64,
    /// The position the estimate describes: `end_sample − latency` (may be negative at the
    /// very start).
    pub time_sample: i64,
    /// Best frequency estimate in Hz, also when unvoiced (0 before any pitch was seen).
    pub frequency_hz: f32,
    /// Voicing probability of the frame, 0..=1.
    pub confidence: f32,
    /// Whether the frame is voiced.
    pub voiced: bool,
    /// Level of the newest 20 ms, dBFS (a full-scale sine is −3 dB).
    pub level_db: f32,
    /// Sounding MIDI note (before transposition), −1 when none.
    pub note: i16,
}

impl Default for PitchFrame {
    fn default() -> Self {
        Self {
            end_sample: 0,
            time_sample: 0,
            frequency_hz: 0.0,
            confidence: 0.0,
            voiced: false,
            level_db: -120.0,
            note: -1,
        }
    }
}

/// Nearest note (MIDI number, relative to `reference_hz` for A4) and the deviation from it
/// in cents (−50..50). `None` for non-positive or non-finite frequencies.
pub fn tuner(frequency_hz: f32, reference_hz: f32) -> Option<(i32, f32)> {
    if !(frequency_hz.is_finite() && frequency_hz > 0.0) {
        return None;
    }
    let semis = semitones(frequency_hz, reference_hz);
    let note = semis.round();
    Some((note as i32, ((semis - note) * 100.0) as f32))
}

/// Fractional MIDI pitch of a frequency at a reference (f64 for sub-cent work).
pub fn semitones(frequency_hz: f32, reference_hz: f32) -> f64 {
    69.0 + 12.0 * (frequency_hz as f64 / reference_hz as f64).log2()
}

/// Name of a MIDI note with its octave (`A4` = 69).
pub fn note_name(note: i32) -> (&'static str, i32) {
    (
        NOTE_NAMES[note.rem_euclid(12) as usize],
        note.div_euclid(12) - 1,
    )
}

/// The decision inputs kept for `LAG_FRAMES` frames.
#[derive(Clone, Copy, Default)]
struct Pending {
    candidates: Candidates,
}

/// The streaming pitch tracker (one code path for plugin, CLI and tests).
pub struct PitchTracker {
    settings: PitchSettings,
    sample_rate: f32,
    /// Rate of the analysis (input rate / decimation factor).
    analysis_rate: f32,
    /// Hop in analysis samples.
    hop: usize,
    decimator: Decimator,
    yin: Yin,
    hmm: PitchHmm,
    notes: NoteSegmenter,
    /// Frames of the decimated signal: one analysis frame plus `LAG_FRAMES` hops, so the
    /// decided frame's samples are still there for the sub-sample refinement.
    framer: Framer,
    /// The latest framer output, oldest sample first.
    history: Vec<f32>,
    /// Per-bin voiced observation of the current frame.
    observation: Vec<f32>,
    /// Candidates of the last `LAG_FRAMES + 1` frames (ring).
    pending: Vec<Pending>,
    pending_idx: usize,
    frames_seen: u64,
    samples_seen: u64,
    last_frequency: f32,
    /// Peak follower of the frame level, dB.
    peak_level_db: f32,
    events: MidiEvents,
    prepared: bool,
}

impl Default for PitchTracker {
    fn default() -> Self {
        Self::new(PitchSettings::default())
    }
}

impl PitchTracker {
    /// Creates a tracker (cheap; call `prepare` before use).
    pub fn new(settings: PitchSettings) -> Self {
        Self {
            settings: settings.sanitized(),
            sample_rate: 44_100.0,
            analysis_rate: 22_050.0,
            hop: HOP_44K / 2,
            decimator: Decimator::default(),
            yin: Yin::default(),
            hmm: PitchHmm::default(),
            notes: NoteSegmenter::default(),
            framer: Framer::default(),
            history: Vec::new(),
            observation: Vec::new(),
            pending: Vec::new(),
            pending_idx: 0,
            frames_seen: 0,
            samples_seen: 0,
            last_frequency: 0.0,
            peak_level_db: -120.0,
            events: MidiEvents::default(),
            prepared: false,
        }
    }

    /// Updates the settings. Real-time safe.
    pub fn set_settings(&mut self, settings: PitchSettings) {
        self.settings = settings.sanitized();
    }

    /// Current settings.
    pub fn settings(&self) -> &PitchSettings {
        &self.settings
    }

    /// Updates the MIDI note settings. Real-time safe.
    pub fn set_note_settings(&mut self, settings: NoteSettings) {
        self.notes.set_settings(settings);
    }

    /// Current note settings.
    pub fn note_settings(&self) -> &NoteSettings {
        self.notes.settings()
    }

    /// Input samples between frames.
    pub fn hop_samples(&self) -> usize {
        self.hop * self.decimator.factor.max(1)
    }

    /// Frames per second.
    pub fn frame_rate_hz(&self) -> f32 {
        self.analysis_rate / self.hop as f32
    }

    /// The prepared sample rate.
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Input samples the analysis needs before the first full frame.
    pub fn frame_samples(&self) -> usize {
        self.yin.frame_len() * self.decimator.factor.max(1) + self.decimator.delay()
    }

    /// Ends the sounding note now (for `reset`, transport stops): the returned events are
    /// to be sent at the start of the next block.
    pub fn release_notes(&mut self) -> MidiEvents {
        let mut out = MidiEvents::default();
        self.notes.release(&mut out);
        out
    }

    /// Feeds one host block of planar channels (mixed to mono). For every decided frame,
    /// `on_frame(frame, events, sample_idx)` gets the result, its MIDI events and the index
    /// within this block of the sample that completed it (for sample-accurate MIDI). Never
    /// allocates.
    pub fn process(
        &mut self,
        channels: &[&[f32]],
        mut on_frame: impl FnMut(&PitchFrame, &MidiEvents, usize),
    ) {
        if !self.prepared {
            return;
        }
        if channels.is_empty() {
            return;
        }
        let len = crate::framing::block_len(channels);
        for sample_idx in 0..len {
            let x = crate::framing::mono_sample(channels, sample_idx);
            let Some(y) = self.decimator.push(x as f32) else {
                continue;
            };
            let history = &mut self.history;
            let mut complete = false;
            self.framer.process(&[&[y]], |frame, _| {
                history.copy_from_slice(frame);
                complete = true;
            });
            if complete {
                let end = self.samples_seen + sample_idx as u64 + 1;
                if let Some(frame) = self.analyze(end) {
                    on_frame(&frame, &self.events, sample_idx);
                }
            }
        }
        self.samples_seen += len as u64;
    }

    /// Analyses the frame ending at stream position `end`; returns the decision for the
    /// frame `LAG_FRAMES` hops ago once there is one.
    fn analyze(&mut self, end: u64) -> Option<PitchFrame> {
        let frame_len = self.yin.frame_len();
        let lag_samples = LAG_FRAMES * self.hop;

        let s = self.settings;
        let rate = self.analysis_rate;
        let min_period = (rate / s.max_hz.min(rate / 4.0)).floor() as usize;
        let max_period = (rate / s.min_hz).ceil() as usize;
        let slot = self.pending_idx;
        let mut candidates = Candidates::default();
        self.yin.analyze(
            &self.history[lag_samples..],
            min_period,
            max_period,
            &mut candidates,
        );
        self.pending[slot].candidates = candidates;
        self.pending_idx = (slot + 1) % self.pending.len();

        self.observation.fill(0.0);
        for c in candidates.as_slice() {
            self.observation[hmm::bin_of(c.frequency_hz)] += c.probability;
        }
        let (hmm_voiced, bin) = self
            .hmm
            .push(&self.observation, candidates.voiced_probability);
        self.frames_seen += 1;
        if self.frames_seen <= LAG_FRAMES as u64 {
            return None;
        }
        // The decided frame's candidates.
        let decided_slot = (slot + self.pending.len() - LAG_FRAMES) % self.pending.len();
        let decided = &self.pending[decided_slot].candidates;
        let bin_f = hmm::bin_hz(bin);
        // The deepest trough near the decided bin (not the most probable one: the prior
        // favours shorter periods, e.g. a ripple trough just below the true period).
        let mut best: Option<(f32, f32)> = None;
        for c in decided.as_slice() {
            let distance = hmm::bin_of(c.frequency_hz).abs_diff(bin);
            if distance <= 3 && best.is_none_or(|(_, h)| c.height < h) {
                best = Some((c.period, c.height));
            }
        }
        let frequency = match best {
            Some((period, _)) => {
                let refined = self.yin.refine(&self.history[..frame_len], period);
                rate / refined
            }
            None if hmm_voiced => bin_f,
            None => self.last_frequency,
        };
        // Level relative to the recent peak: decaying release and reverb tails far below
        // the playing level are periodic but not the note any more.
        let hop_s = self.hop as f32 / self.analysis_rate;
        // Capped at 0 dBFS, so garbage input (clamped to +60 dB) cannot gate a normal
        // signal for long.
        self.peak_level_db = decided
            .level_db
            .max(self.peak_level_db - PEAK_DECAY_DB_PER_S * hop_s)
            .min(0.0);
        let loud_enough = decided.level_db > self.peak_level_db - RELATIVE_GATE_DB;
        let voiced = hmm_voiced
            && best.is_some()
            && loud_enough
            && decided.voiced_probability >= s.voicing_threshold
            && decided.voiced_probability > 0.0;
        if voiced || best.is_some() {
            self.last_frequency = frequency;
        }
        self.events.clear();
        let pitch = semitones(frequency, s.reference_hz) as f32;
        self.notes.update(
            voiced,
            pitch,
            decided.voiced_probability,
            decided.level_db,
            &mut self.events,
        );
        let latency = self.latency_samples() as i64;
        Some(PitchFrame {
            end_sample: end,
            time_sample: end as i64 - latency,
            frequency_hz: frequency,
            confidence: decided.voiced_probability,
            voiced,
            level_db: decided.level_db,
            note: self.notes.sounding().map_or(-1, |n| n as i16),
        })
    }
}

/// One decided frame and the MIDI it produced ([`Processor::Frame`] of the tracker).
#[derive(Debug, Clone, Copy)]
pub struct PitchOutput {
    pub frame: PitchFrame,
    pub midi: MidiEvents,
}

impl crate::Frame for PitchOutput {
    fn digest(&self, out: &mut Vec<f32>) {
        let f = &self.frame;
        out.extend([
            f.frequency_hz,
            f.confidence,
            f.voiced as u8 as f32,
            f.level_db,
            f.note as f32,
            f.end_sample as f32,
            self.midi.len() as f32,
        ]);
    }
}

impl Processor for PitchTracker {
    type Frame = PitchOutput;
    fn num_outputs(_num_channels: usize) -> usize {
        0
    }
    fn process(
        &mut self,
        inputs: &[&[f32]],
        _outputs: &mut [&mut [f32]],
        sink: &mut dyn FnMut(usize, &PitchOutput),
    ) {
        PitchTracker::process(self, inputs, |frame, midi, i| {
            sink(
                i,
                &PitchOutput {
                    frame: *frame,
                    midi: *midi,
                },
            )
        });
    }

    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _num_channels: usize) {
        let sample_rate = crate::sanitize_sample_rate(sample_rate);
        self.sample_rate = sample_rate;
        let factor = decimation_for(sample_rate);
        let rate = sample_rate / factor as f32;
        self.analysis_rate = rate;
        self.decimator
            .prepare(sample_rate, factor, LOWPASS_HZ.min(0.3 * rate));
        self.hop = ((HOP_44K as f32 * rate / 44_100.0).round() as usize).max(4);
        let window = (WINDOW_S * rate).round() as usize;
        let max_period = (rate / MIN_RANGE_HZ).ceil() as usize;
        self.yin.prepare(rate, window, max_period);
        self.hmm.prepare(self.frame_rate_hz(), LAG_FRAMES);
        self.notes.prepare(self.hop as f32 / rate);
        let window = self.yin.frame_len() + LAG_FRAMES * self.hop;
        self.framer.prepare(window, self.hop);
        self.history = vec![0.0; window];
        self.observation = vec![0.0; self.hmm.num_bins()];
        self.pending = vec![Pending::default(); LAG_FRAMES + 1];
        self.prepared = true;
        self.reset();
    }

    fn reset(&mut self) {
        self.framer.reset();
        self.history.fill(0.0);
        self.hmm.reset();
        self.notes.reset();
        self.decimator.reset();
        for p in &mut self.pending {
            *p = Pending::default();
        }
        self.pending_idx = 0;
        self.frames_seen = 0;
        self.samples_seen = 0;
        self.last_frequency = 0.0;
        self.peak_level_db = -120.0;
        self.events.clear();
    }

    /// The algorithmic latency of the pitch estimate (see the module docs): half the
    /// integration window plus the decoding lag. Audio itself is not delayed.
    fn latency_samples(&self) -> usize {
        let factor = self.decimator.factor.max(1);
        self.decimator.delay() + (self.yin.window() / 2 + LAG_FRAMES * self.hop) * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuner_names_notes_and_cents() {
        let (note, cents) = tuner(440.0, 440.0).unwrap();
        assert_eq!((note, cents.round() as i32), (69, 0));
        let (note, cents) = tuner(415.0, 415.0).unwrap();
        assert_eq!(note, 69);
        assert!(cents.abs() < 1e-3);
        let (note, cents) = tuner(261.6256 * 2f32.powf(0.1 / 12.0), 440.0).unwrap();
        assert_eq!(note, 60);
        assert!((cents - 10.0).abs() < 0.01, "{cents}");
        assert_eq!(note_name(69), ("A", 4));
        assert_eq!(note_name(60), ("C", 4));
        assert!(tuner(0.0, 440.0).is_none());
        assert!(tuner(f32::NAN, 440.0).is_none());
    }

    #[test]
    fn settings_are_sanitized() {
        let s = PitchSettings {
            min_hz: f32::NAN,
            max_hz: 10.0,
            reference_hz: 1000.0,
            voicing_threshold: 7.0,
        }
        .sanitized();
        assert_eq!(s.min_hz, 40.0);
        assert_eq!(s.max_hz, 80.0);
        assert_eq!(s.reference_hz, 466.0);
        assert_eq!(s.voicing_threshold, 1.0);
    }
}
