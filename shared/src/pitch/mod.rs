//! Prism Pitch: real-time monophonic f0 tracking, tuner and audio-to-MIDI.
//!
//! The chain, per hop of ≈ 2.9 ms (128 samples at 44.1 kHz, scaled with the rate):
//!
//! 1. the input is mixed to mono, sanitised and low-passed (2nd-order Butterworth at
//!    6 kHz, or 0.42·fs): the harmonics that fix the period are kept and broadband noise
//!    above them is removed (the difference function ignores DC, so no high-pass);
//! 2. [`yin::Yin`] computes YIN's difference function over the newest
//!    [`WINDOW_S`] (20 ms) against every lag up to the lowest pitch's period, and pYIN's
//!    probabilistic candidates (sub-sample periods by parabolic interpolation);
//! 3. [`hmm::PitchHmm`] decodes pYIN's voiced/unvoiced pitch HMM online with a fixed lag
//!    of [`LAG_FRAMES`] frames (octave errors and single-frame outliers are rejected by
//!    continuity; note changes are followed through a jump transition);
//! 4. the decided frame's frequency is the candidate in the decided bin (sub-cent), its
//!    confidence the frame's voicing probability;
//! 5. [`notes::NoteSegmenter`] turns the track into MIDI notes and pitch bend.
//!
//! **Algorithmic latency** (a constant, [`PitchTracker::latency_samples`]): half the
//! integration window plus the decoding lag, `W/2 + LAG_FRAMES·hop` = 10 ms + 5.8 ms =
//! 15.8 ms at every sample rate. The analysis of a period τ additionally spans τ/2 more
//! (1.1 ms at A4, 12.5 ms at 40 Hz). The plugin does not delay audio.

pub mod hmm;
pub mod notes;
pub mod yin;

use crate::sanitize;
use crate::Processor;
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
/// Low-pass corner before the analysis, Hz (capped at 0.42·fs).
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
            min_hz: 40.0,
            max_hz: 2000.0,
            reference_hz: 440.0,
            voicing_threshold: 0.1,
        }
    }
}

impl PitchSettings {
    fn sanitized(self) -> Self {
        let finite_or = |x: f32, d: f32| if x.is_finite() { x } else { d };
        let min_hz = finite_or(self.min_hz, 40.0).clamp(MIN_RANGE_HZ, MAX_RANGE_HZ / 2.0);
        let max_hz = finite_or(self.max_hz, 2000.0).clamp(min_hz * 2.0, MAX_RANGE_HZ);
        Self {
            min_hz,
            max_hz,
            reference_hz: finite_or(self.reference_hz, 440.0).clamp(415.0, 466.0),
            voicing_threshold: finite_or(self.voicing_threshold, 0.1).clamp(0.0, 1.0),
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

/// A second-order IIR section (transposed direct form II), f64 state.
#[derive(Debug, Clone, Copy, Default)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    fn lowpass(sample_rate: f32, corner_hz: f32) -> Self {
        // RBJ cookbook, Q = 1/√2 (Butterworth).
        let w0 = 2.0 * std::f64::consts::PI * corner_hz as f64 / sample_rate as f64;
        let alpha = w0.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let cos = w0.cos();
        let a0 = 1.0 + alpha;
        Self {
            b: [
                (1.0 - cos) / 2.0 / a0,
                (1.0 - cos) / a0,
                (1.0 - cos) / 2.0 / a0,
            ],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
            z: [0.0; 2],
        }
    }

    #[inline]
    fn tick(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        for z in &mut self.z {
            if z.abs() < 1e-30 {
                *z = 0.0;
            }
        }
        y
    }

    fn reset(&mut self) {
        self.z = [0.0; 2];
    }
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
    hop: usize,
    yin: Yin,
    hmm: PitchHmm,
    notes: NoteSegmenter,
    lowpass: Biquad,
    /// Circular history of filtered mono samples: one frame plus `LAG_FRAMES` hops, so the
    /// decided frame's samples are still there for the sub-sample refinement.
    ring: Vec<f32>,
    write_idx: usize,
    since_hop: usize,
    /// The ring unrolled, oldest first.
    history: Vec<f32>,
    /// Per-bin voiced observation of the current frame.
    observation: Vec<f32>,
    /// Candidates of the last `LAG_FRAMES + 1` frames (ring).
    pending: Vec<Pending>,
    pending_idx: usize,
    frames_seen: u64,
    samples_seen: u64,
    last_frequency: f32,
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
            hop: HOP_44K,
            yin: Yin::default(),
            hmm: PitchHmm::default(),
            notes: NoteSegmenter::default(),
            lowpass: Biquad::default(),
            ring: Vec::new(),
            write_idx: 0,
            since_hop: 0,
            history: Vec::new(),
            observation: Vec::new(),
            pending: Vec::new(),
            pending_idx: 0,
            frames_seen: 0,
            samples_seen: 0,
            last_frequency: 0.0,
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

    /// Samples between frames.
    pub fn hop_samples(&self) -> usize {
        self.hop
    }

    /// Frames per second.
    pub fn frame_rate_hz(&self) -> f32 {
        self.sample_rate / self.hop as f32
    }

    /// The prepared sample rate.
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Samples the analysis needs before the first full frame.
    pub fn frame_samples(&self) -> usize {
        self.yin.frame_len()
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
        let Some(first) = channels.first() else {
            return;
        };
        let len = channels
            .iter()
            .map(|c| c.len())
            .min()
            .unwrap_or(first.len());
        let gain = 1.0 / channels.len() as f64;
        let window = self.ring.len();
        for sample_idx in 0..len {
            let mut x = 0.0f64;
            for channel in channels {
                x += sanitize::input_sample(channel[sample_idx]) as f64;
            }
            let y = self.lowpass.tick(x * gain);
            self.ring[self.write_idx] = y as f32;
            self.write_idx += 1;
            if self.write_idx == window {
                self.write_idx = 0;
            }
            self.since_hop += 1;
            if self.since_hop == self.hop {
                self.since_hop = 0;
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
        let (newer, older) = self.ring.split_at(self.write_idx);
        self.history[..older.len()].copy_from_slice(older);
        self.history[older.len()..].copy_from_slice(newer);
        let frame_len = self.yin.frame_len();
        let lag_samples = LAG_FRAMES * self.hop;

        let s = self.settings;
        let min_period = (self.sample_rate / s.max_hz.min(self.sample_rate / 4.0)).floor() as usize;
        let max_period = (self.sample_rate / s.min_hz).ceil() as usize;
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
                self.sample_rate / refined
            }
            None if hmm_voiced => bin_f,
            None => self.last_frequency,
        };
        let voiced = hmm_voiced
            && best.is_some()
            && decided.voiced_probability >= s.voicing_threshold
            && decided.voiced_probability > 0.0;
        if voiced || best.is_some() {
            self.last_frequency = frequency;
        }
        self.events.clear();
        let pitch = semitones(frequency, s.reference_hz) as f32;
        self.notes
            .update(voiced, pitch, decided.level_db, &mut self.events);
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

impl Processor for PitchTracker {
    fn prepare(&mut self, sample_rate: f32, _max_block: usize, _num_channels: usize) {
        let sample_rate = crate::sanitize_sample_rate(sample_rate);
        self.sample_rate = sample_rate;
        self.hop = ((HOP_44K as f32 * sample_rate / 44_100.0).round() as usize).max(8);
        let window = (WINDOW_S * sample_rate).round() as usize;
        let max_period = (sample_rate / MIN_RANGE_HZ).ceil() as usize;
        self.yin.prepare(sample_rate, window, max_period);
        self.hmm.prepare(self.frame_rate_hz(), LAG_FRAMES);
        self.notes.prepare(self.hop as f32 / sample_rate);
        self.ring = vec![0.0; self.yin.frame_len() + LAG_FRAMES * self.hop];
        self.history = vec![0.0; self.ring.len()];
        self.observation = vec![0.0; self.hmm.num_bins()];
        self.pending = vec![Pending::default(); LAG_FRAMES + 1];
        self.lowpass = Biquad::lowpass(sample_rate, LOWPASS_HZ.min(0.42 * sample_rate));
        self.prepared = true;
        self.reset();
    }

    fn reset(&mut self) {
        self.ring.fill(0.0);
        self.history.fill(0.0);
        self.write_idx = 0;
        self.since_hop = 0;
        self.hmm.reset();
        self.notes.reset();
        self.lowpass.reset();
        for p in &mut self.pending {
            *p = Pending::default();
        }
        self.pending_idx = 0;
        self.frames_seen = 0;
        self.samples_seen = 0;
        self.last_frequency = 0.0;
        self.events.clear();
    }

    /// The algorithmic latency of the pitch estimate (see the module docs): half the
    /// integration window plus the decoding lag. Audio itself is not delayed.
    fn latency_samples(&self) -> usize {
        self.yin.window() / 2 + LAG_FRAMES * self.hop
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
