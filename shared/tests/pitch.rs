//! Accuracy, latency and MIDI behaviour of the pitch tracker on signals with exact f0.

use prism_shared::pitch::notes::{MidiOut, NoteSettings};
use prism_shared::pitch::{semitones, tuner, PitchFrame, PitchSettings, PitchTracker};
use prism_shared::Processor;

const SR: f32 = 44_100.0;

/// Spectrum shapes of the test tones.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Sine,
    /// 1/k amplitudes (sawtooth-like).
    Saw,
    /// Odd harmonics, 1/k (clarinet-like).
    Odd,
    /// 1/k without the fundamental.
    MissingFundamental,
}

/// A tone following the per-sample frequency `f0` (Hz; 0 = silence), phase-continuous, with
/// harmonics up to 0.45·fs, amplitude 0.3.
fn render(f0: &[f64], shape: Shape, sample_rate: f32) -> Vec<f32> {
    let sr = sample_rate as f64;
    let mut phase = 0.0f64;
    f0.iter()
        .map(|&f| {
            if f <= 0.0 {
                return 0.0;
            }
            phase = (phase + f / sr).fract();
            let mut x = 0.0;
            let max_k = ((0.45 * sr / f) as usize).clamp(1, 40);
            for k in 1..=max_k {
                let a = match shape {
                    Shape::Sine if k > 1 => continue,
                    Shape::Odd if k % 2 == 0 => continue,
                    Shape::MissingFundamental if k == 1 => continue,
                    _ => 1.0 / k as f64,
                };
                x += a * (2.0 * std::f64::consts::PI * k as f64 * phase).sin();
            }
            (0.3 * x) as f32
        })
        .collect()
}

fn track(audio: &[f32], sample_rate: f32, block: usize) -> (PitchTracker, Vec<PitchFrame>) {
    let mut tracker = PitchTracker::new(PitchSettings::default());
    tracker.prepare(sample_rate, block, 1);
    let mut frames = Vec::new();
    for chunk in audio.chunks(block) {
        tracker.process(&[chunk], |f, _, _| frames.push(*f));
    }
    (tracker, frames)
}

fn cents(a: f64, b: f64) -> f64 {
    1200.0 * (a / b).log2()
}

#[test]
fn steady_tones_are_measured_within_a_cent_across_the_range() {
    let mut worst: (f64, String) = (0.0, String::new());
    for &freq in &[
        41.2, 55.0, 82.41, 110.0, 196.0, 261.63, 440.0, 659.26, 987.77, 1318.5, 1760.0,
    ] {
        for shape in [Shape::Sine, Shape::Saw, Shape::Odd] {
            let f0 = vec![freq; (0.6 * SR) as usize];
            let audio = render(&f0, shape, SR);
            let (tracker, frames) = track(&audio, SR, 256);
            let settle = (0.15 * SR) as i64 + tracker.frame_samples() as i64;
            let errors: Vec<f64> = frames
                .iter()
                .filter(|f| f.time_sample > settle)
                .map(|f| {
                    assert!(
                        f.voiced,
                        "{freq} Hz {shape:?} unvoiced at {}",
                        f.time_sample
                    );
                    cents(f.frequency_hz as f64, freq)
                })
                .collect();
            assert!(!errors.is_empty());
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            let jitter = (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>()
                / errors.len() as f64)
                .sqrt();
            if mean.abs().max(jitter) > worst.0 {
                worst = (
                    mean.abs().max(jitter),
                    format!("{freq} Hz {shape:?}: bias {mean:.3} jitter {jitter:.3}"),
                );
            }
            assert!(
                mean.abs() <= 1.0 && jitter <= 1.0,
                "{freq} Hz {shape:?}: bias {mean:.3} cents, jitter {jitter:.3} cents"
            );
        }
    }
    eprintln!("worst: {}", worst.1);
}

#[test]
fn the_missing_fundamental_is_heard() {
    for &freq in &[110.0, 220.0, 440.0] {
        let f0 = vec![freq; (0.5 * SR) as usize];
        let audio = render(&f0, Shape::MissingFundamental, SR);
        let (_, frames) = track(&audio, SR, 128);
        let late: Vec<_> = frames
            .iter()
            .filter(|f| f.time_sample > (0.2 * SR) as i64)
            .collect();
        let right = late
            .iter()
            .filter(|f| f.voiced && cents(f.frequency_hz as f64, freq).abs() < 50.0)
            .count();
        assert!(
            right as f64 >= 0.98 * late.len() as f64,
            "{freq}: {right}/{}",
            late.len()
        );
    }
}

/// A melody with leaps (including octaves), rests and vibrato, with exact per-sample f0.
fn melody(sample_rate: f32) -> (Vec<f64>, Vec<(usize, usize, u8)>) {
    let notes: [(u8, f32); 12] = [
        (57, 0.25),
        (64, 0.25),
        (76, 0.20),
        (64, 0.20),
        (45, 0.30),
        (0, 0.15),
        (69, 0.30),
        (81, 0.25),
        (69, 0.25),
        (0, 0.10),
        (40, 0.40),
        (52, 0.30),
    ];
    let mut f0 = vec![0.0; (0.1 * sample_rate) as usize];
    let mut truth = Vec::new();
    for (i, &(note, dur)) in notes.iter().enumerate() {
        let n = (dur * sample_rate) as usize;
        let start = f0.len();
        for s in 0..n {
            if note == 0 {
                f0.push(0.0);
            } else {
                let t = s as f64 / sample_rate as f64;
                let vib = if i % 3 == 0 {
                    0.3 * (2.0 * std::f64::consts::PI * 5.5 * t).sin()
                } else {
                    0.0
                };
                f0.push(440.0 * 2f64.powf((note as f64 + vib - 69.0) / 12.0));
            }
        }
        if note != 0 {
            truth.push((start, start + n, note));
        }
    }
    f0.extend(vec![0.0; (0.2 * sample_rate) as usize]);
    (f0, truth)
}

#[test]
fn a_melody_with_leaps_is_tracked_without_octave_errors() {
    let (f0, _) = melody(SR);
    for shape in [Shape::Saw, Shape::Odd, Shape::Sine] {
        let audio = render(&f0, shape, SR);
        let (_, frames) = track(&audio, SR, 64);
        let (mut voiced_ref, mut correct, mut octave, mut false_alarm, mut unvoiced_ref) =
            (0, 0, 0, 0, 0);
        for f in &frames {
            let t = f.time_sample;
            if t < 0 || t as usize >= f0.len() {
                continue;
            }
            // Skip 30 ms around every change of the reference (transitions).
            let guard = (0.03 * SR) as usize;
            let t = t as usize;
            let lo = t.saturating_sub(guard);
            let hi = (t + guard).min(f0.len() - 1);
            let reference = f0[t];
            let stable = (f0[lo] > 0.0) == (reference > 0.0)
                && (f0[hi] > 0.0) == (reference > 0.0)
                && (reference == 0.0
                    || (cents(f0[lo], reference).abs() < 60.0
                        && cents(f0[hi], reference).abs() < 60.0));
            if !stable {
                continue;
            }
            if reference > 0.0 {
                voiced_ref += 1;
                let c = cents(f.frequency_hz as f64, reference).abs();
                if f.voiced && c < 50.0 {
                    correct += 1;
                }
                if (1100.0..1300.0).contains(&c) {
                    octave += 1;
                }
            } else {
                unvoiced_ref += 1;
                if f.voiced {
                    false_alarm += 1;
                }
            }
        }
        let rpa = correct as f64 / voiced_ref as f64;
        eprintln!(
            "{shape:?}: RPA {rpa:.4}, octave {octave}/{voiced_ref}, false alarm {false_alarm}/{unvoiced_ref}"
        );
        assert!(rpa >= 0.99, "{shape:?}: RPA {rpa}");
        assert_eq!(octave, 0, "{shape:?}");
        assert!(
            false_alarm as f64 <= 0.02 * unvoiced_ref as f64,
            "{shape:?}"
        );
    }
}

#[test]
fn midi_notes_of_a_melody_have_exact_pitches_and_bounded_delay() {
    let (f0, truth) = melody(SR);
    let audio = render(&f0, Shape::Saw, SR);
    let block = 64;
    let mut tracker = PitchTracker::new(PitchSettings::default());
    tracker.set_note_settings(NoteSettings::default());
    tracker.prepare(SR, block, 1);
    let mut ons = Vec::new();
    let mut offs = Vec::new();
    let mut bends = 0;
    for (b, chunk) in audio.chunks(block).enumerate() {
        tracker.process(&[chunk], |_, events, idx| {
            let at = b * block + idx;
            for e in events.iter() {
                match e {
                    MidiOut::NoteOn { key, velocity } => {
                        assert!(velocity > 0.0 && velocity <= 1.0);
                        ons.push((at, key));
                    }
                    MidiOut::NoteOff { key } => offs.push((at, key)),
                    MidiOut::PitchBend { value } => {
                        assert!((-1.0..=1.0).contains(&value));
                        bends += 1;
                    }
                }
            }
        });
    }
    let keys: Vec<u8> = ons.iter().map(|&(_, k)| k).collect();
    let expected: Vec<u8> = truth.iter().map(|&(_, _, n)| n).collect();
    assert_eq!(keys, expected, "note-ons {ons:?}");
    let mut delays: Vec<f64> = ons
        .iter()
        .zip(&truth)
        .map(|(&(at, _), &(start, _, _))| (at as f64 - start as f64) / SR as f64 * 1000.0)
        .collect();
    eprintln!(
        "note-on delays ms: {:?}",
        delays.iter().zip(&keys).collect::<Vec<_>>()
    );
    delays.sort_by(f64::total_cmp);
    assert!(delays[0] > 0.0, "a note-on before its onset");
    // Legato leaps down into the bass wait for a whole window plus the new period
    // (15 ms + 9 ms at 110 Hz) of the new note; the median is the ≤ 30 ms target.
    assert!(
        delays[delays.len() / 2] <= 30.0,
        "note-on delays {delays:?}"
    );
    assert!(*delays.last().unwrap() <= 40.0, "note-on delays {delays:?}");
    assert_eq!(offs.len(), ons.len());
    assert!(bends > 0, "the vibrato notes send pitch bend");
}

#[test]
fn frames_report_the_latency_and_time_grid() {
    let audio = vec![0.0; 44_100];
    let (tracker, frames) = track(&audio, SR, 512);
    let latency = tracker.latency_samples() as i64;
    // The anti-alias FIR (24 samples), then at 22.05 kHz 15 ms / 2 + 2 hops of 64 samples.
    assert_eq!(latency, 24 + 2 * (165 + 128));
    assert!(latency as f32 / SR <= 0.020);
    for w in frames.windows(2) {
        assert_eq!(w[1].end_sample - w[0].end_sample, 128);
    }
    for f in &frames {
        assert_eq!(f.time_sample, f.end_sample as i64 - latency);
        assert!(!f.voiced);
    }
}

#[test]
fn noise_and_silence_are_unvoiced() {
    let mut state = 0x1234_5678u32;
    let noise: Vec<f32> = (0..44_100)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 - 0.5) * 0.5
        })
        .collect();
    let (_, frames) = track(&noise, SR, 256);
    let voiced = frames.iter().filter(|f| f.voiced).count();
    assert!(
        voiced * 50 < frames.len(),
        "{voiced}/{} voiced",
        frames.len()
    );
}

#[test]
fn every_sample_rate_tracks_a4() {
    for sr in [
        8_000.0, 16_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0,
    ] {
        let f0 = vec![440.0; (0.5 * sr) as usize];
        let audio = render(&f0, Shape::Saw, sr);
        let (_, frames) = track(&audio, sr, 512);
        let last = frames.last().unwrap();
        assert!(last.voiced, "{sr}");
        let c = cents(last.frequency_hz as f64, 440.0);
        assert!(c.abs() < 2.0, "{sr} Hz: {c} cents");
    }
}

#[test]
fn reference_pitch_moves_the_tuner_and_the_notes() {
    let f0 = vec![415.0; 22_050];
    let audio = render(&f0, Shape::Saw, SR);
    let mut tracker = PitchTracker::new(PitchSettings {
        reference_hz: 415.0,
        ..PitchSettings::default()
    });
    tracker.prepare(SR, 512, 1);
    let mut keys = Vec::new();
    let mut last = PitchFrame::default();
    for chunk in audio.chunks(512) {
        tracker.process(&[chunk], |f, ev, _| {
            last = *f;
            for e in ev.iter() {
                if let MidiOut::NoteOn { key, .. } = e {
                    keys.push(key);
                }
            }
        });
    }
    assert_eq!(keys, vec![69]);
    let (note, c) = tuner(last.frequency_hz, 415.0).unwrap();
    assert_eq!(note, 69);
    assert!(c.abs() < 1.0);
    assert!((semitones(last.frequency_hz, 440.0) - 68.0).abs() < 0.02);
}
