//! Ports, latency and parameters.

use super::*;

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
