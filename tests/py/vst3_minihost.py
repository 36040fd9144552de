#!/usr/bin/env python3
"""Host a Prism VST3 bundle in minihost (a JUCE-based host, like pedalboard, that connects
every output bus the way a DAW does) and check what a DAW relies on.

Usage:
    vst3_minihost.py BUNDLE.vst3 [--expect-param NAME]... [--offline]
                     [--render-input IN.wav --render-compare REF.wav --render-set NAME=VALUE]

Checks (every bundle):
  * it loads; every parameter is listed, set to 0, 1 and values between, read back (within
    its step), its value <-> text round trip is stable, and its default comes back;
  * at 44.1, 48 and 96 kHz, with a host block size that changes on every call (1 to the
    maximum, primes included): the output is finite, and the main output is the input
    delayed by the reported latency (bit-exact for latency 0; within --tolerance otherwise);
  * the measured delay of an impulse equals the reported latency;
  * a second thread changes random parameters while the audio is processed (as a GUI does):
    output finite, an analyser's audio untouched;
  * get_state -> set_state -> get_state is byte-identical, and a changed parameter survives
    a state transfer into a fresh instance.
Optional:
  * --offline: run in non-real-time mode (the host renders a bounce);
  * --render-input / --render-compare / --render-set: process IN.wav (float32) offline with
    those parameters set, compensate the reported latency, and compare the main output with
    REF.wav (within --render-tolerance, after --render-skip seconds, default 0.1).

Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 minihost/numpy missing, 4 load failed.
The last line of stdout is a JSON summary.
"""

import argparse
import sys
import traceback

from hostcheck import SUMMARY, check, emit_and_exit, read_wav_f32


try:
    import minihost
    import numpy as np
except ImportError as e:  # pragma: no cover - environment problem
    print(f"missing Python dependency: {e}. Install tests/requirements.txt into the venv "
          "(cargo xtask test does this into .venv).", file=sys.stderr)
    SUMMARY["failures"].append(f"import: {e}")
    emit_and_exit(3)

MAX_BLOCK = 512
# Block sizes per call, cycled: 1, primes, odd, the maximum.
BLOCKS = [1, 17, 512, 64, 2, 311, 509, 100, 3, 256, 13, 512, 97]


def test_signal(channels, rate, seconds, seed=1234):
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(channels):
        sine = 0.4 * np.sin(2 * np.pi * (440.0 * (1 + 0.5 * c)) * t)
        noise = 0.3 * rng.uniform(-1.0, 1.0, n)
        rows.append(sine + noise)
    return np.asarray(rows, dtype=np.float32)


def open_plugin(path, rate, offline):
    if not offline:
        return minihost.Plugin(path, sample_rate=float(rate), max_block_size=MAX_BLOCK,
                               in_channels=2, out_channels=2)
    # minihost (JUCE) passes non-real-time mode to the plugin (VST3 kOffline) only at the
    # next prepare: open at another rate, switch, then prepare at the wanted one.
    p = minihost.Plugin(path, sample_rate=48000.0 if rate == 44100 else 44100.0,
                        max_block_size=MAX_BLOCK, in_channels=2, out_channels=2)
    p.non_realtime = True
    p.sample_rate = float(rate)
    return p


def run(plugin, x, blocks=BLOCKS):
    """Processes x [channels, n] in varying blocks; returns all output channels."""
    n = x.shape[1]
    out = np.zeros((plugin.num_output_channels, n), np.float32)
    pos, k = 0, 0
    while pos < n:
        m = min(blocks[k % len(blocks)], MAX_BLOCK, n - pos)
        k += 1
        xin = np.ascontiguousarray(x[:, pos:pos + m])
        y = np.zeros((plugin.num_output_channels, m), np.float32)
        plugin.process(xin, y)
        out[:, pos:pos + m] = y
        pos += m
    return out


def check_parameters(p, expect):
    names = [p.get_param_info(i)["name"] for i in range(p.num_params)]
    print(f"{p.num_params} parameters: {names}")
    for name in expect:
        check(any(n.strip().lower() == name.lower() for n in names), f"parameter {name!r} exists")
    bad = []
    for i in range(p.num_params):
        info = p.get_param_info(i)
        steps = int(info.get("num_steps") or 0)
        # A stepped parameter lands on one of its steps; a continuous one on the value.
        tol = 0.5 / (steps - 1) + 1e-6 if steps > 1 else 1e-4
        for v in (0.0, 1.0, 0.25, 0.5, 0.75, 0.9):
            p.set_param(i, v)
            got = p.get_param(i)
            if not (np.isfinite(got) and 0.0 <= got <= 1.0 and abs(got - v) <= tol):
                bad.append(f"{info['name']}: set {v} reads {got}")
            text = p.param_to_text(i, got)
            back = p.param_from_text(i, text)
            if p.param_to_text(i, back) != text:
                bad.append(f"{info['name']}: text {text!r} -> {back} -> {p.param_to_text(i, back)!r}")
        p.set_param(i, info["default_value"])
        got = p.get_param(i)
        if abs(got - info["default_value"]) > 1e-6:
            bad.append(f"{info['name']}: default {info['default_value']} reads back {got}")
    for b in bad[:20]:
        print(f"  {b}")
    check(not bad, f"all {p.num_params} parameters set, read back, round-trip text and reset "
          f"({len(bad)} problems)")


def check_audio(path, rate, offline, tolerance):
    p = open_plugin(path, rate, offline)
    latency = p.latency_samples
    SUMMARY.setdefault("latency", {})[str(rate)] = latency
    what = f"{rate / 1000:g} kHz"
    check(latency >= 0, f"{what}: reported latency {latency} >= 0")
    x = test_signal(2, rate, 1.5)
    y = run(p, x)
    check(bool(np.all(np.isfinite(y))), f"{what}: all {y.shape[0]} output channels finite")
    main = y[:2]
    n = x.shape[1]
    if latency == 0:
        exact = bool(np.array_equal(main, x))
        diff = float(np.max(np.abs(main - x)))
        check(exact or diff <= tolerance,
              f"{what}, varying blocks: output equals input (exact={exact}, max |diff| {diff:.3g})")
    else:
        check(bool(np.all(np.abs(main[:, :latency]) < 1e-6)),
              f"{what}: silent for the {latency} samples of latency")
        diff = float(np.max(np.abs(main[:, latency:] - x[:, :n - latency])))
        check(diff <= tolerance,
              f"{what}, varying blocks: output is the input delayed by {latency} "
              f"(max |diff| {diff:.3g}, tolerance {tolerance:g})")
    # Measured delay of an impulse after silence.
    p.reset()
    imp = np.zeros((2, latency + 4096), np.float32)
    at = 1000
    imp[:, at] = 0.5
    y = run(p, imp)
    peak = int(np.argmax(np.abs(y[0])))
    check(peak - at == latency, f"{what}: measured delay {peak - at} == reported latency {latency}")
    p.close()


def check_params_from_another_thread(path, offline, tolerance):
    """A GUI-like thread changes every parameter while the audio thread processes."""
    import threading
    p = open_plugin(path, 48000, offline)
    latency = p.latency_samples
    stop = threading.Event()
    changes = [0]

    def twiddle():
        rng = np.random.default_rng(7)
        while not stop.is_set():
            i = int(rng.integers(0, p.num_params))
            p.set_param(i, float(rng.random()))
            changes[0] += 1

    x = test_signal(2, 48000, 1.0, seed=5)
    t = threading.Thread(target=twiddle)
    t.start()
    try:
        y = run(p, x, blocks=[64, 1, 100, 512, 37])
    finally:
        stop.set()
        t.join()
    check(changes[0] > 100, f"{changes[0]} parameter changes from another thread while processing")
    check(bool(np.all(np.isfinite(y))), "output finite while another thread changes parameters")
    if latency == 0:
        check(bool(np.array_equal(y[:2], x)),
              "an analyser's audio is untouched while another thread changes its parameters")
    p.close()


def check_state(path, offline):
    p = open_plugin(path, 44100, offline)
    s1 = p.get_state()
    p.set_state(s1)
    s2 = p.get_state()
    check(s1 == s2, f"state save -> load -> save identical ({len(s1)} bytes)")
    # A changed parameter travels with the state into a fresh instance.
    i = next((k for k in range(p.num_params)
              if int(p.get_param_info(k).get("num_steps") or 0) == 0), 0)
    p.set_param(i, 0.8)
    want = p.get_param(i)
    # While the plugin processes, a host's parameter change reaches it with the next block.
    run(p, np.zeros((2, MAX_BLOCK), np.float32))
    blob = p.get_state()
    p.close()
    q = open_plugin(path, 44100, offline)
    q.set_state(blob)
    got = q.get_param(i)
    name = q.get_param_info(i)["name"]
    # The state stores plain values (Hz, dB, ...): normalized -> plain -> normalized in f32
    # may move the last digits (2e-6 for a log-scaled frequency).
    check(abs(got - want) < 1e-5, f"{name!r} = {want:.6f} survives a state transfer (reads {got:.6f})")
    check(q.get_state() == blob, "the fresh instance saves the same state bytes")
    q.close()


def check_render(path, args):
    x, rate = read_wav_f32(args.render_input)
    ref, _ = read_wav_f32(args.render_compare)
    renders = []
    # Two fresh opens: an offline bounce does not depend on the wall clock or the machine.
    for _ in range(2):
        p = open_plugin(path, rate, True)
        for spec in args.render_set:
            name, value = spec.split("=", 1)
            i = p.find_param(name)
            if not check(i >= 0, f"parameter {name!r} found for --render-set"):
                continue
            p.set_param(i, float(value))
            print(f"render: {name} = {p.param_to_text(i, p.get_param(i))!r}")
        latency = p.latency_samples
        padded = np.concatenate([x, np.zeros((x.shape[0], latency), np.float32)], axis=1)
        renders.append(run(p, padded, blocks=[MAX_BLOCK])[:2, latency:])
        p.close()
    y = renders[0]
    check(np.array_equal(renders[0], renders[1]),
          "two fresh opens render the same samples "
          f"(max |diff| {float(np.max(np.abs(renders[0] - renders[1]))):.3g})")
    check(y.shape == ref.shape, f"render: output shape {y.shape} == reference {ref.shape}")
    if y.shape == ref.shape:
        skip = int(args.render_skip * rate)
        diff = float(np.max(np.abs(y[:, skip:] - ref[:, skip:])))
        rms = float(np.sqrt(np.mean(ref[:, skip:] ** 2)))
        mix_rms = float(np.sqrt(np.mean((x[:, skip:] - ref[:, skip:]) ** 2)))
        SUMMARY["render"] = {"max_diff": diff, "reference_rms": rms, "rest_rms": mix_rms}
        check(rms > 1e-3 and mix_rms > 1e-3 and diff <= args.render_tolerance,
              f"render with {args.render_set} equals {args.render_compare} "
              f"(max |diff| {diff:.3g}, reference RMS {rms:.3g}, rest of the mix RMS "
              f"{mix_rms:.3g}, tolerance {args.render_tolerance:g})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--expect-param", action="append", default=[])
    ap.add_argument("--offline", action="store_true")
    ap.add_argument("--tolerance", type=float, default=0.0)
    ap.add_argument("--render-input", default=None)
    ap.add_argument("--render-compare", default=None)
    ap.add_argument("--render-tolerance", type=float, default=1e-4)
    ap.add_argument("--render-skip", type=float, default=0.1,
                    help="seconds at the start not compared (parameter smoothing)")
    ap.add_argument("--render-set", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    SUMMARY["bundle"] = args.bundle
    try:
        p = open_plugin(args.bundle, 44100, args.offline)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        SUMMARY["failures"].append(f"load: {type(e).__name__}: {e}")
        emit_and_exit(4)
    print(f"loaded {args.bundle}: {p.num_input_channels} in, {p.num_output_channels} out, "
          f"{p.num_output_buses} output buses, latency {p.latency_samples}")
    for b in range(p.num_output_buses):
        print(f"  output bus {b}: {p.get_bus_info(False, b)}")
    try:
        check_parameters(p, args.expect_param)
        p.close()
        for rate in (44100, 48000, 96000):
            check_audio(args.bundle, rate, args.offline, args.tolerance)
        check_params_from_another_thread(args.bundle, args.offline, args.tolerance)
        check_state(args.bundle, args.offline)
        if args.render_input and args.render_compare:
            check_render(args.bundle, args)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        check(False, f"raised {type(e).__name__}: {e}")
    emit_and_exit(1 if SUMMARY["failures"] else 0)


if __name__ == "__main__":
    main()
