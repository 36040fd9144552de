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

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
// The Mutex holds the status message: written by prepare() and the worker, read by the GUI;
// the audio thread only reads the status code (an atomic).
#[allow(clippy::disallowed_types)]
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use atomic_float::AtomicF32;
use realfft::num_complex::Complex;

use super::bins::{fft_len_for_rate, BinMap};
use super::model::{ModelError, NeuralModel};
use super::{MODEL_BINS, NUM_STEMS};
use crate::hpss::MedianHpss;
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

/// What to do when a frame's masks are late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deadline {
    /// Real time: never wait; output the defined fallback and count the miss.
    #[default]
    RealTime,
    /// Offline: wait for the worker (CLI, tests, and a host that says it renders offline).
    Wait,
    /// A plugin whose host may render offline without saying so, or says so unreliably:
    /// real time while the host keeps real-time pace, and waiting for the masks (at most
    /// [`AUTO_MAX_WAIT`] per frame) while the host runs ahead of the wall clock by more than
    /// [`AUTO_LEAD_BLOCKS`] host blocks (at least [`AUTO_LEAD_MIN`]). No real-time stream
    /// can be that far ahead, so the audio thread of a live host never waits.
    Auto,
}

/// [`Deadline::Auto`]: the host counts as rendering offline while the audio it delivered
/// exceeds the wall-clock time it took by this many host blocks…
pub const AUTO_LEAD_BLOCKS: f64 = 4.0;
/// …and by at least this much.
pub const AUTO_LEAD_MIN: Duration = Duration::from_millis(50);
/// [`Deadline::Auto`]: time constant of the lead's leak, so that a sound card whose clock
/// runs slightly fast never accumulates a lead (0.02 % drift leads by 0.4 ms).
pub const AUTO_LEAD_LEAK: Duration = Duration::from_secs(2);
/// [`Deadline::Auto`]: the longest the audio thread waits for one frame's masks. A worker
/// that misses it is stalled: the engine behaves as [`Deadline::RealTime`] until the next
/// reset.
pub const AUTO_MAX_WAIT: Duration = Duration::from_secs(1);
/// [`Deadline::Wait`]: the longest the audio thread waits for one frame's masks (or for the
/// model to load). A worker that misses it is stalled: the frame counts as a miss and the
/// engine stops waiting until the next reset, so a render with a broken worker ends.
pub const OFFLINE_MAX_WAIT: Duration = Duration::from_secs(10);
/// A waiting audio thread re-checks the worker's state at least this often (a wake-up the
/// worker cannot give: it died, or its status changed without a response).
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// How far a host's audio runs ahead of the wall clock ([`Deadline::Auto`]).
#[derive(Debug, Default, Clone, Copy)]
struct Pace {
    last: Option<Instant>,
    /// Audio delivered minus wall-clock time taken, leaky, in seconds (never negative).
    lead_s: f64,
    /// Lead above which the host renders offline.
    threshold_s: f64,
    /// True while the host runs ahead: late masks are waited for.
    ahead: bool,
    /// A wait timed out: no more waiting until the next reset.
    gave_up: bool,
    /// Seconds this engine waited (for the worker) since the last block: not the host's
    /// time, so a bounce stays "ahead" even when the worker is slower than real time.
    waited_s: f64,
}

impl Pace {
    fn prepare(&mut self, sample_rate: f32, max_block: usize) {
        let block_s = max_block.max(1) as f64 / sample_rate as f64;
        self.threshold_s = (AUTO_LEAD_BLOCKS * block_s).max(AUTO_LEAD_MIN.as_secs_f64());
        self.reset();
    }

    fn reset(&mut self) {
        self.last = None;
        self.lead_s = 0.0;
        self.ahead = false;
        self.gave_up = false;
        self.waited_s = 0.0;
    }

    /// A block of `block_s` seconds arrives now.
    fn on_block(&mut self, now: Instant, block_s: f64) {
        if let Some(last) = self.last {
            let wall = (now.saturating_duration_since(last).as_secs_f64() - self.waited_s).max(0.0);
            let leak = (-wall / AUTO_LEAD_LEAK.as_secs_f64()).exp();
            self.lead_s = (self.lead_s * leak - wall).max(0.0);
        }
        self.lead_s += block_s;
        self.last = Some(now);
        self.waited_s = 0.0;
        self.ahead = !self.gave_up && self.lead_s > self.threshold_s;
    }
}

/// Where the model comes from.
#[derive(Debug, Clone, Default)]
pub enum ModelSource {
    /// The model embedded in the binary.
    #[default]
    Default,
    /// An ONNX file's bytes (a user's model).
    Bytes(Arc<[u8]>),
    /// An ONNX file, read on the worker (a user's model saved with a session by its path).
    File(std::path::PathBuf),
    /// No model: HPSS only.
    None,
    /// A custom loader (another model store; the tests' faulty loaders), run on the worker
    /// with panics caught. If it fails the engine runs HPSS and says why.
    Loader(ModelLoader),
}

/// A function that produces a model, for [`ModelSource::Loader`].
#[derive(Clone)]
pub struct ModelLoader(pub Arc<dyn Fn() -> Result<NeuralModel, ModelError> + Send + Sync>);

impl std::fmt::Debug for ModelLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelLoader(..)")
    }
}

/// Engine settings fixed at `prepare`.
#[derive(Debug, Clone, Default)]
pub struct SplitSettings {
    pub mode: SplitMode,
    pub deadline: Deadline,
    pub model: ModelSource,
}

/// The worker's state, as shown in the editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StatusCode {
    /// The model is being loaded and optimised on the worker thread.
    Loading = 0,
    /// The model runs.
    Ready = 1,
    /// No model was requested.
    NoModel = 2,
    /// No model loaded (not even the built-in one); HPSS runs instead (see the message).
    LoadFailed = 3,
    /// The model failed while running; HPSS runs instead (see the message).
    RunFailed = 4,
}

impl StatusCode {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Loading,
            1 => Self::Ready,
            2 => Self::NoModel,
            3 => Self::LoadFailed,
            _ => Self::RunFailed,
        }
    }
}

/// Counters and status shared with the editor (atomics; the message is written by the
/// worker thread and read by the GUI only, never touched by the audio thread).
#[derive(Debug, Default)]
pub struct SplitTelemetry {
    status: AtomicU8,
    #[allow(clippy::disallowed_types)] // never locked by the audio thread
    message: Mutex<String>,
    /// Frames whose masks were late (deadline misses).
    pub misses: AtomicU64,
    /// Frames the audio thread has completed.
    pub frames: AtomicU64,
    /// Frames the worker has run.
    pub inferences: AtomicU64,
    /// The worker's last and largest time per frame, in microseconds.
    pub infer_us_last: AtomicF32,
    pub infer_us_max: AtomicF32,
    /// The worker's total inference time, nanoseconds.
    pub infer_ns_total: AtomicU64,
    /// Test hook: the worker sleeps this long before every frame (stall injection);
    /// `u32::MAX` stalls it until the value changes.
    pub inject_stall_us: AtomicU32,
    /// Whether the masks in use are the model's (false: HPSS or fallback).
    pub neural_active: AtomicBool,
    /// Rung by the worker after every response and status change; an offline render blocks
    /// on it instead of spinning.
    doorbell: Doorbell,
}

/// A bounded, blocking wake-up from the worker to an audio thread that waits for it. Only
/// offline renders wait (inside an [`OfflineSection`](crate::rtsan::OfflineSection)); the
/// real-time path never touches it. The worker's ring is an uncontended lock and a
/// `notify_all`, which costs no syscall while nobody waits.
#[derive(Debug, Default)]
struct Doorbell {
    #[allow(clippy::disallowed_types)] // locked by the worker; by the audio thread offline only
    rings: Mutex<u64>,
    #[allow(clippy::disallowed_types)]
    bell: Condvar,
}

impl Doorbell {
    fn ring(&self) {
        if let Ok(mut n) = self.rings.lock() {
            *n = n.wrapping_add(1);
        }
        self.bell.notify_all();
    }

    /// How often it has rung (read before checking what the worker produced).
    fn rings(&self) -> u64 {
        self.rings.lock().map_or(0, |n| *n)
    }

    /// Blocks until it rings after `seen`, at most `timeout`.
    fn wait_past(&self, seen: u64, timeout: Duration) {
        if let Ok(n) = self.rings.lock() {
            let _ = self.bell.wait_timeout_while(n, timeout, |n| *n == seen);
        }
    }
}

/// A snapshot of [`SplitTelemetry`].
#[derive(Debug, Clone, PartialEq)]
pub struct SplitStatus {
    pub code: StatusCode,
    pub message: String,
    pub misses: u64,
    pub frames: u64,
    pub infer_us_last: f32,
    pub infer_us_max: f32,
}

impl SplitTelemetry {
    fn set_status(&self, code: StatusCode, message: &str) {
        if let Ok(mut m) = self.message.lock() {
            m.clear();
            m.push_str(message);
        }
        self.status.store(code as u8, Ordering::Release);
        self.doorbell.ring();
    }

    /// Offline only: blocks until the worker has produced something after `seen` rings,
    /// at most until `until` and never longer than [`WAIT_SLICE`]. Returns false once
    /// `until` has passed.
    #[allow(clippy::disallowed_methods)]
    fn wait_for_worker(&self, seen: u64, until: Instant) -> bool {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        self.doorbell.wait_past(seen, (until - now).min(WAIT_SLICE));
        true
    }

    /// The worker's state. Real-time safe (an atomic load).
    pub fn code(&self) -> StatusCode {
        StatusCode::from_u8(self.status.load(Ordering::Acquire))
    }

    /// A snapshot for display (locks the message: not for the audio thread).
    pub fn snapshot(&self) -> SplitStatus {
        SplitStatus {
            code: self.code(),
            message: self.message.lock().map(|m| m.clone()).unwrap_or_default(),
            misses: self.misses.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            infer_us_last: self.infer_us_last.load(Ordering::Relaxed),
            infer_us_max: self.infer_us_max.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Copy)]
struct Request {
    epoch: u32,
    frame: u64,
    mag: [f32; MODEL_BINS],
}

#[derive(Clone, Copy)]
struct Response {
    epoch: u32,
    frame: u64,
    masks: [f32; NUM_STEMS * MODEL_BINS],
}

/// The default model, parsed and optimised once per process and shared by all instances.
fn default_model() -> Result<NeuralModel, ModelError> {
    static CACHE: OnceLock<Result<NeuralModel, ModelError>> = OnceLock::new();
    match CACHE.get_or_init(NeuralModel::load_default) {
        Ok(m) => Ok(m.fresh()),
        Err(e) => Err(e.clone()),
    }
}

struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A model for a running engine's worker, loaded and validated elsewhere (e.g. the GUI
/// thread), with a name for the status line.
pub struct ModelSwap {
    pub model: NeuralModel,
    pub name: String,
}

/// The first model that loads: the requested one, else the built-in one.
fn load_source(source: &ModelSource, telemetry: &SplitTelemetry) -> Option<NeuralModel> {
    match source {
        ModelSource::None => {
            telemetry.set_status(StatusCode::NoModel, "no model: HPSS mode");
            None
        }
        ModelSource::Default => match default_model() {
            Ok(m) => {
                telemetry.set_status(StatusCode::Ready, "built-in model prism-split-v1");
                Some(m)
            }
            Err(e) => {
                telemetry.set_status(
                    StatusCode::LoadFailed,
                    &format!("built-in model: {e}; running HPSS instead"),
                );
                None
            }
        },
        ModelSource::Loader(loader) => match NeuralModel::guarded(|| (loader.0)()) {
            Ok(m) => {
                telemetry.set_status(StatusCode::Ready, "custom model");
                Some(m)
            }
            Err(e) => {
                telemetry.set_status(
                    StatusCode::LoadFailed,
                    &format!("model: {e}; running HPSS instead"),
                );
                None
            }
        },
        ModelSource::Bytes(b) => user_model(NeuralModel::load(b), telemetry),
        ModelSource::File(path) => {
            let loaded = std::fs::read(path)
                .map_err(|e| ModelError::Unreadable(format!("{}: {e}", path.display())))
                .and_then(|bytes| NeuralModel::load(&bytes));
            user_model(loaded, telemetry)
        }
    }
}

/// A user's model, or the built-in one if it is rejected (the status says why).
fn user_model(
    loaded: Result<NeuralModel, ModelError>,
    telemetry: &SplitTelemetry,
) -> Option<NeuralModel> {
    let e = match loaded {
        Ok(m) => {
            telemetry.set_status(StatusCode::Ready, "user model");
            return Some(m);
        }
        Err(e) => e,
    };
    match default_model() {
        Ok(m) => {
            telemetry.set_status(
                StatusCode::Ready,
                &format!("user model rejected ({e}); using the built-in model"),
            );
            Some(m)
        }
        Err(e2) => {
            telemetry.set_status(
                StatusCode::LoadFailed,
                &format!("user model rejected ({e}); built-in model: {e2}; running HPSS instead"),
            );
            None
        }
    }
}

// The inference worker's thread: it may block; the audio thread reaches it only through
// the rings.
#[allow(clippy::disallowed_methods)]
fn spawn_worker(
    source: ModelSource,
    telemetry: Arc<SplitTelemetry>,
    mut requests: rtrb::Consumer<Request>,
    mut responses: rtrb::Producer<Response>,
    swaps: crossbeam::channel::Receiver<ModelSwap>,
    delay_hops: usize,
    skip_late: bool,
) -> Worker {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = stop.clone();
    let handle = std::thread::Builder::new()
        .name("prism-split-inference".into())
        .spawn(move || {
            let mut model = load_source(&source, &telemetry);
            let mut epoch = u32::MAX;
            let mut next_frame = 0u64;
            let mut masks = [0.0f32; NUM_STEMS * MODEL_BINS];
            while !stop_w.load(Ordering::Acquire) {
                if let Ok(swap) = swaps.try_recv() {
                    let mut m = swap.model;
                    m.reset();
                    model = Some(m);
                    // The next request restarts the state.
                    epoch = u32::MAX;
                    telemetry.set_status(StatusCode::Ready, &swap.name);
                }
                let Some(net) = model.as_mut() else {
                    // No usable model: drop requests (the audio thread runs HPSS).
                    while requests.pop().is_ok() {}
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let Ok(mut req) = requests.pop() else {
                    // Woken early by an offline (`Deadline::Wait`) engine; real time polls.
                    std::thread::park_timeout(Duration::from_micros(200));
                    continue;
                };
                // Catching up after a stall (real time): with more than `delay_hops` newer
                // frames queued, this one is already late; skip to the newest that can still
                // be on time (the gap restarts the recurrent state below). `Auto` keeps every
                // frame, so that a bounce it recognises late still has the offline state.
                while skip_late && requests.slots() > delay_hops {
                    match requests.pop() {
                        Ok(newer) => req = newer,
                        Err(_) => break,
                    }
                }
                if req.epoch != epoch || req.frame != next_frame {
                    // A new stream (reset) or a gap: the recurrent state starts afresh.
                    net.reset();
                    epoch = req.epoch;
                }
                next_frame = req.frame + 1;
                let stall = telemetry.inject_stall_us.load(Ordering::Relaxed);
                if stall == u32::MAX {
                    // Stall until released (tests).
                    while telemetry.inject_stall_us.load(Ordering::Relaxed) == u32::MAX
                        && !stop_w.load(Ordering::Acquire)
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                } else if stall > 0 {
                    std::thread::sleep(Duration::from_micros(stall as u64));
                }
                let t0 = Instant::now();
                if let Err(e) = net.step(&req.mag, &mut masks) {
                    telemetry
                        .set_status(StatusCode::RunFailed, &format!("{e}; running HPSS instead"));
                    model = None;
                    continue;
                }
                let elapsed = t0.elapsed();
                telemetry
                    .infer_ns_total
                    .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
                let us = elapsed.as_secs_f32() * 1e6;
                telemetry.infer_us_last.store(us, Ordering::Relaxed);
                if us > telemetry.infer_us_max.load(Ordering::Relaxed) {
                    telemetry.infer_us_max.store(us, Ordering::Relaxed);
                }
                telemetry.inferences.fetch_add(1, Ordering::Relaxed);
                let _ = responses.push(Response {
                    epoch: req.epoch,
                    frame: req.frame,
                    masks,
                });
                telemetry.doorbell.ring();
            }
        })
        .expect("spawning the inference thread");
    Worker {
        stop,
        handle: Some(handle),
    }
}

/// One synthesised frame, as an observer (editor, CLI plot) sees it.
#[derive(Debug)]
pub struct FrameView<'a> {
    /// Per channel: the frame's complex spectrum (`host_bins` bins).
    pub spectra: &'a [Vec<Complex<f32>>],
    /// The masks applied, stem-major (3 × `host_bins`).
    pub masks: &'a [f32],
    pub host_bins: usize,
    /// Frame number since the last reset.
    pub frame: u64,
    /// Whether the masks are the model's (false: HPSS or the miss fallback).
    pub neural: bool,
}

/// Everything the per-hop callback touches (split from the STFT engine for borrowing).
#[derive(Default)]
struct FrameState {
    mode: SplitMode,
    deadline: Deadline,
    /// Host pace, for [`Deadline::Auto`].
    pace: Pace,
    sample_rate: f32,
    num_channels: usize,
    host_bins: usize,
    map: BinMap,
    /// Scheduling delay in hops.
    delay_hops: usize,
    epoch: u32,
    /// Frames analysed since the last reset.
    frame: u64,
    /// First frame of the current run of submitted requests (after a reset or a switch).
    first_submitted: Option<u64>,
    host_mag: Vec<f32>,
    request: Option<Box<Request>>,
    /// Per delay slot and channel: the spectrum (`delay_hops + 1` slots).
    delay: Vec<Vec<Vec<Complex<f32>>>>,
    /// Per delay slot: the HPSS host masks (3 × host_bins) of that frame.
    hpss_masks: Vec<Vec<f32>>,
    hpss: MedianHpss,
    bass_weight: Vec<f32>,
    model_masks: Vec<f32>,
    host_masks: Vec<f32>,
    /// 0..=1: how much of the model's masks is used (1 - fallback share).
    fade: f32,
    requests: Option<rtrb::Producer<Request>>,
    responses: Option<rtrb::Consumer<Response>>,
    /// The worker, to wake it in offline mode.
    worker_thread: Option<std::thread::Thread>,
    telemetry: Arc<SplitTelemetry>,
}

impl FrameState {
    fn slot(&self, frame: u64) -> usize {
        (frame % (self.delay_hops as u64 + 1)) as usize
    }

    /// Whether late masks are waited for now (offline, or `Auto` with the host ahead).
    fn waits(&self) -> bool {
        match self.deadline {
            Deadline::RealTime => false,
            Deadline::Wait => !self.pace.gave_up,
            Deadline::Auto => self.pace.ahead,
        }
    }

    /// Offline only: blocks on the worker's doorbell until `done` (checked after every ring,
    /// and at least every [`WAIT_SLICE`]), for at most [`max_wait`](Self::max_wait). A worker
    /// that misses that bound is stalled: no more waiting until the next reset.
    fn wait_for_worker(&mut self, mut done: impl FnMut(&mut Self) -> bool) {
        let _offline = crate::rtsan::OfflineSection::enter();
        let started = Instant::now();
        let until = started + self.max_wait();
        loop {
            let seen = self.telemetry.doorbell.rings();
            if done(self) {
                break;
            }
            if !self.telemetry.wait_for_worker(seen, until) {
                self.pace.gave_up = true;
                self.pace.ahead = false;
                break;
            }
        }
        self.pace.waited_s += started.elapsed().as_secs_f64();
    }

    /// The longest wait for one frame's masks under this policy.
    fn max_wait(&self) -> Duration {
        if self.deadline == Deadline::Wait {
            OFFLINE_MAX_WAIT
        } else {
            AUTO_MAX_WAIT
        }
    }

    /// The worker has a model and it has not failed (while it loads, HPSS runs).
    fn model_usable(&self) -> bool {
        self.responses.is_some() && self.telemetry.code() == StatusCode::Ready
    }

    /// Looks for the masks of `target` in the response ring (dropping stale ones) and
    /// copies them to `model_masks`.
    fn take_response(&mut self, target: u64) -> bool {
        let Some(responses) = self.responses.as_mut() else {
            return false;
        };
        loop {
            let Ok(r) = responses.peek() else {
                return false;
            };
            if r.epoch != self.epoch || r.frame < target {
                let _ = responses.pop();
                continue;
            }
            if r.frame > target {
                return false;
            }
            self.model_masks.copy_from_slice(&r.masks);
            let _ = responses.pop();
            return true;
        }
    }

    fn on_frame(
        &mut self,
        spectra: &[Vec<Complex<f32>>],
        out: &mut [Vec<Complex<f32>>],
        observer: &mut impl FnMut(&FrameView<'_>),
    ) {
        let nc = self.num_channels;
        let hb = self.host_bins;
        let k = self.frame;
        // 1. Mid magnitude.
        if nc >= 2 {
            for (i, m) in self.host_mag.iter_mut().enumerate() {
                *m = ((spectra[0][i] + spectra[1][i]) * 0.5).norm();
            }
        } else {
            for (m, c) in self.host_mag.iter_mut().zip(&spectra[0]) {
                *m = c.norm();
            }
        }
        // 2. Submit to the worker.
        let neural_wanted = self.mode == SplitMode::Neural && self.model_usable();
        if neural_wanted {
            if let (Some(req), Some(tx)) = (self.request.as_mut(), self.requests.as_mut()) {
                req.epoch = self.epoch;
                req.frame = k;
                self.map.magnitudes_to_model(&self.host_mag, &mut req.mag);
                // Input policy: the model never sees more than +18 dB re a full-scale sine.
                for m in req.mag.iter_mut() {
                    *m = m.min(MAX_MODEL_MAGNITUDE);
                }
                // A full ring (stalled worker) drops the frame; it will count as a miss.
                let _ = tx.push(**req);
                if self.waits() {
                    // Offline only: a wake-up is a syscall, not for the real-time path.
                    if let Some(t) = &self.worker_thread {
                        let _offline = crate::rtsan::OfflineSection::enter();
                        t.unpark();
                    }
                }
                if self.first_submitted.is_none() {
                    self.first_submitted = Some(k);
                }
            }
        } else {
            self.first_submitted = None;
        }
        // 3. HPSS (always, so switching and fallback are seamless): mask of frame k - 1.
        let slot_k = self.slot(k);
        for (dst, src) in self.delay[slot_k].iter_mut().zip(spectra.iter().take(nc)) {
            dst.copy_from_slice(&src[..hb]);
        }
        let prev = self.slot(k.wrapping_sub(1));
        let h = self.hpss.push(&self.host_mag);
        if k >= 1 {
            let dst = &mut self.hpss_masks[prev];
            for i in 0..hb {
                let harmonic = h[i];
                dst[i] = 1.0 - harmonic;
                dst[hb + i] = harmonic * self.bass_weight[i];
                dst[2 * hb + i] = harmonic * (1.0 - self.bass_weight[i]);
            }
        }
        self.frame += 1;
        self.telemetry.frames.fetch_add(1, Ordering::Relaxed);
        // 4. The target frame, D hops ago.
        let d = self.delay_hops as u64;
        if k < d {
            // The delay line is still filling: silence (the input before the stream).
            for o in out.iter_mut() {
                o.fill(Complex::new(0.0, 0.0));
            }
            return;
        }
        let target = k - d;
        let ts = self.slot(target);
        let submitted = neural_wanted && self.first_submitted.is_some_and(|f| target >= f);
        let mut have_model = false;
        if submitted {
            have_model = self.take_response(target);
            if !have_model && self.waits() {
                // Offline: wait for the worker unless it has failed (or, in `Auto`, stalls).
                // Blocks on the worker's doorbell (never spins, so a starved machine gives
                // the worker the core), for at most the policy's bound.
                self.wait_for_worker(|s| {
                    if s.take_response(target) {
                        have_model = true;
                        true
                    } else {
                        !s.model_usable()
                    }
                });
            }
        }
        // 5. Masks for the target frame.
        if have_model {
            self.map
                .masks_to_host(&self.model_masks, &mut self.host_masks);
            if self.fade < 1.0 {
                let w = self.fade;
                for s in 0..NUM_STEMS {
                    let fallback = if s == NUM_STEMS - 1 { 1.0 } else { 0.0 };
                    for m in &mut self.host_masks[s * hb..(s + 1) * hb] {
                        *m = w * *m + (1.0 - w) * fallback;
                    }
                }
            }
            self.fade = (self.fade + 1.0 / FADE_HOPS as f32).min(1.0);
            self.telemetry.neural_active.store(true, Ordering::Relaxed);
        } else if !submitted {
            self.host_masks.copy_from_slice(&self.hpss_masks[ts]);
            self.telemetry.neural_active.store(false, Ordering::Relaxed);
        } else {
            // Deadline miss: the delayed dry frame goes to "other".
            self.telemetry.misses.fetch_add(1, Ordering::Relaxed);
            self.fade = 0.0;
            self.host_masks.fill(0.0);
            self.host_masks[2 * hb..].fill(1.0);
            self.telemetry.neural_active.store(false, Ordering::Relaxed);
        }
        observer(&FrameView {
            spectra: &self.delay[ts][..nc],
            masks: &self.host_masks,
            host_bins: hb,
            frame: target,
            neural: have_model,
        });
        // 6. Apply.
        for s in 0..NUM_STEMS {
            let mask = &self.host_masks[s * hb..(s + 1) * hb];
            for ch in 0..nc {
                let src = &self.delay[ts][ch];
                let dst = &mut out[s * nc + ch];
                for i in 0..hb {
                    dst[i] = src[i] * mask[i];
                }
            }
        }
    }
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
                telemetry: Arc::new(SplitTelemetry::default()),
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
    pub fn telemetry(&self) -> Arc<SplitTelemetry> {
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
        if self.settings.deadline == Deadline::RealTime || deadline == Deadline::RealTime {
            return;
        }
        if self.state.deadline != deadline {
            self.state.deadline = deadline;
            self.state.pace.reset();
        }
    }

    /// The deadline policy in force.
    pub fn deadline(&self) -> Deadline {
        self.state.deadline
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
        if self.before_signal && self.state.deadline == Deadline::Wait {
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
        if state.deadline == Deadline::Auto {
            let block_s = inputs.first().map_or(0, |c| c.len()) as f64 / state.sample_rate as f64;
            state.pace.on_block(Instant::now(), block_s);
        }
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

impl Processor for SplitEngine {
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
        s.deadline = self.settings.deadline;
        s.sample_rate = sample_rate;
        s.pace.prepare(sample_rate, max_block);
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
            mag: [0.0; MODEL_BINS],
        }));
        let t = &s.telemetry;
        t.misses.store(0, Ordering::Relaxed);
        t.frames.store(0, Ordering::Relaxed);
        t.inferences.store(0, Ordering::Relaxed);
        t.infer_us_max.store(0.0, Ordering::Relaxed);
        if matches!(self.settings.model, ModelSource::None) {
            t.set_status(StatusCode::NoModel, "no model: HPSS mode");
            self.worker = None;
            s.worker_thread = None;
            s.requests = None;
            s.responses = None;
        } else {
            t.set_status(StatusCode::Loading, "loading the model");
            let (req_tx, req_rx) = rtrb::RingBuffer::new(delay_hops + RING_SLACK);
            let (resp_tx, resp_rx) = rtrb::RingBuffer::new(delay_hops + RING_SLACK);
            s.requests = Some(req_tx);
            s.responses = Some(resp_rx);
            let worker = spawn_worker(
                self.settings.model.clone(),
                t.clone(),
                req_rx,
                resp_tx,
                self.swap_rx.clone(),
                delay_hops,
                self.settings.deadline == Deadline::RealTime,
            );
            s.worker_thread = worker.handle.as_ref().map(|h| h.thread().clone());
            self.worker = Some(worker);
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
        s.pace.reset();
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
