//! Processing: pass-through at every rate, block size and layout, automation, hostile input.

use super::*;

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
