"""Tunes the chord decoder on the recipe's dev split (never on the evaluation's material).

Runs ``prism chroma`` over every dev render (``render.py``'s seed-2202 charts, with and
without drums) for each configuration given, and scores the published ``.lab`` with the
evaluation's own metrics (``tests/eval/chord_metrics.py``: mir_eval majmin and root, flicker,
decision latency). Needs the evaluation venv (mir_eval):

    .venv-eval/bin/python bundle/models/chord/tune.py --prism target/release/prism \
        --material target/chord-data/material --out target/chord-runs/tune \
        --config learned="--evidence learned" --config nnls="--evidence nnls"

Prints one line per configuration and writes ``<out>/tune.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "eval"))
import chord_metrics as met  # noqa: E402
from chroma_eval import read_prism_csv  # noqa: E402


def dev_items(material: Path):
    """The dev renders of the manifest (paths as `render.py` wrote them)."""
    manifest = json.loads((material / "manifest.json").read_text())
    for it in manifest["items"]:
        if it.get("split") != "dev":
            continue
        yield it


def run_one(prism: str, wav: Path, lab: Path, out: Path, args: list[str]) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path, lab_path = out.parent / f"{out.name}.csv", out.parent / f"{out.name}.lab"
    cmd = [prism, "chroma", str(wav), "-q", "-o", str(csv_path), "--lab", str(lab_path), *args]
    subprocess.run(cmd, check=True, capture_output=True)
    ref_int, ref_lab = met.read_lab(lab)
    est_int, est_lab = met.read_lab(lab_path)
    csv = read_prism_csv(csv_path)
    scores = met.chord_scores(ref_int, ref_lab, est_int, est_lab)
    scores["flicker"] = met.flicker(ref_lab, ref_int, csv["times"], csv["labels"])
    lat = met.decision_latency(ref_int, ref_lab, csv["times"], csv["labels"])
    scores["latencies"] = lat["all_s"]
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prism", required=True)
    ap.add_argument("--material", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", action="append", required=True, metavar="NAME=ARGS")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    items = list(dev_items(a.material))
    results = {}
    for spec in a.config:
        name, _, args = spec.partition("=")
        with ThreadPoolExecutor(a.jobs) as pool:
            futures = {it["name"]: pool.submit(run_one, a.prism, Path(it["wav"]),
                                               Path(it["ref_lab"]), a.out / name / it["name"],
                                               shlex.split(args))
                       for it in items}
            per = {n: f.result() for n, f in futures.items()}
        conds = {it["name"]: it["condition"] for it in items}
        # As the evaluation aggregates: the mean over items, latency pooled over changes.
        agg = {k: float(np.nanmean([s[k] for s in per.values()]))
               for k in ("majmin", "root", "sevenths", "flicker")}
        lats = np.array([x for s in per.values() for x in s["latencies"]], dtype=float)
        agg["latency_p50"] = float(np.median(lats))
        for cond in ("drums", "nodrums"):
            sel = [s["majmin"] for n, s in per.items() if conds[n] == cond]
            if sel:
                agg[f"majmin_{cond}"] = float(np.mean(sel))
        results[name] = {"args": args, "aggregate": agg, "items": per}
        print(f"{name:>24}: " + "  ".join(f"{k} {v:.3f}" for k, v in agg.items()), flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "tune.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
