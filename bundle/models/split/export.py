#!/usr/bin/env python3
"""Export a Prism Split checkpoint to ONNX (one STFT frame per call, explicit state).

    .venv-split/bin/python bundle/models/split/export.py --ckpt target/split-runs/full/best.pt \
        --out bundle/models/split/prism-split-v2.onnx

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
Writes <out>, <out>.json (metadata + check results) and <out stem>.parity.bin (PyTorch masks
on a deterministic 60 s signal that `shared/` regenerates, for the Rust tract parity test).
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


def parity_signal(n: int) -> np.ndarray:
    """Twin of `prism_shared::split::parity_signal` (shared/src/split/mod.rs): same LCG, same
    order of draws, float64 maths, float32 result."""
    state = 12345
    mask = (1 << 64) - 1

    def uniform():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        return (state >> 40) / 16777216.0

    def hz(midi):
        return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)

    out = np.zeros(n, np.float64)
    seg = 22050
    for start in range(0, n, seg):
        f = hz(33.0 + np.floor(uniform() * 15.0))
        t = np.arange(min(seg, n - start)) / SR
        env = np.minimum(t / 0.005, 1.0) * np.exp(-2.0 * t)
        x = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 9))
        out[start:start + len(t)] += 0.25 * env * x
    seg = 88200
    for start in range(0, n, seg):
        root = 55.0 + np.floor(uniform() * 12.0)
        third = 3.0 if uniform() < 0.5 else 4.0
        for interval in (0.0, third, 7.0):
            f = hz(root + interval)
            t = np.arange(min(seg, n - start)) / SR
            env = np.minimum(t / 0.02, 1.0)
            x = sum(np.sin(2 * np.pi * f * h * t) / h ** 1.5 for h in range(1, 6))
            out[start:start + len(t)] += 0.07 * env * x
    seg = 11025
    for k, start in enumerate(range(0, n, seg)):
        m = min(4410, n - start)
        t = np.arange(m) / SR
        noise = np.array([2.0 * uniform() - 1.0 for _ in range(m)])
        out[start:start + m] += 0.3 * np.exp(-t / 0.03) * noise
        if k % 2 == 0:
            t = np.arange(min(seg, n - start)) / SR
            out[start:start + len(t)] += 0.5 * np.exp(-t / 0.08) * np.sin(2 * np.pi * 60.0 * t)
    return out.astype(np.float32)


PARITY_SECONDS = 60.0
PARITY_EVERY = 128  # frames stored in the fixture (plus the last one)


def write_parity_fixture(model, path: Path) -> dict:
    """PyTorch streaming masks on `parity_signal` (60 s), every PARITY_EVERY-th frame, for the
    Rust tract parity test. Format: u32 count, then per frame u32 index + 3*513 f32 (LE)."""
    audio = parity_signal(int(PARITY_SECONDS * SR))
    mags = torch.from_numpy(rust_framing_mag(audio))
    keep = list(range(0, len(mags), PARITY_EVERY))
    if keep[-1] != len(mags) - 1:
        keep.append(len(mags) - 1)
    rows = []
    with torch.no_grad():
        st = model.init_state()
        for i in range(len(mags)):
            m, st = model.step(mags[i], st)
            if i in keep:
                rows.append((i, m.numpy().astype("<f4").reshape(-1)))
    with open(path, "wb") as f:
        f.write(np.uint32(len(rows)).astype("<u4").tobytes())
        for i, m in rows:
            f.write(np.uint32(i).astype("<u4").tobytes())
            f.write(m.tobytes())
    return {"file": path.name, "seconds": PARITY_SECONDS, "frames": len(mags), "stored": len(rows),
            "every": PARITY_EVERY, "rms": float(np.sqrt(np.mean(audio ** 2)))}


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
    ap.add_argument("--out", default=None, help="default: <ckpt dir>/prism-split.onnx")
    ap.add_argument("--data", default=str(REPO / "target" / "split-data"))
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()

    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    mcfg = M.ModelConfig(**ck["model_config"])
    model = M.SplitModel(mcfg).eval()
    model.load_state_dict(ck["model"])
    out = Path(args.out or Path(args.ckpt).with_name("prism-split.onnx"))
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

    parity = write_parity_fixture(model, out.with_suffix(".parity.bin"))
    size = out.stat().st_size
    meta = {
        "model": out.stem, "file": out.name, "bytes": size,
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
        "parity_fixture": parity,
    }
    Path(str(out) + ".json").write_text(json.dumps(meta, indent=1))
    print(json.dumps(meta["checks"], indent=1))
    ok = framing_err < 1e-5 and err_stream < 1e-4 and err_ort < 1e-4 and size <= 5 * 2**20
    print(f"{out}: {size / 1e6:.2f} MB, {meta['params']} params, ops {ops}: {'OK' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
