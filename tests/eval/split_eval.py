#!/usr/bin/env python3
"""Prism Split separation quality on held-out songs and timbres (BSSEval v4 via museval).

    cargo xtask eval split            # all 40 test songs of the Split recipe
    cargo xtask eval split --quick    # 6 songs
    cargo xtask eval split -- --model other.onnx

Material: the test split of `bundle/models/split/render.py` (songs, grooves or pieces,
soundfont and drum kits never seen in training; see bundle/models/split/DATA.md), rendered once into
target/split-data (the script renders it if it is missing). The mix is the exact sum of
the stems.

Systems, all on the same audio in the same run:
  * prism-neural: `prism split` (the shipped model, through the plugin's engine, latency
    compensated by the CLI);
  * prism-hpss: `prism split --mode hpss` (streaming median-filter HPSS: percussive ->
    drums, harmonic below 150-300 Hz -> bass, the rest -> other);
  * oracle: the ideal ratio mask |S_i| / sum_j |S_j| on the same STFT (1024 / 256,
    periodic Hann): the ceiling of any mask method with this latency;
  * mixture: every stem estimated as the mix itself (the floor).

The report also gives SDR per song source (mma, music21, Debian MIDI).

Metrics per stem: museval BSSEval v4 SDR / SIR / SAR (1 s windows, median over windows,
then median over tracks), global SDR (MDX style: 10 log10 sum s^2 / sum (s - s_hat)^2)
and SI-SDR, both over the whole track (mean over tracks). A stem that is silent in a track
(many `mma` grooves have no bass) is skipped for that track. Stereo throughout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
SR = 44100
STEMS = ("drums", "bass", "other")
N_FFT, HOP = 1024, 256


def log(msg):
    print(msg, flush=True)


def ensure_data(data: Path):
    if (data / "manifest.json").exists():
        return
    log(f"rendering the Split recipe into {data} (once) ...")
    subprocess.run([sys.executable, str(REPO / "bundle/models/split/render.py"), "--out", str(data),
                    "--jobs", str(os.cpu_count() or 2)], check=True)


def test_songs(data: Path):
    man = json.loads((data / "manifest.json").read_text())
    return [it for it in man["items"] if it["split"] == "test"]


def stft_frames(x):
    """Rust framing: frame after sample t covers [t - 1024, t); x [n] -> complex [T, 513]."""
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    pad = np.concatenate([np.zeros(N_FFT), x, np.zeros(N_FFT)])
    idx = np.arange(HOP, len(x) + N_FFT + 1, HOP)  # through the end (flushed with zeros)
    frames = np.stack([pad[t:t + N_FFT] for t in idx])
    return np.fft.rfft(frames * w, axis=1), idx


def istft_frames(spec, starts, n):
    """Overlap-add with the engine's synthesis window; returns the signal aligned with the
    input (the engine's n-sample latency removed)."""
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    gain = sum(w[k * HOP] ** 2 for k in range(N_FFT // HOP))
    out = np.zeros(n + 2 * N_FFT)
    frames = np.fft.irfft(spec, N_FFT, axis=1) * w / gain
    for f, t in zip(frames, starts):
        # frame covers padded samples [t, t + N) = input samples [t - N, t)
        s = t - N_FFT
        lo = max(0, s)
        out[lo:s + N_FFT] += f[lo - s:]
    return out[:n]


def oracle(stems):
    """stems [3, n, ch] -> ideal-ratio-mask estimates [3, n, ch]."""
    n, nch = stems.shape[1], stems.shape[2]
    est = np.zeros_like(stems)
    for ch in range(nch):
        specs = []
        for s in range(len(STEMS)):
            spec, starts = stft_frames(stems[s, :, ch])
            specs.append(spec)
        specs = np.stack(specs)
        mix = specs.sum(0)
        mags = np.abs(specs)
        masks = mags / np.maximum(mags.sum(0, keepdims=True), 1e-12)
        for s in range(len(STEMS)):
            est[s, :, ch] = istft_frames(masks[s] * mix, starts, n)
    return est


def global_sdr(ref, est):
    num = np.sum(ref ** 2)
    den = np.sum((ref - est) ** 2)
    return 10 * np.log10((num + 1e-10) / (den + 1e-10))


def si_sdr(ref, est):
    r, e = ref.reshape(-1), est.reshape(-1)
    alpha = np.dot(e, r) / (np.dot(r, r) + 1e-12)
    t = alpha * r
    return 10 * np.log10((np.sum(t ** 2) + 1e-12) / (np.sum((e - t) ** 2) + 1e-12))


def bss(refs, ests):
    import museval

    sdr, isr, sir, sar = museval.evaluate(refs, ests, win=SR, hop=SR)
    med = lambda a: [float(np.nanmedian(row)) if np.any(np.isfinite(row)) else float("nan") for row in a]
    return {"SDR": med(sdr), "SIR": med(sir), "SAR": med(sar)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prism", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data", default=str(REPO / "target" / "split-data"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--systems", default=None, help="comma-separated subset (default: all)")
    ap.add_argument("--model", default=None,
                    help="ONNX model for prism-neural (default: the one embedded in prism, "
                         "bundle/models/split/prism-split-v2.onnx)")
    ap.add_argument("--jobs", type=int, default=1, help="songs scored in parallel")
    ap.add_argument("--report-only", action="store_true",
                    help="no scoring: report the songs whose every system is already cached")
    ap.add_argument("--reverse", action="store_true",
                    help="score the songs last to first (a second process shares the cache)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(args.data)
    ensure_data(data)
    songs = test_songs(data)
    if args.quick:
        songs = songs[:6]
    if args.limit:
        songs = songs[:args.limit]
    systems = ["prism-neural", "prism-hpss", "oracle", "mixture"]
    wanted = args.systems.split(",") if args.systems else systems
    if args.report_only:
        songs = [it for it in songs
                 if all((out / "cache" / it["name"] / f"{sy}.json").exists() for sy in wanted)]
        log(f"report only: {len(songs)} songs have every system cached")
    model = Path(args.model) if args.model else REPO / "bundle/models/split/prism-split-v2.onnx"
    # prism-neural results are cached per model: a retrained model is scored afresh
    model_tag = hashlib.sha256(model.read_bytes()).hexdigest()[:10]
    log(f"prism-neural model: {model} (sha256 {model_tag}…)")
    neural = (str(model) if args.model else None, model_tag)
    jobs = [(it, args.prism, str(out), wanted, neural)
            for it in (songs[::-1] if args.reverse else songs)]
    t_start = time.time()
    results = []
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            for k, res in enumerate(pool.map(score_song, jobs)):
                results.append(res)
                log(f"[{time.time() - t_start:6.0f} s] {k + 1}/{len(songs)} {res['name']}")
    else:
        for k, job in enumerate(jobs):
            results.append(score_song(job))
            log(f"[{time.time() - t_start:6.0f} s] {k + 1}/{len(songs)} {results[-1]['name']}")
    rows = [tuple(r) for res in results for sy in systems for r in res["rows"].get(sy, [])]
    timing = {"prism-neural": 0.0, "prism-hpss": 0.0, "audio_s": 0.0}
    for res in results:
        timing["audio_s"] += res["seconds"]
        for sy in ("prism-neural", "prism-hpss"):
            timing[sy] += res["time"].get(sy, 0.0)
    with open(out / "scores.json", "w") as f:
        json.dump({"rows": rows, "timing": timing, "songs": [s["name"] for s in songs]}, f, indent=0)
    sources = {it["name"]: source_group(it) for it in songs}
    report(out, rows, timing, [sy for sy in systems if sy in wanted], len(songs), sources, model_tag)


def source_group(item):
    """The song source of a manifest item: mma, music21 or Debian MIDI (render.py v2)."""
    src = item.get("source", "mma")
    return src if src in ("mma", "music21") else "Debian MIDI"


def score_song(job):
    """Scores one song for the wanted systems; results are cached per (song, system) in
    <out>/cache, so a rerun (or a later run of other systems) skips finished work."""
    it, prism, out, wanted, (model, model_tag) = job
    out = Path(out)
    cache = out / "cache" / it["name"]
    cache.mkdir(parents=True, exist_ok=True)
    d = Path(it["dir"])
    stems = np.stack([np.load(d / f"{s}.npy").astype(np.float32) for s in STEMS])  # [3, n, 2]
    mix = stems.sum(0)
    n = mix.shape[0]
    active = [float(np.sqrt(np.mean(stems[s] ** 2))) > 1e-4 for s in range(len(STEMS))]
    on = [s for s in range(len(STEMS)) if active[s]]
    res = {"name": it["name"], "seconds": n / SR, "rows": {}, "time": {}}
    work = out / "audio" / it["name"]
    for system in wanted:
        cached = cache / (f"{system}@{model_tag}.json" if system == "prism-neural" else f"{system}.json")
        if cached.exists():
            c = json.loads(cached.read_text())
            res["rows"][system], res["time"][system] = c["rows"], c["time"]
            continue
        elapsed = 0.0
        if system.startswith("prism-"):
            work.mkdir(parents=True, exist_ok=True)
            sf.write(work / "mix.wav", mix, SR, subtype="FLOAT")
            t0 = time.time()
            cmd = [prism, "split", str(work / "mix.wav"), "-o", str(work / system),
                   "--mode", system.split("-")[1], "-q"]
            if model and system == "prism-neural":
                cmd += ["--model", model]
            subprocess.run(cmd, check=True)
            elapsed = time.time() - t0
            est = np.stack([sf.read(work / system / f"{s}.wav", dtype="float32")[0] for s in STEMS])
            for s in STEMS:
                (work / system / f"{s}.wav").unlink(missing_ok=True)
            (work / "mix.wav").unlink(missing_ok=True)
        elif system == "oracle":
            est = oracle(stems.astype(np.float64)).astype(np.float32)
        else:
            est = np.stack([mix] * len(STEMS))
        assert est.shape == stems.shape, (est.shape, stems.shape)
        m = bss(stems[on], est[on])
        rows = []
        for j, s in enumerate(on):
            for metric in ("SDR", "SIR", "SAR"):
                rows.append((it["name"], system, STEMS[s], metric, m[metric][j]))
            rows.append((it["name"], system, STEMS[s], "gSDR", float(global_sdr(stems[s], est[s]))))
            rows.append((it["name"], system, STEMS[s], "SI-SDR", float(si_sdr(stems[s], est[s]))))
        cached.write_text(json.dumps({"rows": rows, "time": elapsed}))
        res["rows"][system], res["time"][system] = rows, elapsed
    return res


def agg(rows, system, stem, metric):
    vals = np.array([v for (_, sy, st, me, v) in rows if sy == system and st == stem and me == metric], float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return float("nan"), 0
    if metric in ("SDR", "SIR", "SAR"):
        return float(np.median(vals)), len(vals)
    return float(np.mean(vals)), len(vals)


def report(out: Path, rows, timing, systems, n_songs, sources, model_tag):
    counts = {}
    for src in sources.values():
        counts[src] = counts.get(src, 0) + 1
    lines = ["# Prism Split evaluation", "",
             f"{n_songs} held-out songs ("
             + ", ".join(f"{n} {src}" for src, n in sorted(counts.items()))
             + "; test grooves / pieces, TimGM6mb soundfont, TimGM6mb / AVL Red Zeppelin drums; "
             f"{timing['audio_s'] / 60:.1f} min of audio). BSSEval v4 (museval, 1 s windows): median over "
             "windows, then over tracks; gSDR and SI-SDR over whole tracks, mean over tracks. dB. "
             f"prism-neural model sha256 {model_tag}….", ""]
    for metric in ("SDR", "SIR", "SAR", "gSDR", "SI-SDR"):
        lines += [f"## {metric}", "", "| system | " + " | ".join(STEMS) + " | mean |", "|---|" + "---|" * (len(STEMS) + 1)]
        for system in systems:
            vals = [agg(rows, system, s, metric)[0] for s in STEMS]
            lines.append(f"| {system} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {np.nanmean(vals):.2f} |")
        lines.append("")
    lines += ["## SDR by song source", "", "| system | source | songs | " + " | ".join(STEMS) + " |",
              "|---|---|---|" + "---|" * len(STEMS)]
    for system in systems:
        for src in sorted(counts):
            sub = [r for r in rows if sources.get(r[0]) == src]
            vals = [agg(sub, system, s, "SDR")[0] for s in STEMS]
            lines.append(f"| {system} | {src} | {counts[src]} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    lines += ["", "## Against the targets (SDR)", "",
              "| stem | neural | oracle | mixture | neural - mixture (target >= 4) | oracle - neural (target <= 3) |",
              "|---|---|---|---|---|---|"]
    for s in STEMS:
        nn, orc, mx = (agg(rows, sy, s, "SDR")[0] for sy in ("prism-neural", "oracle", "mixture"))
        lines.append(f"| {s} | {nn:.2f} | {orc:.2f} | {mx:.2f} | {nn - mx:+.2f} | {orc - nn:+.2f} |")
    lines += ["", "## Speed (whole `prism split` process: decode, engine, model, three WAV files)", ""]
    for system in ("prism-neural", "prism-hpss"):
        rt = timing["audio_s"] / max(timing[system], 1e-9)
        lines.append(f"- {system}: {timing[system]:.1f} s for {timing['audio_s']:.0f} s of audio ({rt:.0f}x real time)")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.2
        for i, system in enumerate(systems):
            vals = [agg(rows, system, s, "SDR")[0] for s in STEMS]
            ax.bar(np.arange(len(STEMS)) + (i - 1.5) * width, vals, width, label=system)
        ax.set_xticks(range(len(STEMS)), STEMS)
        ax.set_ylabel("SDR (dB, BSSEval v4 median)")
        ax.axhline(0, color="k", lw=0.5)
        ax.legend()
        ax.set_title("Prism Split on held-out songs and timbres")
        fig.tight_layout()
        fig.savefig(out / "sdr.png", dpi=120)
    except Exception as e:  # plotting is a convenience
        print(f"(no plot: {e})")


if __name__ == "__main__":
    main()
