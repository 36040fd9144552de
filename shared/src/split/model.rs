//! The Prism Split mask network in tract-onnx: loading, validation and one-frame steps.
//!
//! The ONNX interface (see `bundle/models/split/README.md`):
//!
//! | name | shape | |
//! |---|---|---|
//! | in `mag` | `[1, 513]` | `|X|` of the unnormalised rFFT of the current frame |
//! | in `state_in` | `[L, K, D]` (any sizes) | zeros at reset |
//! | out `masks` | `[3, 513]` | drums, bass, other |
//! | out `state_out` | same as `state_in` | fed back on the next frame |
//!
//! tract allocates on every run, so [`NeuralModel::step`] belongs on a worker thread,
//! never on the audio thread. Loading and running catch panics: a faulty model file is
//! an error, never a crash of the host.

// The model runs on the inference worker (and loads on the GUI thread or the worker), never
// on the audio thread: its one Mutex makes the cached default model `Sync`.
#![allow(clippy::disallowed_types)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use tract_onnx::prelude::*;

use super::{MODEL_BINS, NUM_STEMS};

/// The default model, shipped in `bundle/models/split/` and embedded in every binary.
pub static DEFAULT_MODEL: &[u8] =
    include_bytes!("../../../bundle/models/split/prism-split-v2.onnx");

/// Why a model cannot be used. Every message is one line, fit for the editor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The file is empty.
    #[error("the model file is empty")]
    Empty,
    /// The file cannot be read (the path and the system's reason).
    #[error("cannot read {0}")]
    Unreadable(String),
    /// tract could not parse or optimise it.
    #[error("not a loadable ONNX model: {0}")]
    Load(String),
    /// It loads but does not have Prism Split's inputs and outputs.
    #[error("the model does not fit Prism Split: {0}")]
    Interface(String),
    /// Running it failed (an error or a panic inside the runtime).
    #[error("the model failed while running: {0}")]
    Run(String),
    /// The model produced NaN or infinite masks.
    #[error("the model produced non-finite masks")]
    NonFinite,
    /// The loader panicked.
    #[error("the model loader crashed: {0}")]
    Panic(String),
}

type Plan = Arc<TypedRunnableModel>;

/// Runs a model loader with panics caught: a panic becomes [`ModelError::Panic`].
pub fn guard<T>(load: impl FnOnce() -> Result<T, ModelError>) -> Result<T, ModelError> {
    catch_unwind(AssertUnwindSafe(load))
        .map_err(|p| ModelError::Panic(panic_message(p.as_ref())))?
}

/// A loaded, optimised and validated Split model with its recurrent state.
pub struct NeuralModel {
    plan: Plan,
    /// tract's run state, reused across frames (made on first use; spawning one per frame
    /// costs more than the network).
    /// (A mutex only so that the shared, cached default model is `Sync`; the worker thread
    /// is its one user, so it is never contended.)
    session: std::sync::Mutex<Option<TypedSimpleState>>,
    state_shape: Vec<usize>,
    state: Tensor,
    zero_state: Tensor,
    mag: Tensor,
}

impl std::fmt::Debug for NeuralModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeuralModel")
            .field("state_shape", &self.state_shape)
            .finish_non_exhaustive()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

fn shape_of(fact: &TypedFact) -> Option<Vec<usize>> {
    fact.shape.as_concrete().map(|s| s.to_vec())
}

impl NeuralModel {
    /// The embedded default model.
    pub fn load_default() -> Result<Self, ModelError> {
        Self::load(DEFAULT_MODEL)
    }

    /// Parses, validates, optimises and warms up a model. Not real-time safe (tens of
    /// milliseconds). Never panics: a panic inside tract becomes [`ModelError::Panic`].
    pub fn load(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.is_empty() {
            return Err(ModelError::Empty);
        }
        let mut model = Self::guarded(|| Self::load_inner(bytes))?;
        // Warm up (first-run allocations, caches) and check the output is usable.
        let probe = vec![1.0f32; MODEL_BINS];
        let mut masks = vec![0.0f32; NUM_STEMS * MODEL_BINS];
        model.step(&probe, &mut masks)?;
        model.reset();
        Ok(model)
    }

    /// Runs a loader with panics caught: a panic becomes [`ModelError::Panic`] with its
    /// message. Every way of loading a model (files, the embedded default, custom loaders of
    /// [`super::source::ModelSource::Loader`]) goes through here.
    pub fn guarded(load: impl FnOnce() -> Result<Self, ModelError>) -> Result<Self, ModelError> {
        guard(load)
    }

    fn load_inner(bytes: &[u8]) -> Result<Self, ModelError> {
        let load = |e: TractError| ModelError::Load(first_line(&format!("{e:#}")));
        let mut reader = bytes;
        let inference = tract_onnx::onnx()
            .model_for_read(&mut reader)
            .map_err(load)?;
        // Names and count first, on the raw graph: clearer messages than shape errors.
        let inputs: Vec<String> = inference
            .input_outlets()
            .map_err(load)?
            .iter()
            .map(|o| inference.node(o.node).name.clone())
            .collect();
        if inputs != ["mag", "state_in"] {
            return Err(ModelError::Interface(format!(
                "inputs are {inputs:?}, expected [\"mag\", \"state_in\"]"
            )));
        }
        let outputs = inference.output_outlets().map_err(load)?.len();
        if outputs != 2 {
            return Err(ModelError::Interface(format!(
                "{outputs} outputs, expected 2 (masks, state_out)"
            )));
        }
        let typed = inference.into_optimized().map_err(load)?;
        let fact = |i: usize, input: bool| -> Result<(DatumType, Option<Vec<usize>>), ModelError> {
            let f = if input {
                typed.input_fact(i)
            } else {
                typed.output_fact(i)
            }
            .map_err(load)?;
            Ok((f.datum_type, shape_of(f)))
        };
        let (mag_type, mag_shape) = fact(0, true)?;
        let (state_type, state_shape) = fact(1, true)?;
        let (masks_type, masks_shape) = fact(0, false)?;
        let (out_state_type, out_state_shape) = fact(1, false)?;
        for (what, t) in [
            ("mag", mag_type),
            ("state_in", state_type),
            ("masks", masks_type),
            ("state_out", out_state_type),
        ] {
            if t != f32::datum_type() {
                return Err(ModelError::Interface(format!(
                    "{what} is {t:?}, expected f32"
                )));
            }
        }
        if mag_shape.as_deref() != Some(&[1, MODEL_BINS][..]) {
            return Err(ModelError::Interface(format!(
                "input mag has shape {mag_shape:?}, expected [1, {MODEL_BINS}]"
            )));
        }
        if masks_shape.as_deref() != Some(&[NUM_STEMS, MODEL_BINS][..]) {
            return Err(ModelError::Interface(format!(
                "output masks has shape {masks_shape:?}, expected [{NUM_STEMS}, {MODEL_BINS}]"
            )));
        }
        let Some(state_shape) = state_shape else {
            return Err(ModelError::Interface(
                "state_in has no fixed shape".to_owned(),
            ));
        };
        if state_shape.is_empty() || state_shape.iter().product::<usize>() == 0 {
            return Err(ModelError::Interface(format!(
                "state_in has an empty shape {state_shape:?}"
            )));
        }
        if out_state_shape.as_ref() != Some(&state_shape) {
            return Err(ModelError::Interface(format!(
                "state_out has shape {out_state_shape:?}, state_in {state_shape:?}: they must match"
            )));
        }
        let plan = typed.into_runnable().map_err(load)?;
        let zero_state = Tensor::zero::<f32>(&state_shape).map_err(load)?;
        let mag = Tensor::zero::<f32>(&[1, MODEL_BINS]).map_err(load)?;
        Ok(Self {
            plan,
            session: std::sync::Mutex::new(None),
            state: zero_state.clone(),
            zero_state,
            state_shape,
            mag,
        })
    }

    /// A new instance of the same network with a zeroed state (shares the optimised plan).
    pub fn fresh(&self) -> Self {
        Self {
            plan: self.plan.clone(),
            session: std::sync::Mutex::new(None),
            state_shape: self.state_shape.clone(),
            state: self.zero_state.clone(),
            zero_state: self.zero_state.clone(),
            mag: self.mag.clone(),
        }
    }

    /// The recurrent state's shape (`[L, K, D]` for the shipped model).
    pub fn state_shape(&self) -> &[usize] {
        &self.state_shape
    }

    /// Zeroes the recurrent state (the start of a new stream).
    pub fn reset(&mut self) {
        self.state = self.zero_state.clone();
    }

    /// One frame: `mag` (513 magnitudes) → `masks` (3 × 513, stem-major: drums, bass,
    /// other). Allocates (tract); never panics. On error the state is left unchanged.
    pub fn step(&mut self, mag: &[f32], masks: &mut [f32]) -> Result<(), ModelError> {
        let run = catch_unwind(AssertUnwindSafe(
            || -> Result<(Tensor, Tensor), ModelError> {
                let run_err = |e: TractError| ModelError::Run(first_line(&format!("{e:#}")));
                {
                    let mut view = self.mag.try_as_plain_ram_mut().map_err(run_err)?;
                    let dst = view.as_slice_mut::<f32>().map_err(run_err)?;
                    for (d, &m) in dst.iter_mut().zip(mag) {
                        *d = if m.is_finite() { m.max(0.0) } else { 0.0 };
                    }
                }
                let mut session = self
                    .session
                    .lock()
                    .map_err(|_| ModelError::Run("session lock poisoned".into()))?;
                if session.is_none() {
                    *session = Some(self.plan.spawn().map_err(run_err)?);
                }
                let mut out = session
                    .as_mut()
                    .expect("made above")
                    .run(tvec![self.mag.clone().into(), self.state.clone().into()])
                    .map_err(run_err)?;
                if out.len() != 2 {
                    return Err(ModelError::Run(format!("{} outputs", out.len())));
                }
                let state = out.pop().expect("two outputs").into_tensor();
                let masks = out.pop().expect("two outputs").into_tensor();
                Ok((masks, state))
            },
        ));
        let (out_masks, out_state) = match run {
            Ok(r) => r?,
            Err(p) => return Err(ModelError::Run(panic_message(p.as_ref()))),
        };
        let run_err = |e: TractError| ModelError::Run(first_line(&format!("{e:#}")));
        let view = out_masks.try_as_plain_ram().map_err(run_err)?;
        let src = view.as_slice::<f32>().map_err(run_err)?;
        if src.len() != masks.len() {
            return Err(ModelError::Run(format!("masks has {} values", src.len())));
        }
        if !src.iter().all(|m| m.is_finite()) {
            return Err(ModelError::NonFinite);
        }
        masks.copy_from_slice(&src[..masks.len()]);
        if out_state.shape() != self.state_shape.as_slice() {
            return Err(ModelError::Run(format!(
                "state_out has shape {:?}",
                out_state.shape()
            )));
        }
        // A state that has gone non-finite would poison every later frame.
        let finite = out_state
            .try_as_plain_ram()
            .ok()
            .and_then(|v| {
                v.as_slice::<f32>()
                    .ok()
                    .map(|s| s.iter().all(|x| x.is_finite()))
            })
            .unwrap_or(false);
        if !finite {
            return Err(ModelError::NonFinite);
        }
        self.state = out_state;
        Ok(())
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.len() > 200 {
        let mut end = 200;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &line[..end])
    } else {
        line.to_owned()
    }
}
