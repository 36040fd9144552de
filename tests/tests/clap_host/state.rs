//! State: round trip, garbage, and the fixtures of earlier releases.

use super::*;

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
