//! The editor side of the shell: one egui application type for every plugin, and the
//! bounded frame history each editor draws from.
//!
//! Runs on the GUI thread only. Frames arrive through the SPSC ring the audio thread fills
//! while the editor is open ([`prism_shared::gui`]).

use std::collections::VecDeque;
use std::sync::Arc;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::{LogicalSize, Size};
use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp,
};

/// The editor's size, saved with the session (`#[persist = "editor_size"]` in every plugin's
/// parameters) as logical `(width, height)`: the window opens at the size the user left it.
pub struct EditorSize {
    state: Arc<EguiEditorState>,
}

impl EditorSize {
    /// The size a new instance opens with.
    pub fn new(width: f64, height: f64) -> Self {
        Self {
            state: EguiEditorState::from_size(LogicalSize::new(width, height), 1.0),
        }
    }

    /// The editor state the window reads its size from (and writes it to as it is resized).
    pub fn state(&self) -> Arc<EguiEditorState> {
        self.state.clone()
    }
}

/// Sizes a restored session may set: anything else (garbage, a zero) keeps the current one.
const SIZE_RANGE: std::ops::RangeInclusive<f64> = 200.0..=16_384.0;

impl<'a> PersistentField<'a, (f64, f64)> for EditorSize {
    fn set(&self, (width, height): (f64, f64)) {
        if SIZE_RANGE.contains(&width) && SIZE_RANGE.contains(&height) {
            self.state.set_size(LogicalSize::new(width, height));
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&(f64, f64)) -> R,
    {
        match self.state.size() {
            Size::Logical(s) => f(&(s.width, s.height)),
            Size::Physical(s) => f(&(s.width as f64, s.height as f64)),
        }
    }
}

/// What a plugin's editor draws. The shell owns the window and the host context.
pub trait View: Send + 'static {
    /// The window opened (again): start from a clean history.
    fn opened(&mut self) {}
    /// One repaint. `setter` changes parameters as gestures the host records.
    fn ui(&mut self, ui: &mut egui::Ui, setter: &ParamSetter);
}

/// The egui application of a plugin editor.
pub struct App<V> {
    view: V,
    gui: Option<GuiContext>,
}

/// The editor type of a plugin whose view is `V`.
pub type Editor<V> = EguiEditor<App<V>>;

/// Creates the editor window's application (called once per plugin instance).
pub fn create<V: View>(title: &str, state: Arc<EguiEditorState>, view: V) -> Option<Editor<V>> {
    let settings = EguiNiceSettings::new()
        .with_tile(title)
        .with_resize_hint(ResizeHint::RESIZABLE);
    let repaint = nice_plug_egui::RepaintNotifier::default();
    create_egui_editor(state, repaint, settings, App { view, gui: None })
}

impl<V: View> NiceEguiApp for App<V> {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        self.gui = Some(gui);
        self.view.opened();
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        if let Some(gui) = &self.gui {
            let setter = gui.param_setter();
            self.view.ui(ui, &setter);
        }
        ui.ctx().request_repaint();
    }
}

/// The last frames an editor shows, fed from the audio thread's ring.
pub struct History<T> {
    rx: rtrb::Consumer<T>,
    frames: VecDeque<T>,
    capacity: usize,
    /// The span a timed history shows, s (0 for one that counts frames).
    seconds: f32,
}

impl<T: Copy> History<T> {
    /// A history of at most `capacity` frames (allocates once, here).
    pub fn new(rx: rtrb::Consumer<T>, capacity: usize) -> Self {
        Self {
            rx,
            frames: VecDeque::with_capacity(capacity),
            capacity,
            seconds: 0.0,
        }
    }

    /// A history of the last `seconds` of frames arriving at up to `max_rate_hz` a second
    /// (a fifth more is kept in reserve for a frame rate just above it).
    pub fn timed(rx: rtrb::Consumer<T>, seconds: f32, max_rate_hz: f32) -> Self {
        let capacity = (1.2 * seconds * max_rate_hz).ceil() as usize;
        Self {
            seconds,
            ..Self::new(rx, capacity.max(1))
        }
    }

    /// Takes every frame waiting in the ring (calling `each` on it), then keeps the newest
    /// `keep` frames.
    pub fn drain(&mut self, keep: usize, mut each: impl FnMut(&T)) {
        while let Ok(frame) = self.rx.pop() {
            if self.frames.len() == self.capacity {
                self.frames.pop_front();
            }
            each(&frame);
            self.frames.push_back(frame);
        }
        while self.frames.len() > keep.min(self.capacity) {
            self.frames.pop_front();
        }
    }

    /// [`drain`](Self::drain) for a timed history: keeps the frames of the last
    /// [`seconds`](Self::seconds) at `frame_rate_hz` and returns how many frames that span is.
    pub fn drain_timed(&mut self, frame_rate_hz: f32, each: impl FnMut(&T)) -> usize {
        let keep = ((self.seconds * frame_rate_hz.max(1.0)) as usize).clamp(1, self.capacity);
        self.drain(keep, each);
        keep
    }

    /// Forgets every frame (the ring's waiting frames are dropped at the next drain's pace).
    pub fn clear(&mut self) {
        self.frames.clear();
    }

    /// The frames, oldest first.
    pub fn frames(&self) -> &VecDeque<T> {
        &self.frames
    }

    /// The most frames it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The span a timed history shows, s.
    pub fn seconds(&self) -> f32 {
        self.seconds
    }
}

/// A checkbox for an on/off parameter, labelled with its name.
pub fn toggle(ui: &mut egui::Ui, setter: &ParamSetter, param: &BoolParam) {
    let mut value = param.value();
    if ui.checkbox(&mut value, param.name()).changed() {
        set_bool(setter, param, value);
    }
}

/// A toggle button for an on/off parameter (a channel strip's M / S).
pub fn toggle_button(ui: &mut egui::Ui, setter: &ParamSetter, param: &BoolParam, label: &str) {
    let mut value = param.value();
    if ui.toggle_value(&mut value, label).changed() {
        set_bool(setter, param, value);
    }
}

/// Sets an on/off parameter as one host gesture.
fn set_bool(setter: &ParamSetter, param: &BoolParam, value: bool) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
}

/// The controls of the parameters `ids` of `params`, in that order, each under its name: a
/// checkbox for an on/off parameter, a label and a slider for any other. An id the
/// parameters do not have is skipped (and fails debug builds).
pub fn controls(ui: &mut egui::Ui, setter: &ParamSetter, params: &impl Params, ids: &[&str]) {
    let map = params.param_map();
    for id in ids {
        let Some((_, ptr, _)) = map.iter().find(|(i, _, _)| i == id) else {
            debug_assert!(false, "no parameter {id:?}");
            continue;
        };
        // SAFETY: the pointers of `param_map` point into `params`, borrowed for this call.
        unsafe {
            match *ptr {
                ParamPtr::BoolParam(p) => toggle(ui, setter, &*p),
                ParamPtr::FloatParam(p) => slider(ui, (*p).name(), &*p, setter),
                ParamPtr::IntParam(p) => slider(ui, (*p).name(), &*p, setter),
                ParamPtr::EnumParam(p) => slider(ui, (*p).name(), &*p, setter),
            }
        }
    }
}

/// A label and a slider for a parameter.
pub fn slider(ui: &mut egui::Ui, label: &str, param: &impl Param, setter: &ParamSetter) {
    ui.label(label);
    ui.add(nice_plug_egui::widgets::ParamSlider::for_param(
        param, setter,
    ));
}

/// A panel along an edge of the editor: `Top(height)` fixed, `Left(width)` and
/// `Right(width)` resizable.
pub enum Edge {
    Top(f32),
    Left(f32),
    Right(f32),
}

/// Draws `add` in a panel along `edge`.
pub fn panel(ui: &mut egui::Ui, id: &'static str, edge: Edge, add: impl FnOnce(&mut egui::Ui)) {
    let panel = match edge {
        Edge::Top(h) => egui::Panel::top(id).exact_size(h),
        Edge::Left(w) => egui::Panel::left(id).default_size(w).resizable(true),
        Edge::Right(w) => egui::Panel::right(id).default_size(w).resizable(true),
    };
    panel.show(ui, add);
}
