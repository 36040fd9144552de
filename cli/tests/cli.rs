//! End-to-end tests of the `prism` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use prism_shared::synth::progression;

fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
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
    let out = prism()
        .args(["chroma", input.to_str().unwrap(), "-o"])
        .arg(dir.path().join("c.csv"))
        .arg("--lab")
        .arg(dir.path().join("c.lab"))
        .arg("--png")
        .arg(dir.path().join("c.png"))
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.path().join("c.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time_s,C,C#,D,D#,E,F,F#,G,G#,A,A#,B,chord,key"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // ≥ 20 frames per second over 9.6 s of music.
    assert!(rows.len() as f32 >= 20.0 * 9.6, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.len() == 15));
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
