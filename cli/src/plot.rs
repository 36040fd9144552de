//! PNG plots (plotters, bitmap backend, with egui's bundled Ubuntu font so no system fonts
//! are needed).

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use prism_shared::chord::{chord_label, chord_parts};
use prism_shared::chroma::PITCH_CLASS_NAMES;

use crate::chroma_cmd::Row;

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// Dark blue → cyan → yellow colour map for 0..1.
pub fn heat(v: f32) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let r = (255.0 * (1.6 * v - 0.6).clamp(0.0, 1.0)) as u8;
    let g = (255.0 * (1.4 * v - 0.1).clamp(0.0, 1.0)) as u8;
    let b = (255.0 * (0.25 + 0.9 * v).min(1.0) * (1.0 - 0.7 * v)) as u8;
    RGBColor(r, g, b)
}

/// A stable colour per chord (N grey).
pub fn chord_color(chord: usize) -> RGBColor {
    match chord_parts(chord) {
        None => RGBColor(110, 110, 110),
        Some((root, quality)) => {
            let hue = root as f64 / 12.0;
            let lightness = if quality % 2 == 0 { 0.62 } else { 0.45 };
            let hsl = HSLColor(hue, 0.6, lightness);
            let (r, g, b) = hsl.rgb();
            RGBColor(r, g, b)
        }
    }
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting failed: {e}")
}

/// Writes a chromagram with a chord lane under it.
pub fn chromagram(
    path: &Path,
    rows: &[Row],
    segments: &[(f64, f64, usize)],
    duration_s: f64,
    title: &str,
) -> Result<()> {
    register_fonts();
    let (width, height) = (1600u32, 520u32);
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, lane) = root.split_vertically(height - 70);
    let duration_s = duration_s.max(1e-3);
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("Prism Chroma — {title}"), ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..duration_s, -0.5f64..11.5f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(12)
        .y_label_formatter(&|y| {
            PITCH_CLASS_NAMES[(y.round().max(0.0) as usize).min(11)].to_string()
        })
        .x_desc("time (s)")
        .draw()
        .map_err(err)?;
    let mut previous = 0.0;
    let mut cells = Vec::with_capacity(rows.len() * 12);
    for row in rows {
        for (pc, &v) in row.chroma.iter().enumerate() {
            cells.push(Rectangle::new(
                [(previous, pc as f64 - 0.5), (row.time_s, pc as f64 + 0.5)],
                heat(v).filled(),
            ));
        }
        previous = row.time_s;
    }
    chart.draw_series(cells).map_err(err)?;

    let mut lane_chart = ChartBuilder::on(&lane)
        .margin_left(10)
        .margin_right(10)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..duration_s, 0f64..1f64)
        .map_err(err)?;
    lane_chart
        .draw_series(segments.iter().map(|&(start, end, chord)| {
            Rectangle::new([(start, 0.1), (end, 0.9)], chord_color(chord).filled())
        }))
        .map_err(err)?;
    let plot_width = width as f64 - 60.0;
    lane_chart
        .draw_series(segments.iter().filter_map(|&(start, end, chord)| {
            let pixels = (end - start) / duration_s * plot_width;
            (pixels > 34.0).then(|| {
                Text::new(
                    chord_label(chord).to_string(),
                    (start + 0.02 * (end - start), 0.65),
                    ("sans-serif", 14).into_font().color(&BLACK),
                )
            })
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Writes a small multi-line waveform/curve plot (used by the demo).
pub fn waveforms(
    path: &Path,
    sample_rate: u32,
    signals: &[(&str, &[f32])],
    title: &str,
) -> Result<()> {
    register_fonts();
    let height = 140 * signals.len() as u32 + 40;
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let areas = root.split_evenly((signals.len(), 1));
    for (area, (name, samples)) in areas.iter().zip(signals) {
        let duration = samples.len() as f64 / sample_rate as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(*name, ("sans-serif", 15))
            .margin(6)
            .x_label_area_size(20)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..duration.max(1e-3), -1f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_labels(3)
            .draw()
            .map_err(err)?;
        // Min/max envelope per pixel column keeps the plot honest and small.
        let columns = 1300usize;
        let per = (samples.len() / columns).max(1);
        let mut upper = Vec::with_capacity(columns);
        let mut lower = Vec::with_capacity(columns);
        for (i, chunk) in samples.chunks(per).enumerate() {
            let t = (i * per) as f64 / sample_rate as f64;
            let max = chunk.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
            let min = chunk.iter().fold(f32::MAX, |a, &b| a.min(b)) as f64;
            upper.push((t, max.clamp(-1.0, 1.0)));
            lower.push((t, min.clamp(-1.0, 1.0)));
        }
        chart
            .draw_series(LineSeries::new(upper, &BLUE))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(lower, &BLUE))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}
