#!/usr/bin/env python3
"""Deterministic stem renderer for the Prism Split model (drums / bass / other).

Pipeline (a pure function of --seed and the installed Debian packages):

1. Songs from three sources:
   * ``mma``: a random chord chart (diatonic progression generator shared with
     ``tests/eval/chord_material.py``) in a random key, tempo and ``mma`` groove (all
     grooves of ``/usr/share/mma/lib/stdlib`` except intros/endings/metronomes); ``mma``
     turns it into multitrack General MIDI. About 10 % of the grooves (by a hash of their
     name) are held out for the test split.
   * the ``music21`` corpus (PyPI ``music21``, pinned): Bach chorales, Beethoven / Mozart /
     Haydn string quartets, Monteverdi madrigals, Palestrina and Josquin polyphony, one
     MIDI track per part; the lowest part becomes a GM bass (programs 32-39, p = 0.75) and
     the others a random ensemble (piano, organ, guitars, strings, brass, reeds, synths).
     No drums: random cross-song stem mixing in ``train.py`` puts drums under them.
   * General-MIDI files of Debian packages (``openttd-openmsx``, ``planetblupi-music-midi``).
   For both new sources about 10 % of the files (by a hash of their path) are held out
   for the test split; a song is a random 40-75 s window of a piece, transposed by
   -5..+6 semitones (drums untouched) and played 0.85-1.2x (files) or at a random
   tempo (corpus: 60-130 quarter notes per minute).
3. The MIDI is split into stems by GM family: drums = channel 10, bass = programs
   32-39, other = everything else. Augmentation at the MIDI level: random program
   within the GM family (p = 0.5 per channel), per-stem velocity scale and jitter.
4. Each stem of each song is rendered by FluidSynth with reverb and chorus off
   (``-R 0 -C 0``, float WAV, 44.1 kHz, fixed gain) through a soundfont drawn per stem:
   train/valid: FluidR3_GM, MuseScore_General (drums also Black Pearl kit of AVLdrums);
   test (held out entirely): TimGM6mb (drums also Red Zeppelin kit of AVLdrums).
   Stems of many songs are concatenated in time (2.5 s gaps, "all sound off" between
   songs) into one MIDI file per (soundfont, stem) so each soundfont loads once.
   With reverb/chorus off the synth is linear, so a full render equals the sum of the
   stem renders to ~60 dB SNR (measured; not bit-exact); the training mix is *defined*
   as the sum of the (augmented) stems.
5. Output: ``<out>/<split>/<song>/{drums,bass,other}.npy`` (float16, [samples, 2]) and
   ``<out>/manifest.json``. Audio-level augmentation (gain, EQ, pan/downmix, random
   cross-song stem mixing) happens on the fly in ``train.py``.

Resumable: songs whose stems exist are skipped; batches are re-rendered only if a
song in them is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "eval"))
import chord_material as cm  # noqa: E402  (make_progression, PITCH_NAMES, QUALITIES)

RENDER_VERSION = 2
SR = 44100
STEMS = ("drums", "bass", "other")
MMA_LIB = Path("/usr/share/mma/lib/stdlib")

SF = {
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "musescore": "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
    "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "avl_blackpearl": "/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2",
    "avl_redzeppelin": "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2",
}
# Kits that are a single preset at bank 0 / program 0 (not GM bank 128): drums go to
# MIDI channel 1 without program change.
BANK0_KITS = {"avl_blackpearl", "avl_redzeppelin"}
TIMBRES = {
    "train": {"drums": ["fluidr3", "musescore", "avl_blackpearl"],
              "bass": ["fluidr3", "musescore"], "other": ["fluidr3", "musescore"]},
    "test": {"drums": ["timgm6mb", "avl_redzeppelin"],
             "bass": ["timgm6mb"], "other": ["timgm6mb"]},
}
TIMBRES["valid"] = TIMBRES["train"]

# Song sources beside mma (render version 2).
MIDI_PACKAGES = {  # Debian package -> its General-MIDI files
    "openttd-openmsx": "/usr/share/games/openttd/baseset/openmsx",
    "planetblupi-music-midi": "/usr/share/planetblupi/music",
}
# music21 corpus groups (composer folders) and how often a song is drawn from each.
M21_GROUPS = (
    ("chorales", ("bach",), 0.4),
    ("quartets", ("beethoven", "mozart", "haydn"), 0.25),
    ("madrigals", ("monteverdi",), 0.15),
    ("polyphony", ("palestrina", "josquin"), 0.2),
)
BASS_PROGRAMS = list(range(32, 40))
ENSEMBLES = {  # GM programs a corpus part may be played by (none of them 32-39)
    "piano": [0, 1, 2, 4, 5, 6, 7],
    "organ": [16, 17, 19, 20, 21],
    "guitar": [24, 25, 26, 27, 28],
    "strings": [40, 41, 42, 48, 49, 50],
    "brass": [56, 57, 58, 60, 61],
    "reeds": [64, 65, 66, 68, 71, 73],
    "synth": [80, 81, 88, 89, 90, 91, 92, 94],
}

GAP_S = 2.5  # silence between songs in a batch render
TAIL_S = 2.0  # release tail kept after the last note-off


# --------------------------------------------------------------------------- grooves

def discover_grooves():
    """[(groove, beats_per_bar)] from the mma standard library, sorted."""
    out = {}
    skip = re.compile(r"(intro|end|fill|metronome|break)", re.I)
    for f in sorted(MMA_LIB.glob("*.mma")):
        if skip.search(f.stem):
            continue
        time_sig = 4
        for line in f.read_text(errors="replace").splitlines():
            m = re.match(r"\s*Time\s+(\d+)", line, re.I)
            if m:
                time_sig = int(m.group(1))
            m = re.match(r"\s*DefGroove\s+(\S+)", line, re.I)
            if m and not skip.search(m.group(1)) and time_sig in (2, 3, 4, 6):
                out.setdefault(m.group(1), time_sig)
    return sorted(out.items())


def is_test_groove(name: str) -> bool:
    return int(hashlib.sha256(name.lower().encode()).hexdigest(), 16) % 10 == 0


# --------------------------------------------------------------------------- recipe

def stable_hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def midi_files():
    """[(package, path)] of the Debian General-MIDI packages, sorted; fails if one is missing."""
    out = []
    for pkg, folder in MIDI_PACKAGES.items():
        files = sorted(Path(folder).glob("*.mid")) if Path(folder).is_dir() else []
        if not files:
            raise SystemExit(f"no MIDI files in {folder}: apt-get install {pkg}")
        out += [(pkg, str(f)) for f in files]
    return out


def m21_pieces():
    """{group: [corpus-relative path]} of the music21 corpus, one file per piece (MusicXML
    preferred over Humdrum), sorted."""
    from music21 import corpus

    out = {}
    for group, composers, _ in M21_GROUPS:
        pieces = {}
        for comp in composers:
            for path in corpus.getComposer(comp):
                path = Path(path)
                if path.suffix not in (".mxl", ".xml", ".musicxml", ".krn", ".mid"):
                    continue
                key = str(path.with_suffix(""))
                if key not in pieces or path.suffix in (".mxl", ".xml", ".musicxml"):
                    pieces[key] = path
        out[group] = sorted(str(p) for p in pieces.values())
    return out


def corpus_relative(path: str) -> str:
    """A corpus path without the install location (stable across venvs)."""
    parts = Path(path).parts
    return "/".join(parts[parts.index("corpus") + 1:])


def external_songs(seed, counts, min_s, max_s):
    """Recipe entries of the music21 corpus and the Debian MIDI files.

    counts: {split: (n_music21, n_midi)}. Files whose path hash is 0 mod 10 are the test
    pool; train and valid draw from the rest."""
    songs = []
    need_m21 = any(c[0] for c in counts.values())
    need_midi = any(c[1] for c in counts.values())
    m21 = m21_pieces() if need_m21 else {}
    files = midi_files() if need_midi else []
    for split, off in (("train", 10), ("valid", 11), ("test", 12)):
        n_m21, n_midi = counts.get(split, (0, 0))
        rng = np.random.default_rng([seed, off])
        held = split == "test"
        for i in range(n_m21):
            weights = np.array([w for _, _, w in M21_GROUPS])
            g = int(rng.choice(len(M21_GROUPS), p=weights / weights.sum()))
            group = M21_GROUPS[g][0]
            pool = [p for p in m21[group] if (stable_hash(corpus_relative(p)) % 10 == 0) == held]
            rel = corpus_relative(pool[int(rng.integers(len(pool)))])
            songs.append(external_entry(rng, split, f"{split}m{i:03d}_{group}_{Path(rel).stem}",
                                        {"source": "music21", "group": group, "path": rel,
                                         "qpm": float(rng.uniform(60, 130)),
                                         "bass_p": 0.75}, min_s, max_s))
        for i in range(n_midi):
            pool = [(k, f) for k, f in files if (stable_hash(Path(f).name) % 10 == 0) == held]
            pkg, path = pool[int(rng.integers(len(pool)))]
            songs.append(external_entry(rng, split, f"{split}x{i:03d}_{Path(path).stem}",
                                        {"source": pkg, "path": path,
                                         "time_scale": float(rng.uniform(1 / 1.2, 1 / 0.85))},
                                        min_s, max_s))
    return songs


def external_entry(rng, split, name, fields, min_s, max_s):
    song = {"name": name.lower().replace(".", "_"), "split": split, "groove": fields["path"], **fields,
            "transpose": int(rng.integers(-5, 7)), "window_s": float(rng.uniform(min_s, max_s)),
            "start_frac": float(rng.uniform(0, 1)), "aug_seed": int(rng.integers(1, 2**31 - 1)),
            "timbre": {s: str(rng.choice(TIMBRES[split][s])) for s in STEMS}, "program_swap_p": 0.5,
            "velocity": {s: [float(rng.uniform(0.6, 1.15)), float(rng.uniform(0, 12))] for s in STEMS}}
    return song


def make_recipe(seed: int, n_train: int, n_valid: int, n_test: int, min_s: float, max_s: float):
    grooves = discover_grooves()
    pools = {"train": [g for g in grooves if not is_test_groove(g[0])]}
    pools["valid"] = pools["train"]
    pools["test"] = [g for g in grooves if is_test_groove(g[0])]
    songs = []
    for split, n, off in (("train", n_train, 0), ("valid", n_valid, 1), ("test", n_test, 2)):
        rng = np.random.default_rng([seed, off])
        pool = pools[split]
        for i in range(n):
            groove, bpb = pool[int(rng.integers(len(pool)))]
            tonic = int(rng.integers(12))
            mode = "major" if rng.random() < 0.6 else "minor"
            tempo = float(rng.integers(60, 181))
            target_s = float(rng.uniform(min_s, max_s))
            num_bars = max(6, int(round(target_s / (bpb * 60.0 / tempo))))
            pb = 4 if bpb in (4, 6) else bpb  # progression grammar works in 3 or 4
            chords = cm.make_progression(rng, mode, tonic, num_bars, pb, split_prob=0.25)
            tim = {s: str(rng.choice(TIMBRES[split][s])) for s in STEMS}
            songs.append({
                "name": f"{split}{i:04d}_{groove.lower()}_{cm.PITCH_NAMES[tonic].replace('#', 's')}"
                        f"{mode[:3]}_{int(tempo)}",
                "split": split, "groove": groove, "bpb": bpb, "tonic": tonic, "mode": mode,
                "tempo": tempo, "num_bars": num_bars, "chords": [list(map(lambda v: v if isinstance(v, str) else int(v), c)) for c in chords],
                "progression_beats": pb, "mma_seed": int(rng.integers(1, 2**31 - 1)),
                "aug_seed": int(rng.integers(1, 2**31 - 1)), "timbre": tim,
                "program_swap_p": 0.5,
                "velocity": {s: [float(rng.uniform(0.6, 1.15)), float(rng.uniform(0, 12))] for s in STEMS},
            })
    return songs


def chart_text(song) -> str:
    """One chord (or two in 4/4) per bar; mma holds it for the rest of the bar."""
    pb = song["progression_beats"]
    bars = [[] for _ in range(song["num_bars"])]
    for start, dur, root, quality in song["chords"]:
        bar, beat = divmod(int(start), pb)
        if bar < len(bars):
            bars[bar].append((beat, cm.PITCH_NAMES[root] + cm.QUALITIES[quality][0]))
    lines = [f"// prism split render v{RENDER_VERSION}: {song['name']}", f"RndSeed {song['mma_seed']}",
             f"Tempo {song['tempo']:g}", f"Groove {song['groove']}", ""]
    prev = None
    for i, ev in enumerate(bars):
        if not ev:
            ev = [(0, prev)]
        if ev[0][0] != 0:
            ev = [(0, prev or ev[0][1])] + ev
        if song["bpb"] == 4 and len(ev) > 1:
            toks = [ev[0][1], "/", ev[1][1]]
        else:
            toks = [ev[0][1]]
        prev = ev[-1][1]
        lines.append(f"{i + 1} " + " ".join(toks))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- MIDI split

def split_midi(mid_path: Path, song):
    """Absolute-time (seconds) event lists per stem, with MIDI-level augmentation.

    Optional song fields (sources other than mma): ``time_scale`` (played that much slower),
    ``transpose`` (semitones, drums untouched, octave-folded into 0..127), and ``window_s`` /
    ``start_frac`` (keep a window of that length starting at that fraction of the free room;
    controllers and programs before it apply from its start, notes sounding at its end stop
    there)."""
    import mido

    rng = np.random.default_rng(song["aug_seed"])
    mid = mido.MidiFile(str(mid_path))
    scale = float(song.get("time_scale", 1.0))
    transpose = int(song.get("transpose", 0))
    t0, t1 = 0.0, float("inf")
    if "window_s" in song:
        length = mid.length * scale
        span = min(song["window_s"], length)
        t0 = song["start_frac"] * (length - span)
        t1 = t0 + span
    swap = {}  # (channel, original program) -> program
    program = [0] * 16
    sounding = {}  # (ch, note) -> (stem, played note)
    ev = {s: [] for s in STEMS}
    t = 0.0
    for msg in mid:  # merged tracks, msg.time in seconds
        t += msg.time * scale
        if msg.is_meta or not hasattr(msg, "channel"):
            continue
        if t >= t1 and not (msg.type in ("note_on", "note_off") and (msg.channel, msg.note) in sounding):
            continue
        at = min(max(t, t0), t1) - t0
        ch = msg.channel
        if msg.type == "program_change" and ch != 9:
            key = (ch, msg.program)
            if key not in swap:
                fam = msg.program // 8
                swap[key] = fam * 8 + int(rng.integers(8)) if rng.random() < song["program_swap_p"] else msg.program
            program[ch] = swap[key]
            for s in ("bass", "other"):
                ev[s].append((at, msg.copy(program=program[ch])))
            continue
        if msg.type in ("note_on", "note_off"):
            on = msg.type == "note_on" and msg.velocity > 0
            if on:
                if t < t0 or t >= t1:
                    continue
                stem = "drums" if ch == 9 else ("bass" if 32 <= program[ch] <= 39 else "other")
                note = msg.note
                if ch != 9 and transpose:
                    note += transpose
                    while note > 127:
                        note -= 12
                    while note < 0:
                        note += 12
                if (ch, msg.note) in sounding:  # retrigger: end the previous one first
                    prev_stem, prev_note = sounding.pop((ch, msg.note))
                    ev[prev_stem].append((at, mido.Message("note_off", channel=ch, note=prev_note)))
                sounding[(ch, msg.note)] = (stem, note)
                scale_v, jitter = song["velocity"][stem]
                v = int(np.clip(round(msg.velocity * scale_v + rng.normal(0, jitter)), 1, 127))
                ev[stem].append((at, msg.copy(velocity=v, note=note)))
            else:
                found = sounding.pop((ch, msg.note), None)
                if found is not None:
                    stem, note = found
                    ev[stem].append((at, msg.copy(note=note) if msg.type == "note_off"
                                     else mido.Message("note_off", channel=ch, note=note)))
            continue
        # controllers / pitch bend: to every stem that may use this channel
        for s in (("drums",) if ch == 9 else ("bass", "other")):
            ev[s].append((at, msg))
    end = max((e[-1][0] for e in ev.values() if e), default=min(t, t1) - t0)
    return ev, end


def corpus_midi(song, mid_path: Path):
    """Writes a music21 corpus piece as General MIDI, one channel per part, programs drawn
    for the song: the lowest part a GM bass (p = bass_p), the others from one ensemble."""
    import mido
    from music21 import corpus

    rng = np.random.default_rng([song["aug_seed"], 1])
    score = corpus.parse(song["path"])
    parts = []
    for part in score.parts:
        notes = []
        for n in part.flatten().stripTies().notes:
            on = float(n.offset)
            dur = float(n.quarterLength)
            if dur <= 0:
                continue
            vel = n.volume.velocity or 80
            for p in n.pitches:
                notes.append((on, on + dur, int(p.midi), int(vel)))
        if notes:
            parts.append(notes)
    if not parts:
        raise ValueError(f"{song['path']}: no notes")
    lowest = min(range(len(parts)), key=lambda i: np.median([n[2] for n in parts[i]]))
    names = sorted(ENSEMBLES)
    ensemble = ENSEMBLES[names[int(rng.integers(len(names)))]]
    programs = []
    for i in range(len(parts)):
        if i == lowest and rng.random() < song["bass_p"]:
            programs.append(int(rng.choice(BASS_PROGRAMS)))
        elif rng.random() < 0.7:
            programs.append(int(rng.choice(ensemble)))
        else:
            programs.append(int(rng.choice(ENSEMBLES[names[int(rng.integers(len(names)))]])))
    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=int(round(60e6 / song["qpm"])), time=0))
    mid.tracks.append(meta)
    channels = [c for c in range(16) if c != 9]
    for i, notes in enumerate(parts[:len(channels)]):
        ch = channels[i]
        events = [(0, 0, mido.Message("program_change", channel=ch, program=programs[i]))]
        events.append((0, 0, mido.Message("control_change", channel=ch, control=10,
                                          value=int(rng.integers(24, 105)))))
        for on, off, note, vel in notes:
            events.append((int(round(on * tpb)), 2, mido.Message("note_on", channel=ch, note=note, velocity=vel)))
            events.append((int(round(off * tpb)), 1, mido.Message("note_off", channel=ch, note=note)))
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack()
        last = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(track)
    mid.save(str(mid_path))


def write_batch_midi(path: Path, segments, drums_bank0: bool):
    """segments: [(offset_s, events)] -> one MIDI at 960 ticks per second."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=960)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))
    allev = []
    for off, events in segments:
        # reset before each song (the previous one has been silent for GAP_S - 0.05 s)
        t0 = max(0.0, off - 0.05)
        for ch in range(16):
            for cc, val in ((120, 0), (121, 0), (0, 0), (7, 100), (10, 64)):
                allev.append((t0, 0, mido.Message("control_change", channel=ch, control=cc, value=val)))
            if ch != 9:
                allev.append((t0, 1, mido.Message("program_change", channel=ch, program=0)))
        for t, msg in events:
            if drums_bank0:
                if msg.type == "program_change":
                    continue
                msg = msg.copy(channel=0)
            allev.append((off + t, 2, msg))
    allev.sort(key=lambda e: (e[0], e[1]))
    last = 0
    for t, _, msg in allev:
        tick = int(round(t * 960))
        tr.append(msg.copy(time=tick - last))
        last = tick
    mid.save(str(path))


def fluidsynth(sf: str, mid: Path, wav: Path):
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(SR),
           "-O", "float", "-T", "wav", "-o", "synth.polyphony=1024", "-F", str(wav), sf, str(mid)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# --------------------------------------------------------------------------- jobs

def job_song(args):
    """Multitrack MIDI of one song, split into stems: (name, {events, end} | None, error)."""
    song, work = args
    source = song.get("source", "mma")
    if source == "mma":
        return job_mma(song, work)
    d = Path(work) / song["name"]
    d.mkdir(parents=True, exist_ok=True)
    try:
        if source == "music21":
            mid = d / "song.mid"
            corpus_midi(song, mid)
        else:
            mid = Path(song["path"])
        ev, end = split_midi(mid, song)
    except Exception as e:  # a bad file is skipped (listed in the manifest), not fatal
        return song["name"], None, f"{type(e).__name__}: {e}"[-400:]
    return song["name"], {"events": ev, "end": end}, None


def job_mma(song, work):
    d = Path(work) / song["name"]
    d.mkdir(parents=True, exist_ok=True)
    chart = d / "chart.mma"
    chart.write_text(chart_text(song))
    mid = d / "song.mid"
    p = subprocess.run(["mma", "-f", str(mid), str(chart)], capture_output=True, text=True)
    if p.returncode != 0 or not mid.exists():
        return song["name"], None, (p.stdout + p.stderr)[-400:]
    ev, end = split_midi(mid, song)
    return song["name"], {"events": ev, "end": end}, None


def job_render(args):
    sf_key, stem, items, work = args  # items: [(name, offset, dur, events)]
    tag = hashlib.sha1(("|".join(i[0] for i in items) + sf_key + stem).encode()).hexdigest()[:10]
    mid = Path(work) / f"batch_{stem}_{sf_key}_{tag}.mid"
    wav = mid.with_suffix(".wav")
    write_batch_midi(mid, [(off, ev) for _, off, _, ev in items],
                     drums_bank0=(stem == "drums" and sf_key in BANK0_KITS))
    fluidsynth(SF[sf_key], mid, wav)
    import soundfile as sfile

    audio, sr = sfile.read(str(wav), dtype="float32", always_2d=True)
    assert sr == SR
    out = []
    for name, off, dur, _ in items:
        a = int(round(off * SR))
        n = int(round(dur * SR))
        seg = np.zeros((n, 2), np.float32)
        chunk = audio[a:a + n]
        seg[:len(chunk)] = chunk
        out.append((name, seg))
    wav.unlink()
    mid.unlink()
    return stem, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "target" / "split-data"))
    ap.add_argument("--seed", type=int, default=20240604)
    ap.add_argument("--train", type=int, default=200, help="number of training songs")
    ap.add_argument("--valid", type=int, default=12)
    ap.add_argument("--test", type=int, default=30)
    ap.add_argument("--min-s", type=float, default=40.0)
    ap.add_argument("--max-s", type=float, default=75.0)
    ap.add_argument("--m21", default="90,6,6",
                    help="songs from the music21 corpus for train,valid,test")
    ap.add_argument("--midi", default="60,4,4",
                    help="songs from the Debian MIDI packages for train,valid,test")
    ap.add_argument("--batch", type=int, default=40, help="songs per FluidSynth render")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    for tool in ("mma", "fluidsynth"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} missing: apt-get install mma fluidsynth")
    for k, p in SF.items():
        if not Path(p).exists():
            raise SystemExit(f"soundfont {k} missing ({p}): apt-get install fluid-soundfont-gm "
                             "musescore-general-soundfont timgm6mb-soundfont avldrums.lv2-soundfont")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    songs = make_recipe(args.seed, args.train, args.valid, args.test, args.min_s, args.max_s)
    n_m21 = [int(v) for v in args.m21.split(",")]
    n_midi = [int(v) for v in args.midi.split(",")]
    counts = {sp: (n_m21[k], n_midi[k]) for k, sp in enumerate(("train", "valid", "test"))}
    songs += external_songs(args.seed, counts, args.min_s, args.max_s)
    recipe = {"version": RENDER_VERSION, "seed": args.seed, "sr": SR, "songs": songs,
              "soundfonts": {k: [p, Path(p).stat().st_size] for k, p in SF.items()},
              "timbres": TIMBRES}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    print(f"recipe {digest}: {len(songs)} songs, {len(discover_grooves())} grooves", flush=True)

    def done(s):
        return all((out / s["split"] / s["name"] / f"{st}.npy").exists() for st in STEMS)

    todo = [s for s in songs if not done(s)]
    t_start = time.time()
    work = Path(tempfile.mkdtemp(prefix="split-render-", dir=out))
    failed = {}
    with ProcessPoolExecutor(args.jobs) as pool:
        # 1. mma + split, in chunks so memory stays small
        for c0 in range(0, len(todo), args.batch):
            chunk = todo[c0:c0 + args.batch]
            parsed = {}
            for name, res, err in pool.map(job_song, [(s, str(work)) for s in chunk]):
                if res is None:
                    failed[name] = err
                else:
                    parsed[name] = res
            # 2. group (soundfont, stem) and render
            groups = {}
            for s in chunk:
                if s["name"] not in parsed:
                    continue
                for st in STEMS:
                    groups.setdefault((s["timbre"][st], st), []).append(s)
            tasks = []
            for (sfk, st), ss in sorted(groups.items()):
                off = 1.0
                items = []
                for s in ss:
                    dur = parsed[s["name"]]["end"] + TAIL_S
                    items.append((s["name"], off, dur, parsed[s["name"]]["events"][st]))
                    off += dur + GAP_S
                tasks.append((sfk, st, items, str(work)))
            by_name = {s["name"]: s for s in chunk}
            for st, res in pool.map(job_render, tasks):
                for name, seg in res:
                    d = out / by_name[name]["split"] / name
                    d.mkdir(parents=True, exist_ok=True)
                    np.save(d / f"{st}.npy.tmp.npy", seg.astype(np.float16))
                    os.replace(d / f"{st}.npy.tmp.npy", d / f"{st}.npy")
            print(f"[{time.time() - t_start:7.1f} s] rendered songs {c0 + 1}..{c0 + len(chunk)} of "
                  f"{len(todo)} ({len(failed)} songs skipped: MIDI failed)", flush=True)
    shutil.rmtree(work, ignore_errors=True)

    manifest = {"hash": digest, "recipe": recipe, "failed": failed, "items": [], "hours": {}}
    for s in songs:
        if not done(s):
            continue
        d = out / s["split"] / s["name"]
        n = np.load(d / "drums.npy", mmap_mode="r").shape[0]
        rms = {st: float(np.sqrt(np.mean(np.load(d / f"{st}.npy").astype(np.float32) ** 2))) for st in STEMS}
        manifest["items"].append({"name": s["name"], "split": s["split"], "dir": str(d), "samples": n,
                                  "source": s.get("source", "mma"), "groove": s["groove"],
                                  "timbre": s["timbre"], "rms": rms})
        manifest["hours"][s["split"]] = manifest["hours"].get(s["split"], 0.0) + n / SR / 3600
    by_source = {}
    for it in manifest["items"]:
        key = f"{it['split']}/{it['source']}"
        by_source[key] = by_source.get(key, 0.0) + it["samples"] / SR / 3600
    manifest["hours_by_source"] = by_source
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"done in {time.time() - t_start:.0f} s; hours per split: "
          + ", ".join(f"{k} {v:.2f}" for k, v in manifest["hours"].items())
          + "; by source: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(by_source.items()))
          + f"; songs skipped (MIDI failed): {len(failed)}", flush=True)


if __name__ == "__main__":
    main()
