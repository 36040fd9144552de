//! One code path: the `prism chroma` CLI and the Prism Chroma CLAP plugin stream the same
//! `prism_shared::ChromaAnalyzer`, so on the same audio, cut into the same blocks (512 and 441
//! samples), they must decide the same chords at the same samples.
//!
//! The test renders a deterministic stereo chord progression (C, G, A:min, F, 2.4 s each, at
//! 44.1 kHz) into a 32-bit float WAV (read back bit-exactly by the CLI) and
//!
//! * runs `prism chroma <wav> --lab <lab> --block <n> -q`, whose `.lab` lists `start end label`
//!   segments: the first starts at 0 with `N`, every later one at `end_sample / sr` of the
//!   frame in which its chord was first decided (`cli/src/chroma_cmd.rs`, `segments`);
//! * loads `Prism Chroma.clap`, activates it at 44.1 kHz (max block 512) with default
//!   parameters (MIDI Chords on), processes the same samples in the same blocks and collects
//!   the note events with absolute sample times. At every chord change the plugin releases the
//!   old chord's notes and starts the new chord's (`chord_midi_notes`: root in MIDI octave 3),
//!   both at the block offset of the deciding frame's last sample (`plugins/chroma/src/lib.rs`);
//!   a change to `N` only releases notes.
//!
//! Timing: `ChromaAnalyzer::process` (`shared/src/analyzer.rs`) hands the callback
//! `sample_idx`, the index within the block of the frame's last sample, and stamps the frame
//! with `end_sample = samples_seen + sample_idx + 1`. The plugin's event time is `sample_idx`,
//! which the host rebases to `block_start + sample_idx`; `block_start == samples_seen`
//! because nice-plug calls `reset()` (which zeroes `samples_seen`) in `start_processing`,
//! before the first block. So for every chord change:
//! `plugin_sample + 1 == end_sample == round(cli_start_s * 44100) + lag` (the `.lab` has 6
//! decimals, 0.02 samples at 44.1 kHz), `lag` the samples by which a decision follows the frame
//! it is for (the CSV's `time_s − chord_time_s`: one hop with the learned chord layer, the
//! default; 0 with the template recogniser).
//!
//! The CLI also writes `--midi`: its messages (status and data bytes, one tick per sample)
//! must equal the plugin's note events, message for message and sample for sample.
//!
//! Asserted: the same sequence of chord changes (labels, including any change to `N`) at
//! exactly those samples, and that the plugin's note-offs at each change release exactly the
//! notes it held. CLI binary: `$PRISM_BIN_DIR/prism`, else `<target dir>/debug/prism`; a
//! missing binary is a failure with build instructions. `PRISM_SKIP_HOST_TESTS=1` skips.

use anyhow::{bail, ensure, Context, Result};
use prism_shared::chord::{chord_label, chord_midi_notes, NO_CHORD, NUM_CHORDS};
use prism_tests::bundles::CHROMA_CLAP_ID;
use prism_tests::clap::{ClapBundle, OutEvent, Placement};
use prism_tests::cli_binary;
use prism_tests::harness::chroma_bundle;
use prism_tests::signal::{self, block_sizes, write_wav_f32};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

const TEST_NAME: &str = "cli_and_plugin_decide_the_same_chords_at_the_same_samples";
const SAMPLE_RATE: u32 = 44_100;
/// The host's maximum block size (the plugin is activated with it).
const MAX_BLOCK: usize = 512;
/// Block sizes the audio is streamed in, by the CLI (`--block`) and the host alike. With 512
/// every frame (hop 1024) ends on a block's last sample; 441 does not divide the hop, so
/// frames end anywhere inside a block and the events' in-block offsets are checked too.
const BLOCKS: [usize; 2] = [512, 441];
const CHORD_SECONDS: f64 = 2.4;

/// One chord change: the stream position just after the deciding frame's last sample (the
/// analyser's `end_sample`) and the chord index decided there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    end_sample: u64,
    chord: usize,
}

fn describe(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{:>8} ({:>9.6} s) {}",
                c.end_sample,
                c.end_sample as f64 / f64::from(SAMPLE_RATE),
                chord_label(c.chord)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// C, G, A:min, F: the left channel in close position around C4, the right an octave lower
/// with a little deterministic noise, so the analyser's channel averaging is exercised.
fn progression() -> Vec<Vec<f32>> {
    let sr = f64::from(SAMPLE_RATE);
    let len = (CHORD_SECONDS * sr).round() as usize;
    let chords: [[u8; 3]; 4] = [[60, 64, 67], [55, 59, 62], [57, 60, 64], [53, 57, 60]];
    let mut left = Vec::with_capacity(len * chords.len());
    let mut right = Vec::with_capacity(len * chords.len());
    for notes in chords {
        left.extend(signal::chord(&notes, 440.0, sr, len, 0.5));
        let lower: Vec<u8> = notes.iter().map(|n| n - 12).collect();
        right.extend(signal::chord(&lower, 440.0, sr, len, 0.4));
    }
    let noise = signal::white_noise(0x5EED, right.len(), 0.003);
    for (r, n) in right.iter_mut().zip(noise) {
        *r += n;
    }
    vec![left, right]
}

/// Runs the CLI and returns the `.lab` text (and writes the chord MIDI to `midi`).
/// Runs the CLI; returns its `.lab` and the decision lag in samples: how far each decision
/// comes after the frame it is for (its CSV's `time_s − chord_time_s`: the learned layer's
/// hop, 0 for the template recogniser), the same for every frame.
fn run_cli(bin: &Path, wav: &Path, lab: &Path, midi: &Path, block: usize) -> Result<(String, u64)> {
    let csv = lab.with_extension("csv");
    let output = Command::new(bin)
        .arg("chroma")
        .arg(wav)
        .arg("-o")
        .arg(&csv)
        .arg("--lab")
        .arg(lab)
        .arg("--midi")
        .arg(midi)
        .args(["--block", &block.to_string(), "-q"])
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    ensure!(
        output.status.success(),
        "{} chroma failed ({}):\n{}",
        bin.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let sr = f64::from(SAMPLE_RATE);
    let mut lags = std::collections::BTreeSet::new();
    let text =
        std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
    for row in text.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let (time, chord_time): (f64, f64) = (f[0].parse()?, f[f.len() - 1].parse()?);
        lags.insert(((time - chord_time) * sr).round() as u64);
    }
    ensure!(
        lags.len() == 1,
        "the CSV's decision lag varies: {lags:?} samples"
    );
    let lab = std::fs::read_to_string(lab).with_context(|| format!("reading {}", lab.display()))?;
    Ok((lab, lags.into_iter().next().unwrap_or(0)))
}

/// The chord changes of a CLI `.lab`: every segment after the first, which must be `N` from 0.
/// Also checks the segments are contiguous and cover `duration_samples`.
fn lab_changes(lab: &str, duration_samples: u64) -> Result<Vec<Change>> {
    let by_label: HashMap<String, usize> = (0..NUM_CHORDS)
        .map(|idx| (chord_label(idx).to_string(), idx))
        .collect();
    let sr = f64::from(SAMPLE_RATE);
    let to_sample = |s: &str| -> Result<u64> {
        let t: f64 = s.parse().with_context(|| format!("bad time {s:?}"))?;
        ensure!(t >= 0.0, "negative time {s:?}");
        Ok((t * sr).round() as u64)
    };
    let mut segments = Vec::new();
    for (n, line) in lab
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            fields.len() == 3,
            "lab line {}: expected `start end label`, got {line:?}",
            n + 1
        );
        let chord = *by_label
            .get(fields[2])
            .with_context(|| format!("lab line {}: unknown chord label {:?}", n + 1, fields[2]))?;
        segments.push((to_sample(fields[0])?, to_sample(fields[1])?, chord));
    }
    let Some(&(first_start, _, first_chord)) = segments.first() else {
        bail!("the .lab is empty");
    };
    ensure!(
        first_start == 0 && first_chord == NO_CHORD,
        "the first .lab segment must be N from 0, got {:?}",
        segments[0]
    );
    for pair in segments.windows(2) {
        ensure!(
            pair[0].1 == pair[1].0 && pair[0].2 != pair[1].2,
            ".lab segments are not contiguous changes: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let last_end = segments.last().map_or(0, |s| s.1);
    ensure!(
        last_end == duration_samples,
        "the .lab ends at sample {last_end}, the audio at {duration_samples}"
    );
    Ok(segments[1..]
        .iter()
        .map(|&(start, _, chord)| Change {
            end_sample: start,
            chord,
        })
        .collect())
}

/// Reconstructs the plugin's chord changes from its note events (absolute sample times).
/// At each event time the notes turned off must be exactly the notes held; the notes turned
/// on are the new chord (`N` if none).
fn plugin_changes(events: &[OutEvent]) -> Result<Vec<Change>> {
    let by_notes: HashMap<Vec<u8>, usize> = (1..NUM_CHORDS)
        .map(|idx| {
            let mut notes = [0u8; 4];
            let count = chord_midi_notes(idx, &mut notes);
            let mut notes = notes[..count].to_vec();
            notes.sort_unstable();
            (notes, idx)
        })
        .collect();
    ensure!(
        by_notes.len() == NUM_CHORDS - 1,
        "chord_midi_notes maps two chords to the same notes"
    );

    // (time, notes off, notes on), in stream order.
    let mut groups: Vec<(u32, BTreeSet<u8>, Vec<u8>)> = Vec::new();
    for e in events {
        let on = e.as_note_on().map(|(key, _)| key);
        let off = e.as_note_off();
        if on.is_none() && off.is_none() {
            continue;
        }
        let time = e.time();
        let starts_group = match groups.last() {
            Some(g) if g.0 == time => false,
            Some(g) => {
                ensure!(
                    g.0 < time,
                    "note events out of order: sample {time} after {}",
                    g.0
                );
                true
            }
            None => true,
        };
        if starts_group {
            groups.push((time, BTreeSet::new(), Vec::new()));
        }
        let group = groups.last_mut().expect("pushed above");
        match (on, off) {
            (Some(key), _) => group.2.push(key),
            (None, Some(Some(key))) => {
                ensure!(
                    group.2.is_empty(),
                    "note-off of {key} after a note-on at sample {time}"
                );
                group.1.insert(key);
            }
            (None, Some(None)) => bail!("wildcard note-off at sample {time}"),
            (None, None) => unreachable!(),
        }
    }

    let mut held: BTreeSet<u8> = BTreeSet::new();
    let mut chord = NO_CHORD;
    let mut changes = Vec::new();
    for (time, offs, mut ons) in groups {
        ensure!(
            offs == held,
            "at sample {time} the plugin released {offs:?} but held {held:?} ({})",
            chord_label(chord)
        );
        ons.sort_unstable();
        let new_chord = if ons.is_empty() {
            NO_CHORD
        } else {
            *by_notes
                .get(&ons)
                .with_context(|| format!("note-ons {ons:?} at sample {time} are no chord"))?
        };
        ensure!(
            new_chord != chord,
            "note events at sample {time} without a chord change ({})",
            chord_label(chord)
        );
        chord = new_chord;
        held = ons.into_iter().collect();
        changes.push(Change {
            // The event sits on the frame's last sample; the analyser's end_sample is one past.
            end_sample: u64::from(time) + 1,
            chord,
        });
    }
    Ok(changes)
}

/// Removes the scratch folder when the test ends.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the CLI and the plugin over `audio` (also in `wav`) in blocks of `block` samples and
/// compares their chord changes.
fn compare(
    bundle: &ClapBundle,
    bin: &Path,
    audio: &[Vec<f32>],
    wav: &Path,
    block: usize,
) -> Result<()> {
    let len = audio[0].len();

    // The CLI.
    let lab_path = wav.with_file_name(format!("block-{block}.lab"));
    let midi_path = wav.with_file_name(format!("block-{block}.mid"));
    let (lab, lag) = run_cli(bin, wav, &lab_path, &midi_path, block)?;
    let mut cli = lab_changes(&lab, len as u64).with_context(|| format!("the .lab:\n{lab}"))?;
    // The .lab stamps each chord at the frame it is for; the plugin sends it when decided.
    for change in &mut cli {
        change.end_sample += lag;
    }

    // The plugin, with default parameters.
    let mut plugin = bundle.instantiate(CHROMA_CLAP_ID)?;
    let midi = plugin
        .param_by_name("MIDI Chords")
        .context("Prism Chroma has no \"MIDI Chords\" parameter")?;
    ensure!(
        (plugin.param_value(midi.id).context("MIDI Chords value")? - midi.max).abs() < 1e-9,
        "MIDI Chords is expected to be on by default"
    );
    plugin.activate(f64::from(SAMPLE_RATE), 1, MAX_BLOCK as u32)?;
    ensure!(
        plugin.main_input_channels() == 2,
        "the default port configuration should be stereo, has {} input channel(s)",
        plugin.main_input_channels()
    );
    let result = plugin.process_signal(
        audio,
        &block_sizes(len, &[block], MAX_BLOCK),
        Placement::OutOfPlace,
    )?;
    let from_plugin = plugin_changes(&result.events).context("the plugin's note events")?;

    // `prism chroma --midi` writes what the plugin sends, sample for sample (the file also
    // releases the last chord at its end, where the host stopped sending audio).
    let bytes = std::fs::read(&midi_path).with_context(|| format!("{}", midi_path.display()))?;
    let file: Vec<(u64, [u8; 3])> = prism_cli::midi_file::read(&bytes)?
        .into_iter()
        .filter(|&(sample, _)| sample < len as u64)
        .map(|(sample, m)| (sample, m.0))
        .collect();
    let sent: Vec<(u64, [u8; 3])> = result
        .events
        .iter()
        .filter_map(|e| Some((u64::from(e.time()), e.as_wire()?)))
        .collect();
    ensure!(
        file.len() >= 12,
        "prism chroma --midi wrote only {} messages for four chords",
        file.len()
    );
    if let Some(i) = (0..file.len().max(sent.len())).find(|&i| file.get(i) != sent.get(i)) {
        bail!(
            "prism chroma --midi and the plugin's MIDI differ at message #{i}: file {:?}, \
             plugin {:?} ({} vs {} messages)",
            file.get(i),
            sent.get(i),
            file.len(),
            sent.len()
        );
    }

    let report = format!(
        "CLI (prism chroma --block {block}), from its .lab:\n{}\n\
         plugin ({block}-sample blocks; note-event sample + 1):\n{}\n\
         the .lab:\n{lab}",
        describe(&cli),
        describe(&from_plugin)
    );
    eprintln!("{TEST_NAME}, blocks of {block}:\n{report}");

    // Not vacuous: the progression has four chords, so at least four changes to a chord.
    let chords = cli.iter().filter(|c| c.chord != NO_CHORD).count();
    ensure!(
        chords >= 4,
        "the CLI decided only {chords} chord(s) on a four-chord progression\n{report}"
    );

    if let Some(i) =
        (0..cli.len().max(from_plugin.len())).find(|&i| cli.get(i) != from_plugin.get(i))
    {
        let show = |c: Option<&Change>| {
            c.map_or("nothing".to_owned(), |c| {
                format!("{} at end_sample {}", chord_label(c.chord), c.end_sample)
            })
        };
        bail!(
            "CLI and plugin disagree at change #{i}: CLI {}, plugin {} ({} vs {} changes)\n{report}",
            show(cli.get(i)),
            show(from_plugin.get(i)),
            cli.len(),
            from_plugin.len()
        );
    }
    Ok(())
}

#[test]
fn cli_and_plugin_decide_the_same_chords_at_the_same_samples() {
    if prism_tests::isolate::in_parent("cli_and_plugin_decide_the_same_chords_at_the_same_samples")
    {
        return;
    }
    let Some(bundle) = chroma_bundle(TEST_NAME) else {
        return;
    };
    let bin = cli_binary();
    assert!(
        bin.is_file(),
        "{TEST_NAME}: the prism CLI binary was not found at {}.\n\
         Build it with\n    cargo build -p prism-cli\n\
         (cargo xtask test builds it and sets PRISM_BIN_DIR), or point PRISM_BIN_DIR at the \
         folder holding it. PRISM_SKIP_HOST_TESTS=1 skips host-level tests.",
        bin.display()
    );

    let audio = progression();
    let scratch = ScratchDir(
        std::env::temp_dir().join(format!("prism-cli-matches-plugin-{}", std::process::id())),
    );
    std::fs::create_dir_all(&scratch.0).unwrap();
    let wav = scratch.0.join("progression.wav");
    write_wav_f32(&wav, SAMPLE_RATE, &audio).unwrap();

    let failures: Vec<String> = BLOCKS
        .iter()
        .filter_map(|&block| {
            compare(&bundle, &bin, &audio, &wav, block)
                .err()
                .map(|e| format!("blocks of {block}: {e:#}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{TEST_NAME}:\n{}",
        failures.join("\n\n")
    );
}
