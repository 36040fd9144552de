#!/usr/bin/env python3
"""Export a Prism Split checkpoint to ONNX (one STFT frame per call, explicit state).

    .venv-split/bin/python bundle/models/split/export.py --ckpt target/split-runs/full/best.pt \
        --out bundle/models/split/prism-split-v1.onnx

Graph (opset 17, fixed shapes, exported with the TorchScript exporter, dynamo=False):
    inputs : mag       float32 [1, 513]   |X| of the unnormalised rFFT of the frame
             state_in  float32 [L, K, D]  zeros at reset
    outputs: masks     float32 [3, 513]   drums, bass, other (sum to 1 per bin)
             state_out float32 [L, K, D]  feed back as state_in on the next hop

Checks (all on >= 60 s of audio: the first held-out test song if rendered, else noise):
  1. the STFT framing used here (numpy rFFT of [t - 1024, t) with periodic Hann, the
     `shared/src/stft.rs` framing) == torch.stft(center=False) after 768 leading zeros;
  2. PyTorch streaming (frame by frame with state) == PyTorch offline (whole sequence);
  3. onnxruntime streaming == PyTorch streaming (a proxy until the tract check in Rust).
Writes <out> and <out>.json (metadata + check results).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parent))
import model as M  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
SR = 44100


def rust_framing_mag(x: np.ndarray) -> np.ndarray:
    """Magnitudes of every frame the Rust SpectralEngine emits (after samples 256, 512, ...)."""
    n, hop = M.N_FFT, M.HOP
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic Hann
    ring = np.concatenate([np.zeros(n, np.float64), x.astype(np.float64)])
    frames = []
    for t in range(hop, len(x) + 1, hop):  # frame after sample t covers [t - n, t)
        frames.append(np.abs(np.fft.rfft(ring[t:t + n] * w)))
    return np.array(frames, np.float32)


def test_audio(data: Path, seconds: float) -> tuple[np.ndarray, str]:
    songs = sorted((data / "test").glob("*")) if (data / "test").exists() else []
    out, names = [], []
    for d in songs:
        if all((d / f"{s}.npy").exists() for s in M.STEMS):
            out.append(sum(np.load(d / f"{s}.npy").astype(np.float32).mean(1) for s in M.STEMS))
            names.append(d.name)
        if sum(len(o) for o in out) >= seconds * SR:
            break
    if sum(len(o) for o in out) >= seconds * SR:
        return np.concatenate(out)[: int(seconds * SR)], "+".join(names)
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32), "white noise"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", default=None, help="default: <ckpt dir>/prism-split-v1.onnx")
    ap.add_argument("--data", default=str(REPO / "target" / "split-data"))
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()

    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    mcfg = M.ModelConfig(**ck["model_config"])
    model = M.SplitModel(mcfg).eval()
    model.load_state_dict(ck["model"])
    out = Path(args.out or Path(args.ckpt).with_name("prism-split-v1.onnx"))
    L, K, D = len(model.blocks), model.k, mcfg.width

    step_model = M.StepModel(model).eval()
    mag0 = torch.rand(1, M.N_BINS)
    st0 = torch.zeros(L, K, D)
    torch.onnx.export(step_model, (mag0, st0), str(out), dynamo=False, opset_version=17,
                      input_names=["mag", "state_in"], output_names=["masks", "state_out"],
                      do_constant_folding=True)
    import onnx

    onnx.checker.check_model(onnx.load(str(out)))
    ops = sorted({n.op_type for n in onnx.load(str(out)).graph.node})

    audio, source = test_audio(Path(args.data), args.seconds)
    # 1. framing
    mag_np = rust_framing_mag(audio)
    padded = torch.from_numpy(np.concatenate([np.zeros(M.N_FFT - M.HOP, np.float32), audio]))
    mag_t = torch.stft(padded, M.N_FFT, M.HOP, window=torch.hann_window(M.N_FFT, periodic=True),
                       center=False, return_complex=True).abs().T.numpy()
    framing_err = float(np.max(np.abs(mag_np - mag_t[: len(mag_np)])) / (np.max(np.abs(mag_np)) + 1e-12))
    mags = torch.from_numpy(mag_np)
    # 2. streaming vs offline (PyTorch)
    with torch.no_grad():
        off, _ = model(mags.unsqueeze(0))
        off = off[0].numpy()
        st = model.init_state()
        t0 = time.time()
        stream = np.empty_like(off)
        for i in range(len(mags)):
            m, st = model.step(mags[i], st)
            stream[i] = m.numpy()
        torch_ms = (time.time() - t0) / len(mags) * 1e3
    err_stream = float(np.max(np.abs(stream - off)))
    # 3. onnxruntime vs PyTorch streaming
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    st = np.zeros((L, K, D), np.float32)
    ortm = np.empty_like(off)
    t0 = time.time()
    for i in range(len(mag_np)):
        m, st = sess.run(None, {"mag": mag_np[i:i + 1], "state_in": st})
        ortm[i] = m
    ort_ms = (time.time() - t0) / len(mag_np) * 1e3
    err_ort = float(np.max(np.abs(ortm - stream)))

    size = out.stat().st_size
    meta = {
        "model": "prism-split-v1", "file": out.name, "bytes": size,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "checkpoint": str(args.ckpt), "train_config": ck.get("config"), "train_step": ck.get("step"),
        "params": M.n_params(model), "model_config": mcfg.to_dict(), "opset": 17, "ops": ops,
        "stems": list(M.STEMS), "sample_rate": SR, "n_fft": M.N_FFT, "hop": M.HOP,
        "window": "periodic Hann, unnormalised forward rFFT; frame after sample t covers [t-1024, t)",
        "inputs": {"mag": [1, M.N_BINS], "state_in": [L, K, D]},
        "outputs": {"masks": [len(M.STEMS), M.N_BINS], "state_out": [L, K, D]},
        "checks": {"audio": source, "frames": len(mag_np), "seconds": len(audio) / SR,
                   "framing_rel_err": framing_err, "stream_vs_offline_max_abs": err_stream,
                   "ort_vs_torch_stream_max_abs": err_ort,
                   "torch_step_ms": torch_ms, "ort_step_ms": ort_ms,
                   "hop_ms": M.HOP / SR * 1e3},
    }
    Path(str(out) + ".json").write_text(json.dumps(meta, indent=1))
    print(json.dumps(meta["checks"], indent=1))
    ok = framing_err < 1e-5 and err_stream < 1e-4 and err_ort < 1e-4 and size <= 5 * 2**20
    print(f"{out}: {size / 1e6:.2f} MB, {meta['params']} params, ops {ops}: {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
