//! Real-time factor of the pitch tracker: seconds of audio per second of CPU, mono at 44.1
//! and 48 kHz, host blocks of 64 and 512, on a melody of harmonic tones with rests (voiced
//! frames cost the sub-sample refinement; silent ones almost nothing) and on white noise.
//!
//! Criterion reports time per 10 s of audio; RTF = 10 s / that time. The same run measures
//! a plain 2048-point real FFT per hop as the reference the README ratios are taken against.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prism_shared::synth::XorShift;
use prism_shared::{PitchSettings, PitchTracker, Processor};

fn melody(sample_rate: f32, len: usize) -> Vec<f32> {
    let notes = [57u8, 64, 69, 0, 72, 76, 45, 0, 52, 60];
    let note_len = (0.4 * sample_rate) as usize;
    let mut phase = 0.0f64;
    (0..len)
        .map(|i| {
            let note = notes[(i / note_len) % notes.len()];
            if note == 0 {
                return 0.0;
            }
            let f = 440.0 * 2f64.powf((note as f64 - 69.0) / 12.0);
            phase = (phase + f / sample_rate as f64).fract();
            let x: f64 = (1..=10)
                .map(|k| (std::f64::consts::TAU * k as f64 * phase).sin() / k as f64)
                .sum();
            (0.3 * x) as f32
        })
        .collect()
}

fn bench_pitch(c: &mut Criterion) {
    let mut group = c.benchmark_group("pitch_10s_mono");
    group.sample_size(10);
    for sample_rate in [44_100.0f32, 48_000.0] {
        let len = (10.0 * sample_rate) as usize;
        let tune = melody(sample_rate, len);
        let mut rng = XorShift::new(7);
        let noise: Vec<f32> = (0..len).map(|_| 0.3 * rng.next_f32()).collect();
        for (signal_name, signal) in [("melody", &tune), ("noise", &noise)] {
            for block in [64usize, 512] {
                let id = format!("{}k_block{block}_{signal_name}", sample_rate / 1000.0);
                group.throughput(Throughput::Elements(len as u64));
                group.bench_with_input(BenchmarkId::from_parameter(id), &block, |b, &block| {
                    let mut tracker = PitchTracker::new(PitchSettings::default());
                    tracker.prepare(sample_rate, block, 1);
                    b.iter(|| {
                        tracker.reset();
                        let mut frames = 0usize;
                        for chunk in signal.chunks(block) {
                            tracker.process(&[chunk], |_, _, _| frames += 1);
                        }
                        frames
                    });
                });
            }
        }
    }
    // Reference: one forward + one inverse 2000-point real FFT per 128-sample hop.
    let len = 441_000usize;
    let hops = len / 128;
    let mut planner = realfft::RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(2000);
    let inverse = planner.plan_fft_inverse(2000);
    let mut input = forward.make_input_vec();
    let mut spectrum = forward.make_output_vec();
    let mut output = inverse.make_output_vec();
    group.throughput(Throughput::Elements(len as u64));
    group.bench_function("reference_fft_pair_per_hop_44.1k", |b| {
        b.iter(|| {
            for h in 0..hops {
                input[0] = h as f32;
                forward.process(&mut input, &mut spectrum).unwrap();
                spectrum[0].im = 0.0;
                spectrum[1000].im = 0.0;
                inverse.process(&mut spectrum, &mut output).unwrap();
            }
            output[0]
        });
    });
    group.finish();
}

criterion_group!(benches, bench_pitch);
criterion_main!(benches);
