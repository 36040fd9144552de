//! Editor tests under a private Xvfb server (software GL through Mesa):
//!
//! * `standalone_editor_renders`: runs each plugin's standalone binary with `--backend dummy`,
//!   waits for its window, screenshots the screen into `target/screenshots/<package>.png`, and
//!   checks the window is not blank; then asks the process to quit (SIGINT) and checks it does.
//! * `clap_editor_open_close_cycles`: opens each plugin's editor through `clap.gui`, embedded in
//!   an X11 window of our own, ten times in a row (before activation and while processing), and
//!   two instances' editors at once; checks the editor draws something and the host survives.
//!
//! Needs `Xvfb`, `xdotool` and imagemagick (`import`, `convert`). Standalone binary:
//! `$PRISM_STANDALONE`, else `$PRISM_BIN_DIR/<package>`, else `<target dir>/debug/<package>`
//! (e.g. `prism-chroma`).

use anyhow::{bail, ensure, Context, Result};
use clack_extensions::gui::GuiSize;
use prism_tests::bundles::{self, BundleKind, CHROMA_CLAP_ID, CHROMA_NAME};
use prism_tests::clap::{ClapPlugin, Placement};
use prism_tests::harness::load_with_plugins;
use prism_tests::signal;
use prism_tests::workspace_root;
use prism_tests::xvfb::{
    die_with_parent, image_stats, window_geometry, ImageStats, KillOnDrop, X11ParentWindow, Xvfb,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests here change `DISPLAY` of this process; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn screenshot_dir() -> PathBuf {
    workspace_root().join("target").join("screenshots")
}

/// A rendered editor has many colours and visible contrast; a blank or single-colour window
/// has a handful of colours and ~zero deviation.
fn check_not_blank(stats: &ImageStats, what: &str) -> Result<()> {
    ensure!(
        stats.unique_colors >= 24 && stats.std_dev >= 0.02,
        "{what} looks blank: {} unique colours, std dev {:.4} ({}x{})",
        stats.unique_colors,
        stats.std_dev,
        stats.width,
        stats.height
    );
    Ok(())
}

/// Takes screenshots until the region looks rendered (egui may need a few frames), up to
/// `timeout`. Returns the last stats.
fn screenshot_until_rendered(
    xvfb: &Xvfb,
    png: &Path,
    crop: &str,
    timeout: Duration,
) -> Result<ImageStats> {
    let deadline = Instant::now() + timeout;
    loop {
        xvfb.screenshot_root(png)?;
        let stats = image_stats(png, Some(crop))?;
        if check_not_blank(&stats, "").is_ok() || Instant::now() >= deadline {
            return Ok(stats);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// (display name, package, binary path) of the standalone binaries to test.
fn standalone_targets() -> Option<Vec<(String, String, PathBuf)>> {
    if bundles::skip_requested("standalone_editor_renders") {
        return None;
    }
    if let Some(bin) = std::env::var_os("PRISM_STANDALONE").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        let pkg = bin
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if pkg == bundles::package_name_for(CHROMA_NAME) {
            CHROMA_NAME.to_owned()
        } else {
            pkg.clone()
        };
        return Some(vec![(name, pkg, bin)]);
    }
    // One standalone per bundled plugin; Chroma's is required, others are tested if built.
    let mut names: Vec<String> = bundles::find_bundles_in(&bundles::bundle_dir(), BundleKind::Clap)
        .iter()
        .map(|b| bundles::bundle_stem(b))
        .collect();
    if !names.iter().any(|n| n == CHROMA_NAME) {
        names.push(CHROMA_NAME.to_owned());
    }
    // `cargo xtask test` sets PRISM_BIN_DIR to cargo's debug output folder.
    let bin_dir = std::env::var_os("PRISM_BIN_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"))
                .join("debug")
        });
    let mut out = Vec::new();
    for name in names {
        let pkg = bundles::package_name_for(&name);
        let bin = bin_dir.join(&pkg);
        if bin.is_file() {
            out.push((name, pkg, bin));
        } else if name == CHROMA_NAME {
            panic!(
                "standalone binary {} not found. Build it with\n    \
                 cargo build -p {pkg} --bin {pkg}\n\
                 (cargo xtask test builds it), or set PRISM_STANDALONE to its path. \
                 PRISM_SKIP_HOST_TESTS=1 skips host tests.",
                bin.display()
            );
        } else {
            eprintln!(
                "note: no standalone binary for {name} at {}; not tested",
                bin.display()
            );
        }
    }
    Some(out)
}

fn run_standalone(xvfb: &Xvfb, name: &str, pkg: &str, bin: &Path) -> Result<()> {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join(format!("{pkg}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut cmd = Command::new(bin);
    die_with_parent(&mut cmd);
    let child = cmd
        .args(["--backend", "dummy"])
        .env("DISPLAY", xvfb.display())
        .env("NICE_LOG", "stderr")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let mut child = KillOnDrop(child);
    let log_tail = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };

    let ids = xvfb.wait_for_window(name, Duration::from_secs(15))?;
    if let Some(status) = child.try_wait()? {
        bail!(
            "{} exited ({status}) before/while opening its window; log:\n{}",
            bin.display(),
            log_tail()
        );
    }
    let Some(id) = ids.first() else {
        let all = xvfb.run("xdotool", &["search", "--onlyvisible", "--name", "."])?;
        bail!(
            "no visible window named {name:?} within 15 s (visible windows: {:?}); log:\n{}",
            String::from_utf8_lossy(&all.stdout).trim(),
            log_tail()
        );
    };
    let (x, y, w, h) = window_geometry(xvfb, id)?;
    ensure!(w >= 100 && h >= 100, "window {id} is only {w}x{h}");
    let png = dir.join(format!("{pkg}.png"));
    let crop = format!("{w}x{h}+{}+{}", x.max(0), y.max(0));
    let stats = screenshot_until_rendered(xvfb, &png, &crop, Duration::from_secs(15))?;
    eprintln!(
        "{name}: window {id} at {x},{y} {w}x{h}; screenshot {} ({stats:?})",
        png.display()
    );
    check_not_blank(
        &stats,
        &format!("{name} standalone window (screenshot {})", png.display()),
    )?;
    if let Some(status) = child.try_wait()? {
        bail!(
            "{} exited ({status}) after rendering; log:\n{}",
            bin.display(),
            log_tail()
        );
    }

    // Shut down: SIGINT (Ctrl+C) first, then SIGTERM (what service managers and CI send).
    // nice-plug's standalone only honours SIGINT when it has no editor window (its Ctrl+C
    // handler sets a flag that nothing reads while the editor runs), so a SIGINT that is
    // ignored is reported, not failed; SIGTERM must end the process.
    let pid = child.id().to_string();
    let wait_exit =
        |child: &mut KillOnDrop, secs: u64| -> Result<Option<std::process::ExitStatus>> {
            let deadline = Instant::now() + Duration::from_secs(secs);
            loop {
                if let Some(s) = child.try_wait()? {
                    return Ok(Some(s));
                }
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        };
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    match wait_exit(&mut child, 5)? {
        Some(s) => eprintln!("{name}: standalone exited after SIGINT ({s})"),
        None => {
            eprintln!("WARNING: {name}: standalone ignored SIGINT for 5 s while its editor was open; sending SIGTERM");
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            match wait_exit(&mut child, 10)? {
                Some(s) => eprintln!("{name}: standalone exited after SIGTERM ({s})"),
                None => bail!(
                    "{name}: standalone survived SIGINT and SIGTERM (killed); log:\n{}",
                    log_tail()
                ),
            }
        }
    }
    Ok(())
}

#[test]
fn standalone_editor_renders() {
    if prism_tests::isolate::in_parent("standalone_editor_renders") {
        return;
    }
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(targets) = standalone_targets() else {
        return;
    };
    let xvfb = Xvfb::start().expect("starting Xvfb");
    let mut failures = Vec::new();
    for (name, pkg, bin) in &targets {
        if let Err(e) = run_standalone(&xvfb, name, pkg, bin) {
            failures.push(format!("{name} ({}): {e:#}", bin.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "standalone editor failures:\n{}",
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// CLAP editor through clap.gui
// ---------------------------------------------------------------------------------------------

/// Keeps the host side alive for `wait`: runs main-thread callbacks and drains X events.
fn pump(plugins: &mut [&mut ClapPlugin], parents: &[&X11ParentWindow], wait: Duration) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        for p in plugins.iter_mut() {
            p.pump_main_thread();
        }
        for w in parents {
            w.drain_events();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn crop_for(size: Option<GuiSize>, fallback: (u32, u32), x: u32) -> String {
    let (w, h) = size.map_or(fallback, |s| (s.width.min(1280 - x), s.height.min(1024)));
    format!("{w}x{h}+{x}+0")
}

fn clap_editor_cycles(xvfb: &Xvfb, bundle_path: &Path) -> Result<()> {
    let bundle = load_with_plugins(bundle_path)?;
    let stem = bundles::package_name_for(&bundles::bundle_stem(bundle_path));
    for d in bundle.descriptors()? {
        let mut p = bundle.instantiate(&d.id)?;
        if p.gui().is_none() {
            ensure!(d.id != CHROMA_CLAP_ID, "Chroma offers no clap.gui");
            eprintln!("{}: no clap.gui, editor not tested", d.id);
            continue;
        }
        ensure!(
            p.gui_x11_supported(false),
            "{}: embedded X11 editor not supported",
            d.id
        );
        let parent =
            X11ParentWindow::create(&xvfb.display(), (0, 0), (1200, 900), "Prism test host")?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;

        // Ten open/close cycles; the first ones before activation, the later ones while
        // processing audio between pumps.
        let mut slowest_close = Duration::ZERO;
        for cycle in 0..10 {
            if cycle == 5 {
                p.activate(48_000.0, 1, 512)?;
            }
            // SAFETY: `parent` is a live window on the display the plugin uses and outlives
            // the editor (closed below, before `parent` is dropped).
            let size = unsafe { p.gui_open_embedded_x11(u64::from(parent.id())) }
                .with_context(|| format!("cycle {cycle}: opening the editor"))?;
            if let Some(s) = size {
                parent.resize(s.width.max(1), s.height.max(1))?;
            }
            if p.activation().is_some() {
                let ch = p.main_input_channels();
                let chord = signal::chord(&[60, 64, 67], 440.0, 48_000.0, 24_000, 0.5);
                let sig = vec![chord; ch];
                let r = p.process_signal(
                    &sig,
                    &signal::block_sizes(24_000, &[512], 512),
                    Placement::OutOfPlace,
                )?;
                // An analyser passes audio through bit-exactly; a delaying plugin (Split)
                // outputs the input delayed by its latency, within 1e-4.
                let latency = p.latency().unwrap_or(0) as usize;
                let unchanged = if latency == 0 {
                    r.audio == sig
                } else {
                    r.audio.iter().zip(&sig).all(|(o, i)| {
                        o.iter().all(|v| v.is_finite())
                            && (latency..o.len()).all(|n| (o[n] - i[n - latency]).abs() < 1e-4)
                    })
                };
                ensure!(
                    unchanged,
                    "cycle {cycle}: audio changed while the editor is open"
                );
            }
            pump(&mut [&mut p], &[&parent], Duration::from_millis(400));
            if cycle == 0 || cycle == 9 {
                let png = dir.join(format!("{stem}-clap-editor-{cycle}.png"));
                let stats = screenshot_until_rendered(
                    xvfb,
                    &png,
                    &crop_for(size, (800, 600), 0),
                    Duration::from_secs(15),
                )?;
                eprintln!(
                    "{}: cycle {cycle}: editor size {size:?}, {} ({stats:?})",
                    d.id,
                    png.display()
                );
                check_not_blank(
                    &stats,
                    &format!("{} CLAP editor, cycle {cycle} ({})", d.id, png.display()),
                )?;
            }
            // Closing (destroying) the editor must not hang the host's GUI thread: a bound,
            // not a speed measurement.
            let t0 = std::time::Instant::now();
            p.gui_close()
                .with_context(|| format!("cycle {cycle}: closing the editor"))?;
            let took = t0.elapsed();
            ensure!(
                took < Duration::from_secs(1),
                "cycle {cycle}: destroying the editor took {took:?} (limit 1 s)"
            );
            slowest_close = slowest_close.max(took);
            pump(&mut [&mut p], &[&parent], Duration::from_millis(100));
        }
        eprintln!("{}: slowest editor destroy {slowest_close:?}", d.id);
        p.deactivate();
        drop(parent);

        // Two instances with editors open at once, side by side.
        let mut a = bundle.instantiate(&d.id)?;
        let mut b = bundle.instantiate(&d.id)?;
        let pa = X11ParentWindow::create(&xvfb.display(), (0, 0), (640, 900), "host A")?;
        let pb = X11ParentWindow::create(&xvfb.display(), (640, 0), (640, 900), "host B")?;
        // SAFETY: as above; both parents outlive their editors.
        let sa =
            unsafe { a.gui_open_embedded_x11(u64::from(pa.id())) }.context("opening editor A")?;
        // SAFETY: as above.
        let sb =
            unsafe { b.gui_open_embedded_x11(u64::from(pb.id())) }.context("opening editor B")?;
        pump(
            &mut [&mut a, &mut b],
            &[&pa, &pb],
            Duration::from_millis(800),
        );
        let png = dir.join(format!("{stem}-clap-editor-two-instances.png"));
        for (label, size, x) in [("A", sa, 0u32), ("B", sb, 640)] {
            let crop = crop_for(
                size.map(|s| GuiSize {
                    width: s.width.min(640),
                    height: s.height,
                }),
                (640, 600),
                x,
            );
            let stats = screenshot_until_rendered(xvfb, &png, &crop, Duration::from_secs(15))?;
            check_not_blank(
                &stats,
                &format!(
                    "{} editor {label} of two open at once ({})",
                    d.id,
                    png.display()
                ),
            )?;
        }
        a.gui_close()?;
        b.gui_close()?;
        pump(
            &mut [&mut a, &mut b],
            &[&pa, &pb],
            Duration::from_millis(100),
        );
        drop(a);
        drop(b);
    }
    Ok(())
}

#[test]
fn clap_editor_open_close_cycles() {
    if prism_tests::isolate::in_parent("clap_editor_open_close_cycles") {
        return;
    }
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(paths) = bundles::require_bundles(BundleKind::Clap, "clap_editor_open_close_cycles")
    else {
        return;
    };
    let mut xvfb = Xvfb::start().expect("starting Xvfb");
    // The plugin's editor connects to $DISPLAY; point this process at our Xvfb. Tests in this
    // file are serialised by SERIAL, and nothing else in this binary reads DISPLAY.
    std::env::set_var("DISPLAY", xvfb.display());
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(e) = clap_editor_cycles(&xvfb, path) {
            let server = xvfb
                .check_alive()
                .err()
                .map(|e| format!("\n{e:#}"))
                .unwrap_or_default();
            failures.push(format!("{}: {e:#}{server}", path.display()));
        }
    }
    std::env::remove_var("DISPLAY");
    assert!(
        failures.is_empty(),
        "CLAP editor failures:\n{}",
        failures.join("\n\n")
    );
}

/// nice-plug's CLAP state: an 8-byte little-endian length, then the JSON.
fn state_json(state: &[u8]) -> Result<String> {
    ensure!(state.len() >= 8, "a state of {} bytes", state.len());
    let (len, json) = state.split_at(8);
    let len = u64::from_le_bytes(len.try_into()?) as usize;
    ensure!(
        len == json.len(),
        "state length {len}, {} bytes follow",
        json.len()
    );
    Ok(String::from_utf8(json.to_vec())?)
}

/// The CLAP state of `json` (see [`state_json`]).
fn json_state(json: &str) -> Vec<u8> {
    let mut state = (json.len() as u64).to_le_bytes().to_vec();
    state.extend_from_slice(json.as_bytes());
    state
}

/// Every editor opens at the size its session saved: the state carries `editor_size`, a
/// state with another size opens the editor at that size (and saves it again), and an
/// unusable saved size keeps the default.
fn clap_editor_size_is_restored(xvfb: &Xvfb, bundle_path: &Path) -> Result<()> {
    let bundle = load_with_plugins(bundle_path)?;
    for d in bundle.descriptors()? {
        let mut fresh = bundle.instantiate(&d.id)?;
        if fresh.gui().is_none() {
            continue;
        }
        let parent =
            X11ParentWindow::create(&xvfb.display(), (0, 0), (1400, 1000), "Prism test host")?;
        // SAFETY: `parent` is a live window on the plugin's display and outlives the editor.
        let default = unsafe { fresh.gui_open_embedded_x11(u64::from(parent.id())) }?
            .context("the editor reports no size")?;
        fresh.gui_close()?;
        let state = state_json(&fresh.save_state()?)?;
        let saved = format!(
            "\"editor_size\":\"[{:.1},{:.1}]\"",
            default.width as f64, default.height as f64
        );
        ensure!(
            state.contains(&saved),
            "{}: the state does not save the editor size {saved}: {state}",
            d.id
        );
        for (text, want) in [
            ("[1111.0,777.0]", (1111, 777)),
            ("[0.0,-5.0]", (default.width, default.height)),
        ] {
            let restored = state.replace(&saved, &format!("\"editor_size\":\"{text}\""));
            let mut p = bundle.instantiate(&d.id)?;
            p.load_state(&json_state(&restored))?;
            // SAFETY: as above.
            let size = unsafe { p.gui_open_embedded_x11(u64::from(parent.id())) }?
                .context("the editor reports no size")?;
            p.gui_close()?;
            ensure!(
                (size.width, size.height) == want,
                "{}: saved size {text}: the editor opened at {}x{}, expected {}x{}",
                d.id,
                size.width,
                size.height,
                want.0,
                want.1
            );
            let again = state_json(&p.save_state()?)?;
            let expect = format!(
                "\"editor_size\":\"[{:.1},{:.1}]\"",
                want.0 as f64, want.1 as f64
            );
            ensure!(
                again.contains(&expect),
                "{}: after restoring {text} the state saves {again}",
                d.id
            );
        }
    }
    Ok(())
}

#[test]
fn clap_editor_opens_at_the_size_the_session_saved() {
    const TEST: &str = "clap_editor_opens_at_the_size_the_session_saved";
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(paths) = bundles::require_bundles(BundleKind::Clap, TEST) else {
        return;
    };
    let xvfb = Xvfb::start().expect("starting Xvfb");
    std::env::set_var("DISPLAY", xvfb.display());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            clap_editor_size_is_restored(&xvfb, path)
                .err()
                .map(|e| format!("{}: {e:#}", path.display()))
        })
        .collect();
    std::env::remove_var("DISPLAY");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A host may close the display (or unload the plugin) as soon as `gui.destroy()` returns: the
/// editor's window thread must be gone by then. baseview alone returns while the thread is
/// still tearing down its window and X connection (vendor/nice-plug-egui/PRISM-PATCHES.md, 2),
/// and Xlib then ends the process ("X connection broken", exit 1 or a crash).
#[test]
fn clap_editor_close_returns_after_its_window_thread_has_let_go_of_the_display() {
    const TEST: &str =
        "clap_editor_close_returns_after_its_window_thread_has_let_go_of_the_display";
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(paths) = bundles::require_bundles(BundleKind::Clap, TEST) else {
        return;
    };
    for path in &paths {
        let bundle = load_with_plugins(path).expect("loading the bundle");
        for d in bundle.descriptors().expect("descriptors") {
            let mut p = bundle.instantiate(&d.id).expect("instantiating");
            if p.gui().is_none() {
                continue;
            }
            for cycle in 0..3 {
                let xvfb = Xvfb::start().expect("starting Xvfb");
                std::env::set_var("DISPLAY", xvfb.display());
                let parent = X11ParentWindow::create(&xvfb.display(), (0, 0), (1200, 900), "host")
                    .expect("parent window");
                // SAFETY: `parent` is a live window on the plugin's display; the editor is
                // closed before it is dropped.
                unsafe { p.gui_open_embedded_x11(u64::from(parent.id())) }
                    .unwrap_or_else(|e| panic!("{} cycle {cycle}: opening: {e:#}", d.id));
                pump(
                    &mut [&mut p],
                    &[&parent],
                    Duration::from_millis(150 + 100 * cycle),
                );
                p.gui_close().expect("closing the editor");
                // The host closes its display at once (the server with it).
                drop(parent);
                drop(xvfb);
                std::env::remove_var("DISPLAY");
                // A window thread still using the display would end the process here.
                std::thread::sleep(Duration::from_millis(400));
                p.pump_main_thread();
            }
            eprintln!(
                "{}: three closes, display gone at once: the process lives",
                d.id
            );
        }
    }
}
