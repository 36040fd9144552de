//! Prism Split's parameters: `prism-shared`'s schema ([`schema`]) as nice-plug parameters.
//! The ids below must equal the schema's (they key saved sessions); a test checks them.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;
use prism_plugin::{params, Choice, EditorSize, ShellParams};
use prism_shared::split::remix::Mix;
use prism_shared::split::{schema, ModelSource, SplitMode, NUM_STEMS};

/// One stem's channel strip.
#[derive(Params)]
pub struct StemParams {
    /// Level in the remix, dB.
    #[id = "gain"]
    pub gain_db: FloatParam,
    #[id = "mute"]
    pub mute: BoolParam,
    #[id = "solo"]
    pub solo: BoolParam,
}

impl StemParams {
    fn new(name: &str) -> Self {
        let prefix = format!("{name} ");
        Self {
            gain_db: params::float(&schema::STEM_GAIN, &prefix),
            mute: params::bool(&schema::STEM_MUTE, &prefix),
            solo: params::bool(&schema::STEM_SOLO, &prefix),
        }
    }
}

/// All automatable, persisted parameters, and the persisted non-parameter state.
#[derive(Params)]
pub struct SplitParams {
    #[id = "mode"]
    pub separator: EnumParam<Choice<SplitMode>>,
    #[nested(id_prefix = "drums", group = "Drums")]
    pub drums: StemParams,
    #[nested(id_prefix = "bass", group = "Bass")]
    pub bass: StemParams,
    #[nested(id_prefix = "other", group = "Other")]
    pub other: StemParams,
    /// Crossfades to the (latency-compensated) dry input.
    #[id = "bypass"]
    pub bypass: BoolParam,
    /// A user ONNX model's path ("" = the built-in model).
    #[persist = "model_path"]
    pub model_path: SavedModelPath,
    /// Stem whose mask the editor draws (0 drums, 1 bass, 2 other).
    #[persist = "view_stem"]
    pub view_stem: Arc<AtomicU8>,
    /// The editor's size, saved with the session.
    #[persist = "editor_size"]
    pub editor_size: EditorSize,
}

impl Default for SplitParams {
    fn default() -> Self {
        Self {
            separator: params::choice(),
            drums: StemParams::new("Drums"),
            bass: StemParams::new("Bass"),
            other: StemParams::new("Other"),
            bypass: params::bool(&schema::BYPASS, "").make_bypass(),
            model_path: SavedModelPath::default(),
            view_stem: Arc::new(AtomicU8::new(0)),
            editor_size: EditorSize::new(1000.0, 620.0),
        }
    }
}

/// The model path, persisted with the session. Every state the host loads carries it (it is
/// saved even when empty), and nice-plug sets persisted fields after the parameters, so its
/// `set` also counts state restores: the audio thread sees a new count at its next block and
/// applies the restored parameters at once instead of fading to them.
#[derive(Debug, Default)]
pub struct SavedModelPath {
    path: RwLock<String>,
    restores: AtomicU32,
}

impl SavedModelPath {
    /// Sets the path (the editor; not a restore).
    pub fn set_path(&self, path: String) {
        if let Ok(mut p) = self.path.write() {
            *p = path;
        }
    }

    /// How many states have been loaded. Real-time safe (an atomic load).
    pub fn restores(&self) -> u32 {
        self.restores.load(Ordering::Acquire)
    }
}

impl<'a> PersistentField<'a, String> for SavedModelPath {
    fn set(&self, new_value: String) {
        self.set_path(new_value);
        self.restores.fetch_add(1, Ordering::AcqRel);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&String) -> R,
    {
        match self.path.read() {
            Ok(p) => f(&p),
            Err(_) => f(&String::new()),
        }
    }
}

impl SplitParams {
    /// The saved model path ("" = the built-in model).
    pub fn model_path(&self) -> String {
        self.model_path.map(String::clone)
    }

    /// The model the saved path names (read by the inference worker, which reports a file
    /// it cannot read or use and falls back to the built-in model).
    pub fn model_source(&self) -> ModelSource {
        match self.model_path() {
            path if path.is_empty() => ModelSource::Default,
            path => ModelSource::File(path.into()),
        }
    }

    /// The stems' strips in output order.
    pub fn stems(&self) -> [&StemParams; NUM_STEMS] {
        [&self.drums, &self.bass, &self.other]
    }

    /// The remix the parameters ask for now.
    pub fn mix(&self) -> Mix {
        let stems = self.stems();
        Mix {
            gain_db: stems.map(|p| p.gain_db.value()),
            mute: stems.map(|p| p.mute.value()),
            solo: stems.map(|p| p.solo.value()),
            bypass: self.bypass.value(),
        }
    }
}

impl ShellParams for SplitParams {
    fn editor_size(&self) -> &EditorSize {
        &self.editor_size
    }
}
