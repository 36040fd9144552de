//! The Prism Chroma editor: scrolling chromagram with a chord lane, current chord and key in
//! large type, tuning, and the template fit of the current frame ("why this chord").
//!
//! Runs on the GUI thread only. Frames arrive through the SPSC ring, which the audio thread
//! fills only while this editor is open.

use std::sync::atomic::{AtomicU32, Ordering};

use atomic_float::AtomicF32;
use std::sync::Arc;

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};
use nice_plug::prelude::*;
use prism_plugin::editor::{controls, panel, Edge};
use prism_plugin::{History, View};
use prism_shared::analyzer::{ChordSource, Evidence};
use prism_shared::chord::{chord_label, chord_templates, NUM_CHORDS};
use prism_shared::chroma::PITCH_CLASS_NAMES;
use prism_shared::gui::FrameConsumer;
use prism_shared::infer::{StatusCode, Telemetry};
use prism_shared::key::key_label;
use prism_shared::ChromaFrame;

use crate::ChromaParams;

/// Scalars the editor shows, written by the audio thread (relaxed atomics).
#[derive(Default)]
pub struct Meters {
    pub chord: AtomicU32,
    pub chord_confidence: AtomicF32,
    pub key: AtomicU32,
    /// 0..1 (0: no key heard yet).
    pub key_confidence: AtomicF32,
    /// Estimated tuning relative to the reference, cents.
    pub tuning_cents: AtomicF32,
    /// Analysis frames per second (the editor's time axis).
    pub frame_rate_hz: AtomicF32,
    /// The prepared sample rate.
    pub sample_rate_hz: AtomicF32,
    /// How far the shown chord lags the music (the look-ahead actually in use), ms.
    pub chord_lag_ms: AtomicF32,
    /// Bass pitch class (12: none).
    pub bass: AtomicU32,
}

impl Meters {
    /// Shows `frame` (the audio thread, while the editor is open).
    pub fn show(&self, frame: &ChromaFrame) {
        self.chord.store(frame.chord as u32, Ordering::Relaxed);
        self.chord_confidence
            .store(frame.chord_confidence, Ordering::Relaxed);
        self.key.store(frame.key as u32, Ordering::Relaxed);
        self.key_confidence
            .store(frame.key_confidence, Ordering::Relaxed);
        self.tuning_cents
            .store(frame.estimated_tuning_cents, Ordering::Relaxed);
        let lag = frame.end_sample.saturating_sub(frame.chord_end_sample) as f32;
        let rate = self.sample_rate_hz.load(Ordering::Relaxed).max(1.0);
        self.chord_lag_ms
            .store(1000.0 * lag / rate, Ordering::Relaxed);
        self.bass.store(frame.bass as u32, Ordering::Relaxed);
    }
}

/// The editor: what Prism Chroma draws (the shell owns the window).
pub struct ChromaView {
    params: Arc<ChromaParams>,
    meters: Arc<Meters>,
    history: History<ChromaFrame>,
    templates: Box<[[f32; 12]; NUM_CHORDS]>,
    /// The learned chord layer's worker (status, misses, time per frame).
    model: Arc<Telemetry>,
}

impl ChromaView {
    /// A view fed by `frames` (called once per plugin instance).
    pub fn new(
        params: Arc<ChromaParams>,
        meters: Arc<Meters>,
        frames: FrameConsumer,
        model: Arc<Telemetry>,
    ) -> Self {
        Self {
            params,
            meters,
            model,
            // 10 s at up to 50 frames a second.
            history: History::timed(frames, 10.0, 50.0),
            templates: Box::new(chord_templates()),
        }
    }
}

impl View for ChromaView {
    fn opened(&mut self) {
        self.history.clear();
    }

    fn ui(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let frame_rate = self.meters.frame_rate_hz.load(Ordering::Relaxed);
        let keep = self.history.drain_timed(frame_rate, |_| {});

        panel(ui, "header", Edge::Top(112.0), |ui| self.header(ui));
        panel(ui, "controls", Edge::Left(250.0), |ui| {
            self.controls(ui, setter)
        });
        panel(ui, "fit", Edge::Right(230.0), |ui| self.template_fit(ui));
        egui::CentralPanel::default().show(ui, |ui| self.chromagram(ui, keep));
    }
}

impl ChromaView {
    fn header(&self, ui: &mut egui::Ui) {
        let chord = self.meters.chord.load(Ordering::Relaxed) as usize;
        let chord_conf = self.meters.chord_confidence.load(Ordering::Relaxed);
        let key = self.meters.key.load(Ordering::Relaxed) as usize;
        let key_conf = self.meters.key_confidence.load(Ordering::Relaxed);
        let tuning = self.meters.tuning_cents.load(Ordering::Relaxed);
        let reference = self.params.reference_hz.value();
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("CHORD").small().weak());
                ui.label(
                    egui::RichText::new(chord_label(chord).to_string())
                        .size(44.0)
                        .strong(),
                );
                let bass = self.meters.bass.load(Ordering::Relaxed) as usize;
                let bass = PITCH_CLASS_NAMES.get(bass).copied().unwrap_or("–");
                ui.label(format!(
                    "confidence {:.0} % · bass {bass}",
                    100.0 * chord_conf
                ));
                let lag = self.meters.chord_lag_ms.load(Ordering::Relaxed);
                if lag > 0.5 {
                    let why = if self.params.evidence.value().0 == Evidence::Learned {
                        "look-ahead + the model's hop"
                    } else {
                        "look-ahead"
                    };
                    ui.label(
                        egui::RichText::new(format!("{lag:.0} ms ago ({why})"))
                            .small()
                            .weak(),
                    );
                }
            });
            ui.add_space(40.0);
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("KEY").small().weak());
                // Until any harmony has been heard there is no key to show.
                let key_text = if key_conf > 0.0 {
                    key_label(key).to_string()
                } else {
                    "–".to_string()
                };
                ui.label(egui::RichText::new(key_text).size(32.0));
                ui.label(format!("confidence {:.0} %", 100.0 * key_conf));
            });
            ui.add_space(40.0);
            ui.vertical(|ui| {
                ui.label(egui::RichText::new("TUNING").small().weak());
                ui.label(egui::RichText::new(format!("{tuning:+.1} ct")).size(32.0));
                let a4 = reference * 2f32.powf(tuning / 1200.0);
                let applied = if self.params.auto_tuning.value() {
                    "applied"
                } else {
                    "not applied"
                };
                ui.label(format!("A4 ≈ {a4:.1} Hz ({applied})"));
            });
            if self.params.freeze.value() {
                ui.add_space(30.0);
                ui.label(
                    egui::RichText::new("FROZEN")
                        .size(24.0)
                        .color(Color32::LIGHT_BLUE),
                );
            }
        });
    }

    fn controls(&self, ui: &mut egui::Ui, setter: &ParamSetter) {
        ui.heading("Analysis");
        let sliders = [
            "ref_hz",
            "smooth_ms",
            "compress",
            "vocab",
            "evidence",
            "lookahead_ms",
        ];
        controls(ui, setter, &*self.params, &sliders);
        ui.separator();
        let toggles = ["auto_tune", "hpss", "midi_out", "freeze"];
        controls(ui, setter, &*self.params, &toggles);
    }

    fn template_fit(&self, ui: &mut egui::Ui) {
        ui.heading("Why this chord");
        let Some(last) = self.history.frames().back() else {
            ui.label("waiting for audio…");
            return;
        };
        let chord = last.chord as usize;
        let best_fit = (0..NUM_CHORDS).fold(0, |b, i| {
            if last.chord_fit[i] > last.chord_fit[b] {
                i
            } else {
                b
            }
        });
        let evidence = match self.params.evidence.value().0 {
            Evidence::Filterbank => "chroma vs harmonic template".to_string(),
            Evidence::Nnls => "NNLS treble notes (and bass) vs template".to_string(),
            Evidence::Learned => match ChordSource::from_u8(last.chord_source) {
                ChordSource::Model if best_fit == chord => {
                    "model, and the templates agree".to_string()
                }
                ChordSource::Model => {
                    format!("model, over the templates' {}", chord_label(best_fit))
                }
                ChordSource::Fallback => "templates (the model was late)".to_string(),
                ChordSource::Templates => "templates (no model running)".to_string(),
            },
        };
        ui.label(format!("{} — {evidence}", chord_label(chord)));
        if self.params.evidence.value().0 == Evidence::Learned {
            let status = self.model.snapshot();
            let state = match status.code {
                StatusCode::Ready => status.message.clone(),
                StatusCode::Loading => "loading the model".to_string(),
                _ => status.message.clone(),
            };
            ui.label(
                egui::RichText::new(format!(
                    "{state} · {} late of {} · {:.0} µs/frame",
                    status.misses, status.frames, status.infer_us_last
                ))
                .small()
                .weak(),
            );
        }
        let (rect, _) =
            ui.allocate_exact_size(Vec2::new(ui.available_width(), 130.0), Sense::hover());
        let painter = ui.painter_at(rect);
        let template = &self.templates[chord];
        let w = rect.width() / 12.0;
        for pc in 0..12 {
            let x0 = rect.left() + pc as f32 * w;
            let h_chroma = last.chroma[pc].clamp(0.0, 1.0) * (rect.height() - 16.0);
            let h_template = template[pc].clamp(0.0, 1.0) * (rect.height() - 16.0);
            let base = rect.bottom() - 14.0;
            painter.rect_filled(
                Rect::from_min_max(
                    Pos2::new(x0 + 2.0, base - h_chroma),
                    Pos2::new(x0 + w * 0.55, base),
                ),
                1.0,
                Color32::from_rgb(90, 170, 255),
            );
            painter.rect_filled(
                Rect::from_min_max(
                    Pos2::new(x0 + w * 0.55, base - h_template),
                    Pos2::new(x0 + w - 2.0, base),
                ),
                1.0,
                Color32::from_rgb(255, 190, 80),
            );
            painter.text(
                Pos2::new(x0 + w / 2.0, rect.bottom()),
                Align2::CENTER_BOTTOM,
                PITCH_CLASS_NAMES[pc],
                FontId::proportional(10.0),
                Color32::GRAY,
            );
        }
        ui.horizontal(|ui| {
            ui.colored_label(Color32::from_rgb(90, 170, 255), "chroma (left)");
            ui.colored_label(Color32::from_rgb(255, 190, 80), "template (right)");
        });
        ui.separator();
        ui.label("Best template fits (cosine)");
        let mut order: [usize; NUM_CHORDS] = std::array::from_fn(|i| i);
        order.sort_by(|&a, &b| last.chord_fit[b].total_cmp(&last.chord_fit[a]));
        for &idx in order.iter().take(6) {
            let fit = last.chord_fit[idx];
            ui.horizontal(|ui| {
                ui.monospace(format!("{:<9}", chord_label(idx).to_string()));
                let bar = egui::ProgressBar::new(fit.clamp(0.0, 1.0)).text(format!("{fit:.2}"));
                ui.add(bar);
            });
        }
    }

    fn chromagram(&self, ui: &mut egui::Ui, capacity: usize) {
        let available = ui.available_size();
        let (rect, _) = ui.allocate_exact_size(available, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(12));
        let label_w = 28.0;
        let lane_h = 34.0;
        let grid = Rect::from_min_max(
            Pos2::new(rect.left() + label_w, rect.top()),
            Pos2::new(rect.right(), rect.bottom() - lane_h),
        );
        let row_h = grid.height() / 12.0;
        for (pc, name) in PITCH_CLASS_NAMES.iter().enumerate() {
            let y = grid.bottom() - (pc as f32 + 0.5) * row_h;
            painter.text(
                Pos2::new(rect.left() + 4.0, y),
                Align2::LEFT_CENTER,
                *name,
                FontId::monospace(11.0),
                Color32::GRAY,
            );
        }
        let capacity = capacity.max(1);
        let col_w = grid.width() / capacity as f32;
        let offset = capacity.saturating_sub(self.history.frames().len());
        for (i, frame) in self.history.frames().iter().enumerate() {
            let x = grid.left() + (offset + i) as f32 * col_w;
            for pc in 0..12 {
                let v = frame.chroma[pc].clamp(0.0, 1.0);
                let y = grid.bottom() - (pc as f32 + 1.0) * row_h;
                painter.rect_filled(
                    Rect::from_min_size(Pos2::new(x, y), Vec2::new(col_w + 0.5, row_h + 0.5)),
                    0.0,
                    heat(v),
                );
            }
        }
        // Chord lane: one segment per run of equal chords, labelled when wide enough.
        let lane = Rect::from_min_max(
            Pos2::new(grid.left(), grid.bottom() + 2.0),
            rect.right_bottom(),
        );
        let mut start = 0;
        let frames: Vec<&ChromaFrame> = self.history.frames().iter().collect();
        for i in 1..=frames.len() {
            if i == frames.len() || frames[i].chord != frames[start].chord {
                let chord = frames[start].chord as usize;
                let x0 = grid.left() + (offset + start) as f32 * col_w;
                let x1 = grid.left() + (offset + i) as f32 * col_w;
                let seg =
                    Rect::from_min_max(Pos2::new(x0, lane.top()), Pos2::new(x1, lane.bottom()));
                painter.rect_filled(seg, 2.0, chord_color(chord));
                painter.rect_stroke(
                    seg,
                    2.0,
                    Stroke::new(1.0, Color32::from_gray(20)),
                    StrokeKind::Inside,
                );
                if x1 - x0 > 30.0 {
                    painter.text(
                        seg.center(),
                        Align2::CENTER_CENTER,
                        chord_label(chord).to_string(),
                        FontId::proportional(13.0),
                        Color32::BLACK,
                    );
                }
                start = i;
            }
        }
        painter.text(
            Pos2::new(grid.left() + 4.0, grid.top() + 4.0),
            Align2::LEFT_TOP,
            format!("last {:.0} s", self.history.seconds()),
            FontId::proportional(11.0),
            Color32::from_gray(160),
        );
    }
}

/// Dark blue → cyan → yellow colour map for 0..1.
fn heat(v: f32) -> Color32 {
    let v = v.clamp(0.0, 1.0);
    let r = (255.0 * (1.6 * v - 0.6).clamp(0.0, 1.0)) as u8;
    let g = (255.0 * (1.4 * v - 0.1).clamp(0.0, 1.0)) as u8;
    let b = (255.0 * (0.25 + 0.9 * v).min(1.0) * (1.0 - 0.7 * v)) as u8;
    Color32::from_rgb(r, g, b)
}

/// A stable colour per chord root and quality (N is grey).
fn chord_color(chord: usize) -> Color32 {
    match prism_shared::chord::chord_parts(chord) {
        None => Color32::from_gray(70),
        Some((root, quality)) => {
            let hue = root as f32 / 12.0;
            let value = if quality % 2 == 0 { 0.95 } else { 0.75 };
            egui::ecolor::Hsva::new(hue, 0.55, value, 1.0).into()
        }
    }
}
