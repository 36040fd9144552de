//! Lifecycle: activation, reset and restart, unloading, many and simultaneous instances.

use super::*;

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
                "lifecycle::child_unload_scenario",
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
