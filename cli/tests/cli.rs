//! End-to-end tests of the `prism` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use prism_shared::synth::progression;

fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
}

/// Runs `command`, asserting that it succeeded (its stderr in the message).
fn succeed(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_wav(path: &Path, sample_rate: u32, channels: &[&[f32]]) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..channels[0].len() {
        for ch in channels {
            w.write_sample((ch[i].clamp(-1.0, 1.0) * 32767.0) as i16)
                .unwrap();
        }
    }
    w.finalize().unwrap();
}

fn song(dir: &Path) -> PathBuf {
    // C G Am F at 100 bpm, 2.4 s each, stereo.
    let p = progression(44_100.0, &[1, 8, 22, 6], 100.0, 4, false, 1);
    let right: Vec<f32> = p.samples.iter().map(|x| 0.7 * x).collect();
    let path = dir.join("song.wav");
    write_wav(&path, 44_100, &[&p.samples, &right]);
    path
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn chroma_writes_csv_lab_and_png_with_the_documented_formats() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    succeed(
        prism()
            .args(["chroma", input.to_str().unwrap(), "-o"])
            .arg(dir.path().join("c.csv"))
            .arg("--lab")
            .arg(dir.path().join("c.lab"))
            .arg("--png")
            .arg(dir.path().join("c.png"))
            .arg("-q"),
    );
    let csv = std::fs::read_to_string(dir.path().join("c.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time_s,C,C#,D,D#,E,F,F#,G,G#,A,A#,B,chord,key,chord_time_s"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // ≥ 20 frames per second over 9.6 s of music.
    assert!(rows.len() as f32 >= 20.0 * 9.6, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.len() == 16));
    // Without look-ahead the learned layer's decision is for the frame one hop (1024
    // samples) before the one it arrives with.
    assert!(rows.iter().all(|r| {
        let (t, c): (f64, f64) = (r[0].parse().unwrap(), r[15].parse().unwrap());
        (t - c - 1024.0 / 44_100.0).abs() < 1e-5
    }));
    let middle_of_g = rows
        .iter()
        .find(|r| r[0].parse::<f32>().unwrap() > 3.6)
        .unwrap();
    assert_eq!(middle_of_g[13], "G:maj");
    assert!(
        rows.last().unwrap()[14].ends_with(":maj") || rows.last().unwrap()[14].ends_with(":min")
    );

    let lab = std::fs::read_to_string(dir.path().join("c.lab")).unwrap();
    let labels: Vec<&str> = lab
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    let chords: Vec<&str> = labels.iter().copied().filter(|l| *l != "N").collect();
    assert_eq!(chords, ["C:maj", "G:maj", "A:min", "F:maj"], "lab: {lab}");
    let first: Vec<f64> = lab
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(first[0], 0.0);

    let png = std::fs::read(dir.path().join("c.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(
        files_in(dir.path()),
        ["c.csv", "c.lab", "c.png", "song.wav"],
        "no temporary files left"
    );
}

#[test]
fn csv_goes_to_stdout_without_output_flag_and_block_size_does_not_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let run = |block: &str| {
        let out = prism()
            .args(["chroma", input.to_str().unwrap(), "--block", block, "-q"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let a = run("512");
    assert!(a.starts_with("time_s,C,"));
    assert_eq!(a, run("1"));
    assert_eq!(a, run("4099"));
}

#[test]
fn unreadable_input_gives_one_line_error_nonzero_exit_and_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("noise.wav");
    std::fs::write(&garbage, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    for input in [garbage.clone(), dir.path().join("missing.flac")] {
        let out = prism()
            .args(["chroma", input.to_str().unwrap(), "-o"])
            .arg(dir.path().join("out.csv"))
            .arg("--lab")
            .arg(dir.path().join("out.lab"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
        assert!(stderr.starts_with("prism: error:"), "{stderr}");
        assert_eq!(files_in(dir.path()), ["noise.wav"]);
    }
}

#[test]
fn invalid_block_size_is_rejected() {
    let out = prism()
        .args(["chroma", "x.wav", "--block", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = prism()
        .args(["chroma", "x.wav", "--block", "16385"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn demo_writes_every_output_without_any_input_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("demo");
    let out = prism().args(["demo", "-o"]).arg(&target).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        files_in(&target),
        [
            "chords.lab",
            "chroma.csv",
            "chroma.png",
            "demo.wav",
            "harmonic.wav",
            "hpss.png",
            "percussive.wav",
            "truth.lab"
        ]
    );
}

/// `prism split <input> -o <out>`, more arguments to add.
fn split(input: &Path, out: &Path) -> Command {
    let mut c = prism();
    c.args([
        "split",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    c
}

fn read_wav(path: &Path) -> (u32, Vec<Vec<f32>>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.unwrap()).collect(),
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| s.unwrap() as f32 / (1u32 << (spec.bits_per_sample - 1)) as f32)
            .collect(),
    };
    let nc = spec.channels as usize;
    let chans = (0..nc)
        .map(|c| samples.iter().skip(c).step_by(nc).copied().collect())
        .collect();
    (spec.sample_rate, chans)
}

#[test]
fn split_writes_aligned_stems_that_sum_to_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let (_, x) = read_wav(&input);
    for mode in ["neural", "hpss"] {
        let out = dir.path().join(format!("stems-{mode}"));
        let png = dir.path().join(format!("masks-{mode}.png"));
        let status = split(&input, &out)
            .args(["--mode", mode, "--png", png.to_str().unwrap(), "-q"])
            .status()
            .unwrap();
        assert!(status.success(), "{mode}");
        assert_eq!(
            files_in(&out),
            ["bass.wav", "drums.wav", "other.wav"],
            "{mode}"
        );
        assert!(
            std::fs::metadata(&png).unwrap().len() > 10_000,
            "{mode}: PNG"
        );
        let stems: Vec<Vec<Vec<f32>>> = ["drums", "bass", "other"]
            .iter()
            .map(|s| {
                let (sr, c) = read_wav(&out.join(format!("{s}.wav")));
                assert_eq!(sr, 44_100);
                c
            })
            .collect();
        let mut worst = 0.0f32;
        for ch in 0..2 {
            assert_eq!(
                stems[0][ch].len(),
                x[ch].len(),
                "{mode}: same length as the input"
            );
            for i in 0..x[ch].len() {
                let sum: f32 = stems.iter().map(|s| s[ch][i]).sum();
                worst = worst.max((sum - x[ch][i]).abs());
            }
        }
        // Sample-aligned with the input (latency compensated), exactly reconstructing it.
        assert!(
            worst < 1e-4,
            "{mode}: stems sum to the input within {worst}"
        );
    }
}

#[test]
fn split_block_size_does_not_change_the_stems() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let mut results = Vec::new();
    for block in ["64", "1000"] {
        let out = dir.path().join(format!("b{block}"));
        let status = split(&input, &out)
            .args(["--stems", "drums", "--block", block, "-q"])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(files_in(&out), ["drums.wav"]);
        results.push(read_wav(&out.join("drums.wav")).1);
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn split_rejects_bad_models_and_stems_cleanly_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, b"not a model").unwrap();
    let out = dir.path().join("stems");
    for extra in [
        vec!["--model", bad.to_str().unwrap()],
        vec!["--model", "/nonexistent/model.onnx"],
        vec!["--stems", "vocals"],
    ] {
        let o = split(&input, &out).args(&extra).output().unwrap();
        assert!(!o.status.success(), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: one line: {err}");
        assert!(err.starts_with("prism: error:"), "{err}");
        assert!(
            !out.exists() || files_in(&out).is_empty(),
            "{extra:?}: no partial files"
        );
    }
}

/// A monophonic melody (A3 E4 A4, 1/k harmonics, 0.35 s each, 0.15 s rests), with the
/// onset sample of every note.
fn melody_wav(dir: &Path) -> (PathBuf, Vec<(usize, u8)>) {
    let sr = 44_100usize;
    let mut x = vec![0.0f32; sr / 10];
    let mut onsets = Vec::new();
    for key in [57u8, 64, 69] {
        onsets.push((x.len(), key));
        let f = 440.0 * 2f64.powf((key as f64 - 69.0) / 12.0);
        let n = (0.35 * sr as f64) as usize;
        for i in 0..n {
            let t = i as f64 / sr as f64;
            let env = (i as f64 / 200.0).min(1.0) * ((n - i) as f64 / 400.0).min(1.0);
            let y: f64 = (1..=12)
                .map(|k| (2.0 * std::f64::consts::PI * f * k as f64 * t).sin() / k as f64)
                .sum();
            x.push((0.3 * env * y) as f32);
        }
        x.extend(std::iter::repeat_n(0.0, (0.15 * sr as f64) as usize));
    }
    let path = dir.join("melody.wav");
    write_wav(&path, sr as u32, &[&x]);
    (path, onsets)
}

#[test]
fn pitch_writes_csv_midi_and_png_with_the_documented_formats() {
    let dir = tempfile::tempdir().unwrap();
    let (input, onsets) = melody_wav(dir.path());
    let (csv, mid, png) = (
        dir.path().join("f0.csv"),
        dir.path().join("notes.mid"),
        dir.path().join("pitch.png"),
    );
    succeed(
        prism()
            .args(["pitch", input.to_str().unwrap(), "-q", "-o"])
            .arg(&csv)
            .arg("--midi")
            .arg(&mid)
            .arg("--png")
            .arg(&png),
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_s,frequency_hz,confidence,voiced"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    // One row per 128-sample hop.
    let hop = rows[1][0] - rows[0][0];
    assert!((hop - 128.0 / 44_100.0).abs() < 2e-6, "hop {hop}");
    // Inside each note (compensated times), voiced and within 5 cents.
    for &(onset, key) in &onsets {
        let f = 440.0 * 2f64.powf((key as f64 - 69.0) / 12.0);
        let (from, to) = (
            onset as f64 / 44_100.0 + 0.05,
            onset as f64 / 44_100.0 + 0.30,
        );
        let inside: Vec<_> = rows.iter().filter(|r| r[0] > from && r[0] < to).collect();
        assert!(!inside.is_empty());
        for r in inside {
            assert_eq!(r[3], 1.0, "unvoiced at {} s", r[0]);
            assert!(
                (1200.0 * (r[1] / f).log2()).abs() < 5.0,
                "{} Hz at {} s",
                r[1],
                r[0]
            );
            assert!((0.0..=1.0).contains(&r[2]));
        }
    }
    // The MIDI file: three notes, right keys, note-ons after the onsets by < 30 ms.
    let bytes = std::fs::read(&mid).unwrap();
    let smf = midly::Smf::parse(&bytes).unwrap();
    let midly::Timing::Metrical(tpb) = smf.header.timing else {
        panic!("timing")
    };
    let ticks_per_s = tpb.as_int() as f64 * 2.0; // 120 bpm
    let mut tick = 0u64;
    let mut ons = Vec::new();
    let mut bends = 0;
    for ev in &smf.tracks[0] {
        tick += ev.delta.as_int() as u64;
        if let midly::TrackEventKind::Midi { message, .. } = ev.kind {
            match message {
                midly::MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                    ons.push((tick as f64 / ticks_per_s, key.as_int()))
                }
                midly::MidiMessage::PitchBend { .. } => bends += 1,
                _ => {}
            }
        }
    }
    assert_eq!(ons.iter().map(|o| o.1).collect::<Vec<_>>(), [57, 64, 69]);
    for (&(at, _), &(onset, _)) in ons.iter().zip(&onsets) {
        let delay = at - onset as f64 / 44_100.0;
        assert!((0.0..0.030).contains(&delay), "note-on delay {delay}");
    }
    assert!(bends >= 3, "a bend precedes every note");
    let png_bytes = std::fs::read(&png).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");
}

#[test]
fn pitch_block_size_does_not_change_the_output_and_raw_times_shift_by_the_latency() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = melody_wav(dir.path());
    let run = |extra: &[&str]| {
        let out = prism()
            .args(["pitch", input.to_str().unwrap(), "-q"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let a = run(&["--block", "64"]);
    assert_eq!(a, run(&["--block", "4096"]));
    assert_eq!(a, run(&["--block", "1"]));
    let raw = run(&["--raw-times"]);
    let t = |s: &str| -> f64 {
        s.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    // FIR delay 24 + (15 ms window / 2 + 2 hops) at 22.05 kHz × 2 = 610 samples.
    assert!(((t(&raw) - t(&a)) - 610.0 / 44_100.0).abs() < 2e-6);
}

#[test]
fn pitch_rejects_bad_settings_and_inputs_cleanly_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let (input, _) = melody_wav(dir.path());
    let garbage = dir.path().join("junk.wav");
    std::fs::write(&garbage, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    for args in [
        vec![input.to_str().unwrap(), "--fmin", "10"],
        vec![input.to_str().unwrap(), "--fmin", "500", "--fmax", "600"],
        vec![input.to_str().unwrap(), "--reference-hz", "500"],
        vec![input.to_str().unwrap(), "--bend-range", "0"],
        vec![garbage.to_str().unwrap()],
    ] {
        let out = prism()
            .arg("pitch")
            .args(&args)
            .arg("-o")
            .arg(dir.path().join("f0.csv"))
            .arg("--midi")
            .arg(dir.path().join("n.mid"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("prism: error:"), "{args:?}: {stderr}");
        assert_eq!(files_in(dir.path()), ["junk.wav", "melody.wav"], "{args:?}");
    }
}

#[test]
fn chroma_features_writes_the_nnls_evidence_as_npy_one_row_per_csv_frame() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let (csv, npy) = (dir.path().join("c.csv"), dir.path().join("f.npy"));
    let refused = prism()
        .args(["chroma", input.to_str().unwrap(), "-q", "--features"])
        .arg(&npy)
        .args(["--evidence", "filterbank"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--evidence nnls"));
    assert!(!npy.exists());

    succeed(
        prism()
            .args([
                "chroma",
                input.to_str().unwrap(),
                "-q",
                "--evidence",
                "nnls",
            ])
            .arg("-o")
            .arg(&csv)
            .arg("--features")
            .arg(&npy),
    );
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!(
        (10 + header_len) % 64,
        0,
        "npy data must be 64-byte aligned"
    );
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    let times: Vec<f64> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        header.contains(&format!("'shape': ({}, 111)", times.len())),
        "{header}"
    );
    let data: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data.len(), times.len() * 111);
    for (row, t) in data.chunks_exact(111).zip(&times) {
        assert!(
            (row[0] as f64 - t).abs() < 1e-4,
            "row time {} vs csv {t}",
            row[0]
        );
        assert!(row.iter().all(|v| v.is_finite()));
    }
    // One second into the first chord (C major): the bass is C, the treble holds C, E, G.
    let frame = times.iter().position(|&t| t >= 1.0).unwrap();
    let row = &data[frame * 111..(frame + 1) * 111];
    let argmax = |v: &[f32]| (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b });
    assert_eq!(argmax(&row[3..15]), 0, "bass chroma {:?}", &row[3..15]);
    let treble = &row[15..27];
    let mut top: Vec<usize> = (0..12).collect();
    top.sort_by(|a, b| treble[*b].total_cmp(&treble[*a]));
    let mut triad = top[..3].to_vec();
    triad.sort();
    assert_eq!(triad, vec![0, 4, 7], "treble chroma {treble:?}");
}

#[test]
fn chroma_learned_decides_with_the_model_one_hop_later_and_the_same_in_any_block_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let run = |block: &str, name: &str| {
        let csv = dir.path().join(format!("{name}.csv"));
        let lab = dir.path().join(format!("{name}.lab"));
        succeed(
            prism()
                .args([
                    "chroma",
                    input.to_str().unwrap(),
                    "-q",
                    "--evidence",
                    "learned",
                ])
                .args(["--block", block, "-o"])
                .arg(&csv)
                .arg("--lab")
                .arg(&lab),
        );
        (
            std::fs::read_to_string(csv).unwrap(),
            std::fs::read_to_string(lab).unwrap(),
        )
    };
    let (csv, lab) = run("512", "a");
    let labels: Vec<&str> = lab
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .filter(|l| *l != "N")
        .collect();
    assert_eq!(labels, ["C:maj", "G:maj", "A:min", "F:maj"], "lab: {lab}");
    // Each decision is for the frame one hop (1024 samples at 44.1 kHz) before the row's.
    let hop = 1024.0 / 44_100.0;
    for row in csv.lines().skip(1) {
        let r: Vec<&str> = row.split(',').collect();
        let (time, chord_time): (f64, f64) = (r[0].parse().unwrap(), r[15].parse().unwrap());
        assert!(
            (time - chord_time - hop).abs() < 1e-5 || chord_time == 0.0,
            "row {row}"
        );
    }
    // The render waits for the worker: any block size gives the same file.
    for block in ["1", "4096"] {
        assert_eq!(run(block, block).0, csv, "block {block}");
    }
}

#[test]
fn chroma_chord_model_refuses_a_bad_file_with_the_reason_and_runs_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = song(dir.path());
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"not a model at all").unwrap();
    let run = |model: &Path, evidence: &str| {
        prism()
            .args([
                "chroma",
                input.to_str().unwrap(),
                "-q",
                "--evidence",
                evidence,
            ])
            .arg("--chord-model")
            .arg(model)
            .arg("-o")
            .arg(dir.path().join("c.csv"))
            .output()
            .unwrap()
    };
    let out = run(&bad, "learned");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a usable chord model") && err.contains("bad magic"),
        "{err}"
    );
    assert!(!dir.path().join("c.csv").exists(), "nothing written");
    // The shipped model, given as a file, runs; without the learned evidence it is refused.
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models/chord/prism-chord-v1.bin");
    assert!(run(&shipped, "learned").status.success());
    let out = run(&shipped, "nnls");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--evidence learned"));
}
