//! The learned chord layer's network (`bundle/models/chord/chordnet.py` is its twin and the
//! recipe that trains it): a root-equivariant MLP over the last frames of NNLS evidence,
//! whose chord logits are added to the template recogniser's (`a · κ · (fit − 1)`, `a`
//! learned). Plain Rust, preallocated: `step` never allocates.
//!
//! Weights file (`prism-chord-v1.bin`): the 8 bytes `PRISMCN1`, then little-endian `u32`
//! hidden size, `u32` input size, `u32` number of qualities, then the `f32` arrays `W1`
//! `[input, hidden]`, `b1`, `W2 [hidden, hidden]`, `b2`, `W3 [hidden, qualities]`, `b3`, `wn`,
//! `bn`, `a`, row-major.

use crate::chord::{NUM_CHORDS, NUM_QUALITIES};
use crate::nnls::NoteEvidence;

/// Inputs per frame: 12 bass, 12 treble, level, silent.
pub const FRAME: usize = 26;
/// The frames the model sees, in hops before the newest.
pub const CONTEXT: [usize; 8] = [0, 1, 2, 4, 6, 9, 13, 18];
/// Inputs per root rotation.
pub const INPUT: usize = FRAME * CONTEXT.len();
/// Frames kept for the context.
const HISTORY: usize = 19;
const COMPRESS: f32 = 10.0;
const MAGIC: &[u8; 8] = b"PRISMCN1";
/// Largest hidden size a weights file may declare (the budget is < 1 MB).
const MAX_HIDDEN: usize = 256;

/// Why a weights file was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsError {
    /// Not a Prism chord-network file.
    BadMagic,
    /// Sizes other than this build's, or truncated / trailing bytes.
    BadShape(String),
    /// A weight is NaN or infinite.
    NotFinite,
}

impl std::fmt::Display for WeightsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadMagic => f.write_str("not a Prism chord model (bad magic)"),
            Self::BadShape(s) => write!(f, "chord model shape: {s}"),
            Self::NotFinite => f.write_str("chord model has non-finite weights"),
        }
    }
}

impl std::error::Error for WeightsError {}

/// The network's parameters.
#[derive(Debug, Clone)]
pub struct ChordNetWeights {
    hidden: usize,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    w3: Vec<f32>,
    b3: Vec<f32>,
    wn: Vec<f32>,
    bn: f32,
    a: f32,
}

impl ChordNetWeights {
    /// Parses a weights file. Not real-time safe.
    pub fn parse(bytes: &[u8]) -> Result<Self, WeightsError> {
        if bytes.len() < 20 || &bytes[..8] != MAGIC {
            return Err(WeightsError::BadMagic);
        }
        let word = |i: usize| u32::from_le_bytes(bytes[8 + 4 * i..12 + 4 * i].try_into().unwrap());
        let (hidden, input, qualities) = (word(0) as usize, word(1) as usize, word(2) as usize);
        if input != INPUT || qualities != NUM_QUALITIES || hidden == 0 || hidden > MAX_HIDDEN {
            return Err(WeightsError::BadShape(format!(
                "hidden {hidden}, input {input}, qualities {qualities} (this build: input \
                 {INPUT}, qualities {NUM_QUALITIES}, hidden 1..={MAX_HIDDEN})"
            )));
        }
        let sizes = [
            input * hidden,
            hidden,
            hidden * hidden,
            hidden,
            hidden * qualities,
            qualities,
            hidden,
            1,
            1,
        ];
        let want = 20 + 4 * sizes.iter().sum::<usize>();
        if bytes.len() != want {
            return Err(WeightsError::BadShape(format!(
                "{} bytes, expected {want}",
                bytes.len()
            )));
        }
        let mut at = 20;
        let mut take = |n: usize| {
            let v: Vec<f32> = bytes[at..at + 4 * n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            at += 4 * n;
            v
        };
        let arrays: Vec<Vec<f32>> = sizes.iter().map(|&n| take(n)).collect();
        if arrays.iter().flatten().any(|v| !v.is_finite()) {
            return Err(WeightsError::NotFinite);
        }
        let mut it = arrays.into_iter();
        let mut next = || it.next().unwrap();
        Ok(Self {
            hidden,
            w1: next(),
            b1: next(),
            w2: next(),
            b2: next(),
            w3: next(),
            b3: next(),
            wn: next(),
            bn: next()[0],
            a: next()[0],
        })
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.w1.len()
            + self.b1.len()
            + self.w2.len()
            + self.b2.len()
            + self.w3.len()
            + self.b3.len()
            + self.wn.len()
            + 2
    }

    /// The learned weight of the template prior.
    pub fn template_weight(&self) -> f32 {
        self.a
    }
}

/// The model input of one frame of NNLS evidence (`frame_features` in the recipe).
pub fn frame_features(e: &NoteEvidence) -> [f32; FRAME] {
    let mut out = [0.0f32; FRAME];
    let peak = e
        .bass
        .iter()
        .chain(&e.treble)
        .fold(0.0f32, |m, &v| m.max(v));
    if peak > 1e-12 && !e.silent {
        let norm = 1.0 / COMPRESS.ln_1p();
        for i in 0..12 {
            out[i] = (COMPRESS * e.bass[i] / peak).ln_1p() * norm;
            out[12 + i] = (COMPRESS * e.treble[i] / peak).ln_1p() * norm;
        }
    }
    out[24] = ((e.level_db + 90.0) / 90.0).clamp(0.0, 1.2);
    out[25] = if e.silent { 1.0 } else { 0.0 };
    out
}

/// The frame before a stream's start (silent).
fn padding() -> [f32; FRAME] {
    let mut row = [0.0; FRAME];
    row[25] = 1.0;
    row
}

/// The network with its frame history and scratch buffers.
#[derive(Debug, Clone)]
pub struct ChordNet {
    weights: ChordNetWeights,
    history: [[f32; FRAME]; HISTORY],
    /// Index of the newest frame in `history`.
    newest: usize,
    x: Vec<f32>,
    h1: Vec<f32>,
    h2: Vec<f32>,
    pool: Vec<f32>,
}

impl ChordNet {
    /// Allocates the scratch buffers for `weights`. Not real-time safe.
    pub fn new(weights: ChordNetWeights) -> Self {
        let h = weights.hidden;
        let mut net = Self {
            weights,
            history: [padding(); HISTORY],
            newest: 0,
            x: vec![0.0; INPUT],
            h1: vec![0.0; h],
            h2: vec![0.0; h],
            pool: vec![0.0; h],
        };
        net.reset();
        net
    }

    /// Forgets the history (a new stream).
    pub fn reset(&mut self) {
        self.history = [padding(); HISTORY];
        self.newest = 0;
    }

    /// The weights.
    pub fn weights(&self) -> &ChordNetWeights {
        &self.weights
    }

    /// Takes the newest frame's input and writes the chord logits (template logits
    /// `κ · (fit − 1)` in, for the prior). Never allocates.
    pub fn step(
        &mut self,
        frame: &[f32; FRAME],
        template_logits: &[f32; NUM_CHORDS],
        logits: &mut [f32; NUM_CHORDS],
    ) {
        self.newest = (self.newest + 1) % HISTORY;
        self.history[self.newest] = *frame;
        let w = &self.weights;
        let h = w.hidden;
        self.pool.fill(0.0);
        for root in 0..12 {
            // The context, rotated so that slot k holds pitch class (k + root) % 12.
            for (c, &back) in CONTEXT.iter().enumerate() {
                let f = &self.history[(self.newest + HISTORY - back) % HISTORY];
                let x = &mut self.x[c * FRAME..(c + 1) * FRAME];
                for k in 0..12 {
                    x[k] = f[(k + root) % 12];
                    x[12 + k] = f[12 + (k + root) % 12];
                }
                x[24] = f[24];
                x[25] = f[25];
            }
            dense_relu(&self.x, &w.w1, &w.b1, &mut self.h1);
            dense_relu(&self.h1, &w.w2, &w.b2, &mut self.h2);
            for q in 0..NUM_QUALITIES {
                let mut z = w.b3[q];
                for j in 0..h {
                    z += self.h2[j] * w.w3[j * NUM_QUALITIES + q];
                }
                let idx = 1 + q * 12 + root;
                logits[idx] = z + w.a * template_logits[idx];
            }
            for (p, v) in self.pool.iter_mut().zip(&self.h2) {
                *p += v / 12.0;
            }
        }
        let n: f32 = self.pool.iter().zip(&w.wn).map(|(p, v)| p * v).sum();
        logits[0] = n + w.bn + w.a * template_logits[0];
    }
}

/// `out = relu(x · W + b)`, `W` row-major `[x.len(), out.len()]`.
fn dense_relu(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    out.copy_from_slice(b);
    let n = out.len();
    for (i, &xi) in x.iter().enumerate() {
        if xi != 0.0 {
            for (o, &wij) in out.iter_mut().zip(&w[i * n..(i + 1) * n]) {
                *o += xi * wij;
            }
        }
    }
    for o in out.iter_mut() {
        *o = o.max(0.0);
    }
}
