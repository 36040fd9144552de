//! Chord vocabulary, harmonic templates and online HMM smoothing (forward filtering).

use crate::chroma::PITCH_CLASS_NAMES;

/// Chord qualities in index order, with their intervals in semitones and mir_eval names.
pub const QUALITIES: [(&str, &[usize]); NUM_QUALITIES] = [
    ("maj", &[0, 4, 7]),
    ("min", &[0, 3, 7]),
    ("7", &[0, 4, 7, 10]),
    ("maj7", &[0, 4, 7, 11]),
    ("min7", &[0, 3, 7, 10]),
    ("dim", &[0, 3, 6]),
    ("aug", &[0, 4, 8]),
    ("sus4", &[0, 5, 7]),
    ("sus2", &[0, 2, 7]),
    ("dim7", &[0, 3, 6, 9]),
    ("hdim7", &[0, 3, 6, 10]),
];
/// Number of chord qualities.
pub const NUM_QUALITIES: usize = 11;
/// Chord index 0 is "no chord" (`N`); chord `1 + quality * 12 + root` otherwise.
pub const NUM_CHORDS: usize = 1 + 12 * NUM_QUALITIES;
/// The no-chord index.
pub const NO_CHORD: usize = 0;

/// Harmonics modelled in each chord template, with amplitude decay per harmonic.
const TEMPLATE_HARMONICS: usize = 4;
const HARMONIC_DECAY: f32 = 0.6;

/// Which chords the recogniser may output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChordVocabulary {
    /// 24 major and minor triads plus N.
    #[default]
    MajMin,
    /// Adds dominant, major and minor sevenths.
    Sevenths,
    /// Adds diminished, augmented, suspended, diminished and half-diminished sevenths.
    Full,
}

impl crate::params::Choices for ChordVocabulary {
    const SPEC: &'static crate::params::ChoiceSpec = &crate::analyzer::schema::VOCABULARY;
    fn index(self) -> usize {
        self as usize
    }
    fn from_index(index: usize) -> Self {
        match index {
            1 => ChordVocabulary::Sevenths,
            2 => ChordVocabulary::Full,
            _ => ChordVocabulary::MajMin,
        }
    }
}

impl ChordVocabulary {
    /// Number of qualities active in this vocabulary.
    pub fn num_qualities(self) -> usize {
        match self {
            ChordVocabulary::MajMin => 2,
            ChordVocabulary::Sevenths => 5,
            ChordVocabulary::Full => NUM_QUALITIES,
        }
    }

    /// Whether chord `idx` is part of this vocabulary.
    pub fn contains(self, idx: usize) -> bool {
        idx == NO_CHORD || (idx < NUM_CHORDS && (idx - 1) / 12 < self.num_qualities())
    }
}

/// Root pitch class and quality index of a chord, `None` for N.
pub fn chord_parts(idx: usize) -> Option<(usize, usize)> {
    if idx == NO_CHORD || idx >= NUM_CHORDS {
        None
    } else {
        Some(((idx - 1) % 12, (idx - 1) / 12))
    }
}

/// The mir_eval / MIREX label of chord `idx`, e.g. `C:maj`, `F#:min7`, `N`.
pub fn chord_label(idx: usize) -> ChordLabel {
    match chord_parts(idx) {
        None => ChordLabel::new("N", ""),
        Some((root, quality)) => ChordLabel::new(PITCH_CLASS_NAMES[root], QUALITIES[quality].0),
    }
}

/// A chord label without allocation (`root:quality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChordLabel {
    root: &'static str,
    quality: &'static str,
}

impl ChordLabel {
    fn new(root: &'static str, quality: &'static str) -> Self {
        Self { root, quality }
    }
}

impl std::fmt::Display for ChordLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.quality.is_empty() {
            f.write_str(self.root)
        } else {
            write!(f, "{}:{}", self.root, self.quality)
        }
    }
}

/// MIDI notes (root in octave 3–4, C4 = 60) for a chord, for the MIDI chord output. Returns the
/// number written into `notes`.
pub fn chord_midi_notes(idx: usize, notes: &mut [u8; 4]) -> usize {
    let Some((root, quality)) = chord_parts(idx) else {
        return 0;
    };
    let base = 48 + root as u8; // C3..B3 roots keep voicings in a comfortable range.
    let intervals = QUALITIES[quality].1;
    for (slot, interval) in notes.iter_mut().zip(intervals) {
        *slot = base + *interval as u8;
    }
    intervals.len().min(4)
}

/// Unit-norm chroma templates for every chord, modelling the first harmonics of each note.
pub fn chord_templates() -> [[f32; 12]; NUM_CHORDS] {
    let mut templates = [[0.0f32; 12]; NUM_CHORDS];
    templates[NO_CHORD] = [1.0; 12];
    for (quality, (_, intervals)) in QUALITIES.iter().enumerate() {
        for root in 0..12 {
            let t = &mut templates[1 + quality * 12 + root];
            for &interval in intervals.iter() {
                for h in 1..=TEMPLATE_HARMONICS {
                    let offset = (12.0 * (h as f32).log2()).round() as usize;
                    t[(root + interval + offset) % 12] += HARMONIC_DECAY.powi(h as i32 - 1);
                }
            }
        }
    }
    for t in templates.iter_mut() {
        crate::chroma::normalize(t);
    }
    templates
}

/// Parameters of the online chord HMM.
#[derive(Debug, Clone, Copy)]
pub struct ChordModelParams {
    /// Sharpness of the observation likelihood `exp(kappa · (cos − 1))`.
    pub kappa: f32,
    /// Probability of staying in the same chord from one frame to the next.
    pub self_transition: f32,
    /// Template fit given to N for any non-silent frame (chords must fit better).
    pub no_chord_fit: f32,
    /// N also fits as well as the chroma's flatness (its cosine to a flat vector) minus this
    /// margin, so noise and drums-only passages are N.
    pub flatness_margin: f32,
    /// Weight of the bass chroma beside the treble's (NNLS evidence; 0 = no bass).
    pub bass_weight: f32,
    /// Exponent of the learned layer's posterior as the HMM's observation likelihood.
    pub model_weight: f32,
    /// Self-transition probability of the HMM on the learned layer's posterior (its
    /// likelihoods are sharper than the templates', so it needs a stronger prior).
    pub model_self_transition: f32,
    /// Hysteresis of the decision: a new chord replaces the shown one only when its
    /// posterior is this much higher (0: argmax; fewer blips, a little later changes).
    pub switch_margin: f32,
    /// Onset gating of the learned layer's chord changes (0 = off): away from note onsets
    /// the probability of leaving a chord is this fraction smaller, so chords change where
    /// notes start ([`ChordRecognizer::set_openness`]).
    pub onset_gate: f32,
    /// Onset novelty (relative positive flux of the log pitch energies) that opens a frame
    /// fully to a change.
    pub onset_full: f32,
    /// Time constant in ms of the openness' decay after an onset.
    pub onset_decay_ms: f32,
}

impl Default for ChordModelParams {
    fn default() -> Self {
        Self {
            kappa: 12.0,
            self_transition: 0.95,
            no_chord_fit: 0.5,
            flatness_margin: 0.3,
            bass_weight: 0.6,
            model_weight: 0.5,
            model_self_transition: 0.9,
            switch_margin: 0.0,
            onset_gate: 0.999,
            onset_full: 0.4,
            onset_decay_ms: 50.0,
        }
    }
}

/// Bass template weight of the chord tones other than the root (inversions).
const INVERSION_WEIGHT: f32 = 0.25;

/// Unit-norm bass + treble templates (`[bass; treble]`) for the NNLS evidence: the treble half
/// is the chord's tones (the transcription has removed the partials), the bass half its root,
/// with a little weight on the other chord tones for inversions.
/// `bass_weight` as in [`bass_treble`].
pub fn bass_treble_templates(bass_weight: f32) -> [[f32; 24]; NUM_CHORDS] {
    let mut templates = [[0.0f32; 24]; NUM_CHORDS];
    templates[NO_CHORD] = [1.0; 24];
    for (quality, (_, intervals)) in QUALITIES.iter().enumerate() {
        for root in 0..12 {
            let mut bass = [0.0f32; 12];
            let mut treble = [0.0f32; 12];
            for &interval in intervals.iter() {
                treble[(root + interval) % 12] = 1.0;
                bass[(root + interval) % 12] = INVERSION_WEIGHT;
            }
            bass[root] = 1.0;
            templates[1 + quality * 12 + root] = bass_treble(&bass, &treble, bass_weight);
        }
    }
    templates
}

/// The unit-norm `[bass · bass_weight; treble]` observation of a bass and a treble chroma
/// (each normalised first, so their levels do not matter; weight 0: the treble alone).
pub fn bass_treble(bass: &[f32; 12], treble: &[f32; 12], bass_weight: f32) -> [f32; 24] {
    let mut b = *bass;
    let mut t = *treble;
    crate::chroma::normalize(&mut b);
    crate::chroma::normalize(&mut t);
    let mut out = [0.0f32; 24];
    for i in 0..12 {
        out[i] = bass_weight * b[i];
        out[12 + i] = t[i];
    }
    crate::chroma::normalize(&mut out);
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Where the learned layer's mass of each quality goes in the major/minor vocabulary: `maj`,
/// `7`, `maj7` (as `mir_eval`'s `majmin` comparison maps them) and `aug`, `sus4`, `sus2` onto
/// the major triad; `min`, `min7` and `dim`, `dim7`, `hdim7` onto the minor triad, at the same
/// root (so a diminished chord keeps its root instead of losing its mass to a neighbour).
const MAJMIN_OF: [usize; NUM_QUALITIES] = [0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1];
/// The same for the sevenths vocabulary (maj, min, 7, maj7, min7 as they are).
const SEVENTHS_OF: [usize; NUM_QUALITIES] = [0, 1, 2, 3, 4, 1, 0, 0, 0, 1, 4];
/// Posterior floor of the learned likelihood (no chord is ever impossible).
const MODEL_FLOOR: f32 = 1e-4;

/// Where the learned layer's mass for chord `idx` goes in `vocabulary` ([`MAJMIN_OF`],
/// [`SEVENTHS_OF`]).
fn collapse(idx: usize, vocabulary: ChordVocabulary) -> usize {
    let Some((root, quality)) = chord_parts(idx) else {
        return NO_CHORD;
    };
    let target = match vocabulary {
        ChordVocabulary::MajMin => MAJMIN_OF[quality],
        ChordVocabulary::Sevenths => SEVENTHS_OF[quality],
        ChordVocabulary::Full => quality,
    };
    1 + target * 12 + root
}

/// Online chord recogniser: template fits → HMM forward filtering → (optional fixed-lag
/// smoothing, [`crate::lookahead`]) → argmax.
#[derive(Debug, Clone)]
pub struct ChordRecognizer {
    templates: [[f32; 12]; NUM_CHORDS],
    bass_treble: [[f32; 24]; NUM_CHORDS],
    params: ChordModelParams,
    vocabulary: ChordVocabulary,
    posterior: [f32; NUM_CHORDS],
    likelihood: [f32; NUM_CHORDS],
    fit: [f32; NUM_CHORDS],
    lag: crate::lookahead::FixedLag,
    /// How open the next frame is to a chord change (1: at an onset; see `onset_gate`).
    openness: f32,
}

impl Default for ChordRecognizer {
    fn default() -> Self {
        let mut recognizer = Self {
            templates: chord_templates(),
            bass_treble: bass_treble_templates(ChordModelParams::default().bass_weight),
            params: ChordModelParams::default(),
            vocabulary: ChordVocabulary::default(),
            posterior: [0.0; NUM_CHORDS],
            likelihood: [0.0; NUM_CHORDS],
            fit: [0.0; NUM_CHORDS],
            lag: crate::lookahead::FixedLag::default(),
            openness: 1.0,
        };
        recognizer.reset();
        recognizer
    }
}

impl ChordRecognizer {
    /// Forgets the past: all mass on N.
    pub fn reset(&mut self) {
        self.posterior = [0.0; NUM_CHORDS];
        self.posterior[NO_CHORD] = 1.0;
        self.fit = [0.0; NUM_CHORDS];
        self.openness = 1.0;
        self.lag.reset();
    }

    /// The model parameters.
    pub fn params(&self) -> &ChordModelParams {
        &self.params
    }

    /// Allocates the look-ahead storage for up to `max_frames` frames. Not real-time safe.
    pub fn prepare_lookahead(&mut self, max_frames: usize) {
        self.lag.prepare(max_frames);
    }

    /// Sets the look-ahead in frames (up to the prepared maximum). Real-time safe; a change
    /// restarts the smoothing (the forward filter keeps its state).
    pub fn set_lookahead(&mut self, frames: usize) {
        self.lag.set_lag(frames);
    }

    /// The look-ahead in frames.
    pub fn lookahead(&self) -> usize {
        self.lag.lag()
    }

    /// Changes the vocabulary (real-time safe). Chords outside it lose their probability.
    pub fn set_vocabulary(&mut self, vocabulary: ChordVocabulary) {
        if vocabulary != self.vocabulary {
            self.vocabulary = vocabulary;
            self.reset();
        }
    }

    /// Replaces the model parameters.
    /// Not real-time safe when the bass weight changes (the templates are rebuilt).
    pub fn set_params(&mut self, params: ChordModelParams) {
        if params.bass_weight != self.params.bass_weight {
            self.bass_treble = bass_treble_templates(params.bass_weight);
        }
        self.lag.set_margin(params.switch_margin);
        self.params = params;
    }

    /// How open the next frame is to a chord change: 1 at a note onset, falling to 0 while
    /// nothing new starts (the analyser's onset novelty). With
    /// [`ChordModelParams::onset_gate`] `g`, leaving a chord is `1 − g · (1 − openness)`
    /// times as likely as the plain self-transition says. Real-time safe.
    pub fn set_openness(&mut self, openness: f32) {
        self.openness = if openness.is_finite() {
            openness.clamp(0.0, 1.0)
        } else {
            1.0
        };
    }

    /// The template of chord `idx`.
    pub fn template(&self, idx: usize) -> &[f32; 12] {
        &self.templates[idx.min(NUM_CHORDS - 1)]
    }

    /// Feeds one unit-norm chroma frame (`silent` if below the level floor) and returns the
    /// decided chord. Never allocates.
    pub fn update(&mut self, chroma: &[f32; 12], silent: bool) -> usize {
        let flatness = chroma.iter().sum::<f32>() / 12f32.sqrt();
        for idx in 0..NUM_CHORDS {
            self.fit[idx] = dot(&self.templates[idx], chroma);
        }
        self.apply_rules(flatness, silent);
        self.template_step()
    }

    /// Feeds one frame of bass and treble chroma (NNLS evidence, [`crate::nnls`]) and returns
    /// the decided chord: the fit is the cosine of `[bass; treble]` ([`bass_treble`]) to each
    /// chord's bass/treble template. Never allocates.
    pub fn update_bass_treble(
        &mut self,
        bass: &[f32; 12],
        treble: &[f32; 12],
        silent: bool,
    ) -> usize {
        let mut fits = [0.0; NUM_CHORDS];
        self.bass_treble_fits(bass, treble, silent, &mut fits);
        self.update_with_fits(&fits)
    }

    /// The fit of every chord of the full vocabulary to a frame of bass and treble chroma,
    /// N's by its own rule (silence, flatness): what [`Self::update_bass_treble`] decides
    /// from, and the learned layer's template prior ([`crate::chordnet`]). Leaves the HMM
    /// alone. Never allocates.
    pub fn bass_treble_fits(
        &self,
        bass: &[f32; 12],
        treble: &[f32; 12],
        silent: bool,
        fits: &mut [f32; NUM_CHORDS],
    ) {
        let observation = bass_treble(bass, treble, self.params.bass_weight);
        let flatness = observation.iter().sum::<f32>() / 24f32.sqrt();
        for (fit, template) in fits.iter_mut().zip(&self.bass_treble) {
            *fit = dot(template, &observation);
        }
        self.rules(fits, flatness, silent, ChordVocabulary::Full);
    }

    /// The template logits `κ · (fit − 1)` of full-vocabulary fits (the learned layer's
    /// prior input).
    pub fn template_logits(&self, fits: &[f32; NUM_CHORDS], logits: &mut [f32; NUM_CHORDS]) {
        for (l, &f) in logits.iter_mut().zip(fits) {
            *l = self.params.kappa * (f - 1.0);
        }
    }

    /// HMM step on full-vocabulary fits from [`Self::bass_treble_fits`] (the learned layer's
    /// fallback: the same decision [`Self::update_bass_treble`] makes). Never allocates.
    pub fn update_with_fits(&mut self, fits: &[f32; NUM_CHORDS]) -> usize {
        self.fit = *fits;
        self.mask_vocabulary();
        self.template_step()
    }

    /// HMM step on the learned layer's chord logits ([`crate::chordnet`], full vocabulary):
    /// the observation likelihood is the network's posterior, its qualities collapsed onto
    /// the vocabulary (each quality onto the triad or seventh it contains, [`MAJMIN_OF`]),
    /// raised to the power [`ChordModelParams::model_weight`], with onset gating
    /// ([`ChordModelParams::onset_gate`]). `fits` (from
    /// [`Self::bass_treble_fits`]) are kept for display. Never allocates.
    pub fn update_learned(
        &mut self,
        logits: &[f32; NUM_CHORDS],
        fits: &[f32; NUM_CHORDS],
    ) -> usize {
        self.fit = *fits;
        self.mask_vocabulary();
        let peak = logits
            .iter()
            .filter(|l| l.is_finite())
            .fold(f32::NEG_INFINITY, |m, &l| m.max(l));
        if !peak.is_finite() {
            // Nothing usable from the model: the templates decide this frame.
            return self.template_step();
        }
        let mut prob = [0.0f32; NUM_CHORDS];
        let mut total = 0.0;
        for (p, &l) in prob.iter_mut().zip(logits) {
            *p = if l.is_finite() { (l - peak).exp() } else { 0.0 };
            total += *p;
        }
        let vocabulary = self.vocabulary;
        self.likelihood = [0.0; NUM_CHORDS];
        for (idx, &p) in prob.iter().enumerate() {
            self.likelihood[collapse(idx, vocabulary)] += p / total;
        }
        let beta = self.params.model_weight;
        for l in self.likelihood.iter_mut() {
            *l = (*l + MODEL_FLOOR).powf(beta);
        }
        self.forward(self.params.model_self_transition, self.params.onset_gate)
    }

    /// N's rule and the vocabulary mask on the fits in `self.fit`.
    fn apply_rules(&mut self, flatness: f32, silent: bool) {
        let mut fits = self.fit;
        self.rules(&mut fits, flatness, silent, self.vocabulary);
        self.fit = fits;
    }

    /// N fits by its own rule (silence: 1; otherwise its fixed fit or the flatness minus the
    /// margin); chords outside `vocabulary` and every chord of a silent frame fit 0.
    fn rules(
        &self,
        fits: &mut [f32; NUM_CHORDS],
        flatness: f32,
        silent: bool,
        vocabulary: ChordVocabulary,
    ) {
        for (idx, fit) in fits.iter_mut().enumerate() {
            *fit = if !vocabulary.contains(idx) {
                0.0
            } else if idx == NO_CHORD {
                if silent {
                    1.0
                } else {
                    self.params
                        .no_chord_fit
                        .max(flatness - self.params.flatness_margin)
                }
            } else if silent || !fit.is_finite() {
                0.0
            } else {
                *fit
            };
        }
    }

    /// Zeroes the fits of chords outside the vocabulary.
    fn mask_vocabulary(&mut self) {
        let vocabulary = self.vocabulary;
        for (idx, fit) in self.fit.iter_mut().enumerate() {
            if !vocabulary.contains(idx) || !fit.is_finite() {
                *fit = 0.0;
            }
        }
    }

    /// HMM step with the template likelihood `exp(κ · (fit − 1))` of `self.fit`.
    fn template_step(&mut self) -> usize {
        let kappa = self.params.kappa;
        for (l, &f) in self.likelihood.iter_mut().zip(&self.fit) {
            *l = (kappa * (f - 1.0)).exp();
        }
        self.forward(self.params.self_transition, 0.0)
    }

    /// HMM forward step with self-transition `stay` (onset-gated by `gate`) on the
    /// likelihoods in
    /// `self.likelihood` (chords outside the vocabulary get none), then the fixed-lag
    /// smoother; returns the decided chord.
    fn forward(&mut self, stay: f32, gate: f32) -> usize {
        let vocabulary = self.vocabulary;
        let active = 1 + 12 * vocabulary.num_qualities();
        let gate = gate.clamp(0.0, 1.0);
        let leaving = (1.0 - stay.clamp(0.0, 0.9999)) * (1.0 - gate * (1.0 - self.openness));
        let stay = 1.0 - leaving;
        let leave = leaving / (active - 1) as f32;
        let mut total = 0.0;
        for idx in 0..NUM_CHORDS {
            if !vocabulary.contains(idx) || !self.likelihood[idx].is_finite() {
                self.posterior[idx] = 0.0;
                self.likelihood[idx] = 0.0;
                continue;
            }
            let prior = stay * self.posterior[idx] + leave * (1.0 - self.posterior[idx]);
            self.posterior[idx] = prior * self.likelihood[idx];
            total += self.posterior[idx];
        }
        if total > 0.0 && total.is_finite() {
            for p in self.posterior.iter_mut() {
                *p = crate::sanitize::flush(*p / total);
            }
            self.lag
                .push(&self.posterior, &self.likelihood, stay, leave)
        } else {
            self.reset();
            NO_CHORD
        }
    }

    /// The chord decided by the last update (for the frame [`Self::frames_behind`] back).
    pub fn current(&self) -> usize {
        self.lag.decided()
    }

    /// How many frames before the newest the decision refers to (the look-ahead, once that
    /// many frames have arrived).
    pub fn frames_behind(&self) -> usize {
        self.lag.frames_behind()
    }

    /// Posterior probability of each chord for the decided frame (filtered, or smoothed with
    /// the look-ahead).
    pub fn posterior(&self) -> &[f32; NUM_CHORDS] {
        self.lag.posterior()
    }

    /// Forward (filtered) posterior of the newest frame.
    pub fn filtered(&self) -> &[f32; NUM_CHORDS] {
        &self.posterior
    }

    /// Cosine template fit of each chord for the last frame (N: its fixed fit).
    pub fn fit(&self) -> &[f32; NUM_CHORDS] {
        &self.fit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_mir_eval_syntax() {
        assert_eq!(chord_label(0).to_string(), "N");
        assert_eq!(chord_label(1).to_string(), "C:maj");
        assert_eq!(chord_label(1 + 12 + 9).to_string(), "A:min");
        assert_eq!(chord_label(1 + 2 * 12 + 7).to_string(), "G:7");
        assert_eq!(chord_label(NUM_CHORDS - 1).to_string(), "B:hdim7");
    }

    #[test]
    fn a_clean_triad_chroma_is_recognised_after_a_few_frames() {
        let mut recognizer = ChordRecognizer::default();
        // E minor: E G B, with equal weights.
        let mut chroma = [0.0f32; 12];
        for pc in [4, 7, 11] {
            chroma[pc] = 1.0;
        }
        crate::chroma::normalize(&mut chroma);
        let mut decided = NO_CHORD;
        for _ in 0..4 {
            decided = recognizer.update(&chroma, false);
        }
        assert_eq!(chord_label(decided).to_string(), "E:min");
    }

    #[test]
    fn flat_chroma_and_silence_are_no_chord() {
        let mut recognizer = ChordRecognizer::default();
        let mut flat = [1.0f32; 12];
        crate::chroma::normalize(&mut flat);
        for _ in 0..10 {
            recognizer.update(&flat, false);
        }
        assert_eq!(recognizer.current(), NO_CHORD);
        recognizer.update(&[0.0; 12], true);
        assert_eq!(recognizer.current(), NO_CHORD);
    }

    #[test]
    fn bass_and_treble_decide_root_and_inversion_is_still_the_chord() {
        let mut recognizer = ChordRecognizer::default();
        recognizer.set_vocabulary(ChordVocabulary::Full);
        // A minor with C in the bass is A:min (first inversion), not C:maj6-ish or C:maj.
        let mut treble = [0.0f32; 12];
        for pc in [9, 0, 4] {
            treble[pc] = 1.0;
        }
        let mut bass = [0.0f32; 12];
        bass[0] = 1.0;
        for _ in 0..6 {
            recognizer.update_bass_treble(&bass, &treble, false);
        }
        assert_eq!(chord_label(recognizer.current()).to_string(), "A:min");
        // C E G with C in the bass versus E in the bass: both C:maj.
        let mut treble = [0.0f32; 12];
        for pc in [0, 4, 7] {
            treble[pc] = 1.0;
        }
        let mut bass = [0.0f32; 12];
        bass[4] = 1.0;
        for _ in 0..12 {
            recognizer.update_bass_treble(&bass, &treble, false);
        }
        assert_eq!(chord_label(recognizer.current()).to_string(), "C:maj");
        // The bass decides between A:min7 and C:maj when the treble holds both (A C E G).
        treble[9] = 1.0;
        let mut bass = [0.0f32; 12];
        bass[9] = 1.0;
        recognizer.set_vocabulary(ChordVocabulary::Sevenths);
        for _ in 0..12 {
            recognizer.update_bass_treble(&bass, &treble, false);
        }
        assert_eq!(chord_label(recognizer.current()).to_string(), "A:min7");
    }

    #[test]
    fn the_bass_weight_decides_how_much_the_bass_counts() {
        // C E G A in the treble: C:maj or A:min; the bass decides, unless it has no weight.
        let mut treble = [0.0f32; 12];
        for pc in [0, 4, 7, 9] {
            treble[pc] = 1.0;
        }
        let decide = |bass_pc: usize, bass_weight: f32| {
            let mut recognizer = ChordRecognizer::default();
            recognizer.set_params(ChordModelParams {
                bass_weight,
                ..ChordModelParams::default()
            });
            let mut bass = [0.0f32; 12];
            bass[bass_pc] = 1.0;
            for _ in 0..12 {
                recognizer.update_bass_treble(&bass, &treble, false);
            }
            chord_label(recognizer.current()).to_string()
        };
        assert_eq!(decide(9, 0.6), "A:min");
        assert_eq!(decide(0, 0.6), "C:maj");
        assert_eq!(decide(9, 0.0), decide(0, 0.0));
    }

    #[test]
    fn look_ahead_delays_the_decision_by_its_frames() {
        let mut recognizer = ChordRecognizer::default();
        recognizer.prepare_lookahead(20);
        recognizer.set_lookahead(5);
        let mut chroma = [0.0f32; 12];
        for pc in [4, 7, 11] {
            chroma[pc] = 1.0;
        }
        crate::chroma::normalize(&mut chroma);
        for _ in 0..10 {
            recognizer.update(&chroma, false);
        }
        assert_eq!(recognizer.frames_behind(), 5);
        assert_eq!(chord_label(recognizer.current()).to_string(), "E:min");
        assert!(recognizer.posterior()[recognizer.current()] > 0.5);
    }

    #[test]
    fn midi_notes_of_g7() {
        let mut notes = [0u8; 4];
        let count = chord_midi_notes(1 + 2 * 12 + 7, &mut notes);
        assert_eq!(&notes[..count], &[55, 59, 62, 65]);
    }

    #[test]
    fn vocabulary_masks_qualities() {
        assert!(ChordVocabulary::MajMin.contains(24));
        assert!(!ChordVocabulary::MajMin.contains(25));
        assert!(ChordVocabulary::Sevenths.contains(1 + 4 * 12));
        assert!(!ChordVocabulary::Sevenths.contains(1 + 5 * 12));
        assert!(ChordVocabulary::Full.contains(NUM_CHORDS - 1));
    }
}
