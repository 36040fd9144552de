//! Prism Pitch in a CLAP host: a synthetic melody in, exact MIDI notes out (pitches exact,
//! note-ons within the stated latency of the onsets), audio through bit-exact, parameters.

use prism_tests::bundles::{self, BundleKind, PITCH_CLAP_ID, PITCH_NAME};
use prism_tests::clap::{ClapBundle, ClapPlugin, OutEvent, Placement};
use prism_tests::harness::load_with_plugins;
use prism_tests::signal;

fn pitch_bundle(test: &str) -> Option<ClapBundle> {
    let path = bundles::require_named_bundle(BundleKind::Clap, PITCH_NAME, test)?;
    Some(load_with_plugins(&path).unwrap_or_else(|e| panic!("{test}: {e:#}")))
}

/// Notes of the test melody: (MIDI key, seconds); key 0 is a rest. Leaps up and down,
/// an octave, a repeated note after a rest, and a bass note.
const MELODY: [(u8, f64); 10] = [
    (60, 0.30),
    (67, 0.30),
    (64, 0.25),
    (0, 0.12),
    (64, 0.25),
    (76, 0.30),
    (0, 0.15),
    (45, 0.40),
    (57, 0.30),
    (0, 0.30),
];

/// The melody as a mono signal of 1/k harmonic tones with 5 ms attacks and releases, and
/// `(onset sample, key)` for every note.
fn melody(sample_rate: f64) -> (Vec<f32>, Vec<(usize, u8)>) {
    let mut x = vec![0.0f32; (0.1 * sample_rate) as usize];
    let mut onsets = Vec::new();
    for &(key, seconds) in &MELODY {
        let len = (seconds * sample_rate) as usize;
        if key == 0 {
            x.extend(std::iter::repeat_n(0.0, len));
            continue;
        }
        onsets.push((x.len(), key));
        let tone = signal::harmonic_tone(signal::midi_to_hz(key, 440.0), sample_rate, len, 0.5, 12);
        let ramp = (0.005 * sample_rate) as usize;
        for (i, v) in tone.into_iter().enumerate() {
            let env = (i as f32 / ramp as f32).min(1.0) * ((len - i) as f32 / ramp as f32).min(1.0);
            x.push(v * env);
        }
    }
    (x, onsets)
}

/// Note-ons `(sample, key, velocity)`, note-offs `(sample, key)` and pitch-bend count.
type Notes = (Vec<(u32, u8, f64)>, Vec<(u32, u8)>, usize);

fn notes_of(events: &[OutEvent]) -> Notes {
    let mut ons = Vec::new();
    let mut offs = Vec::new();
    let mut bends = 0;
    for e in events {
        if let Some((key, velocity)) = e.as_note_on() {
            ons.push((e.time(), key, velocity));
        } else if let Some(Some(key)) = e.as_note_off() {
            offs.push((e.time(), key));
        } else if let OutEvent::Midi { data, .. } = e {
            if data[0] & 0xF0 == 0xE0 {
                bends += 1;
            }
        }
    }
    (ons, offs, bends)
}

fn play(
    p: &mut ClapPlugin,
    x: &[f32],
    blocks: &[usize],
    placement: Placement,
) -> (Vec<f32>, Notes) {
    let sizes = signal::block_sizes(x.len(), blocks, 4096);
    let stereo = vec![x.to_vec(), x.to_vec()];
    let out = p.process_signal(&stereo, &sizes, placement).unwrap();
    (out.audio[0].clone(), notes_of(&out.events))
}

#[test]
fn pitch_plays_a_melody_and_sends_exact_midi_notes() {
    if prism_tests::isolate::in_parent("pitch_plays_a_melody_and_sends_exact_midi_notes") {
        return;
    }
    let Some(bundle) = pitch_bundle("pitch_plays_a_melody_and_sends_exact_midi_notes") else {
        return;
    };
    for (sr, blocks, placement) in [
        (48_000.0, vec![64usize], Placement::OutOfPlace),
        (44_100.0, vec![512], Placement::InPlace),
        (96_000.0, vec![1, 17, 256, 2027, 64], Placement::OutOfPlace),
    ] {
        let mut p = bundle.instantiate(PITCH_CLAP_ID).unwrap();
        p.activate(sr, 1, 4096).unwrap();
        assert_eq!(p.latency().unwrap_or(0), 0, "audio is not delayed");
        let (x, onsets) = melody(sr);
        let (audio, (ons, offs, bends)) = play(&mut p, &x, &blocks, placement);
        assert_eq!(audio, x, "{sr} Hz: audio must pass through bit-exact");
        let keys: Vec<u8> = ons.iter().map(|o| o.1).collect();
        let want: Vec<u8> = onsets.iter().map(|o| o.1).collect();
        assert_eq!(keys, want, "{sr} Hz, blocks {blocks:?}: note-ons {ons:?}");
        for (&(at, key, velocity), &(onset, _)) in ons.iter().zip(&onsets) {
            let delay_ms = (at as f64 - onset as f64) / sr * 1000.0;
            // The tracker's latency (13.8 ms) + two frames to start a note, + the rise of
            // the new note inside the 15 ms window: ≤ 40 ms even for legato leaps.
            assert!(
                (0.0..=40.0).contains(&delay_ms),
                "{sr} Hz: note {key} on {delay_ms:.1} ms after its onset"
            );
            assert!(velocity > 0.0 && velocity <= 1.0);
        }
        // Every note ends, after its own note-on.
        assert_eq!(offs.len(), ons.len(), "{sr} Hz: note-offs {offs:?}");
        for (on, off) in ons.iter().zip(&offs) {
            assert_eq!(on.1, off.1);
            assert!(off.0 > on.0);
        }
        assert!(bends >= ons.len(), "a pitch bend precedes every note");
    }
}

#[test]
fn pitch_parameters_transpose_and_switch_midi_off() {
    if prism_tests::isolate::in_parent("pitch_parameters_transpose_and_switch_midi_off") {
        return;
    }
    let Some(bundle) = pitch_bundle("pitch_parameters_transpose_and_switch_midi_off") else {
        return;
    };
    let mut p = bundle.instantiate(PITCH_CLAP_ID).unwrap();
    for name in bundles::PITCH_PARAM_NAMES {
        assert!(p.param_by_name(name).is_some(), "no parameter {name}");
    }
    let note_outs = p.note_ports(false);
    assert!(!note_outs.is_empty(), "Pitch has no note output port");
    let transpose = p.param_by_name("Transpose").unwrap();
    // Stepped parameters are step indices on the CLAP side: ask the plugin for "+12".
    let up_octave = p
        .param_text_to_value(transpose.id, "12")
        .expect("Transpose parses \"12\"");
    p.flush_params(&[(transpose.id, up_octave)]).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let (x, onsets) = melody(48_000.0);
    let (_, (ons, _, _)) = play(&mut p, &x, &[256], Placement::OutOfPlace);
    let keys: Vec<u8> = ons.iter().map(|o| o.1).collect();
    let want: Vec<u8> = onsets.iter().map(|o| o.1 + 12).collect();
    assert_eq!(keys, want);

    let mut p = bundle.instantiate(PITCH_CLAP_ID).unwrap();
    let midi = p.param_by_name("MIDI Out").unwrap();
    p.flush_params(&[(midi.id, midi.min)]).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let (audio, (ons, offs, bends)) = play(&mut p, &x, &[256], Placement::OutOfPlace);
    assert_eq!(audio, x);
    assert!(
        ons.is_empty() && offs.is_empty() && bends == 0,
        "MIDI Out off sent events"
    );
}

#[test]
fn pitch_reset_mid_note_releases_it() {
    if prism_tests::isolate::in_parent("pitch_reset_mid_note_releases_it") {
        return;
    }
    let Some(bundle) = pitch_bundle("pitch_reset_mid_note_releases_it") else {
        return;
    };
    let mut p = bundle.instantiate(PITCH_CLAP_ID).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let tone = signal::harmonic_tone(220.0, 48_000.0, 48_000 / 4, 0.5, 8);
    let (_, (ons, offs, _)) = play(&mut p, &tone, &[512], Placement::OutOfPlace);
    assert_eq!(ons.len(), 1);
    assert!(offs.is_empty(), "the note is still sounding");
    p.reset().unwrap();
    let silence = vec![0.0f32; 512];
    let (_, (ons, offs, _)) = play(&mut p, &silence, &[512], Placement::OutOfPlace);
    assert!(ons.is_empty());
    assert_eq!(
        offs,
        vec![(0, 57)],
        "reset must release the held note at once"
    );
}

/// The RPN 0 (pitch-bend sensitivity) messages of `events`: `(sample, semitones)` for every
/// complete CC 101 = 0, CC 100 = 0, CC 6 = semitones, CC 38 = 0 run, which must be followed
/// by the null RPN (CC 101 = 127, CC 100 = 127).
fn bend_range_announcements(events: &[OutEvent]) -> Vec<(u32, u8)> {
    let ccs: Vec<(u32, u8, u8)> = events
        .iter()
        .filter_map(|e| match *e {
            OutEvent::Midi { time, data, .. } if data[0] & 0xF0 == 0xB0 => {
                Some((time, data[1], data[2]))
            }
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for w in ccs.windows(6) {
        let pattern: Vec<(u8, u8)> = w.iter().map(|&(_, cc, v)| (cc, v)).collect();
        if pattern[0] == (101, 0) && pattern[1] == (100, 0) && pattern[3] == (38, 0) {
            assert_eq!(pattern[2].0, 6, "RPN 0 without data entry: {pattern:?}");
            assert_eq!(
                &pattern[4..],
                &[(101, 127), (100, 127)],
                "no null RPN after RPN 0"
            );
            assert!(
                w.iter().all(|c| c.0 == w[0].0),
                "RPN split over samples: {w:?}"
            );
            out.push((w[0].0, pattern[2].1));
        }
    }
    out
}

#[test]
fn pitch_sends_the_bend_range_before_its_first_note_and_when_it_changes() {
    const TEST: &str = "pitch_sends_the_bend_range_before_its_first_note_and_when_it_changes";
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    let Some(bundle) = pitch_bundle(TEST) else {
        return;
    };
    let mut p = bundle.instantiate(PITCH_CLAP_ID).unwrap();
    let bend = p.param_by_name("Bend Range").unwrap();
    let twelve = p
        .param_text_to_value(bend.id, "12")
        .expect("Bend Range parses \"12\"");
    p.activate(48_000.0, 1, 512).unwrap();
    let (x, _) = melody(48_000.0);
    let half = x.len() / 2;
    let stereo = |a: usize, b: usize| vec![x[a..b].to_vec(), x[a..b].to_vec()];
    let first = p
        .process_signal(
            &stereo(0, half),
            &signal::block_sizes(half, &[256], 512),
            Placement::OutOfPlace,
        )
        .unwrap();
    let announced = bend_range_announcements(&first.events);
    assert_eq!(
        announced,
        [(0, 2)],
        "the default range (2) once, at the start"
    );
    let first_note = first
        .events
        .iter()
        .find_map(|e| e.as_note_on().map(|_| e.time()));
    let rpn_index = first
        .events
        .iter()
        .position(|e| matches!(e, OutEvent::Midi { data, .. } if data[0] & 0xF0 == 0xB0));
    let note_index = first.events.iter().position(|e| e.as_note_on().is_some());
    assert!(first_note.is_some(), "the first half has notes");
    assert!(rpn_index < note_index, "RPN 0 comes before the first note");

    // The range changes mid-stream (an automation event at the block's first sample): the
    // new range goes out at once, in that block, before any later note.
    let block = stereo(half, half + 256);
    let change = prism_tests::clap::ProcessOptions {
        placement: Placement::OutOfPlace,
        events: vec![prism_tests::clap::InEvent::ParamValue {
            time: 0,
            id: bend.id,
            value: twelve,
        }],
    };
    let r = p.process(&block, &change).unwrap();
    assert_eq!(bend_range_announcements(&r.events), [(0, 12)]);
    let rest = x.len() - half - 256;
    let later = p
        .process_signal(
            &stereo(half + 256, x.len()),
            &signal::block_sizes(rest, &[256], 512),
            Placement::OutOfPlace,
        )
        .unwrap();
    assert!(
        bend_range_announcements(&later.events).is_empty(),
        "sent once per change"
    );
}
