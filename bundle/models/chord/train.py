#!/usr/bin/env python3
"""Train Prism Chroma's learned chord layer (NumPy only; CPU; deterministic from the seed).

    .venv-chord/bin/python bundle/models/chord/train.py --prism target/release/prism \
        --material target/chord-data/material --run target/chord-runs/v1

Steps (each resumable: features are cached, training checkpoints every epoch):
1. features: ``prism chroma <wav> --evidence nnls --features <npy>`` for every render of
   ``render.py`` (the analyser's own NNLS evidence, exactly what the plugin computes);
2. frame labels from the charts (the chord sounding at the frame's last sample);
3. training of the model below on the train split, model selection on the dev split.

The model (``ChordNet``) is root-equivariant by construction: one small MLP is applied to
the recent evidence rotated to each of the 12 roots and scores the 11 qualities at that root,
so a transposed input gives a transposed output (no augmentation needed); N is scored from
the rotation-averaged hidden units. The harmonic templates are its prior: each chord's logit
is ``a * kappa * (fit - 1) + net``, ``fit`` the cosine of the bass/treble observation to the
chord's template (``shared/src/chord.rs``), ``a`` learned. ``a = 0`` is the learned layer
alone, ``net = 0`` the template recogniser.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chordnet as C  # noqa: E402


def load_items(material: Path):
    manifest = json.loads((material / "manifest.json").read_text())
    return manifest["items"]


def features_for(item, prism: str, cache: Path) -> np.ndarray:
    npy = cache / f"{item['name']}.npy"
    if not npy.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = npy.with_suffix(".tmp.npy")
        subprocess.run([prism, "chroma", item["wav"], "--evidence", "nnls", "--features", str(tmp),
                        "-o", str(npy.with_suffix(".csv")), "--quiet"], check=True)
        tmp.rename(npy)
        npy.with_suffix(".csv").unlink(missing_ok=True)
    return np.load(npy)


def read_lab(path: str):
    segs = []
    for line in Path(path).read_text().splitlines():
        t0, t1, label = line.split("\t")
        segs.append((float(t0), float(t1), label))
    return segs


def dataset(items, prism: str, cache: Path):
    """(frames [N+1, FRAME] with the padding row last, ctx [N, C], template logits, labels)."""
    frames, ctxs, ts, ys = [], [], [], []
    offset = 0
    for item in items:
        feats = features_for(item, prism, cache)
        frames.append(C.frame_features(feats))
        ctxs.append(C.context_index(len(feats), offset))
        ts.append(C.template_logits(feats))
        ys.append(C.frame_labels(feats[:, 0], read_lab(item["ref_lab"])))
        offset += len(feats)
    frames.append(C.padding_row())
    return np.concatenate(frames), np.concatenate(ctxs), np.concatenate(ts), np.concatenate(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prism", required=True)
    ap.add_argument("--material", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--wd", type=float, default=0.05, help="decoupled (AdamW) weight decay")
    ap.add_argument("--no-prior", action="store_true",
                    help="ablation: no template prior (a = 0, not trained): the network alone")
    args = ap.parse_args()
    args.run.mkdir(parents=True, exist_ok=True)
    log = open(args.run / "train.log", "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    items = load_items(args.material)
    cache = args.material.parent / "features"
    data = {}
    for split in ("train", "dev"):
        t0 = time.time()
        data[split] = dataset([it for it in items if it["split"] == split], args.prism, cache)
        say(f"{split}: {len(data[split][2])} frames from "
            f"{sum(1 for it in items if it['split'] == split)} renders ({time.time() - t0:.0f} s)")

    ckpt = args.run / "last.npz"
    rng = np.random.default_rng(args.seed)
    if ckpt.exists():
        state = dict(np.load(ckpt))
        net = C.ChordNet.from_state(state)
        opt = C.Adam.from_state(state, net, wd=args.wd)
        start = int(state["epoch"]) + 1
        best = float(state["best"])
        rng = np.random.default_rng(args.seed + start)
        say(f"resuming after epoch {start - 1} (best dev majmin {best:.4f})")
    else:
        net = C.ChordNet.init(rng, hidden=args.hidden)
        opt = C.Adam(net, lr=args.lr, wd=args.wd)
        start, best = 0, -1.0
    if args.no_prior:
        net.p["a"][:] = 0.0
    ftr, ctr, ttr, ytr = data["train"]
    fdv, cdv, tdv, ydv = data["dev"]
    for epoch in range(start, args.epochs):
        t0 = time.time()
        order = rng.permutation(len(ytr))
        lr = args.lr * 0.5 * (1 + np.cos(np.pi * epoch / args.epochs))
        total = 0.0
        for b in range(0, len(order), args.batch):
            idx = order[b:b + args.batch]
            loss, grads = net.loss_and_grads(C.batch_inputs(ftr, ctr[idx]), ttr[idx], ytr[idx])
            opt.step(net, grads, lr)
            if args.no_prior:
                net.p["a"][:] = 0.0
            total += loss * len(idx)
        dev = C.frame_scores(net, fdv, cdv, tdv, ydv)
        say(f"epoch {epoch}: train loss {total / len(ytr):.4f}, dev loss {dev['loss']:.4f}, "
            f"dev frame majmin {dev['majmin']:.4f} (templates {dev['majmin_templates']:.4f}), "
            f"root {dev['root']:.4f}, a={float(net.p['a'][0]):.3f}, lr {lr:.2e}, {time.time() - t0:.0f} s")
        if dev["majmin"] > best:
            best = dev["majmin"]
            np.savez(args.run / "best.npz", **net.state(), epoch=epoch, dev_majmin=best)
        np.savez(ckpt, **net.state(), **opt.state(), epoch=epoch, best=best)
    say(f"done: best dev frame majmin {best:.4f}")


if __name__ == "__main__":
    main()
