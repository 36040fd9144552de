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

/// Writes the masks of the three stems over the mix spectrogram: one panel per stem, time
/// across, log frequency (30 Hz–16 kHz) up (rows of the shared display reducer); brightness is the mix level, colour saturation
/// the stem's share (its mask).
pub fn split_masks(
    path: &Path,
    frames: &[prism_shared::split::display::ReducedFrame],
    hop_s: f64,
    title: &str,
) -> Result<()> {
    use prism_shared::split::display::{HIGH_HZ, LOW_HZ, ROWS as PLOT_ROWS};
    use prism_shared::split::{NUM_STEMS, STEM_NAMES};
    register_fonts();
    let width = 1400u32;
    let panel_h = 2 * PLOT_ROWS as u32;
    let left = 60u32;
    let plot_w = width - left - 20;
    let height = 40 + NUM_STEMS as u32 * (panel_h + 30) + 20;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let duration = frames.len() as f64 * hop_s;
    root.draw(&Text::new(
        format!("{title}: Prism Split masks ({duration:.1} s)"),
        (left as i32, 10),
        ("sans-serif", 20),
    ))
    .map_err(err)?;
    let max_db = frames
        .iter()
        .flat_map(|f| f.level_db.iter().copied())
        .fold(-200.0f32, f32::max);
    let colours = [
        (230.0, 90.0, 60.0),
        (70.0, 140.0, 240.0),
        (90.0, 200.0, 110.0),
    ];
    for s in 0..NUM_STEMS {
        let top = 40 + s as u32 * (panel_h + 30);
        root.draw(&Text::new(
            STEM_NAMES[s],
            (8, (top + panel_h / 2) as i32),
            ("sans-serif", 16),
        ))
        .map_err(err)?;
        for x in 0..plot_w {
            let f0 = (x as usize * frames.len()) / plot_w as usize;
            let f1 = (((x + 1) as usize * frames.len()) / plot_w as usize).max(f0 + 1);
            if f0 >= frames.len() {
                break;
            }
            let f1 = f1.min(frames.len());
            for r in 0..PLOT_ROWS {
                let mut level = 0.0f32;
                let mut mask = 0.0f32;
                for f in &frames[f0..f1] {
                    level += f.level_db[r];
                    mask += f.masks[s][r];
                }
                let k = (f1 - f0) as f32;
                let v = ((level / k - (max_db - 80.0)) / 80.0).clamp(0.0, 1.0);
                let m = (mask / k).clamp(0.0, 1.0);
                let (cr, cg, cb) = colours[s];
                let grey = 255.0 * v * 0.35 * (1.0 - m);
                let px = RGBColor(
                    (grey + v * m * cr) as u8,
                    (grey + v * m * cg) as u8,
                    (grey + v * m * cb) as u8,
                );
                let y = top + panel_h - 2 * (r as u32 + 1);
                for dy in 0..2 {
                    root.draw_pixel(((left + x) as i32, (y + dy) as i32), &px)
                        .map_err(err)?;
                }
            }
        }
        // Axis labels: frequencies on the left, seconds below.
        for hz in [100.0f32, 1000.0, 10000.0] {
            let r = (hz / LOW_HZ).ln() / (HIGH_HZ / LOW_HZ).ln() * PLOT_ROWS as f32;
            let y = top as f32 + panel_h as f32 - 2.0 * r;
            let label = if hz >= 1000.0 {
                format!("{}k", hz / 1000.0)
            } else {
                format!("{hz}")
            };
            root.draw(&Text::new(
                label,
                (left as i32 - 34, y as i32 - 6),
                ("sans-serif", 12),
            ))
            .map_err(err)?;
        }
        let step = if duration > 120.0 {
            30.0
        } else if duration > 30.0 {
            10.0
        } else {
            2.0
        };
        let mut t = 0.0;
        while t <= duration {
            let x = left as f64 + t / duration.max(1e-9) * plot_w as f64;
            root.draw(&Text::new(
                format!("{t:.0}s"),
                (x as i32, (top + panel_h + 4) as i32),
                ("sans-serif", 12),
            ))
            .map_err(err)?;
            t += step;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Writes the pitch trace over a piano roll: semitone rows (black keys shaded, C labelled),
/// the MIDI notes as bars, the f0 track coloured by confidence (unvoiced frames faint).
pub fn pitch_trace(
    path: &Path,
    rows: &[crate::pitch_cmd::Row],
    notes: &[(f64, f64, u8)],
    transpose: i32,
    reference_hz: f32,
    duration_s: f64,
    title: &str,
) -> Result<()> {
    register_fonts();
    let pitch_of = |f: f32| prism_shared::pitch::semitones(f, reference_hz);
    let voiced: Vec<f64> = rows
        .iter()
        .filter(|r| r.voiced && r.frequency_hz > 0.0)
        .map(|r| pitch_of(r.frequency_hz))
        .collect();
    let (lo, hi) = if voiced.is_empty() {
        (57.0, 81.0)
    } else {
        let lo = voiced.iter().cloned().fold(f64::MAX, f64::min);
        let hi = voiced.iter().cloned().fold(f64::MIN, f64::max);
        ((lo - 3.0).floor(), (hi + 3.0).ceil().max(lo + 12.0))
    };
    let root = BitMapBackend::new(path, (1600, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..duration_s.max(1e-3), lo..hi)
        .map_err(err)?;
    // Piano roll: black-key rows shaded.
    chart
        .draw_series((lo as i32..hi as i32).filter_map(|n| {
            let black = matches!(n.rem_euclid(12), 1 | 3 | 6 | 8 | 10);
            black.then(|| {
                Rectangle::new(
                    [(0.0, n as f64 - 0.5), (duration_s, n as f64 + 0.5)],
                    RGBColor(235, 235, 240).filled(),
                )
            })
        }))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_labels(((hi - lo) as usize).min(60))
        .y_label_formatter(&|y| {
            let n = y.round() as i32;
            if (y - n as f64).abs() < 1e-6 && n.rem_euclid(12) == 0 {
                let (name, octave) = prism_shared::pitch::note_name(n);
                format!("{name}{octave}")
            } else {
                String::new()
            }
        })
        .x_desc("time (s)")
        .draw()
        .map_err(err)?;
    // MIDI notes (drawn untransposed so they sit on the pitch they came from).
    chart
        .draw_series(notes.iter().map(|&(start, end, key)| {
            let n = key as f64 - transpose as f64;
            Rectangle::new(
                [(start, n - 0.4), (end, n + 0.4)],
                RGBColor(255, 170, 60).mix(0.55).filled(),
            )
        }))
        .map_err(err)?;
    // The f0 trace: one dot per frame, alpha by confidence.
    chart
        .draw_series(rows.iter().filter(|r| r.frequency_hz > 0.0).map(|r| {
            let y = pitch_of(r.frequency_hz);
            let style = if r.voiced {
                RGBColor(20, 60, 200)
                    .mix((0.25 + 0.75 * r.confidence as f64).min(1.0))
                    .filled()
            } else {
                RGBColor(150, 150, 150).mix(0.25).filled()
            };
            Circle::new((r.time_s, y.clamp(lo, hi)), 1, style)
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
