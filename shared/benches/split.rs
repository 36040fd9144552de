//! Prism Split costs, one thread each:
//!
//! * `split_model_step`: one frame of the shipped model in tract (the worker's work per hop;
//!   the hop lasts 5.8 ms at 44.1 kHz);
//! * `split_engine_10s_stereo`: the audio thread's work for 10 s of stereo music (STFT,
//!   masks, synthesis, HPSS) in HPSS mode, and in neural mode with the offline deadline (the
//!   audio thread waits for the worker: the sum of both threads' work), at blocks 64 and 512.
//!
//! Real-time factor = 10 s / time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prism_shared::split::{
    parity_signal, Deadline, ModelSource, NeuralModel, SplitEngine, SplitMode, SplitSettings,
    MODEL_BINS, NUM_STEMS,
};
use prism_shared::Processor;

fn bench_model(c: &mut Criterion) {
    let mut model = NeuralModel::load_default().expect("the shipped model");
    let mag: Vec<f32> = (0..MODEL_BINS).map(|i| 1.0 + (i % 17) as f32).collect();
    let mut masks = vec![0.0f32; NUM_STEMS * MODEL_BINS];
    c.bench_function("split_model_step", |b| {
        b.iter(|| model.step(&mag, &mut masks).unwrap())
    });
}

fn bench_engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("split_engine_10s_stereo");
    group.sample_size(10);
    let len = 441_000;
    let left = parity_signal(len);
    let right: Vec<f32> = left.iter().map(|x| 0.8 * x).collect();
    for (name, mode, model) in [
        ("hpss", SplitMode::Hpss, ModelSource::None),
        ("neural_offline", SplitMode::Neural, ModelSource::Default),
    ] {
        for block in [64usize, 512] {
            group.throughput(Throughput::Elements(len as u64));
            group.bench_with_input(
                BenchmarkId::from_parameter(format!("{name}_block{block}")),
                &block,
                |b, &block| {
                    let mut engine = SplitEngine::new(SplitSettings {
                        mode,
                        deadline: Deadline::Wait,
                        model: model.clone(),
                    });
                    engine.prepare(44_100.0, block, 2);
                    let mut outs = vec![vec![0.0f32; block]; NUM_STEMS * 2];
                    b.iter(|| {
                        engine.reset();
                        for (l, r) in left.chunks(block).zip(right.chunks(block)) {
                            let mut o: Vec<&mut [f32]> =
                                outs.iter_mut().map(|v| &mut v[..l.len()]).collect();
                            engine.process(&[l, r], &mut o);
                        }
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_model, bench_engine);
criterion_main!(benches);
