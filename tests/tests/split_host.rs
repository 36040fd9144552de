//! Prism Split in a CLAP host: the auxiliary stem outputs, the reported latency against the
//! measured delay, the remix, solo by parameter, and offline rendering.

use anyhow::{ensure, Context, Result};
use prism_shared::split::parity_signal;
use prism_tests::bundles::{self, BundleKind, SPLIT_CLAP_ID, SPLIT_NAME};
use prism_tests::clap::{ClapBundle, ClapPlugin, InEvent, Placement, ProcessOptions};
use prism_tests::harness::load_with_plugins;

fn split_bundle(test: &str) -> Option<ClapBundle> {
    let path = bundles::require_named_bundle(BundleKind::Clap, SPLIT_NAME, test)?;
    Some(load_with_plugins(&path).unwrap_or_else(|e| panic!("{test}: {e:#}")))
}

fn stereo(len: usize) -> Vec<Vec<f32>> {
    let l = parity_signal(len);
    let r: Vec<f32> = l.iter().map(|x| 0.7 * x).collect();
    vec![l, r]
}

/// Audio per channel.
type Planar = Vec<Vec<f32>>;

/// Processes `signal` in blocks of `block`; returns (main, aux[port][ch]) concatenated.
fn run(
    p: &mut ClapPlugin,
    signal: &[Vec<f32>],
    block: usize,
    events_at_start: Vec<InEvent>,
) -> Result<(Planar, Vec<Planar>)> {
    let len = signal[0].len();
    let mut main = vec![Vec::new(); signal.len()];
    let mut aux: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut pos = 0;
    let mut events = events_at_start;
    while pos < len {
        let n = block.min(len - pos);
        let chunk: Vec<Vec<f32>> = signal.iter().map(|c| c[pos..pos + n].to_vec()).collect();
        let r = p.process(
            &chunk,
            &ProcessOptions {
                placement: Placement::OutOfPlace,
                events: std::mem::take(&mut events),
            },
        )?;
        for (m, a) in main.iter_mut().zip(r.audio) {
            m.extend(a);
        }
        if aux.is_empty() {
            aux = r
                .aux
                .iter()
                .map(|port| vec![Vec::new(); port.len()])
                .collect();
        }
        for (dst, port) in aux.iter_mut().zip(r.aux) {
            for (d, c) in dst.iter_mut().zip(port) {
                d.extend(c);
            }
        }
        pos += n;
    }
    Ok((main, aux))
}

fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

#[test]
fn split_has_three_named_stereo_stem_outputs() {
    if prism_tests::isolate::in_parent("split_has_three_named_stereo_stem_outputs") {
        return;
    }
    let Some(bundle) = split_bundle("split_has_three_named_stereo_stem_outputs") else {
        return;
    };
    let mut p = bundle.instantiate(SPLIT_CLAP_ID).unwrap();
    let outs = p.audio_ports(false);
    let names: Vec<&str> = outs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs.len(), 4, "main + 3 stems: {names:?}");
    assert!(outs[0].is_main && outs[0].channel_count == 2, "{outs:?}");
    for (port, want) in outs[1..].iter().zip(["Drums", "Bass", "Other"]) {
        assert_eq!(port.channel_count, 2, "{port:?}");
        assert!(
            port.name.contains(want),
            "port {:?} should be {want}",
            port.name
        );
    }
}

#[test]
fn split_measured_delay_equals_reported_latency() {
    if prism_tests::isolate::in_parent("split_measured_delay_equals_reported_latency") {
        return;
    }
    let Some(bundle) = split_bundle("split_measured_delay_equals_reported_latency") else {
        return;
    };
    for (sr, max, block) in [
        (44_100.0, 256u32, 256usize),
        (44_100.0, 64, 64),
        (48_000.0, 512, 100),
        (96_000.0, 1024, 1024),
    ] {
        let mut p = bundle.instantiate(SPLIT_CLAP_ID).unwrap();
        p.activate(sr, 1, max).unwrap();
        let latency = p.latency().unwrap() as usize;
        if sr == 44_100.0 && max <= 256 {
            assert_eq!(latency, 1280, "window + one hop at 44.1 kHz");
        }
        let len = latency + 8192;
        let mut x = vec![vec![0.0f32; len]; 2];
        x[0][500] = 1.0;
        x[1][500] = 1.0;
        let (main, aux) = run(&mut p, &x, block, Vec::new()).unwrap();
        let peak = (0..len)
            .max_by(|&a, &b| main[0][a].abs().total_cmp(&main[0][b].abs()))
            .unwrap();
        assert_eq!(peak, 500 + latency, "{sr} Hz, max {max}");
        assert!(
            (main[0][peak] - 1.0).abs() < 1e-3,
            "impulse gain {}",
            main[0][peak]
        );
        // The stems, summed, are the same delayed impulse.
        let sum: f32 = aux.iter().map(|port| port[0][peak]).sum();
        assert!((sum - 1.0).abs() < 1e-3, "stem sum {sum}");
    }
}

#[test]
fn split_offline_render_separates_and_the_stems_sum_to_the_remix() -> Result<()> {
    if prism_tests::isolate::in_parent(
        "split_offline_render_separates_and_the_stems_sum_to_the_remix",
    ) {
        return Ok(());
    }
    let Some(bundle) = split_bundle("split_offline_render_separates") else {
        return Ok(());
    };
    let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
    ensure!(p.set_render_offline(true), "clap.render offline refused");
    p.activate(44_100.0, 1, 512)?;
    let latency = p.latency().unwrap() as usize;
    let x = stereo(4 * 44_100);
    let (main, aux) = run(&mut p, &x, 512, Vec::new())?;
    ensure!(aux.len() == 3, "{} aux ports", aux.len());
    for ch in 0..2 {
        for i in latency..x[0].len() {
            let sum: f32 = aux.iter().map(|port| port[ch][i]).sum();
            ensure!(
                (sum - main[ch][i]).abs() < 1e-5,
                "stems do not sum to the remix at {i}: {sum} vs {}",
                main[ch][i]
            );
            ensure!(
                (main[ch][i] - x[ch][i - latency]).abs() < 1e-4,
                "remix is not the delayed input at {i}"
            );
        }
    }
    // Real separation: each stem carries a real share, none is the whole mix.
    let total = energy(&main[0][latency..]);
    for (s, port) in aux.iter().enumerate() {
        let share = energy(&port[0][latency..]) / total;
        ensure!(
            (0.01..0.95).contains(&share),
            "stem {s} carries {share:.3} of the energy"
        );
    }
    Ok(())
}

#[test]
fn split_solo_drums_by_parameter_outputs_the_drums_stem() -> Result<()> {
    if prism_tests::isolate::in_parent("split_solo_drums_by_parameter_outputs_the_drums_stem") {
        return Ok(());
    }
    let Some(bundle) = split_bundle("split_solo_drums_by_parameter") else {
        return Ok(());
    };
    let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
    let solo = p
        .param_by_name("Drums Solo")
        .context("no 'Drums Solo' parameter")?;
    ensure!(p.set_render_offline(true), "clap.render offline refused");
    p.activate(44_100.0, 1, 512)?;
    let x = stereo(3 * 44_100);
    let (main, aux) = run(
        &mut p,
        &x,
        512,
        vec![InEvent::ParamValue {
            time: 0,
            id: solo.id,
            value: 1.0,
        }],
    )?;
    // After the 5 ms gain smoothing, the remix is the (pre-fader) drums stem.
    let from = 4096;
    let mut worst = 0.0f32;
    for ch in 0..2 {
        for i in from..x[0].len() {
            worst = worst.max((main[ch][i] - aux[0][ch][i]).abs());
        }
    }
    ensure!(
        worst < 1e-4,
        "solo drums differs from the drums stem by {worst}"
    );
    ensure!(energy(&aux[0][0][from..]) > 1.0, "drums stem is silent");
    Ok(())
}

#[test]
fn split_survives_hostile_rates_and_blocks_with_finite_output() -> Result<()> {
    if prism_tests::isolate::in_parent("split_survives_hostile_rates_and_blocks_with_finite_output")
    {
        return Ok(());
    }
    let Some(bundle) = split_bundle("split_survives_hostile_rates_and_blocks") else {
        return Ok(());
    };
    for (sr, max) in [
        (8_000.0, 1u32),
        (11_025.0, 17),
        (45_678.901, 2027),
        (192_000.0, 16_384),
        (384_000.0, 4096),
    ] {
        let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
        p.activate(sr, 1, max)?;
        let mut x = stereo(40_000);
        x[0][1000] = f32::NAN;
        x[1][2000] = f32::INFINITY;
        x[0][3000] = f32::MAX;
        let (main, aux) = run(&mut p, &x, max as usize, Vec::new())?;
        for (what, sig) in main
            .iter()
            .map(|c| ("main", c))
            .chain(aux.iter().flatten().map(|c| ("stem", c)))
        {
            ensure!(
                sig.iter().all(|v| v.is_finite()),
                "{sr} Hz / {max}: non-finite {what} output"
            );
        }
    }
    Ok(())
}

#[test]
fn split_all_stems_muted_is_exact_silence_and_never_subnormal() -> Result<()> {
    const TEST: &str = "split_all_stems_muted_is_exact_silence_and_never_subnormal";
    if prism_tests::isolate::in_parent(TEST) {
        return Ok(());
    }
    // clap-validator's param fuzzer found it: with every stem muted, the remix gains decayed
    // towards zero without reaching it, and gain × stem underflowed to subnormal output.
    let Some(bundle) = split_bundle(TEST) else {
        return Ok(());
    };
    let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
    let mut events = Vec::new();
    for name in ["Drums Mute", "Bass Mute", "Other Mute"] {
        let par = p
            .param_by_name(name)
            .with_context(|| format!("no {name:?}"))?;
        events.push(InEvent::ParamValue {
            time: 0,
            id: par.id,
            value: 1.0,
        });
    }
    p.activate(44_100.0, 1, 512)?;
    let x = stereo(2 * 44_100);
    let (main, aux) = run(&mut p, &x, 512, events)?;
    for (c, m) in main.iter().enumerate() {
        if let Some((i, y)) = prism_tests::clap::first_subnormal(m) {
            anyhow::bail!("subnormal remix sample {y:e} on channel {c} at {i}");
        }
        // The 5 ms declick has long ended after 0.2 s: the remix is exactly zero.
        let from = 8820;
        if let Some(i) = m[from..].iter().position(|y| *y != 0.0) {
            anyhow::bail!(
                "all stems muted, yet remix sample {} on channel {c} is {:e}",
                from + i,
                m[from + i]
            );
        }
    }
    for port in &aux {
        for c in port {
            if let Some((i, y)) = prism_tests::clap::first_subnormal(c) {
                anyhow::bail!("subnormal stem sample {y:e} at {i}");
            }
        }
    }
    ensure!(
        energy(&aux[2][0]) > 1.0,
        "the stems themselves are not muted"
    );
    Ok(())
}

#[test]
fn split_restored_mutes_apply_from_the_first_sample() -> Result<()> {
    const TEST: &str = "split_restored_mutes_apply_from_the_first_sample";
    if prism_tests::isolate::in_parent(TEST) {
        return Ok(());
    }
    // Ardour: after reopening a session with Drums and Bass muted, an export must be muted
    // from its first sample, whether the host loads the state before activating the plugin
    // or while it is active (before its first block).
    let Some(bundle) = split_bundle(TEST) else {
        return Ok(());
    };
    let state = {
        let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
        let mut changes = Vec::new();
        for name in ["Drums Mute", "Bass Mute"] {
            let par = p
                .param_by_name(name)
                .with_context(|| format!("no {name:?}"))?;
            changes.push((par.id, 1.0));
        }
        p.set_params(&changes)?;
        p.save_state()?
    };
    let x = stereo(44_100);
    for when in ["before activation", "while active"] {
        let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
        ensure!(p.set_render_offline(true), "clap.render offline refused");
        if when == "before activation" {
            p.load_state(&state)?;
            p.activate(44_100.0, 1, 512)?;
        } else {
            p.activate(44_100.0, 1, 512)?;
            p.load_state(&state)?;
        }
        let (main, aux) = run(&mut p, &x, 512, Vec::new())?;
        // Only "other" is audible: the remix is the other stem from sample 0.
        let mut worst = (0.0f32, 0usize);
        for ch in 0..2 {
            for i in 0..x[0].len() {
                let d = (main[ch][i] - aux[2][ch][i]).abs();
                if d > worst.0 {
                    worst = (d, i);
                }
            }
        }
        ensure!(
            worst.0 < 1e-6,
            "state loaded {when}: the remix differs from the other stem by {} at sample {}",
            worst.0,
            worst.1
        );
        ensure!(energy(&aux[0][0]) > 1e-3, "{when}: no drums to mute");
    }
    Ok(())
}

#[test]
fn split_processes_blocks_larger_than_the_host_announced_in_full() -> Result<()> {
    const TEST: &str = "split_processes_blocks_larger_than_the_host_announced_in_full";
    if prism_tests::isolate::in_parent(TEST) {
        return Ok(());
    }
    // A host that sends a longer block than it announced (out of contract, but VST3 hosts
    // do): Split processed only the announced maximum and left the rest of the host's
    // buffer, garbage for an out-of-place host, in its output.
    let Some(bundle) = split_bundle(TEST) else {
        return Ok(());
    };
    let mut p = bundle.instantiate(SPLIT_CLAP_ID)?;
    ensure!(p.set_render_offline(true), "clap.render offline refused");
    p.activate(44_100.0, 1, 256)?;
    p.allow_oversized_blocks();
    let latency = p.latency().context("no latency")? as usize;
    let x = stereo(2 * 44_100);
    let (main, aux) = run(&mut p, &x, 1024, Vec::new())?;
    let mut worst = (0.0f32, 0usize);
    for ch in 0..2 {
        for i in latency..x[0].len() {
            let d = (main[ch][i] - x[ch][i - latency]).abs();
            if d > worst.0 {
                worst = (d, i);
            }
        }
    }
    ensure!(
        worst.0 < 1e-4,
        "1024-sample blocks after activating for 256: the remix differs from the input \
         delayed by {latency} by {} at sample {}",
        worst.0,
        worst.1
    );
    ensure!(energy(&aux[0][0][latency..]) > 1.0, "no drums stem");
    Ok(())
}
