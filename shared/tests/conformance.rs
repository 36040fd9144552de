//! The conformance suite every Prism processor runs (see `conformance!` at the bottom).
//!
//! The test binary installs `assert_no_alloc`'s allocator, so any allocation inside a
//! `process` or `reset` call made under `assert_no_alloc` aborts the test.

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use prism_shared::hpss::HpssSeparator;
use prism_shared::split::{Deadline, ModelSource, SplitEngine, SplitMode, SplitSettings};
use prism_shared::stft::StftIdentity;
use prism_shared::synth::XorShift;
use prism_shared::{ChromaAnalyzer, ChromaSettings, Frame, PitchTracker, Processor};

#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// Largest host block the suite uses.
const MAX_BLOCK: usize = 4096;

/// The facts the suite needs about one processor under test: how to make it and how much
/// it remembers. Everything else goes through [`Processor`] itself (no adapters).
trait Case {
    type P: Processor;
    fn make() -> Self::P;
    /// Samples of clean input after which the output no longer depends on earlier input.
    fn recovery_samples(p: &Self::P) -> usize;
    /// Digest position that corresponds to a number of input samples (analysers: frames).
    fn digest_len_for(p: &Self::P, samples: usize, num_channels: usize) -> usize {
        let _ = p;
        samples * <Self::P as Processor>::num_outputs(num_channels)
    }
    /// Whether digest value `idx` must recover exactly. Analysers keep deliberate long
    /// memories (chord HMM, 10 s key profile), which are checked separately.
    fn must_recover(_idx: usize) -> bool {
        true
    }
    /// Largest difference that counts as recovered. Recurrent models forget a disturbance
    /// exponentially, never exactly.
    fn recovery_tolerance() -> f32 {
        1e-4
    }
}

struct Identity;
impl Case for Identity {
    type P = StftIdentity;
    fn make() -> StftIdentity {
        StftIdentity::default()
    }
    fn recovery_samples(p: &StftIdentity) -> usize {
        2 * p.latency_samples()
    }
}

struct Hpss;
impl Case for Hpss {
    type P = HpssSeparator;
    fn make() -> HpssSeparator {
        HpssSeparator::default()
    }
    fn recovery_samples(p: &HpssSeparator) -> usize {
        2 * p.latency_samples() + 4096
    }
}

/// Prism Split with the shipped model, offline deadline (waits for the worker thread, so
/// the output is deterministic).
struct NeuralSplit;
impl Case for NeuralSplit {
    type P = SplitEngine;
    fn make() -> SplitEngine {
        SplitEngine::new(SplitSettings {
            mode: SplitMode::Neural,
            deadline: Deadline::Wait,
            model: ModelSource::Default,
        })
    }
    // The GRU's memory of a disturbance (a block at ±1000, the input clamp) decays
    // exponentially, with a time constant of about 0.4 s for the shipped weights. Measured
    // (max |diff| against a run with silence in the bad block's place, 2 latencies plus):
    // one sample at ±1000: 1.0e-2 after 0.5 s, 2.8e-3 after 1 s; a 512-sample block:
    // 1.4e-3 after 1.5 s, below 1e-3 (-60 dB re full scale) after 2 s. (The v1 weights,
    // trained on mma songs only, were below 1e-3 after 0.5 s.)
    fn recovery_samples(p: &SplitEngine) -> usize {
        2 * p.latency_samples() + 88_200
    }
    fn recovery_tolerance() -> f32 {
        1e-3
    }
}

/// Prism Split in its classical HPSS mode (no model, no worker).
struct HpssSplit;
impl Case for HpssSplit {
    type P = SplitEngine;
    fn make() -> SplitEngine {
        SplitEngine::new(SplitSettings {
            mode: SplitMode::Hpss,
            deadline: Deadline::Wait,
            model: ModelSource::None,
        })
    }
    fn recovery_samples(p: &SplitEngine) -> usize {
        2 * p.latency_samples() + 4096
    }
}

/// Chroma with the filterbank chroma and the template recogniser (no worker), tested with
/// auto tuning off so that the recovery test sees no long memory.
struct Chroma;
impl Case for Chroma {
    type P = ChromaAnalyzer;
    fn make() -> ChromaAnalyzer {
        ChromaAnalyzer::new(ChromaSettings {
            auto_tuning: false,
            evidence: prism_shared::analyzer::Evidence::Filterbank,
            ..ChromaSettings::default()
        })
    }
    fn recovery_samples(p: &ChromaAnalyzer) -> usize {
        // One analysis window plus the HPSS time median.
        p.window_samples() + 6 * p.hop_samples()
    }
    fn digest_len_for(p: &ChromaAnalyzer, samples: usize, _num_channels: usize) -> usize {
        (samples / p.hop_samples()) * 16
    }
    fn must_recover(idx: usize) -> bool {
        idx % 16 < 12
    }
}

/// Chroma with the NNLS evidence and a 250 ms chord look-ahead.
struct ChromaNnls;
impl Case for ChromaNnls {
    type P = ChromaAnalyzer;
    fn make() -> ChromaAnalyzer {
        ChromaAnalyzer::new(ChromaSettings {
            auto_tuning: false,
            evidence: prism_shared::analyzer::Evidence::Nnls,
            lookahead_ms: 250.0,
            ..ChromaSettings::default()
        })
    }
    fn recovery_samples(p: &ChromaAnalyzer) -> usize {
        // One analysis window, the HPSS time median and the look-ahead.
        p.window_samples() + (6 + p.lookahead_frames()) * p.hop_samples()
    }
    fn digest_len_for(p: &ChromaAnalyzer, samples: usize, _num_channels: usize) -> usize {
        (samples / p.hop_samples()) * 16
    }
    fn must_recover(idx: usize) -> bool {
        idx % 16 < 12
    }
}

/// Chroma with the learned chord layer on its worker, offline deadline (waits for the
/// worker, so the output is deterministic), and a 100 ms look-ahead.
struct ChromaLearned;
impl Case for ChromaLearned {
    type P = ChromaAnalyzer;
    fn make() -> ChromaAnalyzer {
        let mut analyzer = ChromaAnalyzer::new(ChromaSettings {
            auto_tuning: false,
            evidence: prism_shared::analyzer::Evidence::Learned,
            lookahead_ms: 100.0,
            ..ChromaSettings::default()
        });
        analyzer.set_deadline(Deadline::Wait);
        analyzer
    }
    fn recovery_samples(p: &ChromaAnalyzer) -> usize {
        // One analysis window, the HPSS time median, the network's 19 frames of context,
        // its hop and the look-ahead.
        p.window_samples() + (6 + 19 + 1 + p.lookahead_frames()) * p.hop_samples()
    }
    fn digest_len_for(p: &ChromaAnalyzer, samples: usize, _num_channels: usize) -> usize {
        (samples / p.hop_samples()) * 16
    }
    fn must_recover(idx: usize) -> bool {
        idx % 16 < 12
    }
}

struct Pitch;
impl Case for Pitch {
    type P = PitchTracker;
    fn make() -> PitchTracker {
        PitchTracker::default()
    }
    fn recovery_samples(p: &PitchTracker) -> usize {
        // One frame plus the decoding lag, and the low-pass filter's ringing after a
        // +60 dB block.
        p.frame_samples() + 4 * p.hop_samples()
    }
    fn digest_len_for(p: &PitchTracker, samples: usize, _num_channels: usize) -> usize {
        (samples / p.hop_samples()) * 7
    }
    fn must_recover(idx: usize) -> bool {
        // Confidence and level are functions of the frame; the decoded pitch, voicing and
        // note depend on the HMM's and the segmenter's (deliberate) memory.
        matches!(idx % 7, 1 | 3)
    }
}

/// One block through any processor: its frames' digests, then its audio interleaved per
/// sample (so the digest does not depend on the block split). `out` has room (pushing must
/// not reallocate); `scratch` has `num_outputs` buffers of `MAX_BLOCK` samples.
fn run<P: Processor>(p: &mut P, inputs: &[&[f32]], out: &mut Vec<f32>, scratch: &mut [Vec<f32>]) {
    let len = inputs[0].len();
    let num_outputs = P::num_outputs(inputs.len());
    let mut slices: [&mut [f32]; 8] = Default::default();
    for (slot, buf) in slices.iter_mut().zip(scratch.iter_mut()).take(num_outputs) {
        *slot = &mut buf[..len];
    }
    p.process(inputs, &mut slices[..num_outputs], &mut |_, frame| {
        frame.digest(out)
    });
    for i in 0..len {
        for s in slices[..num_outputs].iter() {
            out.push(s[i]);
        }
    }
}

/// Streams `signal` (planar) through `subject` in blocks given by `block_sizes` (cycled).
fn stream<P: Processor>(
    subject: &mut P,
    signal: &[Vec<f32>],
    block_sizes: &[usize],
    no_alloc: bool,
) -> Vec<f32> {
    let num_channels = signal.len();
    let len = signal[0].len();
    let per_sample = P::num_outputs(num_channels).max(2 * num_channels);
    let mut out = Vec::with_capacity(len * per_sample + 64 * 1024);
    let mut scratch = vec![vec![0.0; MAX_BLOCK]; P::num_outputs(num_channels)];
    let mut pos = 0;
    let mut k = 0;
    while pos < len {
        let block = block_sizes[k % block_sizes.len()]
            .min(len - pos)
            .min(MAX_BLOCK);
        k += 1;
        let inputs: [&[f32]; 2] = [
            &signal[0][pos..pos + block],
            &signal[num_channels - 1][pos..pos + block],
        ];
        let inputs = &inputs[..num_channels];
        if no_alloc {
            assert_no_alloc(|| run(subject, inputs, &mut out, &mut scratch));
        } else {
            run(subject, inputs, &mut out, &mut scratch);
        }
        pos += block;
    }
    out
}

/// Music-like test signal: a few harmonic tones, a noise burst and silence, per channel.
fn test_signal(sample_rate: f32, seconds: f32, num_channels: usize, seed: u64) -> Vec<Vec<f32>> {
    let len = (sample_rate * seconds) as usize;
    let mut rng = XorShift::new(seed);
    (0..num_channels)
        .map(|ch| {
            let mut x = vec![0.0f32; len];
            prism_shared::synth::add_chord(&mut x, sample_rate, 0, len / 2, 1 + ch * 5, 440.0);
            prism_shared::synth::add_chord(
                &mut x,
                sample_rate,
                len / 2,
                len / 2,
                1 + 12 + 9,
                440.0,
            );
            for (i, s) in x.iter_mut().enumerate() {
                if (len / 3..len / 3 + 2000).contains(&i) {
                    *s += 0.3 * rng.next_f32();
                }
            }
            x
        })
        .collect()
}

fn prepared<C: Case>(sample_rate: f32, num_channels: usize) -> C::P {
    let mut s = C::make();
    s.prepare(sample_rate, MAX_BLOCK, num_channels);
    s
}

fn reset_equivalence<C: Case>() {
    let signal = test_signal(44_100.0, 1.5, 2, 1);
    let mut fresh = prepared::<C>(44_100.0, 2);
    let expected = stream(&mut fresh, &signal, &[512], false);
    let mut used = prepared::<C>(44_100.0, 2);
    stream(&mut used, &test_signal(44_100.0, 0.7, 2, 9), &[333], false);
    assert_no_alloc(|| used.reset());
    let got = stream(&mut used, &signal, &[512], false);
    assert_eq!(expected, got, "reset + process must equal a fresh instance");
}

fn block_size_independence<C: Case>() {
    let signal = test_signal(44_100.0, 1.5, 2, 2);
    let mut reference = prepared::<C>(44_100.0, 2);
    let expected = stream(&mut reference, &signal, &[4096], false);
    assert!(!expected.is_empty());
    for blocks in [
        &[1usize][..],
        &[17],
        &[512],
        &[4096],
        &[1, 300, 17, 4096, 64, 0, 2027],
    ] {
        let mut s = prepared::<C>(44_100.0, 2);
        let got = stream(&mut s, &signal, blocks, false);
        assert_eq!(expected.len(), got.len(), "blocks {blocks:?}");
        let max_diff = expected
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert_eq!(max_diff, 0.0, "blocks {blocks:?} changed the output");
    }
}

fn determinism<C: Case>() {
    let signal = test_signal(48_000.0, 1.0, 1, 3);
    let a = stream(&mut prepared::<C>(48_000.0, 1), &signal, &[256], false);
    let b = stream(&mut prepared::<C>(48_000.0, 1), &signal, &[256], false);
    assert_eq!(a, b);
}

fn impulse_latency<C: Case>() {
    if <C::P as Processor>::num_outputs(1) == 0 {
        return;
    }
    for sample_rate in [22_050.0, 44_100.0, 96_000.0] {
        let mut s = prepared::<C>(sample_rate, 1);
        let latency = s.latency_samples();
        let len = latency + 8192;
        let mut signal = vec![vec![0.0f32; len]];
        signal[0][100] = 1.0;
        let out = stream(&mut s, &signal, &[512], false);
        // Sum all outputs of each sample (harmonic + percussive reconstruct the input).
        let per_sample = out.len() / len;
        let summed: Vec<f32> = out.chunks(per_sample).map(|c| c.iter().sum()).collect();
        let peak = summed
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .unwrap();
        assert_eq!(
            peak,
            100 + latency,
            "measured delay != latency_samples() at {sample_rate} Hz"
        );
        assert!(
            (summed[peak] - 1.0).abs() < 1e-3,
            "impulse gain {}",
            summed[peak]
        );
    }
}

fn no_allocation_in_process_or_reset<C: Case>() {
    for num_channels in [1, 2] {
        let signal = test_signal(44_100.0, 1.0, num_channels, 4);
        let mut s = prepared::<C>(44_100.0, num_channels);
        stream(&mut s, &signal, &[1, 64, 4096, 17], true);
        assert_no_alloc(|| s.reset());
        stream(&mut s, &signal, &[512], true);
    }
}

fn bad_input_gives_finite_output_and_recovers<C: Case>() {
    let sample_rate = 44_100.0;
    // 3 s: long enough for the neural Split's recovery window (2 s after the bad block).
    let clean = test_signal(sample_rate, 3.0, 2, 5);
    let bad_values = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        -f32::MAX,
        1e-40,
        f32::MIN_POSITIVE / 2.0,
    ];
    for &bad in &bad_values {
        for pattern in 0..3 {
            // 0: one sample, 1: a whole block, 2: one channel of a block.
            let mut signal = clean.clone();
            let block = 512;
            let start = 4096;
            for (ch, channel) in signal.iter_mut().enumerate() {
                for (i, x) in channel.iter_mut().enumerate().skip(start).take(block) {
                    let hit = match pattern {
                        0 => i == start + 7,
                        1 => true,
                        _ => ch == 1,
                    };
                    if hit {
                        *x = bad;
                    }
                }
            }
            let mut s = prepared::<C>(sample_rate, 2);
            let out = stream(&mut s, &signal, &[block], false);
            assert!(
                out.iter().all(|x| x.is_finite()),
                "non-finite output for input {bad} pattern {pattern}"
            );
            assert!(
                out.iter()
                    .all(|x| *x == 0.0 || x.abs() >= f32::MIN_POSITIVE),
                "subnormal output for input {bad}"
            );
            // Recovery: once `recovery_samples` of clean input have passed after the bad
            // block, the output equals that of a run whose bad block was silence.
            let mut reference_signal = clean.clone();
            for ch in 0..2 {
                for i in start..start + block {
                    if signal[ch][i] != clean[ch][i] || signal[ch][i].is_nan() {
                        reference_signal[ch][i] = 0.0;
                    }
                }
            }
            let mut r = prepared::<C>(sample_rate, 2);
            let expected = stream(&mut r, &reference_signal, &[block], false);
            let from = C::digest_len_for(&s, start + block + C::recovery_samples(&s), 2);
            assert!(from < out.len(), "test signal too short for recovery check");
            let max_diff = out
                .iter()
                .zip(&expected)
                .enumerate()
                .skip(from)
                .filter(|(idx, _)| C::must_recover(*idx))
                .map(|(_, (a, b))| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                max_diff < C::recovery_tolerance(),
                "no recovery after input {bad} pattern {pattern}: diff {max_diff}"
            );
        }
    }
}

fn all_sample_rates<C: Case>() {
    for sample_rate in [
        8_000.0, 11_025.0, 22_050.0, 44_100.0, 48_000.0, 88_200.0, 96_000.0, 192_000.0, 45_678.901,
    ] {
        let signal = test_signal(sample_rate, 0.6, 2, 6);
        let mut s = prepared::<C>(sample_rate, 2);
        let out = stream(&mut s, &signal, &[1000], true);
        assert!(!out.is_empty(), "no output at {sample_rate} Hz");
        assert!(
            out.iter().all(|x| x.is_finite()),
            "non-finite at {sample_rate} Hz"
        );
    }
}

macro_rules! conformance {
    ($module:ident, $subject:ty) => {
        mod $module {
            use super::*;
            #[test]
            fn reset_then_process_equals_a_fresh_instance() {
                reset_equivalence::<$subject>();
            }
            #[test]
            fn output_does_not_depend_on_host_block_sizes() {
                block_size_independence::<$subject>();
            }
            #[test]
            fn same_input_gives_the_same_output() {
                determinism::<$subject>();
            }
            #[test]
            fn impulse_delay_equals_reported_latency() {
                impulse_latency::<$subject>();
            }
            #[test]
            fn process_and_reset_never_allocate() {
                no_allocation_in_process_or_reset::<$subject>();
            }
            #[test]
            fn nan_inf_denormal_and_huge_input_give_finite_output_and_recover() {
                bad_input_gives_finite_output_and_recovers::<$subject>();
            }
            #[test]
            fn runs_at_every_sample_rate_from_8k_to_192k() {
                all_sample_rates::<$subject>();
            }
        }
    };
}

conformance!(stft_identity, Identity);
conformance!(hpss_separator, Hpss);
conformance!(chroma_analyzer, Chroma);
conformance!(chroma_nnls_lookahead, ChromaNnls);
conformance!(chroma_learned_lookahead, ChromaLearned);
conformance!(pitch_tracker, Pitch);
conformance!(split_neural, NeuralSplit);
conformance!(split_hpss, HpssSplit);

#[test]
fn chroma_frame_rate_is_at_least_20_per_second_at_every_rate() {
    for sample_rate in [8_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        let analyzer = prepared::<Chroma>(sample_rate, 1);
        assert!(
            analyzer.frame_rate_hz() >= 20.0,
            "{} fps at {sample_rate}",
            analyzer.frame_rate_hz()
        );
    }
}

/// Run only as a child of `the_allocation_checker_is_armed`: allocates where it must not.
#[cfg(debug_assertions)]
#[test]
#[ignore = "child process of the_allocation_checker_is_armed"]
fn allocation_probe_child() {
    assert_no_alloc(|| {
        let v = std::hint::black_box(vec![1u8; 64]);
        std::hint::black_box(&v);
    });
}

/// The no-allocation tests above can fail: an allocation under `assert_no_alloc` aborts the
/// process (seen from a child process running `allocation_probe_child`).
#[cfg(debug_assertions)]
#[test]
fn the_allocation_checker_is_armed() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "allocation_probe_child",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "an allocation inside assert_no_alloc went unnoticed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.to_lowercase().contains("alloc"),
        "child failed for another reason: {stderr}"
    );
}
