//! The standalones on a real JACK server, as a live user runs them.
//!
//! Each test starts its own JACK server (`jackd -S -d dummy`, Debian's `jackd2`; a private
//! server name, so it never touches a user's) at 44.1 kHz and at 48 kHz with 256-sample periods,
//! starts the standalone binary on it exactly as the README says (`prism-chroma --backend
//! jack`, no rate or period flags, and a wrong `--sample-rate` on the second run: the server's
//! rate must win), under a private Xvfb so the editor opens, and plays known audio into it
//! from two JACK clients of its own (a player and a recorder, so the graph has no cycle and
//! both see the same frame times). It checks what comes out:
//!
//! * Prism Chroma: the chord notes on its MIDI port have the pitch classes of the chords
//!   played (a plugin analysing at the wrong rate is a semitone off), and the audio passes
//!   through bit-exact;
//! * Prism Pitch: the MIDI notes have the keys of the melody played, audio bit-exact;
//! * Prism Split: its main output and its stem ports (`drums_N`, `bass_N`, `other_N`) exist
//!   and carry audio that sums back to the input at the latency Split reports for the
//!   server's rate and period.
//!
//! Binaries: `$PRISM_BIN_DIR/<package>` (cargo xtask test sets it), else `target/debug`.

use anyhow::{bail, ensure, Context, Result};
use jack::{AudioIn, AudioOut, Client, ClientOptions, Control, MidiIn, ProcessScope};
use prism_tests::bundles;
use prism_tests::signal::{chord, harmonic_tone};
use prism_tests::xvfb::{die_with_parent, require_tool, KillOnDrop, Xvfb};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PERIOD: u32 = 256;
const RATES: [u32; 2] = [44_100, 48_000];
/// Samples of silence before the material, so the standalone's ports are connected and
/// running when it starts.
const LEAD_IN_S: f64 = 0.5;

/// A JACK server of this test's own, stopped on drop.
struct JackServer {
    name: String,
    _child: KillOnDrop,
}

impl Drop for JackServer {
    /// SIGTERM and a wait: a killed jackd leaves its entry in JACK's shared server registry,
    /// and after a handful of those no server starts ("Too many servers already active").
    fn drop(&mut self) {
        extern "C" {
            fn kill(pid: i32, sig: i32) -> i32;
        }
        const SIGTERM: i32 = 15;
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe { kill(self._child.id() as i32, SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self._child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl JackServer {
    fn start(rate: u32) -> Result<Self> {
        require_tool("jackd", "apt-get install jackd2")?;
        // One name for every run (the tests take turns, MachineLock), so even a server that
        // was killed leaves just one registry entry, which the next start reuses.
        let name = "prism-test".to_owned();
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let mut cmd = Command::new("jackd");
        die_with_parent(&mut cmd);
        // Synchronous mode (-S), with a generous client timeout: the server waits for every
        // client each cycle, so a debug build (or a busy CI machine) that is late for a period
        // delays the cycle instead of dropping the period's audio; the checks are bit-exact.
        cmd.args([
            "--no-realtime",
            "-S",
            "-t",
            "10000",
            "-n",
            &name,
            "-d",
            "dummy",
        ])
        .args(["-r", &rate.to_string(), "-p", &PERIOD.to_string()])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?);
        let child = KillOnDrop(cmd.spawn().context("starting jackd")?);
        // Every JACK client of this process (and the standalone, by its environment) talks
        // to this server. The test runs alone in its child process (isolate).
        std::env::set_var("JACK_DEFAULT_SERVER", &name);
        let mut server = Self {
            name,
            _child: child,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok((c, _)) = Client::new("prism_test_probe", ClientOptions::NO_START_SERVER) {
                ensure!(
                    c.sample_rate() == rate,
                    "jackd runs at {} Hz, not {rate}",
                    c.sample_rate()
                );
                break;
            }
            if let Some(status) = server._child.try_wait()? {
                let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
                bail!("jackd exited ({status}): {err}");
            }
            ensure!(Instant::now() < deadline, "jackd did not start within 15 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }
}

/// What the recorder saw, indexed from the frame where the player started.
#[derive(Default)]
struct Recording {
    audio: Vec<Vec<f32>>,
    /// (sample index, MIDI bytes).
    midi: Vec<(usize, [u8; 3])>,
}

/// Plays `signal` (one vector per channel) into `inputs` of the standalone and records
/// `outputs` and, if named, its MIDI port, for as long as the signal lasts.
fn play_and_record(
    signal: &[Vec<f32>],
    inputs: &[String],
    outputs: &[String],
    midi_out: Option<&str>,
) -> Result<Recording> {
    let len = signal[0].len();
    let start_frame = Arc::new(AtomicU64::new(u64::MAX));
    let go = Arc::new(AtomicBool::new(false));

    let (player, _) = Client::new("prism_test_player", ClientOptions::NO_START_SERVER)?;
    let mut play_ports = Vec::new();
    for ch in 0..signal.len() {
        play_ports.push(player.register_port(&format!("out_{}", ch + 1), AudioOut::default())?);
    }
    let play_signal: Vec<Vec<f32>> = signal.to_vec();
    let (start_p, go_p) = (start_frame.clone(), go.clone());
    let player = player.activate_async(
        (),
        jack::contrib::ClosureProcessHandler::new(move |_: &Client, ps: &ProcessScope| {
            let now = ps.last_frame_time() as u64;
            if go_p.load(Ordering::Acquire) && start_p.load(Ordering::Acquire) == u64::MAX {
                start_p.store(now, Ordering::Release);
            }
            let start = start_p.load(Ordering::Acquire);
            for (port, sig) in play_ports.iter_mut().zip(&play_signal) {
                let out = port.as_mut_slice(ps);
                for (i, y) in out.iter_mut().enumerate() {
                    let k = (now + i as u64).wrapping_sub(start) as usize;
                    *y = if start != u64::MAX && now + i as u64 >= start && k < sig.len() {
                        sig[k]
                    } else {
                        0.0
                    };
                }
            }
            Control::Continue
        }),
    )?;

    let (recorder, _) = Client::new("prism_test_recorder", ClientOptions::NO_START_SERVER)?;
    let mut rec_ports = Vec::new();
    for k in 0..outputs.len() {
        rec_ports.push(recorder.register_port(&format!("in_{}", k + 1), AudioIn::default())?);
    }
    let midi_port = match midi_out {
        Some(_) => Some(recorder.register_port("midi_in", MidiIn::default())?),
        None => None,
    };
    let recording = Arc::new(Mutex::new(Recording {
        audio: vec![vec![0.0; len]; outputs.len()],
        midi: Vec::with_capacity(100_000),
    }));
    let (start_r, rec) = (start_frame.clone(), recording.clone());
    let recorder = recorder.activate_async(
        (),
        jack::contrib::ClosureProcessHandler::new(move |_: &Client, ps: &ProcessScope| {
            let start = start_r.load(Ordering::Acquire);
            let now = ps.last_frame_time() as u64;
            if start == u64::MAX || now < start {
                return Control::Continue;
            }
            let base = (now - start) as usize;
            // Only this callback and the reader after deactivation use it.
            let Ok(mut r) = rec.try_lock() else {
                return Control::Continue;
            };
            for (port, dst) in rec_ports.iter().zip(r.audio.iter_mut()) {
                for (i, x) in port.as_slice(ps).iter().enumerate() {
                    if let Some(d) = dst.get_mut(base + i) {
                        *d = *x;
                    }
                }
            }
            if let Some(port) = &midi_port {
                for ev in port.iter(ps) {
                    if ev.bytes.len() == 3 && r.midi.len() < r.midi.capacity() {
                        let t = base + ev.time as usize;
                        r.midi.push((t, [ev.bytes[0], ev.bytes[1], ev.bytes[2]]));
                    }
                }
            }
            Control::Continue
        }),
    )?;

    for (ch, port) in inputs.iter().enumerate() {
        let src = format!("prism_test_player:out_{}", ch.min(signal.len() - 1) + 1);
        player
            .as_client()
            .connect_ports_by_name(&src, port)
            .with_context(|| format!("connecting {src} -> {port}"))?;
    }
    for (k, port) in outputs.iter().enumerate() {
        let dst = format!("prism_test_recorder:in_{}", k + 1);
        recorder
            .as_client()
            .connect_ports_by_name(port, &dst)
            .with_context(|| format!("connecting {port} -> {dst}"))?;
    }
    if let Some(port) = midi_out {
        recorder
            .as_client()
            .connect_ports_by_name(port, "prism_test_recorder:midi_in")
            .with_context(|| format!("connecting {port}"))?;
    }
    // Connections take effect at the next cycle; then play.
    std::thread::sleep(Duration::from_millis(200));
    go.store(true, Ordering::Release);
    let rate = player.as_client().sample_rate() as f64;
    let duration = Duration::from_secs_f64(len as f64 / rate);
    let deadline = Instant::now() + duration * 3 + Duration::from_secs(10);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let start = start_frame.load(Ordering::Acquire);
        let now = player.as_client().frame_time() as u64;
        if start != u64::MAX && now > start + len as u64 + 2 * PERIOD as u64 {
            break;
        }
        ensure!(Instant::now() < deadline, "the JACK server stopped running");
    }
    drop(player.deactivate());
    drop(recorder.deactivate());
    let r = std::mem::take(&mut *recording.lock().unwrap());
    Ok(r)
}

fn standalone_binary(package: &str) -> PathBuf {
    let bin = prism_tests::binary(package);
    assert!(
        bin.is_file(),
        "standalone {} not found: build it with `cargo build -p {package}` (cargo xtask \
         test does), or set PRISM_BIN_DIR",
        bin.display()
    );
    bin
}

/// Starts `package`'s standalone on the test's JACK server, as the README says (plus
/// `extra` arguments), and waits for its ports.
fn start_standalone(
    server: &JackServer,
    xvfb: &Xvfb,
    package: &str,
    client: &str,
    extra: &[&str],
) -> Result<(KillOnDrop, PathBuf)> {
    let log = std::env::temp_dir().join(format!("{}-{package}.log", server.name));
    let mut cmd = xvfb.command(standalone_binary(package));
    die_with_parent(&mut cmd);
    cmd.args(["--backend", "jack"])
        .args(extra)
        .env("JACK_DEFAULT_SERVER", &server.name)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?);
    let mut child = KillOnDrop(cmd.spawn().with_context(|| format!("starting {package}"))?);
    let (probe, _) = Client::new("prism_test_ports", ClientOptions::NO_START_SERVER)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ports = probe.ports(Some(&format!("^{client}:")), None, jack::PortFlags::empty());
        if ports.iter().any(|p| p.ends_with(":output_1")) {
            break;
        }
        if let Some(status) = child.try_wait()? {
            let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
            bail!("{package} exited ({status}) before its JACK ports appeared:\n{err}");
        }
        ensure!(
            Instant::now() < deadline,
            "{package}'s JACK ports did not appear within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((child, log.with_extension("err")))
}

fn port_names(client: &str) -> Result<Vec<String>> {
    let (probe, _) = Client::new("prism_test_ports", ClientOptions::NO_START_SERVER)?;
    Ok(probe.ports(Some(&format!("^{client}:")), None, jack::PortFlags::empty()))
}

fn lead_in(rate: u32) -> usize {
    (LEAD_IN_S * rate as f64) as usize
}

/// The notes held (note-on without its note-off yet) at sample `t`.
fn held_at(midi: &[(usize, [u8; 3])], t: usize) -> Vec<u8> {
    let mut held: Vec<u8> = Vec::new();
    for &(time, [status, key, velocity]) in midi {
        if time > t {
            break;
        }
        match status & 0xf0 {
            0x90 if velocity > 0 && !held.contains(&key) => held.push(key),
            0x90 if velocity > 0 => {}
            0x80 | 0x90 => held.retain(|k| *k != key),
            _ => {}
        }
    }
    held.sort_unstable();
    held
}

fn pitch_classes(keys: &[u8]) -> Vec<u8> {
    let mut pcs: Vec<u8> = keys.iter().map(|k| k % 12).collect();
    pcs.sort_unstable();
    pcs.dedup();
    pcs
}

fn check_bit_exact(played: &[Vec<f32>], recorded: &[Vec<f32>], what: &str) -> Result<()> {
    for (c, (p, r)) in played.iter().zip(recorded).enumerate() {
        if let Some(i) = p
            .iter()
            .zip(r)
            .position(|(a, b)| a.to_bits() != b.to_bits())
        {
            bail!(
                "{what}: channel {c} differs at sample {i}: played {:e}, came back {:e}",
                p[i],
                r[i]
            );
        }
    }
    Ok(())
}

/// The two runs per rate: as the README says, and with a wrong `--sample-rate` and
/// `--period-size` that the server's values must override.
fn runs(rate: u32) -> [Vec<String>; 2] {
    let wrong = if rate == 48_000 { "44100" } else { "48000" };
    [
        Vec::new(),
        vec![
            "--sample-rate".into(),
            wrong.into(),
            "--period-size".into(),
            "1024".into(),
        ],
    ]
}

/// Holds an exclusive `flock` on a file in the temp folder: one JACK test at a time on this
/// machine (two dummy servers starting together fail with "Failed to open server", and they
/// would share two cores besides).
struct MachineLock(#[allow(dead_code)] std::fs::File);

impl MachineLock {
    fn take() -> Self {
        use std::os::fd::AsRawFd;
        extern "C" {
            fn flock(fd: i32, operation: i32) -> i32;
        }
        const LOCK_EX: i32 = 2;
        let path = std::env::temp_dir().join("prism-jack-tests.lock");
        let file = std::fs::File::create(&path).expect("creating the JACK test lock file");
        // SAFETY: flock on a file descriptor this function owns; blocks until granted.
        let rc = unsafe { flock(file.as_raw_fd(), LOCK_EX) };
        assert_eq!(rc, 0, "flock({}) failed", path.display());
        Self(file)
    }
}

fn for_each_rate(test: &str, plugin: &str, body: impl Fn(u32, &[&str]) -> Result<()>) {
    if bundles::skip_requested(test) {
        return;
    }
    let _lock = MachineLock::take();
    let mut failures = Vec::new();
    for rate in RATES {
        for extra in runs(rate) {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            if let Err(e) = body(rate, &extra) {
                failures.push(format!("{rate} Hz, flags {extra:?}: {e:#}"));
            }
        }
    }
    prism_tests::summary::record(test, plugin, failures.is_empty());
    assert!(failures.is_empty(), "{test}:\n{}", failures.join("\n\n"));
}

#[test]
fn jack_chroma_sends_the_chords_played_and_passes_audio_through() {
    const TEST: &str = "jack_chroma_sends_the_chords_played_and_passes_audio_through";
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    for_each_rate(TEST, "Prism Chroma", |rate, extra| {
        let server = JackServer::start(rate)?;
        let xvfb = Xvfb::start()?;
        let (mut child, log) =
            start_standalone(&server, &xvfb, "prism-chroma", "prism_chroma", extra)?;
        let sr = rate as f64;
        let seg = 3 * rate as usize;
        let lead = lead_in(rate);
        let mut mono = vec![0.0f32; lead];
        mono.extend(chord(&[48, 60, 64, 67], 440.0, sr, seg, 0.25));
        mono.extend(chord(&[45, 57, 60, 64], 440.0, sr, seg, 0.25));
        mono.extend(vec![0.0; rate as usize / 2]);
        let signal = vec![mono.clone(), mono];
        let rec = play_and_record(
            &signal,
            &["prism_chroma:input_1".into(), "prism_chroma:input_2".into()],
            &[
                "prism_chroma:output_1".into(),
                "prism_chroma:output_2".into(),
            ],
            Some("prism_chroma:midi_output"),
        )?;
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        ensure!(child.try_wait()?.is_none(), "prism-chroma exited:\n{err}");
        check_bit_exact(&signal, &rec.audio, "audio through prism-chroma")?;
        let c_major = held_at(&rec.midi, lead + seg - rate as usize / 2);
        let a_minor = held_at(&rec.midi, lead + 2 * seg - rate as usize / 2);
        eprintln!("{rate} Hz {extra:?}: held {c_major:?} in C major, {a_minor:?} in A minor");
        ensure!(
            pitch_classes(&c_major) == [0, 4, 7],
            "C major played, chord notes {c_major:?} held ({} MIDI events)\n{err}",
            rec.midi.len()
        );
        ensure!(
            pitch_classes(&a_minor) == [0, 4, 9],
            "A minor played, chord notes {a_minor:?} held\n{err}"
        );
        Ok(())
    });
}

#[test]
fn jack_pitch_sends_the_notes_played_and_passes_audio_through() {
    const TEST: &str = "jack_pitch_sends_the_notes_played_and_passes_audio_through";
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    for_each_rate(TEST, "Prism Pitch", |rate, extra| {
        let server = JackServer::start(rate)?;
        let xvfb = Xvfb::start()?;
        let (mut child, log) =
            start_standalone(&server, &xvfb, "prism-pitch", "prism_pitch", extra)?;
        let sr = rate as f64;
        let note_len = (0.6 * sr) as usize;
        let gap = (0.1 * sr) as usize;
        let melody = [57u8, 60, 64, 69, 62];
        let lead = lead_in(rate);
        let mut mono = vec![0.0f32; lead];
        for &key in &melody {
            let f = prism_tests::signal::midi_to_hz(key, 440.0);
            mono.extend(harmonic_tone(f, sr, note_len, 0.3, 6));
            mono.extend(vec![0.0; gap]);
        }
        mono.extend(vec![0.0; rate as usize / 2]);
        let signal = vec![mono];
        let rec = play_and_record(
            &signal,
            &["prism_pitch:input_1".into(), "prism_pitch:input_2".into()],
            &["prism_pitch:output_1".into()],
            Some("prism_pitch:midi_output"),
        )?;
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        ensure!(child.try_wait()?.is_none(), "prism-pitch exited:\n{err}");
        check_bit_exact(&signal, &rec.audio, "audio through prism-pitch")?;
        let mut heard = Vec::new();
        for (i, _) in melody.iter().enumerate() {
            let middle = lead + i * (note_len + gap) + note_len / 2;
            heard.push(held_at(&rec.midi, middle));
        }
        eprintln!("{rate} Hz {extra:?}: melody {melody:?}, held {heard:?}");
        for (key, held) in melody.iter().zip(&heard) {
            ensure!(
                held.as_slice() == [*key],
                "melody {melody:?}: held {heard:?} at the notes' middles\n{err}"
            );
        }
        Ok(())
    });
}

#[test]
fn jack_split_stems_on_their_own_ports_sum_to_the_input_at_the_reported_latency() {
    const TEST: &str =
        "jack_split_stems_on_their_own_ports_sum_to_the_input_at_the_reported_latency";
    if prism_tests::isolate::in_parent(TEST) {
        return;
    }
    for_each_rate(TEST, "Prism Split", |rate, extra| {
        let server = JackServer::start(rate)?;
        let xvfb = Xvfb::start()?;
        let (mut child, log) =
            start_standalone(&server, &xvfb, "prism-split", "prism_split", extra)?;
        let ports = port_names("prism_split")?;
        for stem in ["drums", "bass", "other"] {
            for ch in 1..=2 {
                let name = format!("prism_split:{stem}_{ch}");
                ensure!(ports.contains(&name), "no port {name}: {ports:?}");
            }
        }
        // The latency Split reports at the server's rate and period (the engine's own
        // formula, without loading a model).
        let mut engine =
            prism_shared::split::SplitEngine::new(prism_shared::split::SplitSettings {
                model: prism_shared::split::ModelSource::None,
                ..Default::default()
            });
        prism_shared::Processor::prepare(&mut engine, rate as f32, PERIOD as usize, 2);
        let latency = prism_shared::Processor::latency_samples(&engine);
        let sr = rate as f64;
        let lead = lead_in(rate);
        let len = 3 * rate as usize;
        let mut left = vec![0.0f32; lead];
        let mut right = vec![0.0f32; lead];
        left.extend(chord(&[40, 52, 59, 64], 440.0, sr, len, 0.2));
        let kick = prism_tests::signal::white_noise(7, len, 0.05);
        right.extend(
            chord(&[45, 57, 60, 64], 440.0, sr, len, 0.2)
                .iter()
                .zip(&kick)
                .map(|(a, b)| a + b),
        );
        left.extend(vec![0.0; rate as usize / 2]);
        right.extend(vec![0.0; rate as usize / 2]);
        let signal = vec![left, right];
        let outputs: Vec<String> = ["output", "drums", "bass", "other"]
            .iter()
            .flat_map(|p| (1..=2).map(move |ch| format!("prism_split:{p}_{ch}")))
            .collect();
        let rec = play_and_record(
            &signal,
            &["prism_split:input_1".into(), "prism_split:input_2".into()],
            &outputs,
            None,
        )?;
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        ensure!(child.try_wait()?.is_none(), "prism-split exited:\n{err}");
        let total = signal[0].len();
        let mut worst_remix = 0.0f32;
        let mut worst_sum = 0.0f32;
        let mut stem_energy = [0.0f64; 3];
        for (ch, sig) in signal.iter().enumerate() {
            for i in latency..total {
                let x = sig[i - latency];
                let remix = rec.audio[ch][i];
                let stems: Vec<f32> = (0..3).map(|s| rec.audio[2 + 2 * s + ch][i]).collect();
                worst_remix = worst_remix.max((remix - x).abs());
                worst_sum = worst_sum.max((stems.iter().sum::<f32>() - x).abs());
                for (e, y) in stem_energy.iter_mut().zip(&stems) {
                    *e += (*y as f64).powi(2);
                }
            }
        }
        eprintln!(
            "{rate} Hz {extra:?}: latency {latency}, max |remix - delayed input| {worst_remix:e}, \
             max |stems - delayed input| {worst_sum:e}, stem energies {stem_energy:?}"
        );
        ensure!(
            worst_sum < 2e-3,
            "the stems do not sum to the input delayed by {latency}: {worst_sum}\n{err}"
        );
        ensure!(
            worst_remix < 2e-3,
            "the remix is not the input delayed by {latency}: {worst_remix}\n{err}"
        );
        ensure!(
            stem_energy.iter().all(|e| *e > 0.0),
            "a stem port is silent: {stem_energy:?}"
        );
        Ok(())
    });
}
