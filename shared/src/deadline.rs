//! The deadline policy of every learned model on the inference worker (Split's results, the
//! chord layer), in one place: when the audio thread may wait for the worker, for how long,
//! and when it gives up.
//!
//! [`Deadline::RealTime`] never waits: a frame whose results are late gets the defined fallback
//! (the engine counts the miss). [`Deadline::Wait`] (offline: the CLI, a host that says it
//! renders) blocks on the worker's doorbell for each frame, at most [`OFFLINE_MAX_WAIT`].
//! [`Deadline::Auto`] is real time while the host keeps real-time pace and waits (at most
//! [`AUTO_MAX_WAIT`]) only while the host runs far ahead of the wall clock ([`Pace`]). A wait
//! that times out means the worker is stalled: no more waiting until the next reset.

use std::time::{Duration, Instant};

use crate::infer::Telemetry;

/// What to do when a frame's results are late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deadline {
    /// Real time: never wait; output the defined fallback and count the miss.
    #[default]
    RealTime,
    /// Offline: wait for the worker (CLI, tests, and a host that says it renders offline).
    Wait,
    /// A plugin whose host may render offline without saying so, or says so unreliably:
    /// real time while the host keeps real-time pace, and waiting for the results (at most
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
/// [`Deadline::Auto`]: the longest the audio thread waits for one frame's results. A worker
/// that misses it is stalled: the engine behaves as [`Deadline::RealTime`] until the next
/// reset.
pub const AUTO_MAX_WAIT: Duration = Duration::from_secs(1);
/// [`Deadline::Wait`]: the longest the audio thread waits for one frame's results (or for the
/// model to load). A worker that misses it is stalled: the frame counts as a miss and the
/// engine stops waiting until the next reset, so a render with a broken worker ends.
pub const OFFLINE_MAX_WAIT: Duration = Duration::from_secs(10);

/// How far a host's audio runs ahead of the wall clock ([`Deadline::Auto`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Pace {
    last: Option<Instant>,
    /// Audio delivered minus wall-clock time taken, leaky, in seconds (never negative).
    lead_s: f64,
    /// Lead above which the host renders offline.
    threshold_s: f64,
    /// True while the host runs ahead: late results are waited for.
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

/// The policy in force and the state it needs.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Policy {
    /// The policy the engine was prepared with (its worker was started for it).
    pub(crate) prepared: Deadline,
    /// The policy in force now (Auto ↔ Wait may switch at run time).
    pub(crate) current: Deadline,
    pace: Pace,
}

impl Policy {
    pub(crate) fn prepare(&mut self, deadline: Deadline, sample_rate: f32, max_block: usize) {
        self.prepared = deadline;
        self.current = deadline;
        self.pace.prepare(sample_rate, max_block);
    }

    pub(crate) fn reset(&mut self) {
        self.pace.reset();
    }

    /// Auto ↔ Wait at run time (a host stating its mode per call). An engine prepared for
    /// real time stays real time: its worker drops late frames, so a wait could not be exact.
    pub(crate) fn switch(&mut self, deadline: Deadline) {
        if self.prepared == Deadline::RealTime || deadline == Deadline::RealTime {
            return;
        }
        if self.current != deadline {
            self.current = deadline;
            self.pace.reset();
        }
    }

    /// A block of `block_s` seconds arrives now (only `Auto` keeps pace).
    pub(crate) fn on_block(&mut self, block_s: f64) {
        if self.current == Deadline::Auto {
            self.pace.on_block(Instant::now(), block_s);
        }
    }

    /// Whether late results are waited for now (offline, or `Auto` with the host ahead).
    pub(crate) fn waits(&self) -> bool {
        match self.current {
            Deadline::RealTime => false,
            Deadline::Wait => !self.pace.gave_up,
            Deadline::Auto => self.pace.ahead,
        }
    }

    /// Offline only: blocks on the worker's doorbell until `done` (checked after every ring,
    /// and at least every slice), for at most the policy's bound. A worker that misses it is
    /// stalled: no more waiting until the next reset.
    pub(crate) fn wait_for<S>(
        &mut self,
        telemetry: &Telemetry,
        state: &mut S,
        mut done: impl FnMut(&mut S) -> bool,
    ) {
        let _offline = crate::rtsan::OfflineSection::enter();
        let started = Instant::now();
        let max_wait = if self.current == Deadline::Wait {
            OFFLINE_MAX_WAIT
        } else {
            AUTO_MAX_WAIT
        };
        let until = started + max_wait;
        loop {
            let seen = telemetry.doorbell.rings();
            if done(state) {
                break;
            }
            if !telemetry.wait_for_worker(seen, until) {
                self.pace.gave_up = true;
                self.pace.ahead = false;
                break;
            }
        }
        self.pace.waited_s += started.elapsed().as_secs_f64();
    }
}
