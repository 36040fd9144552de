//! Scan, factory and descriptors.

use super::*;

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
