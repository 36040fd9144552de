//! The learned chord layer in the analyser: [`crate::chordnet`]'s network on the inference
//! worker ([`crate::infer`], never on the audio thread), one hop behind the evidence.
//!
//! Frame `k`'s evidence and template logits go to the worker as frame `k` is analysed; its
//! chord logits are taken when frame `k + 1` is, and only then does the chord HMM step for
//! frame `k` (so the decision is stamped one hop, 23 ms, after the frame it is for). A real-time
//! stream never waits. When a host block holds several frames, their logits cannot be back
//! before the block ends; such frames stay pending and are decided, in order, at the first
//! frame of a later block whose analysis finds them back, for at most as many frames as a
//! host block holds (the decision is then stamped that much later). Logits not back by then
//! are a miss (counted), and the templates decide that frame (the defined fallback). An
//! offline render ([`Deadline::Wait`]) blocks on the worker's doorbell, bounded
//! ([`crate::deadline`]), so a file gives what a real-time run without misses gives (each
//! frame decided at the next). The frame's template fits are kept for that fallback and for
//! the editor's "why this chord".

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::chord::{ChordRecognizer, NUM_CHORDS};
use crate::chordnet::{ChordNet, ChordNetWeights, FRAME};
use crate::deadline::{Deadline, Policy};
use crate::infer::{self, Model, Request, Response, StatusCode, Telemetry, Worker, WorkerSpec};

/// The shipped chord model (`bundle/models/chord/`, its README is the model card).
pub const DEFAULT_CHORD_MODEL: &[u8] =
    include_bytes!("../../../bundle/models/chord/prism-chord-v1.bin");
/// Its name on the status line.
pub const DEFAULT_CHORD_MODEL_NAME: &str = "prism-chord-v1";

/// Requests and responses the rings hold, and the frames that may wait for their logits: a
/// few hundred ms of frames, so a stalled worker costs misses, never a blocked audio thread.
const RING_FRAMES: usize = 32;

/// A frame waiting for its logits.
#[derive(Debug, Clone, Copy)]
struct Pending {
    frame: u64,
    /// Its request reached the worker.
    submitted: bool,
    fits: [f32; NUM_CHORDS],
    openness: f32,
}

/// One frame for the chord network.
#[derive(Debug, Clone, Copy)]
pub struct NetInput {
    /// The frame's evidence ([`crate::chordnet::frame_features`]).
    pub frame: [f32; FRAME],
    /// The template logits `κ · (fit − 1)` of the full vocabulary (the prior).
    pub template_logits: [f32; NUM_CHORDS],
}

/// [`ChordNet`] as a worker [`Model`].
pub struct ChordNetModel(ChordNet);

impl ChordNetModel {
    /// The network for `weights` (allocates its scratch).
    pub fn new(weights: ChordNetWeights) -> Self {
        Self(ChordNet::new(weights))
    }
}

impl Model for ChordNetModel {
    type Input = NetInput;
    type Output = [f32; NUM_CHORDS];
    type Error = Infallible;
    fn reset(&mut self) {
        self.0.reset();
    }
    fn step(&mut self, input: &NetInput, output: &mut [f32; NUM_CHORDS]) -> Result<(), Infallible> {
        self.0.step(&input.frame, &input.template_logits, output);
        Ok(())
    }
}

/// What decided a frame's chord ([`super::ChromaFrame::chord_source`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum ChordSource {
    /// The template recogniser (templates or NNLS evidence, or no model to run).
    #[default]
    Templates = 0,
    /// The learned layer's posterior.
    Model = 1,
    /// The model's logits were late (a miss) or it failed: the templates decided.
    Fallback = 2,
}

impl ChordSource {
    /// From its `u8` (the frame's field).
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Model,
            2 => Self::Fallback,
            _ => Self::Templates,
        }
    }
}

/// The audio thread's end of the chord worker.
pub(crate) struct Learned {
    telemetry: Arc<Telemetry>,
    worker: Option<Worker>,
    worker_thread: Option<std::thread::Thread>,
    requests: Option<rtrb::Producer<Request<NetInput>>>,
    responses: Option<rtrb::Consumer<Response<[f32; NUM_CHORDS]>>>,
    deadline: Deadline,
    policy: Policy,
    /// Weights other than the shipped model's (with a name for the status line).
    custom: Option<(ChordNetWeights, String)>,
    epoch: u32,
    /// Frames analysed since the reset (the next frame's number).
    frame: u64,
    /// Frames waiting for their decision, oldest first (a ring of `RING_FRAMES`).
    pending: Box<[Pending; RING_FRAMES]>,
    pending_head: usize,
    pending_len: usize,
    /// Real time: frames a decision may wait for its logits (a host block's worth, at
    /// least 1).
    max_late: u64,
    request: NetInput,
    logits: [f32; NUM_CHORDS],
}

impl Default for Learned {
    fn default() -> Self {
        Self {
            telemetry: Arc::default(),
            worker: None,
            worker_thread: None,
            requests: None,
            responses: None,
            deadline: Deadline::RealTime,
            policy: Policy::default(),
            custom: None,
            epoch: 0,
            frame: 0,
            pending: Box::new(
                [Pending {
                    frame: 0,
                    submitted: false,
                    fits: [0.0; NUM_CHORDS],
                    openness: 1.0,
                }; RING_FRAMES],
            ),
            pending_head: 0,
            pending_len: 0,
            max_late: 1,
            request: NetInput {
                frame: [0.0; FRAME],
                template_logits: [0.0; NUM_CHORDS],
            },
            logits: [0.0; NUM_CHORDS],
        }
    }
}

/// Loads the shipped model on the worker thread, setting the status.
fn load_default(telemetry: &Telemetry) -> Option<ChordNetModel> {
    match ChordNetWeights::parse(DEFAULT_CHORD_MODEL) {
        Ok(weights) => {
            telemetry.set_status(StatusCode::Ready, DEFAULT_CHORD_MODEL_NAME);
            Some(ChordNetModel::new(weights))
        }
        Err(e) => {
            let message = format!("{e}; the templates decide");
            telemetry.set_status(StatusCode::LoadFailed, &message);
            None
        }
    }
}

impl Learned {
    /// The worker's status and counters (for the editor).
    pub(crate) fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// The policy for late logits; takes effect at the next `prepare`.
    pub(crate) fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    /// Auto ↔ Wait while running (a host stating its mode per call). Real-time safe.
    pub(crate) fn switch_deadline(&mut self, deadline: Deadline) {
        self.policy.switch(deadline);
    }

    /// Runs `weights` instead of the shipped model from the next `prepare`.
    pub(crate) fn set_weights(&mut self, weights: ChordNetWeights, name: &str) {
        self.custom = Some((weights, name.to_string()));
    }

    /// The policy in force.
    pub(crate) fn deadline(&self) -> Deadline {
        self.policy.current
    }

    /// Starts a fresh worker with the shipped model, for host blocks of up to `max_block`
    /// samples and frames every `hop` samples. Not real-time safe.
    pub(crate) fn prepare(&mut self, sample_rate: f32, max_block: usize, hop: usize) {
        self.max_late = max_block.div_ceil(hop.max(1)).clamp(1, RING_FRAMES - 2) as u64;
        // An offline wait wakes the worker inside an `OfflineSection`, which needs RTSan's
        // hooks looked up now, off the audio thread.
        crate::rtsan::resolve();
        // The old worker goes first (joined), with its rings.
        self.worker = None;
        self.worker_thread = None;
        self.requests = None;
        self.responses = None;
        self.policy.prepare(self.deadline, sample_rate, max_block);
        let t = &self.telemetry;
        for counter in [&t.misses, &t.frames, &t.inferences] {
            counter.store(0, Ordering::Relaxed);
        }
        t.infer_us_max.store(0.0, Ordering::Relaxed);
        t.set_status(StatusCode::Loading, "loading the chord model");
        let (req_tx, req_rx) = rtrb::RingBuffer::new(RING_FRAMES);
        let (resp_tx, resp_rx) = rtrb::RingBuffer::new(RING_FRAMES);
        let spec = WorkerSpec {
            name: "prism-chord-inference",
            // Real time: a request with a host block's worth queued behind it is already late.
            skip_late_beyond: (self.deadline == Deadline::RealTime)
                .then_some(self.max_late as usize),
            fallback: "the templates",
            // A frame is due a whole hop (23 ms) later: a 2 ms nap costs nothing.
            idle_poll: std::time::Duration::from_millis(2),
        };
        let blank = [0.0; NUM_CHORDS];
        let swaps = crossbeam::channel::never();
        let custom = self.custom.clone();
        let load = move |t: &Telemetry| match custom {
            Some((weights, name)) => {
                t.set_status(StatusCode::Ready, &name);
                Some(ChordNetModel::new(weights))
            }
            None => load_default(t),
        };
        match infer::spawn(load, t.clone(), (req_rx, resp_tx), swaps, spec, blank) {
            Ok(worker) => {
                self.requests = Some(req_tx);
                self.responses = Some(resp_rx);
                self.worker_thread = worker.handle.as_ref().map(|h| h.thread().clone());
                self.worker = Some(worker);
            }
            Err(e) => t.set_status(
                StatusCode::LoadFailed,
                &format!("cannot start the chord model's thread ({e}); the templates decide"),
            ),
        }
        self.reset();
    }

    /// A new stream: the worker restarts the network's state at the next request.
    pub(crate) fn reset(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.frame = 0;
        self.pending_len = 0;
        self.policy.reset();
    }

    /// A host block of `block_s` seconds arrives (the `Auto` policy keeps pace).
    pub(crate) fn on_block(&mut self, block_s: f64) {
        self.policy.on_block(block_s);
    }

    /// A frame analysed without the learned layer (keeps the frame count, so the network
    /// restarts its state when the layer is switched back on).
    pub(crate) fn skip(&mut self) {
        self.frame += 1;
        self.pending_len = 0;
    }

    /// Frames analysed but not decided yet (at least 1 after a [`Self::step`]: the newest).
    pub(crate) fn pending_frames(&self) -> usize {
        self.pending_len
    }

    fn model_usable(&self) -> bool {
        self.responses.is_some() && self.telemetry.code() == StatusCode::Ready
    }

    fn take_response(&mut self, target: u64) -> bool {
        let Some(responses) = self.responses.as_mut() else {
            return false;
        };
        let logits = &mut self.logits;
        infer::take_response(responses, self.epoch, target, |output| *logits = *output)
    }

    /// Offline only: blocks (bounded, [`Policy::wait_for`]) until `done`.
    fn wait_for(&mut self, done: impl FnMut(&mut Self) -> bool) {
        let mut policy = self.policy;
        let telemetry = Arc::clone(&self.telemetry);
        policy.wait_for(&telemetry, self, done);
        self.policy = policy;
    }

    /// Frame `k`: submits its evidence and full-vocabulary template `fits`, then lets
    /// `chords` decide the pending frames before it, oldest first (the model's logits, or the
    /// templates on a miss), each with its `openness` to a change
    /// ([`ChordRecognizer::set_openness`]), and keeps frame `k` pending. Returns what decided
    /// the newest frame decided now, `None` if none was (the first frame of a stream, or
    /// logits still on their way in real time). Never allocates; waits (bounded) only
    /// offline.
    pub(crate) fn step(
        &mut self,
        chords: &mut ChordRecognizer,
        frame: &[f32; FRAME],
        fits: &[f32; NUM_CHORDS],
        openness: f32,
    ) -> Option<ChordSource> {
        let k = self.frame;
        self.frame += 1;
        self.telemetry.frames.fetch_add(1, Ordering::Relaxed);
        if self.policy.waits() && self.telemetry.code() == StatusCode::Loading {
            // Offline: the model is being loaded; the render waits for it (bounded).
            self.wait_for(|s| s.telemetry.code() != StatusCode::Loading);
        }
        // 1. Frame k to the worker.
        let submitted = self.model_usable();
        if submitted {
            self.request.frame = *frame;
            chords.template_logits(fits, &mut self.request.template_logits);
            let request = Request {
                epoch: self.epoch,
                frame: k,
                input: self.request,
            };
            if let Some(tx) = self.requests.as_mut() {
                // A full ring (stalled worker) drops the frame: it will count as a miss.
                let _ = tx.push(request);
            }
            if self.policy.waits() {
                if let Some(t) = &self.worker_thread {
                    // Offline only: a wake-up is a syscall.
                    let _offline = crate::rtsan::OfflineSection::enter();
                    t.unpark();
                }
            }
        }
        // 2. The pending frames' decisions, oldest first.
        let mut decided = None;
        while self.pending_len > 0 {
            let e = self.pending[self.pending_head];
            let mut have = false;
            if e.submitted {
                have = self.take_response(e.frame);
                if !have && self.policy.waits() {
                    self.wait_for(|s| {
                        if s.take_response(e.frame) {
                            have = true;
                            true
                        } else {
                            !s.model_usable()
                        }
                    });
                } else if !have && k - e.frame < self.max_late && self.pending_len < RING_FRAMES - 1
                {
                    // Real time, still on its way (a block holding several frames): later.
                    break;
                }
            }
            chords.set_openness(e.openness);
            decided = Some(if have {
                chords.update_learned(&self.logits, &e.fits);
                self.telemetry.neural_active.store(true, Ordering::Relaxed);
                ChordSource::Model
            } else {
                chords.update_with_fits(&e.fits);
                self.telemetry.neural_active.store(false, Ordering::Relaxed);
                if e.submitted {
                    self.telemetry.misses.fetch_add(1, Ordering::Relaxed);
                    ChordSource::Fallback
                } else {
                    ChordSource::Templates
                }
            });
            self.pending_head = (self.pending_head + 1) % RING_FRAMES;
            self.pending_len -= 1;
        }
        // 3. Frame k waits for its logits.
        let slot = (self.pending_head + self.pending_len) % RING_FRAMES;
        self.pending[slot] = Pending {
            frame: k,
            submitted,
            fits: *fits,
            openness,
        };
        self.pending_len += 1;
        decided
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chord::{ChordVocabulary, NO_CHORD};

    /// The worker's ends of the rings, held by the test.
    type WorkerEnd = (
        rtrb::Consumer<Request<NetInput>>,
        rtrb::Producer<Response<[f32; NUM_CHORDS]>>,
    );

    /// A layer whose worker end the test holds: it answers (or not) by hand.
    fn by_hand(deadline: Deadline) -> (Learned, WorkerEnd) {
        let mut layer = Learned::default();
        layer.set_deadline(deadline);
        layer.policy.prepare(deadline, 44_100.0, 512);
        let (req_tx, req_rx) = rtrb::RingBuffer::new(RING_FRAMES);
        let (resp_tx, resp_rx) = rtrb::RingBuffer::new(RING_FRAMES);
        layer.requests = Some(req_tx);
        layer.responses = Some(resp_rx);
        layer.telemetry.set_status(StatusCode::Ready, "by hand");
        layer.reset();
        (layer, (req_rx, resp_tx))
    }

    /// The worker's answer for `frame` of `epoch`, by hand.
    fn answer(
        responses: &mut rtrb::Producer<Response<[f32; NUM_CHORDS]>>,
        epoch: u32,
        frame: u64,
        output: [f32; NUM_CHORDS],
    ) {
        responses
            .push(Response {
                epoch,
                frame,
                output,
            })
            .unwrap();
    }

    fn e_minor_fits(chords: &ChordRecognizer) -> [f32; NUM_CHORDS] {
        let mut bass = [0.0f32; 12];
        bass[4] = 1.0;
        let mut treble = [0.0f32; 12];
        for pc in [4, 7, 11] {
            treble[pc] = 1.0;
        }
        let mut fits = [0.0; NUM_CHORDS];
        chords.bass_treble_fits(&bass, &treble, false, &mut fits);
        fits
    }

    #[test]
    fn each_frame_is_decided_one_frame_later_by_the_model_or_on_a_miss_by_the_templates() {
        let (mut layer, (mut requests, mut responses)) = by_hand(Deadline::RealTime);
        let mut chords = ChordRecognizer::default();
        chords.set_vocabulary(ChordVocabulary::MajMin);
        let fits = e_minor_fits(&chords);
        let frame = [0.0; FRAME];
        // Frame 0: submitted, nothing to decide yet.
        assert_eq!(layer.step(&mut chords, &frame, &fits, 1.0), None);
        let r0 = requests.pop().expect("frame 0 reached the worker");
        assert_eq!((r0.frame, r0.epoch), (0, layer.epoch));
        // The prior travels with it: the template logits of the fits.
        let e_min = 1 + 12 + 4;
        assert_eq!(r0.input.template_logits[e_min], 12.0 * (fits[e_min] - 1.0));
        // Frame 1: frame 0's logits are not back, so the templates decide it (a miss).
        assert_eq!(
            layer.step(&mut chords, &frame, &fits, 1.0),
            Some(ChordSource::Fallback)
        );
        assert_eq!(layer.telemetry.misses.load(Ordering::Relaxed), 1);
        // The worker answers frame 1 with logits that say C major, whatever the templates
        // say; frame 2 then decides frame 1 from them.
        let _ = requests.pop();
        let mut logits = [-20.0f32; NUM_CHORDS];
        logits[1] = 10.0;
        let epoch = layer.epoch;
        for _ in 0..40 {
            // (Answers for a stale epoch or an older frame are dropped.)
            answer(&mut responses, epoch.wrapping_sub(1), 1, [0.0; NUM_CHORDS]);
            answer(&mut responses, epoch, layer.frame - 1, logits);
            assert_eq!(
                layer.step(&mut chords, &frame, &fits, 1.0),
                Some(ChordSource::Model)
            );
            let _ = requests.pop();
        }
        assert_eq!(
            chords.current(),
            1,
            "the model's C:maj won over the templates' E:min"
        );
        assert_eq!(layer.telemetry.misses.load(Ordering::Relaxed), 1);
        // Its 7th and maj7 mass counts as C:maj in the major/minor vocabulary.
        logits = [-20.0; NUM_CHORDS];
        logits[1 + 2 * 12 + 9] = 10.0; // A:7
        for _ in 0..40 {
            answer(&mut responses, epoch, layer.frame - 1, logits);
            layer.step(&mut chords, &frame, &fits, 1.0);
            let _ = requests.pop();
        }
        assert_eq!(chords.current(), 1 + 9, "A:7 collapses onto A:maj");
        // A reset starts a new stream: nothing pending, a new epoch.
        layer.reset();
        assert_eq!(layer.step(&mut chords, &frame, &fits, 1.0), None);
        assert_ne!(requests.pop().unwrap().epoch, epoch);
    }

    #[test]
    fn frames_of_one_host_block_wait_for_the_next_block_and_only_then_are_misses() {
        // Host blocks of two frames: a frame's logits may come a block (two frames) later.
        let (mut layer, (mut requests, mut responses)) = by_hand(Deadline::RealTime);
        layer.max_late = 2;
        let mut chords = ChordRecognizer::default();
        let fits = e_minor_fits(&chords);
        let frame = [0.0; FRAME];
        let mut logits = [-20.0f32; NUM_CHORDS];
        logits[1] = 10.0;
        let epoch = layer.epoch;
        // Block 1: frames 0 and 1; nothing can be back yet, nothing is decided or missed.
        assert_eq!(layer.step(&mut chords, &frame, &fits, 1.0), None);
        assert_eq!(layer.step(&mut chords, &frame, &fits, 1.0), None);
        assert_eq!(layer.pending_frames(), 2);
        // Between the blocks the worker answers both.
        answer(&mut responses, epoch, 0, logits);
        answer(&mut responses, epoch, 1, logits);
        // Block 2: frame 2 decides frames 0 and 1 from the model.
        assert_eq!(
            layer.step(&mut chords, &frame, &fits, 1.0),
            Some(ChordSource::Model)
        );
        assert_eq!(layer.pending_frames(), 1, "frame 2 waits");
        assert_eq!(layer.step(&mut chords, &frame, &fits, 1.0), None);
        // Block 3 without answers: frame 2 is now two frames old, a miss; frame 3 waits.
        assert_eq!(
            layer.step(&mut chords, &frame, &fits, 1.0),
            Some(ChordSource::Fallback)
        );
        assert_eq!(layer.telemetry.misses.load(Ordering::Relaxed), 1);
        assert_eq!(layer.pending_frames(), 2);
        while requests.pop().is_ok() {}
    }

    #[test]
    fn without_a_usable_model_the_templates_decide_and_nothing_is_a_miss() {
        let (mut layer, (mut requests, _responses)) = by_hand(Deadline::RealTime);
        layer
            .telemetry
            .set_status(StatusCode::LoadFailed, "no model");
        let mut chords = ChordRecognizer::default();
        let fits = e_minor_fits(&chords);
        let frame = [0.0; FRAME];
        assert_eq!(layer.step(&mut chords, &frame, &fits, 1.0), None);
        for _ in 0..20 {
            assert_eq!(
                layer.step(&mut chords, &frame, &fits, 1.0),
                Some(ChordSource::Templates)
            );
        }
        assert!(
            requests.pop().is_err(),
            "nothing was sent to a failed worker"
        );
        assert_eq!(layer.telemetry.misses.load(Ordering::Relaxed), 0);
        assert_eq!(chords.current(), 1 + 12 + 4);
        assert_ne!(chords.current(), NO_CHORD);
    }

    #[test]
    fn the_shipped_model_loads() {
        let weights = ChordNetWeights::parse(DEFAULT_CHORD_MODEL).expect("shipped model parses");
        assert!(weights.num_params() < 250_000, "under the 1 MB budget");
    }
}
