//! LLVM RealtimeSanitizer over every `shared/` processor the plugins run on the audio
//! thread: `process()` and `reset()` run inside a real-time context, where RTSan aborts the
//! process on any allocation, free, lock, sleep, yield, file or socket call, and other
//! blocking system call (with a stack trace).
//!
//! The sanitizer is linked only when this test is built with `RTSAN_ENABLE=1` and
//! `RTSAN_LIB_PATH` pointing at LLVM's `libclang_rt.rtsan-x86_64.a` (Debian:
//! `libclang-rt-22-dev`); `cargo xtask test` does that in its own step. Without it the same
//! code runs as a plain smoke test (finite output), and the sanitizer self-test is skipped.

use prism_shared::hpss::HpssSeparator;
use prism_shared::split::{
    parity_signal, Deadline, ModelSource, SplitEngine, SplitMode, SplitSettings, StatusCode,
    NUM_STEMS,
};
use prism_shared::stft::StftIdentity;
use prism_shared::{ChromaAnalyzer, ChromaSettings, PitchTracker, Processor};
use rtsan_standalone::ScopedSanitizeRealtime;
use std::time::Duration;

/// Whether this binary was built (and is run) with the sanitizer.
fn rtsan_enabled() -> bool {
    std::env::var_os("RTSAN_ENABLE").is_some()
}

const MAX_BLOCK: usize = 2048;
/// Host block sizes, cycled: 1, primes, the maximum.
const BLOCKS: [usize; 8] = [1, 17, 64, 2048, 3, 511, 128, 1000];

/// Input with the hostile values the plugins must survive.
fn hostile_input(len: usize) -> Vec<Vec<f32>> {
    let mut left = parity_signal(len);
    left[1000] = f32::NAN;
    left[2000] = f32::INFINITY;
    left[3000] = f32::MAX;
    left[4000] = 1e-40; // subnormal
    for x in &mut left[8000..8512] {
        *x = f32::NEG_INFINITY;
    }
    let right: Vec<f32> = left.iter().map(|x| 0.5 * x).collect();
    vec![left, right]
}

/// Streams `input` through `process` (planar outputs of `outputs` buffers) in varying
/// blocks, every call inside RTSan's real-time context, with a `reset` in the middle also
/// inside it. Output after the first half must be finite.
fn stream(
    name: &str,
    input: &[Vec<f32>],
    outputs: usize,
    mut process: impl FnMut(&[&[f32]], &mut [&mut [f32]]),
    mut reset: impl FnMut(),
) {
    let mut out = vec![vec![0.0f32; MAX_BLOCK]; outputs];
    let len = input[0].len();
    let (mut pos, mut k) = (0, 0);
    let mut worst_late = 0.0f32;
    while pos < len {
        let m = BLOCKS[k % BLOCKS.len()].min(len - pos);
        k += 1;
        let ins: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + m]).collect();
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[..m]).collect();
        {
            let _rt = ScopedSanitizeRealtime::default();
            process(&ins, &mut outs);
            if k == 40 {
                reset();
            }
        }
        if pos > len / 2 {
            for o in &outs {
                for x in o.iter() {
                    assert!(x.is_finite(), "{name}: non-finite output {x} at block {k}");
                    worst_late = worst_late.max(x.abs());
                }
            }
        }
        pos += m;
    }
    println!(
        "{name}: {k} blocks under RTSan (enabled: {}), late |out| max {worst_late:.3}",
        rtsan_enabled()
    );
}

#[test]
fn chroma_analyser_is_real_time_safe() {
    let a = std::cell::RefCell::new(ChromaAnalyzer::new(ChromaSettings::default()));
    a.borrow_mut().prepare(44_100.0, MAX_BLOCK, 2);
    let input = hostile_input(6 * 44_100);
    let mut frames = 0usize;
    stream(
        "chroma",
        &input,
        0,
        |i, _| {
            a.borrow_mut().process(i, |frame, _| {
                frames += 1;
                assert!(frame.chroma.iter().all(|c| c.is_finite()));
                assert!(frame.tuning_cents.is_finite());
            });
        },
        || a.borrow_mut().reset(),
    );
    assert!(frames > 100, "{frames} chroma frames");
}

#[test]
fn pitch_tracker_is_real_time_safe() {
    let t = std::cell::RefCell::new(PitchTracker::default());
    t.borrow_mut().prepare(48_000.0, MAX_BLOCK, 2);
    let input = hostile_input(4 * 48_000);
    let mut frames = 0usize;
    stream(
        "pitch",
        &input,
        0,
        |i, _| {
            t.borrow_mut().process(i, |frame, _, _| {
                frames += 1;
                assert!(frame.confidence.is_finite() && frame.level_db.is_finite());
                assert!(!frame.voiced || frame.frequency_hz.is_finite());
            });
        },
        || t.borrow_mut().reset(),
    );
    assert!(frames > 100, "{frames} pitch frames");
}

#[test]
fn stft_and_hpss_are_real_time_safe() {
    let input = hostile_input(3 * 44_100);
    let id = std::cell::RefCell::new(StftIdentity::default());
    id.borrow_mut().prepare(44_100.0, MAX_BLOCK, 2);
    stream(
        "stft identity",
        &input,
        2,
        |i, o| id.borrow_mut().process(i, o),
        || id.borrow_mut().reset(),
    );
    let h = std::cell::RefCell::new(HpssSeparator::default());
    h.borrow_mut().prepare(44_100.0, MAX_BLOCK, 2);
    stream(
        "hpss",
        &input,
        4,
        |i, o| h.borrow_mut().process(i, o),
        || h.borrow_mut().reset(),
    );
}

#[test]
fn split_engine_is_real_time_safe_in_both_modes_and_both_live_deadlines() {
    let input = hostile_input(4 * 44_100);
    for (mode, deadline) in [
        (SplitMode::Neural, Deadline::RealTime),
        (SplitMode::Hpss, Deadline::RealTime),
    ] {
        let mut e = SplitEngine::new(SplitSettings {
            mode,
            deadline,
            model: ModelSource::Default,
        });
        e.prepare(44_100.0, MAX_BLOCK, 2);
        assert_eq!(
            e.wait_until_loaded(Duration::from_secs(60)),
            StatusCode::Ready
        );
        let name = format!("split {mode:?} {deadline:?}");
        let e = std::cell::RefCell::new(e);
        stream(
            &name,
            &input,
            NUM_STEMS * 2,
            |i, o| e.borrow_mut().process(i, o),
            || e.borrow_mut().reset(),
        );
    }
}

#[test]
fn split_engine_auto_deadline_at_real_time_pace_is_real_time_safe() {
    // Auto at a sound card's pace: never waits, so nothing blocking may run.
    let mut e = SplitEngine::new(SplitSettings {
        mode: SplitMode::Neural,
        deadline: Deadline::Auto,
        model: ModelSource::Default,
    });
    e.prepare(44_100.0, 256, 2);
    assert_eq!(
        e.wait_until_loaded(Duration::from_secs(60)),
        StatusCode::Ready
    );
    let input = parity_signal(44_100);
    let mut out = vec![vec![0.0f32; 256]; NUM_STEMS * 2];
    let period = Duration::from_secs_f64(256.0 / 44_100.0);
    let mut due = std::time::Instant::now();
    for chunk in input.chunks_exact(256) {
        // A sound card's pace: late callbacks are not followed by a catch-up burst.
        let now = std::time::Instant::now();
        match due.checked_duration_since(now) {
            Some(w) => std::thread::sleep(w),
            None => due = now,
        }
        due += period;
        let ins = [chunk, chunk];
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|c| &mut c[..]).collect();
        let _rt = ScopedSanitizeRealtime::default();
        e.process(&ins, &mut outs);
    }
}

/// Proves the sanitizer is live in this build: a child process allocates inside the
/// real-time context and must be stopped by RTSan.
#[test]
fn rtsan_catches_an_allocation_in_a_real_time_context() {
    if std::env::var_os("PRISM_RTSAN_CHILD").is_some() {
        let _rt = ScopedSanitizeRealtime::default();
        let v: Vec<f32> = std::hint::black_box(vec![1.0; 1000]);
        println!("allocated {} floats", v.len());
        return;
    }
    if !rtsan_enabled() {
        println!("RTSan not enabled in this build (RTSAN_ENABLE unset): self-test skipped");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "rtsan_catches_an_allocation_in_a_real_time_context",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PRISM_RTSAN_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("RealtimeSanitizer"),
        "the child allocated under RTSan and was not stopped: {:?}\n{stderr}",
        out.status
    );
}
