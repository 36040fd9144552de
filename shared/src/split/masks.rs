//! Split's mask assembly, once per hop on the audio thread: the mid magnitude goes to the
//! inference worker, the HPSS masks are computed alongside (so switching and fallback are
//! seamless), and the masks for the frame `D` hops ago are chosen (the model's, HPSS, or the
//! miss fallback that sends the delayed dry frame to "other") and applied to its spectra.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use realfft::num_complex::Complex;

use super::bins::BinMap;
use super::engine::{SplitMode, FADE_HOPS, MAX_MODEL_MAGNITUDE};
use super::{MODEL_BINS, NUM_STEMS};
use crate::deadline::Policy;
use crate::hpss::MedianHpss;
use crate::infer::{Request, Response, StatusCode, Telemetry};

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
pub(crate) struct FrameState {
    pub(crate) mode: SplitMode,
    pub(crate) policy: Policy,
    pub(crate) sample_rate: f32,
    pub(crate) num_channels: usize,
    pub(crate) host_bins: usize,
    pub(crate) map: BinMap,
    /// Scheduling delay in hops.
    pub(crate) delay_hops: usize,
    pub(crate) epoch: u32,
    /// Frames analysed since the last reset.
    pub(crate) frame: u64,
    /// First frame of the current run of submitted requests (after a reset or a switch).
    pub(crate) first_submitted: Option<u64>,
    pub(crate) host_mag: Vec<f32>,
    pub(crate) request: Option<Box<Request<[f32; MODEL_BINS]>>>,
    /// Per delay slot and channel: the spectrum (`delay_hops + 1` slots).
    pub(crate) delay: Vec<Vec<Vec<Complex<f32>>>>,
    /// Per delay slot: the HPSS host masks (3 × host_bins) of that frame.
    pub(crate) hpss_masks: Vec<Vec<f32>>,
    pub(crate) hpss: MedianHpss,
    pub(crate) bass_weight: Vec<f32>,
    pub(crate) model_masks: Vec<f32>,
    pub(crate) host_masks: Vec<f32>,
    /// 0..=1: how much of the model's masks is used (1 - fallback share).
    pub(crate) fade: f32,
    pub(crate) requests: Option<rtrb::Producer<Request<[f32; MODEL_BINS]>>>,
    pub(crate) responses: Option<rtrb::Consumer<Response<[f32; NUM_STEMS * MODEL_BINS]>>>,
    /// The worker, to wake it in offline mode.
    pub(crate) worker_thread: Option<std::thread::Thread>,
    pub(crate) telemetry: Arc<Telemetry>,
}

impl FrameState {
    fn slot(&self, frame: u64) -> usize {
        (frame % (self.delay_hops as u64 + 1)) as usize
    }

    /// Whether late masks are waited for now.
    pub(crate) fn waits(&self) -> bool {
        self.policy.waits()
    }

    /// Offline only: blocks (bounded, see [`Policy::wait_for`]) until `done`.
    pub(crate) fn wait_for_worker(&mut self, done: impl FnMut(&mut Self) -> bool) {
        let mut policy = self.policy;
        let telemetry = Arc::clone(&self.telemetry);
        policy.wait_for(&telemetry, self, done);
        self.policy = policy;
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
        let masks = &mut self.model_masks;
        crate::infer::take_response(responses, self.epoch, target, |output| {
            masks.copy_from_slice(output)
        })
    }

    pub(crate) fn on_frame(
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
                self.map.magnitudes_to_model(&self.host_mag, &mut req.input);
                // Input policy: the model never sees more than +18 dB re a full-scale sine.
                for m in req.input.iter_mut() {
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
