//! The Rust chord network computes what the recipe's NumPy model computes
//! (`bundle/models/chord/export.py` writes the parity file), and its template prior is the
//! recogniser's own template fit.

use prism_shared::chord::{ChordModelParams, ChordRecognizer, ChordVocabulary, NUM_CHORDS};
use prism_shared::chordnet::{frame_features, ChordNet, ChordNetWeights, WeightsError};
use prism_shared::nnls::NoteEvidence;

const WEIGHTS: &[u8] = include_bytes!("../../bundle/models/chord/prism-chord-v1.bin");
const PARITY: &[u8] = include_bytes!("../../bundle/models/chord/prism-chord-v1.parity.bin");
const FEATURES: usize = 111;

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn evidence(row: &[f32]) -> NoteEvidence {
    let mut e = NoteEvidence {
        level_db: row[1],
        silent: row[2] > 0.5,
        ..NoteEvidence::default()
    };
    e.bass.copy_from_slice(&row[3..15]);
    e.treble.copy_from_slice(&row[15..27]);
    e
}

#[test]
fn rust_network_matches_the_recipe_model_frame_by_frame() {
    assert_eq!(&PARITY[..8], b"PRISMCP1");
    let n = u32::from_le_bytes(PARITY[8..12].try_into().unwrap()) as usize;
    let data = floats(&PARITY[12..]);
    assert_eq!(data.len(), n * (FEATURES + 2 * NUM_CHORDS));
    let (feats, rest) = data.split_at(n * FEATURES);
    let (templates, expected) = rest.split_at(n * NUM_CHORDS);

    let mut net = ChordNet::new(ChordNetWeights::parse(WEIGHTS).expect("shipped weights"));
    let mut chords = ChordRecognizer::default();
    chords.set_vocabulary(ChordVocabulary::Full);
    chords.set_params(ChordModelParams::default());
    let mut logits = [0.0f32; NUM_CHORDS];
    let mut worst = (0.0f32, 0.0f32);
    for i in 0..n {
        let e = evidence(&feats[i * FEATURES..(i + 1) * FEATURES]);
        // The prior: the recogniser's template fits, as the recipe computes them.
        chords.update_bass_treble(&e.bass, &e.treble, e.silent);
        let t: [f32; NUM_CHORDS] = templates[i * NUM_CHORDS..(i + 1) * NUM_CHORDS]
            .try_into()
            .unwrap();
        for (c, (&fit, &want)) in chords.fit().iter().zip(&t).enumerate() {
            let got = 12.0 * (fit - 1.0);
            assert!(
                (got - want).abs() < 1e-3,
                "frame {i} chord {c}: template logit {got} vs recipe {want}"
            );
        }
        net.step(&frame_features(&e), &t, &mut logits);
        for (&got, &want) in logits
            .iter()
            .zip(&expected[i * NUM_CHORDS..(i + 1) * NUM_CHORDS])
        {
            let err = (got - want).abs();
            if err > worst.0 {
                worst = (err, want);
            }
            assert!(
                err < 1e-4 * (1.0 + want.abs()),
                "frame {i}: logit {got} vs recipe {want}"
            );
        }
    }
    eprintln!("worst logit error {:.2e} (at {:.3})", worst.0, worst.1);
}

#[test]
fn bad_weight_files_are_refused_with_the_reason() {
    assert_eq!(
        ChordNetWeights::parse(b"not a model at all").unwrap_err(),
        WeightsError::BadMagic
    );
    let truncated = &WEIGHTS[..WEIGHTS.len() - 4];
    assert!(matches!(
        ChordNetWeights::parse(truncated),
        Err(WeightsError::BadShape(_))
    ));
    let mut nan = WEIGHTS.to_vec();
    let at = nan.len() - 4;
    nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(
        ChordNetWeights::parse(&nan).unwrap_err(),
        WeightsError::NotFinite
    );
    let mut wide = WEIGHTS.to_vec();
    wide[12..16].copy_from_slice(&999u32.to_le_bytes());
    assert!(matches!(
        ChordNetWeights::parse(&wide),
        Err(WeightsError::BadShape(_))
    ));
    let weights = ChordNetWeights::parse(WEIGHTS).unwrap();
    assert!(
        weights.num_params() * 4 < 1 << 20,
        "the model must stay under 1 MB"
    );
}

#[test]
fn transposed_evidence_gives_transposed_logits() {
    let weights = ChordNetWeights::parse(WEIGHTS).unwrap();
    let (mut a, mut b) = (ChordNet::new(weights.clone()), ChordNet::new(weights));
    let mut e = NoteEvidence {
        level_db: -20.0,
        silent: false,
        ..NoteEvidence::default()
    };
    let (mut la, mut lb) = ([0.0f32; NUM_CHORDS], [0.0f32; NUM_CHORDS]);
    for frame in 0..24 {
        for pc in 0..12 {
            e.bass[pc] = ((pc * 7 + frame) % 5) as f32 * 0.1;
            e.treble[pc] = ((pc * 5 + 3 * frame) % 7) as f32 * 0.1;
        }
        let mut shifted = e;
        for pc in 0..12 {
            shifted.bass[(pc + 3) % 12] = e.bass[pc];
            shifted.treble[(pc + 3) % 12] = e.treble[pc];
        }
        // Template logits transpose with the evidence too (here: any transposed vector).
        let mut t = [0.0f32; NUM_CHORDS];
        let mut ts = [0.0f32; NUM_CHORDS];
        for (c, v) in t.iter_mut().enumerate() {
            *v = -(((c * 13 + frame) % 11) as f32);
        }
        ts[0] = t[0];
        for (c, &v) in t.iter().enumerate().skip(1) {
            let (q, r) = ((c - 1) / 12, (c - 1) % 12);
            ts[1 + q * 12 + (r + 3) % 12] = v;
        }
        a.step(&frame_features(&e), &t, &mut la);
        b.step(&frame_features(&shifted), &ts, &mut lb);
    }
    assert!((la[0] - lb[0]).abs() < 1e-4);
    for (c, &v) in la.iter().enumerate().skip(1) {
        let (q, r) = ((c - 1) / 12, (c - 1) % 12);
        let moved = 1 + q * 12 + (r + 3) % 12;
        assert!((v - lb[moved]).abs() < 1e-4, "chord {c}");
    }
}
