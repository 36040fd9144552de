#!/usr/bin/env python3
"""Host a Prism VST3 bundle in Spotify's pedalboard and check what a DAW relies on.

Usage:
    vst3_check.py BUNDLE.vst3 [--expect-param NAME]... [--set NAME=VALUE]...
                  [--delaying --tolerance T] [--render-input IN.wav --render-compare REF.wav
                  --render-set NAME=VALUE]...

Checks (every bundle):
  * the plugin loads; its parameters are listed (attribute name, display name, unit, range);
  * reported_latency_samples == 0 (with --delaying: any latency >= 0, which pedalboard
    compensates);
  * stereo audio at 44.1 kHz (sine + noise, several buffer sizes) comes out equal to the input
    (bit-exact, or within --tolerance, default 1e-7 absolute);
  * mono audio passes through the same way (if the plugin accepts mono);
  * raw_state save -> load -> save is identical (if this pedalboard has raw_state).
Optional:
  * --render-input / --render-compare / --render-set: process IN.wav (float32) with those
    parameters set and compare the (latency-compensated) output with REF.wav (within
    --render-tolerance, after 0.1 s of parameter smoothing);
  * --expect-param NAME: a parameter with that display name (case-insensitive) must exist;
  * --set NAME=VALUE: set the parameter with that display name (found by listing, whatever
    pedalboard named the attribute) to VALUE, read it back, and re-check passthrough.

Exit codes: 0 ok, 1 a check failed, 2 usage error, 3 pedalboard/numpy missing, 4 load failed.
The last line of stdout is a JSON summary.
"""

import argparse
import sys
import traceback

from hostcheck import SUMMARY, check, emit_and_exit, read_wav_f32

SUMMARY["parameters"] = []


try:
    import numpy as np
    import pedalboard
except ImportError as e:  # pragma: no cover - environment problem
    print(
        f"missing Python dependency: {e}. Install tests/requirements.txt into the venv "
        "(cargo xtask test does this into .venv; or: python3 -m venv .venv && "
        ".venv/bin/pip install -r tests/requirements.txt), or point PRISM_VENV at a venv "
        "that has pedalboard and numpy.",
        file=sys.stderr,
    )
    SUMMARY["failures"].append(f"import: {e}")
    emit_and_exit(3)


SR = 44100.0


def test_signal(channels, seconds=2.0, seed=1234):
    n = int(SR * seconds)
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(channels):
        sine = 0.4 * np.sin(2 * np.pi * (440.0 * (1 + 0.5 * c)) * t)
        noise = 0.3 * rng.uniform(-1.0, 1.0, n)
        rows.append(sine + noise)
    return np.asarray(rows, dtype=np.float32)


TOLERANCE = 1e-7


def passthrough(plugin, x, what, buffer_size):
    try:
        y = plugin.process(x, SR, buffer_size=buffer_size, reset=True)
    except Exception as e:  # noqa: BLE001 - report any host error as a failed check
        check(False, f"{what}: process raised {type(e).__name__}: {e}")
        return False
    y = np.asarray(y)
    if not check(y.shape == x.shape, f"{what}: output shape {y.shape} == input shape {x.shape}"):
        return False
    check(bool(np.all(np.isfinite(y))), f"{what}: output is finite")
    exact = bool(np.array_equal(y, x))
    diff = float(np.max(np.abs(y.astype(np.float64) - x.astype(np.float64)))) if y.size else 0.0
    if not exact:
        idx = int(np.argmax(np.abs(y - x)))
        ch, n = divmod(idx, x.shape[1])
        print(f"  first large difference at channel {ch}, sample {n}: in {x[ch, n]!r}, out {y[ch, n]!r}")
    return check(exact or diff <= TOLERANCE,
                 f"{what}: output equals input (exact={exact}, max |diff|={diff:.3g}, tolerance {TOLERANCE:g})")


def find_param(plugin, display_name):
    """Return (attribute_name, parameter) for a display name, matching pedalboard's naming."""
    want = display_name.strip().lower()
    for attr, p in plugin.parameters.items():
        if getattr(p, "name", "").strip().lower() == want:
            return attr, p
    # pedalboard's attribute names derive from name + unit ("Gain" in dB -> gain_db).
    py = "".join(ch if ch.isalnum() else "_" for ch in want).strip("_")
    for attr, p in plugin.parameters.items():
        if attr == py or attr.startswith(py + "_"):
            return attr, p
    return None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--expect-param", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--delaying", action="store_true", help="the plugin reports a latency")
    ap.add_argument("--no-audio", action="store_true",
                    help="skip the audio checks (load, parameters, latency and state only)")
    ap.add_argument("--tolerance", type=float, default=1e-7)
    ap.add_argument("--render-input", default=None)
    ap.add_argument("--render-compare", default=None)
    ap.add_argument("--render-tolerance", type=float, default=1e-4)
    ap.add_argument("--render-skip", type=float, default=0.1,
                    help="seconds at the start of the render not compared")
    ap.add_argument("--render-set", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    global TOLERANCE
    TOLERANCE = args.tolerance
    SUMMARY["bundle"] = args.bundle
    SUMMARY["pedalboard"] = getattr(pedalboard, "__version__", "?")

    try:
        plugin = pedalboard.load_plugin(args.bundle)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        SUMMARY["failures"].append(f"load_plugin: {type(e).__name__}: {e}")
        emit_and_exit(4)
    print(f"loaded {plugin!r} (pedalboard {SUMMARY['pedalboard']})")

    print("parameters:")
    for attr, p in plugin.parameters.items():
        info = {
            "attribute": attr,
            "name": getattr(p, "name", None),
            "label": getattr(p, "label", None),
            "units": getattr(p, "units", None),
            "range": repr(getattr(p, "range", None)),
            "raw_value": getattr(p, "raw_value", None),
            "string_value": getattr(p, "string_value", None),
            "value": repr(getattr(plugin, attr, None)),
        }
        SUMMARY["parameters"].append(info)
        print(f"  {attr}: {info}")

    for name in args.expect_param:
        attr, _ = find_param(plugin, name)
        check(attr is not None, f"parameter {name!r} exists (attribute {attr!r})")

    latency = getattr(plugin, "reported_latency_samples", None)
    SUMMARY["reported_latency_samples"] = latency
    if args.delaying:
        check(isinstance(latency, int) and latency >= 0, f"reported_latency_samples >= 0 (got {latency!r})")
    else:
        check(latency == 0, f"reported_latency_samples == 0 (got {latency!r})")

    stereo = test_signal(2)
    for bs in () if args.no_audio else (64, 512, 4096):
        passthrough(plugin, stereo, f"stereo 44.1 kHz, buffer_size {bs}", bs)

    for spec in args.set:
        if "=" not in spec:
            print(f"bad --set {spec!r}, expected NAME=VALUE", file=sys.stderr)
            emit_and_exit(2)
        name, value = spec.split("=", 1)
        attr, param = find_param(plugin, name)
        if not check(attr is not None, f"parameter {name!r} found for --set"):
            continue
        try:
            target = float(value)
        except ValueError:
            target = value
        try:
            setattr(plugin, attr, target)
            got = getattr(plugin, attr)
        except Exception as e:  # noqa: BLE001
            check(False, f"setting {attr} = {target!r} raised {type(e).__name__}: {e}")
            continue
        print(f"set {attr} = {target!r} -> reads back {got!r} ({getattr(param, 'string_value', '?')!r})")
        if isinstance(target, float):
            try:
                ok = abs(float(got) - target) <= max(1e-3, abs(target) * 1e-4)
            except (TypeError, ValueError):
                ok = False
        else:
            ok = str(got).lower() == str(target).lower()
        check(ok, f"{attr} reads back {got!r} after setting {target!r}")
        passthrough(plugin, stereo, f"stereo after setting {attr}", 512)

    if args.render_input and args.render_compare and not args.no_audio:
        x, rate = read_wav_f32(args.render_input)
        ref, _ = read_wav_f32(args.render_compare)
        restore = []
        for spec in args.render_set:
            name, value = spec.split("=", 1)
            attr, _ = find_param(plugin, name)
            if attr is not None:
                restore.append((attr, getattr(plugin, attr)))
            if check(attr is not None, f"parameter {name!r} found for --render-set"):
                if value.lower() in ("true", "false"):
                    setattr(plugin, attr, value.lower() == "true")
                else:
                    try:
                        setattr(plugin, attr, float(value))
                    except (TypeError, ValueError):
                        setattr(plugin, attr, value)
                print(f"render: {attr} = {getattr(plugin, attr)!r}")
        y = np.asarray(plugin.process(x, float(rate), buffer_size=512, reset=True), dtype=np.float32)
        check(y.shape == ref.shape, f"render: output shape {y.shape} == reference {ref.shape}")
        if y.shape == ref.shape:
            skip = int(args.render_skip * rate)
            diff = float(np.max(np.abs(y[:, skip:] - ref[:, skip:])))
            rms = float(np.sqrt(np.mean(ref[:, skip:] ** 2)))
            check(rms > 1e-3 and diff <= args.render_tolerance,
                  f"render with {args.render_set} equals {args.render_compare} "
                  f"(max |diff| {diff:.3g}, reference RMS {rms:.3g}, tolerance {args.render_tolerance:g})")
        # The checks below expect the parameters as they were. The host hands the restored
        # values to the next process call, which declicks them over 5 ms: let that pass.
        for attr, value in restore:
            setattr(plugin, attr, value)
        if restore:
            plugin.process(np.zeros((2, int(0.1 * rate)), np.float32), float(rate),
                           buffer_size=512, reset=False)

    mono = test_signal(1, seconds=1.0, seed=99)
    try:
        if args.no_audio:
            raise StopIteration
        y = plugin.process(mono, SR, buffer_size=512, reset=True)
        y = np.asarray(y)
        print(f"mono input gives output shape {y.shape}")
        if y.shape == mono.shape:
            exact = bool(np.array_equal(y, mono))
            diff = float(np.max(np.abs(y - mono)))
            check(exact or diff <= TOLERANCE, f"mono passthrough (exact={exact}, max |diff|={diff:.3g})")
        else:
            check(False, f"mono input gives output shape {y.shape}, expected {mono.shape}")
    except StopIteration:
        pass
    except Exception as e:  # noqa: BLE001
        # Whether pedalboard can drive a plugin in mono depends on the plugin's bus layouts.
        check(False, f"mono processing raised {type(e).__name__}: {e}")

    if hasattr(plugin, "raw_state"):
        try:
            s1 = plugin.raw_state
            plugin.raw_state = s1
            s2 = plugin.raw_state
            check(s1 == s2, f"raw_state save -> load -> save identical ({len(s1)} bytes)")
        except Exception as e:  # noqa: BLE001
            check(False, f"raw_state round trip raised {type(e).__name__}: {e}")
    else:
        print("note: this pedalboard has no raw_state; state round trip not checked")

    emit_and_exit(1 if SUMMARY["failures"] else 0)


if __name__ == "__main__":
    main()
