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
//!
//! The tests by topic: `factory` (scan, descriptors, ids), `ports_params`, `processing`
//! (pass-through, automation, hostile input), `lifecycle` (activation, unload, instances),
//! `state` (round trip, garbage, fixtures of earlier releases), `chroma` (Prism Chroma's
//! ports, parameters and chord notes).

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

mod chroma;
mod factory;
mod lifecycle;
mod ports_params;
mod processing;
mod state;

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
