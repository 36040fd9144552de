//! CLAP host tests: every plugin in every `*.clap` of the bundle directory is loaded with
//! `clack-host` and driven the way hosts and validators drive it (see
//! `shared/CONFORMANCE.md`). The generic audio assertion (see `check_passthrough`): an
//! analyser (latency 0) passes audio through **bit-exactly**; a plugin with latency `L`
//! (Prism Split at unity gains) outputs its input delayed by exactly `L`, within 1e-4; in
//! place and out of place.
//!
//! The `chroma_*` tests are specific to Prism Chroma (`com.prism-audio.chroma`).
//!
//! Bundles: `PRISM_BUNDLE_DIR` or `<workspace>/target/bundled` (see `prism_tests::bundles`);
//! `PRISM_SKIP_HOST_TESTS=1` skips.

use anyhow::{anyhow, bail, ensure, Context, Result};
use prism_tests::bundles::{self, CHROMA_CLAP_ID};
use prism_tests::clap::{
    first_bit_difference, first_non_finite, first_subnormal, ChunkedReader, ChunkedWriter,
    ClapBundle, ClapPlugin, Descriptor, InEvent, OutEvent, Param, Placement, ProcessOptions,
};
use prism_tests::harness::{chroma_bundle, for_each_clap_plugin};
use prism_tests::signal::{self, block_sizes, XorShift};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PLACEMENTS: [Placement; 2] = [Placement::OutOfPlace, Placement::InPlace];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Distinct content per channel (so swapped or mixed channels are caught).
fn test_signals(
    sample_rate: f64,
    len: usize,
    channels: usize,
) -> Vec<(&'static str, Vec<Vec<f32>>)> {
    let sine = (0..channels)
        .map(|c| signal::sine(440.0 * (1.0 + c as f64 * 0.5), sample_rate, len, 0.5))
        .collect();
    let noise = (0..channels)
        .map(|c| signal::white_noise(0x5EED_0000 + c as u32, len, 0.9))
        .collect();
    let silence = vec![vec![0.0f32; len]; channels];
    vec![("sine", sine), ("white noise", noise), ("silence", silence)]
}

/// The generic audio rule: a plugin with latency 0 (the analysers) passes its input through
/// bit for bit; a plugin with latency `L` (Prism Split, whose remix at its default unity
/// gains is the sum of its stems) outputs its input delayed by exactly `L` samples, within
/// [`DELAYED_TOLERANCE`] (the STFT's reconstruction error). Within one call only the samples
/// whose input lies in the same call are compared; all output must be finite where the
/// input is, and for a delaying plugin always (its input policy: non-finite samples are
/// silence, finite ones are clamped to ±1000).
/// What a pass-through returns for `input`: every sample unchanged, except subnormals,
/// which become zeros of the same sign (README: "bit-exact except that subnormals become
/// zero").
fn passthrough_of(input: &[f32]) -> Vec<f32> {
    input
        .iter()
        .map(|x| {
            if x.is_subnormal() {
                0.0f32.copysign(*x)
            } else {
                *x
            }
        })
        .collect()
}

fn check_passthrough(
    what: &str,
    input: &[Vec<f32>],
    output: &[Vec<f32>],
    latency: usize,
) -> Result<()> {
    ensure!(
        input.len() == output.len(),
        "{what}: {} input channels but {} output channels",
        input.len(),
        output.len()
    );
    for (c, (i, o)) in input.iter().zip(output).enumerate() {
        ensure!(
            i.len() == o.len(),
            "{what}: channel {c}: {} samples in, {} out",
            i.len(),
            o.len()
        );
        // No plugin may output a subnormal (hosts and clap-validator reject them), not even
        // one it was given.
        if let Some((n, y)) = first_subnormal(o) {
            bail!("{what}: channel {c}: subnormal output {y:e} at sample {n}");
        }
        if latency == 0 {
            // Bit-exact, except that subnormals become zeros of their sign.
            let expected = passthrough_of(i);
            if let Some((n, x, y)) = first_bit_difference(&expected, o) {
                bail!("{what}: channel {c} differs at sample {n}: input {x:e} ({:#010x}), output {y:e} ({:#010x})", x.to_bits(), y.to_bits());
            }
            if first_non_finite(i).is_none() {
                if let Some((n, y)) = first_non_finite(o) {
                    bail!("{what}: channel {c}: non-finite output {y} at sample {n}");
                }
            }
            continue;
        }
        if let Some((n, y)) = first_non_finite(o) {
            bail!("{what}: channel {c}: non-finite output {y} at sample {n}");
        }
        for n in latency..o.len() {
            let x = i[n - latency];
            if x.is_finite() && x.abs() <= 1000.0 {
                let err = (o[n] - x).abs();
                ensure!(
                    err <= DELAYED_TOLERANCE * x.abs().max(1.0),
                    "{what}: channel {c}: output {} at sample {n} but input {x} at {} (latency {latency})",
                    o[n],
                    n - latency
                );
            }
        }
    }
    Ok(())
}

/// See [`check_passthrough`].
const DELAYED_TOLERANCE: f32 = 1e-4;

/// The reported latency (0 if the plugin has no clap.latency).
fn lat(p: &mut ClapPlugin) -> usize {
    p.latency().unwrap_or(0) as usize
}

/// clap.latency must exist, and an analyser (no delay) must report 0 at any time.
fn check_latency(p: &mut ClapPlugin, when: &str, expected: Option<u32>) -> Result<u32> {
    match (p.latency(), expected) {
        (None, _) => bail!("{when}: plugin does not offer clap.latency"),
        (Some(l), Some(e)) if l != e => {
            bail!("{when}: clap.latency reports {l} samples, expected {e}")
        }
        (Some(l), _) => Ok(l),
    }
}

/// Validator-style block pattern: includes 1, odd and prime sizes, and the maximum.
fn block_pattern(max: usize) -> Vec<usize> {
    vec![1, 17, max, 64, 2027, 10, max, 256, 3, 1024, max / 2 + 1]
}

/// Process `signal` through `p` with `blocks`, then check passthrough.
/// [`run_and_check`] in place and out of place.
fn check_in_every_placement(
    p: &mut ClapPlugin,
    what: &str,
    signal: &[Vec<f32>],
    blocks: &[usize],
) -> Result<()> {
    for placement in PLACEMENTS {
        run_and_check(p, what, signal, blocks, placement)?;
    }
    Ok(())
}

fn run_and_check(
    p: &mut ClapPlugin,
    what: &str,
    signal: &[Vec<f32>],
    blocks: &[usize],
    placement: Placement,
) -> Result<Vec<OutEvent>> {
    let r = p
        .process_signal(signal, blocks, placement)
        .with_context(|| what.to_owned())?;
    let latency = lat(p);
    check_passthrough(
        &format!("{what} ({placement:?})"),
        signal,
        &r.audio,
        latency,
    )?;
    Ok(r.events)
}

fn noise(channels: usize, len: usize, seed: u32) -> Vec<Vec<f32>> {
    (0..channels)
        .map(|c| signal::white_noise(seed.wrapping_add(c as u32 * 7919), len, 0.8))
        .collect()
}

/// A non-default value in the parameter's range, for state tests.
fn other_value(p: &Param) -> f64 {
    if p.is_stepped {
        if (p.default - p.min).abs() > f64::EPSILON {
            p.min
        } else {
            p.max
        }
    } else {
        let v = p.min + 0.3 * (p.max - p.min);
        if (v - p.default).abs() < 1e-9 {
            p.min + 0.7 * (p.max - p.min)
        } else {
            v
        }
    }
}

fn param_tolerance(p: &Param) -> f64 {
    ((p.max - p.min).abs() * 1e-6).max(1e-9)
}

/// Tracks held notes from a stream of output events.
#[derive(Default, Debug)]
struct NoteTracker {
    held: BTreeSet<u8>,
    ons: Vec<(u32, u8, f64)>,
    offs: Vec<(u32, Option<u8>)>,
}

impl NoteTracker {
    fn feed(&mut self, events: &[OutEvent]) {
        for e in events {
            if let Some((key, vel)) = e.as_note_on() {
                self.held.insert(key);
                self.ons.push((e.time(), key, vel));
            } else if let Some(key) = e.as_note_off() {
                match key {
                    Some(k) => {
                        self.held.remove(&k);
                    }
                    None => self.held.clear(),
                }
                self.offs.push((e.time(), key));
            }
        }
    }

    fn held_pitch_classes(&self) -> BTreeSet<u8> {
        self.held.iter().map(|k| k % 12).collect()
    }
}

fn pcs(keys: impl IntoIterator<Item = u8>) -> BTreeSet<u8> {
    keys.into_iter().map(|k| k % 12).collect()
}

fn chroma(bundle: &ClapBundle) -> Result<ClapPlugin> {
    bundle.instantiate(CHROMA_CLAP_ID)
}

// ---------------------------------------------------------------------------------------------
// Scan / factory / descriptor
// ---------------------------------------------------------------------------------------------

#[test]
fn descriptors_are_complete() {
    if prism_tests::isolate::in_parent("descriptors_are_complete") {
        return;
    }
    for_each_clap_plugin("descriptors_are_complete", |bundle, d: &Descriptor| {
        let (major, _, _) = bundle.clap_version();
        ensure!(
            major >= 1,
            "entry declares CLAP version {:?}",
            bundle.clap_version()
        );
        ensure!(!d.id.trim().is_empty(), "empty id");
        ensure!(!d.name.trim().is_empty(), "empty name");
        ensure!(
            d.version.as_deref().is_some_and(|v| !v.trim().is_empty()),
            "missing/empty version: {:?}",
            d.version
        );
        ensure!(
            d.vendor.as_deref().is_some_and(|v| !v.trim().is_empty()),
            "missing/empty vendor: {:?}",
            d.vendor
        );
        ensure!(
            d.features
                .iter()
                .any(|f| f == "audio-effect" || f == "analyzer"),
            "features {:?} include neither \"audio-effect\" nor \"analyzer\"",
            d.features
        );
        let all = bundle.descriptors()?;
        let same_id = all.iter().filter(|o| o.id == d.id).count();
        ensure!(same_id == 1, "id {:?} listed {same_id} times", d.id);
        let stem = bundle
            .path()
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if stem == prism_tests::bundles::CHROMA_NAME && d.id == CHROMA_CLAP_ID {
            ensure!(d.name == "Prism Chroma", "Chroma's name is {:?}", d.name);
        }
        Ok(())
    });
    // The Chroma bundle must be there and list Chroma.
    let _ = chroma_bundle("descriptors_are_complete");
}

#[test]
fn dlopen_now_and_clap_entry_exported() {
    if prism_tests::isolate::in_parent("dlopen_now_and_clap_entry_exported") {
        return;
    }
    let Some(paths) = prism_tests::require_bundles(
        prism_tests::BundleKind::Clap,
        "dlopen_now_and_clap_entry_exported",
    ) else {
        return;
    };
    for path in paths {
        prism_tests::dl::check_dlopen_now(&path, &["clap_entry"]).unwrap();
    }
}

#[test]
fn unknown_plugin_id_is_rejected() {
    if prism_tests::isolate::in_parent("unknown_plugin_id_is_rejected") {
        return;
    }
    for_each_clap_plugin("unknown_plugin_id_is_rejected", |bundle, d| {
        for bogus in [
            "com.prism-audio.does-not-exist",
            "",
            &format!("{}x", d.id),
            &d.id[..d.id.len().saturating_sub(1)],
        ] {
            if bogus == d.id || bundle.descriptors()?.iter().any(|o| o.id == bogus) {
                continue;
            }
            if bundle.instantiate(bogus).is_ok() {
                bail!("create_plugin({bogus:?}) returned an instance instead of NULL");
            }
        }
        // Out-of-range factory index gives no descriptor.
        let factory = bundle
            .entry()
            .get_plugin_factory()
            .ok_or_else(|| anyhow!("no plugin factory"))?;
        ensure!(
            factory.plugin_descriptor(factory.plugin_count()).is_none(),
            "descriptor at index == count is not NULL"
        );
        ensure!(
            factory.plugin_descriptor(u32::MAX).is_none(),
            "descriptor at index u32::MAX is not NULL"
        );
        Ok(())
    });
}

#[test]
fn unknown_factory_ids_give_null() {
    if prism_tests::isolate::in_parent("unknown_factory_ids_give_null") {
        return;
    }
    // Straight through the C ABI, as a validator does: `clap_entry.get_factory` answers
    // NULL for factory ids the plugin does not implement (this child process is the only
    // user of the library, so init/deinit are ours).
    let Some(paths) =
        bundles::require_bundles(bundles::BundleKind::Clap, "unknown_factory_ids_give_null")
    else {
        return;
    };
    for path in paths {
        use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: a CLAP bundle; its constructors are nice-plug's.
        let lib = unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_LOCAL) }.unwrap();
        // SAFETY: `clap_entry` is a `clap_plugin_entry` by the CLAP ABI.
        let entry: Symbol<*const clap_sys::entry::clap_plugin_entry> =
            unsafe { lib.get(b"clap_entry\0") }.unwrap();
        let entry = unsafe { &**entry };
        let c_path = std::ffi::CString::new(path.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: the entry's functions, called in the order the ABI prescribes.
        unsafe {
            assert!(
                (entry.init.unwrap())(c_path.as_ptr()),
                "{}: init failed",
                path.display()
            );
            let get = entry.get_factory.unwrap();
            assert!(
                !get(clap_sys::factory::plugin_factory::CLAP_PLUGIN_FACTORY_ID.as_ptr()).is_null(),
                "{}: no plugin factory",
                path.display()
            );
            for bogus in [
                c"com.prism-audio.no-such-factory",
                c"",
                c"clap.plugin-factory.draft0",
                c"clap.plugin-factory ",
            ] {
                assert!(
                    get(bogus.as_ptr()).is_null(),
                    "{}: get_factory({bogus:?}) is not NULL",
                    path.display()
                );
            }
            (entry.deinit.unwrap())();
        }
        eprintln!("{}: unknown factory ids give NULL", path.display());
    }
}

#[test]
fn create_and_init_are_fast() {
    if prism_tests::isolate::in_parent("create_and_init_are_fast") {
        return;
    }
    // clap-validator's scan-time budget: entry + factory + create + init under 100 ms.
    let budget = Duration::from_millis(
        std::env::var("PRISM_SCAN_BUDGET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    );
    for_each_clap_plugin("create_and_init_are_fast", |bundle, d| {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let p = bundle.instantiate(&d.id)?;
            best = best.min(t.elapsed());
            drop(p);
        }
        ensure!(
            best <= budget,
            "create+init took {best:?} (best of 3), budget {budget:?} (PRISM_SCAN_BUDGET_MS)"
        );
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Ports, latency, params
// ---------------------------------------------------------------------------------------------

#[test]
fn ports_and_latency() {
    if prism_tests::isolate::in_parent("ports_and_latency") {
        return;
    }
    for_each_clap_plugin("ports_and_latency", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let ins = p.audio_ports(true);
        let outs = p.audio_ports(false);
        ensure!(
            !outs.is_empty(),
            "no audio output port (hosts refuse such plugins, nih-plug #50)"
        );
        ensure!(
            !ins.is_empty(),
            "no audio input port (an analyser needs one)"
        );
        for (kind, ports) in [("input", &ins), ("output", &outs)] {
            let ids: BTreeSet<u32> = ports.iter().map(|p| p.id).collect();
            ensure!(
                ids.len() == ports.len(),
                "duplicate {kind} port ids: {ports:?}"
            );
            ensure!(
                ports.iter().filter(|p| p.is_main).count() <= 1,
                "several main {kind} ports: {ports:?}"
            );
            ensure!(
                ports.iter().all(|p| p.channel_count > 0),
                "{kind} port with 0 channels: {ports:?}"
            );
        }
        ensure!(
            p.main_input_channels() == p.main_output_channels(),
            "main input has {} channels, main output {}",
            p.main_input_channels(),
            p.main_output_channels()
        );
        let analyser = d.features.iter().any(|f| f == "analyzer");
        check_latency(&mut p, "inactive", analyser.then_some(0))?;
        p.activate(48_000.0, 1, 512)?;
        let active = check_latency(&mut p, "active at 48 kHz", analyser.then_some(0))?;
        let changed_at_activation = p.with_main_thread(|m| m.latency_changed.get());
        let n = p.main_input_channels();
        run_and_check(
            &mut p,
            "noise",
            &noise(n, 4096, 1),
            &[512; 8],
            Placement::OutOfPlace,
        )?;
        check_latency(&mut p, "after processing", Some(active))?;
        let changed = p.with_main_thread(|m| m.latency_changed.get()) - changed_at_activation;
        ensure!(
            changed == 0,
            "plugin announced {changed} latency change(s) while processing"
        );
        if analyser {
            ensure!(
                changed_at_activation == 0,
                "analyser announced a latency change"
            );
        }
        Ok(())
    });
}

#[test]
fn params_are_consistent() {
    if prism_tests::isolate::in_parent("params_are_consistent") {
        return;
    }
    for_each_clap_plugin("params_are_consistent", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let params = p.params();
        let ids: BTreeSet<u32> = params.iter().map(|x| x.id).collect();
        ensure!(ids.len() == params.len(), "duplicate parameter ids");
        for par in &params {
            let name = &par.name;
            ensure!(
                !name.trim().is_empty(),
                "parameter {} has an empty name",
                par.id
            );
            ensure!(
                par.min.is_finite() && par.max.is_finite() && par.default.is_finite(),
                "{name}: non-finite range {par:?}"
            );
            ensure!(
                par.min <= par.default && par.default <= par.max && par.min < par.max,
                "{name}: default outside range {par:?}"
            );
            let value = p
                .param_value(par.id)
                .ok_or_else(|| anyhow!("{name}: get_value failed"))?;
            ensure!(
                (value - par.default).abs() <= param_tolerance(par),
                "{name}: initial value {value} != declared default {}",
                par.default
            );
            // value -> text -> value -> text is stable.
            let mid = if par.is_stepped {
                ((par.min + par.max) / 2.0).round()
            } else {
                (par.min + par.max) / 2.0
            };
            for v in [par.min, par.default, mid, par.max] {
                let text = p
                    .param_value_to_text(par.id, v)
                    .ok_or_else(|| anyhow!("{name}: value_to_text({v}) failed"))?;
                ensure!(
                    !text.trim().is_empty(),
                    "{name}: value_to_text({v}) is empty"
                );
                let back = p
                    .param_text_to_value(par.id, &text)
                    .ok_or_else(|| anyhow!("{name}: text_to_value({text:?}) failed"))?;
                ensure!(
                    back >= par.min - param_tolerance(par)
                        && back <= par.max + param_tolerance(par),
                    "{name}: text_to_value({text:?}) = {back} outside range"
                );
                let text2 = p
                    .param_value_to_text(par.id, back)
                    .ok_or_else(|| anyhow!("{name}: value_to_text({back}) failed"))?;
                ensure!(
                    text == text2,
                    "{name}: text round trip not stable: {v} -> {text:?} -> {back} -> {text2:?}"
                );
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Processing
// ---------------------------------------------------------------------------------------------

#[test]
fn passthrough_is_bit_exact_at_common_rates_and_block_sizes() {
    if prism_tests::isolate::in_parent("passthrough_is_bit_exact_at_common_rates_and_block_sizes") {
        return;
    }
    for_each_clap_plugin("passthrough_is_bit_exact", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        for sample_rate in [44_100.0, 48_000.0, 96_000.0] {
            for max in [64usize, 512, 4096] {
                let ctx = format!("{sample_rate} Hz, max block {max}");
                p.activate(sample_rate, 1, max as u32)
                    .with_context(|| ctx.clone())?;
                if d.features.iter().any(|f| f == "analyzer") {
                    check_latency(&mut p, &ctx, Some(0))?;
                }
                let channels = p.main_input_channels();
                let len = (sample_rate as usize) / 4;
                let blocks = block_sizes(len, &block_pattern(max), max);
                for (name, sig) in test_signals(sample_rate, len, channels) {
                    check_in_every_placement(&mut p, &format!("{ctx}, {name}"), &sig, &blocks)?;
                }
                p.deactivate();
            }
        }
        Ok(())
    });
}

#[test]
fn passthrough_at_validator_rates() {
    if prism_tests::isolate::in_parent("passthrough_at_validator_rates") {
        return;
    }
    // clap-validator / pluginval sample rates, including odd ones.
    let rates = [
        8_000.0,
        11_025.0,
        22_050.0,
        88_200.0,
        192_000.0,
        384_000.0,
        1_234.567_8,
        45_678.901,
    ];
    for_each_clap_plugin("passthrough_at_validator_rates", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        for sr in rates {
            p.activate(sr, 1, 1024)
                .with_context(|| format!("activate at {sr} Hz"))?;
            let ch = p.main_input_channels();
            let len = (sr as usize / 8).clamp(2048, 24_000);
            let blocks = block_sizes(len, &block_pattern(1024), 1024);
            check_in_every_placement(
                &mut p,
                &format!("{sr} Hz noise"),
                &noise(ch, len, 3),
                &blocks,
            )?;
            p.deactivate();
        }
        Ok(())
    });
}

#[test]
fn passthrough_with_validator_block_sizes() {
    if prism_tests::isolate::in_parent("passthrough_with_validator_block_sizes") {
        return;
    }
    // Max block sizes from the validators, random sizes per call, and zero-length calls.
    for_each_clap_plugin("passthrough_with_validator_block_sizes", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let mut rng = XorShift::new(0xB10C);
        for max in [1usize, 10, 17, 1536, 2027, 16_384] {
            p.activate(48_000.0, 1, max as u32)
                .with_context(|| format!("activate with max block {max}"))?;
            let ch = p.main_input_channels();
            let len = (max * 6).clamp(4000, 40_000);
            let mut blocks = Vec::new();
            let mut left = len;
            while left > 0 {
                let n = rng.range(1, max).min(left);
                blocks.push(n);
                left -= n;
            }
            for placement in PLACEMENTS {
                run_and_check(
                    &mut p,
                    &format!("max {max}, random blocks"),
                    &noise(ch, len, max as u32),
                    &blocks,
                    placement,
                )?;
                // Zero-length call (VST3 parameter flush style).
                let r = p
                    .process(
                        &vec![Vec::new(); ch],
                        &ProcessOptions {
                            placement,
                            events: Vec::new(),
                        },
                    )
                    .with_context(|| format!("max {max}: zero-length process"))?;
                ensure!(
                    r.audio.iter().all(Vec::is_empty),
                    "zero-length call produced audio"
                );
            }
            p.deactivate();
        }
        Ok(())
    });
}

#[test]
fn audio_port_configs_pass_through() {
    if prism_tests::isolate::in_parent("audio_port_configs_pass_through") {
        return;
    }
    for_each_clap_plugin("audio_port_configs_pass_through", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let configs = p.audio_port_configs();
        if d.id == CHROMA_CLAP_ID {
            ensure!(
                configs
                    .iter()
                    .any(|c| c.main_input_channels == 2 && c.main_output_channels == 2),
                "Chroma has no stereo configuration: {configs:?}"
            );
            ensure!(
                configs
                    .iter()
                    .any(|c| c.main_input_channels == 1 && c.main_output_channels == 1),
                "Chroma has no mono configuration: {configs:?}"
            );
        }
        for c in &configs {
            p.select_audio_port_config(c.id)
                .with_context(|| format!("selecting {c:?}"))?;
            let ins = p.main_input_channels();
            ensure!(
                ins == c.main_input_channels as usize,
                "config {:?}: audio-ports reports {ins} main input channels after select",
                c.name
            );
            p.activate(44_100.0, 1, 512)?;
            let blocks = block_sizes(8192, &block_pattern(512), 512);
            check_in_every_placement(
                &mut p,
                &format!("config {:?}", c.name),
                &noise(ins, 8192, c.id),
                &blocks,
            )?;
            p.deactivate();
        }
        Ok(())
    });
}

#[test]
fn parameter_automation_does_not_touch_audio() {
    if prism_tests::isolate::in_parent("parameter_automation_does_not_touch_audio") {
        return;
    }
    // Sample-accurate changes every 1/10/100/1000 samples; audio must still pass unchanged.
    for_each_clap_plugin("parameter_automation_does_not_touch_audio", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let params: Vec<Param> = p.params().into_iter().filter(|x| !x.is_readonly).collect();
        p.activate(48_000.0, 1, 1024)?;
        let ch = p.main_input_channels();
        let mut rng = XorShift::new(77);
        for every in [1u32, 10, 100, 1000] {
            let len = 24_000;
            let sig = noise(ch, len, every);
            let mut out: Vec<Vec<f32>> = vec![Vec::new(); ch];
            let mut pos = 0;
            while pos < len {
                let n = 1024.min(len - pos);
                let mut events = Vec::new();
                if !params.is_empty() {
                    let mut t = (every - (pos as u32 % every)) % every;
                    while (t as usize) < n {
                        let par = &params[rng.range(0, params.len() - 1)];
                        let u = f64::from(rng.next_u32()) / f64::from(u32::MAX);
                        let mut v = par.min + u * (par.max - par.min);
                        if par.is_stepped {
                            v = v.round().clamp(par.min, par.max);
                        }
                        events.push(InEvent::ParamValue {
                            time: t,
                            id: par.id,
                            value: v,
                        });
                        t += every;
                    }
                }
                let block: Vec<Vec<f32>> = sig.iter().map(|c| c[pos..pos + n].to_vec()).collect();
                let r = p.process(
                    &block,
                    &ProcessOptions {
                        placement: Placement::OutOfPlace,
                        events,
                    },
                )?;
                for (o, a) in out.iter_mut().zip(r.audio) {
                    o.extend(a);
                }
                pos += n;
            }
            // Parameters of an analyser never touch the audio; a delaying plugin's do (gains,
            // mutes): there only finite output is required.
            let latency = lat(&mut p);
            if latency == 0 {
                check_passthrough(
                    &format!("param change every {every} samples"),
                    &sig,
                    &out,
                    0,
                )?;
            } else if let Some((c, y)) = out
                .iter()
                .enumerate()
                .find_map(|(c, o)| first_non_finite(o).map(|(_, y)| (c, y)))
            {
                bail!("param change every {every} samples: non-finite output {y} on channel {c}");
            }
        }
        Ok(())
    });
}

#[test]
fn hostile_parameter_values_keep_the_output_finite() {
    if prism_tests::isolate::in_parent("hostile_parameter_values_keep_the_output_finite") {
        return;
    }
    // What a buggy host or a corrupt automation lane sends: the bounds, values beyond them,
    // huge values, NaN and infinities, every parameter, mid-block. The plugin clamps or
    // ignores them: output stays finite and never subnormal, and analysers still pass audio.
    for_each_clap_plugin(
        "hostile_parameter_values_keep_the_output_finite",
        |bundle, d| {
            let mut p = bundle.instantiate(&d.id)?;
            let params: Vec<Param> = p.params().into_iter().filter(|x| !x.is_readonly).collect();
            p.activate(44_100.0, 1, 512)?;
            let ch = p.main_input_channels();
            let latency = lat(&mut p);
            let mut rng = XorShift::new(4242);
            let len = 44_100;
            let sig = noise(ch, len, 5);
            let mut out: Vec<Vec<f32>> = vec![Vec::new(); ch];
            let mut pos = 0;
            let mut sent = 0usize;
            while pos < len {
                let n = rng.range(1, 512).min(len - pos);
                let mut events = Vec::new();
                for par in &params {
                    let span = par.max - par.min;
                    let hostile = [
                        par.min,
                        par.max,
                        par.min - span,
                        par.max + span,
                        -1e30,
                        1e30,
                        f64::NAN,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        par.default,
                    ];
                    events.push(InEvent::ParamValue {
                        time: rng.range(0, n - 1) as u32,
                        id: par.id,
                        value: hostile[rng.range(0, hostile.len() - 1)],
                    });
                }
                sent += events.len();
                events.sort_by_key(|e| {
                    let InEvent::ParamValue { time, .. } = e;
                    *time
                });
                let block: Vec<Vec<f32>> = sig.iter().map(|c| c[pos..pos + n].to_vec()).collect();
                let r = p.process(
                    &block,
                    &ProcessOptions {
                        placement: Placement::OutOfPlace,
                        events,
                    },
                )?;
                for (o, a) in out.iter_mut().zip(r.audio) {
                    o.extend(a);
                }
                pos += n;
            }
            for (c, o) in out.iter().enumerate() {
                if let Some((i, y)) = first_non_finite(o) {
                    bail!("non-finite output {y} on channel {c} at {i} after hostile parameter values");
                }
                if let Some((i, y)) = first_subnormal(o) {
                    bail!("subnormal output {y:e} on channel {c} at {i}");
                }
            }
            if latency == 0 {
                check_passthrough("hostile parameter values", &sig, &out, 0)?;
            }
            // Every parameter still reads a finite value within its bounds.
            for par in &params {
                let v = p.param_value(par.id).context("param value")?;
                ensure!(
                    v.is_finite() && v >= par.min - 1e-9 && v <= par.max + 1e-9,
                    "{:?} reads {v} after hostile values (bounds {}..{})",
                    par.name,
                    par.min,
                    par.max
                );
            }
            eprintln!("{}: {sent} hostile parameter events", d.name);
            Ok(())
        },
    );
}

#[test]
fn denormal_input_costs_at_most_twice_normal_input() {
    if prism_tests::isolate::in_parent("denormal_input_costs_at_most_twice_normal_input") {
        return;
    }
    // Subnormal input (a fade's tail, a gate's release) can make x87/SSE arithmetic 10-100x
    // slower unless the plugin flushes denormals. The same plugin, the same noise, scaled to
    // normal level and to the subnormal range; the best of five runs each, interleaved, so
    // that other load on the machine affects both alike.
    for_each_clap_plugin(
        "denormal_input_costs_at_most_twice_normal_input",
        |bundle, d| {
            let mut p = bundle.instantiate(&d.id)?;
            p.activate(48_000.0, 1, 512)?;
            let ch = p.main_input_channels();
            // No plugin outputs a subnormal; the analysers hand the host's audio back
            // bit-exact otherwise (README, input policy).
            let processes_audio = lat(&mut p) > 0;
            let len = 48_000;
            let normal = noise(ch, len, 21);
            let tiny: Vec<Vec<f32>> = normal
                .iter()
                .map(|c| c.iter().map(|x| x * 1e-38).collect())
                .collect();
            ensure!(tiny[0].iter().filter(|x| x.is_subnormal()).count() > len / 2);
            let mut run = |sig: &[Vec<f32>]| -> Result<Duration> {
                let t0 = Instant::now();
                let mut pos = 0;
                while pos < len {
                    let n = 512.min(len - pos);
                    let block: Vec<Vec<f32>> =
                        sig.iter().map(|c| c[pos..pos + n].to_vec()).collect();
                    let r = p.process(
                        &block,
                        &ProcessOptions {
                            placement: Placement::InPlace,
                            events: Vec::new(),
                        },
                    )?;
                    for (o, i) in r.audio.iter().zip(&block) {
                        if let Some((k, y)) = first_subnormal(o) {
                            bail!("subnormal output {y:e} at {k}");
                        }
                        if !processes_audio {
                            if let Some((k, a, b)) = first_bit_difference(&passthrough_of(i), o) {
                                bail!("pass-through changed sample {k}: {a:e} -> {b:e}");
                            }
                        }
                    }
                    pos += n;
                }
                Ok(t0.elapsed())
            };
            run(&normal)?; // warm-up
            let (mut best_normal, mut best_tiny) = (Duration::MAX, Duration::MAX);
            for _ in 0..5 {
                best_normal = best_normal.min(run(&normal)?);
                best_tiny = best_tiny.min(run(&tiny)?);
            }
            let ratio = best_tiny.as_secs_f64() / best_normal.as_secs_f64();
            eprintln!(
                "{}: 1 s of input, normal {best_normal:?}, subnormal {best_tiny:?}: {ratio:.2}x",
                d.name
            );
            // The host side (buffer copies) is in both; 1 ms of slack for plugins that cost
            // next to nothing.
            ensure!(
                best_tiny <= best_normal * 2 + Duration::from_millis(1),
                "subnormal input costs {ratio:.2}x normal input ({best_tiny:?} vs {best_normal:?})"
            );
            Ok(())
        },
    );
}

#[test]
fn non_finite_input_passes_through_and_recovers() {
    if prism_tests::isolate::in_parent("non_finite_input_passes_through_and_recovers") {
        return;
    }
    // NaN / Inf / ±f32::MAX in one sample, one block, one channel; then clean audio must come
    // out bit-exact and finite immediately (no stuck state).
    for_each_clap_plugin(
        "non_finite_input_passes_through_and_recovers",
        |bundle, d| {
            let mut p = bundle.instantiate(&d.id)?;
            p.activate(48_000.0, 1, 512)?;
            let ch = p.main_input_channels();
            let bad_values = [
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MAX,
                -f32::MAX,
                f32::MIN_POSITIVE / 8.0,
            ];
            for (i, &bad) in bad_values.iter().enumerate() {
                for shape in ["one sample", "whole block", "one channel"] {
                    let mut block = noise(ch, 512, i as u32 + 11);
                    match shape {
                        "one sample" => block[0][100] = bad,
                        "whole block" => block.iter_mut().for_each(|c| c.fill(bad)),
                        _ => block[ch - 1].fill(bad),
                    }
                    let r = p
                        .process(&block, &ProcessOptions::default())
                        .with_context(|| format!("{bad} in {shape}"))?;
                    // A pure pass-through copies even non-finite samples unchanged.
                    let latency = lat(&mut p);
                    check_passthrough(&format!("{bad:e} in {shape}"), &block, &r.audio, latency)?;
                    let latency = lat(&mut p);
                    if latency > 0 {
                        // A delaying plugin still holds the bad block in its STFT window:
                        // let one window pass (finite output required) before comparing.
                        let settle = noise(ch, 2048, 98);
                        let r = p.process_signal(&settle, &[512; 4], Placement::OutOfPlace)?;
                        check_passthrough("settling", &settle, &r.audio, usize::MAX)?;
                    }
                    let clean = noise(ch, 2048 + latency, 99);
                    run_and_check(
                        &mut p,
                        &format!("clean audio after {bad:e} in {shape}"),
                        &clean,
                        &block_sizes(clean[0].len(), &[512], 512),
                        Placement::OutOfPlace,
                    )?;
                }
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn lifecycle_reactivate_reset_and_restart() {
    if prism_tests::isolate::in_parent("lifecycle_reactivate_reset_and_restart") {
        return;
    }
    for_each_clap_plugin("lifecycle_reactivate_reset_and_restart", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let configs = [
            (44_100.0, 512u32),
            (96_000.0, 64),
            (48_000.0, 4096),
            (22_050.0, 17),
            (44_100.0, 512),
        ];
        for (round, &(sr, max)) in configs.iter().enumerate() {
            let ctx = format!("round {round}: {sr} Hz, max {max}");
            p.activate(sr, 1, max).with_context(|| ctx.clone())?;
            if d.features.iter().any(|f| f == "analyzer") {
                check_latency(&mut p, &ctx, Some(0))?;
            }
            let ch = p.main_input_channels();
            let blocks = block_sizes(8192, &block_pattern(max as usize), max as usize);
            run_and_check(
                &mut p,
                &ctx,
                &noise(ch, 8192, round as u32),
                &blocks,
                Placement::OutOfPlace,
            )?;
            p.reset()?;
            run_and_check(
                &mut p,
                &format!("{ctx}, after reset"),
                &noise(ch, 4096, 5),
                &block_sizes(4096, &[max as usize], max as usize),
                Placement::InPlace,
            )?;
            p.stop_processing()?;
            p.start_processing()?;
            run_and_check(
                &mut p,
                &format!("{ctx}, after stop/start"),
                &noise(ch, 4096, 6),
                &block_sizes(4096, &[max as usize], max as usize),
                Placement::OutOfPlace,
            )?;
            // reset() around every block (nih-plug #246).
            let sig = noise(ch, 4096, 7);
            let mut pos = 0;
            for n in block_sizes(4096, &[max as usize], max as usize) {
                p.reset()?;
                let block: Vec<Vec<f32>> = sig.iter().map(|c| c[pos..pos + n].to_vec()).collect();
                let r = p.process(&block, &ProcessOptions::default())?;
                let latency = lat(&mut p);
                check_passthrough(
                    &format!("{ctx}, reset before block at {pos}"),
                    &block,
                    &r.audio,
                    latency,
                )?;
                pos += n;
            }
            p.deactivate();
        }
        Ok(())
    });
}

/// Linux: a pthread key whose destructor runs, at a thread's exit, after the thread's
/// `__cxa_thread_atexit` destructors and before the destructors of keys created later (glibc
/// runs key destructors in key order). It lets `child_unload_scenario` make the host unload
/// the plugin at exactly that point, deterministically reproducing the race "a thread exits
/// while another thread unloads the plugin".
#[cfg(target_os = "linux")]
mod exit_hook {
    use std::ffi::c_void;
    use std::sync::mpsc::{Receiver, Sender};
    use std::time::Duration;

    extern "C" {
        fn pthread_key_create(
            key: *mut u32,
            destructor: Option<unsafe extern "C" fn(*mut c_void)>,
        ) -> i32;
        fn pthread_setspecific(key: u32, value: *const c_void) -> i32;
    }

    type Hook = (Sender<()>, Receiver<()>);

    unsafe extern "C" fn on_thread_exit(value: *mut c_void) {
        // SAFETY: `value` is the `Box<Hook>` leaked by `arm` for this thread.
        let hook = unsafe { Box::from_raw(value.cast::<Hook>()) };
        let _ = hook.0.send(());
        let _ = hook.1.recv_timeout(Duration::from_secs(10));
    }

    /// Creates the key. Call before the plugin is first loaded, so the key sorts first.
    pub fn create_key() -> u32 {
        let mut key = 0u32;
        // SAFETY: plain libc call with a valid out pointer and destructor.
        let rc = unsafe { pthread_key_create(&mut key, Some(on_thread_exit)) };
        assert_eq!(rc, 0, "pthread_key_create");
        key
    }

    /// Arms the hook on the current thread: at exit it sends on `exiting`, then waits for
    /// `proceed`.
    pub fn arm(key: u32, exiting: Sender<()>, proceed: Receiver<()>) {
        let hook: Box<Hook> = Box::new((exiting, proceed));
        // SAFETY: the pointer stays valid until the destructor reclaims it.
        let rc = unsafe { pthread_setspecific(key, Box::into_raw(hook).cast::<c_void>()) };
        assert_eq!(rc, 0, "pthread_setspecific");
    }
}

/// Runs in a child process (see `plugin_unload_then_thread_exit`); a no-op otherwise.
#[test]
#[ignore = "helper: run in a child process by plugin_unload_then_thread_exit"]
fn child_unload_scenario() {
    let (Ok(path), Ok(id)) = (
        std::env::var("PRISM_UNLOAD_CHILD_BUNDLE"),
        std::env::var("PRISM_UNLOAD_CHILD_ID"),
    ) else {
        return;
    };
    #[cfg(target_os = "linux")]
    let key = exit_hook::create_key();

    // The host holds the library; a worker thread (think: audio or scan thread) creates, uses
    // and destroys an instance, then exits. While it exits, the host drops its last reference
    // (clap_entry.deinit + dlclose) -- as a host does when it unloads a plugin while stopping
    // its audio engine.
    let keep = ClapBundle::load_unpinned(&path).expect("load");
    let (exiting_tx, exiting_rx) = std::sync::mpsc::channel::<()>();
    let (proceed_tx, proceed_rx) = std::sync::mpsc::channel::<()>();
    let worker = {
        let path = path.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            let bundle = ClapBundle::load_unpinned(&path).expect("load in worker");
            let mut p = bundle.instantiate(&id).expect("instantiate");
            p.activate(48_000.0, 1, 512).expect("activate");
            let ch = p.main_input_channels();
            p.process_signal(&noise(ch, 4096, 1), &[512; 8], Placement::OutOfPlace)
                .expect("process");
            p.save_state().expect("save");
            drop(p);
            drop(bundle);
            #[cfg(target_os = "linux")]
            exit_hook::arm(key, exiting_tx, proceed_rx);
            #[cfg(not(target_os = "linux"))]
            {
                let _ = exiting_tx.send(());
                let _ = proceed_rx;
            }
            eprintln!("child: worker thread exiting");
        })
    };
    exiting_rx.recv().expect("worker exiting");
    drop(keep);
    let mapped = std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.contains(path.as_str()))
        .unwrap_or(false);
    eprintln!("child: last reference dropped (deinit + dlclose); library still mapped: {mapped}");
    let _ = proceed_tx.send(());
    worker.join().expect("worker thread");
    // Loading again after the unload must work too.
    let bundle = ClapBundle::load_unpinned(&path).expect("reload");
    drop(bundle.instantiate(&id).expect("instantiate after reload"));
    eprintln!("PRISM_UNLOAD_CHILD_OK");
}

#[test]
fn plugin_unload_then_thread_exit() {
    // Hosts unload plugin libraries (after scanning, after the last instance is removed) and
    // their threads outlive that. Run in a child process so that a crash is reported here
    // instead of taking down the whole test binary.
    for_each_clap_plugin("plugin_unload_then_thread_exit", |bundle, d| {
        let exe = std::env::current_exe()?;
        let out = std::process::Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                "child_unload_scenario",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PRISM_UNLOAD_CHILD_BUNDLE", bundle.path())
            .env("PRISM_UNLOAD_CHILD_ID", &d.id)
            .stdin(std::process::Stdio::null())
            .output()
            .context("running the child test process")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        ensure!(
            out.status.success() && stderr.contains("PRISM_UNLOAD_CHILD_OK"),
            "the host process died ({}) after a thread that had called into the plugin exited \
             once the plugin library was unloaded (clap_entry.deinit + dlclose). Likely cause: \
             the plugin's own Rust std registered a pthread-key TLS destructor \
             (std::sys::thread_local::guard::key::enable::run) that glibc calls after the code \
             was unmapped. Possible fix: make the .clap non-unloadable, e.g. link it with \
             -Wl,-z,nodelete.\nchild stderr (tail):\n{}",
            out.status,
            tail.join("\n")
        );
        Ok(())
    });
}

#[test]
fn create_destroy_cycles() {
    if prism_tests::isolate::in_parent("create_destroy_cycles") {
        return;
    }
    for_each_clap_plugin("create_destroy_cycles", |bundle, d| {
        for i in 0..10u32 {
            let mut p = bundle.instantiate(&d.id)?;
            if i % 2 == 0 {
                p.activate(48_000.0, 1, 256)?;
                let ch = p.main_input_channels();
                run_and_check(
                    &mut p,
                    &format!("cycle {i}"),
                    &noise(ch, 1024, i),
                    &[256; 4],
                    Placement::OutOfPlace,
                )?;
            }
            // Odd cycles are destroyed without ever being activated; even ones while active
            // (the host wrapper deactivates first).
            drop(p);
        }
        Ok(())
    });
}

#[test]
fn two_instances_at_once() {
    if prism_tests::isolate::in_parent("two_instances_at_once") {
        return;
    }
    for_each_clap_plugin("two_instances_at_once", |bundle, d| {
        // Same thread, interleaved, different configurations.
        let mut a = bundle.instantiate(&d.id)?;
        let mut b = bundle.instantiate(&d.id)?;
        a.activate(48_000.0, 1, 512)?;
        b.activate(44_100.0, 1, 256)?;
        let ca = a.main_input_channels();
        let cb = b.main_input_channels();
        let sa = noise(ca, 512, 1);
        let sb = noise(cb, 256, 2);
        for i in 0..50 {
            let ra = a.process(&sa, &ProcessOptions::default())?;
            let la = lat(&mut a);
            check_passthrough(&format!("instance A block {i}"), &sa, &ra.audio, la)?;
            let rb = b.process(
                &sb,
                &ProcessOptions {
                    placement: Placement::InPlace,
                    events: vec![],
                },
            )?;
            let lb = lat(&mut b);
            check_passthrough(&format!("instance B block {i}"), &sb, &rb.audio, lb)?;
        }
        drop(a);
        let rb = b.process(&sb, &ProcessOptions::default())?;
        let lb = lat(&mut b);
        check_passthrough("instance B after A was destroyed", &sb, &rb.audio, lb)?;
        drop(b);

        // Two threads, each with its own host and instance, processing concurrently.
        let path = bundle.path().to_path_buf();
        let id = d.id.clone();
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2u32)
                .map(|t| {
                    let path = path.clone();
                    let id = id.clone();
                    s.spawn(move || -> Result<()> {
                        let bundle = ClapBundle::load(&path)?;
                        let mut p = bundle.instantiate(&id)?;
                        p.activate(if t == 0 { 48_000.0 } else { 96_000.0 }, 1, 1024)?;
                        let ch = p.main_input_channels();
                        let sig = noise(ch, 48_000, 100 + t);
                        let blocks = block_sizes(48_000, &block_pattern(1024), 1024);
                        run_and_check(
                            &mut p,
                            &format!("thread {t}"),
                            &sig,
                            &blocks,
                            Placement::OutOfPlace,
                        )?;
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("thread panicked"))))
                .collect()
        });
        for r in results {
            r?;
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[test]
fn state_roundtrip_is_byte_identical() {
    if prism_tests::isolate::in_parent("state_roundtrip_is_byte_identical") {
        return;
    }
    for_each_clap_plugin("state_roundtrip_is_byte_identical", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let s1 = p.save_state()?;
        ensure!(!s1.is_empty(), "saved state is empty");
        p.load_state(&s1).context("loading own default state")?;
        let s2 = p.save_state()?;
        ensure!(
            s1 == s2,
            "save→load→save differs ({} vs {} bytes)",
            s1.len(),
            s2.len()
        );

        // Non-default values survive a round trip into a fresh instance.
        let params: Vec<Param> = p.params().into_iter().filter(|x| !x.is_readonly).collect();
        let changes: Vec<(u32, f64)> = params.iter().map(|x| (x.id, other_value(x))).collect();
        p.flush_params(&changes)?;
        let expected: Vec<(String, f64)> = params
            .iter()
            .map(|x| {
                Ok((
                    x.name.clone(),
                    p.param_value(x.id).ok_or_else(|| anyhow!("get_value"))?,
                ))
            })
            .collect::<Result<_>>()?;
        let s3 = p.save_state()?;
        ensure!(
            s3 != s1 || params.is_empty(),
            "state did not change after changing every parameter"
        );

        let mut q = bundle.instantiate(&d.id)?;
        q.load_state(&s3)
            .context("loading state into a fresh instance")?;
        for (par, (name, want)) in params.iter().zip(&expected) {
            let got = q
                .param_value(par.id)
                .ok_or_else(|| anyhow!("{name}: get_value"))?;
            ensure!(
                (got - want).abs() <= param_tolerance(par),
                "{name}: {got} after load, saved {want}"
            );
        }
        let s4 = q.save_state()?;
        ensure!(s3 == s4, "state differs after load into a fresh instance");

        // Short reads and writes (prime-sized chunks).
        for chunk in [1usize, 7, 13, 1021] {
            let mut r = bundle.instantiate(&d.id)?;
            r.load_state_from(&mut ChunkedReader::new(&s3, chunk))
                .with_context(|| format!("loading with {chunk}-byte reads"))?;
            let mut w = ChunkedWriter::new(chunk);
            r.save_state_into(&mut w)
                .with_context(|| format!("saving with {chunk}-byte writes"))?;
            ensure!(w.data == s3, "state via {chunk}-byte chunks differs");
        }

        // Load while active; processing continues unchanged.
        let mut a = bundle.instantiate(&d.id)?;
        a.activate(48_000.0, 1, 512)?;
        let ch = a.main_input_channels();
        run_and_check(
            &mut a,
            "before load",
            &noise(ch, 2048, 1),
            &[512; 4],
            Placement::OutOfPlace,
        )?;
        a.load_state(&s3).context("loading while active")?;
        run_and_check(
            &mut a,
            "after load while active",
            &noise(ch, 2048, 2),
            &[512; 4],
            Placement::OutOfPlace,
        )?;
        ensure!(a.save_state()? == s3, "state saved while active differs");
        Ok(())
    });
}

#[test]
fn garbage_state_is_rejected_cleanly() {
    if prism_tests::isolate::in_parent("garbage_state_is_rejected_cleanly") {
        return;
    }
    for_each_clap_plugin("garbage_state_is_rejected_cleanly", |bundle, d| {
        let mut p = bundle.instantiate(&d.id)?;
        let baseline = p.save_state()?;
        let mut rng = XorShift::new(0xBAD5_7A7E);
        let random_1mb: Vec<u8> = (0..1 << 20).map(|_| rng.next_u32() as u8).collect();
        let mut half = baseline.clone();
        half.truncate(baseline.len() / 2);
        let mut minus_one = baseline.clone();
        minus_one.pop();

        // Blobs that cannot be a valid state: loading must fail and change nothing.
        let must_fail: Vec<(&str, Vec<u8>)> = vec![
            ("empty blob", Vec::new()),
            ("16 zero bytes", vec![0u8; 16]),
            ("1 MiB of random bytes", random_1mb),
            ("plain text", b"this is not a plugin state".to_vec()),
            ("truncated to half", half),
            ("last byte missing", minus_one),
        ];
        for (name, blob) in &must_fail {
            if p.load_state(blob).is_ok() {
                bail!("load_state accepted {name} ({} bytes)", blob.len());
            }
            let after = p
                .save_state()
                .with_context(|| format!("save after rejecting {name}"))?;
            ensure!(
                after == baseline,
                "rejected load of {name} still changed the state"
            );
        }

        // Blobs that may or may not be accepted, but must not crash or break the plugin.
        let mut maybe: Vec<(String, Vec<u8>)> = Vec::new();
        for i in 0..16 {
            let mut b = baseline.clone();
            let pos = rng.range(0, b.len() - 1);
            b[pos] ^= 1 << (i % 8);
            maybe.push((format!("bit flip at byte {pos}"), b));
        }
        let mut with_suffix = baseline.clone();
        with_suffix.extend_from_slice(b"\0garbage");
        maybe.push(("valid state + trailing garbage".into(), with_suffix));
        maybe.push((
            "JSON with wrong types".into(),
            br#"{"version":"0.1.0","params":{"ref_hz":"banana","freeze":[1,2]},"fields":{"x":5}}"#
                .to_vec(),
        ));
        maybe.push((
            "state from a future version".into(),
            br#"{"version":"99.0.0","params":{},"fields":{}}"#.to_vec(),
        ));
        maybe.push(("JSON null".into(), b"null".to_vec()));
        for (name, blob) in &maybe {
            let res = p.load_state(blob);
            eprintln!(
                "  {}: {name}: {}",
                d.id,
                if res.is_ok() { "accepted" } else { "rejected" }
            );
            p.save_state()
                .with_context(|| format!("save after loading {name}"))?;
            p.load_state(&baseline)
                .with_context(|| format!("reloading baseline after {name}"))?;
        }
        ensure!(p.save_state()? == baseline, "baseline not restored");

        // Still processes correctly.
        p.activate(48_000.0, 1, 512)?;
        let ch = p.main_input_channels();
        run_and_check(
            &mut p,
            "after garbage loads",
            &noise(ch, 4096, 4),
            &[512; 8],
            Placement::OutOfPlace,
        )?;
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Prism Chroma specifics
// ---------------------------------------------------------------------------------------------

fn chroma_param(p: &mut ClapPlugin, name: &str) -> Result<Param> {
    p.param_by_name(name).ok_or_else(|| {
        let names: Vec<String> = p.params().into_iter().map(|x| x.name).collect();
        anyhow!("no parameter named {name:?}; parameters: {names:?}")
    })
}

#[test]
fn chroma_ports_and_params() {
    if prism_tests::isolate::in_parent("chroma_ports_and_params") {
        return;
    }
    let Some(bundle) = chroma_bundle("chroma_ports_and_params") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();

    let ins = p.audio_ports(true);
    let outs = p.audio_ports(false);
    assert_eq!(
        p.main_input_channels(),
        2,
        "default layout should be stereo in: {ins:?}"
    );
    assert_eq!(
        p.main_output_channels(),
        2,
        "default layout should be stereo out: {outs:?}"
    );
    let note_outs = p.note_ports(false);
    assert!(!note_outs.is_empty(), "Chroma has no note output port");
    assert!(
        note_outs[0].supports_clap || note_outs[0].supports_midi,
        "note output port supports no dialect: {note_outs:?}"
    );
    assert_eq!(p.latency(), Some(0), "latency");

    for name in prism_tests::bundles::CHROMA_PARAM_NAMES {
        chroma_param(&mut p, name).unwrap();
    }
    for name in ["Auto Tuning", "Drum Suppression", "Freeze", "MIDI Chords"] {
        let par = chroma_param(&mut p, name).unwrap();
        assert!(
            par.is_stepped,
            "{name} should be a stepped (bool) parameter: {par:?}"
        );
    }
    let vocab = chroma_param(&mut p, "Chord Vocabulary").unwrap();
    assert!(
        vocab.is_stepped,
        "Chord Vocabulary should be stepped (enum): {vocab:?}"
    );
    for name in ["Auto Tuning", "MIDI Chords"] {
        let par = chroma_param(&mut p, name).unwrap();
        assert!(
            (par.default - par.max).abs() < 1e-9,
            "{name} should default to on: {par:?}"
        );
    }
    let freeze = chroma_param(&mut p, "Freeze").unwrap();
    assert!(
        (freeze.default - freeze.min).abs() < 1e-9,
        "Freeze should default to off: {freeze:?}"
    );

    // Reference pitch: default shows as 440 Hz, typing 442 gives 442 Hz.
    let refp = chroma_param(&mut p, "Reference Pitch").unwrap();
    let text = p.param_value_to_text(refp.id, refp.default).unwrap();
    assert!(
        text.contains("440") && text.contains("Hz"),
        "default Reference Pitch shows as {text:?}"
    );
    let v442 = ["442 Hz", "442", "442.0 Hz"]
        .iter()
        .find_map(|t| p.param_text_to_value(refp.id, t))
        .expect("text_to_value(\"442 Hz\") failed");
    let shown = p.param_value_to_text(refp.id, v442).unwrap();
    assert!(shown.contains("442"), "442 Hz round-trips to {shown:?}");
    p.flush_params(&[(refp.id, v442)]).unwrap();
    let now = p.param_value(refp.id).unwrap();
    assert!(
        (now - v442).abs() < 1e-6,
        "after flush Reference Pitch is {now}, wanted {v442}"
    );
    for (lo, hi) in [("415", "415"), ("466", "466")] {
        let v = p.param_text_to_value(refp.id, &format!("{lo} Hz")).unwrap();
        let t = p.param_value_to_text(refp.id, v).unwrap();
        assert!(t.contains(hi), "{lo} Hz shows as {t:?}");
    }
}

/// Feeds `notes` (MIDI numbers) as a harmonic chord for `seconds` (at 48 kHz, 512-sample
/// blocks), checks passthrough, and feeds the output note events into `tracker` (event times
/// relative to the start of this chord).
fn feed_chord(
    p: &mut ClapPlugin,
    notes: &[u8],
    seconds: f64,
    tracker: &mut NoteTracker,
) -> Result<()> {
    let sr = 48_000.0;
    let len = (sr * seconds) as usize;
    let ch = p.main_input_channels();
    let mono = signal::chord(notes, 440.0, sr, len, 0.6);
    let sig = vec![mono; ch];
    let r = p.process_signal(&sig, &block_sizes(len, &[512], 512), Placement::OutOfPlace)?;
    check_passthrough("chord", &sig, &r.audio, 0)?;
    tracker.ons.clear();
    tracker.offs.clear();
    tracker.feed(&r.events);
    Ok(())
}

fn note_diag(t: &NoteTracker) -> String {
    format!(
        "note-ons (sample, key, velocity): {:?}\nnote-offs (sample, key): {:?}\nheld: {:?}",
        t.ons, t.offs, t.held
    )
}

#[test]
fn chroma_sends_chord_notes_for_c_major() {
    if prism_tests::isolate::in_parent("chroma_sends_chord_notes_for_c_major") {
        return;
    }
    let Some(bundle) = chroma_bundle("chroma_sends_chord_notes_for_c_major") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();
    let midi = chroma_param(&mut p, "MIDI Chords").unwrap();
    assert!(
        (p.param_value(midi.id).unwrap() - midi.max).abs() < 1e-9,
        "MIDI Chords is expected to be on by default"
    );
    p.activate(48_000.0, 1, 512).unwrap();
    let mut t = NoteTracker::default();
    let c_major = [60u8, 64, 67];
    feed_chord(&mut p, &c_major, 3.0, &mut t).unwrap();
    let diag = note_diag(&t);
    assert!(
        !t.ons.is_empty(),
        "no note-on on the note output port during 3 s of a C major triad\n{diag}"
    );
    for &(_, key, vel) in &t.ons {
        assert!(
            key < 128 && vel > 0.0 && vel <= 1.0,
            "bad note-on key {key} velocity {vel}\n{diag}"
        );
    }
    let want = pcs(c_major);
    assert_eq!(
        t.held_pitch_classes(),
        want,
        "pitch classes sounding after 3 s of C-E-G\n{diag}"
    );
    eprintln!("C major phase:\n{diag}");
    let last_second = 2 * 48_000;
    let late = pcs(t
        .ons
        .iter()
        .filter(|(time, _, _)| *time >= last_second)
        .map(|x| x.1));
    assert!(
        late.is_subset(&want),
        "wrong notes in the last second: {late:?}\n{diag}"
    );

    // The chord changes to A minor (A C E): the held notes must follow (no stuck notes).
    feed_chord(&mut p, &[57, 60, 64], 3.0, &mut t).unwrap();
    eprintln!("A minor phase:\n{}", note_diag(&t));
    assert_eq!(
        t.held_pitch_classes(),
        pcs([57, 60, 64]),
        "pitch classes sounding after 3 s of C major then 3 s of A minor\n{}",
        note_diag(&t)
    );
}

#[test]
fn chroma_midi_chords_off_sends_no_notes() {
    if prism_tests::isolate::in_parent("chroma_midi_chords_off_sends_no_notes") {
        return;
    }
    let Some(bundle) = chroma_bundle("chroma_midi_chords_off_sends_no_notes") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();
    let midi = chroma_param(&mut p, "MIDI Chords").unwrap();
    p.flush_params(&[(midi.id, midi.min)]).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let mut t = NoteTracker::default();
    feed_chord(&mut p, &[60, 64, 67], 3.0, &mut t).unwrap();
    assert!(
        t.ons.is_empty(),
        "MIDI Chords off, yet note-ons were sent: {:?}",
        t.ons
    );
}

#[test]
fn chroma_recovers_from_non_finite_input() {
    if prism_tests::isolate::in_parent("chroma_recovers_from_non_finite_input") {
        return;
    }
    // After NaN/Inf garbage the analyser must still detect chords (no NaN stuck in its state).
    let Some(bundle) = chroma_bundle("chroma_recovers_from_non_finite_input") else {
        return;
    };
    let mut p = chroma(&bundle).unwrap();
    p.activate(48_000.0, 1, 512).unwrap();
    let ch = p.main_input_channels();
    for bad in [f32::NAN, f32::INFINITY, f32::MAX] {
        let block = vec![vec![bad; 512]; ch];
        let r = p.process(&block, &ProcessOptions::default()).unwrap();
        check_passthrough(&format!("{bad} block"), &block, &r.audio, 0).unwrap();
    }
    let mut t = NoteTracker::default();
    feed_chord(&mut p, &[60, 64, 67], 3.0, &mut t).unwrap();
    assert_eq!(
        t.held_pitch_classes(),
        pcs([60, 64, 67]),
        "after non-finite input, C major is no longer detected\n{}",
        note_diag(&t)
    );
}

/// The state fixtures of a package: `tests/fixtures/<package>-<version>.state.json` (the
/// JSON body of nice-plug's CLAP state) with `<package>-<version>.expect.tsv` (display
/// name, tab, the value's text).
fn state_fixtures(package: &str) -> Vec<(PathBuf, PathBuf)> {
    let dir = prism_tests::workspace_root().join("tests/fixtures");
    let mut found: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy().into_owned();
                    n.starts_with(&format!("{package}-")) && n.ends_with(".state.json")
                })
                .map(|p| {
                    let expect =
                        PathBuf::from(p.to_string_lossy().replace(".state.json", ".expect.tsv"));
                    (p, expect)
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// nice-plug's CLAP state: an 8-byte little-endian length, then the JSON.
fn state_blob(json: &[u8]) -> Vec<u8> {
    let json = json.trim_ascii_end();
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend_from_slice(json);
    blob
}

/// Sets every parameter to a value other than its default and writes the plugin's state
/// and the expected texts as a new fixture (`PRISM_WRITE_STATE_FIXTURE=1`).
fn write_state_fixture(p: &mut ClapPlugin, package: &str, version: &str) -> Result<PathBuf> {
    let params = p.params();
    let mut changes = Vec::new();
    for par in &params {
        let value = if par.is_stepped {
            if par.default < par.max {
                par.max
            } else {
                par.min
            }
        } else {
            let v = par.min + 0.8 * (par.max - par.min);
            if (v - par.default).abs() < 0.05 * (par.max - par.min) {
                par.min + 0.2 * (par.max - par.min)
            } else {
                v
            }
        };
        changes.push((par.id, value));
    }
    p.flush_params(&changes)?;
    let blob = p.save_state()?;
    let json = &blob[8..];
    let dir = prism_tests::workspace_root().join("tests/fixtures");
    let state = dir.join(format!("{package}-{version}.state.json"));
    std::fs::write(&state, [json, b"\n"].concat())?;
    let mut tsv = String::new();
    for par in &params {
        let v = p.param_value(par.id).context("value")?;
        let text = p.param_value_to_text(par.id, v).context("text")?;
        tsv.push_str(&format!("{}\t{}\n", par.name, text));
    }
    std::fs::write(dir.join(format!("{package}-{version}.expect.tsv")), tsv)?;
    Ok(state)
}

#[test]
fn every_plugin_loads_the_state_fixtures_of_earlier_releases() {
    if prism_tests::isolate::in_parent("every_plugin_loads_the_state_fixtures_of_earlier_releases")
    {
        return;
    }
    // A session saved by an earlier release must load with the same values: a renamed
    // parameter id or enum variant silently resets users' sessions (tests/fixtures/README.md).
    for_each_clap_plugin(
        "every_plugin_loads_the_state_fixtures_of_earlier_releases",
        |bundle, d| {
            let package = bundles::package_name_for(&d.name);
            let fixtures = state_fixtures(&package);
            if fixtures.is_empty() {
                if std::env::var_os("PRISM_WRITE_STATE_FIXTURE").is_some() {
                    let mut p = bundle.instantiate(&d.id)?;
                    let version = d.version.clone().unwrap_or_else(|| "0.0.0".into());
                    let path = write_state_fixture(&mut p, &package, &version)?;
                    eprintln!("wrote {}", path.display());
                    return Ok(());
                }
                bail!(
                    "no state fixture for {package} in tests/fixtures: make one with \
                     PRISM_WRITE_STATE_FIXTURE=1 cargo test -p prism-tests --test clap_host \
                     every_plugin_loads, and commit it"
                );
            }
            for (state, expect) in fixtures {
                let json = std::fs::read(&state)?;
                let expect = std::fs::read_to_string(&expect)
                    .with_context(|| format!("{} (expected values)", expect.display()))?;
                let mut p = bundle.instantiate(&d.id)?;
                p.load_state(&state_blob(&json))
                    .with_context(|| format!("loading {}", state.display()))?;
                let mut wrong = Vec::new();
                let mut checked = 0;
                for line in expect.lines().filter(|l| !l.trim().is_empty()) {
                    let (name, want) = line.split_once('\t').context("name<TAB>text")?;
                    let par = p
                        .param_by_name(name)
                        .with_context(|| format!("{}: no parameter {name:?}", state.display()))?;
                    let value = p.param_value(par.id).context("value")?;
                    let text = p.param_value_to_text(par.id, value).context("text")?;
                    if !text.to_lowercase().contains(&want.to_lowercase()) {
                        wrong.push(format!("{name}: {text:?} (wanted {want:?})"));
                    }
                    checked += 1;
                }
                ensure!(
                    wrong.is_empty() && checked > 0,
                    "{}: values after loading: {wrong:?} ({checked} checked)",
                    state.display()
                );
                // And it round-trips from there.
                let saved = p.save_state()?;
                let mut q = bundle.instantiate(&d.id)?;
                q.load_state(&saved)?;
                ensure!(
                    q.save_state()? == saved,
                    "{}: no round trip",
                    state.display()
                );
            }
            Ok(())
        },
    );
}
