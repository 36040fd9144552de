use prism_shared::pitch::hmm::{self, PitchHmm};
use prism_shared::pitch::yin::{Candidates, Yin};
use std::time::Instant;
fn main() {
    fft_only();
    let sr = 44100.0f32;
    let mut yin = Yin::default();
    yin.prepare(sr, 662, 1103);
    let n = yin.frame_len();
    let frame: Vec<f32> = (0..n).map(|i| { let t = i as f64 / sr as f64; (1..=10).map(|k| (std::f64::consts::TAU * 220.0 * k as f64 * t).sin() / k as f64).sum::<f64>() as f32 * 0.3 }).collect();
    let mut c = Candidates::default();
    let iters = 20000;
    let t0 = Instant::now();
    for _ in 0..iters { yin.analyze(&frame, 22, 1103, &mut c); }
    let ta = t0.elapsed().as_secs_f64() / iters as f64 * 1e6;
    let best = c.as_slice().iter().min_by(|a, b| a.height.total_cmp(&b.height)).unwrap().period;
    let t0 = Instant::now();
    let mut acc = 0.0;
    for _ in 0..iters { acc += yin.refine(&frame, best); }
    let tr = t0.elapsed().as_secs_f64() / iters as f64 * 1e6;
    let mut h = PitchHmm::default();
    h.prepare(344.0, 2);
    let mut obs = vec![0.0f32; h.num_bins()];
    for cand in c.as_slice() { obs[hmm::bin_of(cand.frequency_hz)] += cand.probability; }
    let t0 = Instant::now();
    let mut s = 0usize;
    for _ in 0..iters { s += h.push(&obs, c.voiced_probability).1; }
    let th = t0.elapsed().as_secs_f64() / iters as f64 * 1e6;
    println!("analyze {ta:.1} us, refine {tr:.1} us, hmm {th:.1} us (troughs {}) {acc} {s}", c.len);
}
#[allow(dead_code)]
fn fft_only() {
    let mut planner = realfft::RealFftPlanner::<f32>::new();
    let f = planner.plan_fft_forward(2048);
    let inv = planner.plan_fft_inverse(2048);
    let mut a = f.make_input_vec();
    let mut s = f.make_output_vec();
    let mut o = inv.make_output_vec();
    let t0 = Instant::now();
    for i in 0..20000 { a[0] = i as f32; f.process(&mut a, &mut s).unwrap(); s[0].im = 0.0; s[1024].im = 0.0; inv.process(&mut s, &mut o).unwrap(); }
    println!("fft pair {:.2} us", t0.elapsed().as_secs_f64() / 20000.0 * 1e6);
}
