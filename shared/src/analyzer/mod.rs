//! The Prism Chroma analysis chain: framing → two-resolution STFT → (optional) HPSS drum
//! suppression → evidence (tuned semitone filterbank → log-compressed chroma → smoothing, or
//! NNLS transcription → bass and treble chroma) → chords (template fits, or the learned layer
//! on the inference worker with the fits as its prior, [`learned`]; HMM, optional fixed-lag
//! look-ahead) and key. One code path for the plugin, the CLI and the tests.

use crate::chord::{ChordRecognizer, ChordVocabulary, NUM_CHORDS};
use crate::chroma::{fold_chroma, PitchFilterbank, TuningEstimator, NUM_PITCHES};
use crate::deadline::Deadline;
use crate::framing::Framer;
use crate::hpss::MedianHpss;
use crate::key::KeyEstimator;
use crate::nnls::{NoteEvidence, NoteTranscriber, Spectrum};
use crate::params::Choices;
use crate::stft::{fft_len_for, SpectrumAnalyzer};
use crate::Processor;

/// User-facing analysis settings. Changing them never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChromaSettings {
    /// Reference pitch of A4 in Hz (415..=466).
    pub reference_hz: f32,
    /// Apply the running tuning estimate on top of the reference.
    pub auto_tuning: bool,
    /// Time constant of exponential chroma smoothing in ms (0 = off).
    pub smoothing_ms: f32,
    /// Log compression factor γ in `ln(1 + γ·E/E_max)`, `E_max` the frame's strongest pitch
    /// (level-independent; 30 keeps about 15 dB of detail).
    pub compression: f32,
    /// Chord vocabulary.
    pub vocabulary: ChordVocabulary,
    /// Median-filter HPSS before the filterbank, so drums do not smear the chroma.
    pub drum_suppression: bool,
    /// Look-ahead of the chord decision in ms (0 = decide each frame as it arrives).
    pub lookahead_ms: f32,
    /// What the chord recogniser listens to.
    pub evidence: Evidence,
}

/// The chord recogniser's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Evidence {
    /// The filterbank chroma against harmonic chord templates.
    #[default]
    Filterbank,
    /// NNLS note transcription ([`crate::nnls`]): bass and treble chroma against bass/treble
    /// chord templates.
    Nnls,
    /// NNLS evidence into the learned chord layer ([`crate::chordnet`], on the inference
    /// worker), with the bass/treble template fits as its prior and its fallback. The
    /// decision comes one hop later ([`learned`]).
    Learned,
}

impl Choices for Evidence {
    const SPEC: &'static crate::params::ChoiceSpec = &schema::EVIDENCE;
    fn index(self) -> usize {
        self as usize
    }
    fn from_index(index: usize) -> Self {
        match index {
            1 => Evidence::Nnls,
            2 => Evidence::Learned,
            _ => Evidence::Filterbank,
        }
    }
}

impl Default for ChromaSettings {
    fn default() -> Self {
        Self {
            reference_hz: schema::REFERENCE_HZ.default,
            auto_tuning: schema::AUTO_TUNING.default,
            smoothing_ms: schema::SMOOTHING_MS.default,
            compression: schema::COMPRESSION.default,
            vocabulary: ChordVocabulary::default_choice(),
            drum_suppression: schema::DRUM_SUPPRESSION.default,
            lookahead_ms: schema::LOOKAHEAD_MS.default,
            evidence: Evidence::default_choice(),
        }
    }
}

impl ChromaSettings {
    /// The settings with every value inside its schema range.
    pub fn sanitized(self) -> Self {
        Self {
            reference_hz: schema::REFERENCE_HZ.clamp(self.reference_hz),
            smoothing_ms: schema::SMOOTHING_MS.clamp(self.smoothing_ms),
            compression: schema::COMPRESSION.clamp(self.compression),
            lookahead_ms: schema::LOOKAHEAD_MS.clamp(self.lookahead_ms),
            ..self
        }
    }
}

pub mod learned;
pub mod schema;

pub use learned::ChordSource;

/// Everything one analysis frame produces. `Copy` and fixed-size, so it can travel through a
/// lock-free ring to the editor.
#[derive(Debug, Clone, Copy)]
pub struct ChromaFrame {
    /// Stream position just after the frame's last sample (samples since prepare/reset).
    pub end_sample: u64,
    /// Unit-norm chroma, C first (all zero when silent).
    pub chroma: [f32; 12],
    /// Level of the frame's pitch energy in dBFS-like units (full-scale sine ≈ −6 dB).
    pub level_db: f32,
    /// Tuning applied relative to the reference, in cents.
    pub tuning_cents: f32,
    /// Estimated tuning relative to the reference (even when auto tuning is off), cents.
    pub estimated_tuning_cents: f32,
    /// Decided chord index (see [`crate::chord`]), for the frame ending at
    /// `chord_end_sample` (earlier than `end_sample` by the look-ahead).
    pub chord: u16,
    /// Stream position just after the last sample of the frame the chord decision is for.
    pub chord_end_sample: u64,
    /// Pitch class of the bass (NNLS evidence; `NO_BASS` otherwise or when unclear).
    pub bass: u8,
    /// Posterior probability of the decided chord.
    pub chord_confidence: f32,
    /// What decided the chord ([`ChordSource`] as `u8`): the templates, the learned layer,
    /// or the templates because the model's logits were late.
    pub chord_source: u8,
    /// True if the chord differs from the previous frame's.
    pub chord_changed: bool,
    /// Decided key index (see [`crate::key`]).
    pub key: u8,
    /// Key confidence 0..1.
    pub key_confidence: f32,
    /// Template fit (cosine) of every chord for this frame.
    pub chord_fit: [f32; NUM_CHORDS],
}

impl Default for ChromaFrame {
    fn default() -> Self {
        Self {
            end_sample: 0,
            chroma: [0.0; 12],
            level_db: -120.0,
            tuning_cents: 0.0,
            estimated_tuning_cents: 0.0,
            chord: 0,
            chord_end_sample: 0,
            bass: NO_BASS,
            chord_confidence: 1.0,
            chord_source: ChordSource::Templates as u8,
            chord_changed: false,
            key: 0,
            key_confidence: 0.0,
            chord_fit: [0.0; NUM_CHORDS],
        }
    }
}

/// [`ChromaFrame::bass`] when there is no bass note to show.
pub const NO_BASS: u8 = 12;

/// Analysis window ≈ 186 ms (8192 samples at 44.1 kHz); the short window is half of it.
const LONG_WINDOW_S: f32 = 0.186;
/// Frames per long window (hop = window / 8: 1024 samples, 23 ms at 44.1 kHz).
const HOPS_PER_WINDOW: usize = 8;
/// Highest frequency the chroma needs (a bit above C8) in Hz; bins above are not filtered.
const MAX_ANALYSIS_HZ: f32 = 4500.0;
/// Pitch energy below this total is silence (≈ −90 dB).
const SILENCE_FLOOR: f32 = 1e-9;
/// HPSS time-median length (frames, causal) and frequency-median length (bins).
const CHROMA_HPSS_LEN_H: usize = 5;
const CHROMA_HPSS_LEN_P: usize = 9;

/// The streaming chroma / chord / key analyser.
#[derive(Default)]
pub struct ChromaAnalyzer {
    framer: Framer,
    state: AnalyzerState,
}

struct AnalyzerState {
    sample_rate: f32,
    settings: ChromaSettings,
    long: SpectrumAnalyzer,
    short: SpectrumAnalyzer,
    power_long: Vec<f32>,
    power_short: Vec<f32>,
    magnitude: Vec<f32>,
    hpss_long: MedianHpss,
    hpss_short: MedianHpss,
    /// Bins actually analysed (up to MAX_ANALYSIS_HZ) per resolution.
    bins_long: usize,
    bins_short: usize,
    filterbank: PitchFilterbank,
    tuning: TuningEstimator,
    chords: ChordRecognizer,
    notes: Option<Box<NoteTranscriber>>,
    key: KeyEstimator,
    pitch_energy: [f32; NUM_PITCHES],
    /// The previous frame's log pitch energies (onset novelty).
    onset_prev: [f32; NUM_PITCHES],
    /// How open the newest frame is to a chord change (1: a note onset).
    openness: f32,
    smoothed: [f32; 12],
    hop_s: f32,
    hop: usize,
    samples_seen: u64,
    frame: ChromaFrame,
    /// The NNLS front end's output for the newest frame (default with filterbank evidence).
    evidence: NoteEvidence,
    /// The learned chord layer's worker and the frame waiting for its logits.
    learned: learned::Learned,
    prepared: bool,
}

impl ChromaAnalyzer {
    /// Creates an analyser with the given settings (cheap; call `prepare` before use).
    pub fn new(settings: ChromaSettings) -> Self {
        let mut analyzer = Self::default();
        analyzer.state.settings = settings;
        analyzer
    }

    /// Updates the settings. Real-time safe. A vocabulary change restarts the chord HMM.
    /// Values outside the schema's ranges are clamped ([`schema`]).
    pub fn set_settings(&mut self, settings: ChromaSettings) {
        let settings = settings.sanitized();
        let s = &mut self.state;
        s.chords.set_vocabulary(settings.vocabulary);
        s.chords
            .set_lookahead(lookahead_frames(settings.lookahead_ms, s.hop_s));
        s.settings = settings;
    }

    /// The chord decision's look-ahead in frames (as set; fewer at the stream's start).
    pub fn lookahead_frames(&self) -> usize {
        self.state.chords.lookahead()
    }

    /// Replaces the chord HMM's parameters (for evaluation and tuning; real-time safe).
    pub fn set_chord_model(&mut self, params: crate::chord::ChordModelParams) {
        self.state.chords.set_params(params);
    }

    /// Current settings.
    pub fn settings(&self) -> &ChromaSettings {
        &self.state.settings
    }

    /// Samples between frames.
    pub fn hop_samples(&self) -> usize {
        self.framer.hop()
    }

    /// Length of the long analysis window in samples.
    pub fn window_samples(&self) -> usize {
        self.framer.window()
    }

    /// Frames per second at the prepared sample rate.
    pub fn frame_rate_hz(&self) -> f32 {
        if self.framer.hop() == 0 {
            0.0
        } else {
            self.state.sample_rate / self.framer.hop() as f32
        }
    }

    /// The prepared sample rate.
    pub fn sample_rate(&self) -> f32 {
        self.state.sample_rate
    }

    /// The chord recogniser (templates for the editor's "why this chord" view).
    pub fn chords(&self) -> &ChordRecognizer {
        &self.state.chords
    }

    /// What to do when the learned layer's logits are late (default: real time, never
    /// wait; the CLI waits). Takes effect at the next `prepare`.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.state.learned.set_deadline(deadline);
    }

    /// Auto ↔ Wait while running, for a host that says per call whether it renders offline.
    /// Real-time safe. An analyser prepared for real time stays real time.
    pub fn switch_deadline(&mut self, deadline: Deadline) {
        self.state.learned.switch_deadline(deadline);
    }

    /// The deadline policy in force.
    pub fn deadline(&self) -> Deadline {
        self.state.learned.deadline()
    }

    /// Runs these chord-network weights instead of the shipped model (`name` for the status
    /// line). Takes effect at the next `prepare`.
    pub fn set_chord_weights(&mut self, weights: crate::chordnet::ChordNetWeights, name: &str) {
        self.state.learned.set_weights(weights, name);
    }

    /// The learned chord layer's worker: its status, misses and timing (for the editor).
    pub fn learned_telemetry(&self) -> std::sync::Arc<crate::infer::Telemetry> {
        self.state.learned.telemetry().clone()
    }

    /// Feeds one host block of planar channels. For every finished frame, `on_frame(frame,
    /// sample_idx)` receives the result and the index within this block of the frame's last
    /// sample (for sample-accurate MIDI). Never allocates.
    pub fn process(&mut self, channels: &[&[f32]], mut on_frame: impl FnMut(&ChromaFrame, usize)) {
        self.process_with_evidence(channels, |frame, _, i| on_frame(frame, i));
    }

    /// [`process`](Self::process), also handing over each frame's NNLS evidence (default
    /// values with filterbank evidence). Never allocates.
    pub fn process_with_evidence(
        &mut self,
        channels: &[&[f32]],
        mut on_frame: impl FnMut(&ChromaFrame, &NoteEvidence, usize),
    ) {
        let state = &mut self.state;
        if !state.prepared {
            return;
        }
        let block_len = channels.iter().map(|c| c.len()).min().unwrap_or(0) as u64;
        state
            .learned
            .on_block(block_len as f64 / state.sample_rate as f64);
        let start = state.samples_seen;
        self.framer.process(channels, |frame, sample_idx| {
            state.analyze(frame, start + sample_idx as u64 + 1);
            on_frame(&state.frame, &state.evidence, sample_idx);
        });
        state.samples_seen = start + block_len;
    }
}

impl crate::Frame for ChromaFrame {
    fn digest(&self, out: &mut Vec<f32>) {
        out.extend_from_slice(&self.chroma);
        out.extend([
            self.chord as f32,
            self.key as f32,
            self.tuning_cents,
            self.end_sample as f32,
        ]);
    }
}

impl Processor for ChromaAnalyzer {
    type Frame = ChromaFrame;
    fn num_outputs(_num_channels: usize) -> usize {
        0
    }
    fn process(
        &mut self,
        inputs: &[&[f32]],
        _outputs: &mut [&mut [f32]],
        sink: &mut dyn FnMut(usize, &ChromaFrame),
    ) {
        ChromaAnalyzer::process(self, inputs, |frame, i| sink(i, frame));
    }

    fn prepare(&mut self, sample_rate: f32, max_block: usize, _num_channels: usize) {
        let sample_rate = crate::sanitize_sample_rate(sample_rate);
        let n_long = fft_len_for(sample_rate, LONG_WINDOW_S);
        let n_short = n_long / 2;
        let hop = n_long / HOPS_PER_WINDOW;
        self.framer.prepare(n_long, hop);
        let s = &mut self.state;
        s.sample_rate = sample_rate;
        s.long.prepare(n_long);
        s.short.prepare(n_short);
        s.power_long = vec![0.0; n_long / 2 + 1];
        s.power_short = vec![0.0; n_short / 2 + 1];
        s.magnitude = vec![0.0; n_long / 2 + 1];
        s.filterbank = PitchFilterbank::new(sample_rate, n_long, n_short);
        // The long FFT only serves pitches below the split (plus the frequency median's reach).
        let split_hz = 440.0 * 2f32.powf((s.filterbank.split_pitch() + 1.0 - 69.0) / 12.0);
        s.bins_long = ((split_hz * n_long as f32 / sample_rate) as usize + CHROMA_HPSS_LEN_P + 2)
            .min(n_long / 2 + 1);
        s.bins_short =
            ((MAX_ANALYSIS_HZ * n_short as f32 / sample_rate) as usize + 2).min(n_short / 2 + 1);
        s.hpss_long
            .prepare(s.bins_long, CHROMA_HPSS_LEN_H, CHROMA_HPSS_LEN_P, 0);
        s.hpss_short
            .prepare(s.bins_short, CHROMA_HPSS_LEN_H, CHROMA_HPSS_LEN_P, 0);
        s.hop_s = hop as f32 / sample_rate;
        s.hop = hop;
        s.tuning.prepare(s.hop_s);
        s.key.prepare(s.hop_s);
        s.chords
            .prepare_lookahead(lookahead_frames(schema::LOOKAHEAD_MS.max, s.hop_s));
        // Allocated (and the chord model's worker started) whatever the evidence, so
        // switching it is real-time safe.
        if s.notes.is_none() {
            s.notes = Some(Box::default());
        }
        s.learned.prepare(sample_rate, max_block, hop);
        let settings = s.settings;
        s.prepared = true;
        self.set_settings(settings);
        self.set_settings(settings);
        self.reset();
    }

    fn reset(&mut self) {
        self.framer.reset();
        let s = &mut self.state;
        s.hpss_long.reset();
        s.hpss_short.reset();
        s.tuning.reset();
        s.chords.reset();
        s.key.reset();
        s.smoothed = [0.0; 12];
        s.onset_prev = [0.0; NUM_PITCHES];
        s.openness = 1.0;
        s.samples_seen = 0;
        s.frame = ChromaFrame::default();
        s.evidence = NoteEvidence::default();
        s.learned.reset();
    }

    /// The analyser does not delay audio; see [`ChromaAnalyzer::window_samples`] for the
    /// analysis window.
    fn latency_samples(&self) -> usize {
        0
    }
}

impl Default for AnalyzerState {
    fn default() -> Self {
        Self {
            sample_rate: 44_100.0,
            settings: ChromaSettings::default(),
            long: SpectrumAnalyzer::default(),
            short: SpectrumAnalyzer::default(),
            power_long: Vec::new(),
            power_short: Vec::new(),
            magnitude: Vec::new(),
            hpss_long: MedianHpss::default(),
            hpss_short: MedianHpss::default(),
            bins_long: 0,
            bins_short: 0,
            filterbank: PitchFilterbank::default(),
            tuning: TuningEstimator::default(),
            chords: ChordRecognizer::default(),
            notes: None,
            key: KeyEstimator::default(),
            pitch_energy: [0.0; NUM_PITCHES],
            onset_prev: [0.0; NUM_PITCHES],
            openness: 1.0,
            smoothed: [0.0; 12],
            hop_s: 0.0,
            hop: 0,
            samples_seen: 0,
            frame: ChromaFrame::default(),
            evidence: NoteEvidence::default(),
            learned: learned::Learned::default(),
            prepared: false,
        }
    }
}

impl AnalyzerState {
    fn analyze(&mut self, frame: &[f32], end_sample: u64) {
        let n_short = self.short.len();
        self.long.power(frame, &mut self.power_long);
        self.short
            .power(&frame[frame.len() - n_short..], &mut self.power_short);

        // Tuning is estimated before drum suppression: peaks survive it anyway, and the
        // estimate is shown even when auto tuning is off.
        self.tuning.update(
            &self.power_long,
            self.filterbank.long_bins(),
            self.settings.reference_hz,
        );

        if self.settings.drum_suppression {
            suppress_drums(
                &mut self.hpss_long,
                &mut self.power_long,
                &mut self.magnitude,
                self.bins_long,
            );
            suppress_drums(
                &mut self.hpss_short,
                &mut self.power_short,
                &mut self.magnitude,
                self.bins_short,
            );
        }

        let estimated = self.tuning.cents();
        let applied = if self.settings.auto_tuning {
            estimated
        } else {
            0.0
        };
        let shift = 12.0 * (self.settings.reference_hz / 440.0).log2() + applied / 100.0;
        let (long, short) = (
            &self.power_long[..self.bins_long],
            &self.power_short[..self.bins_short],
        );
        self.filterbank
            .apply(long, short, shift, &mut self.pitch_energy);

        let mut chroma = [0.0f32; 12];
        let energy = fold_chroma(
            &self.pitch_energy,
            self.settings.compression,
            SILENCE_FLOOR,
            &mut chroma,
        );
        let silent = energy.partial_cmp(&SILENCE_FLOOR) != Some(std::cmp::Ordering::Greater);
        self.openness = openness(
            self.chords.params(),
            &self.pitch_energy,
            &mut self.onset_prev,
            self.openness,
            self.hop_s,
            silent,
        );
        if self.settings.smoothing_ms > 0.0 {
            let alpha = (-self.hop_s * 1000.0 / self.settings.smoothing_ms).exp();
            for (s, &c) in self.smoothed.iter_mut().zip(&chroma) {
                *s = crate::sanitize::flush(alpha * *s + (1.0 - alpha) * c);
            }
            chroma = self.smoothed;
            crate::chroma::normalize(&mut chroma);
        } else {
            self.smoothed = chroma;
        }

        let mut bass_note = NO_BASS;
        let evidence = self.settings.evidence;
        let nnls = matches!(evidence, Evidence::Nnls | Evidence::Learned);
        // Frames the decision is behind the newest besides the look-ahead (the learned
        // layer's hop), and what decided it.
        let (mut extra_behind, mut source) = (0, ChordSource::Templates);
        let chord = if let (true, Some(notes)) = (nnls, self.notes.as_deref_mut()) {
            let bins = (
                self.filterbank.long_bins().bin_hz,
                self.filterbank.short_bin_hz(),
            );
            notes.transcribe(
                Spectrum {
                    power: long,
                    bin_hz: bins.0,
                },
                Spectrum {
                    power: short,
                    bin_hz: bins.1,
                },
                self.filterbank.split_pitch(),
                shift,
            );
            let (mut bass, mut treble) = ([0.0f32; 12], [0.0f32; 12]);
            notes.bass_treble_chroma(&mut bass, &mut treble);
            let e = &mut self.evidence;
            (e.bass, e.treble, e.silent) = (bass, treble, silent);
            e.activations.copy_from_slice(notes.activations());
            e.level_db = 10.0 * energy.max(1e-12).log10();
            let strongest = (0..12).fold(0, |b, i| if bass[i] > bass[b] { i } else { b });
            let bass_total: f32 = bass.iter().sum();
            if !silent && bass[strongest] > 0.4 * bass_total {
                bass_note = strongest as u8;
            }
            crate::chroma::normalize(&mut treble);
            chroma = treble;
            if evidence == Evidence::Learned {
                let mut fits = [0.0f32; NUM_CHORDS];
                self.chords
                    .bass_treble_fits(&bass, &treble, silent, &mut fits);
                let input = crate::chordnet::frame_features(&self.evidence);
                let openness = self.openness;
                if let Some(s) = self.learned.step(&mut self.chords, &input, &fits, openness) {
                    source = s;
                } else {
                    source = ChordSource::from_u8(self.frame.chord_source);
                }
                // The decided frame is as many frames back as are still pending (one: the
                // newest, unless a host block held several).
                extra_behind = self.learned.pending_frames();
                self.chords.current()
            } else {
                self.learned.skip();
                self.chords.set_openness(self.openness);
                self.chords.update_bass_treble(&bass, &treble, silent)
            }
        } else {
            self.learned.skip();
            self.evidence = NoteEvidence::default();
            self.chords.set_openness(self.openness);
            self.chords.update(&chroma, silent)
        };
        let previous = self.frame.chord;
        // The key follows the harmony: the chord tones of the decided chord (weighted by its
        // posterior) rather than the raw chroma, whose upper harmonics pull the profile
        // correlation towards the dominant.
        let key = match crate::chord::chord_parts(chord) {
            Some((root, quality)) => {
                let mut tones = [0.0f32; 12];
                let weight = self.chords.posterior()[chord];
                if weight >= KEY_PRIME_CONFIDENCE {
                    // Fast start: the first confident chord is taken for the tonic.
                    let minor = matches!(
                        crate::chord::QUALITIES[quality].0,
                        "min" | "min7" | "dim" | "dim7" | "hdim7"
                    );
                    self.key.prime(root, minor);
                }
                for &interval in crate::chord::QUALITIES[quality].1 {
                    tones[(root + interval) % 12] = weight;
                }
                tones[root] *= 1.5;
                self.key.update(&tones)
            }
            None => self.key.current(),
        };

        let f = &mut self.frame;
        f.end_sample = end_sample;
        f.chroma = chroma;
        f.level_db = 10.0 * energy.max(1e-12).log10();
        f.tuning_cents = applied;
        f.estimated_tuning_cents = estimated;
        f.chord = chord as u16;
        let behind = ((self.chords.frames_behind() + extra_behind) * self.hop) as u64;
        f.chord_end_sample = end_sample.saturating_sub(behind);
        f.bass = bass_note;
        f.chord_confidence = self.chords.posterior()[chord];
        f.chord_source = source as u8;
        f.chord_changed = chord as u16 != previous;
        f.key = key as u8;
        f.key_confidence = self.key.confidence();
        f.chord_fit = *self.chords.fit();
    }
}

/// How open a frame is to a chord change: the onset novelty of its pitch energies (the
/// relative positive flux of their log, each frame relative to its strongest pitch, so a
/// decaying chord is not new but a chord change or a re-attack is), kept open for a while
/// after an onset (`previous` decays). `onset_prev` holds the last frame's log energies.
fn openness(
    params: &crate::chord::ChordModelParams,
    pitch_energy: &[f32; NUM_PITCHES],
    onset_prev: &mut [f32; NUM_PITCHES],
    previous: f32,
    hop_s: f32,
    silent: bool,
) -> f32 {
    let peak = pitch_energy.iter().fold(0.0f32, |m, &e| m.max(e));
    let mut flux = 0.0;
    let mut total = 0.0;
    for (prev, &e) in onset_prev.iter_mut().zip(pitch_energy) {
        let x = if silent || peak.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            0.0
        } else {
            (ONSET_COMPRESSION * e / peak).ln_1p()
        };
        flux += (x - *prev).max(0.0);
        total += x;
        *prev = x;
    }
    let novelty = if total > 1e-6 { flux / total } else { 0.0 };
    let decay = if params.onset_decay_ms > 0.0 {
        (-hop_s * 1000.0 / params.onset_decay_ms).exp()
    } else {
        0.0
    };
    let now = (novelty / params.onset_full.max(1e-6)).clamp(0.0, 1.0);
    if silent {
        1.0
    } else {
        crate::sanitize::flush(now.max(previous * decay))
    }
}

/// Posterior a chord needs to prime the key as the stream's first chord.
const KEY_PRIME_CONFIDENCE: f32 = 0.6;

/// Log compression of the pitch energies for the onset novelty (relative to the frame's
/// strongest pitch: keeps 20 dB).
const ONSET_COMPRESSION: f32 = 100.0;

/// Applies the HPSS harmonic mask (squared, on power) to the first `bins` bins.
fn suppress_drums(hpss: &mut MedianHpss, power: &mut [f32], magnitude: &mut [f32], bins: usize) {
    for (m, p) in magnitude[..bins].iter_mut().zip(power.iter()) {
        *m = p.sqrt();
    }
    let mask = hpss.push(&magnitude[..bins]);
    for (p, m) in power[..bins].iter_mut().zip(mask) {
        *p *= m * m;
    }
}

/// A look-ahead in ms as whole frames of `hop_s` seconds.
fn lookahead_frames(ms: f32, hop_s: f32) -> usize {
    if hop_s > 0.0 && ms > 0.0 {
        (ms / 1000.0 / hop_s).round() as usize
    } else {
        0
    }
}
