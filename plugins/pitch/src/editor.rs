//! The Prism Pitch editor: a tuner (needle, note name, cents, frequency) and a scrolling
//! pitch trace on a piano-roll background, shaded by confidence, with the MIDI notes drawn
//! under it.
//!
//! Runs on the GUI thread only. Frames arrive through the SPSC ring, which the audio thread
//! fills only while this editor is open.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use atomic_float::AtomicF32;
use std::sync::Arc;

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, Vec2};
use nice_plug::prelude::*;
use prism_plugin::editor::{controls, panel, Edge};
use prism_plugin::{History, View};
use prism_shared::gui::FrameConsumer;
use prism_shared::pitch::{note_name, semitones, tuner};
use prism_shared::PitchFrame;

use crate::PitchParams;

/// Scalars the editor shows, written by the audio thread (relaxed atomics).
#[derive(Default)]
pub struct Meters {
    pub frequency_hz: AtomicF32,
    pub confidence: AtomicF32,
    pub voiced: AtomicBool,
    /// Sounding MIDI note (untransposed), −1 for none.
    pub note: AtomicI32,
    /// Frames per second (the editor's time axis).
    pub frame_rate_hz: AtomicF32,
    /// Algorithmic latency in ms.
    pub latency_ms: AtomicF32,
}

/// Semitones visible in the piano roll.
const ROLL_SPAN: f32 = 25.0;
/// Time constant of the tuner display's smoothing, s.
const TUNER_SMOOTHING_S: f32 = 0.06;

/// The editor: what Prism Pitch draws (the shell owns the window).
pub struct PitchView {
    params: Arc<PitchParams>,
    meters: Arc<Meters>,
    history: History<PitchFrame>,
    /// The tuner's smoothed pitch, semitones from the reference A4.
    display_pitch: Option<f64>,
    /// The piano roll's centre, MIDI note.
    roll_center: f32,
}

impl PitchView {
    /// A view fed by `frames` (called once per plugin instance).
    pub fn new(
        params: Arc<PitchParams>,
        meters: Arc<Meters>,
        frames: FrameConsumer<PitchFrame>,
    ) -> Self {
        Self {
            params,
            meters,
            // 8 s at up to ~350 frames a second.
            history: History::timed(frames, 8.0, 350.0),
            display_pitch: None,
            roll_center: 60.0,
        }
    }
}

impl View for PitchView {
    fn opened(&mut self) {
        self.history.clear();
        self.display_pitch = None;
    }

    fn ui(&mut self, ui: &mut egui::Ui, setter: &ParamSetter) {
        let frame_rate = self.meters.frame_rate_hz.load(Ordering::Relaxed).max(1.0);
        let reference = self.params.reference_hz.value();
        let alpha = (-1.0 / (frame_rate * TUNER_SMOOTHING_S)).exp() as f64;
        let display = &mut self.display_pitch;
        let keep = self.history.drain_timed(frame_rate, |frame| {
            if frame.voiced {
                let p = semitones(frame.frequency_hz, reference);
                *display = Some(match *display {
                    // A jump of more than half a semitone restarts the smoothing.
                    Some(d) if (d - p).abs() < 0.5 => alpha * d + (1.0 - alpha) * p,
                    _ => p,
                });
            }
        });

        panel(ui, "controls", Edge::Left(240.0), |ui| {
            self.controls(ui, setter)
        });
        panel(ui, "tuner", Edge::Top(220.0), |ui| {
            self.tuner(ui, reference)
        });
        egui::CentralPanel::default().show(ui, |ui| self.trace(ui, reference, keep));
    }
}

impl PitchView {
    fn controls(&self, ui: &mut egui::Ui, setter: &ParamSetter) {
        ui.heading("Tracking");
        let tracking = ["min_hz", "max_hz", "ref_hz", "voicing"];
        controls(ui, setter, &*self.params, &tracking);
        ui.separator();
        ui.heading("MIDI");
        let midi = ["midi_out", "bend", "min_note", "transpose"];
        controls(ui, setter, &*self.params, &midi);
        ui.separator();
        let latency = self.meters.latency_ms.load(Ordering::Relaxed);
        ui.label(
            egui::RichText::new(format!(
                "analysis latency {latency:.1} ms; audio not delayed"
            ))
            .small()
            .weak(),
        );
    }

    fn tuner(&self, ui: &mut egui::Ui, reference: f32) {
        let (rect, _) = ui.allocate_exact_size(ui.available_size(), Sense::hover());
        let painter = ui.painter_at(rect);
        let voiced = self.meters.voiced.load(Ordering::Relaxed);
        let frequency = self.meters.frequency_hz.load(Ordering::Relaxed);
        let confidence = self.meters.confidence.load(Ordering::Relaxed);
        let shown = self
            .display_pitch
            .and_then(|p| tuner(reference * 2f32.powf((p as f32 - 69.0) / 12.0), reference));
        // Scale: an arc from −50 to +50 cents.
        let center = Pos2::new(rect.center().x, rect.bottom() - 20.0);
        let radius = (rect.height() - 40.0).min(rect.width() * 0.45);
        let angle_of = |cents: f32| (cents / 50.0).clamp(-1.0, 1.0) * 1.0; // ±1 rad
        for c in (-50..=50).step_by(5) {
            let a = angle_of(c as f32);
            let dir = Vec2::new(a.sin(), -a.cos());
            let inner = if c % 25 == 0 { 0.86 } else { 0.92 };
            let color = if c == 0 {
                Color32::from_rgb(90, 220, 120)
            } else {
                Color32::GRAY
            };
            painter.line_segment(
                [center + dir * radius * inner, center + dir * radius],
                Stroke::new(if c % 25 == 0 { 2.0 } else { 1.0 }, color),
            );
            if c % 25 == 0 {
                painter.text(
                    center + dir * (radius * 0.78),
                    Align2::CENTER_CENTER,
                    format!("{c:+}"),
                    FontId::proportional(11.0),
                    Color32::GRAY,
                );
            }
        }
        let (text, detail, needle) = match shown {
            Some((note, cents)) if voiced || self.display_pitch.is_some() => {
                let (name, octave) = note_name(note);
                (
                    format!("{name}{octave}"),
                    format!(
                        "{cents:+.1} ct   {frequency:.2} Hz   conf {:.0} %",
                        100.0 * confidence
                    ),
                    Some(cents),
                )
            }
            _ => ("–".to_string(), "no pitch".to_string(), None),
        };
        if let Some(cents) = needle {
            let a = angle_of(cents);
            let dir = Vec2::new(a.sin(), -a.cos());
            let color = if cents.abs() <= 3.0 {
                Color32::from_rgb(90, 220, 120)
            } else if voiced {
                Color32::from_rgb(240, 180, 60)
            } else {
                Color32::from_gray(110)
            };
            painter.line_segment(
                [center + dir * radius * 0.62, center + dir * radius * 0.99],
                Stroke::new(4.0, color),
            );
        }
        painter.text(
            Pos2::new(center.x, center.y - radius * 0.45),
            Align2::CENTER_CENTER,
            text,
            FontId::proportional(48.0),
            if voiced {
                Color32::WHITE
            } else {
                Color32::from_gray(120)
            },
        );
        painter.text(
            Pos2::new(center.x, center.y - radius * 0.15),
            Align2::CENTER_CENTER,
            detail,
            FontId::proportional(15.0),
            Color32::LIGHT_GRAY,
        );
    }

    fn trace(&mut self, ui: &mut egui::Ui, reference: f32, keep: usize) {
        let (rect, _) = ui.allocate_exact_size(ui.available_size(), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(24));
        // Follow the music: centre on the recent voiced pitches.
        let recent: Vec<f32> = self
            .history
            .frames()
            .iter()
            .rev()
            .take(400)
            .filter(|f| f.voiced)
            .map(|f| semitones(f.frequency_hz, reference) as f32)
            .collect();
        if !recent.is_empty() {
            let mean = recent.iter().sum::<f32>() / recent.len() as f32;
            if (mean - self.roll_center).abs() > ROLL_SPAN * 0.35 {
                self.roll_center = mean;
            } else {
                self.roll_center += 0.02 * (mean - self.roll_center);
            }
        }
        let lo = self.roll_center - ROLL_SPAN / 2.0;
        let row_h = rect.height() / ROLL_SPAN;
        let y_of = |pitch: f32| rect.bottom() - (pitch - lo) * row_h;
        // Piano roll background.
        for n in lo.floor() as i32..=(lo + ROLL_SPAN).ceil() as i32 {
            let black = matches!(n.rem_euclid(12), 1 | 3 | 6 | 8 | 10);
            let y = y_of(n as f32);
            let row = Rect::from_min_max(
                Pos2::new(rect.left(), y - row_h / 2.0),
                Pos2::new(rect.right(), y + row_h / 2.0),
            );
            if black {
                painter.rect_filled(row, 0.0, Color32::from_gray(34));
            }
            if n.rem_euclid(12) == 0 {
                let (name, octave) = note_name(n);
                painter.text(
                    Pos2::new(rect.left() + 4.0, y),
                    Align2::LEFT_CENTER,
                    format!("{name}{octave}"),
                    FontId::proportional(11.0),
                    Color32::GRAY,
                );
                painter.line_segment(
                    [
                        Pos2::new(rect.left(), y + row_h / 2.0),
                        Pos2::new(rect.right(), y + row_h / 2.0),
                    ],
                    Stroke::new(1.0, Color32::from_gray(60)),
                );
            }
        }
        let n = self.history.frames().len();
        if n == 0 {
            painter.text(
                rect.center(),
                Align2::CENTER_CENTER,
                "waiting for audio…",
                FontId::proportional(16.0),
                Color32::GRAY,
            );
            return;
        }
        let dx = rect.width() / keep.max(1) as f32;
        let x_of = |i: usize| rect.right() - (n - i) as f32 * dx;
        // MIDI notes: runs of the same sounding note.
        let mut run: Option<(usize, i16)> = None;
        for (i, f) in self
            .history
            .frames()
            .iter()
            .enumerate()
            .chain(std::iter::once((
                n,
                &PitchFrame {
                    note: -1,
                    ..PitchFrame::default()
                },
            )))
        {
            match run {
                Some((start, note)) if note != f.note => {
                    let y = y_of(note as f32);
                    painter.rect_filled(
                        Rect::from_min_max(
                            Pos2::new(x_of(start), y - row_h * 0.4),
                            Pos2::new(x_of(i), y + row_h * 0.4),
                        ),
                        2.0,
                        Color32::from_rgba_unmultiplied(255, 160, 50, 110),
                    );
                    run = (f.note >= 0).then_some((i, f.note));
                }
                None if f.note >= 0 => run = Some((i, f.note)),
                _ => {}
            }
        }
        // The trace, one segment per frame, shaded by confidence.
        let mut prev: Option<Pos2> = None;
        for (i, f) in self.history.frames().iter().enumerate() {
            if !f.voiced || f.frequency_hz <= 0.0 {
                prev = None;
                continue;
            }
            let p = Pos2::new(x_of(i), y_of(semitones(f.frequency_hz, reference) as f32));
            let a = (60.0 + 195.0 * f.confidence.clamp(0.0, 1.0)) as u8;
            let color = Color32::from_rgba_unmultiplied(110, 200, 255, a);
            if let Some(q) = prev {
                if (q.y - p.y).abs() < row_h * 2.0 {
                    painter.line_segment([q, p], Stroke::new(2.0, color));
                } else {
                    painter.circle_filled(p, 1.5, color);
                }
            } else {
                painter.circle_filled(p, 1.5, color);
            }
            prev = Some(p);
        }
    }
}
