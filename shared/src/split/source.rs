//! Where Split's model comes from, and the model as the inference worker runs it.
//!
//! The worker runs a [`SplitModel`]: the ONNX network ([`NeuralModel`]) or, for tests and
//! other model stores, anything else with its interface ([`ModelSource::Loader`]). Every
//! failure is reported in the status line with its cause (a file that cannot be read names
//! the path and the system's reason), and the engine falls back: a rejected user model to the
//! built-in one, no model at all to HPSS.

use std::sync::{Arc, OnceLock};

use super::model::{ModelError, NeuralModel};
use super::{MODEL_BINS, NUM_STEMS};
use crate::infer::{Model, StatusCode, Swap, Telemetry};

/// What the worker runs: one model frame's magnitudes in, the three stems' masks out.
pub type SplitModel = Box<
    dyn Model<
        Input = [f32; MODEL_BINS],
        Output = [f32; NUM_STEMS * MODEL_BINS],
        Error = ModelError,
    >,
>;

/// A model handed to a running engine (loaded and validated elsewhere, e.g. the editor).
pub type ModelSwap = Swap<SplitModel>;

impl Model for NeuralModel {
    type Input = [f32; MODEL_BINS];
    type Output = [f32; NUM_STEMS * MODEL_BINS];
    type Error = ModelError;
    fn reset(&mut self) {
        NeuralModel::reset(self);
    }
    fn step(&mut self, input: &Self::Input, output: &mut Self::Output) -> Result<(), ModelError> {
        NeuralModel::step(self, input, output)
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
pub struct ModelLoader(pub Arc<dyn Fn() -> Result<SplitModel, ModelError> + Send + Sync>);

impl std::fmt::Debug for ModelLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelLoader(..)")
    }
}

/// The default model, parsed and optimised once per process and shared by all instances.
pub(crate) fn default_model() -> Result<NeuralModel, ModelError> {
    static CACHE: OnceLock<Result<NeuralModel, ModelError>> = OnceLock::new();
    match CACHE.get_or_init(NeuralModel::load_default) {
        Ok(m) => Ok(m.fresh()),
        Err(e) => Err(e.clone()),
    }
}

/// The first model that loads: the requested one, else the built-in one.
// Runs on the inference worker (it may read files), never on the audio thread.
#[allow(clippy::disallowed_methods)]
pub(crate) fn load_source(source: &ModelSource, telemetry: &Telemetry) -> Option<SplitModel> {
    match source {
        ModelSource::None => {
            telemetry.set_status(StatusCode::NoModel, "no model: HPSS mode");
            None
        }
        ModelSource::Default => match default_model() {
            Ok(m) => {
                telemetry.set_status(StatusCode::Ready, "built-in model prism-split-v2");
                Some(Box::new(m))
            }
            Err(e) => {
                telemetry.set_status(
                    StatusCode::LoadFailed,
                    &format!("built-in model: {e}; running HPSS instead"),
                );
                None
            }
        },
        ModelSource::Loader(loader) => match super::model::guard(|| (loader.0)()) {
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
    telemetry: &Telemetry,
) -> Option<SplitModel> {
    let e = match loaded {
        Ok(m) => {
            telemetry.set_status(StatusCode::Ready, "user model");
            return Some(Box::new(m));
        }
        Err(e) => e,
    };
    match default_model() {
        Ok(m) => {
            telemetry.set_status(
                StatusCode::Ready,
                &format!("user model rejected ({e}); using the built-in model"),
            );
            Some(Box::new(m))
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
