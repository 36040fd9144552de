"""Prism Split: a causal band-split recurrent mask estimator (drums / bass / other).

Input per STFT frame: the magnitude |X| (513 bins) of the *unnormalised* real FFT of a
periodic-Hann-windowed 1024-sample frame, hop 256, exactly as `shared/src/stft.rs`
(`SpectralEngine`) computes it: the frame emitted after sample t covers [t - 1024, t).
In PyTorch that is ``torch.stft(x, 1024, 256, window=hann_window(1024, periodic=True),
center=False)`` on the signal preceded by 768 zeros.

Graph: log-magnitude -> band split (38 bands, narrow at low frequencies) -> per-band
linear to width D -> ``blocks`` x [causal GRU over time, shared by all bands (state is
an explicit input/output) ; MLP across bands within the frame ; MLP across features]
-> per-band mask heads -> softmax over the 3 stems (masks sum to 1, so the stems always
add back up to the mix). No look-ahead: the output for frame k depends on frames <= k.

Every op of the one-frame step graph (``StepModel``) is elementary (MatMul, Add, Mul,
Sigmoid, Tanh, ReduceMean, Sqrt, Div, Log, Softmax, Slice, Concat, Reshape), so it
exports at opset 17 with fixed shapes and no ONNX GRU/LayerNormalization ops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

N_FFT = 1024
HOP = 256
N_BINS = N_FFT // 2 + 1
STEMS = ("drums", "bass", "other")

# 38 bands: 10 x 2 bins (up to 861 Hz), 8 x 4 (2.2 kHz), 6 x 8 (4.3 kHz), 6 x 16 (8.4 kHz),
# 5 x 32 (15.3 kHz), then 52 + 52 + 53 up to Nyquist.
BAND_WIDTHS = [2] * 10 + [4] * 8 + [8] * 6 + [16] * 6 + [32] * 5 + [52, 52, 53]
assert sum(BAND_WIDTHS) == N_BINS


@dataclass
class ModelConfig:
    width: int = 64  # D
    blocks: int = 2
    band_mlp: int = 2  # hidden multiplier of the across-band MLP
    feat_mlp: int = 2  # hidden multiplier of the feature MLP
    head_mlp: int = 2  # hidden multiplier of the mask head
    band_widths: list = field(default_factory=lambda: list(BAND_WIDTHS))

    def to_dict(self):
        return asdict(self)


class Norm(nn.Module):
    """LayerNorm over the last dim, written with elementary ops (portable ONNX)."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        xc = x - mu
        var = (xc * xc).mean(-1, keepdim=True)
        return xc / torch.sqrt(var + self.eps) * self.weight + self.bias


def gru_cell(x, h, gru: nn.GRU):
    """One step of ``gru`` (single layer) with the exact nn.GRU equations."""
    w_ih, w_hh = gru.weight_ih_l0, gru.weight_hh_l0
    b_ih, b_hh = gru.bias_ih_l0, gru.bias_hh_l0
    gi = x @ w_ih.t() + b_ih
    gh = h @ w_hh.t() + b_hh
    d = gru.hidden_size
    r = torch.sigmoid(gi[..., :d] + gh[..., :d])
    z = torch.sigmoid(gi[..., d:2 * d] + gh[..., d:2 * d])
    n = torch.tanh(gi[..., 2 * d:] + r * gh[..., 2 * d:])
    return (1 - z) * n + z * h


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, n_bands: int):
        super().__init__()
        d = cfg.width
        self.norm_t = Norm(d)
        self.gru = nn.GRU(d, d, batch_first=True)
        self.proj_t = nn.Linear(d, d)
        self.norm_b = Norm(d)
        self.band1 = nn.Linear(n_bands, cfg.band_mlp * n_bands)
        self.band2 = nn.Linear(cfg.band_mlp * n_bands, n_bands)
        self.norm_f = Norm(d)
        self.feat1 = nn.Linear(d, cfg.feat_mlp * d)
        self.feat2 = nn.Linear(cfg.feat_mlp * d, d)

    def mix(self, x):
        """Within-frame part: x [..., K, D]."""
        y = self.norm_b(x).transpose(-1, -2)  # [..., D, K]
        y = self.band2(F.silu(self.band1(y))).transpose(-1, -2)
        x = x + y
        x = x + self.feat2(F.silu(self.feat1(self.norm_f(x))))
        return x

    def forward(self, x, h0=None):
        """Sequence: x [B, T, K, D], h0 [B*K, D] or None -> (x, hT [B*K, D])."""
        b, t, k, d = x.shape
        y = self.norm_t(x).permute(0, 2, 1, 3).reshape(b * k, t, d)
        y, h = self.gru(y, None if h0 is None else h0.unsqueeze(0))
        y = y.reshape(b, k, t, d).permute(0, 2, 1, 3)
        x = x + self.proj_t(y)
        return self.mix(x), h.squeeze(0)

    def step(self, x, h):
        """One frame: x [K, D], h [K, D] -> (x, h')."""
        h = gru_cell(self.norm_t(x), h, self.gru)
        x = x + self.proj_t(h)
        return self.mix(x), h


class SplitModel(nn.Module):
    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        d = cfg.width
        self.widths = list(cfg.band_widths)
        self.k = len(self.widths)
        self.band_in = nn.ModuleList([nn.Linear(w, d) for w in self.widths])
        self.norm_in = Norm(d)
        self.blocks = nn.ModuleList([Block(cfg, self.k) for _ in range(cfg.blocks)])
        self.norm_out = Norm(d)
        self.head1 = nn.Linear(d, cfg.head_mlp * d)
        self.head2 = nn.ModuleList([nn.Linear(cfg.head_mlp * d, len(STEMS) * w) for w in self.widths])

    @staticmethod
    def features(mag):
        # |X| of a full-scale sine at a bin centre is 256; -100 dBFS noise is ~1e-3.
        return (torch.log(mag + 1e-3) - 1.0) / 3.0

    def encode(self, mag):
        """mag [..., 513] -> [..., K, D]."""
        f = self.features(mag)
        parts = torch.split(f, self.widths, dim=-1)
        x = torch.stack([lin(p) for lin, p in zip(self.band_in, parts)], dim=-2)
        return self.norm_in(x)

    def decode(self, x):
        """[..., K, D] -> masks [..., 3, 513] (softmax over stems)."""
        y = F.silu(self.head1(self.norm_out(x)))
        # unbind, not y[..., i, :]: indexing's backward writes a full-size zero tensor per band
        logits = [head(yi).unflatten(-1, (len(STEMS), w))
                  for yi, head, w in zip(torch.unbind(y, dim=-2), self.head2, self.widths)]
        return torch.softmax(torch.cat(logits, dim=-1), dim=-2)

    def decode_step(self, x):
        """One frame: [K, D] -> [3, 513]; constant reshapes only (no Shape ops in ONNX)."""
        y = F.silu(self.head1(self.norm_out(x)))
        logits = [head(y[i]).reshape(len(STEMS), w)
                  for i, (head, w) in enumerate(zip(self.head2, self.widths))]
        return torch.softmax(torch.cat(logits, dim=-1), dim=0)

    def forward(self, mag, state=None):
        """Offline / training: mag [B, T, 513] -> masks [B, T, 3, 513], state [L, B*K, D]."""
        x = self.encode(mag)
        hs = []
        for i, blk in enumerate(self.blocks):
            x, h = blk(x, None if state is None else state[i])
            hs.append(h)
        return self.decode(x), torch.stack(hs)

    def init_state(self, batch=1):
        return torch.zeros(len(self.blocks), batch * self.k, self.cfg.width)

    def step(self, mag, state):
        """Streaming: mag [513], state [L, K, D] -> masks [3, 513], state' [L, K, D]."""
        x = self.encode(mag)
        hs = []
        for i, blk in enumerate(self.blocks):
            x, h = blk.step(x, state[i])
            hs.append(h)
        return self.decode_step(x), torch.stack(hs)


class StepModel(nn.Module):
    """The exported graph: (mag [1, 513], state [L, K, D]) -> (masks [3, 513], state)."""

    def __init__(self, model: SplitModel):
        super().__init__()
        self.model = model

    def forward(self, mag, state):
        masks, new_state = self.model.step(mag[0], state)
        return masks, new_state


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


CONFIGS = {
    "tiny": ModelConfig(width=24, blocks=1),
    "full": ModelConfig(width=64, blocks=2),
}

if __name__ == "__main__":
    for name, c in CONFIGS.items():
        print(name, n_params(SplitModel(c)))
