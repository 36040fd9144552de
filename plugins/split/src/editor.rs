//! The Prism Split editor: per-stem faders, mute / solo and meters; a live spectrogram with
//! one stem's mask over it; the separator, the model (built-in or a user's ONNX file),
//! CPU load, deadline misses, latency and the model's status.
//!
//! GUI thread only. Frames arrive through the SPSC ring, which the audio thread fills only
//! while this editor is open. A user model is read and validated here, off the audio
//! thread, and handed to the engine's worker only if it fits.

use std::sync::atomic::{AtomicU32, Ordering};

use atomic_float::AtomicF32;
use std::sync::Arc;

use egui::{Color32, ColorImage, FontId, Pos2, Rect, Sense, TextureHandle, TextureOptions, Vec2};
use nice_plug::prelude::*;
use nice_plug_egui::widgets::ParamSlider;
use prism_plugin::editor::{panel, slider, toggle_button, Edge};
use prism_plugin::{History, View};
use prism_shared::split::display::{ReducedFrame, HIGH_HZ, LOW_HZ, ROWS};
use prism_shared::split::{
    ModelSwap, NeuralModel, SplitTelemetry, StatusCode, NUM_STEMS, STEM_NAMES,
};

use crate::SplitParams;

/// Scalars the editor shows (relaxed atomics; per block only while the editor is open).
#[derive(Default)]
pub struct Meters {
    /// Per stem: the block's post-fader output peak (linear).
    pub stem_peak: [AtomicF32; NUM_STEMS],
    /// Audio-thread time of the last block / the block's duration.
    pub cpu_load: AtomicF32,
    pub latency_samples: AtomicU32,
    pub sample_rate: AtomicF32,
    /// Engine frames per second (the spectrogram's time axis).
    pub frame_rate_hz: AtomicF32,
}

/// Columns of spectrogram history kept (≈ 4.6 s at 172 frames/s).
const HISTORY: usize = 800;
const STEM_COLOURS: [(u8, u8, u8); NUM_STEMS] = [(240, 110, 70), (80, 150, 255), (110, 210, 120)];

/// What the editor shares with the plugin.
pub struct EditorData {
    pub params: Arc<SplitParams>,
    pub meters: Arc<Meters>,
    pub telemetry: Arc<SplitTelemetry>,
    pub swapper: crossbeam::channel::Sender<ModelSwap>,
    pub frames: rtrb::Consumer<ReducedFrame>,
}

/// The editor: what Prism Split draws (the shell owns the window).
pub struct SplitView {
    params: Arc<SplitParams>,
    meters: Arc<Meters>,
    telemetry: Arc<SplitTelemetry>,
    swapper: crossbeam::channel::Sender<ModelSwap>,
    history: History<ReducedFrame>,
    texture: Option<TextureHandle>,
    /// Meter ballistics (decaying peaks).
    peaks: [f32; NUM_STEMS],
    path_field: String,
    /// The result of the last model load from the editor.
    model_note: String,
}

impl SplitView {
    /// A view of `data` (called once per plugin instance).
    pub fn new(data: EditorData) -> Self {
        Self {
            path_field: data.params.model_path(),
            params: data.params,
            meters: data.meters,
            telemetry: data.telemetry,
            swapper: data.swapper,
            history: History::new(data.frames, HISTORY),
            texture: None,
            peaks: [0.0; NUM_STEMS],
            model_note: String::new(),
        }
    }
}

impl View for SplitView {
    fn opened(&mut self) {
        self.history.clear();
        self.texture = None;
    }

    fn ui(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        self.history.drain(HISTORY, |_| {});
        for (p, m) in self.peaks.iter_mut().zip(&self.meters.stem_peak) {
            *p = (*p * 0.85).max(m.load(Ordering::Relaxed));
        }
        panel(ui, "status", Edge::Top(56.0), |ui| self.status(ui));
        panel(ui, "strips", Edge::Left(330.0), |ui| {
            self.strips(ui, setter)
        });
        egui::CentralPanel::default().show(ui, |ui| self.spectrogram(ui));
    }
}

impl SplitView {
    fn status(&self, ui: &mut egui::Ui) {
        let t = self.telemetry.snapshot();
        let m = &self.meters;
        let sr = m.sample_rate.load(Ordering::Relaxed).max(1.0);
        let latency = m.latency_samples.load(Ordering::Relaxed);
        let (label, colour) = match t.code {
            StatusCode::Loading => ("loading model…", Color32::YELLOW),
            StatusCode::Ready => ("neural", Color32::from_rgb(120, 220, 140)),
            StatusCode::NoModel => ("HPSS (no model)", Color32::LIGHT_BLUE),
            StatusCode::LoadFailed | StatusCode::RunFailed => {
                ("HPSS (model failed)", Color32::from_rgb(255, 140, 90))
            }
        };
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Prism Split").size(20.0).strong());
            ui.add_space(12.0);
            ui.label(egui::RichText::new(label).color(colour).size(15.0));
            ui.add_space(12.0);
            ui.label(format!(
                "latency {latency} samples ({:.1} ms)",
                latency as f32 / sr * 1000.0
            ));
            ui.add_space(12.0);
            let load = m.cpu_load.load(Ordering::Relaxed);
            ui.label(format!("audio thread {:.1} %", 100.0 * load));
            ui.add_space(12.0);
            let miss_colour = if t.misses > 0 {
                Color32::from_rgb(255, 140, 90)
            } else {
                Color32::GRAY
            };
            ui.colored_label(miss_colour, format!("deadline misses {}", t.misses));
            ui.add_space(12.0);
            ui.label(format!(
                "inference {:.0} µs (max {:.0})",
                t.infer_us_last, t.infer_us_max
            ));
        });
        ui.label(egui::RichText::new(t.message).color(Color32::from_gray(170)));
    }

    fn strips(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let p = self.params.clone();
        ui.heading("Stems");
        for (s, sp) in p.stems().iter().enumerate() {
            let (r, g, b) = STEM_COLOURS[s];
            ui.horizontal(|ui| {
                ui.colored_label(Color32::from_rgb(r, g, b), STEM_NAMES[s]);
                toggle_button(ui, setter, &sp.mute, "M");
                toggle_button(ui, setter, &sp.solo, "S");
            });
            ui.add(ParamSlider::for_param(&sp.gain_db, setter));
            // Peak meter, -60..+6 dBFS.
            let db = 20.0 * self.peaks[s].max(1e-6).log10();
            let frac = ((db + 60.0) / 66.0).clamp(0.0, 1.0);
            let (rect, _) =
                ui.allocate_exact_size(Vec2::new(ui.available_width(), 8.0), Sense::hover());
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 2.0, Color32::from_gray(30));
            let filled = Rect::from_min_size(rect.min, Vec2::new(rect.width() * frac, 8.0));
            let colour = if db > -0.1 {
                Color32::RED
            } else {
                Color32::from_rgb(r, g, b)
            };
            painter.rect_filled(filled, 2.0, colour);
            ui.add_space(6.0);
        }
        ui.separator();
        slider(ui, "Separator", &p.separator, setter);
        toggle_button(ui, setter, &p.bypass, "Bypass");
        ui.separator();
        ui.label("Mask shown");
        ui.horizontal(|ui| {
            let current = p.view_stem.load(Ordering::Relaxed) as usize;
            for (s, name) in STEM_NAMES.iter().enumerate() {
                if ui.selectable_label(current == s, *name).clicked() {
                    p.view_stem.store(s as u8, Ordering::Relaxed);
                }
            }
        });
        ui.separator();
        ui.label("Model (ONNX file; empty = built-in)");
        ui.text_edit_singleline(&mut self.path_field);
        ui.horizontal(|ui| {
            if ui.button("Load").clicked() {
                self.load_model();
            }
            if ui.button("Built-in").clicked() {
                self.path_field.clear();
                self.load_model();
            }
        });
        if !self.model_note.is_empty() {
            ui.label(
                egui::RichText::new(&self.model_note)
                    .size(11.0)
                    .color(Color32::from_gray(200)),
            );
        }
    }

    /// Reads and validates the model named in the path field, then hands it to the worker.
    /// A model that does not fit is rejected here, with the reason; the running one stays.
    fn load_model(&mut self) {
        let path = self.path_field.trim().to_owned();
        let (result, name) = if path.is_empty() {
            (
                NeuralModel::load_default().map_err(|e| e.to_string()),
                "built-in model prism-split-v2".to_owned(),
            )
        } else {
            let loaded = std::fs::read(&path)
                .map_err(|e| format!("cannot read {path}: {e}"))
                .and_then(|bytes| NeuralModel::load(&bytes).map_err(|e| e.to_string()));
            (loaded, format!("user model {path}"))
        };
        match result {
            Ok(model) => {
                if self
                    .swapper
                    .try_send(ModelSwap {
                        model: Box::new(model),
                        name: name.clone(),
                    })
                    .is_ok()
                {
                    self.params.model_path.set_path(path);
                    self.model_note = format!("loaded: {name}");
                } else {
                    self.model_note = "busy: try again".to_owned();
                }
            }
            Err(e) => self.model_note = format!("rejected: {e}"),
        }
    }

    fn spectrogram(&mut self, ui: &mut egui::Ui) {
        let available = ui.available_size();
        let (rect, _) = ui.allocate_exact_size(available, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(10));
        let stem = (self.params.view_stem.load(Ordering::Relaxed) as usize).min(NUM_STEMS - 1);
        let (cr, cg, cb) = STEM_COLOURS[stem];
        let mut image = ColorImage::filled([HISTORY, ROWS], Color32::from_gray(10));
        let offset = HISTORY - self.history.frames().len();
        for (i, frame) in self.history.frames().iter().enumerate() {
            for r in 0..ROWS {
                let v = ((frame.level_db[r] + 90.0) / 90.0).clamp(0.0, 1.0);
                let m = frame.masks[stem][r];
                let grey = 200.0 * v * (1.0 - m) * 0.6;
                let px = Color32::from_rgb(
                    (grey + v * m * cr as f32) as u8,
                    (grey + v * m * cg as f32) as u8,
                    (grey + v * m * cb as f32) as u8,
                );
                image.pixels[(ROWS - 1 - r) * HISTORY + offset + i] = px;
            }
        }
        let texture = match &mut self.texture {
            Some(t) => {
                t.set(image, TextureOptions::LINEAR);
                t.clone()
            }
            None => {
                let t = ui
                    .ctx()
                    .load_texture("split-spectrogram", image, TextureOptions::LINEAR);
                self.texture = Some(t.clone());
                t
            }
        };
        let label_w = 40.0;
        let plot = Rect::from_min_max(Pos2::new(rect.left() + label_w, rect.top()), rect.max);
        painter.image(
            texture.id(),
            plot,
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
            Color32::WHITE,
        );
        for hz in [
            50.0f32, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
        ] {
            let frac = (hz / LOW_HZ).ln() / (HIGH_HZ / LOW_HZ).ln();
            let y = plot.bottom() - frac * plot.height();
            let label = if hz >= 1000.0 {
                format!("{}k", hz / 1000.0)
            } else {
                format!("{hz}")
            };
            painter.text(
                Pos2::new(rect.left() + 4.0, y),
                egui::Align2::LEFT_CENTER,
                label,
                FontId::monospace(10.0),
                Color32::GRAY,
            );
        }
        let fps = self.meters.frame_rate_hz.load(Ordering::Relaxed).max(1.0);
        painter.text(
            Pos2::new(plot.left() + 6.0, plot.top() + 6.0),
            egui::Align2::LEFT_TOP,
            format!(
                "{} mask over the mix, last {:.1} s",
                STEM_NAMES[stem],
                HISTORY as f32 / fps
            ),
            FontId::proportional(12.0),
            Color32::from_gray(200),
        );
    }
}
