"""Deterministic chord material for the chroma/chord evaluation.

Three conditions, all rendered here from a seed (nothing is downloaded):

* ``drums``     -- an ``mma`` chord chart rendered through FluidSynth with the
                   groove's full accompaniment (drums, bass, piano, guitar, ...).
* ``nodrums``   -- the same MIDI with every channel-10 event removed.
* ``synthetic`` -- additive-synthesis chord sequences (numpy), exact labels.

Ground truth is the chart itself: the chord on each beat and the tempo give
exact times.  ``mma`` puts bar 1 at t = 0 (no lead-in); ``verify_midi`` checks
that on every render (first note onset, tempo map, meter, end time) and measures
how many sounding non-drum notes are chord tones of the ground-truth label.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# Bump when anything that changes the rendered audio or labels changes.
MATERIAL_VERSION = 3

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SAMPLE_RATE = 44100

PITCH_NAMES = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]

# quality -> (mma chord suffix, chord tones in semitones above the root)
# NOTE: mma reads "Cdim" as a diminished *seventh*; the triad is "Cmb5".
QUALITIES = {
    "maj": ("", (0, 4, 7)),
    "min": ("m", (0, 3, 7)),
    "7": ("7", (0, 4, 7, 10)),
    "maj7": ("M7", (0, 4, 7, 11)),
    "min7": ("m7", (0, 3, 7, 10)),
    "dim": ("mb5", (0, 3, 6)),
    "aug": ("aug", (0, 4, 8)),
    "sus4": ("sus4", (0, 5, 7)),
}

# (mma groove, beats per bar).  Checked against the MIDI time signature.
GROOVES = [
    ("50sRock", 4), ("Ballad", 4), ("BossaNova", 4), ("Folk", 4), ("Swing", 4),
    ("CountrySwing", 4), ("PopBallad", 4), ("SoftRock", 4), ("Rhumba", 4),
    ("BlueGrass", 4), ("8Beat", 4), ("FolkRock", 4), ("JazzCombo", 4),
    ("PianoBallad", 4), ("GuitarBallad", 4), ("Samba", 4), ("Tango", 4),
    ("SlowJazz", 4), ("RockBallad", 4), ("Strut", 4), ("WesternSwing", 4),
    ("Lullaby", 4), ("BigBand", 4), ("ShuffleBoggie", 4),
    ("Waltz", 3), ("JazzWaltz", 3), ("CountryWaltz", 3), ("BalladSus", 4),
    ("Swing1Walk", 4), ("50sRockSus", 4),
]

# Diatonic harmony used by the progression generator: degree -> (semitones
# above the tonic, allowed qualities with weights).
MAJOR_DEGREES = {
    1: (0, {"maj": 5, "maj7": 2, "aug": 0.4}),
    2: (2, {"min": 3, "min7": 3}),
    3: (4, {"min": 3, "min7": 2}),
    4: (5, {"maj": 4, "maj7": 2}),
    5: (7, {"maj": 3, "7": 4, "sus4": 1.2}),
    6: (9, {"min": 4, "min7": 2}),
    7: (11, {"dim": 2}),
}
MINOR_DEGREES = {
    1: (0, {"min": 5, "min7": 2}),
    2: (2, {"dim": 2}),
    3: (3, {"maj": 3, "maj7": 2, "aug": 0.5}),
    4: (5, {"min": 4, "min7": 2}),
    5: (7, {"maj": 2, "7": 4, "sus4": 1.0, "min": 1}),
    6: (8, {"maj": 4, "maj7": 2}),
    7: (10, {"maj": 3, "7": 2}),
}
# Degree transition weights (a loose common-practice grammar).
TRANSITIONS = {
    1: {2: 2, 3: 1, 4: 4, 5: 4, 6: 3},
    2: {5: 5, 7: 1, 4: 1},
    3: {6: 4, 4: 2, 2: 1},
    4: {5: 4, 1: 3, 2: 2, 7: 1},
    5: {1: 6, 6: 2, 4: 1},
    6: {2: 3, 4: 4, 5: 2, 3: 1},
    7: {1: 4, 3: 1},
}


@dataclass
class Song:
    """One piece of material: a chord chart plus how to render it."""

    name: str
    kind: str  # "mma" or "synthetic"
    tonic: int  # pitch class of the key
    mode: str  # "major" / "minor"
    tempo_bpm: float
    beats_per_bar: int
    groove: str = ""
    # list of (start_beat, duration_beats, root_pc, quality)
    chords: list = field(default_factory=list)
    seed: int = 0
    timbre: dict = field(default_factory=dict)

    @property
    def key_label(self) -> str:
        """Key in ``mir_eval.key`` syntax, e.g. ``"Eb major"``."""
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    @property
    def num_beats(self) -> int:
        return int(sum(c[1] for c in self.chords))

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def duration_s(self) -> float:
        return self.num_beats * self.beat_s


def chord_label(root_pc: int, quality: str) -> str:
    return f"{PITCH_NAMES[root_pc]}:{quality}"


def reference_segments(song: Song):
    """``[(start_s, end_s, label)]`` from the chart: exact beat times."""
    segs = []
    for start_beat, dur_beats, root, quality in song.chords:
        t0 = start_beat * song.beat_s
        t1 = (start_beat + dur_beats) * song.beat_s
        label = chord_label(root, quality)
        if segs and segs[-1][2] == label:
            segs[-1] = (segs[-1][0], t1, label)
        else:
            segs.append((t0, t1, label))
    return segs


def write_lab(path: Path, segs) -> None:
    with open(path, "w") as fh:
        for t0, t1, label in segs:
            fh.write(f"{t0:.6f}\t{t1:.6f}\t{label}\n")


# --------------------------------------------------------------------------
# Progression generator


def _pick(rng, weights: dict):
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[rng.choice(len(keys), p=p / p.sum())]


def make_progression(rng, mode: str, tonic: int, num_bars: int, beats_per_bar: int,
                     split_prob: float):
    """Chart of ``num_bars`` bars: list of (start_beat, dur_beats, root_pc, quality).

    Starts on the tonic, ends with a V - I cadence, never repeats a chord on
    consecutive slots (so every slot boundary is a true change).  In 4/4 a bar is
    split into two half-bar chords with probability ``split_prob``.
    """
    degrees = MAJOR_DEGREES if mode == "major" else MINOR_DEGREES
    slots = []  # durations in beats
    for bar in range(num_bars):
        if beats_per_bar == 4 and 0 < bar < num_bars - 2 and rng.random() < split_prob:
            slots += [2, 2]
        else:
            slots.append(beats_per_bar)
    seq = [1]
    for i in range(1, len(slots)):
        if i == len(slots) - 1:
            seq.append(1)
        elif i == len(slots) - 2:
            seq.append(5)
        else:
            seq.append(_pick(rng, TRANSITIONS[seq[-1]]))
    chords = []
    beat = 0
    prev = None
    for deg, dur in zip(seq, slots):
        interval, quals = degrees[deg]
        root = (tonic + interval) % 12
        quality = "maj" if (deg == 1 and beat == 0 and mode == "major") else _pick(rng, quals)
        if deg == 1 and beat == 0 and mode == "minor":
            quality = "min"
        if deg == 1 and len(chords) == len(slots) - 1:
            quality = "maj" if mode == "major" else "min"
        # sus4 resolves: never two suspended/augmented chords in a row.
        if prev is not None and (root, quality) == prev:
            alt = [q for q in quals if q != quality]
            quality = alt[0] if alt else quality
        if prev is not None and (root, quality) == prev:
            # Same degree twice: extend the previous chord instead.
            chords[-1] = (chords[-1][0], chords[-1][1] + dur, root, quality)
        else:
            chords.append((beat, dur, root, quality))
        prev = (root, quality)
        beat += dur
    return chords


def make_songs(seed: int, quick: bool):
    """The whole recipe (pure function of seed and ``quick``)."""
    rng = np.random.default_rng(seed)
    songs = []
    num_mma = 2 if quick else 22
    num_synth = 2 if quick else 8
    grooves = list(GROOVES)
    order = rng.permutation(len(grooves))
    keys = [(pc, mode) for pc in range(12) for mode in ("major", "minor")]
    key_order = rng.permutation(len(keys))
    for i in range(num_mma):
        groove, bpb = grooves[order[i % len(grooves)]]
        if quick:
            # Keep quick runs representative: one 4/4 groove with drums-heavy
            # backing and one waltz.
            groove, bpb = [("50sRock", 4), ("JazzWaltz", 3)][i]
        tonic, mode = keys[key_order[(7 * i) % len(keys)]]
        tempo = float(rng.integers(70, 161))
        target_s = 22.0 if quick else float(rng.uniform(30, 60))
        bar_s = bpb * 60.0 / tempo
        num_bars = max(6, int(round(target_s / bar_s)))
        chords = make_progression(rng, mode, tonic, num_bars, bpb, split_prob=0.3)
        songs.append(Song(
            name=f"mma{i:02d}_{groove.lower()}_{PITCH_NAMES[tonic].replace('#', 's')}{mode[:3]}_{int(tempo)}",
            kind="mma", tonic=tonic, mode=mode, tempo_bpm=tempo, beats_per_bar=bpb,
            groove=groove, chords=chords, seed=int(rng.integers(1, 2**31 - 1)),
        ))
    for i in range(num_synth):
        tonic, mode = keys[key_order[(7 * (num_mma + i)) % len(keys)]]
        tempo = float(rng.integers(70, 161))
        bpb = 4 if rng.random() < 0.8 else 3
        target_s = 20.0 if quick else float(rng.uniform(30, 50))
        bar_s = bpb * 60.0 / tempo
        num_bars = max(6, int(round(target_s / bar_s)))
        chords = make_progression(rng, mode, tonic, num_bars, bpb, split_prob=0.3)
        timbre = {
            "tilt": float(rng.uniform(0.8, 2.0)),  # partial k has amplitude k**-tilt
            "odd_only": bool(rng.random() < 0.25),
            "num_partials": int(rng.integers(6, 16)),
            "attack_ms": float(rng.uniform(2, 50)),
            "decay_s": float(rng.uniform(0.3, 3.0)),
            "sustain": float(rng.uniform(0.2, 0.8)),
            "strike_every_beats": int(rng.choice([1, 2, bpb])),
        }
        songs.append(Song(
            name=f"synth{i:02d}_{PITCH_NAMES[tonic].replace('#', 's')}{mode[:3]}_{int(tempo)}",
            kind="synthetic", tonic=tonic, mode=mode, tempo_bpm=tempo, beats_per_bar=bpb,
            chords=chords, seed=int(rng.integers(1, 2**31 - 1)), timbre=timbre,
        ))
    return songs


# --------------------------------------------------------------------------
# mma + FluidSynth


def mma_chart_text(song: Song) -> str:
    """An ``.mma`` file: one line per bar, one token per beat (``/`` = hold)."""
    lines = [
        f"// Generated by tests/eval/chord_material.py ({song.name}); key {song.key_label}",
        f"RndSeed {song.seed}",
        f"Tempo {song.tempo_bpm:g}",
        f"Groove {song.groove}",
        "",
    ]
    beat_tokens = ["/"] * song.num_beats
    for start, _dur, root, quality in song.chords:
        beat_tokens[start] = PITCH_NAMES[root] + QUALITIES[quality][0]
    bpb = song.beats_per_bar
    for bar in range(song.num_beats // bpb):
        toks = beat_tokens[bar * bpb:(bar + 1) * bpb]
        if toks[0] == "/":
            # mma needs an explicit chord at the start of each bar.
            prev = next(t for t in reversed(beat_tokens[:bar * bpb + 1]) if t != "/")
            toks[0] = prev
        lines.append(f"{bar + 1} " + " ".join(toks))
    return "\n".join(lines) + "\n"


def strip_drums(src: Path, dst: Path) -> int:
    """Copy a MIDI file without any channel-10 (index 9) event; returns #removed."""
    import mido

    mid = mido.MidiFile(src)
    removed = 0
    for track in mid.tracks:
        kept = []
        carry = 0
        for msg in track:
            if not msg.is_meta and hasattr(msg, "channel") and msg.channel == 9:
                carry += msg.time  # keep absolute timing of what follows
                removed += 1
                continue
            kept.append(msg.copy(time=msg.time + carry))
            carry = 0
        track[:] = kept
    mid.save(dst)
    return removed


def render_fluidsynth(mid: Path, wav: Path) -> None:
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
           "-r", str(SAMPLE_RATE), "-F", str(wav), str(SOUNDFONT), str(mid)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def verify_midi(mid_path: Path, song: Song) -> dict:
    """Check the mma render against the chart: timing and chord-tone content."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(mid_path))
    _, tempi = pm.get_tempo_changes()
    ts = pm.time_signature_changes
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    first_onset = min(n.start for n in notes)
    last_end = max(n.end for n in notes)
    segs = reference_segments(song)
    starts = np.array([s[0] for s in segs])
    tones = []
    for _, _, label in segs:
        root_name, q = label.split(":")
        root = PITCH_NAMES.index(root_name)
        tones.append({(root + iv) % 12 for iv in QUALITIES[q][1]})
    # Duration-weighted fraction of sounding notes that are chord tones, sampled
    # every 10 ms inside the chart span.
    grid = np.arange(0.0, song.duration_s, 0.01)
    inside = 0.0
    total = 0.0
    on = np.array([n.start for n in notes])
    off = np.array([n.end for n in notes])
    pcs = np.array([n.pitch % 12 for n in notes])
    for t in grid:
        act = (on <= t) & (off > t)
        if not act.any():
            continue
        seg = int(np.searchsorted(starts, t, side="right") - 1)
        total += act.sum()
        inside += sum(1 for pc in pcs[act] if pc in tones[seg])
    return {
        "tempo_bpm_midi": [float(x) for x in tempi],
        "time_signature": [f"{t.numerator}/{t.denominator}" for t in ts],
        "first_note_s": float(first_onset),
        "last_note_end_s": float(last_end),
        "chart_end_s": song.duration_s,
        "chord_tone_fraction": inside / total if total else float("nan"),
        "ok": bool(abs(first_onset) < 0.05 and all(abs(t - song.tempo_bpm) < 1e-3 for t in tempi)
                   and (not ts or ts[0].numerator == song.beats_per_bar)),
    }


# --------------------------------------------------------------------------
# Additive synthesis


def synth_song(song: Song) -> np.ndarray:
    """Mono float32 chord sequence: bass root + close-voiced upper chord tones."""
    rng = np.random.default_rng(song.seed)
    sr = SAMPLE_RATE
    tb = song.timbre
    tail_s = 1.0
    out = np.zeros(int((song.duration_s + tail_s) * sr) + 1, dtype=np.float64)
    k = np.arange(1, tb["num_partials"] + 1)
    if tb["odd_only"]:
        k = k[k % 2 == 1]
    amps = k.astype(float) ** -tb["tilt"]
    strike = tb["strike_every_beats"]
    for start_beat, dur_beats, root, quality in song.chords:
        tones = QUALITIES[quality][1]
        bass = 36 + root  # C2..B2
        lowest = 55 + rng.integers(0, 8)  # random inversion around G3..D4
        upper = sorted(60 + ((root + iv) % 12) - 12 for iv in tones)
        upper = [p + 12 * int(np.ceil((lowest - p) / 12)) for p in upper]
        pitches = [bass] + sorted(upper)
        strikes = list(range(start_beat, start_beat + dur_beats, strike)) or [start_beat]
        for s_idx, b in enumerate(strikes):
            t0 = b * song.beat_s
            t1 = min(start_beat + dur_beats, b + strike) * song.beat_s
            n0, n1 = int(t0 * sr), int(t1 * sr)
            rel = int(0.08 * sr)
            n = n1 - n0 + rel
            t = np.arange(n) / sr
            att = max(1, int(tb["attack_ms"] * 1e-3 * sr))
            env = np.ones(n)
            env[:att] = np.linspace(0, 1, att)
            env[att:] = tb["sustain"] + (1 - tb["sustain"]) * np.exp(-t[att:] / tb["decay_s"] * 3)
            env[n - rel:] *= np.linspace(1, 0, rel)
            for p in pitches:
                cents = rng.normal(0, 3)
                f0 = 440.0 * 2 ** ((p - 69 + cents / 100) / 12)
                ks = k[k * f0 < 0.45 * sr]
                phase = rng.uniform(0, 2 * np.pi, len(ks))
                tone = (amps[: len(ks)][:, None] * np.sin(2 * np.pi * f0 * ks[:, None] * t[None, :]
                                                          + phase[:, None])).sum(0)
                vel = rng.uniform(0.7, 1.0) * (1.3 if p == bass else 1.0)
                out[n0:n0 + n] += vel * env * tone
    out /= np.max(np.abs(out)) + 1e-12
    out *= 10 ** (-6 / 20)
    return out.astype(np.float32)


# --------------------------------------------------------------------------
# Recipe cache


def tool_versions() -> dict:
    def first_line(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in (p.stdout + p.stderr).splitlines()
                     if ln.strip() and "PLUGIN" not in ln]
            return lines[0].strip() if lines else ""
        except FileNotFoundError:
            return "missing"

    sf = SOUNDFONT
    return {
        "mma": first_line(["mma", "-v"]),
        "fluidsynth": first_line(["fluidsynth", "--version"]),
        "soundfont": f"{sf.name} {sf.stat().st_size if sf.exists() else 'missing'} bytes",
    }


def recipe_hash(songs, versions) -> str:
    blob = json.dumps({"v": MATERIAL_VERSION, "songs": [asdict(s) for s in songs],
                       "tools": versions}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_material(out_dir: Path, seed: int, quick: bool, log=print):
    """Render (or reuse) all material; returns a list of item dicts.

    Each item: name, condition, wav, ref_lab, key, song (dict), midi_check.
    """
    import soundfile as sf

    for tool in ("mma", "fluidsynth"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install mma fluidsynth fluid-soundfont-gm")
    if not SOUNDFONT.exists():
        raise SystemExit(f"{SOUNDFONT} missing: apt-get install fluid-soundfont-gm")
    songs = make_songs(seed, quick)
    versions = tool_versions()
    digest = recipe_hash(songs, versions)
    mat = out_dir / "material"
    manifest_path = mat / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("hash") == digest and all(Path(it["wav"]).exists() for it in manifest["items"]):
            log(f"material: reusing {len(manifest['items'])} renders in {mat} (recipe {digest})")
            return manifest["items"], manifest
        log(f"material: recipe changed ({manifest.get('hash')} -> {digest}); re-rendering")
        shutil.rmtree(mat)
    mat.mkdir(parents=True, exist_ok=True)
    items = []
    env = dict(os.environ)
    for song in songs:
        segs = reference_segments(song)
        ref_lab = mat / f"{song.name}.ref.lab"
        write_lab(ref_lab, segs)
        common = {"key": song.key_label, "song": asdict(song), "ref_lab": str(ref_lab),
                  "duration_s": song.duration_s}
        if song.kind == "mma":
            chart = mat / f"{song.name}.mma"
            chart.write_text(mma_chart_text(song))
            p = subprocess.run(["mma", chart.name], cwd=mat, capture_output=True, text=True, env=env)
            mid = chart.with_suffix(".mid")
            if p.returncode != 0 or not mid.exists():
                raise RuntimeError(f"mma failed on {chart}:\n{p.stdout}\n{p.stderr}")
            check = verify_midi(mid, song)
            if not check["ok"]:
                log(f"WARNING: {song.name}: MIDI timing check failed: {check}")
            mid_nd = mat / f"{song.name}.nodrums.mid"
            strip_drums(mid, mid_nd)
            for cond, m in (("drums", mid), ("nodrums", mid_nd)):
                wav = mat / f"{song.name}.{cond}.wav"
                render_fluidsynth(m, wav)
                items.append({"name": f"{song.name}.{cond}", "condition": cond, "wav": str(wav),
                              "midi_check": check, **common})
            log(f"material: {song.name} ({song.groove}, {song.key_label}, {song.tempo_bpm:g} bpm, "
                f"{song.duration_s:.1f} s, chord tones {check['chord_tone_fraction']:.2f})")
        else:
            audio = synth_song(song)
            wav = mat / f"{song.name}.synthetic.wav"
            sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
            items.append({"name": f"{song.name}.synthetic", "condition": "synthetic",
                          "wav": str(wav), "midi_check": None, **common})
            log(f"material: {song.name} ({song.key_label}, {song.tempo_bpm:g} bpm, {song.duration_s:.1f} s)")
    manifest = {"hash": digest, "seed": seed, "quick": quick, "tools": versions, "items": items}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return items, manifest
