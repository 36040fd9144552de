#!/usr/bin/env python3
"""Prism Pitch evaluation: f0 accuracy, voicing, tuner, latency, notes and speed of
``prism pitch`` beside pYIN, SwiftF0 and aubio on the same audio in the same run.

    .venv-eval/bin/python tests/eval/pitch_eval.py --prism target/release/prism --out target/eval/pitch [--quick]
        [--systems prism,pyin,swift,aubio] [--jobs N] [--range wide|item]

1. Renders seeded material into ``<out>/material`` (reused while the recipe hash
   matches; see ``pitch_material.py``): analytic melodies with exact f0, General-MIDI
   renders (FluidSynth, FluidR3_GM and MuseScore_General) with every note's rendered
   pitch checked, degraded copies of a subset (noise, reverb, band-limiting, detuning,
   -40 dB), and test signals (steady tones, pitch steps, isolated onsets).
2. Runs each system on every melody file, one file at a time, timing the wall clock:
   * prism:  ``prism pitch <wav> -o <csv> --midi <mid> --fmin F --fmax F -q`` (latency
     compensated CSV); on the test signals also with ``--raw-times --block N`` for
     N in 64/128/256/512 (step response and MIDI note-on latency as a live plugin emits);
   * pyin:   ``librosa.pyin`` (offline, whole-file Viterbi) at 22.05 kHz, frame 2048, hop 64
     (2.9 ms, prism's hop); its dense Viterbi is replaced by an exact banded one (same
     path; checked at start-up against librosa's own on a test clip), 12x faster;
   * swift:  SwiftF0 (``swift-f0``, ONNX, one thread), 16 kHz, hop 16 ms;
   * aubio:  ``aubio pitch -m yinfft -B 4096 -H 128`` (Debian ``aubio-tools``).
3. Scores with ``mir_eval.melody`` on each system's own grid (RPA/RCA at 50/25/10 cents,
   voicing recall / false alarm, overall accuracy), octave errors, tuner bias / jitter /
   settling, step-response and MIDI note-on latency, and ``mir_eval.transcription`` for
   prism's MIDI.
4. Writes ``report.md``, ``results.json`` and PNG plots into ``<out>``, and prints a markdown
   table for the README.

If the prism binary is missing or has no ``pitch`` subcommand, the anchors still run and
the report says prism was skipped.
"""

from __future__ import annotations

import os

# Single-threaded numerics: the speed comparison is one core against one core, and the
# machine may be busy building.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import datetime
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import warnings

import numpy as np

# mir_eval warns for every item on which a system voices nothing (e.g. at -40 dB); the
# voicing recall in the report says the same.
warnings.filterwarnings("ignore", message="Estimated melody has no voiced frames")
warnings.filterwarnings("ignore", message="Reference melody has no voiced frames")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pitch_material as pmat  # noqa: E402
import pitch_metrics as pm  # noqa: E402

DEFAULT_SEED = 20240611
SYSTEMS = ["prism", "pyin", "swift", "aubio"]
SYSTEM_TITLES = {
    "prism": "Prism (`prism pitch`, causal)",
    "pyin": "librosa pYIN (offline, Viterbi)",
    "swift": "SwiftF0 (ONNX, 176 ms look-ahead)",
    "aubio": "aubio yinfft (causal)",
}
BLOCKS = [64, 128, 256, 512]
WIDE_RANGE = (40.0, 2000.0)
PYIN_SR, PYIN_FRAME, PYIN_HOP = 22050, 2048, 64
AUBIO_HOP = 128
CLEAN_GROUPS = ["analytic", "gm"]

# EVALUATION.md "Targets for Prism" (pitch rows) and the CPU row.
TARGETS = {
    "rpa_clean": 0.98,
    "rpa_10db": 0.92,
    "octave_err": 0.005,
    "vx_recall": 0.95,
    "vx_false_alarm": 0.05,
    "tuner_bias_cents": 1.0,
    "tuner_jitter_cents": 1.0,
    "tuner_settle_s": 0.100,
    "algorithmic_latency_s": 0.020,
    "midi_onset_p95_s": 0.030,
    "rtf": 200.0,
}

log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731


# --------------------------------------------------------------------------
# prism


def prism_status(prism: str):
    """(usable, reason).  Usable = the binary exists and `prism pitch --help` exits 0."""
    p = Path(prism)
    if not p.exists():
        return False, f"binary not found: {prism}"
    try:
        r = subprocess.run([prism, "pitch", "--help"], capture_output=True, text=True, timeout=30)
    except Exception as exc:  # noqa: BLE001
        return False, f"`{prism} pitch --help` failed: {exc}"
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().splitlines()
        return False, f"`prism pitch --help` exited {r.returncode}: {msg[0] if msg else ''}"
    return True, ""


def prism_version(prism: str) -> str:
    try:
        p = subprocess.run([prism, "--version"], capture_output=True, text=True, timeout=20)
        s = (p.stdout or p.stderr).strip()
        return s.splitlines()[0] if s else "?"
    except Exception as exc:  # noqa: BLE001
        return f"? ({exc})"


def read_prism_csv(path: Path):
    """``time_s,frequency_hz,confidence,voiced`` -> arrays (extra columns ignored)."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        it, ifr = header.index("time_s"), header.index("frequency_hz")
        ic = header.index("confidence") if "confidence" in header else None
        iv = header.index("voiced")
        t, f, c, v = [], [], [], []
        for row in reader:
            if not row or not row[0].strip():
                continue
            t.append(float(row[it]))
            f.append(float(row[ifr]))
            c.append(float(row[ic]) if ic is not None else 1.0)
            s = row[iv].strip().lower()
            v.append(s in ("1", "true", "yes", "1.0"))
    return np.array(t), np.array(f), np.array(c), np.array(v, dtype=bool)


def run_prism(prism, wav, runs: Path, tag, fmin, fmax, block=None, raw=False, midi=True, png=None, extra=()):
    csv_path = runs / f"{tag}.prism.csv"
    cmd = [prism, "pitch", str(wav), "-o", str(csv_path), "--fmin", f"{fmin:g}", "--fmax", f"{fmax:g}", "-q"]
    mid_path = None
    if midi:
        mid_path = runs / f"{tag}.prism.mid"
        cmd += ["--midi", str(mid_path)]
    if block:
        cmd += ["--block", str(block)]
    if raw:
        cmd += ["--raw-times"]
    if png:
        cmd += ["--png", str(png)]
    cmd += list(extra)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-1500:]}")
    t, f, c, v = read_prism_csv(csv_path)
    out = {"times": t, "f0": f, "conf": c, "voiced": v, "wall_s": wall, "cmd": shlex.join(cmd)}
    if mid_path is not None:
        out["notes"] = pm.read_midi_notes(mid_path) if mid_path.exists() else []
        out["midi_path"] = str(mid_path)
    return out


# --------------------------------------------------------------------------
# pYIN with an exact banded Viterbi


_VITERBI_STATS = {"calls": 0, "fallback_cells": 0}


def _numba_viterbi():
    import numba

    @numba.njit(cache=False)
    def sparse_viterbi(log_prob, indptr, indices, vals, log_floor, log_p_init, top_m):
        """librosa's ``_viterbi`` restricted to the transition band, exactly: for state j the
        winner is the larger of (a) the best in-band predecessor and (b) the best predecessor
        outside the band, whose transition is log(0 + tiny) = ``log_floor`` for all of them,
        so (b) is the first entry outside the band in the order (-value, index); ties go to
        the lower index, as np.argmax does."""
        n_steps, n_states = log_prob.shape
        value_prev = log_prob[0] + log_p_init
        value = np.empty(n_states)
        ptr = np.zeros((n_steps, n_states), dtype=np.uint16)
        mark = np.zeros(n_states, dtype=np.bool_)
        fallbacks = 0
        for t in range(1, n_steps):
            order = np.argsort(-value_prev, kind="mergesort")[:top_m]
            for j in range(n_states):
                best = -np.inf
                arg = 0
                for q in range(indptr[j], indptr[j + 1]):
                    i = indices[q]
                    mark[i] = True
                    v = value_prev[i] + vals[q]
                    if v > best:
                        best = v
                        arg = i
                found = False
                for q in range(top_m):
                    i = order[q]
                    if not mark[i]:
                        found = True
                        v = value_prev[i] + log_floor
                        if v > best or (v == best and i < arg):
                            best = v
                            arg = i
                        break
                if not found:  # band covers the whole top list: cannot happen with top_m > band
                    fallbacks += 1
                    for i in range(n_states):
                        if not mark[i]:
                            v = value_prev[i] + log_floor
                            if v > best or (v == best and i < arg):
                                best = v
                                arg = i
                for q in range(indptr[j], indptr[j + 1]):
                    mark[indices[q]] = False
                ptr[t, j] = arg
                value[j] = log_prob[t, j] + best
            value_prev[:] = value
        state = np.zeros(n_steps, dtype=np.uint16)
        best = value_prev[0]
        arg = 0
        for i in range(1, n_states):
            if value_prev[i] > best:
                best = value_prev[i]
                arg = i
        state[n_steps - 1] = arg
        for t in range(n_steps - 2, -1, -1):
            state[t] = ptr[t + 1, state[t + 1]]
        return state, fallbacks

    return sparse_viterbi


_SPARSE = None


def banded_viterbi(prob, transition, *, p_init=None, return_logp=False):
    """Drop-in for ``librosa.sequence.viterbi`` as pyin calls it: identical arithmetic
    (log(x + tiny)), identical tie-breaking, but only the transition matrix's non-zero band
    is visited (with an exact fallback)."""
    global _SPARSE
    from librosa.util import tiny

    if return_logp:
        raise NotImplementedError
    if prob.ndim > 2:
        flat = prob.reshape((-1,) + prob.shape[-2:])
        out = np.stack([banded_viterbi(p, transition, p_init=p_init) for p in flat])
        return out.reshape(prob.shape[:-2] + (prob.shape[-1],))
    if _SPARSE is None:
        _SPARSE = _numba_viterbi()
    n_states = prob.shape[0]
    eps = tiny(prob)
    if p_init is None:
        p_init = np.full(n_states, 1.0 / n_states)
    log_trans = np.log(transition + eps)
    log_prob = np.log(prob + eps)
    log_p_init = np.log(p_init + eps)
    nz = transition.T > 0
    counts = nz.sum(1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows, cols = np.nonzero(nz)
    floor = float(np.log(0.0 + eps))
    assert np.all(log_trans[~nz.T] == floor)
    state, fb = _SPARSE(np.ascontiguousarray(log_prob.T), indptr, cols.astype(np.int64),
                        log_trans[cols, rows], floor, log_p_init, int(min(n_states, counts.max() + 1)))
    _VITERBI_STATS["calls"] += 1
    _VITERBI_STATS["fallback_cells"] += int(fb)
    return state


_PYIN_STOCK = False


def run_pyin(wav, fmin, fmax):
    import librosa
    import librosa.sequence
    import soundfile as sf

    t0 = time.perf_counter()
    y, sr = sf.read(wav, dtype="float32")
    y = librosa.resample(y, orig_sr=sr, target_sr=PYIN_SR, res_type="soxr_hq")
    stock = librosa.sequence.viterbi
    if not _PYIN_STOCK:
        librosa.sequence.viterbi = banded_viterbi
    try:
        f0, vflag, vprob = librosa.pyin(y, fmin=fmin, fmax=fmax, sr=PYIN_SR, frame_length=PYIN_FRAME,
                                        hop_length=PYIN_HOP, fill_na=None)
    finally:
        librosa.sequence.viterbi = stock
    wall = time.perf_counter() - t0
    times = np.arange(len(f0)) * PYIN_HOP / PYIN_SR  # centred frames
    return {"times": times, "f0": np.asarray(f0, dtype=float), "voiced": np.asarray(vflag, dtype=bool),
            "conf": np.asarray(vprob, dtype=float), "wall_s": wall}


def verify_banded_pyin():
    """librosa's own pyin and the banded one on a 2 s vibrato / jump / noise clip: the f0,
    voicing and probabilities must be identical."""
    import librosa
    import librosa.sequence

    sr = PYIN_SR
    rng = np.random.default_rng(5)
    t = np.arange(int(2.0 * sr)) / sr
    f = np.where(t < 1.1, 180.0 * 2 ** (60 * np.sin(2 * np.pi * 5.5 * t) / 1200), 415.0)
    ph = np.cumsum(f) / sr
    y = sum(np.sin(2 * np.pi * k * ph) / k for k in range(1, 12)) * 0.3
    y[t < 0.3] = 0
    y = (y + 0.01 * rng.standard_normal(len(y))).astype(np.float32)
    kw = dict(fmin=60.0, fmax=1000.0, sr=sr, frame_length=PYIN_FRAME, hop_length=PYIN_HOP, fill_na=None)
    stock = librosa.sequence.viterbi
    librosa.sequence.viterbi = banded_viterbi
    try:  # compile the numba function outside the timing
        librosa.pyin(y[: sr // 4], **kw)
    finally:
        librosa.sequence.viterbi = stock
    t0 = time.perf_counter()
    a = librosa.pyin(y, **kw)
    stock_s = time.perf_counter() - t0
    librosa.sequence.viterbi = banded_viterbi
    try:
        t0 = time.perf_counter()
        b = librosa.pyin(y, **kw)
        fast_s = time.perf_counter() - t0
    finally:
        librosa.sequence.viterbi = stock
    same = all(np.array_equal(x, z) for x, z in zip(a, b))
    return {"identical": bool(same), "stock_s": stock_s, "banded_s": fast_s, "clip_s": 2.0,
            "range_hz": [60, 1000]}


# --------------------------------------------------------------------------
# SwiftF0 and aubio

_SWIFT = None


def run_swift(wav, fmin, fmax):
    global _SWIFT
    import soundfile as sf
    from swift_f0 import FMAX, FMIN, SwiftF0

    if _SWIFT is None:
        _SWIFT = SwiftF0(threads=1)
    t0 = time.perf_counter()
    y, sr = sf.read(wav, dtype="float32")
    r = _SWIFT.detect(y, sr, fmin=max(fmin, FMIN), fmax=min(fmax, FMAX))
    wall = time.perf_counter() - t0
    return {"times": r.timestamps, "f0": r.pitch_hz, "voiced": r.confidence >= 0.5, "conf": r.confidence,
            "wall_s": wall}


def aubio_buf(fmin):
    return 4096 if fmin < 50 else 2048


def run_aubio(wav, fmin, fmax):
    buf = aubio_buf(fmin)
    cmd = ["aubio", "pitch", "-i", str(wav), "-r", str(pmat.SR), "-B", str(buf), "-H", str(AUBIO_HOP),
           "-m", "yinfft", "-u", "Hz"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}: {proc.stderr[-800:]}")
    rows = [ln.split() for ln in proc.stdout.splitlines() if ln.strip()]
    a = np.array([[float(r[0]), float(r[1])] for r in rows if len(r) >= 2])
    # aubio stamps the start of the hop it just read; its window ends with that hop, so the
    # window's centre is stamp + hop - buf/2.  The live emission time is the hop's end.
    centre = a[:, 0] + (AUBIO_HOP - buf / 2) / pmat.SR
    emit = a[:, 0] + AUBIO_HOP / pmat.SR
    f = a[:, 1]
    return {"times": centre, "emit_times": emit, "f0": f, "voiced": f > 0, "conf": (f > 0).astype(float),
            "wall_s": wall}


RUNNERS = {"pyin": run_pyin, "swift": run_swift, "aubio": run_aubio}


# --------------------------------------------------------------------------
# Per item


def anchor_status(system):
    """(usable, reason) for an anchor: its package or tool must be installed."""
    if system == "swift":
        try:
            import swift_f0  # noqa: F401
        except ImportError as exc:
            return False, f"swift-f0 not installed ({exc}); pip install -r tests/eval/requirements.txt"
    elif system == "aubio":
        import shutil

        if shutil.which("aubio") is None:
            return False, "the `aubio` command is missing (apt-get install aubio-tools)"
    elif system == "pyin":
        try:
            import librosa  # noqa: F401
            import numba  # noqa: F401
        except ImportError as exc:
            return False, f"librosa/numba not installed ({exc})"
    return True, ""


def item_range(item, mode):
    if mode == "wide":
        return WIDE_RANGE
    lo = max(WIDE_RANGE[0], 0.8 * float(item["f_lo"]))
    hi = min(WIDE_RANGE[1], 1.25 * float(item["f_hi"]))
    return lo, hi


def _run_signature(ctx, system, fmin, fmax):
    import hashlib

    sig = {"system": system, "fmin": fmin, "fmax": fmax, "material": ctx["material_hash"]}
    if system == "prism":
        st = Path(ctx["prism"]).stat()
        sig.update(prism=ctx["prism"], size=st.st_size, mtime=st.st_mtime_ns, args=ctx["prism_args"])
    elif system == "pyin":
        sig.update(stock=_PYIN_STOCK, sr=PYIN_SR, frame=PYIN_FRAME, hop=PYIN_HOP)
    elif system == "aubio":
        sig.update(buf=aubio_buf(fmin), hop=AUBIO_HOP)
    return hashlib.sha256(json.dumps(sig, sort_keys=True).encode()).hexdigest()[:16]


_ARRAYS = ("times", "f0", "voiced", "conf", "emit_times")


def run_system(ctx, s, it, fmin, fmax):
    """One system on one item; with --reuse-runs, a previous run with the same material,
    settings (and prism binary) is loaded from <out>/cache instead."""
    base = Path(ctx["runs"]).parent / "cache" / s / f"{it['name']}.{_run_signature(ctx, s, fmin, fmax)}"
    npz, meta = base.with_suffix(".npz"), base.with_suffix(".json")
    if ctx.get("reuse") and npz.exists() and meta.exists():
        with np.load(npz) as z:
            out = {k: z[k] for k in z.files}
        out["voiced"] = out["voiced"].astype(bool)
        d = json.loads(meta.read_text())
        out["wall_s"] = d["wall_s"]
        if d.get("notes") is not None:
            out["notes"] = [tuple(n) for n in d["notes"]]
        out["cached"] = True
        return out
    if s == "prism":
        out = run_prism(ctx["prism"], it["wav"], Path(ctx["runs"]), it["name"], fmin, fmax, extra=ctx["prism_args"])
    else:
        out = RUNNERS[s](it["wav"], fmin, fmax)
    npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(npz, **{k: np.asarray(out[k]) for k in _ARRAYS if k in out})
    meta.write_text(json.dumps(jsonable({"wall_s": out["wall_s"], "notes": out.get("notes")})))
    return out


def score_item(job):
    """Runs every wanted system on one melody item and scores it.  Returns (record, arrays,
    traces): arrays = {system: (ref_v, ref_c, est_v, est_c)} for pooling."""
    it, ctx = job
    fmin, fmax = item_range(it, ctx["range"])
    rec = {"name": it["name"], "group": it["group"], "kind": it["kind"], "audio_s": it["duration_s"],
           "meta": it["meta"], "range_hz": [fmin, fmax], "systems": {}}
    arrays, traces = {}, {}
    ref_notes, bad_notes = pmat.truth_notes(it, onset="acoustic")
    ref_midi, bad_midi = pmat.truth_notes(it, onset="midi")
    for s in ctx["systems"]:
        try:
            out = run_system(ctx, s, it, fmin, fmax)
        except Exception as exc:  # noqa: BLE001
            rec["systems"][s] = {"error": str(exc)[-1500:]}
            log(f"ERROR {s} on {it['name']}: {str(exc).splitlines()[0] if str(exc) else exc}")
            continue
        rv, rc, ev, ec = pm.frames_vs_truth(it, out["times"], out["f0"], out["voiced"], pmat.truth_at)
        m = pm.melody_scores(rv, rc, ev, ec)
        r = {"metrics": m, "wall_s": out["wall_s"], "n_frames": int(len(out["times"])), "cached": bool(out.get("cached")),
             "hop_s": float(np.median(np.diff(out["times"]))) if len(out["times"]) > 1 else None}
        if it["group"] in CLEAN_GROUPS:
            lag, at0, best = pm.timing_offset(it, out["times"], out["f0"], out["voiced"], pmat.truth_at)
            r["timing"] = {"best_lag_s": lag, "rpa25_at_0": at0, "rpa25_best": best}
        if "notes" in out:
            est = [(a, b, hz) for a, b, _, hz in out["notes"]]
            r["notes"] = pm.note_matches(ref_notes, est, excluded=bad_notes)
            r["notes_midi"] = pm.note_matches(ref_midi, est, excluded=bad_midi)
        rec["systems"][s] = r
        arrays[s] = (rv.astype(np.int8), rc.astype(np.float32), ev.astype(np.int8), ec.astype(np.float32))
        if it["name"] in ctx.get("trace_items", ()):
            traces[s] = {"times": out["times"], "f0": out["f0"], "voiced": out["voiced"]}
    return rec, arrays, traces


def pool(records, arrays, group_filter, systems):
    """Frame-pooled metrics over the records whose group passes ``group_filter``."""
    out = {}
    for s in systems:
        parts = [arrays[r["name"]][s] for r in records if group_filter(r["group"]) and s in arrays.get(r["name"], {})]
        if not parts:
            continue
        rv = np.concatenate([p[0] for p in parts]).astype(float)
        rc = np.concatenate([p[1] for p in parts]).astype(float)
        ev = np.concatenate([p[2] for p in parts]).astype(float)
        ec = np.concatenate([p[3] for p in parts]).astype(float)
        m = pm.melody_scores(rv, rc, ev, ec)
        sel = [r for r in records if group_filter(r["group"])]
        ok = [r for r in sel if s in r["systems"] and "error" not in r["systems"][s]]
        m["items"] = len(ok)
        m["failed"] = len(sel) - len(ok)
        m["audio_s"] = float(sum(r["audio_s"] for r in ok))
        walls = [r["systems"][s]["wall_s"] for r in ok]
        m["wall_s"] = float(sum(walls))
        m["rtf"] = m["audio_s"] / m["wall_s"] if m["wall_s"] > 0 else float("nan")
        for key in ("notes", "notes_midi"):
            nts = [r["systems"][s][key] for r in ok if key in r["systems"][s]]
            if not nts:
                continue
            n_ref = sum(n["n_ref"] for n in nts)
            n_est = sum(n["n_est"] for n in nts)
            m_on = sum(n["match_onset"] for n in nts)
            m_off = sum(n["match_offset"] for n in nts)
            p, rr, f = pm.prf(m_on, n_ref, n_est)
            po, ro, fo = pm.prf(m_off, n_ref, n_est)
            diffs = [d for n in nts for d in n["onset_diffs"]]
            m[key] = {"n_ref": n_ref, "n_est": n_est, "P": p, "R": rr, "F": f, "P_off": po, "R_off": ro,
                      "F_off": fo,
                      "onset_lag_median_s": float(np.median(diffs)) if diffs else float("nan"),
                      "onset_lag_p95_s": float(np.percentile(diffs, 95)) if diffs else float("nan")}
        tims = [r["systems"][s]["timing"] for r in ok if "timing" in r["systems"][s]]
        if tims:
            lags = [t["best_lag_s"] for t in tims if np.isfinite(t["best_lag_s"])]
            m["timing_lag_median_s"] = float(np.median(lags)) if lags else float("nan")
        out[s] = m
    return out


# --------------------------------------------------------------------------
# Test signals


def run_tests(man, systems, prism, prism_ok, runs: Path, blocks, prism_args):
    """Tuner (steady), step response (steps), MIDI note-on latency (onsets)."""
    tests = man["tests"]
    res = {"tuner": {}, "steps": {}, "onsets": {}, "traces": {}}
    fmin, fmax = WIDE_RANGE
    steady, steps = tests["steady"], tests["steps"]
    step_ev = [tuple(s) for s in steps["steps"]]
    tones = [tuple(t) for t in steady["tones"]]
    for s in systems:
        try:
            if s == "prism":
                if not prism_ok:
                    continue
                o = run_prism(prism, steady["wav"], runs, "steady", fmin, fmax, midi=False, extra=prism_args)
                o_raw = run_prism(prism, steady["wav"], runs, "steady.raw", fmin, fmax, midi=False, raw=True,
                                  extra=prism_args)
            else:
                o = RUNNERS[s](steady["wav"], fmin, fmax)
                o_raw = None
            rows = pm.tuner_scores(o["times"], o["f0"], tones)
            res["tuner"][s] = {"summary": pm.tuner_summary(rows), "tones": rows}
            if o_raw is not None:
                rows_raw = pm.tuner_scores(o_raw["times"], o_raw["f0"], tones)
                res["tuner"][s]["summary_raw_times"] = pm.tuner_summary(rows_raw)
            res["traces"][f"steady/{s}"] = {"times": o["times"], "f0": o["f0"]}
        except Exception as exc:  # noqa: BLE001
            res["tuner"][s] = {"error": str(exc)[-1500:]}
            log(f"ERROR {s} on steady: {exc}")
        # step response
        try:
            if s == "prism":
                o = run_prism(prism, steps["wav"], runs, "steps", fmin, fmax, midi=False, extra=prism_args)
                r = {"compensated": pm.latency_summary(pm.step_latencies(o["times"], o["f0"], step_ev))}
                comp_times = o["times"]
                for b in blocks:
                    ob = run_prism(prism, steps["wav"], runs, f"steps.block{b}", fmin, fmax, midi=False,
                                   raw=True, block=b, extra=prism_args)
                    lats = pm.step_latencies(ob["times"], ob["f0"], step_ev)
                    r[f"block{b}"] = pm.latency_summary(lats)
                    r[f"block{b}"]["all"] = lats
                    if len(ob["times"]) == len(comp_times):
                        r[f"block{b}"]["reported_latency_s"] = float(np.median(ob["times"] - comp_times))
                    elif len(ob["times"]) and len(comp_times):
                        # rows differ (e.g. flushed tail): align by index from the start
                        n = min(len(ob["times"]), len(comp_times))
                        r[f"block{b}"]["reported_latency_s"] = float(np.median(ob["times"][:n] - comp_times[:n]))
                res["steps"][s] = r
            else:
                o = RUNNERS[s](steps["wav"], fmin, fmax)
                r = {"compensated": pm.latency_summary(pm.step_latencies(o["times"], o["f0"], step_ev))}
                if "emit_times" in o:
                    lats = pm.step_latencies(o["emit_times"], o["f0"], step_ev)
                    r["emit"] = pm.latency_summary(lats)
                    r["emit"]["all"] = lats
                res["steps"][s] = r
        except Exception as exc:  # noqa: BLE001
            res["steps"][s] = {"error": str(exc)[-1500:]}
            log(f"ERROR {s} on steps: {exc}")
    # MIDI note-on latency (prism only)
    if "prism" in systems and prism_ok:
        onset_files = [("analytic", tests["onsets"])] + [(k.replace("onsets_", ""), v) for k, v in tests.items()
                                                         if k.startswith("onsets_gm_")]
        for blk in [None] + list(blocks):
            key = "default" if blk is None else f"block{blk}"
            row = {}
            for label, tst in onset_files:
                try:
                    o = run_prism(prism, tst["wav"], runs, f"onsets_{label}.{key}", fmin, fmax, midi=True,
                                  raw=True, block=blk, extra=prism_args)
                except Exception as exc:  # noqa: BLE001
                    row[label] = {"error": str(exc)[-1500:]}
                    log(f"ERROR prism on onsets {label} {key}: {exc}")
                    continue
                if label == "analytic":
                    ev = [(e[0], e[2]) for e in tst["events"]]
                    attacks = [e[3] for e in tst["events"]]
                else:
                    use = [e for e in tst["events"] if e["ok"]]
                    ev = [(e["acoustic_on"], e["midi"]) for e in use]
                    attacks = [None] * len(ev)
                lats, pok, right, extra = pm.onset_latencies(o["notes"], ev)
                # notes per event window: > 1 means the onset was split or retriggered
                row[label] = {"summary": pm.latency_summary(lats), "all": lats, "pitch_ok": pok,
                              "pitch_ok_fraction": float(np.mean(pok)) if pok else float("nan"),
                              "right_note": pm.latency_summary(right), "right_all": right,
                              "notes_per_event": len(o["notes"]) / max(1, len(ev)),
                              "stray_notes": extra, "attacks_ms": attacks}
            allv = [x for v in row.values() if "all" in v for x in v["all"]]
            row["pooled"] = pm.latency_summary(allv)
            row["pooled"]["right_note"] = pm.latency_summary([x for v in row.values() if "right_all" in v
                                                               for x in v["right_all"]])
            n_ev = sum(len(v["all"]) for k, v in row.items() if k != "pooled" and "all" in v)
            n_notes = sum(v["notes_per_event"] * len(v["all"]) for k, v in row.items() if k != "pooled" and "all" in v)
            row["pooled"]["notes_per_event"] = n_notes / max(1, n_ev)
            row["pooled"]["pitch_ok_fraction"] = float(np.mean([x for v in row.values() if "pitch_ok" in v
                                                                for x in v["pitch_ok"]] or [np.nan]))
            row["pooled"]["stray_notes"] = int(sum(v.get("stray_notes", 0) for v in row.values()
                                                   if isinstance(v, dict)))
            res["onsets"][key] = row
    return res


# --------------------------------------------------------------------------
# Formatting


def fmt(x, nd=3, unit=""):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    x = float(x)
    if np.isnan(x):
        return "–"
    if np.isinf(x):
        return "∞"
    return f"{x:.{nd}f}{unit}"


def pct(x, nd=2):
    if x is None or not np.isfinite(x):
        return "–"
    return f"{100 * x:.{nd}f} %"


def ms(x, nd=1):
    if x is None:
        return "–"
    x = float(x)
    if np.isnan(x):
        return "–"
    if np.isinf(x):
        return "∞"
    return f"{1000 * x:.{nd}f} ms"


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        if np.isnan(x):
            return None
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    return x


def group_order(groups):
    order = CLEAN_GROUPS + list(pmat.DEGRADATIONS)
    return sorted(groups, key=lambda g: order.index(g) if g in order else 99)


GROUP_TITLES = {"analytic": "analytic (clean)", "gm": "General MIDI (clean)", "clean": "clean (analytic + GM)",
                "snr10": "10 dB SNR (white + pink)", "all": "all material"}


def metrics_table(agg: dict, systems) -> str:
    head = ("| system | RPA 50 / 25 / 10 | RCA 50 | voicing recall | false alarm | OA | octave err "
            "| median \\|err\\| | frames (voiced / unvoiced) |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for s in systems:
        a = agg.get(s)
        if not a:
            continue
        lines.append(
            f"| {SYSTEM_TITLES[s]} | {fmt(a.get('rpa50'))} / {fmt(a.get('rpa25'))} / {fmt(a.get('rpa10'))} "
            f"| {fmt(a.get('rca50'))} | {fmt(a.get('vx_recall'))} | {fmt(a.get('vx_false_alarm'))} "
            f"| {fmt(a.get('oa'))} | {pct(a.get('octave_err'))} | {fmt(a.get('median_abs_cents'), 1, ' c')} "
            f"| {a.get('voiced_frames', 0)} / {a.get('unvoiced_frames', 0)} |")
    return "\n".join(lines)


def condition_matrix(by_group, systems, key="rpa50", f=fmt) -> str:
    groups = [g for g in group_order([g for g in by_group if g not in ("clean", "all", "snr10")])]
    lines = ["| condition | " + " | ".join(s for s in systems) + " |", "|---|" + "---|" * len(systems)]
    for g in groups + ["clean", "all"]:
        if g not in by_group:
            continue
        cells = [f(by_group[g].get(s, {}).get(key)) if s in by_group[g] else "–" for s in systems]
        lines.append(f"| {GROUP_TITLES.get(g, g)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_rows(by_group, tests, systems_run, prism_ok):
    p = by_group.get("clean", {}).get("prism", {}) if prism_ok else {}
    p10 = by_group.get("snr10", {}).get("prism", {}) if prism_ok else {}
    py = by_group.get("clean", {}).get("pyin", {})
    rows = []

    def add(metric, target, value_str, passed, margin):
        rows.append({"metric": metric, "target": target, "prism": value_str,
                     "pass": None if passed is None else bool(passed), "margin": margin})

    def val(d, k):
        return d.get(k, float("nan")) if d else float("nan")

    v = val(p, "rpa50")
    pyv = val(py, "rpa50")
    add("pitch RPA@50, clean (analytic + GM)", "≥ 0.98 and ≥ pYIN", fmt(v) + (f" (pYIN {fmt(pyv)})" if np.isfinite(pyv) else ""),
        None if not np.isfinite(v) else (v >= TARGETS["rpa_clean"] and (not np.isfinite(pyv) or v >= pyv)),
        f"{v - TARGETS['rpa_clean']:+.3f} vs 0.98" + (f", {v - pyv:+.3f} vs pYIN" if np.isfinite(pyv) else "")
        if np.isfinite(v) else "–")
    v = val(p10, "rpa50")
    add("pitch RPA@50 at 10 dB SNR (white + pink)", "≥ 0.92", fmt(v),
        None if not np.isfinite(v) else v >= TARGETS["rpa_10db"], f"{v - TARGETS['rpa_10db']:+.3f}" if np.isfinite(v) else "–")
    v = val(p, "octave_err")
    add("octave errors, clean (share of voiced frames)", "≤ 0.5 %", pct(v),
        None if not np.isfinite(v) else v <= TARGETS["octave_err"],
        f"{100 * (TARGETS['octave_err'] - v):+.2f} points" if np.isfinite(v) else "–")
    v = val(p, "vx_recall")
    add("voicing recall, clean", "≥ 0.95", fmt(v), None if not np.isfinite(v) else v >= TARGETS["vx_recall"],
        f"{v - TARGETS['vx_recall']:+.3f}" if np.isfinite(v) else "–")
    v = val(p, "vx_false_alarm")
    add("voicing false alarm, clean", "≤ 0.05", fmt(v), None if not np.isfinite(v) else v <= TARGETS["vx_false_alarm"],
        f"{TARGETS['vx_false_alarm'] - v:+.3f}" if np.isfinite(v) else "–")
    tu = tests.get("tuner", {}).get("prism", {}).get("summary", {}) if prism_ok else {}
    v = tu.get("abs_bias_p95", float("nan"))
    add("tuner bias (p95 of \\|bias\\| over the steady tones)", "≤ 1 cent", fmt(v, 2, " c"),
        None if not np.isfinite(v) else v <= TARGETS["tuner_bias_cents"],
        f"{TARGETS['tuner_bias_cents'] - v:+.2f} c" if np.isfinite(v) else "–")
    v = tu.get("jitter_p95", float("nan"))
    add("tuner jitter (p95 of per-tone std)", "≤ 1 cent", fmt(v, 2, " c"),
        None if not np.isfinite(v) else v <= TARGETS["tuner_jitter_cents"],
        f"{TARGETS['tuner_jitter_cents'] - v:+.2f} c" if np.isfinite(v) else "–")
    tr = tests.get("tuner", {}).get("prism", {}).get("summary_raw_times", tu) if prism_ok else {}
    v = tr.get("settle_p95_s", float("nan"))
    add("tuner settle within ±1 cent (p95, live time stamps)", "≤ 100 ms", ms(v),
        None if (not tr) else v <= TARGETS["tuner_settle_s"],
        f"{1000 * (TARGETS['tuner_settle_s'] - v):+.0f} ms" if np.isfinite(v) else ("never settles" if tr else "–"))
    st = tests.get("steps", {}).get("prism", {}) if prism_ok else {}
    b64 = st.get("block64", {})
    v = b64.get("p50_s", float("nan"))
    add("algorithmic latency: step response (50 cents) p50, block 64, live time stamps", "≤ 20 ms", ms(v),
        None if not np.isfinite(v) else v <= TARGETS["algorithmic_latency_s"],
        f"{1000 * (TARGETS['algorithmic_latency_s'] - v):+.1f} ms" if np.isfinite(v) else "–")
    v = b64.get("reported_latency_s", float("nan"))
    add("declared latency: live − compensated time stamps (median), block 64", "≤ 20 ms", ms(v),
        None if not np.isfinite(v) else v <= TARGETS["algorithmic_latency_s"],
        f"{1000 * (TARGETS['algorithmic_latency_s'] - v):+.1f} ms" if np.isfinite(v) else "–")
    on = tests.get("onsets", {}) if prism_ok else {}
    worst, worst_b = float("nan"), None
    for b in BLOCKS:
        x = on.get(f"block{b}", {}).get("pooled", {}).get("right_note", {}).get("p95_all_s", float("nan"))
        if np.isfinite(x) or x == np.inf:
            if not np.isfinite(worst) or x > worst:
                worst, worst_b = x, b
    add("MIDI note-on of the right note − acoustic onset, p95 (misses count as late), worst of blocks 64–512",
        "≤ 30 ms", ms(worst) + (f" (block {worst_b})" if worst_b else ""),
        None if worst_b is None else worst <= TARGETS["midi_onset_p95_s"],
        f"{1000 * (TARGETS['midi_onset_p95_s'] - worst):+.1f} ms" if np.isfinite(worst) else ("misses" if worst_b else "–"))
    rt = by_group.get("all", {}).get("prism", {}).get("rtf", float("nan")) if prism_ok else float("nan")
    add("CPU: `prism pitch` whole-CLI speed (decode + analysis + CSV + MIDI)", "≥ 200x RT",
        f"{rt:.0f}x" if np.isfinite(rt) else "–", None if not np.isfinite(rt) else rt >= TARGETS["rtf"],
        f"{rt / TARGETS['rtf']:.2f}x the target" if np.isfinite(rt) else "–")
    return rows


# --------------------------------------------------------------------------
# Plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_conditions(path, by_group, systems):
    plt = _plt()
    groups = group_order([g for g in by_group if g not in ("clean", "all", "snr10")])
    fig, axes = plt.subplots(3, 1, figsize=(14, 9), sharex=True)
    width = 0.8 / max(1, len(systems))
    x = np.arange(len(groups))
    for k, s in enumerate(systems):
        off = (k - (len(systems) - 1) / 2) * width
        for ax, key in zip(axes, ("rpa50", "vx_false_alarm", "octave_err")):
            vals = [by_group[g].get(s, {}).get(key, np.nan) for g in groups]
            vals = [v if v is not None and np.isfinite(v) else np.nan for v in vals]
            ax.bar(x + off, vals, width, label=s)
    axes[0].axhline(TARGETS["rpa_clean"], color="k", ls="--", lw=0.8)
    axes[0].axhline(TARGETS["rpa_10db"], color="gray", ls=":", lw=0.8)
    axes[0].set_ylim(0, 1.01)
    axes[0].set_ylabel("RPA @ 50 cents")
    axes[1].axhline(TARGETS["vx_false_alarm"], color="k", ls="--", lw=0.8)
    axes[1].set_ylabel("voicing false alarm")
    axes[2].axhline(TARGETS["octave_err"], color="k", ls="--", lw=0.8)
    axes[2].set_ylabel("octave errors")
    axes[2].set_xticks(x)
    axes[2].set_xticklabels(groups, rotation=45, ha="right", fontsize=8)
    axes[0].legend(fontsize=8, ncol=len(systems), loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_trace(path, item, traces, systems):
    plt = _plt()
    dur = item["duration_s"]
    t = np.arange(0, dur, 0.001)
    f_ref, st = pmat.truth_at(item, t)
    fig, axes = plt.subplots(len(systems), 1, figsize=(13, 2.2 * len(systems)), sharex=True, sharey=True)
    axes = np.atleast_1d(axes)
    ref_m = np.where((st == 1) & (f_ref > 0), 69 + 12 * np.log2(np.maximum(f_ref, 1e-3) / 440), np.nan)
    msk = np.where((st == -1) & (f_ref > 0), 69 + 12 * np.log2(np.maximum(f_ref, 1e-3) / 440), np.nan)
    lo, hi = np.nanmin(ref_m) - 7, np.nanmax(ref_m) + 7
    for ax, s in zip(axes, systems):
        ax.plot(t, ref_m, color="0.6", lw=4, alpha=0.6, label="truth (scored)")
        ax.plot(t, msk, color="0.85", lw=4, alpha=0.6, label="truth (masked)")
        tr = traces.get(s)
        if tr is not None:
            f = np.asarray(tr["f0"], dtype=float)
            m = np.where(f > 0, 69 + 12 * np.log2(np.maximum(f, 1e-3) / 440), np.nan)
            v = np.asarray(tr["voiced"], dtype=bool)
            ax.plot(tr["times"], np.where(v, m, np.nan), ".", ms=1.5, color="C3", label="voiced")
            ax.plot(tr["times"], np.where(~v, m, np.nan), ".", ms=1.0, color="C0", alpha=0.4, label="unvoiced")
        ax.set_title(s, fontsize=9, loc="left")
        ax.set_ylim(lo, hi)
        ax.set_ylabel("MIDI")
    axes[0].legend(fontsize=7, loc="upper right", ncol=4)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"{item['name']} ({item['group']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency(path, tests):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    st = tests.get("steps", {}).get("prism", {})
    for b in BLOCKS:
        lats = np.array(st.get(f"block{b}", {}).get("all", []), dtype=float)
        if len(lats):
            x = np.sort(np.where(np.isfinite(lats), lats, 1.0))
            axes[0].step(1000 * x, np.arange(1, len(x) + 1) / len(x), where="post", label=f"prism block {b}")
    au = tests.get("steps", {}).get("aubio", {}).get("emit", {})
    if au.get("all"):
        lats = np.array(au["all"], dtype=float)
        x = np.sort(np.where(np.isfinite(lats), lats, 1.0))
        axes[0].step(1000 * x, np.arange(1, len(x) + 1) / len(x), where="post", ls="--", label="aubio (emit)")
    axes[0].axvline(1000 * TARGETS["algorithmic_latency_s"], color="k", ls="--", lw=0.8)
    axes[0].set_xlim(-5, 120)
    axes[0].set_xlabel("pitch step → output within 50 cents (ms)")
    axes[0].set_ylabel("fraction of steps")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    on = tests.get("onsets", {})
    for b in BLOCKS:
        row = on.get(f"block{b}", {})
        allv = np.array([x for k, v in row.items() if k != "pooled" and "all" in v for x in v["all"]], dtype=float)
        if len(allv):
            x = np.sort(np.where(np.isfinite(allv), allv, 1.0))
            axes[1].step(1000 * x, np.arange(1, len(x) + 1) / len(x), where="post", label=f"block {b}")
    axes[1].axvline(1000 * TARGETS["midi_onset_p95_s"], color="k", ls="--", lw=0.8)
    axes[1].set_xlim(-20, 150)
    axes[1].set_xlabel("MIDI note-on (first, any pitch) − acoustic onset (ms)")
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=7)
    else:
        axes[1].text(0.5, 0.5, "no prism MIDI", ha="center", transform=axes[1].transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_tuner(path, tests, man, systems):
    plt = _plt()
    tones = man["tests"]["steady"]["tones"]
    pick = [k for k, t in enumerate(tones) if t[4].startswith(("A1@", "A4@", "E6@"))][:6] or list(range(min(4, len(tones))))
    fig, axes = plt.subplots(1, len(pick), figsize=(3 * len(pick), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, k in zip(axes, pick):
        on, off, hz, ref, name, kind = tones[k]
        for s in systems:
            tr = tests.get("traces", {}).get(f"steady/{s}")
            if tr is None:
                continue
            t = np.asarray(tr["times"])
            f = np.asarray(tr["f0"], dtype=float)
            sel = (t >= on - 0.02) & (t <= on + 0.6) & (f > 0)
            ax.plot(1000 * (t[sel] - on), 1200 * np.log2(f[sel] / hz), lw=1, label=s)
        ax.axhspan(-1, 1, color="0.9")
        ax.set_ylim(-15, 15)
        ax.set_title(f"{name} ({kind}, {hz:.1f} Hz)", fontsize=8)
        ax.set_xlabel("ms after onset")
    axes[0].set_ylabel("cents error")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------
# Report


def breakdown(records, key_fn, systems, metric="rpa50"):
    """Mean over items of an item metric, by a key."""
    table = {}
    for r in records:
        k = key_fn(r)
        if k is None:
            continue
        for s in systems:
            m = r["systems"].get(s, {}).get("metrics", {}).get(metric)
            if m is not None and np.isfinite(m):
                table.setdefault(k, {}).setdefault(s, []).append(m)
    lines = [f"| group | items | " + " | ".join(systems) + " |", "|---|---|" + "---|" * len(systems)]
    for k in sorted(table):
        n = max(len(v) for v in table[k].values())
        cells = [fmt(np.mean(table[k][s])) if s in table[k] else "–" for s in systems]
        lines.append(f"| {k} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gm_check_table(checks):
    by = {}
    for c in checks:
        by.setdefault((c["soundfont"], c["instrument"]), []).append(c)
    lines = ["| soundfont | instrument | notes | excluded | unchecked | median dev | 5–95 % dev | excluded because |",
             "|---|---|---|---|---|---|---|---|"]
    for (sfn, inst), cs in sorted(by.items()):
        ok = [c for c in cs if c["ok"] and not c["why"]]
        d_ok = np.array([c["dev_cents"] for c in ok])
        flagged = [c for c in cs if not c["ok"]]
        why = ", ".join(sorted({c["why"] if c["why"] in ("octave", "silent", "masked by neighbours") else "> 30 c"
                                for c in flagged}))
        lines.append(f"| {sfn} | {inst} | {len(cs)} | {len(flagged)} | {sum(1 for c in cs if c['why'] == 'unchecked')} "
                     f"| {fmt(np.median(d_ok) if len(d_ok) else np.nan, 1, ' c')} "
                     f"| {fmt(np.percentile(d_ok, 5) if len(d_ok) else np.nan, 1)} … "
                     f"{fmt(np.percentile(d_ok, 95) if len(d_ok) else np.nan, 1)} c | {why} |")
    return "\n".join(lines)


def write_report(path, meta, by_group, records, tests, targets, plots, systems, man):
    L = []
    L.append("# Prism Pitch evaluation\n")
    L.append(f"Generated {meta['date_utc']} by `{meta['command']}`.  ")
    L.append(f"prism: `{meta['prism']}` ({meta['prism_version']}); seed {meta['seed']}; material recipe "
             f"`{meta['material_hash']}`{' (quick)' if meta['quick'] else ''}; pitch range {meta['range']}; "
             f"jobs {meta['jobs']}.  ")
    L.append("Tools: " + "; ".join(f"{k} {v}" for k, v in meta["tools"].items()) + ".  ")
    L.append("Packages: " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()) + ".\n")
    for s, why in meta.get("skipped", {}).items():
        if s != "prism":
            L.append(f"> **{s} was skipped**: {why}.\n")
    if not meta["prism_ok"]:
        L.append(f"> **prism was skipped**: {meta['prism_skip_reason']}. The anchors below ran; every prism "
                 "row is empty. Rerun once `prism pitch` exists.\n")
    n_cached = sum(1 for r in records for x in r["systems"].values() if x.get("cached"))
    if n_cached:
        L.append(f"> --reuse-runs: {n_cached} system runs on melody items were loaded from `<out>/cache` "
                 "(their wall clock is from the run that made them).\n")
    if meta["jobs"] > 1:
        L.append(f"> Ran with --jobs {meta['jobs']}: the speed numbers are from concurrent processes and "
                 "understate single-core speed.\n")
    groups = group_order([g for g in by_group if g not in ("clean", "all", "snr10")])
    n_items = {g: sum(1 for r in records if r["group"] == g) for g in groups}
    secs = {g: sum(r["audio_s"] for r in records if r["group"] == g) for g in groups}
    L.append(f"Material: {n_items.get('analytic', 0)} analytic melodies ({secs.get('analytic', 0):.0f} s, "
             f"{man['melody_source']} tunes), {n_items.get('gm', 0)} General-MIDI melodies "
             f"({secs.get('gm', 0):.0f} s, {len(pmat.GM_INSTRUMENTS)} instruments × FluidR3_GM / MuseScore_General), "
             f"{len(man['degrade']['items'])} of them degraded in {len(man['degrade']['conditions'])} ways "
             f"({sum(v for g, v in secs.items() if g not in CLEAN_GROUPS):.0f} s); "
             f"{sum(secs.values()):.0f} s in total, plus the test signals.\n")
    L.append("## Targets (EVALUATION.md)\n")
    L.append("| metric | target | prism | | margin |")
    L.append("|---|---|---|---|---|")
    for r in targets:
        st = "not run" if r["pass"] is None else ("met" if r["pass"] else "**missed**")
        L.append(f"| {r['metric']} | {r['target']} | {r['prism']} | {st} | {r['margin']} |")
    L.append("")
    L.append("## RPA @ 50 cents by condition (frame-pooled)\n")
    L.append(condition_matrix(by_group, systems))
    L.append("\n## Octave errors by condition (share of voiced frames)\n")
    L.append(condition_matrix(by_group, systems, "octave_err", pct))
    L.append("\n## Voicing false alarm by condition\n")
    L.append(condition_matrix(by_group, systems, "vx_false_alarm"))
    L.append("")
    L.append("## Per condition (frame-pooled; OA = overall accuracy; median \\|err\\| over frames within 50 cents)\n")
    for g in ["clean", "analytic", "gm", "snr10"] + [g for g in groups if g not in CLEAN_GROUPS] + ["all"]:
        if g not in by_group:
            continue
        L.append(f"### {GROUP_TITLES.get(g, g)}\n")
        L.append(metrics_table(by_group[g], systems))
        L.append("")
    L.append("## Breakdown (clean material, mean of per-item RPA@50)\n")
    L.append("Analytic by timbre:\n")
    L.append(breakdown([r for r in records if r["group"] == "analytic"], lambda r: r["meta"]["timbre"], systems))
    L.append("\nAnalytic by register:\n")
    L.append(breakdown([r for r in records if r["group"] == "analytic"], lambda r: r["meta"]["register"], systems))
    L.append("\nAnalytic by vibrato depth (cents):\n")
    L.append(breakdown([r for r in records if r["group"] == "analytic"],
                       lambda r: f"±{r['meta']['vibrato_cents']}" if r["meta"]["vibrato_cents"] else "none", systems))
    L.append("\nAnalytic by attack (ms):\n")
    L.append(breakdown([r for r in records if r["group"] == "analytic"],
                       lambda r: f"{r['meta']['attack_ms']:>2} ms", systems))
    L.append("\nAnalytic with / without glides:\n")
    L.append(breakdown([r for r in records if r["group"] == "analytic"],
                       lambda r: "glides (legato)" if r["meta"]["glide"] else "detached", systems))
    L.append("\nGM by instrument (both soundfonts):\n")
    L.append(breakdown([r for r in records if r["group"] == "gm"], lambda r: r["meta"]["instrument"], systems))
    L.append("\nGM by soundfont:\n")
    L.append(breakdown([r for r in records if r["group"] == "gm"], lambda r: r["meta"]["soundfont"], systems))
    L.append("")
    L.append("## Rendered GM notes: pitch check\n")
    L.append("Each rendered note's pitch, measured offline (librosa YIN over the sustained part with long "
             "frames, median, refined by the harmonic peaks of a zero-padded FFT), against its MIDI note. "
             "Notes more than 30 cents or an octave off are flagged and excluded from scoring (frames and "
             "notes); notes too short to measure are scored unchecked. Deviations below are of the kept notes "
             "(they are part of the error every system is charged with at 10/25 cents).\n")
    L.append(gm_check_table(man["gm_checks"]))
    L.append("")
    # timing
    L.append("## Time alignment check\n")
    L.append("The shift of the ground truth (−60…+60 ms, 2 ms steps) that maximises each clean item's RPA@25, "
             "median over items. Positive = the system's time stamps are late. Near 0 for a correctly "
             "compensated CSV; the analytic column is the exact one (GM note changes also carry the "
             "soundfonts' attack and release shapes).\n")
    L.append("| system | hop | analytic: median best shift | GM: median best shift | RPA@25 at 0 / at best shift "
             "(mean over clean items) |")
    L.append("|---|---|---|---|---|")
    for s in systems:
        rs = {g: [r["systems"][s] for r in records if r["group"] == g and "timing" in r["systems"].get(s, {})]
              for g in CLEAN_GROUPS}
        allr = rs["analytic"] + rs["gm"]
        if not allr:
            continue

        def med_lag(xs):
            lags = [x["timing"]["best_lag_s"] for x in xs
                    if x["timing"]["best_lag_s"] is not None and np.isfinite(x["timing"]["best_lag_s"])]
            return ms(np.median(lags)) if lags else "–"

        a0 = np.nanmean([x["timing"]["rpa25_at_0"] for x in allr])
        ab = np.nanmean([x["timing"]["rpa25_best"] for x in allr])
        hops = [x["hop_s"] for x in allr if x.get("hop_s")]
        L.append(f"| {s} | {ms(np.median(hops), 2) if hops else '–'} | {med_lag(rs['analytic'])} | {med_lag(rs['gm'])} "
                 f"| {fmt(a0)} / {fmt(ab)} |")
    L.append("")
    # tuner
    L.append("## Tuner (steady tones)\n")
    tones = man["tests"]["steady"]["tones"]
    L.append(f"{len(tones)} tones of 2 s (10 ms attack; sawtooth, odd harmonics, formant-filtered 'a', and a pure "
             "sine from 200 Hz, in turn) at "
             f"{', '.join(sorted({t[4].split('@')[0] for t in tones}, key=lambda n: (int(n[1:]), n)))} in the tunings "
             "A4 = 415, 440 and 466.16 Hz. Bias = mean cents error over [onset + 0.3 s, offset − 0.1 s], jitter = its "
             "standard deviation, settle = time after the onset from which the output stays within ±1 cent.\n")
    L.append("| system | \\|bias\\| median / p95 / max | jitter median / p95 | settle median / p95 | settled | failed tones |")
    L.append("|---|---|---|---|---|---|")
    for s in systems:
        tu = tests["tuner"].get(s)
        if not tu or "summary" not in tu:
            if tu and "error" in tu:
                L.append(f"| {s} | error | | | | |")
            continue
        for label, sm in (("", tu["summary"]), (" (live time stamps)", tu.get("summary_raw_times"))):
            if not sm:
                continue
            L.append(f"| {s}{label} | {fmt(sm['abs_bias_median'], 2)} / {fmt(sm['abs_bias_p95'], 2)} / "
                     f"{fmt(sm['abs_bias_max'], 2)} c | {fmt(sm['jitter_median'], 2)} / {fmt(sm['jitter_p95'], 2)} c "
                     f"| {ms(sm['settle_median_s'], 0)} / {ms(sm['settle_p95_s'], 0)} | {pct(sm['settled_fraction'], 0)} "
                     f"| {sm['failed']} |")
    L.append("\nPer tone (bias / jitter in cents, settle in ms):\n")
    L.append("| tone | Hz | " + " | ".join(s for s in systems if "tones" in tests["tuner"].get(s, {})) + " |")
    L.append("|---|---|" + "---|" * sum(1 for s in systems if "tones" in tests["tuner"].get(s, {})))
    for k, t in enumerate(tones):
        cells = []
        for s in systems:
            tu = tests["tuner"].get(s, {})
            if "tones" not in tu:
                continue
            r = tu["tones"][k]
            cells.append(f"{fmt(r.get('bias'), 2)} / {fmt(r.get('jitter'), 2)} / {ms(r.get('settle_s'), 0).replace(' ms', '')}")
        L.append(f"| {t[4]} ({t[5]}) | {t[2]:.2f} | " + " | ".join(cells) + " |")
    L.append("")
    # latency
    L.append("## Latency\n")
    L.append("**Step response** (phase-continuous jumps of ±1, 2, 5, 7, 12 semitones from 65–1047 Hz): time from "
             "the jump until the output is within 50 cents of the new pitch for 10 ms. prism: `--raw-times` (when "
             "a live plugin emits the estimate) at each host block, and its default latency-compensated CSV; "
             "aubio: the end of the hop that produced the estimate (a causal system's emission time) and its "
             "window centre; pYIN and SwiftF0 are offline (window centres; SwiftF0 looks 176 ms ahead).\n")
    L.append("| system / time stamps | p50 | p95 | max | detected | prism's reported latency (raw − compensated) |")
    L.append("|---|---|---|---|---|---|")
    for s in systems:
        st = tests["steps"].get(s)
        if not st or "error" in st:
            if st:
                L.append(f"| {s} | error | | | | |")
            continue
        keys = [f"block{b}" for b in BLOCKS if f"block{b}" in st] + [k for k in ("emit", "compensated") if k in st]
        for k in keys:
            x = st[k]
            lab = {"compensated": "compensated / centre" if s != "prism" else "compensated CSV",
                   "emit": "emission (hop end)"}.get(k, k.replace("block", "live, block "))
            L.append(f"| {s} {lab} | {ms(x['p50_s'])} | {ms(x['p95_s'])} | {ms(x['max_s'])} | {pct(x['detected'], 0)} "
                     f"| {ms(x.get('reported_latency_s')) if 'reported_latency_s' in x else ''} |")
    L.append("")
    if tests["onsets"]:
        L.append("**MIDI note-on − acoustic onset** (prism's MIDI file, real-time). Isolated notes: analytic (attacks "
                 "2/10/25/50 ms; the acoustic onset is the first sample of the attack) and GM (each instrument, "
                 "acoustic onset = envelope reaching −40 dB of the note's peak; notes failing the pitch check "
                 "dropped). A miss = no note-on within 300 ms; p95 (all) counts misses as infinitely late.\n")
        L.append("First note-on = the first note-on within 300 ms of the onset, whatever its pitch; "
                 "right note = the first one with the right note number. Notes per onset > 1: onsets split or "
                 "retriggered (a short wrong note at the attack, then the right one). Stray = note-ons in no "
                 "onset's window.\n")
        L.append("| host block | first note-on p50 / p95 / max | p95 (misses = ∞) | detected | first note right "
                 "| right note p50 / p95 | notes per onset | stray |")
        L.append("|---|---|---|---|---|---|---|---|")
        for key in ["default"] + [f"block{b}" for b in BLOCKS]:
            row = tests["onsets"].get(key)
            if not row:
                continue
            x = row["pooled"]
            rn = x.get("right_note", {})
            L.append(f"| {key.replace('block', '')} | {ms(x['p50_s'])} / {ms(x['p95_s'])} / {ms(x['max_s'])} "
                     f"| {ms(x['p95_all_s'])} | {pct(x['detected'], 0)} | {pct(x.get('pitch_ok_fraction'), 0)} "
                     f"| {ms(rn.get('p50_s'))} / {ms(rn.get('p95_all_s'))} | {fmt(x.get('notes_per_event'), 2)} "
                     f"| {x.get('stray_notes', 0)} |")
        if tests["onsets"].get("block64") and tests["onsets"].get("block512") and \
                tests["onsets"]["block64"]["pooled"].get("p50_s") == tests["onsets"]["block512"]["pooled"].get("p50_s"):
            L.append("\nThe note-on times do not depend on the host block: prism stamps its MIDI events "
                     "sample-accurately inside the block (as a plugin's output events are).")
        L.append("\nBy material and attack (block 128):\n")
        row = tests["onsets"].get("block128") or tests["onsets"].get("default")
        L.append("| material | notes | first note-on p50 | p95 | detected | first note right | right note p50 / p95 |")
        L.append("|---|---|---|---|---|---|---|")
        for label, v in row.items():
            if label == "pooled" or "all" not in v:
                continue
            if label == "analytic":
                for a in sorted(set(v["attacks_ms"])):
                    sel = [x for x, aa in zip(v["all"], v["attacks_ms"]) if aa == a]
                    pk = [x for x, aa in zip(v["pitch_ok"], v["attacks_ms"]) if aa == a]
                    rs = pm.latency_summary([x for x, aa in zip(v["right_all"], v["attacks_ms"]) if aa == a])
                    sm = pm.latency_summary(sel)
                    L.append(f"| analytic, attack {a} ms | {len(sel)} | {ms(sm['p50_s'])} | {ms(sm['p95_s'])} "
                             f"| {pct(sm['detected'], 0)} | {pct(np.mean(pk), 0)} "
                             f"| {ms(rs['p50_s'])} / {ms(rs['p95_all_s'])} |")
            else:
                sm = v["summary"]
                rs = v["right_note"]
                L.append(f"| {label} | {sm['n']} | {ms(sm['p50_s'])} | {ms(sm['p95_s'])} | {pct(sm['detected'], 0)} "
                         f"| {pct(v['pitch_ok_fraction'], 0)} | {ms(rs['p50_s'])} / {ms(rs['p95_all_s'])} |")
        L.append("")
    # notes
    note_systems = [s for s in systems if any("notes" in by_group.get(g, {}).get(s, {}) for g in by_group)]
    if note_systems:
        L.append("## Notes (MIDI / note output vs the reference notes, mir_eval.transcription)\n")
        L.append("Onset within 50 ms and pitch within 50 cents (prism: pitch = note number + pitch bend at the "
                 "note-on); 'with offsets' also needs the offset within 20 % of the note (≥ 50 ms). Reference "
                 "onsets: analytic notes at the first sample of the attack; GM notes at their acoustic onset (the "
                 "note's own envelope within 20 dB of its peak, as for the frame truth; the soundfonts' samples "
                 "take 4–100 ms to build up after the MIDI note-on), and in the last column at the MIDI note-on. "
                 "prism's MIDI is real-time, exactly as the plugin sends it (not latency-compensated); the onset "
                 "lag is the median of (estimate − reference) over notes matched within 200 ms.\n")
        L.append("| material | system | ref notes | est notes | P / R / F | F with offsets | onset lag median / p95 "
                 "| F, MIDI note-on refs |")
        L.append("|---|---|---|---|---|---|---|---|")
        for g in ["clean", "analytic", "gm", "snr10"] + [g for g in groups if g not in CLEAN_GROUPS] + ["all"]:
            for s in note_systems:
                n = by_group.get(g, {}).get(s, {}).get("notes")
                if not n:
                    continue
                nm = by_group.get(g, {}).get(s, {}).get("notes_midi")
                L.append(f"| {GROUP_TITLES.get(g, g)} | {s} | {n['n_ref']} | {n['n_est']} | {fmt(n['P'])} / "
                         f"{fmt(n['R'])} / {fmt(n['F'])} | {fmt(n['F_off'])} | {ms(n['onset_lag_median_s'])} / "
                         f"{ms(n['onset_lag_p95_s'])} | {fmt(nm['F']) if nm else '–'} |")
        L.append("")
    # speed
    L.append("## Speed (all material, one file at a time, wall clock)\n")
    L.append("prism and aubio: the whole CLI process (start, decode, analysis, output files); pYIN: soundfile read "
             "+ soxr resampling to 22.05 kHz + `librosa.pyin` (banded Viterbi); SwiftF0: soundfile read + "
             "`detect` (soxr to 16 kHz, ONNX on one thread). Single-threaded numerics.\n")
    L.append("| system | audio | wall | real-time factor |")
    L.append("|---|---|---|---|")
    for s in systems:
        a = by_group.get("all", {}).get(s)
        if not a:
            continue
        L.append(f"| {SYSTEM_TITLES[s]} | {a['audio_s']:.0f} s | {a['wall_s']:.1f} s | {a['rtf']:.0f}x |")
    vb = meta.get("pyin_viterbi_check", {})
    if vb:
        L.append(f"\nBanded Viterbi check: librosa's own pyin and the banded one on a {vb['clip_s']:.0f} s clip "
                 f"({vb['range_hz'][0]}–{vb['range_hz'][1]} Hz) are {'identical' if vb['identical'] else '**different**'}; "
                 f"{vb['stock_s']:.2f} s vs {vb['banded_s']:.2f} s. Fallback (full-scan) cells in this run: "
                 f"{meta.get('pyin_viterbi_fallbacks', 0)}.")
    L.append("")
    L.append("## How the numbers are made\n")
    L.append("""- **Frame metrics** (`mir_eval.melody` 0.8 functions): per system on its own time grid; the reference
  is sampled at the system's frame times (the analytic f0 function exactly; the MIDI note for the GM
  renders), masked frames are dropped, and all frames of a group are pooled (so long items weigh more).
  RPA/RCA use the best estimate in every reference-voiced frame, voiced or not (prism writes its best
  estimate where `voiced` is 0; pYIN runs with `fill_na=None`; SwiftF0 always reports one; aubio reports 0
  in silence). Voicing: prism's `voiced` column, pYIN's voiced flag, SwiftF0 confidence ≥ 0.5, aubio f > 0.
- **Octave errors**: reference-voiced frames whose estimate is 1100–1300 cents off, over all
  reference-voiced frames.
- **Ground truth, analytic**: voiced from note-on to note-off (the attack counts); the release plus 20 ms
  after a detached note is masked; pauses and lead-in/out are unvoiced. **GM**: the MIDI note from its
  acoustic onset to note-off; masked: note-on → acoustic onset, 300 ms after each note-off (up to the
  next note-on), and flagged notes. The acoustic onset is where the note's own envelope (10 ms RMS, from
  a render of only the even or only the odd notes; the two sum to the scored render) is within 20 dB of
  its peak and 10 dB above its neighbours' (their release tails): before that the mix holds two pitches. Reverb adds a mask of max(300 ms, min(RT60, 600 ms))
  after each note-off. Detuned copies: f × r, t / r.
- **Pitch range**: `--range wide` (default) gives every system 40–2000 Hz (SwiftF0's model covers
  46.9–2093.75 Hz, so the lowest bass notes, 41–46 Hz, are outside it); `--range item` gives each item
  its own range (0.8 × lowest, 1.25 × highest f0).
- **Anchors' settings**: pYIN at 22.05 kHz, frame 2048 (93 ms), hop 64 (2.9 ms); aubio yinfft buffer 4096
  (2048 when fmin ≥ 50 Hz) hop 128 at 44.1 kHz, default silence gate; SwiftF0 at its fixed 16 ms hop.
""")
    L.append("## Plots\n")
    for p in plots:
        L.append(f"![{p}]({p})\n")
    L.append("## Per item (RPA@50 / voicing false alarm)\n")
    L.append("| item | group | s | " + " | ".join(systems) + " | notes |")
    L.append("|---|---|---|" + "---|" * len(systems) + "---|")
    for r in records:
        cells = []
        for s in systems:
            x = r["systems"].get(s)
            if not x:
                cells.append("–")
            elif "error" in x:
                cells.append("ERROR")
            else:
                cells.append(f"{fmt(x['metrics'].get('rpa50'))} / {fmt(x['metrics'].get('vx_false_alarm'), 2)}")
        meta_s = r["meta"].get("instrument") or (f"{r['meta'].get('timbre')}, {r['meta'].get('register')}, "
                                                  f"att {r['meta'].get('attack_ms')} ms, vib {r['meta'].get('vibrato_cents')}, "
                                                  f"{'glide' if r['meta'].get('glide') else 'detached'}")
        L.append(f"| {r['name']} | {r['group']} | {r['audio_s']:.1f} | " + " | ".join(cells) + f" | {meta_s} |")
    errs = [(r["name"], s, r["systems"][s]["error"]) for r in records for s in systems
            if "error" in r["systems"].get(s, {})]
    if errs:
        L.append("\n## Errors\n")
        for name, s, e in errs[:40]:
            L.append(f"- `{name}` {s}: {e.splitlines()[0] if e else ''}")
    path.write_text("\n".join(L) + "\n")


def readme_table(by_group, tests, meta, systems) -> str:
    c = by_group.get("clean", {})
    n10 = by_group.get("snr10", {})
    a = by_group.get("all", {})
    lines = [f"Pitch on {c.get('pyin', c.get(next(iter(c), ''), {})).get('items', 0)} clean melodies "
             f"(analytic + General MIDI) and degraded copies (`tests/eval/pitch_eval.py"
             f"{' --quick' if meta['quick'] else ''}`):", "",
             "| system | RPA@50 clean | RPA@10 clean | octave err | voicing recall / FA | RPA@50 10 dB SNR "
             "| tuner \\|bias\\| / jitter p95 | speed |",
             "|---|---|---|---|---|---|---|---|"]
    for s in systems:
        x = c.get(s)
        if not x:
            continue
        tu = tests.get("tuner", {}).get(s, {}).get("summary", {})
        lines.append(f"| {SYSTEM_TITLES[s]} | {fmt(x.get('rpa50'))} | {fmt(x.get('rpa10'))} | {pct(x.get('octave_err'))} "
                     f"| {fmt(x.get('vx_recall'))} / {fmt(x.get('vx_false_alarm'))} "
                     f"| {fmt(n10.get(s, {}).get('rpa50'))} "
                     f"| {fmt(tu.get('abs_bias_p95'), 2)} / {fmt(tu.get('jitter_p95'), 2)} c "
                     f"| {a.get(s, {}).get('rtf', float('nan')):.0f}x RT |")
    if meta["prism_ok"]:
        st = tests.get("steps", {}).get("prism", {})
        on = tests.get("onsets", {})
        parts = []
        for b in BLOCKS:
            x = st.get(f"block{b}")
            o = on.get(f"block{b}", {}).get("pooled")
            if x and o:
                rn = o.get("right_note", {})
                parts.append(f"block {b}: step {ms(x['p50_s'], 0)}, right-note note-on p50/p95 "
                             f"{ms(rn.get('p50_s'), 0)}/{ms(rn.get('p95_all_s'), 0)}")
        if parts and all(p.split(": ", 1)[1] == parts[0].split(": ", 1)[1] for p in parts):
            lines += ["", f"prism latency (live time stamps, the same at host blocks {BLOCKS[0]}–{BLOCKS[-1]}) — "
                      + parts[0].split(": ", 1)[1] + "."]
        elif parts:
            lines += ["", "prism latency (live time stamps) — " + "; ".join(parts) + "."]
    else:
        lines += ["", f"(prism skipped: {meta['prism_skip_reason']})"]
    return "\n".join(lines)


def package_versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for p in ("librosa", "mir_eval", "numpy", "scipy", "numba", "soundfile", "soxr", "swift-f0", "onnxruntime",
              "music21", "mido", "matplotlib"):
        try:
            out[p] = version(p)
        except Exception:  # noqa: BLE001
            out[p] = "?"
    try:
        r = subprocess.run(["aubio", "-V"], capture_output=True, text=True, timeout=20)
        out["aubio"] = (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"
    except Exception:  # noqa: BLE001
        out["aubio"] = "missing"
    return out


# --------------------------------------------------------------------------
# Main


def _init_worker(stock):
    global _PYIN_STOCK
    _PYIN_STOCK = stock


def main(argv=None):
    global _PYIN_STOCK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prism", required=True, help="path to the prism CLI binary")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--quick", action="store_true", help="small material set (a few minutes)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--jobs", type=int, default=1, help="items scored in parallel (speed numbers then unreliable)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--range", choices=["wide", "item"], default="wide",
                    help="pitch range given to every system: 40-2000 Hz, or each item's own range")
    ap.add_argument("--blocks", default=",".join(str(b) for b in BLOCKS), help="host blocks for the latency runs")
    ap.add_argument("--prism-args", default="", help="extra arguments for every `prism pitch` call")
    ap.add_argument("--pyin-stock", action="store_true", help="librosa's own dense Viterbi (12x slower)")
    ap.add_argument("--reuse-runs", action="store_true",
                    help="reuse each system's cached output on a melody item when material, settings and "
                         "(for prism) the binary are unchanged: e.g. rerun only a rebuilt prism. Speed numbers "
                         "then come from the cached runs")
    args = ap.parse_args(argv)

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in SYSTEMS:
            raise SystemExit(f"unknown system {s!r} (choose from {', '.join(SYSTEMS)})")
    blocks = [int(b) for b in args.blocks.split(",") if b.strip()]
    BLOCKS[:] = blocks
    _PYIN_STOCK = args.pyin_stock
    prism = str(Path(args.prism).resolve())
    prism_ok, reason = (prism_status(prism) if "prism" in systems else (False, "not requested (--systems)"))
    if "prism" in systems and not prism_ok:
        log(f"prism skipped: {reason}")
    skipped = {}
    if "prism" in systems and not prism_ok:
        skipped["prism"] = reason
    for s in systems:
        if s != "prism":
            ok, why = anchor_status(s)
            if not ok:
                skipped[s] = why
                log(f"{s} skipped: {why}")
    run_systems = [s for s in systems if s not in skipped]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    t_start = time.perf_counter()

    man = pmat.build_material(out, args.seed, args.quick, log=log)
    items = man["items"]
    log(f"material ready ({time.perf_counter() - t_start:.0f} s): {len(items)} melody items, "
        f"{sum(i['duration_s'] for i in items):.0f} s")

    # Warm-up (JIT, model load, page cache) so no first file pays for it.
    meta_extra = {}
    if "pyin" in run_systems:
        if not args.pyin_stock:
            meta_extra["pyin_viterbi_check"] = verify_banded_pyin()
            log(f"banded Viterbi check: {meta_extra['pyin_viterbi_check']}")
            if not meta_extra["pyin_viterbi_check"]["identical"]:
                log("WARNING: banded Viterbi differs from librosa's; use --pyin-stock for the reference numbers")
    warm = man["tests"]["steps"]["wav"]
    for s in run_systems:
        try:
            if s == "prism":
                run_prism(prism, warm, runs, "warmup", *WIDE_RANGE, midi=True, extra=shlex.split(args.prism_args))
            else:
                RUNNERS[s](warm, *WIDE_RANGE)
        except Exception as exc:  # noqa: BLE001
            log(f"warm-up of {s} failed: {exc}")

    # Example traces: an analytic item with vibrato and glides, a GM item, a 10 dB item.
    an = [i for i in items if i["group"] == "analytic"]
    trace_items = []
    pick = [i for i in an if i["meta"]["glide"] and i["meta"]["vibrato_cents"]] or an
    if pick:
        trace_items.append(pick[0]["name"])
    gmi = [i for i in items if i["group"] == "gm" and i["meta"]["instrument"] in ("violin", "voice_oohs", "flute")]
    if gmi:
        trace_items.append(gmi[0]["name"])
    noisy = [i for i in items if i["group"] == "pink_10dB"]
    if noisy:
        trace_items.append(noisy[0]["name"])
    ctx = {"runs": str(runs), "range": args.range, "systems": run_systems, "prism": prism,
           "prism_args": shlex.split(args.prism_args), "trace_items": trace_items, "reuse": args.reuse_runs,
           "material_hash": man["hash"]}
    records, arrays, traces = [], {}, {}
    jobs = [(it, ctx) for it in items]
    t0 = time.perf_counter()

    def done(k, res):
        rec, arr, tr = res
        records.append(rec)
        arrays[rec["name"]] = arr
        if tr:
            traces[rec["name"]] = tr
        ps = " ".join(f"{s} {fmt(rec['systems'][s]['metrics'].get('rpa50')) if 'metrics' in rec['systems'].get(s, {}) else 'ERR'}"
                      for s in run_systems)
        log(f"[{time.perf_counter() - t0:6.0f} s] {k + 1}/{len(jobs)} {rec['name']:38s} RPA50 {ps}")

    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, initializer=_init_worker, initargs=(args.pyin_stock,)) as ex:
            for k, res in enumerate(ex.map(score_item, jobs)):
                done(k, res)
    else:
        for k, job in enumerate(jobs):
            done(k, score_item(job))
    order = {it["name"]: k for k, it in enumerate(items)}
    records.sort(key=lambda r: order[r["name"]])

    log("test signals: steady tones, steps, onsets ...")
    tests = run_tests(man, run_systems, prism, prism_ok, runs, blocks, shlex.split(args.prism_args))

    groups = sorted({r["group"] for r in records})
    by_group = {g: pool(records, arrays, lambda x, g=g: x == g, run_systems) for g in groups}
    by_group["clean"] = pool(records, arrays, lambda x: x in CLEAN_GROUPS, run_systems)
    by_group["snr10"] = pool(records, arrays, lambda x: x in ("white_10dB", "pink_10dB"), run_systems)
    by_group["all"] = pool(records, arrays, lambda x: True, run_systems)
    targets = target_rows(by_group, tests, run_systems, prism_ok)

    plots = []
    try:
        plot_conditions(out / "accuracy_by_condition.png", by_group, run_systems)
        plots.append("accuracy_by_condition.png")
        by_name = {it["name"]: it for it in items}
        for k, name in enumerate(trace_items):
            if name in traces:
                fn = f"trace_{k}_{by_name[name]['group']}.png"
                plot_trace(out / fn, by_name[name], traces[name], run_systems)
                plots.append(fn)
        plot_tuner(out / "tuner.png", tests, man, run_systems)
        plots.append("tuner.png")
        if prism_ok or "aubio" in run_systems:
            plot_latency(out / "latency.png", tests)
            plots.append("latency.png")
        if prism_ok and trace_items:  # prism's own --png of the first example (not timed)
            it0 = by_name[trace_items[0]]
            try:
                run_prism(prism, it0["wav"], runs, "png_example", *item_range(it0, args.range), midi=False,
                          png=out / "prism_plot_example.png", extra=shlex.split(args.prism_args))
                if (out / "prism_plot_example.png").exists():
                    plots.append("prism_plot_example.png")
            except Exception as exc:  # noqa: BLE001
                log(f"prism --png failed: {exc}")
    except Exception as exc:  # noqa: BLE001  (plots are a convenience)
        log(f"plotting failed: {exc}")

    meta = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "prism": prism, "prism_version": prism_version(prism) if Path(prism).exists() else "missing",
        "prism_ok": prism_ok, "prism_skip_reason": reason, "prism_args": args.prism_args, "skipped": skipped,
        "systems": run_systems, "seed": args.seed, "quick": args.quick, "range": args.range, "jobs": args.jobs,
        "blocks": blocks, "material_hash": man["hash"], "tools": man["tools"], "packages": package_versions(),
        "host": platform.platform(), "cpu_count": os.cpu_count(),
        "pyin_viterbi_fallbacks": _VITERBI_STATS["fallback_cells"] if args.jobs == 1 else "n/a (jobs > 1)",
        "runtime_s": time.perf_counter() - t_start, **meta_extra,
    }
    results = {"meta": meta, "targets": TARGETS, "target_check": targets, "aggregate": by_group,
               "tests": {k: v for k, v in tests.items() if k != "traces"}, "items": records,
               "gm_checks": man["gm_checks"]}
    (out / "results.json").write_text(json.dumps(jsonable(results), indent=1))
    write_report(out / "report.md", meta, by_group, records, tests, targets, plots, run_systems, man)
    print(readme_table(by_group, tests, meta, run_systems))
    log(f"done in {time.perf_counter() - t_start:.0f} s: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
