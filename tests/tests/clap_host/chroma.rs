//! Prism Chroma specifics.

use super::*;

fn chroma_param(p: &mut ClapPlugin, name: &str) -> Result<Param> {
    p.param_by_name(name).ok_or_else(|| {
        let names: Vec<String> = p.params().into_iter().map(|x| x.name).collect();
        anyhow!("no parameter named {name:?}; parameters: {names:?}")
    })
}

#[test]
fn chroma_ports_and_params() {
    if prism_tests::isolate::in_parent("chroma_ports_and_params") {
        return;
    }
    let Some(bundle) = chroma_bundle("chroma_ports_and_params") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();

    let ins = p.audio_ports(true);
    let outs = p.audio_ports(false);
    assert_eq!(
        p.main_input_channels(),
        2,
        "default layout should be stereo in: {ins:?}"
    );
    assert_eq!(
        p.main_output_channels(),
        2,
        "default layout should be stereo out: {outs:?}"
    );
    let note_outs = p.note_ports(false);
    assert!(!note_outs.is_empty(), "Chroma has no note output port");
    assert!(
        note_outs[0].supports_clap || note_outs[0].supports_midi,
        "note output port supports no dialect: {note_outs:?}"
    );
    assert_eq!(p.latency(), Some(0), "latency");

    for name in prism_tests::bundles::CHROMA_PARAM_NAMES {
        chroma_param(&mut p, name).unwrap();
    }
    for name in ["Auto Tuning", "Drum Suppression", "Freeze", "MIDI Chords"] {
        let par = chroma_param(&mut p, name).unwrap();
        assert!(
            par.is_stepped,
            "{name} should be a stepped (bool) parameter: {par:?}"
        );
    }
    let vocab = chroma_param(&mut p, "Chord Vocabulary").unwrap();
    assert!(
        vocab.is_stepped,
        "Chord Vocabulary should be stepped (enum): {vocab:?}"
    );
    for name in ["Auto Tuning", "MIDI Chords"] {
        let par = chroma_param(&mut p, name).unwrap();
        assert!(
            (par.default - par.max).abs() < 1e-9,
            "{name} should default to on: {par:?}"
        );
    }
    let freeze = chroma_param(&mut p, "Freeze").unwrap();
    assert!(
        (freeze.default - freeze.min).abs() < 1e-9,
        "Freeze should default to off: {freeze:?}"
    );

    // Reference pitch: default shows as 440 Hz, typing 442 gives 442 Hz.
    let refp = chroma_param(&mut p, "Reference Pitch").unwrap();
    let text = p.param_value_to_text(refp.id, refp.default).unwrap();
    assert!(
        text.contains("440") && text.contains("Hz"),
        "default Reference Pitch shows as {text:?}"
    );
    let v442 = ["442 Hz", "442", "442.0 Hz"]
        .iter()
        .find_map(|t| p.param_text_to_value(refp.id, t))
        .expect("text_to_value(\"442 Hz\") failed");
    let shown = p.param_value_to_text(refp.id, v442).unwrap();
    assert!(shown.contains("442"), "442 Hz round-trips to {shown:?}");
    p.flush_params(&[(refp.id, v442)]).unwrap();
    let now = p.param_value(refp.id).unwrap();
    assert!(
        (now - v442).abs() < 1e-6,
        "after flush Reference Pitch is {now}, wanted {v442}"
    );
    for (lo, hi) in [("415", "415"), ("466", "466")] {
        let v = p.param_text_to_value(refp.id, &format!("{lo} Hz")).unwrap();
        let t = p.param_value_to_text(refp.id, v).unwrap();
        assert!(t.contains(hi), "{lo} Hz shows as {t:?}");
    }
}

/// Feeds `notes` (MIDI numbers) as a harmonic chord for `seconds` (at 48 kHz, 512-sample
/// blocks), checks passthrough, and feeds the output note events into `tracker` (event times
/// relative to the start of this chord).
fn feed_chord(
    p: &mut ClapPlugin,
    notes: &[u8],
    seconds: f64,
    tracker: &mut NoteTracker,
) -> Result<()> {
    let sr = 48_000.0;
    let len = (sr * seconds) as usize;
    let ch = p.main_input_channels();
    let mono = signal::chord(notes, 440.0, sr, len, 0.6);
    let sig = vec![mono; ch];
    let r = p.process_signal(&sig, &block_sizes(len, &[512], 512), Placement::OutOfPlace)?;
    check_passthrough("chord", &sig, &r.audio, 0)?;
    tracker.ons.clear();
    tracker.offs.clear();
    tracker.feed(&r.events);
    Ok(())
}

fn note_diag(t: &NoteTracker) -> String {
    format!(
        "note-ons (sample, key, velocity): {:?}\nnote-offs (sample, key): {:?}\nheld: {:?}",
        t.ons, t.offs, t.held
    )
}

#[test]
fn chroma_sends_chord_notes_for_c_major() {
    if prism_tests::isolate::in_parent("chroma_sends_chord_notes_for_c_major") {
        return;
    }
    let Some(bundle) = chroma_bundle("chroma_sends_chord_notes_for_c_major") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();
    let midi = chroma_param(&mut p, "MIDI Chords").unwrap();
    assert!(
        (p.param_value(midi.id).unwrap() - midi.max).abs() < 1e-9,
        "MIDI Chords is expected to be on by default"
    );
    p.activate(48_000.0, 1, 512).unwrap();
    let mut t = NoteTracker::default();
    let c_major = [60u8, 64, 67];
    feed_chord(&mut p, &c_major, 3.0, &mut t).unwrap();
    let diag = note_diag(&t);
    assert!(
        !t.ons.is_empty(),
        "no note-on on the note output port during 3 s of a C major triad\n{diag}"
    );
    for &(_, key, vel) in &t.ons {
        assert!(
            key < 128 && vel > 0.0 && vel <= 1.0,
            "bad note-on key {key} velocity {vel}\n{diag}"
        );
    }
    let want = pcs(c_major);
    assert_eq!(
        t.held_pitch_classes(),
        want,
        "pitch classes sounding after 3 s of C-E-G\n{diag}"
    );
    eprintln!("C major phase:\n{diag}");
    let last_second = 2 * 48_000;
    let late = pcs(t
        .ons
        .iter()
        .filter(|(time, _, _)| *time >= last_second)
        .map(|x| x.1));
    assert!(
        late.is_subset(&want),
        "wrong notes in the last second: {late:?}\n{diag}"
    );

    // The chord changes to A minor (A C E): the held notes must follow (no stuck notes).
    feed_chord(&mut p, &[57, 60, 64], 3.0, &mut t).unwrap();
    eprintln!("A minor phase:\n{}", note_diag(&t));
    assert_eq!(
        t.held_pitch_classes(),
        pcs([57, 60, 64]),
        "pitch classes sounding after 3 s of C major then 3 s of A minor\n{}",
        note_diag(&t)
    );
}

#[test]
fn chroma_midi_chords_off_sends_no_notes() {
    if prism_tests::isolate::in_parent("chroma_midi_chords_off_sends_no_notes") {
        return;
    }
    let Some(bundle) = chroma_bundle("chroma_midi_chords_off_sends_no_notes") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();
    let midi = chroma_param(&mut p, "MIDI Chords").unwrap();
    p.flush_params(&[(midi.id, midi.min)]).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let mut t = NoteTracker::default();
    feed_chord(&mut p, &[60, 64, 67], 3.0, &mut t).unwrap();
    assert!(
        t.ons.is_empty(),
        "MIDI Chords off, yet note-ons were sent: {:?}",
        t.ons
    );
}

#[test]
fn chroma_recovers_from_non_finite_input() {
    if prism_tests::isolate::in_parent("chroma_recovers_from_non_finite_input") {
        return;
    }
    // After NaN/Inf garbage the analyser must still detect chords (no NaN stuck in its state).
    let Some(bundle) = chroma_bundle("chroma_recovers_from_non_finite_input") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let ch = p.main_input_channels();
    for bad in [f32::NAN, f32::INFINITY, f32::MAX] {
        let block = vec![vec![bad; 512]; ch];
        let r = p.process(&block, &ProcessOptions::default()).unwrap();
        check_passthrough(&format!("{bad} block"), &block, &r.audio, 0).unwrap();
    }
    let mut t = NoteTracker::default();
    feed_chord(&mut p, &[60, 64, 67], 3.0, &mut t).unwrap();
    assert_eq!(
        t.held_pitch_classes(),
        pcs([60, 64, 67]),
        "after non-finite input, C major is no longer detected\n{}",
        note_diag(&t)
    );
}
