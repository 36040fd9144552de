"""Scoring and Python baselines for the chroma/chord evaluation.

Every system is reduced to the same shape before scoring:

* ``times``  -- decision time of each frame in seconds (a frame's label holds
                from its time until the next frame's time),
* ``labels`` -- chord label per frame in ``mir_eval`` syntax,
* ``chroma`` -- optional (num_frames, 12) chroma,
* ``keys``   -- optional key per frame in ``mir_eval.key`` syntax ("A minor").

Causal systems stamp a frame at the end of its analysis window (the moment
the decision exists); the offline baseline stamps frame centres.
"""

from __future__ import annotations

import numpy as np
import mir_eval

from chord_material import PITCH_NAMES

# --------------------------------------------------------------------------
# Label helpers

MAJMIN_LABELS = [f"{PITCH_NAMES[r]}:{q}" for q in ("maj", "min") for r in range(12)]


def binary_templates() -> np.ndarray:
    """24 x 12 unit-norm binary templates, order = ``MAJMIN_LABELS``."""
    t = np.zeros((24, 12))
    for r in range(12):
        t[r, [r, (r + 4) % 12, (r + 7) % 12]] = 1
        t[12 + r, [r, (r + 3) % 12, (r + 7) % 12]] = 1
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def normalize_key(key: str) -> str:
    """Map ``A:min`` / ``Am`` / ``A minor`` / ``N`` to ``mir_eval.key`` syntax."""
    k = (key or "").strip()
    if not k or k.upper() in ("N", "X", "NONE", "-"):
        return "X"
    if ":" in k:
        tonic, mode = k.split(":", 1)
    elif " " in k:
        tonic, mode = k.split(None, 1)
    elif k.endswith("m"):
        tonic, mode = k[:-1], "min"
    else:
        tonic, mode = k, "maj"
    mode = mode.strip().lower()
    mode = {"maj": "major", "major": "major", "min": "minor", "minor": "minor"}.get(mode, "other")
    key_str = f"{tonic.strip()} {mode}"
    try:
        mir_eval.key.validate_key(key_str)
    except ValueError:
        return "X"
    return key_str


def frames_to_segments(times, labels, end_time):
    """Merge frame decisions into ``(intervals, labels)`` for ``mir_eval``."""
    times = np.asarray(times, dtype=float)
    if len(times) == 0:
        return np.array([[0.0, end_time]]), ["N"]
    starts, labs = [times[0]], [labels[0]]
    for t, lab in zip(times[1:], labels[1:]):
        if lab != labs[-1]:
            starts.append(t)
            labs.append(lab)
    ends = starts[1:] + [max(end_time, times[-1] + 1e-3)]
    if starts[0] > 0:  # nothing decided yet: no chord
        starts.insert(0, 0.0)
        ends.insert(0, times[0])
        labs.insert(0, "N")
    return np.column_stack([starts, ends]), labs


def read_lab(path):
    intervals, labels = mir_eval.io.load_labeled_intervals(str(path))
    return intervals, list(labels)


# --------------------------------------------------------------------------
# Chord scores


def chord_scores(ref_int, ref_lab, est_int, est_lab) -> dict:
    scores = mir_eval.chord.evaluate(ref_int, ref_lab, est_int, est_lab)
    return {k: float(scores[k]) for k in ("root", "majmin", "mirex", "sevenths", "thirds", "triads")}


def majmin_score(ref_int, ref_lab, est_int, est_lab) -> float:
    est_int, est_lab = mir_eval.util.adjust_intervals(
        est_int, est_lab, ref_int.min(), ref_int.max(), mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD)
    merged, r, e = mir_eval.util.merge_labeled_intervals(ref_int, ref_lab, est_int, est_lab)
    durations = mir_eval.util.intervals_to_durations(merged)
    return float(mir_eval.chord.weighted_accuracy(mir_eval.chord.majmin(r, e), durations))


def lag_compensated_majmin(ref_int, ref_lab, est_int, est_lab, max_lag_s=0.5, step_s=0.02):
    """Best majmin over shifting the estimate earlier by 0..max_lag_s; (score, lag)."""
    best = (-1.0, 0.0)
    for lag in np.arange(0.0, max_lag_s + 1e-9, step_s):
        shifted = np.clip(est_int - lag, 0.0, None)
        keep = shifted[:, 1] > shifted[:, 0]
        s = majmin_score(ref_int, ref_lab, shifted[keep], [l for l, k in zip(est_lab, keep) if k])
        if s > best[0] + 1e-9:
            best = (s, float(lag))
    return best


def decision_latency(ref_int, ref_lab, times, labels) -> dict:
    """Ground-truth chord change -> first frame whose label matches (majmin).

    Only changes into a majmin-scorable chord whose majmin reduction differs
    from the previous chord count.  A change not matched before the next
    change is a miss (latency = inf).
    """
    times = np.asarray(times)
    lats = []
    for i in range(1, len(ref_lab)):
        new, old = ref_lab[i], ref_lab[i - 1]
        if mir_eval.chord.majmin([new], [new])[0] < 0:
            continue
        if mir_eval.chord.majmin([old], [new])[0] == 1:
            continue  # e.g. C:maj -> C:7 is no majmin change
        t0, t1 = ref_int[i]
        # The label in force at t0 is the last frame at or before t0.
        idx0 = max(0, int(np.searchsorted(times, t0, side="right")) - 1)
        idx1 = int(np.searchsorted(times, t1, side="left"))
        lat = np.inf
        for j in range(idx0, min(idx1, len(times))):
            if mir_eval.chord.majmin([new], [labels[j]])[0] == 1:
                lat = max(0.0, times[j] - t0)
                break
        lats.append(lat)
    lats = np.array(lats, dtype=float)
    found = lats[np.isfinite(lats)]
    return {
        "num_changes": int(len(lats)),
        "detected_fraction": float(len(found) / len(lats)) if len(lats) else float("nan"),
        "median_s": float(np.median(lats)) if len(lats) else float("nan"),
        "p95_s": float(np.percentile(lats, 95, method="higher")) if len(lats) else float("nan"),
        "median_detected_s": float(np.median(found)) if len(found) else float("nan"),
        "p95_detected_s": float(np.percentile(found, 95)) if len(found) else float("nan"),
        "all_s": [float(x) for x in lats],
    }


def flicker(ref_lab, ref_int, times, labels) -> float:
    """Output label changes inside the reference span per true label change."""
    times = np.asarray(times)
    span = (times >= ref_int[0, 0]) & (times < ref_int[-1, 1])
    labs = [l for l, s in zip(labels, span) if s]
    out_changes = sum(1 for a, b in zip(labs[:-1], labs[1:]) if a != b)
    true_changes = sum(1 for a, b in zip(ref_lab[:-1], ref_lab[1:]) if a != b)
    return out_changes / max(1, true_changes)


def key_scores(ref_key: str, times, keys, end_time: float) -> dict:
    """Online key: time-weighted mean weighted score, final score, time to correct."""
    times = np.asarray(times, dtype=float)
    if len(times) == 0:
        return {"weighted_mean": 0.0, "weighted_final": 0.0, "t_first_correct_s": float("inf"),
                "t_settled_s": float("inf"), "flips": 0, "final_key": "X"}
    keys = [normalize_key(k) for k in keys]
    ws = np.array([mir_eval.key.weighted_score(ref_key, k) if k != "X" else 0.0 for k in keys])
    dur = np.diff(np.append(times, max(end_time, times[-1])))
    dur = np.clip(dur, 0, None)
    inside = times < end_time
    mean = float((ws * dur)[inside].sum() / max(1e-9, dur[inside].sum()))
    correct = ws >= 1.0
    t_first = float(times[np.argmax(correct)]) if correct.any() else float("inf")
    if correct[-1]:
        wrong = np.nonzero(~correct)[0]
        t_settled = float(times[wrong[-1] + 1]) if len(wrong) else float(times[0])
    else:
        t_settled = float("inf")
    flips = sum(1 for a, b in zip(keys[:-1], keys[1:]) if a != b and b != "X")
    return {"weighted_mean": mean, "weighted_final": float(ws[-1]), "t_first_correct_s": t_first,
            "t_settled_s": t_settled, "flips": int(flips), "final_key": keys[-1]}


def chroma_cosine(times, chroma, ref_times, ref_chroma, max_lag_s=0.5, step_s=0.01) -> dict:
    """Median frame-wise cosine of ``chroma`` at t vs ``ref_chroma`` at t - lag.

    The reference is sampled at the nearest frame.  Frames where either vector
    is (near) zero are skipped.  Returns lag 0, best lag and the cosine there.
    """
    times = np.asarray(times, dtype=float)
    c = np.asarray(chroma, dtype=float)
    cn = np.linalg.norm(c, axis=1)
    rn = np.linalg.norm(ref_chroma, axis=1)
    valid_c = cn > 1e-6 * max(1e-12, cn.max())
    res = {}
    curve = []
    for lag in np.arange(0.0, max_lag_s + 1e-9, step_s):
        tq = times - lag
        idx = np.clip(np.round(np.interp(tq, ref_times, np.arange(len(ref_times)))).astype(int),
                      0, len(ref_times) - 1)
        ok = valid_c & (rn[idx] > 1e-6 * rn.max()) & (tq >= ref_times[0]) & (tq <= ref_times[-1])
        if ok.sum() < 10:
            curve.append(np.nan)
            continue
        cos = (c[ok] * ref_chroma[idx[ok]]).sum(1) / (cn[ok] * rn[idx[ok]])
        curve.append(float(np.median(cos)))
    curve = np.array(curve)
    best = int(np.nanargmax(curve))
    res["median_cos_lag0"] = float(curve[0])
    res["best_lag_s"] = float(best * step_s)
    res["median_cos_best"] = float(curve[best])
    return res


# --------------------------------------------------------------------------
# Baselines

BASE_SR = 22050
BASE_HOP = 512


def load_mono(path, sr=BASE_SR):
    import librosa

    y, _ = librosa.load(path, sr=sr, mono=True)
    return y


def naive_causal_chroma(y, sr=BASE_SR, n_fft=4096, hop=BASE_HOP, fmin=65.0, fmax=2100.0):
    """STFT chroma where frame i only sees samples up to its time stamp.

    Hann window of ``n_fft`` samples ending at ``t_i = (i * hop + hop) / sr``;
    every bin in [fmin, fmax] adds its magnitude to its nearest pitch class.
    Returns (times, chroma (n, 12), frame rms).
    """
    pad = np.concatenate([np.zeros(n_fft - hop, dtype=np.float32), y])
    num = 1 + (len(pad) - n_fft) // hop
    win = np.hanning(n_fft).astype(np.float32)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    band = (freqs >= fmin) & (freqs <= fmax)
    pcs = (np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) + 9) % 12
    fold = np.zeros((band.sum(), 12), dtype=np.float32)
    fold[np.arange(band.sum()), pcs] = 1
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop][:num]
    spec = np.abs(np.fft.rfft(frames * win, axis=1))[:, band]
    chroma = spec @ fold
    rms = np.sqrt((frames[:, -hop:] ** 2).mean(1))
    times = (np.arange(num) * hop + hop) / sr
    return times, chroma, rms


def template_probs(chroma, kappa=10.0):
    """Softmax over cosine similarity to the 24 binary templates: (24, n)."""
    t = binary_templates()
    c = chroma / (np.linalg.norm(chroma, axis=1, keepdims=True) + 1e-12)
    sim = c @ t.T
    e = np.exp(kappa * (sim - sim.max(1, keepdims=True)))
    return (e / e.sum(1, keepdims=True)).T


def _labels_with_silence(states, rms, silence_db=-55.0):
    ref = max(1e-9, float(np.max(rms)))
    quiet = 20 * np.log10(np.maximum(rms, 1e-12) / ref) < silence_db
    return ["N" if q else MAJMIN_LABELS[s] for s, q in zip(states, quiet)]


def forward_filter(probs, p_loop=0.95):
    """Causal HMM filtering; decision = argmax of the filtered posterior."""
    n_states, n = probs.shape
    alpha = np.full(n_states, 1.0 / n_states)
    out = np.empty(n, dtype=int)
    stay = p_loop
    move = (1 - p_loop) / (n_states - 1)
    for i in range(n):
        pred = alpha * stay + (1 - alpha) * move
        alpha = pred * probs[:, i]
        alpha /= alpha.sum()
        out[i] = int(np.argmax(alpha))
    return out


def krumhansl_key(chroma_mean) -> str:
    """Krumhansl-Kessler profile correlation; returns ``mir_eval.key`` syntax."""
    major = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
    minor = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
    best, best_r = "X", -np.inf
    if not np.any(chroma_mean > 0):
        return best
    for tonic in range(12):
        for mode, prof in (("major", major), ("minor", minor)):
            r = np.corrcoef(chroma_mean, np.roll(prof, tonic))[0, 1]
            if r > best_r:
                best, best_r = f"{PITCH_NAMES[tonic]} {mode}", r
    return best


def baseline_naive_causal(y, sr=BASE_SR):
    times, chroma, rms = naive_causal_chroma(y, sr)
    states = forward_filter(template_probs(chroma))
    labels = _labels_with_silence(states, rms)
    # Online key: Krumhansl on the running sum of normalised chroma.
    cn = chroma / (np.linalg.norm(chroma, axis=1, keepdims=True) + 1e-12)
    run = np.cumsum(cn, axis=0)
    step = max(1, int(round(0.5 * sr / BASE_HOP)))  # re-estimate every ~0.5 s
    keys, last = [], "X"
    for i in range(len(times)):
        if i % step == 0:
            last = krumhansl_key(run[i])
        keys.append(last)
    return {"times": times, "labels": labels, "chroma": chroma, "keys": keys}


def offline_chroma_cqt(y, sr=BASE_SR):
    """The offline reference chroma: ``librosa.feature.chroma_cqt`` (12, n)."""
    import librosa

    return librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=BASE_HOP)


def baseline_offline_cqt(y, sr=BASE_SR, p_loop=0.99, chroma=None):
    """librosa chroma_cqt + 24 binary templates + ``librosa.sequence.viterbi``."""
    import librosa

    if chroma is None:
        chroma = offline_chroma_cqt(y, sr)
    times = librosa.frames_to_time(np.arange(chroma.shape[1]), sr=sr, hop_length=BASE_HOP)
    probs = template_probs(chroma.T)
    trans = librosa.sequence.transition_loop(24, p_loop)
    states = librosa.sequence.viterbi(probs, trans)
    rms = librosa.feature.rms(y=y, hop_length=BASE_HOP)[0][: len(times)]
    labels = _labels_with_silence(states, rms)
    key = krumhansl_key(chroma.mean(1))
    return {"times": times, "labels": labels, "chroma": chroma.T, "keys": [key] * len(times)}


def quality_breakdown(ref_int, ref_lab, est_int, est_lab) -> dict:
    """Seconds per reference quality: total, root correct, majmin correct, and
    the (reference -> estimate) confusions in seconds (root-relative, e.g.
    ``"maj7 -> min (+4)"``: the estimate's root 4 semitones above)."""
    est_int, est_lab = mir_eval.util.adjust_intervals(
        est_int, est_lab, ref_int.min(), ref_int.max(), mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD)
    merged, r, e = mir_eval.util.merge_labeled_intervals(ref_int, ref_lab, est_int, est_lab)
    dur = mir_eval.util.intervals_to_durations(merged)
    root_ok = mir_eval.chord.root(r, e)
    mm_ok = mir_eval.chord.majmin(r, e)
    per_q, conf = {}, {}
    for rl, el, d, ro, mo in zip(r, e, dur, root_ok, mm_ok):
        q = rl.split(":")[1] if ":" in rl else rl
        s = per_q.setdefault(q, {"seconds": 0.0, "root_s": 0.0, "majmin_s": 0.0, "no_chord_s": 0.0})
        s["seconds"] += d
        s["no_chord_s"] += d * (el in ("N", "X"))
        s["root_s"] += d * (ro > 0)
        s["majmin_s"] += d * (mo > 0)
        if mo == 0 or (mo < 0 and ro == 0):
            try:
                r_root = mir_eval.chord.encode(rl)[0]
                e_root, _, _ = mir_eval.chord.encode(el)
                eq = el.split(":")[1] if ":" in el else el
                key = f"{q} -> {eq} ({(e_root - r_root) % 12:+d})" if el not in ("N", "X") else f"{q} -> N"
            except Exception:  # noqa: BLE001
                key = f"{q} -> {el}"
            conf[key] = conf.get(key, 0.0) + d
    return {"per_quality": per_q, "confusions": conf}
