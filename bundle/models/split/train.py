#!/usr/bin/env python3
"""Train the Prism Split mask estimator on CPU (seeded, resumable, logged).

    nice -n 19 .venv-split/bin/python bundle/models/split/train.py --config tiny
    nice -n 19 .venv-split/bin/python bundle/models/split/train.py --config full

Data: ``render.py`` output (``manifest.json`` + float16 stereo stems). Every training
example is built on the fly from a seed that depends only on (--seed, step), so a resumed
run sees exactly the batches an uninterrupted run would have seen:
  * random cross-song stem mixing (p = 0.5: each stem from an independent song/offset),
  * per-stem downmix with a random pan (mono = a L + (1 - a) R),
  * per-stem gain (-10..+4 dB) and smooth random EQ (+-6 dB over log frequency),
  * soft saturation of a stem (p = 0.15),
  * the mix is the sum of the augmented stems (exactly).
STFT: exactly the plugin framing (periodic Hann 1024, hop 256, no centring).
Loss: L1 on the complex masked spectra plus L1 on their magnitudes, both normalised by
the mean mix magnitude of the example (level invariant).

Checkpoints: ``<run>/last.pt`` (every --ckpt-every steps, atomic) and ``<run>/best.pt``
(best validation loss); ``<run>/log.csv`` has one row per validation.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
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

TRAIN_CONFIGS = {
    # smoke test: minutes on one core
    "tiny": dict(model="tiny", steps=300, batch=4, crop_s=1.5, lr=2e-3, valid_every=100,
                 ckpt_every=100, valid_items=16),
    "full": dict(model="full", steps=12000, batch=6, crop_s=2.0, lr=1e-3, valid_every=200,
                 ckpt_every=50, valid_items=32),
    # the shipped v1 model: what one development session's CPU affords (~1.7 h on one shared
    # core at ~2.5 s/step; 2400 x 8 x 1.5 s = 8 h of augmented audio, ~2.5 passes over train)
    "v1": dict(model="full", steps=2400, batch=8, crop_s=1.5, lr=1.5e-3, valid_every=200,
               ckpt_every=25, valid_items=32),
    # the shipped v2 weights: v1 fine-tuned (--init <v1 run>/best.pt) on render version 2
    # (mma + the music21 corpus + Debian MIDI packages), ~50 min more of one core
    "v2": dict(model="full", steps=1200, batch=8, crop_s=1.5, lr=8e-4, valid_every=150,
               ckpt_every=25, valid_items=32),
}


def stft(x, window):
    """x [B, N] -> complex [B, T, 513]; frame k covers x[256k : 256k + 1024]."""
    return torch.stft(x, M.N_FFT, M.HOP, window=window, center=False, return_complex=True).transpose(1, 2)


class Data:
    def __init__(self, root: Path, split: str, items=None):
        self.items = items if items is not None else self.scan(root, split)
        if not self.items:
            raise SystemExit(f"no {split} songs in {root}: run render.py first")
        self.stems = {}
        for it in self.items:
            d = Path(it["dir"])
            self.stems[it["name"]] = {s: np.load(d / f"{s}.npy", mmap_mode="r") for s in M.STEMS}
        # songs with an audible stem, per stem (bass is absent from many mma grooves)
        self.active = {s: [i for i, it in enumerate(self.items) if it["rms"][s] > 1e-4] for s in M.STEMS}
        self.hours = sum(it["samples"] for it in self.items) / SR / 3600

    @staticmethod
    def scan(root: Path, split: str):
        """Songs from manifest.json, or (render still running) from the song directories."""
        man = root / "manifest.json"
        if man.exists():
            return [it for it in json.loads(man.read_text())["items"] if it["split"] == split]
        items = []
        for d in sorted((root / split).glob("*")):
            if all((d / f"{s}.npy").exists() for s in M.STEMS):
                arr = {s: np.load(d / f"{s}.npy", mmap_mode="r") for s in M.STEMS}
                rms = {s: float(np.sqrt(np.mean(np.asarray(a[::64], np.float32) ** 2))) for s, a in arr.items()}
                items.append({"name": d.name, "split": split, "dir": str(d),
                              "samples": arr["drums"].shape[0], "rms": rms})
        return items

    def crop(self, idx, stem, off, n):
        a = self.stems[self.items[idx]["name"]][stem]
        seg = np.zeros((n, 2), np.float32)
        if off < a.shape[0]:
            c = np.asarray(a[off:off + n], dtype=np.float32)
            seg[:len(c)] = c
        return seg


def random_eq(rng, n):
    """Smooth random gain curve over rfft bins of an n-sample crop (log-frequency cosines)."""
    f = np.fft.rfftfreq(n, 1 / SR)
    lf = np.log2(np.maximum(f, 20.0) / 20.0) / 10.0  # 0..1 over 20 Hz..20 kHz
    db = np.zeros_like(lf)
    for k in range(1, 4):
        db += rng.uniform(-1, 1) * np.cos(np.pi * k * lf + rng.uniform(0, 2 * np.pi))
    db *= 6.0 / 3.0
    return 10 ** (db / 20)


def random_reverb(rng, x):
    """Synthetic room: exponentially decaying noise (RT60 0.2-1.5 s, darker as it decays),
    highs decaying twice as fast, 5-25 ms pre-delay, wet/dry 0.1-0.5; output length = input length."""
    rt60 = rng.uniform(0.2, 1.5)
    n_ir = int(min(rt60, 1.0) * SR)
    t = np.arange(n_ir) / SR
    # high frequencies decay twice as fast: split the noise at ~2 kHz before the envelopes
    spec = np.fft.rfft(rng.standard_normal(n_ir))
    lo = np.fft.irfft(spec * (np.fft.rfftfreq(n_ir, 1 / SR) < rng.uniform(1000, 4000)), n_ir)
    hi = np.fft.irfft(spec, n_ir) - lo
    y = lo * np.exp(-6.91 * t / rt60) + hi * np.exp(-13.8 * t / rt60)
    ir = np.concatenate([np.zeros(int(rng.uniform(0.005, 0.025) * SR)), y])
    ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
    nfft = 1 << int(np.ceil(np.log2(len(x) + len(ir))))
    wet = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(ir, nfft), nfft)[: len(x)]
    mix = rng.uniform(0.1, 0.5)
    return ((1 - mix) * x + mix * wet).astype(np.float32)


def make_example(data: Data, rng, n, augment=True):
    """-> stems [3, n] float32 (the mix is their sum)."""
    out = np.zeros((len(M.STEMS), n), np.float32)
    cross = augment and rng.random() < 0.5
    base = int(rng.integers(len(data.items)))
    base_len = data.items[base]["samples"]
    base_off = int(rng.integers(0, max(1, base_len - n)))
    for si, s in enumerate(M.STEMS):
        idx, off = base, base_off
        if cross:
            pool = data.active[s] if (data.active[s] and rng.random() < 0.85) else range(len(data.items))
            idx = int(rng.choice(pool))
            off = int(rng.integers(0, max(1, data.items[idx]["samples"] - n)))
        st = data.crop(idx, s, off, n)
        if augment:
            a = rng.uniform(0, 1)
            x = a * st[:, 0] + (1 - a) * st[:, 1]
            x = x * 10 ** (rng.uniform(-10, 4) / 20)
            if rng.random() < 0.7:
                x = np.fft.irfft(np.fft.rfft(x) * random_eq(rng, n), n)
            if rng.random() < 0.25:
                x = random_reverb(rng, x)
            if rng.random() < 0.15:
                drive = rng.uniform(1.5, 6.0)
                x = np.tanh(drive * x) / drive
        else:
            x = 0.5 * (st[:, 0] + st[:, 1])
        out[si] = x
    return out


def batch_for(data, seed, step, bsz, n, augment=True):
    rng = np.random.default_rng([seed, step])
    return torch.from_numpy(np.stack([make_example(data, rng, n, augment) for _ in range(bsz)]))


def loss_fn(model, stems, window):
    """stems [B, 3, N] -> (loss, est [B,3,T,F] complex, S [B,3,T,F] complex, X)."""
    b, s, n = stems.shape
    mix = stems.sum(1)
    X = stft(mix, window)  # [B, T, F]
    S = stft(stems.reshape(b * s, n), window).reshape(b, s, *X.shape[1:])
    masks, _ = model(X.abs())  # [B, T, 3, F]
    est = masks.transpose(1, 2) * X.unsqueeze(1)
    scale = X.abs().mean(dim=(1, 2)).clamp_min(1e-3).view(b, 1, 1, 1)
    diff = (est - S) / scale
    l_cplx = (diff.real.abs() + diff.imag.abs()).mean()
    l_mag = ((est.abs() - S.abs()) / scale).abs().mean()
    return l_cplx + l_mag, est, S, X


def spectral_sdr(est, ref):
    """SDR in dB over the STFT (≈ time-domain SDR by Parseval), per stem summed over batch."""
    num = (ref.abs() ** 2).sum(dim=(0, 2, 3))
    den = ((ref - est).abs() ** 2).sum(dim=(0, 2, 3)).clamp_min(1e-12)
    return 10 * torch.log10(num.clamp_min(1e-12) / den)


def validate(model, vdata, cfg, seed, window, n):
    model.eval()
    tot, ests, refs, oracle, mixes = 0.0, [], [], [], []
    with torch.no_grad():
        for i in range(0, cfg["valid_items"], 8):
            stems = batch_for(vdata, seed + 999, i, min(8, cfg["valid_items"] - i), n, augment=False)
            loss, est, S, X = loss_fn(model, stems, window)
            tot += loss.item() * stems.shape[0]
            mag = S.abs()
            ests.append(est)
            refs.append(S)
            oracle.append(mag / mag.sum(1, keepdim=True).clamp_min(1e-8) * X.unsqueeze(1))
            mixes.append(X.unsqueeze(1).expand_as(S))
    model.train()
    est, ref = torch.cat(ests), torch.cat(refs)
    return (tot / cfg["valid_items"], spectral_sdr(est, ref).tolist(),
            spectral_sdr(torch.cat(oracle), ref).tolist(), spectral_sdr(torch.cat(mixes), ref).tolist())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(TRAIN_CONFIGS), default="tiny")
    ap.add_argument("--data", default=str(REPO / "target" / "split-data"))
    ap.add_argument("--run", default=None, help="run dir (default target/split-runs/<config>)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="override the config's step count")
    ap.add_argument("--init", default=None,
                    help="start from the weights of this checkpoint (fresh optimiser and schedule); "
                         "ignored when the run resumes from its own last.pt")
    args = ap.parse_args()

    cfg = dict(TRAIN_CONFIGS[args.config])
    if args.steps:
        cfg["steps"] = args.steps
    run = Path(args.run or REPO / "target" / "split-runs" / args.config)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    mcfg = M.CONFIGS[cfg["model"]]
    model = M.SplitModel(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    window = torch.hann_window(M.N_FFT, periodic=True)
    n = M.N_FFT + M.HOP * (int(cfg["crop_s"] * SR) // M.HOP)
    step, best, elapsed = 0, float("inf"), 0.0
    last = run / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, best, elapsed = ck["step"], ck["best"], ck.get("elapsed", 0.0)
        print(f"resumed from {last} at step {step}", flush=True)
    elif args.init:
        ck = torch.load(args.init, map_location="cpu", weights_only=False)
        if ck.get("model_config") != mcfg.to_dict():
            raise SystemExit(f"--init {args.init}: its model config differs from {cfg['model']}")
        model.load_state_dict(ck["model"])
        print(f"initialised from {args.init} (its step {ck.get('step')})", flush=True)
    titems = Data.scan(Path(args.data), "train")
    vitems = Data.scan(Path(args.data), "valid")
    if not vitems:
        # rendering still under way: validate on the last 2 training songs instead
        print("WARNING: no valid songs yet; holding out the last 2 train songs for validation", flush=True)
        titems, vitems = titems[:-2], titems[-2:]
    tdata = Data(Path(args.data), "train", titems)
    vdata = Data(Path(args.data), "valid", vitems)
    print(f"config {args.config}: {M.n_params(model)} params, model {mcfg.to_dict()}, train {cfg}; "
          f"data: train {tdata.hours:.2f} h ({len(tdata.items)} songs), valid {vdata.hours:.2f} h",
          flush=True)
    (run / "config.json").write_text(json.dumps({"train": cfg, "model": mcfg.to_dict(), "seed": args.seed,
                                                 "params": M.n_params(model), "data": args.data,
                                                 "init": args.init}, indent=1))
    log_path = run / "log.csv"
    new_log = not log_path.exists()
    logf = open(log_path, "a", newline="")
    log = csv.writer(logf)
    if new_log:
        log.writerow(["step", "elapsed_s", "lr", "train_loss", "valid_loss",
                      "sdr_drums", "sdr_bass", "sdr_other",
                      "oracle_drums", "oracle_bass", "oracle_other", "mix_drums", "mix_bass", "mix_other"])

    def save(path, extra=None):
        tmp = path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best,
                    "elapsed": elapsed, "model_config": mcfg.to_dict(), "config": args.config,
                    **(extra or {})}, tmp)
        os.replace(tmp, path)

    running, t0 = [], time.time()
    model.train()
    while step < cfg["steps"]:
        warm = min(1.0, (step + 1) / min(200, max(1, cfg["steps"] // 10)))
        lr = cfg["lr"] * warm * 0.5 * (1 + math.cos(math.pi * step / cfg["steps"]))
        for g in opt.param_groups:
            g["lr"] = lr
        stems = batch_for(tdata, args.seed, step, cfg["batch"], n)
        loss, *_ = loss_fn(model, stems, window)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        running.append(loss.item())
        step += 1
        now = time.time()
        elapsed += now - t0
        t0 = now
        if step % 25 == 0:
            print(f"step {step} loss {np.mean(running[-25:]):.4f} lr {lr:.2e} ({elapsed:.0f} s)", flush=True)
        if step % cfg["valid_every"] == 0 or step == cfg["steps"]:
            vloss, sdr, orc, mix = validate(model, vdata, cfg, args.seed, window, n)
            log.writerow([step, round(elapsed, 1), f"{lr:.3e}", f"{np.mean(running):.5f}",
                          f"{vloss:.5f}", *[f"{v:.2f}" for v in sdr + orc + mix]])
            logf.flush()
            running = []
            print(f"VALID step {step}: loss {vloss:.4f}; spectral SDR model "
                  + " ".join(f"{s} {v:.2f}" for s, v in zip(M.STEMS, sdr))
                  + " | oracle " + " ".join(f"{v:.2f}" for v in orc)
                  + " | mixture " + " ".join(f"{v:.2f}" for v in mix), flush=True)
            if vloss < best:
                best = vloss
                save(run / "best.pt", {"valid_loss": vloss, "valid_sdr": sdr})
        if step % cfg["ckpt_every"] == 0 or step == cfg["steps"]:
            save(last)
    print(f"finished {step} steps in {elapsed:.0f} s; best valid loss {best:.4f}", flush=True)


if __name__ == "__main__":
    main()
