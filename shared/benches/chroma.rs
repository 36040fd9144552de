//! Real-time factor of the chroma analyser: seconds of audio processed per second of CPU,
//! at 44.1 and 48 kHz, host blocks of 64 and 512, with and without drum suppression, and
//! with the NNLS chord evidence and the learned chord layer, each with a 250 ms look-ahead.
//!
//! Criterion reports time per 10 s of stereo audio; RTF = 10 s / that time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prism_shared::analyzer::Evidence;
use prism_shared::deadline::Deadline;
use prism_shared::synth::progression;
use prism_shared::{ChromaAnalyzer, ChromaSettings, Processor};

fn bench_chroma(c: &mut Criterion) {
    let mut group = c.benchmark_group("chroma_10s_stereo");
    group.sample_size(10);
    for sample_rate in [44_100.0f32, 48_000.0] {
        let piece = progression(sample_rate, &[1, 8, 22, 6], 120.0, 4, true, 1);
        let len = (10.0 * sample_rate) as usize;
        let mono: Vec<f32> = piece.samples.iter().cycle().take(len).copied().collect();
        let right: Vec<f32> = mono.iter().map(|x| 0.8 * x).collect();
        for block in [64usize, 512] {
            // Templates with and without drum suppression; NNLS notes and the learned layer
            // with a 250 ms look-ahead (the heaviest chord paths) beside them in the same run.
            // The learned layer waits for its worker on every frame (the offline deadline), so
            // the network's time is in the figure, as if both ran on one core.
            let variants = [
                ("hpss", true, Evidence::Filterbank, 0.0),
                ("nohpss", false, Evidence::Filterbank, 0.0),
                ("hpss_nnls_ahead250", true, Evidence::Nnls, 250.0),
                ("hpss_learned_ahead250", true, Evidence::Learned, 250.0),
            ];
            for (name, drum_suppression, evidence, lookahead_ms) in variants {
                let id = format!("{}k_block{}_{}", sample_rate / 1000.0, block, name);
                group.throughput(Throughput::Elements(len as u64));
                group.bench_with_input(BenchmarkId::from_parameter(id), &block, |b, &block| {
                    let mut analyzer = ChromaAnalyzer::new(ChromaSettings {
                        drum_suppression,
                        evidence,
                        lookahead_ms,
                        ..ChromaSettings::default()
                    });
                    analyzer.set_deadline(Deadline::Wait);
                    analyzer.prepare(sample_rate, block, 2);
                    b.iter(|| {
                        analyzer.reset();
                        let mut frames = 0usize;
                        for (l, r) in mono.chunks(block).zip(right.chunks(block)) {
                            analyzer.process(&[l, r], |_, _| frames += 1);
                        }
                        frames
                    });
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench_chroma);
criterion_main!(benches);
