"""Deterministic material for the Prism Pitch evaluation (``pitch_eval.py``).

Everything is rendered here from a seed; nothing is downloaded.  44.1 kHz mono, 32-bit
float WAV (so the -40 dB condition is not also a quantisation test).

Groups
------
* ``analytic``  -- additive synthesis with an exact f0 curve: 1/k spectra, odd harmonics,
  missing fundamental, formant-filtered voice-like tones; ADSR attacks 2-50 ms; vibrato
  5-7 Hz at +-20/50/100 cents; glides (legato phrases); small random pitch wander
  ("jitter"); a per-item tuning offset.  Melodies are real tunes from the Essen folk-song
  collection bundled in the ``music21`` wheel (seeded generated melodies when music21 is
  missing), transposed into bass (41-196 Hz), voice and instrument (up to 1.76 kHz)
  registers.  Ground truth is the f0 *function* that drove the oscillator bank: scoring
  evaluates it at each system's own frame times (``truth_at``), so it is exact.
* ``gm``        -- the same kind of melodies as General-MIDI renders through FluidSynth
  (``-R 0 -C 0 -g 0.5 -r 44100``) with FluidR3_GM and MuseScore_General: flute, clarinet,
  oboe, violin, cello, trumpet, alto sax, choir aahs, voice oohs, fingered bass, nylon
  guitar.  Ground truth = the MIDI notes.  Masked (not scored): 300 ms of release tail after
  each note-off (up to the next note-on), the part of a note before its acoustic onset
  (the first time its own envelope -- from a render of only the even or only the odd
  notes -- is within 20 dB of its peak and 10 dB above the neighbours' sound: slow
  soundfont attacks, long releases overlapping the next note), and every note whose rendered pitch (careful offline
  estimate on its own render, ``measure_note_pitch``) is more than 30 cents (or an octave)
  off the MIDI note -- such notes are flagged in the manifest.
* degradations of a subset of both: white / pink noise at 30/20/10/0 dB SNR (against the
  power of the voiced part), synthetic reverb (exponentially decaying noise tail, RT60
  0.3/0.8/1.5 s, direct-to-reverberant ratio 3 dB), band-limiting 300-3400 Hz (4th-order
  Butterworth, zero phase), detuning +-10/25/50 cents (resampling with soxr VHQ: the
  ground truth's frequencies are multiplied and its times divided by the same ratio), and
  -40 dB gain.
* dedicated test signals: ``steady`` (2 s tones at many pitches in A4 = 415/440/466.16 Hz
  tunings: tuner bias, jitter, settling), ``steps`` (phase-continuous pitch jumps: step
  response latency), ``onsets`` (isolated analytic notes with 2-50 ms attacks, and isolated
  GM notes: MIDI note-on minus acoustic onset).

``build_material`` renders (or reuses, while the recipe hash matches) everything into
``<out>/material`` and returns the item list; ``truth_at`` samples any item's ground truth.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

# Bump when anything that changes the rendered audio or the ground truth changes.
MATERIAL_VERSION = 4

SR = 44100
SOUNDFONTS = {
    "FluidR3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "MuseScore": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
}
FLUIDSYNTH_GAIN = 0.5

# GM instruments: program (0-based), MIDI range used for the melodies, shortest note (s):
# the slow-attack, long-release patches (choir, voice, bowed strings) get slower tunes, or
# the previous note's release would dominate the next note.
GM_INSTRUMENTS = {
    "flute": (73, 60, 93, 0.09),
    "clarinet": (71, 50, 86, 0.09),
    "oboe": (68, 58, 89, 0.09),
    "violin": (40, 55, 93, 0.15),
    "cello": (42, 36, 72, 0.15),
    "trumpet": (56, 55, 82, 0.09),
    "alto_sax": (65, 49, 80, 0.09),
    "choir_aahs": (52, 48, 76, 0.25),
    "voice_oohs": (53, 48, 76, 0.25),
    "bass": (33, 28, 55, 0.09),
    "guitar": (24, 40, 76, 0.09),
}

# Registers of the analytic melodies (MIDI note range).
REGISTERS = {
    "bass": (29, 55),        # F1 43.7 Hz .. G3 196 Hz
    "voice_low": (43, 67),   # G2 98 Hz .. G4 392 Hz
    "voice_high": (55, 79),  # G3 196 Hz .. G5 784 Hz
    "inst_mid": (55, 84),    # G3 .. C6 1047 Hz
    "inst_high": (67, 93),   # G4 392 Hz .. A6 1760 Hz
}
TIMBRES = ["saw", "odd", "missing", "voice"]
# (timbre, register) pairs the analytic items cycle through (voice-like tones stay in
# voice registers).
TIMBRE_REGISTERS = [(t, r) for t in TIMBRES for r in REGISTERS
                    if t != "voice" or r.startswith("voice") or r == "bass"]
ATTACKS_MS = [2, 5, 10, 25, 50]
VIBRATOS = [None, 20, 50, 100]  # depth in cents (+-)

# Formants (Hz) and bandwidths of five vowels (adult averages), cascaded resonators.
VOWELS = {
    "a": ((730, 1090, 2440, 3400), (90, 110, 140, 180)),
    "e": ((530, 1840, 2480, 3400), (80, 110, 140, 180)),
    "i": ((270, 2290, 3010, 3400), (60, 120, 150, 180)),
    "o": ((570, 840, 2410, 3400), (80, 100, 140, 180)),
    "u": ((300, 870, 2240, 3400), (60, 100, 140, 180)),
}

DEGRADATIONS = (
    [f"white_{s}dB" for s in (30, 20, 10, 0)]
    + [f"pink_{s}dB" for s in (30, 20, 10, 0)]
    + [f"reverb_{r}s" for r in ("0.3", "0.8", "1.5")]
    + ["band_300_3400"]
    + [f"detune_{c:+d}c" for c in (-50, -25, -10, 10, 25, 50)]
    + ["gain_-40dB"]
)

GM_TAIL_S = 0.300       # release tail masked after a GM note-off
ONSET_MASK_DB = -20.0   # GM note frames before the envelope reaches this (re note peak)
DOMINANCE_DB = 10.0     # ... and before it is this much louder than its neighbours' sound
NOTE_CHECK_CENTS = 30.0  # a rendered GM note further off than this is flagged
ANALYTIC_TAIL_PAD_S = 0.020  # masked after an analytic note's release


def midi_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=float) - 69.0) / 12.0)


def hz_cents(f, ref):
    return 1200.0 * np.log2(np.asarray(f, dtype=float) / ref)


# --------------------------------------------------------------------------
# Melodies


def essen_index():
    """All (file, tune number) pairs of the Essen collection in the music21 corpus."""
    import music21

    d = Path(music21.__file__).parent / "corpus" / "essenFolksong"
    idx = []
    for f in sorted(d.glob("*.abc")):
        if f.name.startswith("test"):
            continue
        for line in f.read_text(errors="ignore").splitlines():
            if line.startswith("X:"):
                try:
                    idx.append((f.name, int(line[2:].strip())))
                except ValueError:
                    pass
    return d, idx


def load_essen(d: Path, fname: str, number: int):
    """[(onset_quarters, dur_quarters, midi)] of one tune; ties merged, grace notes dropped,
    chords reduced to their top note.  Rests are the gaps."""
    from music21 import converter

    s = converter.parse(str(d / fname), number=number, format="abc").stripTies()
    notes = []
    for n in s.flatten().notesAndRests:
        ql = float(n.quarterLength)
        if ql <= 0 or n.isRest:
            continue
        midi = max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi
        notes.append((float(n.offset), ql, int(midi)))
    notes.sort()
    # drop overlaps (should not happen in monophonic tunes)
    out = []
    for on, ql, m in notes:
        if out and on < out[-1][0] + out[-1][1] - 1e-6:
            prev = out[-1]
            out[-1] = (prev[0], on - prev[0], prev[2])
            if out[-1][1] <= 0:
                out.pop()
        out.append((on, ql, m))
    return out


def generated_melody(rng):
    """Fallback when music21 is missing: a diatonic random walk with rests."""
    scale = [0, 2, 4, 5, 7, 9, 11]
    deg = 7
    t = 0.0
    out = []
    for _ in range(40):
        dur = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
        if rng.random() < 0.07:
            t += dur
            continue
        deg = int(np.clip(deg + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, 16))
        m = 60 + 12 * (deg // 7) + scale[deg % 7] - 12
        out.append((t, dur, m))
        t += dur
    return out


def pick_melodies(seed: int, count: int, log=print):
    """``count`` distinct tunes (seeded), each with >= 16 notes and a span <= 19 semitones.
    Returns (melodies, source) where each melody is a dict with ``notes`` (quarter-note
    times) and ``source``."""
    rng = np.random.default_rng(seed)
    try:
        d, idx = essen_index()
    except ImportError:
        log("WARNING: music21 is not installed: using seeded generated melodies")
        return [{"notes": generated_melody(rng), "source": f"generated-{k}"} for k in range(count)], "generated"
    order = rng.permutation(len(idx))
    out = []
    for k in order:
        fname, number = idx[int(k)]
        try:
            notes = load_essen(d, fname, number)
        except Exception:  # noqa: BLE001  (a tune music21 cannot parse)
            continue
        if len(notes) < 16:
            continue
        ms = [n[2] for n in notes]
        if max(ms) - min(ms) > 19:
            continue
        out.append({"notes": notes, "source": f"essenFolksong/{fname} X:{number}"})
        if len(out) == count:
            break
    return out, "essen"


def timed_melody(mel, rng, target_s, min_note_s=0.09):
    """Seconds-based [(on, dur, midi)] from a quarter-note melody: seeded tempo 72-140 bpm
    (slowed so that no note is shorter than ``min_note_s``), truncated after ``target_s``."""
    notes = mel["notes"]
    bpm = float(rng.uniform(72, 140))
    min_ql = min(n[1] for n in notes)
    bpm = min(bpm, 60.0 * min_ql / min_note_s)
    q = 60.0 / bpm
    t0 = notes[0][0]
    out = []
    for on, ql, m in notes:
        s = (on - t0) * q
        if s >= target_s and len(out) >= 8:
            break
        out.append((s, ql * q, m))
    return out, bpm


def fit_register(notes, lo, hi, rng):
    """Transpose so every note is inside [lo, hi] (random placement)."""
    ms = [n[2] for n in notes]
    lo_t, hi_t = lo - min(ms), hi - max(ms)
    if hi_t < lo_t:  # too wide: fold the outliers by octaves
        shift = lo_t
        notes = [(a, b, m + shift) for a, b, m in notes]
        notes = [(a, b, m - 12 * int(np.ceil((m - hi) / 12)) if m > hi else m) for a, b, m in notes]
        return notes
    shift = int(rng.integers(lo_t, hi_t + 1))
    return [(a, b, m + shift) for a, b, m in notes]


# --------------------------------------------------------------------------
# Analytic synthesis: spec -> f0 function -> oscillator bank


def _jitter_points(seed, start, end, step, std):
    rng = np.random.default_rng(seed)
    n = int(np.ceil((end - start) / step)) + 2
    return start + step * np.arange(n), rng.normal(0.0, std, n)


def phrase_cents(ph, t):
    """Pitch in cents re 1 Hz of phrase ``ph`` at times
    ``t`` (vectorised): note base pitch + glide + vibrato + jitter.  Defined over the whole
    phrase span including the release tail (the oscillator keeps its last pitch)."""
    notes = ph["notes"]
    t = np.asarray(t, dtype=float)
    ons = np.array([n["on"] for n in notes])
    idx = np.clip(np.searchsorted(ons, t, side="right") - 1, 0, len(notes) - 1)
    base = np.array([1200.0 * np.log2(n["hz"]) for n in notes])
    c = base[idx].copy()
    for k, n in enumerate(notes):
        sel = idx == k
        if not sel.any():
            continue
        tt = t[sel] - n["on"]
        if n.get("glide_s", 0) > 0 and k > 0:
            u = np.clip(tt / n["glide_s"], 0.0, 1.0)
            c[sel] += (base[k - 1] - base[k]) * 0.5 * (1.0 + np.cos(np.pi * u))
        vib = n.get("vib")
        if vib:
            depth, rate, phase, delay = vib
            fade = np.clip((tt - delay) / 0.25, 0.0, 1.0)
            c[sel] += depth * fade * np.sin(2 * np.pi * rate * tt + phase)
    jit = ph.get("jitter")
    if jit:
        seed, std, step = jit
        start = notes[0]["on"]
        end = notes[-1]["off"] + notes[-1]["release"] + 0.1
        pt, pv = _jitter_points(seed, start, end, step, std)
        c += np.interp(t, pt, pv)
    return c


def phrase_span(ph):
    return ph["notes"][0]["on"], ph["notes"][-1]["off"] + ph["notes"][-1]["release"]


def _harmonic_amps(timbre, k, fk):
    """Amplitude of harmonic number ``k`` (int) at instantaneous frequencies ``fk``."""
    kind = timbre["kind"]
    if kind == "sine":
        a = 1.0 if k == 1 else 0.0
        return np.full_like(fk, a)
    if kind == "odd" and k % 2 == 0:
        return np.zeros_like(fk)
    if kind == "missing" and k == 1:
        return np.zeros_like(fk)
    tilt = timbre.get("tilt", 1.0)
    a = np.full_like(fk, k ** -tilt)
    if kind == "voice":
        fs, bws = VOWELS[timbre["vowel"]]
        h = np.ones_like(fk)
        for F, B in zip(fs, bws):
            h *= F * F / np.sqrt((F * F - fk * fk) ** 2 + (B * fk) ** 2)
        a = a * h
    return a


def synth_phrase(ph, sr=SR):
    """Samples of one phrase from its start; returns (start_sample, signal)."""
    t_on, t_end = phrase_span(ph)
    n0 = int(round(t_on * sr))
    n1 = int(np.ceil(t_end * sr)) + 1
    t = np.arange(n0, n1) / sr
    cents = phrase_cents(ph, t)
    f0 = 2.0 ** (cents / 1200.0)
    # phase in cycles; rectangular integration of the exact f0 curve
    cyc = np.cumsum(f0) / sr
    cyc -= cyc[0]
    timbre = ph["timbre"]
    rng = np.random.default_rng(ph["seed"])
    kmax = 1 if timbre["kind"] == "sine" else int(min(80, np.floor(0.45 * sr / f0.min())))
    phases = rng.uniform(0, 1, kmax + 1)
    sig = np.zeros(len(t))
    nyq_lo, nyq_hi = 0.40 * sr, 0.45 * sr
    for k in range(1, kmax + 1):
        fk = k * f0
        a = _harmonic_amps(timbre, k, fk)
        if not np.any(a):
            continue
        a = a * np.clip((nyq_hi - fk) / (nyq_hi - nyq_lo), 0.0, 1.0)
        sig += a * np.sin(2 * np.pi * (np.mod(k * cyc, 1.0) + phases[k]))
    # amplitude envelope: per-note ADSR (legato phrases: one envelope, per-note accents)
    env = np.zeros(len(t))
    notes = ph["notes"]
    if ph["legato"]:
        first, last = notes[0], notes[-1]
        att, rel = first["attack"], last["release"]
        a = np.clip((t - first["on"]) / att, 0, 1)
        r = np.clip(1.0 - (t - last["off"]) / rel, 0, 1)
        env = np.minimum(a, r) * 0.8
        for n in notes[1:]:  # small accent on each new note
            tt = t - n["on"]
            env *= 1.0 + 0.15 * n["amp"] * np.where(tt >= 0, np.exp(-np.maximum(tt, 0) / 0.08), 0.0)
    else:
        for n in notes:
            tt = t - n["on"]
            att, rel = n["attack"], n["release"]
            dur = n["off"] - n["on"]
            a = np.clip(tt / att, 0, 1)
            # decay to a 0.7 sustain with 120 ms time constant after the attack
            d = 0.7 + 0.3 * np.exp(-np.maximum(tt - att, 0) / 0.12)
            r = np.clip(1.0 - (tt - dur) / rel, 0, 1)
            e = np.where((tt >= 0) & (tt < dur + rel), a * d * r, 0.0)
            env += e * n["amp"]
    return n0, sig * env


def synth_item(spec, duration_s, sr=SR):
    out = np.zeros(int(round(duration_s * sr)))
    for ph in spec["phrases"]:
        n0, s = synth_phrase(ph, sr)
        n1 = min(len(out), n0 + len(s))
        out[n0:n1] += s[: n1 - n0]
    peak = np.max(np.abs(out)) + 1e-12
    return out / peak * 10 ** (-6 / 20)


def analytic_truth_orig(spec, t):
    """f0 (Hz) and state (1 voiced, 0 unvoiced, -1 not scored) of an analytic spec at
    times ``t`` (original time axis)."""
    t = np.asarray(t, dtype=float)
    f0 = np.zeros(len(t))
    state = np.zeros(len(t), dtype=np.int8)
    all_notes = sorted((n["on"], n["off"], n["release"]) for ph in spec["phrases"] for n in ph["notes"])
    next_on = {round(on, 9): (all_notes[i + 1][0] if i + 1 < len(all_notes) else np.inf)
               for i, (on, _, _) in enumerate(all_notes)}
    for ph in spec["phrases"]:
        notes = ph["notes"]
        start, end = notes[0]["on"], notes[-1]["off"]
        sel = (t >= start) & (t < end)
        if ph["legato"]:
            voiced = sel
        else:
            voiced = np.zeros(len(t), dtype=bool)
            for n in notes:
                voiced |= (t >= n["on"]) & (t < n["off"])
        for n in notes:  # mask the release tail up to the next note-on
            nxt = next_on[round(n["on"], 9)]
            tail = (t >= n["off"]) & (t < min(n["off"] + n["release"] + ANALYTIC_TAIL_PAD_S, nxt))
            state[tail & (state == 0)] = -1
        if voiced.any():
            f0[voiced] = 2.0 ** (phrase_cents(ph, t[voiced]) / 1200.0)
            state[voiced] = 1
    return f0, state


def notes_truth_orig(spec, t):
    """Ground truth from a note list (GM renders): ``notes`` = [on, off, hz, ok, acoustic_on]."""
    t = np.asarray(t, dtype=float)
    f0 = np.zeros(len(t))
    state = np.zeros(len(t), dtype=np.int8)
    notes = sorted(spec["notes"])
    tail_s = spec.get("tail_s", GM_TAIL_S)
    for i, (on, off, hz, ok, ac_on) in enumerate(notes):
        nxt = notes[i + 1][0] if i + 1 < len(notes) else np.inf
        tail = (t >= off) & (t < min(off + tail_s, nxt))
        state[tail & (state == 0)] = -1
    for on, off, hz, ok, ac_on in notes:
        span = (t >= on) & (t < off)
        if not ok:
            state[span] = -1
            f0[span] = hz
            continue
        pre = span & (t < max(on, ac_on))
        f0[span] = hz
        state[span] = 1
        state[pre] = -1
    return f0, state


def truth_at(item, t):
    """Ground truth of a material item at times ``t`` (seconds in the item's WAV): f0 in Hz
    and state (1 voiced, 0 unvoiced, -1 excluded from scoring).  Detuned items carry the
    resampling ratio: f0'(t) = r f0(r t)."""
    tr = item["truth"]
    r = tr.get("ratio", 1.0)
    to = np.asarray(t, dtype=float) * r
    if tr["type"] == "analytic":
        f0, st = analytic_truth_orig(tr, to)
    else:
        f0, st = notes_truth_orig(tr, to)
    ext = tr.get("extra_tail_s", 0.0)
    if ext:  # reverb: mask a longer tail after every note-off
        ends = [n["off"] for ph in tr["phrases"] for n in ph["notes"]] if tr["type"] == "analytic" \
            else [n[1] for n in tr["notes"]]
        ons = sorted([n["on"] for ph in tr["phrases"] for n in ph["notes"]] if tr["type"] == "analytic"
                     else [n[0] for n in tr["notes"]])
        for off in ends:
            k = np.searchsorted(ons, off, side="left")
            nxt = ons[k] if k < len(ons) else np.inf
            m = (to >= off) & (to < min(off + ext, nxt)) & (st == 0)
            st[m] = -1
    return f0 * r, st


def truth_notes(item, onset="acoustic"):
    """Reference notes [(on, off, hz)] for note-level scoring (times in the item's WAV) and the
    excluded (flagged) ones.  ``onset="acoustic"``: a GM note starts at its acoustic onset (its
    own envelope within 20 dB of its peak, as for the frame truth: the soundfonts' samples take
    up to ~100 ms to build up after the MIDI note-on); ``"midi"``: at the MIDI note-on.
    Analytic notes start at the first sample of their attack either way."""
    tr = item["truth"]
    r = tr.get("ratio", 1.0)
    ok, bad = [], []
    if tr["type"] == "analytic":
        for ph in tr["phrases"]:
            for n in ph["notes"]:
                ok.append((n["on"] / r, n["off"] / r, n["hz"] * r))
    else:
        for on, off, hz, good, ac_on in tr["notes"]:
            start = max(on, ac_on) if onset == "acoustic" else on
            (ok if good else bad).append((min(start, off) / r, off / r, hz * r))
    return ok, bad


# --------------------------------------------------------------------------
# Analytic item specs


def _balanced(levels, n, rng):
    reps = int(np.ceil(n / len(levels)))
    seq = []
    for _ in range(reps):
        perm = list(levels)
        rng.shuffle(perm)
        seq += perm
    return seq[:n]


def analytic_spec(mel_timed, timbre, register, attack_ms, vib_depth, glide, jitter, rng, seed):
    """Phrases of an analytic melody item.  Lead-in 0.4 s; one 0.4 s pause inserted in the
    middle (more unvoiced frames for the false-alarm rate); melody rests kept."""
    lo, hi = REGISTERS[register]
    notes = fit_register(mel_timed, lo, hi, rng)
    tuning = float(rng.uniform(-25, 25))
    lead = 0.4
    mid = len(notes) // 2
    phrases = []
    cur = []
    tim = {"kind": timbre, "tilt": 1.0}
    if timbre == "voice":
        tim["vowel"] = str(rng.choice(list(VOWELS)))
        tim["tilt"] = 1.2
    vib_rate = float(rng.uniform(5.0, 7.0))
    prev_end = None
    for k, (on, dur, m) in enumerate(notes):
        on = on + lead + (0.4 if k >= mid else 0.0)
        ioi = (notes[k + 1][0] - notes[k][0]) if k + 1 < len(notes) else dur
        rest_after = ioi > dur + 1e-6 or k + 1 == mid or k + 1 == len(notes)
        release = float(rng.uniform(0.02, 0.06))
        if glide and not rest_after:
            off = on + ioi  # legato: the next note starts where this one ends
        else:
            artic = float(rng.uniform(0.75, 0.92))
            off = on + min(dur * artic, ioi - release - 0.01)
            off = max(off, on + 0.05)
        n = {"on": on, "off": off, "hz": float(midi_hz(m) * 2 ** (tuning / 1200)), "midi": int(m),
             "attack": attack_ms / 1000.0, "release": release, "amp": float(rng.uniform(0.6, 1.0))}
        if vib_depth:
            n["vib"] = [float(vib_depth), vib_rate, float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.1, 0.3))]
        if glide and cur:
            n["glide_s"] = float(rng.uniform(0.03, 0.09))
        cur.append(n)
        if not glide or rest_after:
            phrases.append(cur)
            cur = []
        prev_end = off
    if cur:
        phrases.append(cur)
    out = []
    for ph in phrases:  # detached notes are one-note phrases, legato runs one phrase each
        out.append({"notes": ph, "legato": bool(glide and len(ph) > 1), "timbre": tim,
                    "seed": seed * 1000 + len(out),
                    "jitter": [seed * 1000 + len(out), 5.0, 0.025] if jitter else None})
    end = max(phrase_span(p)[1] for p in out) + 0.5
    spec = {"type": "analytic", "phrases": out, "tuning_cents": tuning}
    return spec, end, prev_end


def spec_range(spec):
    """(min, max) f0 over the voiced part of an analytic spec (sampled every ms)."""
    lo, hi = np.inf, 0.0
    for ph in spec["phrases"]:
        a, b = phrase_span(ph)
        c = phrase_cents(ph, np.arange(a, b, 0.001))
        f = 2 ** (c / 1200)
        lo, hi = min(lo, f.min()), max(hi, f.max())
    return lo, hi


# --------------------------------------------------------------------------
# Dedicated test signals


def steady_spec(quick):
    """2 s tones (10 ms attack) separated by 0.5 s, in three tunings.  Returns (spec, tones,
    end) where tones = [(on, off, hz, ref_a4, name)]."""
    names = ["A1", "E2", "A2", "D3", "G3", "A3", "E4", "A4", "C5", "A5", "E6"]
    if quick:
        names = ["A1", "A2", "E4", "A4", "E6"]
    semis = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    tones = []
    phrases = []
    t = 0.3
    k = 0
    for ref in (415.0, 440.0, 466.16):
        for nm in names:
            midi = 12 * (int(nm[1:]) + 1) + semis[nm[0]]
            hz = ref * 2 ** ((midi - 69) / 12)
            # harmonic tones (sawtooth, odd harmonics, a sung "a"); a pure sine only from 200 Hz
            kind = ["saw", "odd", "voice", "sine"][k % 4]
            if kind == "sine" and hz < 200:
                kind = "saw"
            tim = {"kind": kind, "tilt": 1.2 if kind == "voice" else 1.0, "vowel": "a"}
            n = {"on": t, "off": t + 2.0, "hz": float(hz), "midi": midi, "attack": 0.01, "release": 0.03, "amp": 1.0}
            phrases.append({"notes": [n], "legato": False, "timbre": tim, "seed": 7000 + k, "jitter": None})
            tones.append((t, t + 2.0, float(hz), ref, f"{nm}@{ref:g}", kind))
            t += 2.5
            k += 1
    return {"type": "analytic", "phrases": phrases}, tones, t + 0.3


def steps_spec(quick):
    """Phase-continuous pitch jumps: 0.5 s at f1 then 0.5 s at f2 (legato phrase, no glide).
    Returns (spec, steps, end) with steps = [(t_jump, f1, f2)]."""
    bases = [65.41, 130.81, 261.63, 523.25, 1046.5]
    intervals = [1, -1, 2, -2, 5, -5, 7, -7, 12, -12]
    if quick:
        bases, intervals = [130.81, 523.25], [2, -5, 12, -12, 7]
    phrases, steps = [], []
    t = 0.3
    k = 0
    for b in bases:
        for iv in intervals:
            f1 = b
            f2 = b * 2 ** (iv / 12)
            kind = ["saw", "odd", "voice"][k % 3]
            tim = {"kind": kind, "tilt": 1.2 if kind == "voice" else 1.0, "vowel": "a"}
            n1 = {"on": t, "off": t + 0.5, "hz": f1, "midi": 0, "attack": 0.01, "release": 0.03, "amp": 1.0}
            n2 = {"on": t + 0.5, "off": t + 1.0, "hz": f2, "midi": 0, "attack": 0.01, "release": 0.03, "amp": 1.0}
            phrases.append({"notes": [n1, n2], "legato": True, "timbre": tim, "seed": 8000 + k, "jitter": None})
            steps.append((t + 0.5, f1, f2))
            t += 1.3
            k += 1
    return {"type": "analytic", "phrases": phrases}, steps, t + 0.3


def onsets_spec(quick):
    """Isolated notes (0.45 s, then >= 0.45 s of silence) with 2-50 ms attacks.  Returns
    (spec, events, end) with events = [(onset, hz, midi, attack_ms, timbre)]."""
    attacks = [2, 10, 25, 50]
    timbres = ["saw", "odd", "voice", "missing"]
    midis = [33, 45, 55, 64, 76, 88]
    if quick:
        timbres, midis = ["saw", "voice"], [40, 57, 76]
    phrases, events = [], []
    t = 0.4
    k = 0
    for a in attacks:
        for tb in timbres:
            for m in midis:
                hz = float(midi_hz(m))
                n = {"on": t, "off": t + 0.45, "hz": hz, "midi": m, "attack": a / 1000.0, "release": 0.03, "amp": 1.0}
                phrases.append({"notes": [n], "legato": False,
                                "timbre": {"kind": tb, "tilt": 1.2 if tb == "voice" else 1.0, "vowel": "o"},
                                "seed": 9000 + k, "jitter": None})
                events.append((t, hz, m, a, tb))
                t += 0.9
                k += 1
    return {"type": "analytic", "phrases": phrases}, events, t + 0.3


# --------------------------------------------------------------------------
# General MIDI


def tool_versions():
    def first_line(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
            return lines[0].strip() if lines else ""
        except FileNotFoundError:
            return "missing"

    out = {"fluidsynth": first_line(["fluidsynth", "--version"])}
    for name, p in SOUNDFONTS.items():
        out[f"soundfont_{name}"] = f"{p.resolve().name} {p.stat().st_size if p.exists() else 'missing'} bytes"
    try:
        from importlib.metadata import version

        out["music21"] = version("music21")
    except Exception:  # noqa: BLE001
        out["music21"] = "missing"
    try:
        import soxr

        out["soxr"] = soxr.__version__
    except Exception:  # noqa: BLE001
        out["soxr"] = "missing"
    return out


def write_gm_midi(path: Path, segments, parity=None):
    """One MIDI file with every segment in sequence on channel 0: program change and pitch
    bend reset before each, notes at their absolute times.  ``parity`` 0 / 1 keeps only the
    even / odd notes of each segment (the two halves sum to the full render, which lets the
    material check tell a note from the release of its neighbours)."""
    import mido

    tpb = 960
    tempo = 500000  # 120 bpm: 1 s = 1920 ticks
    events = []  # (time_s, order, msg)
    for seg in segments:
        events.append((seg["t0"] - 0.5, 0, mido.Message("program_change", channel=0, program=seg["program"])))
        events.append((seg["t0"] - 0.5, 1, mido.Message("pitchwheel", channel=0, pitch=0)))
        events.append((seg["t0"] - 0.5, 2, mido.Message("control_change", channel=0, control=7, value=100)))
        for i, (on, off, m, vel) in enumerate(seg["notes"]):
            if parity is not None and i % 2 != parity:
                continue
            events.append((seg["t0"] + on, 4, mido.Message("note_on", channel=0, note=int(m), velocity=int(vel))))
            events.append((seg["t0"] + off, 3, mido.Message("note_off", channel=0, note=int(m), velocity=0)))
    end = max(s["t0"] + s["len"] for s in segments) + 0.5
    events.append((end, 5, mido.Message("control_change", channel=0, control=121, value=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(ticks_per_beat=tpb)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    last_tick = 0
    for ts, _, msg in events:
        tick = int(round(max(ts, 0.0) * tpb * 1e6 / tempo))
        tr.append(msg.copy(time=tick - last_tick))
        last_tick = tick
    mid.save(path)
    return end


def render_fluidsynth(sf: Path, mid: Path, wav: Path):
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(FLUIDSYNTH_GAIN), "-r", str(SR),
           "-O", "float", "-F", str(wav), str(sf), str(mid)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def envelope(y, sr=SR, win_s=0.002):
    """Max-abs envelope over ``win_s`` windows (fast), one value per sample."""
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(np.abs(y), size=max(1, int(win_s * sr)), mode="nearest")


def rms_envelope(y, sr=SR, win_s=0.010):
    from scipy.ndimage import uniform_filter1d

    return np.sqrt(np.maximum(uniform_filter1d(np.asarray(y, dtype=np.float64) ** 2,
                                               size=max(1, int(win_s * sr)), mode="nearest"), 0.0))


def measure_note_pitch(y, sr, t0, t1, f_nom):
    """Careful offline pitch of one sustained note: YIN (librosa, long frames, parabolic
    interpolation) over [t0, t1] with the search band f_nom/2.3 .. 2.3 f_nom, median in
    cents, refined by the magnitude-weighted harmonic peaks of one long zero-padded FFT
    (used when it agrees with YIN within 20 cents).  Returns (f_hz or nan, n_frames)."""
    import librosa

    a, b = max(0, int(t0 * sr)), int(t1 * sr)
    seg = np.asarray(y[a:b], dtype=np.float64)
    if len(seg) < int(0.035 * sr) or np.max(np.abs(seg)) < 1e-5:
        return float("nan"), 0
    fmin, fmax = f_nom / 2.3, min(f_nom * 2.3, 0.45 * sr / 2)
    frame = int(2 ** np.ceil(np.log2(max(3.0 * sr / fmin, 1024))))
    if len(seg) < frame:
        seg = np.pad(seg, (0, frame - len(seg)))
    f = librosa.yin(seg, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame, hop_length=frame // 4,
                    center=False, trough_threshold=0.1)
    f = f[np.isfinite(f) & (f > 0)]
    if not len(f):
        return float("nan"), 0
    f_yin = float(2 ** np.median(np.log2(f)))
    seg = np.asarray(y[a:b], dtype=np.float64)
    n = len(seg)
    nfft = int(2 ** np.ceil(np.log2(n * 4)))
    spec = np.abs(np.fft.rfft(seg * np.hanning(n), nfft))
    df = sr / nfft
    ests, ws = [], []
    for k in range(1, 9):
        fk = k * f_yin
        if fk > 0.4 * sr:
            break
        lo, hi = int((fk * 0.97) / df), int((fk * 1.03) / df) + 1
        if hi - lo < 3:
            continue
        i = lo + int(np.argmax(spec[lo:hi]))
        if i <= 0 or i >= len(spec) - 1:
            continue
        la, lb, lc = np.log(spec[i - 1:i + 2] + 1e-20)
        den = la - 2 * lb + lc
        d = 0.5 * (la - lc) / den if den != 0 else 0.0
        ests.append((i + d) * df / k)
        ws.append(spec[i])
    if ws and np.sum(ws) > 0:
        f_fft = float(np.sum(np.array(ests) * np.array(ws)) / np.sum(ws))
        if abs(1200 * np.log2(f_fft / f_yin)) < 20:
            return f_fft, len(f)
    return f_yin, len(f)


def check_gm_notes(y, notes, own=None, sr=SR):
    """Per rendered note: acoustic onset and measured pitch.  ``notes`` = [(on, off, midi)] in
    the segment's time; ``own`` = (even-notes render, odd-notes render) of the segment, or
    None for isolated notes.

    * ``acoustic_on``: the first time after the note-on at which the note's own envelope
      (10 ms RMS, from its parity render) is within 20 dB of its peak *and* 10 dB louder than
      everything else sounding (the neighbours' releases and attacks): before that the mix
      holds two pitches and a monophonic truth is undefined.  None if that never happens
      before the note-off (the note is then excluded: its neighbours mask it).
    * ``acoustic_on_40``: the first sample where the mix's 2 ms max-abs envelope reaches
      -40 dB of the note's peak (the physical start, for isolated notes).
    * ``measured_hz`` / ``dev_cents``: ``measure_note_pitch`` on the note's own render.
    """
    env_mix = envelope(y, sr)
    if own is not None:
        env_own = [rms_envelope(own[0], sr), rms_envelope(own[1], sr)]
    out = []
    for i, (on, off, m) in enumerate(notes):
        a, b = int(on * sr), max(int(off * sr), int(on * sr) + 1)
        f_nom = float(midi_hz(m))
        src = own[i % 2] if own is not None else y
        if own is not None:
            e_own, e_oth = env_own[i % 2][a:b], env_own[1 - i % 2][a:b]
        else:
            e_own = rms_envelope(y[a:b], sr)
            e_oth = np.zeros_like(e_own)
        peak = float(e_own.max()) if len(e_own) else 0.0
        if peak <= 1e-7:
            out.append({"acoustic_on": None, "acoustic_on_40": on, "measured_hz": float("nan"),
                        "dev_cents": float("nan"), "ok": False, "why": "silent"})
            continue
        dom = (e_own >= peak * 10 ** (ONSET_MASK_DB / 20)) & (e_own >= e_oth * 10 ** (DOMINANCE_DB / 20))
        ac = on + int(np.argmax(dom)) / sr if dom.any() else None
        seg = env_mix[a:b]
        mpeak = float(seg.max())
        pre = env_mix[max(0, a - int(0.02 * sr)):a]
        thr40 = mpeak * 10 ** (-40 / 20)
        i40 = 0 if (len(pre) and pre.max() >= thr40) else int(np.argmax(seg >= thr40))
        # pitch of the note alone (its own render), from where it is within 20 dB of its peak
        i20 = int(np.argmax(e_own >= peak * 10 ** (ONSET_MASK_DB / 20)))
        t1 = off - 0.005
        t0 = on + i20 / sr + 0.02
        if t1 - t0 < 0.05:
            t0 = max(on, t1 - 0.05)
        f, _ = measure_note_pitch(src, sr, t0, t1, f_nom)
        dev = float(hz_cents(f, f_nom)) if np.isfinite(f) else float("nan")
        if not np.isfinite(dev):
            ok, why = True, "unchecked"  # too short or too quiet to measure: scored as is
        elif abs(dev) > NOTE_CHECK_CENTS:
            ok, why = False, ("octave" if abs(abs(dev) - 1200) < 100 else f"{dev:+.0f} cents")
        else:
            ok, why = True, ""
        if ok and ac is None:
            why = "masked by neighbours"
        out.append({"acoustic_on": ac, "acoustic_on_40": on + i40 / sr, "measured_hz": f, "dev_cents": dev,
                    "ok": ok, "why": why})
    return out


# --------------------------------------------------------------------------
# Degradations


def pink_noise(n, rng):
    w = rng.standard_normal(n)
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec /= np.sqrt(f)
    p = np.fft.irfft(spec, n)
    return p / np.std(p)


def reverb_ir(rt60, rng, sr=SR, drr_db=3.0):
    n = int(1.5 * rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)
    tail[: int(0.001 * sr)] = 0.0  # direct path alone for the first ms
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail ** 2))
    tail[0] += 1.0
    return tail


def degrade(y, cond, rng, voiced_power):
    """Returns (audio, truth changes)."""
    from scipy.signal import butter, fftconvolve, sosfiltfilt

    if cond.startswith(("white_", "pink_")):
        snr = float(cond.split("_")[1][:-2])
        noise = rng.standard_normal(len(y)) if cond.startswith("white") else pink_noise(len(y), rng)
        noise *= np.sqrt(voiced_power / 10 ** (snr / 10)) / np.std(noise)
        out = y + noise
        return out, {}
    if cond.startswith("reverb_"):
        rt = float(cond.split("_")[1][:-1])
        out = fftconvolve(y, reverb_ir(rt, rng))[: len(y)]
        out *= np.max(np.abs(y)) / (np.max(np.abs(out)) + 1e-12)
        return out, {"extra_tail_s": max(GM_TAIL_S, min(rt, 0.6))}
    if cond == "band_300_3400":
        sos = butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")
        return sosfiltfilt(sos, y), {}
    if cond.startswith("detune_"):
        import soxr

        c = float(cond.split("_")[1][:-1])
        r = 2 ** (c / 1200)
        out = soxr.resample(y.astype(np.float64), SR * r, SR, quality="VHQ")
        return out, {"ratio": r}
    if cond == "gain_-40dB":
        return y * 10 ** (-40 / 20), {}
    raise ValueError(cond)


# --------------------------------------------------------------------------
# Recipe and build


def recipe(seed: int, quick: bool, log=print):
    """Everything that defines the material, without rendering: item specs (analytic),
    GM segment plans, degradation plan and test signals."""
    rng = np.random.default_rng(seed)
    n_analytic = 6 if quick else 40
    gm_per = 1 if quick else 2
    target_s = 4.0 if quick else 10.0
    n_gm = len(GM_INSTRUMENTS) * gm_per
    mels, mel_source = pick_melodies(seed, n_analytic + n_gm, log=log)
    if len(mels) < n_analytic + n_gm:  # tiny corpus: repeat
        mels = [mels[k % len(mels)] for k in range(n_analytic + n_gm)]
    analytic = []
    tr_pairs = _balanced(TIMBRE_REGISTERS, n_analytic, rng)
    attacks = _balanced(ATTACKS_MS, n_analytic, rng)
    vibs = _balanced(VIBRATOS, n_analytic, rng)
    glides = _balanced([False, True], n_analytic, rng)
    jitters = _balanced([False, True], n_analytic, rng)
    for k in range(n_analytic):
        timbre, register = tr_pairs[k]
        irng = np.random.default_rng([seed, 1, k])
        timed, bpm = timed_melody(mels[k], irng, target_s)
        spec, end, _ = analytic_spec(timed, timbre, register, attacks[k], vibs[k], glides[k], jitters[k],
                                     irng, seed=k + 1)
        lo, hi = spec_range(spec)
        analytic.append({
            "name": f"an{k:02d}_{timbre}_{register}", "group": "analytic", "kind": "analytic",
            "duration_s": round(end, 4), "truth": spec, "f_lo": lo, "f_hi": hi,
            "meta": {"timbre": timbre, "register": register, "attack_ms": attacks[k], "vibrato_cents": vibs[k],
                     "glide": glides[k], "jitter": jitters[k], "bpm": round(bpm, 1),
                     "melody": mels[k]["source"], "tuning_cents": round(spec["tuning_cents"], 2)}})
    gm = []
    for sfn in SOUNDFONTS:
        j = 0
        for inst, (prog, lo, hi, min_note) in GM_INSTRUMENTS.items():
            for q in range(gm_per):
                mk = n_analytic + (j % n_gm)
                j += 1
                irng = np.random.default_rng([seed, 2, list(SOUNDFONTS).index(sfn), j])
                timed, bpm = timed_melody(mels[mk], irng, target_s, min_note)
                notes = fit_register(timed, lo, hi, irng)
                lead = 0.4
                seq = []
                for i, (on, dur, m) in enumerate(notes):
                    ioi = (notes[i + 1][0] - on) if i + 1 < len(notes) else dur
                    artic = float(irng.uniform(0.8, 0.97))
                    off = on + max(0.06, min(dur * artic, ioi - 0.02))
                    seq.append((lead + on, lead + off, int(m), int(irng.integers(75, 111))))
                length = seq[-1][1] + 1.0
                gm.append({"name": f"gm_{sfn}_{inst}_{q}", "group": "gm", "kind": "gm", "soundfont": sfn,
                           "program": prog, "notes": seq, "len": round(length, 4),
                           "meta": {"instrument": inst, "soundfont": sfn, "bpm": round(bpm, 1),
                                    "melody": mels[mk]["source"]}})
    # isolated GM notes (latency): every instrument at 3 (quick: 1) pitches
    gm_onsets = {}
    for sfn in SOUNDFONTS:
        seq = []
        t = 0.5
        for inst, (prog, lo, hi, _) in GM_INSTRUMENTS.items():
            picks = [lo + (hi - lo) // 2] if quick else [lo + 3, lo + (hi - lo) // 2, hi - 3]
            for m in picks:
                seq.append((inst, prog, t, t + 0.45, int(m), 100))
                t += 1.2
        gm_onsets[sfn] = {"notes": seq, "len": t + 0.5}
    # degradation subset: analytic items spread over the list, GM items of both soundfonts
    n_sub = 1 if quick else 6
    an_sub = [analytic[int(round(i * (len(analytic) - 1) / max(1, n_sub - 1)))]["name"] for i in range(n_sub)]
    gm_sub = [gm[int(round(i * (len(gm) - 1) / max(1, n_sub - 1)))]["name"] for i in range(n_sub)]
    steady, tones, steady_end = steady_spec(quick)
    steps, step_ev, steps_end = steps_spec(quick)
    onsets, onset_ev, onsets_end = onsets_spec(quick)
    tests = {
        "steady": {"truth": steady, "duration_s": steady_end, "tones": tones},
        "steps": {"truth": steps, "duration_s": steps_end, "steps": step_ev},
        "onsets": {"truth": onsets, "duration_s": onsets_end, "events": onset_ev},
    }
    return {"version": MATERIAL_VERSION, "seed": seed, "quick": quick, "melody_source": mel_source,
            "analytic": analytic, "gm": gm, "gm_onsets": gm_onsets,
            "degrade": {"conditions": DEGRADATIONS, "items": an_sub + gm_sub}, "tests": tests}


def _hash(rec, tools):
    blob = json.dumps({"recipe": rec, "tools": tools}, sort_keys=True, default=float)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write(path, y):
    import soundfile as sf

    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.999:
        raise RuntimeError(f"{path.name}: clipping (peak {peak:.3f})")
    sf.write(path, y, SR, subtype="FLOAT")


def build_material(out_dir: Path, seed: int, quick: bool, log=print):
    """Render (or reuse) all material.  Returns the manifest: {"hash", "items", "tests",
    "gm_checks", ...}.  Each item: name, group, kind, wav, duration_s, truth, f_lo, f_hi, meta."""
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth not found: apt-get install fluidsynth fluid-soundfont-gm "
                         "musescore-general-soundfont")
    for name, p in SOUNDFONTS.items():
        if not p.exists():
            raise SystemExit(f"soundfont {p} missing (apt-get install fluid-soundfont-gm musescore-general-soundfont)")
    tools = tool_versions()
    rec = recipe(seed, quick, log=log)
    digest = _hash(rec, tools)
    mat = out_dir / "material"
    manifest_path = mat / "manifest.json"
    if manifest_path.exists():
        man = json.loads(manifest_path.read_text())
        wavs = [it["wav"] for it in man["items"]] + [t["wav"] for t in man["tests"].values()]
        if man.get("hash") == digest and all(Path(w).exists() for w in wavs):
            log(f"material: reusing {len(man['items'])} items in {mat} (recipe {digest})")
            return man
        log(f"material: recipe changed ({man.get('hash')} -> {digest}); re-rendering")
        shutil.rmtree(mat)
    mat.mkdir(parents=True, exist_ok=True)
    items = []
    # analytic
    for it in rec["analytic"]:
        y = synth_item(it["truth"], it["duration_s"])
        wav = mat / f"{it['name']}.wav"
        _write(wav, y)
        items.append({**it, "wav": str(wav)})
    log(f"material: {len(rec['analytic'])} analytic melodies ({rec['melody_source']})")
    # GM: one MIDI file and one FluidSynth run per soundfont (melodies + isolated notes)
    gm_checks = []
    tests = {}
    parity_check = {}
    for sfn, sfp in SOUNDFONTS.items():
        segs = []
        t = 1.0
        for it in rec["gm"]:
            if it["soundfont"] != sfn:
                continue
            segs.append({"item": it, "t0": t, "len": it["len"], "program": it["program"],
                         "notes": [(on, off, m, v) for on, off, m, v in it["notes"]]})
            t += it["len"] + 2.0
        # isolated notes: one segment per instrument so the program changes
        on_start = t
        for inst, (prog, lo, hi, _) in GM_INSTRUMENTS.items():
            ns = [(a, b, m, v) for (i2, p2, a, b, m, v) in rec["gm_onsets"][sfn]["notes"] if i2 == inst]
            if not ns:
                continue
            s0 = ns[0][0] - 0.5
            segs.append({"item": None, "inst": inst, "t0": on_start + s0, "len": ns[-1][1] - s0 + 0.7, "program": prog,
                         "notes": [(a - s0, b - s0, m, v) for a, b, m, v in ns], "s0": s0})
        log(f"material: rendering {len(segs)} GM segments with {sfp.name} (all notes, even, odd) ...")
        renders = []
        for label, parity in (("all", None), ("even", 0), ("odd", 1)):
            mid = mat / f"gm_{sfn}.{label}.mid"
            write_gm_midi(mid, segs, parity)
            wav_tmp = mat / f"gm_{sfn}.{label}.wav"
            render_fluidsynth(sfp, mid, wav_tmp)
            r, fsr = sf.read(wav_tmp, dtype="float64", always_2d=True)
            assert fsr == SR
            renders.append(r.mean(axis=1))
            wav_tmp.unlink()
        n = max(len(r) for r in renders)
        full, even, odd = (np.pad(r, (0, n - len(r))) for r in renders)
        sum_err = float(np.max(np.abs(full - even - odd)) / (np.max(np.abs(full)) + 1e-12))
        parity_check[sfn] = sum_err
        if sum_err > 1e-2:
            log(f"WARNING: {sfn}: even + odd renders differ from the full render by {sum_err:.2e} (relative)")
        # melodies
        for seg in segs:
            it = seg["item"]
            if it is None:
                continue
            a = int(round(seg["t0"] * SR))
            b = a + int(round(seg["len"] * SR))
            cut = lambda x: np.pad(x[a:b], (0, max(0, b - a - len(x[a:b]))))  # noqa: E731
            y = cut(full)
            chk = check_gm_notes(y, [(on, off, m) for on, off, m, _ in it["notes"]], own=(cut(even), cut(odd)))
            # a note its neighbours mask throughout is excluded like an off-pitch one
            notes = [[on, off, float(midi_hz(m)), bool(c["ok"] and c["acoustic_on"] is not None),
                      c["acoustic_on"] if c["acoustic_on"] is not None else off]
                     for (on, off, m, _), c in zip(it["notes"], chk)]
            for (on, off, m, v), c in zip(it["notes"], chk):
                gm_checks.append({"item": it["name"], "soundfont": sfn, "instrument": it["meta"]["instrument"],
                                  "midi": m, "on": on, "dev_cents": c["dev_cents"],
                                  "ok": bool(c["ok"] and c["acoustic_on"] is not None), "why": c["why"],
                                  "onset_delay_ms": 1000 * (c["acoustic_on"] - on) if c["acoustic_on"] is not None
                                  else None})
            wav = mat / f"{it['name']}.wav"
            _write(wav, y)
            ms = [n[2] for n in notes]
            items.append({"name": it["name"], "group": "gm", "kind": "gm", "wav": str(wav),
                          "duration_s": round(len(y) / SR, 4),
                          "truth": {"type": "notes", "notes": notes, "tail_s": GM_TAIL_S},
                          "f_lo": min(ms), "f_hi": max(ms), "meta": it["meta"]})
        # isolated notes file of this soundfont
        oa = int(round(on_start * SR))
        ob = int(round((on_start + rec["gm_onsets"][sfn]["len"]) * SR))
        y = full[oa:ob]
        if len(y) < ob - oa:
            y = np.pad(y, (0, ob - oa - len(y)))
        ev = []
        onotes = [(a, b, m) for (_, _, a, b, m, _) in rec["gm_onsets"][sfn]["notes"]]
        chk = check_gm_notes(y, onotes)
        for (inst, prog, a, b, m, v), c in zip(rec["gm_onsets"][sfn]["notes"], chk):
            ac20 = c["acoustic_on"] if c["acoustic_on"] is not None else b
            ev.append({"midi_on": a, "acoustic_on": c["acoustic_on_40"], "acoustic_on_20": ac20,
                       "off": b, "midi": m, "instrument": inst, "ok": bool(c["ok"] and c["acoustic_on"] is not None),
                       "dev_cents": c["dev_cents"]})
        wav = mat / f"onsets_gm_{sfn}.wav"
        _write(wav, y)
        tests[f"onsets_gm_{sfn}"] = {"wav": str(wav), "duration_s": len(y) / SR, "events": ev,
                                     "truth": {"type": "notes", "tail_s": GM_TAIL_S,
                                               "notes": [[e["midi_on"], e["off"], float(midi_hz(e["midi"])), e["ok"],
                                                          e["acoustic_on_20"]] for e in ev]}}
    n_flag = sum(1 for c in gm_checks if not c["ok"])
    log(f"material: {sum(1 for i in items if i['kind'] == 'gm')} GM melodies, {len(gm_checks)} notes checked, "
        f"{n_flag} excluded (> {NOTE_CHECK_CENTS:g} cents or an octave off, or masked by the neighbours' release)")
    # degradations
    by_name = {it["name"]: it for it in items}
    for k, name in enumerate(rec["degrade"]["items"]):
        src = by_name[name]
        y, _ = sf.read(src["wav"], dtype="float64")
        t = np.arange(len(y)) / SR
        _, st = truth_at(src, t)
        vp = float(np.mean(y[st == 1] ** 2)) if np.any(st == 1) else float(np.mean(y ** 2))
        for j, cond in enumerate(rec["degrade"]["conditions"]):
            drng = np.random.default_rng([seed, 3, k, j])
            yd, change = degrade(y, cond, drng, vp)
            peak = np.max(np.abs(yd))
            if peak > 0.99:  # keep SNR; just scale the whole file
                yd *= 0.9 / peak
            wav = mat / f"{name}.{cond}.wav"
            _write(wav, yd)
            truth = dict(src["truth"])
            truth.update(change)
            r = change.get("ratio", 1.0)
            items.append({"name": f"{name}.{cond}", "group": cond, "kind": src["kind"], "wav": str(wav),
                          "duration_s": round(len(yd) / SR, 4), "truth": truth,
                          "f_lo": src["f_lo"] * r, "f_hi": src["f_hi"] * r,
                          "meta": {**src["meta"], "source_item": name, "condition": cond}})
    log(f"material: {len(rec['degrade']['items'])} items x {len(rec['degrade']['conditions'])} degradations")
    # dedicated tests
    for key, tst in rec["tests"].items():
        y = synth_item(tst["truth"], tst["duration_s"])
        wav = mat / f"{key}.wav"
        _write(wav, y)
        tests[key] = {**tst, "wav": str(wav)}
    log("material: steady tones, pitch steps, isolated onsets rendered")
    man = {"hash": digest, "seed": seed, "quick": quick, "tools": tools, "melody_source": rec["melody_source"],
           "items": items, "tests": tests, "gm_checks": gm_checks, "gm_parity_sum_error": parity_check,
           "degrade": rec["degrade"]}
    manifest_path.write_text(json.dumps(man, indent=1, default=float))
    return man
