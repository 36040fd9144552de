"""Chordino (the NNLS-Chroma Vamp plugin, Mauch & Dixon 2010) as an offline chord anchor.

Optional: used when PyPI ``vamp`` imports and a Vamp plugin library ``nnls-chroma`` is on
``VAMP_PATH``. Neither is installed by the project (the plugin is built by hand from its
public source, https://github.com/c4dm/nnls-chroma, against Debian's ``vamp-plugin-sdk``;
nothing of it is committed). ``available()`` says why it is missing.

Chordino runs at 44.1 kHz with its own defaults except ``usehartesyntax`` (labels like
``A:min7``; the bass, if any, after ``/``), block 16384, step 2048 (its documented values).
It decodes the whole file with Viterbi: an offline system, so its decision latency is not
comparable and not reported.
"""

from __future__ import annotations

import os
import re
import time

import numpy as np

SR = 44100
PLUGIN_KEY = "nnls-chroma:chordino"


def available() -> tuple[bool, str]:
    try:
        import vamp  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return False, f"PyPI vamp not importable ({exc})"
    import vamp

    try:
        plugins = vamp.list_plugins()
    except Exception as exc:  # noqa: BLE001
        return False, f"vamp.list_plugins failed ({exc})"
    if PLUGIN_KEY not in plugins:
        return False, f"{PLUGIN_KEY} not on VAMP_PATH ({os.environ.get('VAMP_PATH', 'unset')})"
    return True, "vamp " + getattr(vamp, "__version__", "?")


_QUALITY = {  # Chordino (Harte-style with usehartesyntax) → mir_eval quality
    "": "maj", "maj": "maj", "min": "min", "7": "7", "maj7": "maj7", "min7": "min7",
    "dim": "dim", "aug": "aug", "dim7": "dim7", "hdim7": "hdim7", "maj6": "maj6",
    "min6": "min6", "6": "maj6", "m": "min", "m7": "min7", "m6": "min6", "m7b5": "hdim7",
    "sus4": "sus4", "sus2": "sus2",
}


def to_mir_eval(label: str) -> str:
    """A Chordino label as a mir_eval chord (the bass note dropped: majmin/root/mirex do
    not score it)."""
    label = label.strip()
    if not label or label == "N":
        return "N"
    label = label.split("/")[0]
    m = re.match(r"^([A-G][#b]?)(?::?(.*))$", label)
    if not m:
        return "X"
    root, quality = m.group(1), m.group(2)
    quality = _QUALITY.get(quality, quality)
    return f"{root}:{quality}"


def run(wav_path) -> dict:
    """Chordino on one file: ``{"times", "labels", "segments", "wall_s"}``; frames every 10 ms
    from the segments so the frame-based metrics (flicker) apply."""
    import librosa
    import vamp

    t0 = time.perf_counter()
    y, _ = librosa.load(str(wav_path), sr=SR, mono=True)
    out = vamp.collect(y, SR, PLUGIN_KEY, output="simplechord",
                       parameters={"usehartesyntax": 1.0}, block_size=16384, step_size=2048)
    wall = time.perf_counter() - t0
    events = out.get("list", [])
    starts = [float(e["timestamp"]) for e in events]
    labels = [to_mir_eval(e.get("label", "N")) for e in events]
    end = len(y) / SR
    segments = [(s, starts[i + 1] if i + 1 < len(starts) else end, lab)
                for i, (s, lab) in enumerate(zip(starts, labels))]
    times = np.arange(0.0, end, 0.01)
    frame_labels = ["N"] * len(times)
    for s, e, lab in segments:
        i0, i1 = int(np.searchsorted(times, s)), int(np.searchsorted(times, e))
        frame_labels[i0:i1] = [lab] * (i1 - i0)
    return {"times": times, "labels": frame_labels, "segments": segments, "keys": ["X"] * len(times),
            "chroma": None, "wall_s": wall}


def write_lab(path, segments) -> None:
    with open(path, "w") as fh:
        for s, e, lab in segments:
            if e > s:
                fh.write(f"{s:.6f} {e:.6f} {lab}\n")
