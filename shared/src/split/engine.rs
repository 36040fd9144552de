//! The real-time separation engine.
//!
//! Audio thread (never allocates, locks or waits in [`Deadline::RealTime`]):
//!
//! 1. the [`SpectralEngine`] STFT (periodic Hann, 75 % overlap; 1024 / 256 at 44.1 kHz, see
//!    [`bins`](super::bins) for other rates) analyses every channel;
//! 2. the mid channel's magnitude, mapped to the model's bins, goes into a preallocated
//!    SPSC ring ([`rtrb`]) to the inference worker, tagged with its frame number;
//! 3. the complex spectra wait in a delay line of `D` hops, where `D = max(1, ⌈max_block /
//!    hop⌉)`: the worker always has at least one hop and at least one host block of real
//!    time for a frame (with blocks of `B` samples, `B / hop` frames arrive at once);
//! 4. the masks of the frame `D` hops ago come back through a second ring; they multiply
//!    that frame's spectra, and overlap-add synthesises the three stems.
//!
//! Latency = `n + D · hop` samples, fixed at [`prepare`](Processor::prepare) (1280 samples,
//! 29 ms, at 44.1 kHz with host blocks ≤ 256).
//!
//! **Deadline policy**: if a frame's masks are not back in time, that frame's delayed dry
//! spectrum goes to "other" (so the stems still sum to the delayed input), the miss is
//! counted, and the model's masks fade back in over [`FADE_HOPS`] hops; the 75 %-overlap
//! synthesis window spreads every change over a window, so nothing clicks.
//!
//! **HPSS mode** (classical, no model): the streaming median-filter HPSS of
//! [`crate::hpss`] on the same spectra, one frame of look-ahead: percussive → drums,
//! harmonic below a 150–300 Hz crossover → bass, the rest of the harmonic part → other. It
//! is selectable, and it takes over when no model loads or the model fails.
//!
//! [`Deadline::Wait`] is for offline use (the CLI, tests): the audio thread waits for each
//! frame's masks instead of falling back, so the output is deterministic and equals what a
//! real-time run without misses produces. [`Deadline::Auto`] (the plugin's policy unless
//! the host reliably says it renders offline) is real time while the host keeps real-time
//! pace and waits only while the host runs well ahead of the wall clock (an offline bounce).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use realfft::num_complex::Complex;

use super::bins::{fft_len_for_rate, BinMap};
use super::masks::{FrameState, FrameView};
use super::source::{load_source, ModelSource, ModelSwap};
use super::{MODEL_BINS, NUM_STEMS};
use crate::deadline::Deadline;
use crate::infer::{self, Request, StatusCode, Telemetry, Worker, WorkerSpec};
use crate::stft::SpectralEngine;
use crate::{sanitize_sample_rate, Processor};

/// Hops over which the model's masks fade back in after a miss.
pub const FADE_HOPS: usize = 8;
/// Time-median length of HPSS mode, in frames (52 ms at 44.1 kHz).
pub const HPSS_FRAMES: usize = 9;
/// Frequency-median length of HPSS mode, in bins.
pub const HPSS_BINS: usize = 17;
/// Bass crossover of HPSS mode: all harmonic energy below the first frequency is bass,
/// none above the second (raised cosine between).
pub const HPSS_BASS_HZ: (f32, f32) = (150.0, 300.0);
/// Largest magnitude the model is given (a full-scale sine at a bin centre is 256).
pub const MAX_MODEL_MAGNITUDE: f32 = 2048.0;
/// Frames the request ring holds beyond the scheduling delay.
const RING_SLACK: usize = 64;

/// Which separator produces the masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitMode {
    /// The ONNX model (falls back to HPSS if it cannot run).
    #[default]
    Neural,
    /// Classical median-filter HPSS with a bass crossover.
    Hpss,
}

/// Engine settings fixed at `prepare`.
#[derive(Debug, Clone, Default)]
pub struct SplitSettings {
    pub mode: SplitMode,
    pub deadline: Deadline,
    pub model: ModelSource,
}

/// Streaming drums / bass / other separation (see the module docs).
///
/// Outputs: `outputs[stem * num_channels + ch]`, stems in [`STEM_NAMES`](super::STEM_NAMES)
/// order; with all masks summing to one, the stems add up to the input delayed by
/// [`latency_samples`](Processor::latency_samples).
pub struct SplitEngine {
    settings: SplitSettings,
    engine: SpectralEngine,
    state: FrameState,
    worker: Option<Worker>,
    swap_tx: crossbeam::channel::Sender<ModelSwap>,
    swap_rx: crossbeam::channel::Receiver<ModelSwap>,
    /// [`Deadline::Wait`]: nothing but digital silence since the last reset. An offline
    /// render's stream starts at its first non-zero sample (see `process_observed`).
    before_signal: bool,
}

impl Default for SplitEngine {
    fn default() -> Self {
        Self::new(SplitSettings::default())
    }
}

impl SplitEngine {
    /// Cheap: nothing is allocated or loaded until [`prepare`](Processor::prepare).
    pub fn new(settings: SplitSettings) -> Self {
        let (swap_tx, swap_rx) = crossbeam::channel::bounded(2);
        Self {
            swap_tx,
            swap_rx,
            settings,
            engine: SpectralEngine::default(),
            state: FrameState {
                telemetry: Arc::new(Telemetry::default()),
                fade: 1.0,
                ..FrameState::default()
            },
            worker: None,
            before_signal: true,
        }
    }

    /// A sender through which another thread hands the worker a new, already validated
    /// model (it takes over at the next frame, with a fresh state).
    pub fn model_swapper(&self) -> crossbeam::channel::Sender<ModelSwap> {
        self.swap_tx.clone()
    }

    /// The shared counters and status (for an editor).
    pub fn telemetry(&self) -> Arc<Telemetry> {
        self.state.telemetry.clone()
    }

    /// Sets where the model comes from; takes effect at the next
    /// [`prepare`](Processor::prepare). Not real-time safe.
    pub fn set_model_source(&mut self, source: ModelSource) {
        self.settings.model = source;
    }

    /// Sets the deadline policy; takes effect at the next [`prepare`](Processor::prepare).
    /// A plugin uses [`Deadline::Wait`] only when the host renders offline.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.settings.deadline = deadline;
    }

    /// Switches between [`Deadline::Auto`] and [`Deadline::Wait`] while running, for a host
    /// that says per process call whether it renders offline (VST3's `processMode`). Real-time
    /// safe; takes effect at the next hop. An engine prepared with [`Deadline::RealTime`]
    /// stays real time (its worker drops late frames, so a wait could not be exact).
    pub fn switch_deadline(&mut self, deadline: Deadline) {
        self.state.policy.switch(deadline);
    }

    /// The deadline policy in force.
    pub fn deadline(&self) -> Deadline {
        self.state.policy.current
    }

    /// Selects the separator. Real-time safe; takes effect at the next hop.
    pub fn set_mode(&mut self, mode: SplitMode) {
        self.state.mode = mode;
    }

    /// The selected separator.
    pub fn mode(&self) -> SplitMode {
        self.state.mode
    }

    /// Number of channels prepared.
    pub fn num_channels(&self) -> usize {
        self.state.num_channels
    }

    /// STFT length at the prepared rate.
    pub fn fft_len(&self) -> usize {
        self.engine.fft_len()
    }

    /// Scheduling delay in hops.
    pub fn delay_hops(&self) -> usize {
        self.state.delay_hops
    }

    /// Blocks until the worker has loaded (or failed to load) the model, at most `timeout`.
    /// Not for the audio thread. Returns the status then.
    #[allow(clippy::disallowed_methods)] // not for the audio thread (documented)
    pub fn wait_until_loaded(&self, timeout: Duration) -> StatusCode {
        let t0 = Instant::now();
        loop {
            let code = self.state.telemetry.code();
            if code != StatusCode::Loading || t0.elapsed() >= timeout {
                return code;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Processes one block: `inputs[ch]`, `outputs[stem * num_channels + ch]` (see the type
    /// docs). Never allocates; in [`Deadline::RealTime`] never waits.
    pub fn process(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        self.process_observed(inputs, outputs, |_| {});
    }

    /// [`process`](Self::process), calling `observer` with every synthesised frame (after
    /// its masks are chosen). The observer runs on the audio thread: it must not allocate.
    // Blocks (bounded, on the worker's doorbell) only in an offline render (`Wait`, or
    // `Auto` with the host far ahead of real time), for the model and for late masks.
    #[allow(clippy::disallowed_methods)]
    pub fn process_observed(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        observer: impl FnMut(&FrameView<'_>),
    ) {
        // An offline render starts its stream at its first non-zero sample: the digital
        // silence a host puts before a bounce (Ardour: a varying number of silent blocks and
        // its latency pre-roll) would otherwise set the model's recurrent state and the frame
        // grid, and the bounce would depend on it. Skipped silence gives the fresh engine's
        // output for silence, zeros, and the latency stays exact. Real time never skips: a
        // live stream's frames must keep coming.
        if self.before_signal && self.state.policy.current == Deadline::Wait {
            let len = inputs.first().map_or(0, |c| c.len());
            let first = (0..len).find(|&i| {
                inputs
                    .iter()
                    .any(|c| crate::sanitize::input_sample(c[i]) != 0.0)
            });
            let skip = first.unwrap_or(len);
            for out in outputs.iter_mut() {
                out[..skip].fill(0.0);
            }
            if first.is_none() {
                return;
            }
            self.before_signal = false;
            let mut ins: [&[f32]; 2] = [&[], &[]];
            for (dst, src) in ins.iter_mut().zip(inputs) {
                *dst = &src[skip..];
            }
            let mut outs: [&mut [f32]; 2 * NUM_STEMS] = Default::default();
            let num_outputs = outputs.len().min(outs.len());
            for (dst, src) in outs.iter_mut().zip(outputs.iter_mut()) {
                *dst = &mut src[skip..];
            }
            let num_inputs = inputs.len().min(2);
            self.process_stream(&ins[..num_inputs], &mut outs[..num_outputs], observer);
            return;
        }
        self.before_signal = false;
        self.process_stream(inputs, outputs, observer);
    }

    /// The stream itself (see [`process_observed`](Self::process_observed)).
    #[allow(clippy::disallowed_methods)]
    fn process_stream(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        mut observer: impl FnMut(&FrameView<'_>),
    ) {
        let state = &mut self.state;
        let block_s = inputs.first().map_or(0, |c| c.len()) as f64 / state.sample_rate as f64;
        state.policy.on_block(block_s);
        if state.waits() && state.telemetry.code() == StatusCode::Loading {
            // Offline: the model first. `Auto` waits at most AUTO_MAX_WAIT for it.
            state.wait_for_worker(|s| s.telemetry.code() != StatusCode::Loading);
        }
        self.engine.process(inputs, outputs, |spectra, out| {
            state.on_frame(spectra, out, &mut observer)
        });
        // No subnormal leaves the engine (tiny input through masks and overlap-add).
        for out in outputs.iter_mut() {
            crate::sanitize::flush_subnormals(out);
        }
    }
}

/// A synthesised frame's state ([`Processor::Frame`] of the engine; the observer of
/// [`SplitEngine::process_observed`] sees its spectra and masks too). Its digest is empty:
/// the stems are the engine's output.
#[derive(Debug, Clone, Copy)]
pub struct SplitFrame {
    /// Frame number since the last reset.
    pub frame: u64,
    /// Whether its masks were the model's.
    pub neural: bool,
}

impl crate::Frame for SplitFrame {
    fn digest(&self, _out: &mut Vec<f32>) {}
}

impl Processor for SplitEngine {
    type Frame = SplitFrame;
    fn num_outputs(num_channels: usize) -> usize {
        NUM_STEMS * num_channels.clamp(1, 2)
    }
    fn process(
        &mut self,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
        sink: &mut dyn FnMut(usize, &SplitFrame),
    ) {
        self.process_observed(inputs, outputs, |view| {
            sink(
                0,
                &SplitFrame {
                    frame: view.frame,
                    neural: view.neural,
                },
            )
        });
    }

    fn prepare(&mut self, sample_rate: f32, max_block: usize, num_channels: usize) {
        let sample_rate = sanitize_sample_rate(sample_rate);
        crate::rtsan::resolve();
        let nc = num_channels.clamp(1, 2);
        let n = fft_len_for_rate(sample_rate);
        let hop = n / 4;
        // Stop the old worker before the rings it uses go away.
        self.worker = None;
        self.engine.prepare(n, nc, NUM_STEMS);
        let map = BinMap::new(sample_rate, n);
        let hb = map.host_bins();
        let delay_hops = max_block.max(1).div_ceil(hop).max(1);
        let slots = delay_hops + 1;
        let s = &mut self.state;
        s.sample_rate = sample_rate;
        s.policy
            .prepare(self.settings.deadline, sample_rate, max_block);
        if s.frame == 0 && s.epoch == 0 {
            s.mode = self.settings.mode;
        }
        s.num_channels = nc;
        s.host_bins = hb;
        s.delay_hops = delay_hops;
        s.host_mag = vec![0.0; hb];
        s.delay = vec![vec![vec![Complex::new(0.0, 0.0); hb]; nc]; slots];
        s.hpss_masks = vec![vec![0.0; NUM_STEMS * hb]; slots];
        s.hpss.prepare(hb, HPSS_FRAMES, HPSS_BINS, 1);
        s.bass_weight = (0..hb)
            .map(|i| {
                let f = i as f32 * sample_rate / n as f32;
                let (lo, hi) = HPSS_BASS_HZ;
                if f <= lo {
                    1.0
                } else if f >= hi {
                    0.0
                } else {
                    0.5 + 0.5 * (std::f32::consts::PI * (f - lo) / (hi - lo)).cos()
                }
            })
            .collect();
        s.model_masks = vec![0.0; NUM_STEMS * MODEL_BINS];
        s.host_masks = vec![0.0; NUM_STEMS * hb];
        s.map = map;
        s.request = Some(Box::new(Request {
            epoch: 0,
            frame: 0,
            input: [0.0; MODEL_BINS],
        }));
        let t = &s.telemetry;
        t.misses.store(0, Ordering::Relaxed);
        t.frames.store(0, Ordering::Relaxed);
        t.inferences.store(0, Ordering::Relaxed);
        t.infer_us_max.store(0.0, Ordering::Relaxed);
        self.worker = None;
        s.worker_thread = None;
        s.requests = None;
        s.responses = None;
        if matches!(self.settings.model, ModelSource::None) {
            t.set_status(StatusCode::NoModel, "no model: HPSS mode");
        } else {
            t.set_status(StatusCode::Loading, "loading the model");
            let (req_tx, req_rx) = rtrb::RingBuffer::new(delay_hops + RING_SLACK);
            let (resp_tx, resp_rx) = rtrb::RingBuffer::new(delay_hops + RING_SLACK);
            let source = self.settings.model.clone();
            let spec = WorkerSpec {
                name: "prism-split-inference",
                // Real time skips frames that are already late; `Auto` keeps every frame, so
                // a bounce it recognises late still has the offline state.
                skip_late_beyond: (self.settings.deadline == Deadline::RealTime)
                    .then_some(delay_hops),
                fallback: "HPSS",
                idle_poll: std::time::Duration::from_micros(200),
            };
            let load = move |t: &Telemetry| load_source(&source, t);
            let rings = (req_rx, resp_tx);
            let blank = [0.0; NUM_STEMS * MODEL_BINS];
            match infer::spawn(load, t.clone(), rings, self.swap_rx.clone(), spec, blank) {
                Ok(worker) => {
                    s.requests = Some(req_tx);
                    s.responses = Some(resp_rx);
                    s.worker_thread = worker.handle.as_ref().map(|h| h.thread().clone());
                    self.worker = Some(worker);
                }
                // No thread, no model: HPSS, and the status says why.
                Err(e) => t.set_status(
                    StatusCode::LoadFailed,
                    &format!("cannot start the inference thread ({e}); running HPSS instead"),
                ),
            }
        }
        self.reset();
    }

    fn reset(&mut self) {
        self.engine.reset();
        self.before_signal = true;
        let s = &mut self.state;
        s.epoch = s.epoch.wrapping_add(1);
        s.frame = 0;
        s.first_submitted = None;
        s.fade = 1.0;
        s.policy.reset();
        s.hpss.reset();
        for slot in &mut s.delay {
            for ch in slot {
                ch.fill(Complex::new(0.0, 0.0));
            }
        }
        for m in &mut s.hpss_masks {
            m.fill(0.0);
        }
    }

    fn latency_samples(&self) -> usize {
        self.engine.fft_len() + self.state.delay_hops * self.engine.hop()
    }
}
