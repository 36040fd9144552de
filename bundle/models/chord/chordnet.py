"""The learned chord layer: features, templates, model, optimiser (NumPy).

Everything here has a twin in Rust (``shared/src/chordnet.rs``) that must compute the same
numbers: ``frame_features`` (per-frame input), ``CONTEXT`` (which past frames the model sees),
``template_logits`` (the prior) and ``ChordNet.forward``.
"""

from __future__ import annotations

import numpy as np

# Chord vocabulary, in the index order of shared/src/chord.rs: 0 = N, 1 + quality*12 + root.
QUALITIES = [
    ("maj", (0, 4, 7)), ("min", (0, 3, 7)), ("7", (0, 4, 7, 10)), ("maj7", (0, 4, 7, 11)),
    ("min7", (0, 3, 7, 10)), ("dim", (0, 3, 6)), ("aug", (0, 4, 8)), ("sus4", (0, 5, 7)),
    ("sus2", (0, 2, 7)), ("dim7", (0, 3, 6, 9)), ("hdim7", (0, 3, 6, 10)),
]
NQ = len(QUALITIES)
NUM_CHORDS = 1 + 12 * NQ
PITCH_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
# Template prior, as ChordModelParams::default() and bass_treble_templates().
KAPPA, BASS_WEIGHT, INVERSION_WEIGHT, NO_CHORD_FIT, FLATNESS_MARGIN = 12.0, 0.6, 0.25, 0.5, 0.3
# Per-frame input: 12 bass, 12 treble (log-compressed, relative to the frame's strongest),
# level, silent.
FRAME = 26
COMPRESS = 10.0
# The past frames the model sees, in hops before the newest (0 = newest; 23 ms hops).
CONTEXT = (0, 1, 2, 4, 6, 9, 13, 18)
INPUT = FRAME * len(CONTEXT)
# majmin collapse: qualities that count as maj / min in the majmin vocabulary.
MAJ_LIKE, MIN_LIKE = (0, 2, 3), (1, 4)


def _normalize(v, axis=-1):
    n = np.sqrt((v * v).sum(axis=axis, keepdims=True))
    return np.where(n > 0, v / np.maximum(n, 1e-30), 0.0)


def frame_features(feats: np.ndarray) -> np.ndarray:
    """``prism chroma --features`` rows -> [n, FRAME] float32 model input."""
    level, silent = feats[:, 1], feats[:, 2] > 0.5
    bass, treble = feats[:, 3:15], feats[:, 15:27]
    peak = np.maximum(bass.max(1), treble.max(1))
    ok = (peak > 1e-12) & ~silent
    scale = np.where(ok, 1.0 / np.maximum(peak, 1e-12), 0.0)[:, None]
    comp = lambda x: np.log1p(COMPRESS * x * scale) / np.log1p(COMPRESS)  # noqa: E731
    out = np.zeros((len(feats), FRAME), np.float32)
    out[:, :12] = comp(bass)
    out[:, 12:24] = comp(treble)
    out[:, 24] = np.clip((level + 90.0) / 90.0, 0.0, 1.2)
    out[:, 25] = silent
    return out


def chord_templates() -> np.ndarray:
    """[NUM_CHORDS, 24] unit-norm bass/treble templates (row 0, N, unused)."""
    t = np.zeros((NUM_CHORDS, 24))
    for q, (_, ivs) in enumerate(QUALITIES):
        for r in range(12):
            bass, treble = np.zeros(12), np.zeros(12)
            for iv in ivs:
                treble[(r + iv) % 12] = 1.0
                bass[(r + iv) % 12] = INVERSION_WEIGHT
            bass[r] = 1.0
            v = np.concatenate([BASS_WEIGHT * _normalize(bass), _normalize(treble)])
            t[1 + q * 12 + r] = _normalize(v)
    return t


TEMPLATES = chord_templates()


def template_logits(feats: np.ndarray) -> np.ndarray:
    """[n, NUM_CHORDS] ``kappa * (fit - 1)``: the template recogniser's log-likelihoods."""
    silent = feats[:, 2] > 0.5
    obs = _normalize(np.concatenate([BASS_WEIGHT * _normalize(feats[:, 3:15]),
                                     _normalize(feats[:, 15:27])], axis=1))
    fit = obs @ TEMPLATES.T
    flat = obs.sum(1) / np.sqrt(24.0)
    fit[:, 0] = np.maximum(NO_CHORD_FIT, flat - FLATNESS_MARGIN)
    fit[silent] = 0.0
    fit[silent, 0] = 1.0
    return (KAPPA * (fit - 1.0)).astype(np.float32)


def chord_index(label: str) -> int:
    if label in ("N", "X"):
        return 0
    root, quality = label.split(":")
    names = [q for q, _ in QUALITIES]
    return 1 + names.index(quality) * 12 + PITCH_NAMES.index(root)


def frame_labels(times: np.ndarray, segs) -> np.ndarray:
    """The chord sounding at each frame's last sample (N outside the chart)."""
    y = np.zeros(len(times), np.int64)
    starts = np.array([s[0] for s in segs])
    for i, t in enumerate(times):
        k = int(np.searchsorted(starts, t, side="right") - 1)
        if 0 <= k < len(segs) and t < segs[k][1]:
            y[i] = chord_index(segs[k][2])
    return y


def context_index(num_frames: int, offset: int) -> np.ndarray:
    """[num_frames, len(CONTEXT)] rows into the dataset's frame table (-1: before the song)."""
    i = np.arange(num_frames)[:, None] - np.array(CONTEXT)[None, :]
    return np.where(i >= 0, i + offset, -1)


# Rotation r reads pitch class (k + r) % 12 into slot k: the evidence relative to root r.
ROTATE = np.array([[(k + r) % 12 for k in range(12)] + [12 + (k + r) % 12 for k in range(12)]
                   + [24, 25] for r in range(12)])


def batch_inputs(frames: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """frames [N+1, FRAME] (last row: before-the-song padding), ctx [B, len(CONTEXT)] ->
    [B, 12, INPUT]."""
    f = frames[ctx]  # [B, C, FRAME]
    x = np.take(f, ROTATE, axis=2)  # [B, C, 12, FRAME]
    return x.transpose(0, 2, 1, 3).reshape(len(ctx), 12, INPUT)


def padding_row() -> np.ndarray:
    row = np.zeros((1, FRAME), np.float32)
    row[0, 25] = 1.0
    return row


class ChordNet:
    NAMES = ("W1", "b1", "W2", "b2", "W3", "b3", "wn", "bn", "a")

    def __init__(self, p):
        self.p = p

    @classmethod
    def init(cls, rng, hidden=64):
        h = hidden
        he = lambda n, m: (rng.standard_normal((n, m)) * np.sqrt(2.0 / n)).astype(np.float32)  # noqa: E731
        return cls({
            "W1": he(INPUT, h), "b1": np.zeros(h, np.float32),
            "W2": he(h, h), "b2": np.zeros(h, np.float32),
            "W3": (he(h, NQ) * 0.1).astype(np.float32), "b3": np.zeros(NQ, np.float32),
            "wn": (rng.standard_normal(h) * 0.01).astype(np.float32), "bn": np.zeros(1, np.float32),
            "a": np.ones(1, np.float32),
        })

    @classmethod
    def from_state(cls, state):
        return cls({k: np.array(state[k], np.float32) for k in cls.NAMES})

    def state(self):
        return dict(self.p)

    def forward(self, x, t, cache=False):
        p = self.p
        z1 = x @ p["W1"] + p["b1"]
        h1 = np.maximum(z1, 0)
        z2 = h1 @ p["W2"] + p["b2"]
        h2 = np.maximum(z2, 0)
        q = h2 @ p["W3"] + p["b3"]  # [B, 12 roots, NQ]
        pool = h2.mean(1)
        n = pool @ p["wn"] + p["bn"][0]
        net = np.concatenate([n[:, None], q.transpose(0, 2, 1).reshape(len(x), NQ * 12)], axis=1)
        logits = net + p["a"][0] * t
        if cache:
            return logits, (x, t, z1, h1, z2, h2, pool)
        return logits

    def loss_and_grads(self, x, t, y):
        p = self.p
        logits, (x, t, z1, h1, z2, h2, pool) = self.forward(x, t, cache=True)
        b = len(y)
        m = logits.max(1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(1, keepdims=True)
        prob = e / s
        loss = float(np.mean(np.log(s[:, 0]) + m[:, 0] - logits[np.arange(b), y]))
        d = prob
        d[np.arange(b), y] -= 1.0
        d /= b
        g = {"a": np.array([np.sum(d * t)], np.float32)}
        dn = d[:, 0]
        dq = d[:, 1:].reshape(b, NQ, 12).transpose(0, 2, 1)  # [B, 12, NQ]
        g["W3"] = np.einsum("brh,brq->hq", h2, dq)
        g["b3"] = dq.sum((0, 1))
        g["wn"] = pool.T @ dn
        g["bn"] = np.array([dn.sum()], np.float32)
        dh2 = dq @ p["W3"].T + (dn[:, None] * p["wn"][None, :] / 12.0)[:, None, :]
        dz2 = dh2 * (z2 > 0)
        g["W2"] = np.einsum("brh,brk->hk", h1, dz2)
        g["b2"] = dz2.sum((0, 1))
        dz1 = (dz2 @ p["W2"].T) * (z1 > 0)
        g["W1"] = np.einsum("bri,brh->ih", x, dz1)
        g["b1"] = dz1.sum((0, 1))
        return loss, {k: v.astype(np.float32) for k, v in g.items()}


class Adam:
    def __init__(self, net, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=1e-5):
        self.m = {k: np.zeros_like(v) for k, v in net.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in net.p.items()}
        self.t, self.b1, self.b2, self.eps, self.wd = 0, b1, b2, eps, wd

    @classmethod
    def from_state(cls, state, net, wd=1e-5):
        opt = cls(net, wd=wd)
        for k in net.p:
            opt.m[k] = np.array(state["m_" + k], np.float32)
            opt.v[k] = np.array(state["v_" + k], np.float32)
        opt.t = int(state["adam_t"])
        return opt

    def state(self):
        out = {"m_" + k: v for k, v in self.m.items()}
        out.update({"v_" + k: v for k, v in self.v.items()})
        out["adam_t"] = self.t
        return out

    def step(self, net, grads, lr):
        self.t += 1
        for k, g in grads.items():
            if k.startswith("W"):  # decoupled weight decay (AdamW) on the matrices
                net.p[k] = net.p[k] * (1.0 - lr * self.wd)
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            mh = self.m[k] / (1 - self.b1 ** self.t)
            vh = self.v[k] / (1 - self.b2 ** self.t)
            net.p[k] = (net.p[k] - lr * mh / (np.sqrt(vh) + self.eps)).astype(np.float32)


def majmin(prob: np.ndarray) -> np.ndarray:
    """[n, NUM_CHORDS] posteriors -> [n, 25] majmin posteriors (N, 12 maj, 12 min)."""
    out = np.zeros((len(prob), 25), prob.dtype)
    out[:, 0] = prob[:, 0]
    for q in MAJ_LIKE:
        out[:, 1:13] += prob[:, 1 + q * 12:13 + q * 12]
    for q in MIN_LIKE:
        out[:, 13:25] += prob[:, 1 + q * 12:13 + q * 12]
    return out


def majmin_label(y: np.ndarray) -> np.ndarray:
    """Chord index -> majmin index (N 0, maj 1+r, min 13+r; -1: not scored)."""
    out = np.full(len(y), -1)
    out[y == 0] = 0
    q, r = (y - 1) // 12, (y - 1) % 12
    for qq in MAJ_LIKE:
        out[(y > 0) & (q == qq)] = 1 + r[(y > 0) & (q == qq)]
    for qq in MIN_LIKE:
        out[(y > 0) & (q == qq)] = 13 + r[(y > 0) & (q == qq)]
    return out


def softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def frame_scores(net, frames, ctx, t, y, chunk=4096):
    """Frame-level dev scores of the model and of the templates alone."""
    losses, pred, pred_t, root = [], [], [], []
    for b in range(0, len(y), chunk):
        c = slice(b, b + chunk)
        logits = net.forward(batch_inputs(frames, ctx[c]), t[c])
        prob = softmax(logits)
        losses.append(-np.log(prob[np.arange(len(prob)), y[c]] + 1e-12))
        pred.append(majmin(prob).argmax(1))
        pred_t.append(majmin(softmax(t[c])).argmax(1))
        root.append(prob.argmax(1))
    pred, pred_t, full = np.concatenate(pred), np.concatenate(pred_t), np.concatenate(root)
    lab = majmin_label(y)
    keep = lab >= 0
    chord = y > 0
    return {
        "loss": float(np.concatenate(losses).mean()),
        "majmin": float(np.mean(pred[keep] == lab[keep])),
        "majmin_templates": float(np.mean(pred_t[keep] == lab[keep])),
        "root": float(np.mean((full[chord] - 1) % 12 == (y[chord] - 1) % 12)),
    }
