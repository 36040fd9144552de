//! Specification-style accuracy checks of the chroma / chord / key chain on synthetic music
//! with exact ground truth (the full evaluation with mir_eval lives in `tests/eval/`).

use prism_shared::chord::{chord_label, NO_CHORD};
use prism_shared::key::key_label;
use prism_shared::synth::{progression, Progression};
use prism_shared::{ChromaAnalyzer, ChromaSettings, Processor};

/// C G Am F | Dm Em G C (ends on the tonic), one chord per 4 beats at 100 bpm (2.4 s per chord).
const CHORDS: [usize; 8] = [1, 8, 1 + 12 + 9, 6, 1 + 12 + 2, 1 + 12 + 4, 8, 1];

struct Result {
    accuracy: f32,
    tuning_cents: f32,
    key: String,
    changes: usize,
}

fn analyze(p: &Progression, sample_rate: f32, settings: ChromaSettings) -> Result {
    analyze_with(p, sample_rate, settings, 0.3)
}

/// Scores the frames at least `settle_s` after a change, at the moment each decision is for
/// (`chord_end_sample`: earlier than the frame by the look-ahead).
fn analyze_with(
    p: &Progression,
    sample_rate: f32,
    settings: ChromaSettings,
    settle_s: f32,
) -> Result {
    let mut analyzer = ChromaAnalyzer::new(settings);
    // The learned layer (the default) waits for its worker: the result is deterministic.
    analyzer.set_deadline(prism_shared::deadline::Deadline::Wait);
    analyzer.prepare(sample_rate, 512, 1);
    let mut correct = 0;
    let mut scored = 0;
    let mut tuning = 0.0;
    let mut key = 0;
    let mut changes = 0;
    for block in p.samples.chunks(512) {
        analyzer.process(&[block], |frame, _| {
            let t = frame.chord_end_sample as f32 / sample_rate;
            tuning = frame.estimated_tuning_cents;
            key = frame.key as usize;
            changes += frame.chord_changed as usize;
            // Score frames at least 300 ms after a change (the window has moved on).
            if let Some(&(start, _, truth)) = p.segments.iter().find(|(s, e, _)| t >= *s && t < *e)
            {
                if t - start >= settle_s {
                    scored += 1;
                    correct += (frame.chord as usize == truth) as usize;
                }
            }
        });
    }
    Result {
        accuracy: correct as f32 / scored.max(1) as f32,
        tuning_cents: tuning,
        key: key_label(key).to_string(),
        changes,
    }
}

#[test]
fn chords_of_a_clean_progression_are_recognised() {
    let p = progression(44_100.0, &CHORDS, 100.0, 4, false, 1);
    let r = analyze(&p, 44_100.0, ChromaSettings::default());
    assert!(r.accuracy >= 0.95, "accuracy {}", r.accuracy);
    assert!(
        r.changes <= CHORDS.len() + 2,
        "flicker: {} changes",
        r.changes
    );
    assert_eq!(r.key, "C:maj");
}

#[test]
fn chords_survive_drums_with_drum_suppression() {
    let p = progression(48_000.0, &CHORDS, 120.0, 4, true, 7);
    let r = analyze(&p, 48_000.0, ChromaSettings::default());
    assert!(r.accuracy >= 0.9, "accuracy {}", r.accuracy);
}

#[test]
fn auto_tuning_recovers_a_detuned_band() {
    // Render a quarter tone sharp (+45 cents): without tuning, chords fall between semitones.
    let a4 = 440.0 * 2f32.powf(45.0 / 1200.0);
    let chords: Vec<usize> = CHORDS.to_vec();
    let sample_rate = 44_100.0;
    let beat = (60.0 / 100.0 * sample_rate) as usize;
    let mut samples = vec![0.0; beat * 4 * chords.len()];
    let mut segments = Vec::new();
    for (i, &c) in chords.iter().enumerate() {
        let start = i * beat * 4;
        prism_shared::synth::add_chord(&mut samples, sample_rate, start, beat * 4, c, a4);
        segments.push((
            start as f32 / sample_rate,
            (start + beat * 4) as f32 / sample_rate,
            c,
        ));
    }
    let p = Progression { samples, segments };
    let tuned = analyze(&p, sample_rate, ChromaSettings::default());
    assert!(
        (tuned.tuning_cents - 45.0).abs() < 3.0,
        "estimated {} cents",
        tuned.tuning_cents
    );
    assert!(
        tuned.accuracy >= 0.9,
        "accuracy with tuning {}",
        tuned.accuracy
    );
    // The same audio with the reference pitch set by hand gives the same answer.
    let manual = analyze(
        &p,
        sample_rate,
        ChromaSettings {
            auto_tuning: false,
            reference_hz: a4,
            ..ChromaSettings::default()
        },
    );
    assert!(
        manual.accuracy >= 0.9,
        "accuracy with manual reference {}",
        manual.accuracy
    );
}

#[test]
fn silence_is_no_chord() {
    let mut analyzer = ChromaAnalyzer::new(ChromaSettings::default());
    analyzer.prepare(44_100.0, 512, 2);
    let silence = vec![0.0f32; 44_100];
    let mut chords = Vec::new();
    analyzer.process(&[&silence, &silence], |frame, _| {
        chords.push(frame.chord as usize)
    });
    assert!(
        chords.iter().all(|&c| c == NO_CHORD),
        "{:?}",
        chords
            .iter()
            .map(|&c| chord_label(c).to_string())
            .collect::<Vec<_>>()
    );
}

#[test]
fn look_ahead_decides_the_frames_after_a_change_better() {
    let p = progression(44_100.0, &CHORDS, 100.0, 4, true, 3);
    let scored = |lookahead_ms| {
        let settings = ChromaSettings {
            lookahead_ms,
            ..ChromaSettings::default()
        };
        // Every frame counts, also those just after a change, whose window still holds the
        // previous chord: there the look-ahead's later evidence pays.
        analyze_with(&p, 44_100.0, settings, 0.0)
    };
    let (now, ahead) = (scored(0.0), scored(250.0));
    assert!(
        ahead.accuracy > now.accuracy && ahead.changes <= now.changes,
        "0 ms: {} ({} changes), 250 ms: {} ({} changes)",
        now.accuracy,
        now.changes,
        ahead.accuracy,
        ahead.changes
    );
    assert!(
        ahead.changes <= CHORDS.len() + 2,
        "flicker: {}",
        ahead.changes
    );
}

#[test]
fn nnls_evidence_recognises_the_progression_with_and_without_drums() {
    let settings = ChromaSettings {
        evidence: prism_shared::analyzer::Evidence::Nnls,
        ..ChromaSettings::default()
    };
    for drums in [false, true] {
        let p = progression(44_100.0, &CHORDS, 100.0, 4, drums, 5);
        let r = analyze(&p, 44_100.0, settings);
        assert!(r.accuracy >= 0.9, "drums {drums}: accuracy {}", r.accuracy);
        assert!(
            r.changes <= CHORDS.len() + 3,
            "drums {drums}: {} changes",
            r.changes
        );
        assert_eq!(r.key, "C:maj", "drums {drums}");
    }
}

#[test]
fn the_learned_layer_decides_every_frame_offline_and_recognises_the_progression() {
    use prism_shared::analyzer::{ChordSource, Evidence};
    use prism_shared::deadline::Deadline;
    let settings = ChromaSettings {
        evidence: Evidence::Learned,
        ..ChromaSettings::default()
    };
    for drums in [false, true] {
        let p = progression(44_100.0, &CHORDS, 100.0, 4, drums, 7);
        let mut analyzer = ChromaAnalyzer::new(settings);
        analyzer.set_deadline(Deadline::Wait);
        analyzer.prepare(44_100.0, 512, 1);
        let (mut sources, mut frames) = ([0usize; 3], 0);
        let mut correct = 0;
        let mut scored = 0;
        let mut changes = 0;
        for block in p.samples.chunks(512) {
            analyzer.process(&[block], |frame, _| {
                frames += 1;
                sources[frame.chord_source as usize] += 1;
                assert_eq!(
                    frame.end_sample - frame.chord_end_sample,
                    analyzer_hop(),
                    "decided one hop later"
                );
                changes += frame.chord_changed as usize;
                let t = frame.chord_end_sample as f32 / 44_100.0;
                if let Some(&(start, _, truth)) =
                    p.segments.iter().find(|(s, e, _)| t >= *s && t < *e)
                {
                    if t - start >= 0.3 {
                        scored += 1;
                        correct += (frame.chord as usize == truth) as usize;
                    }
                }
            });
        }
        // Offline, the model decides every frame but the first (nothing to decide yet).
        assert_eq!(
            sources[ChordSource::Model as usize],
            frames - 1,
            "drums {drums}: sources {sources:?}"
        );
        let telemetry = analyzer.learned_telemetry();
        assert_eq!(telemetry.snapshot().misses, 0);
        let accuracy = correct as f32 / scored.max(1) as f32;
        assert!(accuracy >= 0.9, "drums {drums}: accuracy {accuracy}");
        assert!(
            changes <= CHORDS.len() + 3,
            "drums {drums}: {changes} changes"
        );
    }
}

/// The analyser's hop at 44.1 kHz.
fn analyzer_hop() -> u64 {
    let mut a = ChromaAnalyzer::default();
    a.prepare(44_100.0, 512, 1);
    a.hop_samples() as u64
}

#[test]
fn in_real_time_the_frames_of_a_large_host_block_are_decided_by_the_model_in_the_next_block() {
    use prism_shared::analyzer::{ChordSource, Evidence};
    // Host blocks of 4096 samples hold four frames; their logits cannot be back before the
    // block ends, so they are decided when the next block comes (as a host would call us,
    // with time in between), not given up as misses.
    let settings = ChromaSettings {
        evidence: Evidence::Learned,
        ..ChromaSettings::default()
    };
    let p = progression(44_100.0, &CHORDS, 100.0, 4, false, 9);
    let mut analyzer = ChromaAnalyzer::new(settings);
    analyzer.prepare(44_100.0, 4096, 1);
    let hop = analyzer.hop_samples() as u64;
    let (mut sources, mut frames, mut max_behind) = ([0usize; 3], 0, 0);
    for block in p.samples[..p.samples.len() / 2].chunks(4096) {
        analyzer.process(&[block], |frame, _| {
            frames += 1;
            sources[frame.chord_source as usize] += 1;
            max_behind = max_behind.max((frame.end_sample - frame.chord_end_sample) / hop);
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let model = sources[ChordSource::Model as usize];
    assert!(
        model * 10 >= frames * 8,
        "{model} of {frames} frames decided by the model ({sources:?})"
    );
    assert!(max_behind <= 5, "decisions up to {max_behind} hops late");
    let misses = analyzer.learned_telemetry().snapshot().misses as usize;
    assert!(misses * 10 <= frames, "{misses} misses in {frames} frames");
}
