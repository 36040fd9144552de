#!/usr/bin/env python3
"""Export a chord-layer checkpoint for Prism (``shared/src/chordnet.rs`` reads it).

    .venv-chord/bin/python bundle/models/chord/export.py --ckpt target/chord-runs/v1/best.npz \
        --out bundle/models/chord/prism-chord-v1.bin

Writes <out> (weights; format in ``shared/src/chordnet.rs``), <out stem>.json (metadata) and
<out stem>.parity.bin: 96 streamed frames (features with silence, a stream start and real
chord shapes) with the template logits and the logits this NumPy model gives, which the Rust
parity test (``shared/tests/chordnet_parity.rs``) must reproduce to 1e-4.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chordnet as C  # noqa: E402


def parity_frames(n=96, seed=5):
    """Raw ``--features`` rows: chord-like bass/treble, a silent stretch, noise."""
    rng = np.random.default_rng(seed)
    feats = np.zeros((n, 111), np.float32)
    for i in range(n):
        feats[i, 0] = i * 1024 / 44100
        silent = 30 <= i < 36
        feats[i, 1] = -120.0 if silent else rng.uniform(-70, -6)
        feats[i, 2] = float(silent)
        if not silent:
            root, q = int(rng.integers(0, 12)), int(rng.integers(0, C.NQ))
            for iv in C.QUALITIES[q][1]:
                feats[i, 15 + (root + iv) % 12] += rng.uniform(0.5, 1.0)
            feats[i, 3 + root] += rng.uniform(0.3, 1.0)
            feats[i, 3:27] += rng.uniform(0, 0.2, 24)
            feats[i, 3:27] *= 10 ** rng.uniform(-3, 1)
    return feats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    state = dict(np.load(args.ckpt))
    net = C.ChordNet.from_state(state)
    p = net.p
    hidden = p["W1"].shape[1]
    blob = b"PRISMCN1" + struct.pack("<III", hidden, C.INPUT, C.NQ)
    for k in C.ChordNet.NAMES:
        blob += np.ascontiguousarray(p[k], "<f4").tobytes()
    args.out.write_bytes(blob)

    feats = parity_frames()
    frames = np.concatenate([C.frame_features(feats), C.padding_row()])
    ctx = C.context_index(len(feats), 0)
    ctx[ctx < 0] = len(feats)
    t = C.template_logits(feats)
    logits = net.forward(C.batch_inputs(frames, ctx), t).astype(np.float32)
    parity = (b"PRISMCP1" + struct.pack("<I", len(feats))
              + feats.astype("<f4").tobytes() + t.astype("<f4").tobytes() + logits.astype("<f4").tobytes())
    parity_path = args.out.with_suffix(".parity.bin")
    parity_path.write_bytes(parity)

    num_params = sum(int(v.size) for v in p.values())
    meta = {
        "weights": args.out.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "parameters": num_params,
        "hidden": hidden,
        "input": C.INPUT,
        "context_frames": list(C.CONTEXT),
        "template_weight_a": float(p["a"][0]),
        "checkpoint_epoch": int(state.get("epoch", -1)),
        "dev_frame_majmin": float(state.get("dev_majmin", float("nan"))),
        "parity": parity_path.name,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
