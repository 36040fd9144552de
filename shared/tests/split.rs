//! Prism Split: the shipped model in tract against PyTorch, model faults, the deadline
//! policy, and the stems' sum.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prism_shared::infer::Model;
use prism_shared::split::{
    parity_signal, Deadline, ModelError, ModelLoader, ModelSource, NeuralModel, SplitEngine,
    SplitMode, SplitModel, SplitSettings, StatusCode, AUTO_MAX_WAIT, DEFAULT_MODEL, MODEL_BINS,
    NUM_STEMS, OFFLINE_MAX_WAIT,
};
use prism_shared::stft::SpectralEngine;
use prism_shared::Processor;

/// `PRISM_SPLIT_MODEL`: another exported model (its `.parity.bin` beside it) for the parity
/// tests, e.g. the CI smoke training's (`cargo xtask split-model --smoke`); else the
/// shipped one.
fn other_model() -> Option<std::path::PathBuf> {
    std::env::var_os("PRISM_SPLIT_MODEL")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}

fn fixture_path() -> std::path::PathBuf {
    match other_model() {
        Some(model) => model.with_extension("parity.bin"),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../bundle/models/split/prism-split-v2.parity.bin"),
    }
}

fn model_under_test() -> NeuralModel {
    match other_model() {
        Some(path) => {
            let bytes = std::fs::read(&path).expect("PRISM_SPLIT_MODEL");
            println!(
                "model under test: {} ({} bytes)",
                path.display(),
                bytes.len()
            );
            NeuralModel::load(&bytes).expect("the model loads")
        }
        None => NeuralModel::load(DEFAULT_MODEL).expect("the shipped model loads"),
    }
}

/// `(frame index, 3 × 513 masks)` rows written by `export.py`.
fn read_fixture() -> Vec<(usize, Vec<f32>)> {
    let bytes = std::fs::read(fixture_path()).expect("parity fixture beside the model");
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let count = u32_at(0) as usize;
    let row = 4 + 4 * NUM_STEMS * MODEL_BINS;
    assert_eq!(bytes.len(), 4 + count * row, "fixture size");
    (0..count)
        .map(|r| {
            let o = 4 + r * row;
            let frame = u32_at(o) as usize;
            let masks = (0..NUM_STEMS * MODEL_BINS)
                .map(|i| {
                    f32::from_le_bytes(bytes[o + 4 + 4 * i..o + 8 + 4 * i].try_into().unwrap())
                })
                .collect();
            (frame, masks)
        })
        .collect()
}

/// Magnitudes of every frame the engine's STFT emits (mono, n = 1024).
fn engine_magnitudes(signal: &[f32]) -> Vec<Vec<f32>> {
    let mut engine = SpectralEngine::default();
    engine.prepare(1024, 1, 1);
    let mut out = vec![0.0f32; signal.len()];
    let mut mags = Vec::new();
    engine.process(&[signal], &mut [&mut out[..]], |spectra, outs| {
        mags.push(spectra[0].iter().map(|c| c.norm()).collect::<Vec<f32>>());
        outs[0].copy_from_slice(&spectra[0]);
    });
    mags
}

/// Magnitudes of the engine's frames (frame after sample t covers [t - 1024, t), periodic
/// Hann) computed in f64 and rounded to f32: exactly what `export.py` feeds PyTorch, so the
/// comparison measures the runtimes, not two FFTs' rounding.
fn f64_magnitudes(signal: &[f32]) -> Vec<Vec<f32>> {
    use realfft::RealFftPlanner;
    let n = 1024;
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let w: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect();
    let mut ring = vec![0.0f64; n];
    ring.extend(signal.iter().map(|&x| f64::from(x)));
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    (1..=signal.len() / 256)
        .map(|k| {
            let t = k * 256;
            for (i, slot) in input.iter_mut().enumerate() {
                *slot = ring[t + i] * w[i];
            }
            fft.process(&mut input, &mut spectrum).unwrap();
            spectrum.iter().map(|c| c.norm() as f32).collect()
        })
        .collect()
}

fn max_diff_against_fixture(mags: &[Vec<f32>]) -> (f32, usize) {
    let fixture = read_fixture();
    assert_eq!(
        fixture.last().unwrap().0 + 1,
        mags.len(),
        "fixture and engine disagree on the frame count"
    );
    let mut model = model_under_test();
    let mut masks = vec![0.0f32; NUM_STEMS * MODEL_BINS];
    let mut next = fixture.iter().peekable();
    let mut worst = 0.0f32;
    let mut compared = 0;
    for (i, mag) in mags.iter().enumerate() {
        model.step(mag, &mut masks).unwrap();
        if let Some((frame, want)) = next.peek() {
            if *frame == i {
                let diff = masks
                    .iter()
                    .zip(want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                worst = worst.max(diff);
                compared += 1;
                next.next();
            }
        }
    }
    assert_eq!(compared, fixture.len());
    assert!(compared >= 80, "only {compared} frames compared");
    (worst, compared)
}

#[test]
fn tract_matches_pytorch_over_a_minute_of_streaming() {
    let signal = parity_signal(60 * 44_100);
    let (worst, compared) = max_diff_against_fixture(&f64_magnitudes(&signal));
    println!("tract vs PyTorch over 60 s (same input frames): max |Δmask| = {worst:e} over {compared} frames");
    assert!(worst <= 1e-4, "tract differs from PyTorch by {worst}");
}

#[test]
fn the_engines_f32_stft_feeds_the_model_closely_enough() {
    // The engine's own f32 STFT rounds differently from the f64 reference (relative 1e-7);
    // the recurrent model carries such differences along, within this bound over a minute.
    let signal = parity_signal(60 * 44_100);
    let (worst, compared) = max_diff_against_fixture(&engine_magnitudes(&signal));
    println!("engine f32 STFT + tract vs PyTorch f64 frames: max |Δmask| = {worst:e} over {compared} frames");
    assert!(
        worst <= 2e-3,
        "the engine's frames move the masks by {worst}"
    );
}

#[test]
fn masks_of_the_shipped_model_sum_to_one() {
    let mut model = NeuralModel::load(DEFAULT_MODEL).unwrap();
    assert_eq!(model.state_shape().len(), 3);
    let mags = engine_magnitudes(&parity_signal(44_100));
    let mut masks = vec![0.0f32; NUM_STEMS * MODEL_BINS];
    for mag in &mags {
        model.step(mag, &mut masks).unwrap();
        for j in 0..MODEL_BINS {
            let s: f32 = (0..NUM_STEMS).map(|k| masks[k * MODEL_BINS + j]).sum();
            assert!((s - 1.0).abs() < 1e-4, "bin {j}: {s}");
        }
    }
}

#[test]
fn broken_model_files_are_clear_errors() {
    assert_eq!(NeuralModel::load(&[]).unwrap_err(), ModelError::Empty);
    let truncated = &DEFAULT_MODEL[..DEFAULT_MODEL.len() / 2];
    assert!(matches!(
        NeuralModel::load(truncated).unwrap_err(),
        ModelError::Load(_) | ModelError::Interface(_) | ModelError::Panic(_)
    ));
    let mut corrupt = DEFAULT_MODEL.to_vec();
    for b in corrupt.iter_mut().skip(16).step_by(7).take(4000) {
        *b ^= 0x5a;
    }
    let err = NeuralModel::load(&corrupt).unwrap_err();
    assert!(!err.to_string().is_empty());
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = NeuralModel::load(&noise).unwrap_err();
    assert!(err.to_string().contains("model"), "{err}");
    let text = b"this is not an onnx file at all\n".repeat(100);
    assert!(NeuralModel::load(&text).is_err());
}

fn stereo_music(seconds: f32) -> Vec<Vec<f32>> {
    let n = (seconds * 44_100.0) as usize;
    let mono = parity_signal(n);
    let right: Vec<f32> = mono
        .iter()
        .enumerate()
        .map(|(i, x)| x * (0.8 + 0.2 * ((i / 5000) % 2) as f32))
        .collect();
    vec![mono, right]
}

/// Streams planar stereo through an engine; returns `[stem][ch]` outputs.
fn run_engine(engine: &mut SplitEngine, input: &[Vec<f32>], block: usize) -> Vec<Vec<Vec<f32>>> {
    let len = input[0].len();
    let nc = input.len();
    let mut outs = vec![vec![vec![0.0f32; len]; nc]; NUM_STEMS];
    let mut pos = 0;
    while pos < len {
        let m = block.min(len - pos);
        let inputs: Vec<&[f32]> = input.iter().map(|c| &c[pos..pos + m]).collect();
        let mut flat: Vec<&mut [f32]> = Vec::new();
        for stem in outs.iter_mut() {
            for ch in stem.iter_mut() {
                flat.push(&mut ch[pos..pos + m]);
            }
        }
        engine.process(&inputs, &mut flat);
        pos += m;
    }
    outs
}

#[test]
fn stems_sum_to_the_delayed_input() {
    for mode in [SplitMode::Neural, SplitMode::Hpss] {
        let mut engine = SplitEngine::new(SplitSettings {
            mode,
            deadline: Deadline::Wait,
            model: ModelSource::Default,
        });
        engine.prepare(44_100.0, 256, 2);
        assert_eq!(engine.latency_samples(), 1024 + 256, "window + one hop");
        let input = stereo_music(3.0);
        let outs = run_engine(&mut engine, &input, 256);
        let lat = engine.latency_samples();
        let mut worst = 0.0f32;
        for ch in 0..2 {
            for i in lat..input[0].len() {
                let sum: f32 = (0..NUM_STEMS).map(|s| outs[s][ch][i]).sum();
                worst = worst.max((sum - input[ch][i - lat]).abs());
            }
        }
        println!("{mode:?}: max |sum of stems - delayed input| = {worst:e}");
        assert!(
            worst < 1e-4,
            "{mode:?}: stems do not sum to the input ({worst})"
        );
        // And the separation is not trivial: every stem carries some of the signal.
        for (s, stem) in outs.iter().enumerate() {
            let e: f32 = stem[0].iter().map(|x| x * x).sum();
            assert!(e > 1e-3, "{mode:?}: stem {s} is silent");
        }
    }
}

#[test]
fn a_stalled_worker_never_blocks_the_audio_thread_and_misses_go_to_other() {
    let (mut engine, stall) = loaded_engine(Deadline::RealTime, 128);
    let telemetry = engine.telemetry();
    // Stall forever: if process() waited for the worker, this test would hang.
    stall.store(u32::MAX, Ordering::Relaxed);
    let input = stereo_music(1.0);
    let outs = run_engine(&mut engine, &input, 128);
    let misses = telemetry.misses.load(Ordering::Relaxed);
    let frames = telemetry.frames.load(Ordering::Relaxed);
    assert!(
        misses + 2 >= frames - 1,
        "{misses} misses of {frames} frames"
    );
    // Every missed frame is the delayed dry signal, all in "other".
    let lat = engine.latency_samples();
    let n = engine.fft_len();
    for ch in 0..2 {
        for i in (lat + 2 * n)..input[0].len() {
            assert_eq!(outs[0][ch][i], 0.0, "drums during a stall");
            assert_eq!(outs[1][ch][i], 0.0, "bass during a stall");
            assert!((outs[2][ch][i] - input[ch][i - lat]).abs() < 1e-4);
        }
    }
    // The worker resumes: at real-time pace (one 128-sample block per 2.9 ms) the masks
    // come back.
    stall.store(0, Ordering::Relaxed);
    let block = stereo_music(128.0 / 44_100.0);
    let mut hits = 0;
    // Up to ~10 s: a loaded machine (parallel tests, debug build) may need a while.
    for _ in 0..3_000 {
        run_engine(&mut engine, &block, 128);
        std::thread::sleep(Duration::from_micros(2_900));
        hits += telemetry.neural_active.load(Ordering::Relaxed) as usize;
        if hits >= 3 {
            break;
        }
    }
    assert!(hits > 0, "the model never came back after the stall");
}

#[test]
fn a_user_model_that_does_not_load_falls_back_to_the_built_in_one_and_says_why() {
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("truncated", DEFAULT_MODEL[..1000].to_vec()),
        ("garbage", vec![0x42u8; 4096]),
    ] {
        let mut engine = SplitEngine::new(SplitSettings {
            mode: SplitMode::Neural,
            deadline: Deadline::Wait,
            model: ModelSource::Bytes(Arc::from(bytes)),
        });
        engine.prepare(44_100.0, 512, 2);
        let code = engine.wait_until_loaded(Duration::from_secs(30));
        assert_eq!(code, StatusCode::Ready, "{what}");
        let status = engine.telemetry().snapshot();
        assert!(
            status.message.contains("rejected") && status.message.contains("built-in"),
            "{what}: {}",
            status.message
        );
        let outs = run_engine(&mut engine, &stereo_music(0.5), 512);
        assert!(
            engine.telemetry().neural_active.load(Ordering::Relaxed),
            "{what}"
        );
        assert!(outs[0][0].iter().any(|x| *x != 0.0), "{what}: drums silent");
    }
}

#[test]
fn without_a_model_hpss_runs_and_nothing_counts_as_a_miss() {
    let mut engine = SplitEngine::new(SplitSettings {
        mode: SplitMode::Neural,
        deadline: Deadline::RealTime,
        model: ModelSource::None,
    });
    engine.prepare(44_100.0, 512, 2);
    assert_eq!(engine.telemetry().code(), StatusCode::NoModel);
    let outs = run_engine(&mut engine, &stereo_music(1.0), 512);
    let drums: f32 = outs[0][0].iter().map(|x| x * x).sum();
    assert!(drums > 1e-3, "no percussive output");
    assert_eq!(engine.telemetry().snapshot().misses, 0);
}

#[test]
fn latency_grows_with_the_hosts_maximum_block_and_is_exact() {
    for (max_block, hops) in [(64, 1), (256, 1), (257, 2), (512, 2), (4096, 16)] {
        let mut engine = SplitEngine::new(SplitSettings {
            mode: SplitMode::Hpss,
            deadline: Deadline::Wait,
            model: ModelSource::None,
        });
        engine.prepare(44_100.0, max_block, 1);
        assert_eq!(engine.delay_hops(), hops, "max block {max_block}");
        let lat = engine.latency_samples();
        assert_eq!(lat, 1024 + 256 * hops);
        let mut x = vec![0.0f32; lat + 4096];
        x[333] = 1.0;
        let outs = run_engine(&mut engine, &[x], max_block.min(300));
        let sum: Vec<f32> = (0..outs[0][0].len())
            .map(|i| (0..NUM_STEMS).map(|s| outs[s][0][i]).sum())
            .collect();
        let peak = (0..sum.len())
            .max_by(|&a, &b| sum[a].abs().total_cmp(&sum[b].abs()))
            .unwrap();
        assert_eq!(peak, 333 + lat);
    }
}

/// A small ONNX model the test builds itself: `masks = Identity(mag)`, `state_out =
/// Identity(state_in)`, with the given names and shapes (f32).
fn identity_model(inputs: [(&str, &[i64]); 2], outputs: [&str; 2]) -> Vec<u8> {
    use prost::Message;
    use tract_onnx::pb;
    let value = |name: &str, dims: &[i64]| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| pb::tensor_shape_proto::Dimension {
                            denotation: String::new(),
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)),
                        })
                        .collect(),
                }),
            })),
        }),
        ..Default::default()
    };
    let node = |input: &str, output: &str| pb::NodeProto {
        input: vec![input.into()],
        output: vec![output.into()],
        name: format!("id_{output}"),
        op_type: "Identity".into(),
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(pb::GraphProto {
            name: "test".into(),
            node: vec![node(inputs[0].0, outputs[0]), node(inputs[1].0, outputs[1])],
            input: vec![
                value(inputs[0].0, inputs[0].1),
                value(inputs[1].0, inputs[1].1),
            ],
            output: vec![
                value(outputs[0], inputs[0].1),
                value(outputs[1], inputs[1].1),
            ],
            ..Default::default()
        }),
        ..Default::default()
    };
    model.encode_to_vec()
}

#[test]
fn models_of_the_wrong_interface_are_rejected_with_the_reason() {
    // Loadable ONNX, wrong fit: each must say what does not fit.
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "masks of the wrong shape",
            identity_model(
                [("mag", &[1, 513]), ("state_in", &[2, 4])],
                ["masks", "state_out"],
            ),
            "masks has shape",
        ),
        (
            "wrong input names",
            identity_model(
                [("audio", &[1, 513]), ("h", &[2, 4])],
                ["masks", "state_out"],
            ),
            "inputs are",
        ),
        (
            "wrong mag shape",
            identity_model(
                [("mag", &[1, 256]), ("state_in", &[2, 4])],
                ["masks", "state_out"],
            ),
            "input mag has shape",
        ),
    ];
    for (what, bytes, want) in cases {
        let err = NeuralModel::load(&bytes).expect_err(what);
        assert!(matches!(err, ModelError::Interface(_)), "{what}: {err}");
        assert!(err.to_string().contains(want), "{what}: {err}");
    }
}

#[test]
fn a_model_loader_that_panics_leaves_the_engine_in_hpss_mode_saying_why() {
    // The panic message would be printed by the default hook; keep the test output clean.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loader = ModelLoader(Arc::new(|| panic!("loader exploded")));
    let mut engine = SplitEngine::new(SplitSettings {
        mode: SplitMode::Neural,
        deadline: Deadline::RealTime,
        model: ModelSource::Loader(loader),
    });
    engine.prepare(44_100.0, 512, 2);
    // The worker loads off the audio thread; wait for its verdict.
    let started = std::time::Instant::now();
    while engine.telemetry().code() == StatusCode::Loading
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::panic::set_hook(hook);
    let status = engine.telemetry().snapshot();
    assert_eq!(status.code, StatusCode::LoadFailed, "{status:?}");
    assert!(
        status.message.contains("crashed") && status.message.contains("loader exploded"),
        "the status says why: {}",
        status.message
    );
    assert!(status.message.contains("HPSS"), "{}", status.message);
    // It runs (HPSS) and nothing counts as a miss.
    let outs = run_engine(&mut engine, &stereo_music(1.0), 512);
    let drums: f32 = outs[0][0].iter().map(|x| x * x).sum();
    assert!(drums > 1e-3, "no percussive output");
    assert!(outs.iter().flatten().flatten().all(|x| x.is_finite()));
    assert_eq!(engine.telemetry().snapshot().misses, 0);

    // The guard itself: a panicking loader is an error, never an unwind.
    std::panic::set_hook(Box::new(|_| {}));
    let direct = NeuralModel::guarded(|| panic!("boom"));
    let _ = std::panic::take_hook();
    assert!(matches!(direct, Err(ModelError::Panic(m)) if m == "boom"));
}

/// Error energy of `a` against `b` over `range`, relative to `b`'s energy (all stems).
fn relative_error(a: &[Vec<Vec<f32>>], b: &[Vec<Vec<f32>>], range: std::ops::Range<usize>) -> f64 {
    let (mut err, mut energy) = (0.0f64, 0.0f64);
    for (sa, sb) in a.iter().zip(b) {
        for (ca, cb) in sa.iter().zip(sb) {
            for i in range.clone() {
                err += ((ca[i] - cb[i]) as f64).powi(2);
                energy += (cb[i] as f64).powi(2);
            }
        }
    }
    err / energy.max(1e-30)
}

/// The built-in network behind a switch the test holds: the worker sleeps that many µs
/// before every frame, and `u32::MAX` stalls it until the switch changes (for at most a
/// minute, so a failing test cannot hang the suite). The stall lives in the test's model,
/// not in the engine.
struct Stalling {
    net: NeuralModel,
    stall_us: Arc<AtomicU32>,
}

impl Model for Stalling {
    type Input = <NeuralModel as Model>::Input;
    type Output = <NeuralModel as Model>::Output;
    type Error = ModelError;
    fn reset(&mut self) {
        Model::reset(&mut self.net);
    }
    fn step(&mut self, input: &Self::Input, output: &mut Self::Output) -> Result<(), ModelError> {
        let started = Instant::now();
        loop {
            match self.stall_us.load(Ordering::Relaxed) {
                u32::MAX if started.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                u32::MAX => break,
                0 => break,
                us => {
                    std::thread::sleep(Duration::from_micros(us as u64));
                    break;
                }
            }
        }
        Model::step(&mut self.net, input, output)
    }
}

/// A model source whose worker the returned switch can stall ([`Stalling`]).
fn stallable() -> (ModelSource, Arc<AtomicU32>) {
    let stall_us = Arc::new(AtomicU32::new(0));
    let switch = stall_us.clone();
    let loader = ModelLoader(Arc::new(move || {
        let net = NeuralModel::load_default()?;
        let stall_us = switch.clone();
        Ok(Box::new(Stalling { net, stall_us }) as SplitModel)
    }));
    (ModelSource::Loader(loader), stall_us)
}

/// An engine with the built-in network, loaded, and the switch that stalls its worker.
fn loaded_engine(deadline: Deadline, max_block: usize) -> (SplitEngine, Arc<AtomicU32>) {
    let (model, stall) = stallable();
    let mut engine = SplitEngine::new(SplitSettings {
        mode: SplitMode::Neural,
        deadline,
        model,
    });
    engine.prepare(44_100.0, max_block, 2);
    assert_eq!(
        engine.wait_until_loaded(Duration::from_secs(60)),
        StatusCode::Ready
    );
    (engine, stall)
}

#[test]
fn auto_deadline_waits_only_when_the_host_runs_ahead_of_real_time() {
    let input = stereo_music(3.0);
    let (mut offline, _) = loaded_engine(Deadline::Wait, 256);
    let reference = run_engine(&mut offline, &input, 256);
    // A host bouncing without saying so, with a worker slower than the feed (2 ms per
    // frame): real time misses most frames; auto misses only until it sees the lead.
    let mut misses = Vec::new();
    let mut outs = Vec::new();
    for deadline in [Deadline::RealTime, Deadline::Auto] {
        let (mut engine, stall) = loaded_engine(deadline, 256);
        let t = engine.telemetry();
        stall.store(2_000, Ordering::Relaxed);
        outs.push(run_engine(&mut engine, &input, 256));
        misses.push(t.misses.load(Ordering::Relaxed));
        assert!(t.frames.load(Ordering::Relaxed) > 500);
    }
    println!(
        "misses fed as fast as possible: real time {}, auto {}",
        misses[0], misses[1]
    );
    assert!(
        misses[0] > 200,
        "real time should miss most frames: {}",
        misses[0]
    );
    // 50 ms of lead at 5.8 ms per hop, plus the frames already queued then.
    assert!(misses[1] <= 16, "auto missed {} frames", misses[1]);
    let lat = 1024 + 256;
    // After the misses and the 8-hop fade, auto is the offline render: the worker kept
    // every frame, so the recurrent state is the same.
    let late = (lat + 11_025)..input[0].len();
    let err_rt = relative_error(&outs[0], &reference, late.clone());
    let err_auto = relative_error(&outs[1], &reference, late);
    println!("relative error after 0.25 s: real time {err_rt:.2e}, auto {err_auto:.2e}");
    assert!(
        err_auto < 1e-10,
        "auto differs from the offline render: {err_auto:e}"
    );
    assert!(err_rt > 0.1, "{err_rt}");
}

#[test]
fn auto_deadline_at_real_time_pace_never_waits_for_a_stalled_worker() {
    // Paced like a sound card (one 128-sample block per 2.9 ms), a worker that stalls
    // forever: every block returns at once and the misses go to "other".
    let (mut engine, stall) = loaded_engine(Deadline::Auto, 128);
    let t = engine.telemetry();
    stall.store(u32::MAX, Ordering::Relaxed);
    let input = stereo_music(0.5);
    let mut slowest = Duration::ZERO;
    let period = Duration::from_secs_f64(128.0 / 44_100.0);
    let mut due = Instant::now();
    let mut pos = 0;
    while pos + 128 <= input[0].len() {
        // A sound card's pace: a late callback (this test thread preempted on a busy
        // machine) does not make the next ones come early to catch up; the card moves on.
        let now = Instant::now();
        match due.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None => due = now,
        }
        due += period;
        let block: Vec<Vec<f32>> = input.iter().map(|c| c[pos..pos + 128].to_vec()).collect();
        let t0 = Instant::now();
        run_engine(&mut engine, &block, 128);
        slowest = slowest.max(t0.elapsed());
        pos += 128;
    }
    let misses = t.misses.load(Ordering::Relaxed);
    println!("auto at real-time pace, stalled worker: slowest block {slowest:?}, {misses} misses");
    assert!(misses > 50, "{misses}");
    // Not a timing assertion on speed: a wait would take AUTO_MAX_WAIT (1 s).
    assert!(
        slowest < AUTO_MAX_WAIT / 2,
        "a block took {slowest:?}: the audio thread waited"
    );
    stall.store(0, Ordering::Relaxed);
}

/// CPU time this thread has used (Linux `schedstat`: nanoseconds on a CPU), to tell a
/// blocking wait from a spinning one.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[test]
fn an_offline_render_blocks_on_a_slow_worker_instead_of_spinning() {
    // clap-validator's fuzzer, with the machine starved, found the audio thread spinning in
    // sched_yield while it waited for masks (299 s of system CPU in 400 s): a waiting thread
    // that burns a core starves the very worker it waits for. A worker that takes 5 ms per
    // frame: the render waits most of its wall time and must spend almost none of it on a CPU.
    let (mut engine, stall) = loaded_engine(Deadline::Wait, 256);
    let t = engine.telemetry();
    stall.store(5_000, Ordering::Relaxed);
    let input = stereo_music(0.5);
    let (Some(cpu0), wall0) = (thread_cpu_time(), Instant::now()) else {
        println!("no /proc/thread-self/schedstat: skipped");
        return;
    };
    let outs = run_engine(&mut engine, &input, 256);
    let (cpu, wall) = (thread_cpu_time().unwrap() - cpu0, wall0.elapsed());
    stall.store(0, Ordering::Relaxed);
    println!("offline render with a 5 ms/frame worker: wall {wall:?}, audio thread CPU {cpu:?}");
    assert_eq!(t.misses.load(Ordering::Relaxed), 0, "offline renders wait");
    assert!(
        wall > Duration::from_millis(300),
        "the worker did not stall: {wall:?}"
    );
    assert!(
        cpu * 4 < wall,
        "the waiting thread used {cpu:?} of CPU in {wall:?}: it spins instead of blocking"
    );
    let lat = 1024 + 256;
    let drums: f32 = outs[0][0][lat..].iter().map(|x| x * x).sum();
    assert!(drums > 0.0, "the model's masks were not used");
}

#[test]
fn an_offline_render_gives_up_on_a_stalled_worker_after_a_bounded_wait() {
    // A worker that never answers: the render still ends, after one bounded wait, with the
    // misses' fallback (delayed dry in "other").
    let (mut engine, stall) = loaded_engine(Deadline::Wait, 256);
    let t = engine.telemetry();
    stall.store(u32::MAX, Ordering::Relaxed);
    let input = stereo_music(1.0);
    let t0 = Instant::now();
    let outs = run_engine(&mut engine, &input, 256);
    let took = t0.elapsed();
    stall.store(0, Ordering::Relaxed);
    println!("offline render with a stalled worker took {took:?}");
    assert!(took < OFFLINE_MAX_WAIT * 3, "{took:?}");
    assert!(t.misses.load(Ordering::Relaxed) > 100);
    let lat = 1024 + 256;
    for ch in 0..2 {
        for i in (lat + 2048)..input[0].len() {
            assert!((outs[2][ch][i] - input[ch][i - lat]).abs() < 1e-4);
        }
    }
}

#[test]
fn auto_deadline_gives_up_on_a_stalled_worker_during_a_bounce() {
    // Fed as fast as possible with a worker that never answers: the first wait times out,
    // then the engine stops waiting (a bounce of a broken model does not take forever).
    let (mut engine, stall) = loaded_engine(Deadline::Auto, 256);
    stall.store(u32::MAX, Ordering::Relaxed);
    let input = stereo_music(2.0);
    let t0 = Instant::now();
    let outs = run_engine(&mut engine, &input, 256);
    let took = t0.elapsed();
    stall.store(0, Ordering::Relaxed);
    println!("bounce with a stalled worker took {took:?}");
    assert!(took < AUTO_MAX_WAIT * 5, "{took:?}");
    let lat = 1024 + 256;
    for ch in 0..2 {
        for i in (lat + 44_100)..input[0].len() {
            assert!((outs[2][ch][i] - input[ch][i - lat]).abs() < 1e-4);
        }
    }
}

#[test]
fn an_offline_render_does_not_depend_on_the_silence_before_it() {
    // Ardour's export feeds a varying number of silent blocks (and its latency pre-roll)
    // before the audio; two exports of one session differed by -42 dB. An offline render
    // starts its stream at the first non-zero sample, so the same music after any amount of
    // leading digital silence gives the same samples, shifted by that silence.
    let music = stereo_music(2.0);
    let mut reference: Option<Vec<Vec<Vec<f32>>>> = None;
    for lead in [0usize, 1, 1000, 5 * 1024 + 37] {
        let input: Vec<Vec<f32>> = music
            .iter()
            .map(|c| {
                std::iter::repeat_n(0.0, lead)
                    .chain(c.iter().copied())
                    .collect()
            })
            .collect();
        let (mut engine, _) = loaded_engine(Deadline::Wait, 512);
        let outs = run_engine(&mut engine, &input, 333);
        for stem in &outs {
            for ch in stem {
                assert!(
                    ch[..lead].iter().all(|y| *y == 0.0),
                    "output during the leading silence"
                );
            }
        }
        let shifted: Vec<Vec<Vec<f32>>> = outs
            .iter()
            .map(|stem| stem.iter().map(|ch| ch[lead..].to_vec()).collect())
            .collect();
        match &reference {
            None => reference = Some(shifted),
            Some(r) => {
                for (s, (a, b)) in r.iter().zip(&shifted).enumerate() {
                    for (ch, (x, y)) in a.iter().zip(b).enumerate() {
                        if let Some(i) = x
                            .iter()
                            .zip(y)
                            .position(|(p, q)| p.to_bits() != q.to_bits())
                        {
                            panic!(
                                "{lead} samples of leading silence change stem {s} channel {ch} \
                                 at sample {i}: {} vs {}",
                                x[i], y[i]
                            );
                        }
                    }
                }
            }
        }
    }
}
