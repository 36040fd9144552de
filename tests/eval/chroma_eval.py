#!/usr/bin/env python3
"""Chroma / chord / key evaluation of ``prism chroma`` against reference tools.

    python tests/eval/chroma_eval.py --prism target/release/prism --out eval-out/chroma [--quick]

1. Renders seeded material into ``<out>/material`` (reused while the recipe
   hash matches): ``mma`` chord charts through FluidSynth with and without
   drums, and additive-synthesis chord sequences.  See ``chord_material.py``.
2. Runs ``prism chroma <wav> -o <csv> --lab <lab>`` on each file (wall clock).
3. Scores with ``mir_eval`` (chord majmin/root/mirex/sevenths, key weighted
   score), decision latency, flicker, and frame-wise cosine of prism's chroma
   to offline ``librosa.feature.chroma_cqt`` at lag 0 and the best lag.
4. Runs two Python anchors on the same audio: a naive causal STFT chroma +
   forward-filtered 24-state HMM, and offline chroma_cqt + templates + Viterbi.
5. Writes ``report.md``, ``results.json`` and PNG plots into ``<out>``, and
   prints a compact markdown table for the README.

Requirements: ``pip install -r tests/eval/requirements.txt``;
Debian ``mma fluidsynth fluid-soundfont-gm``.
"""

from __future__ import annotations

import os

# Single-threaded numerics: the speed comparison is one core against one core,
# and the machine may be busy building.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import datetime
import json
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chord_material as cm  # noqa: E402
import chord_metrics as met  # noqa: E402
import chordino  # noqa: E402

DEFAULT_SEED = 20240601
CONDITIONS = ["drums", "nodrums", "synthetic"]
SYSTEMS = ["prism", "naive_causal", "offline_cqt"]
SYSTEM_TITLES = {
    "prism": "Prism (`prism chroma`, causal)",
    "naive_causal": "naive causal STFT chroma + forward HMM",
    "offline_cqt": "offline chroma_cqt + templates + Viterbi",
    "chordino": "Chordino (NNLS-Chroma Vamp plugin, offline Viterbi)",
}

# EVALUATION.md "Targets for Prism" (chroma, chords, key, CPU rows).
TARGETS = {
    "chroma_cos": 0.93,
    "chroma_lag_s": 0.100,
    "majmin": 0.85,
    "latency_s": 0.150,
    "flicker": 1.5,
    "key_weighted": 0.85,
    "key_time_s": 5.0,
    "rtf": 200.0,
}


# --------------------------------------------------------------------------
# Running prism


def read_prism_csv(path: Path):
    """Parse ``time_s,C,...,B,chord,key`` into arrays; tolerant of extra columns."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        idx_t = header.index("time_s")
        pcs = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
        idx_c = [header.index(p) for p in pcs]
        idx_chord = header.index("chord") if "chord" in header else None
        idx_key = header.index("key") if "key" in header else None
        times, chroma, chords, keys = [], [], [], []
        for row in reader:
            if not row:
                continue
            times.append(float(row[idx_t]))
            chroma.append([float(row[i]) for i in idx_c])
            chords.append(row[idx_chord].strip() if idx_chord is not None else "N")
            keys.append(row[idx_key].strip() if idx_key is not None else "X")
    return {"times": np.array(times), "chroma": np.array(chroma).reshape(-1, 12),
            "labels": [c or "N" for c in chords], "keys": keys}


def run_prism(prism: str, wav: Path, out_dir: Path, name: str, extra_args=()):
    csv_path = out_dir / f"{name}.csv"
    lab_path = out_dir / f"{name}.lab"
    cmd = [prism, "chroma", str(wav), "-o", str(csv_path), "--lab", str(lab_path), *extra_args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    res = read_prism_csv(csv_path)
    res["wall_s"] = wall
    res["lab_path"] = lab_path
    res["stderr"] = proc.stderr[-500:]
    return res


def prism_version(prism: str) -> str:
    try:
        p = subprocess.run([prism, "--version"], capture_output=True, text=True, timeout=20)
        return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else "?"
    except Exception as exc:  # noqa: BLE001
        return f"? ({exc})"


# --------------------------------------------------------------------------
# Per-item scoring


def score_system(sysout: dict, ref_int, ref_lab, key_ref, ref_chroma_times, ref_chroma, end_s,
                 est_lab_file=None) -> dict:
    """All metrics of one system on one item."""
    times, labels = sysout["times"], sysout["labels"]
    if est_lab_file is not None and Path(est_lab_file).exists() and Path(est_lab_file).stat().st_size:
        est_int, est_lab = met.read_lab(est_lab_file)
        source = "lab"
    else:
        est_int, est_lab = met.frames_to_segments(times, labels, end_s)
        source = "frames"
    out = {"segments_from": source}
    try:
        out["chord"] = met.chord_scores(ref_int, ref_lab, est_int, est_lab)
    except Exception as exc:  # invalid labels etc.
        out["chord"] = {"error": str(exc)}
    if source == "lab":  # cross-check the published .lab against the CSV frames
        f_int, f_lab = met.frames_to_segments(times, labels, end_s)
        try:
            out["majmin_from_frames"] = met.majmin_score(ref_int, ref_lab, f_int, f_lab)
        except Exception as exc:  # noqa: BLE001
            out["majmin_from_frames"] = None
            out["frames_error"] = str(exc)
    try:
        s, lag = met.lag_compensated_majmin(ref_int, ref_lab, est_int, est_lab)
        out["majmin_lag_comp"] = s
        out["majmin_lag_comp_lag_s"] = lag
    except Exception as exc:  # noqa: BLE001
        out["majmin_lag_comp"] = None
        out["lag_comp_error"] = str(exc)
    try:
        out["by_quality"] = met.quality_breakdown(ref_int, ref_lab, est_int, est_lab)
    except Exception as exc:  # noqa: BLE001
        out["by_quality_error"] = str(exc)
    out["latency"] = met.decision_latency(ref_int, ref_lab, times, labels)
    out["flicker"] = met.flicker(ref_lab, ref_int, times, labels)
    out["key"] = met.key_scores(key_ref, times, sysout["keys"], end_s)
    if sysout.get("chroma") is not None and len(sysout["chroma"]):
        out["chroma"] = met.chroma_cosine(times, sysout["chroma"], ref_chroma_times, ref_chroma)
    return out


# --------------------------------------------------------------------------
# Aggregation


def _nanmean(xs):
    xs = [x for x in xs if x is not None and np.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


def aggregate(items_results, condition=None) -> dict:
    """Per-system means over songs (latency pooled over all changes)."""
    agg = {}
    sel = [r for r in items_results if condition in (None, r["condition"])]
    for sysname in SYSTEMS:
        rows = [r["systems"][sysname] for r in sel if sysname in r["systems"]
                and "error" not in r["systems"][sysname]]
        if not rows:
            continue
        lats = np.array([x for row in rows for x in row["latency"]["all_s"]], dtype=float)
        a = {"num_items": len(rows), "num_failed": len(sel) - len(rows)}
        for m in ("root", "majmin", "mirex", "sevenths"):
            a[m] = _nanmean([row["chord"].get(m) for row in rows])
        a["majmin_lag_comp"] = _nanmean([row.get("majmin_lag_comp") for row in rows])
        a["majmin_lag_comp_lag_s"] = float(np.median([row.get("majmin_lag_comp_lag_s") or 0 for row in rows]))
        a["latency_median_s"] = float(np.median(lats)) if len(lats) else float("nan")
        a["latency_p95_s"] = float(np.percentile(lats, 95, method="higher")) if len(lats) else float("nan")
        a["latency_detected_fraction"] = float(np.isfinite(lats).mean()) if len(lats) else float("nan")
        fin = lats[np.isfinite(lats)]
        a["latency_p95_detected_s"] = float(np.percentile(fin, 95)) if len(fin) else float("nan")
        a["flicker"] = _nanmean([row["flicker"] for row in rows])
        pq = [v for row in rows for v in row.get("by_quality", {}).get("per_quality", {}).values()]
        secs = sum(v["seconds"] for v in pq if v.get("seconds"))
        a["no_chord_share"] = sum(v.get("no_chord_s", 0.0) for v in pq) / secs if secs else float("nan")
        a["key_weighted_mean"] = _nanmean([row["key"]["weighted_mean"] for row in rows])
        a["key_weighted_final"] = _nanmean([row["key"]["weighted_final"] for row in rows])
        a["key_t_first_correct_median_s"] = float(np.median([row["key"]["t_first_correct_s"] for row in rows]))
        a["key_t_settled_median_s"] = float(np.median([row["key"]["t_settled_s"] for row in rows]))
        a["key_flips_mean"] = _nanmean([row["key"]["flips"] for row in rows])
        if all("chroma" in row for row in rows):
            a["chroma_cos_lag0"] = _nanmean([row["chroma"]["median_cos_lag0"] for row in rows])
            a["chroma_cos_best"] = _nanmean([row["chroma"]["median_cos_best"] for row in rows])
            a["chroma_best_lag_s"] = float(np.median([row["chroma"]["best_lag_s"] for row in rows]))
        walls = [row.get("wall_s") for row in rows if row.get("wall_s")]
        durs = [r["audio_s"] for r in sel if sysname in r["systems"] and r["systems"][sysname].get("wall_s")]
        if walls:
            a["wall_s_total"] = float(np.sum(walls))
            a["rtf"] = float(np.sum(durs) / np.sum(walls))
        agg[sysname] = a
    return agg


# --------------------------------------------------------------------------
# Formatting


def fmt(x, nd=3, unit=""):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if np.isnan(x):
        return "–"
    if np.isinf(x):
        return "∞"
    return f"{x:.{nd}f}{unit}"


def ms(x):
    if x is None or np.isnan(x):
        return "–"
    if np.isinf(x):
        return "∞"
    return f"{1000 * x:.0f} ms"


def system_table(aggs: dict, systems=SYSTEMS) -> str:
    head = ("| system | majmin | majmin lag-comp (lag) | root | mirex | sevenths | latency med / p95 "
            "| detected | flicker | N share | key wscore | key settled | chroma cos lag0 / best (lag) | speed |")
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for s in systems:
        a = aggs.get(s)
        if not a:
            continue
        chroma = (f"{fmt(a.get('chroma_cos_lag0'))} / {fmt(a.get('chroma_cos_best'))} "
                  f"({ms(a.get('chroma_best_lag_s'))})") if "chroma_cos_lag0" in a else "–"
        speed = f"{a['rtf']:.0f}x RT" if "rtf" in a else "–"
        lines.append(
            f"| {SYSTEM_TITLES[s]} | {fmt(a['majmin'])} | {fmt(a['majmin_lag_comp'])} ({ms(a['majmin_lag_comp_lag_s'])}) "
            f"| {fmt(a['root'])} | {fmt(a['mirex'])} | {fmt(a['sevenths'])} "
            f"| {ms(a['latency_median_s'])} / {ms(a['latency_p95_s'])} | {fmt(a['latency_detected_fraction'], 2)} "
            f"| {fmt(a['flicker'], 2)} | {fmt(a['no_chord_share'], 2)} | {fmt(a['key_weighted_mean'])} "
            f"| {fmt(a['key_t_settled_median_s'], 1, ' s')} "
            f"| {chroma} | {speed} |")
    return "\n".join(lines)


def target_rows(agg_all: dict) -> list:
    p = agg_all.get("prism", {})
    g = lambda k: p.get(k, float("nan"))  # noqa: E731
    rows = [
        ("chroma vs offline chroma_cqt: median cosine at best lag", "≥ 0.93",
         fmt(g("chroma_cos_best")), g("chroma_cos_best") >= TARGETS["chroma_cos"]),
        ("chroma: best lag", "≤ 100 ms", ms(g("chroma_best_lag_s")),
         g("chroma_best_lag_s") <= TARGETS["chroma_lag_s"]),
        ("online chords: majmin", "≥ 0.85", fmt(g("majmin")), g("majmin") >= TARGETS["majmin"]),
        ("online chords: decision latency (median)", "≤ 150 ms", ms(g("latency_median_s")),
         g("latency_median_s") <= TARGETS["latency_s"]),
        ("online chords: flicker", "≤ 1.5", fmt(g("flicker"), 2), g("flicker") <= TARGETS["flicker"]),
        ("key: weighted score (time-averaged, online)", "≥ 0.85", fmt(g("key_weighted_mean")),
         g("key_weighted_mean") >= TARGETS["key_weighted"]),
        ("key: correct and stable from (median)", "≤ 5 s", fmt(g("key_t_settled_median_s"), 1, " s"),
         g("key_t_settled_median_s") <= TARGETS["key_time_s"]),
        ("CPU: `prism chroma` whole-CLI speed (decode + analysis + CSV)", "≥ 200x RT",
         f"{g('rtf'):.0f}x" if np.isfinite(g("rtf")) else "–", g("rtf") >= TARGETS["rtf"]),
    ]
    return [(a, b, c, bool(d)) for a, b, c, d in rows]


# --------------------------------------------------------------------------
# Plots


def chord_color(label):
    """Hue by root pitch class (same in every lane); minor-third chords lighter."""
    import matplotlib

    if label in ("N", "X"):
        return "#dddddd"
    try:
        root, bitmap, _ = met.mir_eval.chord.encode(label)
    except Exception:  # noqa: BLE001
        return "#999999"
    rgb = np.array(matplotlib.colormaps["hsv"](root / 12.0)[:3])
    if bitmap[3] and not bitmap[4]:
        rgb = 0.55 * rgb + 0.45
    return tuple(rgb)


def lane(ax, intervals, labels, y, height=0.8):
    for (t0, t1), lab in zip(intervals, labels):
        ax.broken_barh([(t0, t1 - t0)], (y, height), facecolors=chord_color(lab), edgecolors="white",
                       linewidth=0.5)
        if t1 - t0 > 0.6:
            ax.text(t0 + 0.05, y + height / 2, lab.replace(":maj", "").replace(":min", "m"),
                    fontsize=6, va="center", clip_on=True)


def plot_example(path: Path, name, ref, sysouts, ref_chroma_times, ref_chroma, end_s):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("prism (CSV)", sysouts.get("prism")), ("naive causal STFT", sysouts.get("naive_causal"))]
    panels = [(t, s) for t, s in panels if s is not None and s.get("chroma") is not None]
    fig, axes = plt.subplots(len(panels) + 2, 1, figsize=(12, 2.2 * (len(panels) + 2)), sharex=True,
                             gridspec_kw={"height_ratios": [1] * (len(panels) + 1) + [1.2]})
    pcs = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]

    def show(ax, times, chroma, title):
        c = np.asarray(chroma, dtype=float)
        c = c / (c.max(1, keepdims=True) + 1e-12)
        dt = np.median(np.diff(times)) if len(times) > 1 else 0.05
        ax.imshow(c.T, origin="lower", aspect="auto", cmap="magma",
                  extent=[times[0] - dt / 2, times[-1] + dt / 2, -0.5, 11.5], interpolation="nearest")
        ax.set_yticks(range(12))
        ax.set_yticklabels(pcs, fontsize=6)
        ax.set_title(title, fontsize=9, loc="left")

    show(axes[0], ref_chroma_times, ref_chroma, "librosa chroma_cqt (offline reference)")
    for ax, (title, s) in zip(axes[1:], panels):
        show(ax, s["times"], s["chroma"], title)
    ax = axes[-1]
    ref_int, ref_lab = ref
    lane(ax, ref_int, ref_lab, 3)
    names = ["ground truth"]
    y = 2
    for sysname in SYSTEMS:
        s = sysouts.get(sysname)
        if s is None:
            continue
        i, l = met.frames_to_segments(s["times"], s["labels"], end_s)
        lane(ax, i, l, y)
        names.append(sysname)
        y -= 1
    ax.set_yticks([3.4 - k for k in range(len(names))])
    ax.set_yticklabels(names, fontsize=7)
    ax.set_ylim(y + 0.8, 3.9)
    ax.set_xlim(0, end_s)
    ax.set_xlabel("time (s)")
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bars(path: Path, by_cond: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conds = [c for c in CONDITIONS + ["all"] if c in by_cond]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    width = 0.8 / len(SYSTEMS)
    for ax, (metric, title, target) in zip(axes, [("majmin", "majmin (mir_eval)", TARGETS["majmin"]),
                                                  ("flicker", "flicker (changes / true change)", TARGETS["flicker"]),
                                                  ("latency_median_s", "decision latency median (s)",
                                                   TARGETS["latency_s"])]):
        for k, s in enumerate(SYSTEMS):
            vals = [by_cond[c].get(s, {}).get(metric, np.nan) for c in conds]
            vals = [v if np.isfinite(v) else np.nan for v in vals]
            ax.bar(np.arange(len(conds)) + (k - (len(SYSTEMS) - 1) / 2) * width, vals, width, label=s)
        ax.axhline(target, color="k", ls="--", lw=0.8, label="target")
        ax.set_xticks(range(len(conds)))
        ax.set_xticklabels(conds)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylim(0, 1)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency_cdf(path: Path, items_results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for s in SYSTEMS:
        lats = np.array([x for r in items_results if s in r["systems"] and "latency" in r["systems"][s]
                         for x in r["systems"][s]["latency"]["all_s"]], dtype=float)
        if not len(lats):
            continue
        x = np.sort(np.where(np.isfinite(lats), lats, 10.0))
        ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=s)
    ax.axvline(TARGETS["latency_s"], color="k", ls="--", lw=0.8)
    ax.set_xlim(-0.05, 1.5)
    ax.set_xlabel("ground-truth change → first correct (majmin) output (s); misses at the right")
    ax.set_ylabel("fraction of changes")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------
# Main


def jsonable(x):
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
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


def package_versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for p in ("librosa", "mir_eval", "numpy", "scipy", "soundfile", "matplotlib", "mido", "pretty_midi"):
        try:
            out[p] = version(p)
        except Exception:  # noqa: BLE001
            out[p] = "?"
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prism", required=True, help="path to the prism CLI binary")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--quick", action="store_true", help="4 short songs instead of ~30")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--prism-args", default="",
                    help="extra arguments for `prism chroma`, e.g. \"--vocabulary sevenths\"")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS",
                    help="also run `prism chroma` with these extra arguments (after --prism-args) as "
                         "system prism_NAME, e.g. ahead250=\"--lookahead-ms 250\" (repeatable: ablations)")
    ap.add_argument("--no-chordino", action="store_true", help="skip the Chordino anchor")
    args = ap.parse_args(argv)

    variants = []
    for v in args.variant:
        name, _, extra = v.partition("=")
        if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise SystemExit(f"--variant wants NAME=ARGS with NAME of letters, digits, _: {v!r}")
        variants.append((f"prism_{name}", shlex.split(args.prism_args) + shlex.split(extra)))
        SYSTEMS.append(f"prism_{name}")
        SYSTEM_TITLES[f"prism_{name}"] = f"Prism `{extra.strip()}`"
    chordino_ok, chordino_status = (False, "skipped (--no-chordino)") if args.no_chordino \
        else chordino.available()
    if chordino_ok:
        SYSTEMS.append("chordino")
    print(f"Chordino anchor: {'yes, ' if chordino_ok else 'no: '}{chordino_status}", file=sys.stderr)

    import librosa  # noqa: F401  (import cost outside the timings)

    prism = str(Path(args.prism).resolve())
    if not Path(prism).exists():
        raise SystemExit(f"prism binary not found: {args.prism} (cargo build --release -p prism-cli?)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    runs.mkdir(exist_ok=True)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    items, manifest = cm.build_material(out, args.seed, args.quick, log=log)

    # Warm up numba/librosa so JIT compilation is not billed to the first file.
    _w = np.random.default_rng(0).standard_normal(4 * met.BASE_SR).astype(np.float32)
    met.offline_chroma_cqt(_w)
    librosa.load(items[0]["wav"], sr=met.BASE_SR, mono=True, duration=4.0)

    results = []
    example = None
    for it in items:
        name = it["name"]
        ref_int, ref_lab = met.read_lab(it["ref_lab"])
        end_s = float(ref_int.max())
        import soundfile as sf

        info = sf.info(it["wav"])
        rec = {"name": name, "condition": it["condition"], "key": it["key"], "audio_s": info.duration,
               "chart_s": end_s, "groove": it["song"].get("groove", ""), "tempo_bpm": it["song"]["tempo_bpm"],
               "midi_check": it.get("midi_check"), "systems": {}}
        # Offline reference chroma, timed (load + chroma_cqt) for the speed ratio.
        t0 = time.perf_counter()
        y = met.load_mono(it["wav"])
        ref_chroma = met.offline_chroma_cqt(y).T
        rec["librosa_wall_s"] = time.perf_counter() - t0
        ref_times = librosa.frames_to_time(np.arange(len(ref_chroma)), sr=met.BASE_SR, hop_length=met.BASE_HOP)

        sysouts = {}
        try:
            sysouts["prism"] = run_prism(prism, Path(it["wav"]), runs, name, shlex.split(args.prism_args))
        except Exception as exc:  # noqa: BLE001
            rec["systems"]["prism"] = {"error": str(exc)}
            log(f"ERROR prism on {name}: {exc}")
        for sysname, extra in variants:
            try:
                sysouts[sysname] = run_prism(prism, Path(it["wav"]), runs, f"{name}.{sysname}", extra)
            except Exception as exc:  # noqa: BLE001
                rec["systems"][sysname] = {"error": str(exc)}
                log(f"ERROR {sysname} on {name}: {exc}")
        if chordino_ok:
            try:
                so = chordino.run(it["wav"])
                so["lab_path"] = runs / f"{name}.chordino.lab"
                chordino.write_lab(so["lab_path"], so["segments"])
                sysouts["chordino"] = so
            except Exception as exc:  # noqa: BLE001
                rec["systems"]["chordino"] = {"error": str(exc)}
                log(f"ERROR chordino on {name}: {exc}")
        t0 = time.perf_counter()
        sysouts["naive_causal"] = met.baseline_naive_causal(y)
        naive_wall = time.perf_counter() - t0
        sysouts["offline_cqt"] = met.baseline_offline_cqt(y, chroma=ref_chroma.T)

        for sysname, so in sysouts.items():
            lab_file = so.get("lab_path")
            r = score_system(so, ref_int, ref_lab, it["key"], ref_times, ref_chroma, end_s, lab_file)
            if sysname == "chordino":  # no key output
                r["key"] = {k: float("nan") for k in ("weighted_mean", "weighted_final", "t_first_correct_s",
                                                       "t_settled_s", "flips")} | {"final_key": "–"}
                r["wall_s"] = so["wall_s"]
            if sysname.startswith("prism"):
                r["wall_s"] = so["wall_s"]
                r["num_frames"] = int(len(so["times"]))
                r["frame_hop_s"] = float(np.median(np.diff(so["times"]))) if len(so["times"]) > 1 else None
            elif sysname == "naive_causal":
                r["wall_s"] = naive_wall
            rec["systems"][sysname] = r
        rec["systems"]["offline_cqt"]["wall_s"] = rec["librosa_wall_s"]
        # Offline chroma is the reference itself: cosine 1 by construction.
        rec["systems"]["offline_cqt"].pop("chroma", None)
        if "prism" in sysouts:
            rec["speed_ratio_prism_vs_librosa"] = rec["librosa_wall_s"] / sysouts["prism"]["wall_s"]
        results.append(rec)
        p = rec["systems"].get("prism", {})
        others = "".join(f"  {s} {fmt(rec['systems'].get(s, {}).get('chord', {}).get('majmin'))}"
                         for s in SYSTEMS[3:])
        log(f"{name:45s} prism majmin {fmt(p.get('chord', {}).get('majmin'))}"
            f"  naive {fmt(rec['systems']['naive_causal']['chord'].get('majmin'))}"
            f"  offline {fmt(rec['systems']['offline_cqt']['chord'].get('majmin'))}{others}")
        if example is None and it["condition"] == "drums" and "prism" in sysouts:
            example = (name, (ref_int, ref_lab), sysouts, ref_times, ref_chroma, end_s)

    by_cond = {c: aggregate(results, c) for c in CONDITIONS if any(r["condition"] == c for r in results)}
    by_cond["all"] = aggregate(results)
    speed = [r["speed_ratio_prism_vs_librosa"] for r in results if "speed_ratio_prism_vs_librosa" in r]
    summary = {
        "speed_ratio_prism_vs_librosa_median": float(np.median(speed)) if speed else None,
        "librosa_chroma_rtf": float(sum(r["audio_s"] for r in results) / sum(r["librosa_wall_s"] for r in results)),
    }
    targets = target_rows(by_cond["all"])

    # Plots
    plots = []
    if example is not None:
        plot_example(out / "example_chromagram.png", *example)
        plots.append("example_chromagram.png")
    plot_bars(out / "scores_by_condition.png", by_cond)
    plots.append("scores_by_condition.png")
    plot_latency_cdf(out / "latency_cdf.png", results)
    plots.append("latency_cdf.png")

    meta = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "prism": prism, "prism_version": prism_version(prism), "prism_args": args.prism_args,
        "variants": {n: " ".join(a) for n, a in variants}, "chordino": chordino_status,
        "seed": args.seed, "quick": args.quick,
        "material_hash": manifest["hash"], "tools": manifest["tools"], "packages": package_versions(),
        "host": platform.platform(), "cpu_count": os.cpu_count(),
    }
    results_json = {"meta": meta, "targets": TARGETS, "aggregate": by_cond, "summary": summary,
                    "target_check": [{"metric": a, "target": b, "prism": c, "pass": d} for a, b, c, d in targets],
                    "items": results}
    (out / "results.json").write_text(json.dumps(jsonable(results_json), indent=1))
    write_report(out / "report.md", meta, by_cond, summary, targets, results, plots)

    # Compact README table on stdout.
    print(readme_table(by_cond, summary, meta))
    return 0


def readme_table(by_cond, summary, meta) -> str:
    a = by_cond["all"]
    num = a.get("offline_cqt", {}).get("num_items", 0)
    lines = [f"Chords/chroma on {num} renders "
             f"(mma + FluidSynth with/without drums, synthetic; `tests/eval/chroma_eval.py"
             f"{' --quick' if meta['quick'] else ''}`):", "",
             "| system | majmin | root | mirex | latency median / p95 | flicker | key wscore | chroma cos best (lag) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in SYSTEMS:
        x = a.get(s)
        if not x:
            continue
        chroma = (f"{fmt(x['chroma_cos_best'])} ({ms(x['chroma_best_lag_s'])})"
                  if "chroma_cos_best" in x else "reference")
        lines.append(f"| {SYSTEM_TITLES[s]} | {fmt(x['majmin'])} | {fmt(x['root'])} | {fmt(x['mirex'])} "
                     f"| {ms(x['latency_median_s'])} / {ms(x['latency_p95_s'])} | {fmt(x['flicker'], 2)} "
                     f"| {fmt(x['key_weighted_mean'])} | {chroma} |")
    p = a.get("prism", {})
    if "rtf" in p:
        lines.append("")
        lines.append(f"`prism chroma` runs at {p['rtf']:.0f}x real time (whole CLI, one file at a time); "
                     f"librosa chroma_cqt at {summary['librosa_chroma_rtf']:.0f}x "
                     f"(per file, prism is {summary['speed_ratio_prism_vs_librosa_median']:.1f}x as fast as librosa; median).")
    return "\n".join(lines)


def quality_section(results) -> str:
    """Per reference quality (all material): root / majmin accuracy by system, and
    prism's largest confusions."""
    L = ["## By chord quality (all material, duration-weighted)\n",
         "| quality | seconds | " + " | ".join(f"{s} root / majmin" for s in SYSTEMS) + " |",
         "|---|---|" + "---|" * len(SYSTEMS)]
    tot = {}
    conf = {}
    for r in results:
        for s in SYSTEMS:
            bq = r["systems"].get(s, {}).get("by_quality")
            if not bq:
                continue
            for q, v in bq["per_quality"].items():
                t = tot.setdefault(q, {}).setdefault(s, {"seconds": 0.0, "root_s": 0.0, "majmin_s": 0.0})
                for k in t:
                    t[k] += v.get(k, 0.0)
            if s == "prism":
                for k, d in bq["confusions"].items():
                    conf[k] = conf.get(k, 0.0) + d
    order = ["maj", "min", "7", "maj7", "min7", "dim", "aug", "sus4", "N"]
    for q in sorted(tot, key=lambda q: order.index(q) if q in order else 99):
        secs = max(v["seconds"] for v in tot[q].values())
        cells = []
        for s in SYSTEMS:
            v = tot[q].get(s)
            if not v or not v["seconds"]:
                cells.append("–")
                continue
            mm = "n/a" if q in ("dim", "aug", "sus4") else fmt(v["majmin_s"] / v["seconds"])
            cells.append(f"{fmt(v['root_s'] / v['seconds'])} / {mm}")
        L.append(f"| {q} | {secs:.0f} | " + " | ".join(cells) + " |")
    if conf:
        total = sum(v["prism"]["seconds"] for v in tot.values() if "prism" in v)
        L.append("\nprism's largest errors (reference quality -> output, root interval in semitones; "
                 "share of all scored time):\n")
        for k, d in sorted(conf.items(), key=lambda kv: -kv[1])[:12]:
            L.append(f"- `{k}`: {d:.1f} s ({100 * d / max(total, 1e-9):.1f} %)")
    L.append("")
    return "\n".join(L)


def write_report(path: Path, meta, by_cond, summary, targets, results, plots):
    L = []
    L.append("# Prism chroma / chord / key evaluation\n")
    L.append(f"Generated {meta['date_utc']} by `{meta['command']}`.  ")
    L.append(f"prism: `{meta['prism']}` ({meta['prism_version']}"
             f"{', args `' + meta['prism_args'] + '`' if meta['prism_args'] else ''}); seed {meta['seed']}; "
             f"material recipe `{meta['material_hash']}`{' (quick)' if meta['quick'] else ''}.  ")
    L.append("Tools: " + "; ".join(f"{k} {v}" for k, v in meta["tools"].items()) + ".  ")
    L.append(f"Chordino anchor: {meta.get('chordino', '–')}.  ")
    for n, a in meta.get("variants", {}).items():
        L.append(f"Variant `{n}`: `prism chroma {a}`.  ")
    L.append("Packages: " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()) + ".\n")
    n = {c: sum(1 for r in results if r["condition"] == c) for c in CONDITIONS}
    L.append(f"Material: {n['drums']} mma charts rendered with drums, the same {n['nodrums']} without drums "
             f"(channel 10 removed), {n['synthetic']} additive-synthesis chord sequences; "
             f"{sum(r['chart_s'] for r in results):.0f} s scored in total.\n")
    L.append("## Targets (EVALUATION.md), all material\n")
    L.append("| metric | target | prism | |")
    L.append("|---|---|---|---|")
    for a, b, c, d in targets:
        L.append(f"| {a} | {b} | {c} | {'pass' if d else '**miss**'} |")
    L.append("")
    for cond in CONDITIONS + ["all"]:
        if cond not in by_cond:
            continue
        title = {"drums": "mma renders with drums", "nodrums": "mma renders without drums",
                 "synthetic": "synthetic additive chords", "all": "all material"}[cond]
        L.append(f"## {title}\n")
        L.append(system_table(by_cond[cond]))
        L.append("")
    L.append("Anchors in EVALUATION.md (same kind of renders): offline CQT + templates + Viterbi majmin 0.87; "
             "naive causal STFT + forward filter majmin 0.66 (0.77 lag-compensated); naive causal chroma vs "
             "chroma_cqt median cosine 0.89.\n")
    sp = summary.get("speed_ratio_prism_vs_librosa_median")
    L.append(f"Speed: librosa `load + chroma_cqt` runs at {summary['librosa_chroma_rtf']:.0f}x real time; "
             + (f"`prism chroma` (whole CLI) takes {1 / sp:.2f}x librosa's time (librosa time / prism time = "
                f"{sp:.1f}, median over files).\n" if sp else "\n"))
    L.append(quality_section(results))
    L.append("## How the numbers are made\n")
    L.append("""- **Scores**: `mir_eval.chord.evaluate` on prism's own `.lab` (baselines: their frame decisions
  merged into segments) against the chart; song means. `majmin` ignores dim/aug/sus4 reference
  segments (mir_eval's rule); 7/maj7/min7 count as their triads.
- **Lag-compensated majmin**: the estimate shifted earlier by the best 0–500 ms (20 ms steps); shows
  how much of the error is delay.
- **Decision latency**: for every ground-truth change into a majmin-scorable chord whose triad differs
  from the previous one, time until the first output frame (CSV `time_s`) whose label matches
  (majmin); no match before the next change = miss (∞). Pooled over all changes; `detected` is the
  fraction matched. Frame times are decision times (causal systems stamp the end of their window).
- **Flicker**: output label changes (full labels) inside the chart span / true label changes.
- **N share**: fraction of the scored time (every reference segment is a chord) in which the system
  outputs no chord (`N`).
- **Key**: `mir_eval.key.weighted_score` of each frame's key vs the chart key (the key the progression
  was generated in; it starts on the tonic and ends with V–I), time-averaged; "settled" = time after
  which the key stays correct to the end (median over songs). Offline baseline: Krumhansl–Kessler
  on the whole file's chroma_cqt; naive baseline: Krumhansl–Kessler on the running chroma sum.
- **Chroma**: per frame, cosine of prism's chroma row at time t with librosa `chroma_cqt` (22.05 kHz,
  hop 512, nearest frame) at t − lag; median over frames; lag 0 and the best lag in 0–500 ms (10 ms
  steps) per song; table shows the song mean of medians and the median best lag.
- **Speed**: wall clock of the whole `prism chroma` process (decode, analysis, CSV/lab writing) vs
  `librosa.load + chroma_cqt` in this process, both single-threaded, one file at a time.
""")
    L.append("## Plots\n")
    for p in plots:
        L.append(f"![{p}]({p})\n")
    L.append("## Per file\n")
    L.append("| file | cond | groove | bpm | key | prism majmin | naive | offline | prism lat. med | prism flicker "
             "| prism key (final) | prism chroma cos best (lag) | chord tones in MIDI |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        p = r["systems"].get("prism", {})
        pc = p.get("chord", {})
        lat = p.get("latency", {})
        ch = p.get("chroma", {})
        mc = r.get("midi_check") or {}
        L.append(
            f"| {r['name']} | {r['condition']} | {r['groove']} | {r['tempo_bpm']:g} | {r['key']} "
            f"| {fmt(pc.get('majmin')) if 'error' not in p else 'ERROR'} "
            f"| {fmt(r['systems']['naive_causal']['chord'].get('majmin'))} "
            f"| {fmt(r['systems']['offline_cqt']['chord'].get('majmin'))} "
            f"| {ms(lat.get('median_s', float('nan')))} | {fmt(p.get('flicker'), 2)} "
            f"| {p.get('key', {}).get('final_key', '–')} "
            f"| {fmt(ch.get('median_cos_best'))} ({ms(ch.get('best_lag_s', float('nan')))}) "
            f"| {fmt(mc.get('chord_tone_fraction'), 2)} |")
    diffs = [abs(r["systems"]["prism"]["chord"]["majmin"] - r["systems"]["prism"]["majmin_from_frames"])
             for r in results if r["systems"].get("prism", {}).get("majmin_from_frames") is not None
             and "majmin" in r["systems"]["prism"].get("chord", {})]
    if diffs:
        L.append(f"\nConsistency: majmin from prism's `.lab` vs from its CSV frame labels differs by "
                 f"{max(diffs):.3f} at most (mean {np.mean(diffs):.3f}).")
    errs = [(r["name"], r["systems"]["prism"]["error"]) for r in results if "error" in r["systems"].get("prism", {})]
    if errs:
        L.append("\n## prism errors\n")
        for name, e in errs:
            L.append(f"- `{name}`: {e.splitlines()[0] if e else ''}")
    path.write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())
