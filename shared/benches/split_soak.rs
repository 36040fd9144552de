//! Soak test of Prism Split at real-time pace: music streamed block by block, each block
//! started at its wall-clock deadline as a sound card would, with the plugin's live deadline
//! policy (`Deadline::Auto`: at real-time pace the audio thread never waits; late masks are
//! misses).
//!
//!     cargo bench -p prism-shared --bench split_soak                 # 10 min per block size
//!     cargo bench -p prism-shared --bench split_soak -- --seconds 60
//!     cargo bench -p prism-shared --bench split_soak -- --blocks 64,512
//!
//! Reports, per host block size (64, 128, 256, 512 at 44.1 kHz stereo): audio-thread time
//! per block (p50 / p95 / p99 / max, and as a share of the block's duration), deadline
//! misses, the worker's inference time per frame, and the CPU share of both threads.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prism_shared::split::{
    parity_signal, Deadline, ModelSource, SplitEngine, SplitMode, SplitSettings, StatusCode,
    NUM_STEMS,
};
use prism_shared::Processor;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(600.0);
    let blocks: Vec<usize> = args
        .iter()
        .position(|a| a == "--blocks")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 128, 256, 512]);
    let sr = 44_100.0f32;
    // One minute of music, looped.
    let minute = parity_signal(60 * 44_100);
    println!("Prism Split soak: {seconds} s per block size, 44.1 kHz stereo, real-time pacing, auto deadline");
    println!("| block | p50 | p95 | p99 | max | max / block duration | misses / frames | inference p-max | CPU (both threads) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for block in blocks {
        let mut engine = SplitEngine::new(SplitSettings {
            mode: SplitMode::Neural,
            // The plugin's live policy (real time at real-time pace).
            deadline: Deadline::Auto,
            model: ModelSource::Default,
        });
        engine.prepare(sr, block, 2);
        assert_eq!(
            engine.wait_until_loaded(Duration::from_secs(60)),
            StatusCode::Ready
        );
        let telemetry = engine.telemetry();
        let mut outs = vec![vec![0.0f32; block]; NUM_STEMS * 2];
        let mut right = vec![0.0f32; block];
        let blocks = (seconds * sr as f64 / block as f64) as usize;
        let period = Duration::from_secs_f64(block as f64 / sr as f64);
        let mut times = Vec::with_capacity(blocks);
        let start = Instant::now();
        let mut pos = 0usize;
        for k in 0..blocks {
            let deadline = start + period * k as u32;
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            let left: Vec<f32> = (0..block)
                .map(|i| minute[(pos + i) % minute.len()])
                .collect();
            for (r, l) in right.iter_mut().zip(&left) {
                *r = 0.8 * l;
            }
            pos += block;
            let t0 = Instant::now();
            let mut o: Vec<&mut [f32]> = outs.iter_mut().map(|v| &mut v[..]).collect();
            engine.process(&[&left, &right], &mut o);
            times.push(t0.elapsed().as_secs_f64());
        }
        let wall = start.elapsed().as_secs_f64();
        let audio_thread: f64 = times.iter().sum();
        let worker = telemetry.infer_ns_total.load(Ordering::Relaxed) as f64 * 1e-9;
        let status = telemetry.snapshot();
        times.sort_by(|a, b| a.total_cmp(b));
        let us = |s: f64| s * 1e6;
        println!(
            "| {block} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs | {:.1} % | {} / {} | {:.0} µs | {:.1} % |",
            us(percentile(&times, 0.5)),
            us(percentile(&times, 0.95)),
            us(percentile(&times, 0.99)),
            us(*times.last().unwrap()),
            100.0 * times.last().unwrap() / period.as_secs_f64(),
            status.misses,
            status.frames,
            status.infer_us_max,
            100.0 * (audio_thread + worker) / wall,
        );
    }
}
