//! The inference worker: a learned model run on its own thread, never on the audio thread
//! (tract allocates), reached only through preallocated SPSC rings.
//!
//! The audio thread pushes a [`Request`] per frame (its input, tagged with the stream's epoch
//! and the frame number) and pops [`Response`]s; the worker runs [`Model::step`] on each in
//! order, restarts the model's recurrent state on a new epoch (a reset) or a gap, rings a
//! doorbell after every response and status change (an offline render blocks on it, bounded;
//! real time never waits), and takes over a replacement model handed to it through a
//! [`Swap`]. [`Telemetry`] carries its status and timing to the editor. Prism Split's mask
//! network runs here; any other learned model (a chord decision layer, a note model) can.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
// The message and the doorbell are locked by the worker and the GUI, and by an audio thread
// only in an offline render (inside an `OfflineSection`).
#[allow(clippy::disallowed_types)]
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use atomic_float::AtomicF32;

/// A waiting audio thread re-checks the worker's state at least this often (a wake-up the
/// worker cannot give: it died, or its status changed without a response).
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// A learned model, stepped once per frame on the worker thread.
pub trait Model: Send + 'static {
    /// One frame's input (fixed size, so it travels through a ring).
    type Input: Copy + Send + 'static;
    /// One frame's output.
    type Output: Copy + Send + 'static;
    /// Why a step failed (one line, for the status).
    type Error: std::fmt::Display;
    /// Starts the recurrent state afresh.
    fn reset(&mut self);
    /// Runs one frame.
    fn step(&mut self, input: &Self::Input, output: &mut Self::Output) -> Result<(), Self::Error>;
}

impl<I, O, E> Model for Box<dyn Model<Input = I, Output = O, Error = E>>
where
    I: Copy + Send + 'static,
    O: Copy + Send + 'static,
    E: std::fmt::Display + 'static,
{
    type Input = I;
    type Output = O;
    type Error = E;
    fn reset(&mut self) {
        (**self).reset();
    }
    fn step(&mut self, input: &I, output: &mut O) -> Result<(), E> {
        (**self).step(input, output)
    }
}

/// One frame for the worker.
#[derive(Clone, Copy)]
pub struct Request<I> {
    /// The stream (bumped by every reset): a new epoch restarts the model's state.
    pub epoch: u32,
    /// Frame number since the reset.
    pub frame: u64,
    pub input: I,
}

/// The worker's result for a frame.
#[derive(Clone, Copy)]
pub struct Response<O> {
    pub epoch: u32,
    pub frame: u64,
    pub output: O,
}

/// Looks for the response to `frame` of stream `epoch` in `responses`, dropping stale ones
/// (other epochs, older frames) on the way, and hands its output to `take`. False if it has
/// not arrived (yet). Real-time safe.
pub fn take_response<O>(
    responses: &mut rtrb::Consumer<Response<O>>,
    epoch: u32,
    frame: u64,
    take: impl FnOnce(&O),
) -> bool {
    loop {
        let Ok(r) = responses.peek() else {
            return false;
        };
        if r.epoch != epoch || r.frame < frame {
            let _ = responses.pop();
            continue;
        }
        if r.frame > frame {
            return false;
        }
        take(&r.output);
        let _ = responses.pop();
        return true;
    }
}

/// A model for a running worker, loaded and validated elsewhere (e.g. the GUI thread), with
/// a name for the status line.
pub struct Swap<M> {
    pub model: M,
    pub name: String,
}

/// How a worker treats its queue.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSpec {
    /// The thread's name.
    pub name: &'static str,
    /// Real time: with more than this many newer requests queued, a request is already late
    /// and is skipped (the gap restarts the state). `None` runs every request.
    pub skip_late_beyond: Option<usize>,
    /// What runs while the model cannot (for the status line, e.g. "HPSS").
    pub fallback: &'static str,
    /// How long an idle worker sleeps between looks at its queue (real time never wakes
    /// it: a wake-up is a syscall). Short for a model whose deadline is short.
    pub idle_poll: Duration,
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
pub struct Telemetry {
    status: AtomicU8,
    #[allow(clippy::disallowed_types)] // never locked by the audio thread
    message: Mutex<String>,
    /// Frames whose results were late (deadline misses).
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
    /// Whether the results in use are the model's (false: the classical fallback).
    pub neural_active: AtomicBool,
    /// Rung by the worker after every response and status change; an offline render blocks
    /// on it instead of spinning.
    pub(crate) doorbell: Doorbell,
}

/// A bounded, blocking wake-up from the worker to an audio thread that waits for it. Only
/// offline renders wait (inside an [`OfflineSection`](crate::rtsan::OfflineSection)); the
/// real-time path never touches it. The worker's ring is an uncontended lock and a
/// `notify_all`, which costs no syscall while nobody waits.
#[derive(Debug, Default)]
pub(crate) struct Doorbell {
    #[allow(clippy::disallowed_types)] // locked by the worker; by the audio thread offline only
    rings: Mutex<u64>,
    #[allow(clippy::disallowed_types)]
    bell: Condvar,
}

impl Doorbell {
    pub(crate) fn ring(&self) {
        if let Ok(mut n) = self.rings.lock() {
            *n = n.wrapping_add(1);
        }
        self.bell.notify_all();
    }

    /// How often it has rung (read before checking what the worker produced).
    pub(crate) fn rings(&self) -> u64 {
        self.rings.lock().map_or(0, |n| *n)
    }

    /// Blocks until it rings after `seen`, at most `timeout`.
    fn wait_past(&self, seen: u64, timeout: Duration) {
        if let Ok(n) = self.rings.lock() {
            let _ = self.bell.wait_timeout_while(n, timeout, |n| *n == seen);
        }
    }
}

/// A snapshot of [`Telemetry`].
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
    pub misses: u64,
    pub frames: u64,
    pub infer_us_last: f32,
    pub infer_us_max: f32,
}

impl Telemetry {
    /// Sets the status and its one-line message (the worker; not the audio thread).
    pub fn set_status(&self, code: StatusCode, message: &str) {
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
    pub(crate) fn wait_for_worker(&self, seen: u64, until: Instant) -> bool {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        self.doorbell.wait_past(seen, (until - now).min(WAIT_SLICE));
        true
    }

    /// Counts one inference that took `elapsed`.
    fn record_inference(&self, elapsed: Duration) {
        self.infer_ns_total
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        let us = elapsed.as_secs_f32() * 1e6;
        self.infer_us_last.store(us, Ordering::Relaxed);
        if us > self.infer_us_max.load(Ordering::Relaxed) {
            self.infer_us_max.store(us, Ordering::Relaxed);
        }
        self.inferences.fetch_add(1, Ordering::Relaxed);
    }

    /// The worker's state. Real-time safe (an atomic load).
    pub fn code(&self) -> StatusCode {
        StatusCode::from_u8(self.status.load(Ordering::Acquire))
    }

    /// A snapshot for display (locks the message: not for the audio thread).
    pub fn snapshot(&self) -> Status {
        Status {
            code: self.code(),
            message: self.message.lock().map(|m| m.clone()).unwrap_or_default(),
            misses: self.misses.load(Ordering::Relaxed),
            frames: self.frames.load(Ordering::Relaxed),
            infer_us_last: self.infer_us_last.load(Ordering::Relaxed),
            infer_us_max: self.infer_us_max.load(Ordering::Relaxed),
        }
    }
}

/// A running worker thread; dropping it stops and joins the thread.
pub struct Worker {
    stop: Arc<AtomicBool>,
    pub(crate) handle: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The worker's ends of the two rings: requests in, responses out.
pub type Rings<M> = (
    rtrb::Consumer<Request<<M as Model>::Input>>,
    rtrb::Producer<Response<<M as Model>::Output>>,
);

/// Starts a worker: `load` makes the model on the worker thread (and sets the status; `None`
/// leaves the requests unanswered, so the caller's fallback runs). `blank` is the output
/// buffer's initial value. Fails only if the thread cannot be started.
// The inference worker's thread: it may block; the audio thread reaches it only through the
// rings.
#[allow(clippy::disallowed_methods)]
pub fn spawn<M: Model>(
    load: impl FnOnce(&Telemetry) -> Option<M> + Send + 'static,
    telemetry: Arc<Telemetry>,
    rings: Rings<M>,
    swaps: crossbeam::channel::Receiver<Swap<M>>,
    spec: WorkerSpec,
    blank: M::Output,
) -> std::io::Result<Worker> {
    let (mut requests, mut responses) = rings;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = stop.clone();
    let handle = std::thread::Builder::new()
        .name(spec.name.into())
        .spawn(move || {
            let mut model = load(&telemetry);
            let mut epoch = u32::MAX;
            let mut next_frame = 0u64;
            let mut output = blank;
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
                    // No usable model: drop requests (the audio thread runs its fallback).
                    while requests.pop().is_ok() {}
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let Ok(mut req) = requests.pop() else {
                    // Woken early by an offline engine; real time polls.
                    std::thread::park_timeout(spec.idle_poll);
                    continue;
                };
                // Catching up after a stall (real time): with more than `beyond` newer
                // requests queued, this one is already late; skip to the newest that can
                // still be on time (the gap restarts the recurrent state below).
                if let Some(beyond) = spec.skip_late_beyond {
                    while requests.slots() > beyond {
                        match requests.pop() {
                            Ok(newer) => req = newer,
                            Err(_) => break,
                        }
                    }
                }
                if req.epoch != epoch || req.frame != next_frame {
                    // A new stream (reset) or a gap: the recurrent state starts afresh.
                    net.reset();
                    epoch = req.epoch;
                }
                next_frame = req.frame + 1;
                let t0 = Instant::now();
                if let Err(e) = net.step(&req.input, &mut output) {
                    let message = format!("{e}; running {} instead", spec.fallback);
                    telemetry.set_status(StatusCode::RunFailed, &message);
                    model = None;
                    continue;
                }
                telemetry.record_inference(t0.elapsed());
                let _ = responses.push(Response {
                    epoch: req.epoch,
                    frame: req.frame,
                    output,
                });
                telemetry.doorbell.ring();
            }
        })?;
    Ok(Worker {
        stop,
        handle: Some(handle),
    })
}
