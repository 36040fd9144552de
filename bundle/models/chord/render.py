#!/usr/bin/env python3
"""Training material for Prism Chroma's learned chord layer (pure function of the seed).

    .venv-eval/bin/python bundle/models/chord/render.py --out target/chord-data/material

Disjoint from the evaluation by construction (``tests/eval/chroma_eval.py`` renders seed
20240601 with the grooves of ``chord_material.GROOVES`` through FluidR3_GM):

* other seeds (train 1101, dev 2202), so other keys, tempi and progressions;
* other mma grooves only (``TRAIN_GROOVES`` shares none with ``chord_material.GROOVES``);
* two banks: FluidR3_GM and MuseScore_General (Debian ``fluid-soundfont-gm``,
  ``musescore-general-soundfont``); never TimGM6mb or csound's ``sf_GMbank``, which are kept
  for evaluation elsewhere, and nothing from music21's corpus;
* besides the diatonic charts of ``chord_material.make_progression``, a third of the songs
  are random progressions (any root, any quality), so the model cannot lean on the grammar;
* each chart with drums and without, plus additive-synthesis songs.

Writes ``<out>/<split>/<name>.<cond>.wav``, ``<name>.ref.lab`` and ``<out>/manifest.json``.
Rendering is reused while the manifest's recipe hash matches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "eval"))
import chord_material as cm  # noqa: E402

RECIPE_VERSION = 1
SPLITS = {"train": (1101, 48, 8), "dev": (2202, 10, 3)}  # seed, mma songs, synthetic songs
BANKS = [
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
]
# mma grooves not used by the evaluation (tests/eval/chord_material.py GROOVES), 3/4 and 4/4.
TRAIN_GROOVES = [
    ("60sRock", 4), ("Ballad128", 4), ("BasicRock", 4), ("Beguine", 4), ("Blues", 4),
    ("BoggieWoggie", 4), ("Bolero", 4), ("BoneyM", 4), ("Broadway", 4), ("BubbleRock", 4),
    ("Calypso", 4), ("ChaCha", 4), ("Charleston", 4), ("CountryBlues", 4), ("CubanGuitar", 4),
    ("Desert", 4), ("Dixie", 4), ("EasySwing", 4), ("Evansish", 4), ("FastBlues", 4),
    ("FastSwing", 4), ("FolkBallad", 4), ("Foxtrot", 4), ("GypsyJazz", 4), ("HillCountry", 4),
    ("Hymn", 4), ("JazzGuitar", 4), ("JazzRhumba", 4), ("JazzRock", 4), ("Jive", 4),
    ("LFusion", 4), ("LightTango", 4), ("Mambo", 4), ("MellowJazz", 4), ("Merengue", 4),
    ("ModernJazz", 4), ("NiteJazz", 4), ("Polka", 4), ("PopSpiritual", 4), ("QuickStep", 4),
    ("RagTime", 4), ("Rock128", 4), ("Salsa", 4), ("ShowTune", 4), ("Ska", 4),
    ("SlowBlues", 4), ("SlowBolero", 4), ("SlowBroadway", 4), ("SlowCountry", 4),
    ("Softshoe", 4), ("Son", 4), ("Spiritual", 4), ("StringBallad", 4), ("Twist", 4),
    ("Zydeco", 4), ("BroadwayWaltz", 3), ("FastJazzWaltz", 3), ("FastWaltz", 3),
    ("FrenchWaltz", 3), ("LatinWaltz", 3), ("RockWaltz", 3), ("VieneseWaltz", 3),
]
RANDOM_QUALITIES = ["maj", "min", "7", "maj7", "min7", "dim", "aug", "sus4"]
RANDOM_WEIGHTS = np.array([5, 5, 2, 1.5, 2, 1, 0.6, 1.0])


def random_progression(rng, num_bars: int, bpb: int):
    """Any root, any quality, one or two chords a bar; never the same chord twice in a row."""
    chords, beat, prev = [], 0, None
    for bar in range(num_bars):
        durs = [2, 2] if bpb == 4 and rng.random() < 0.3 else [bpb]
        for d in durs:
            while True:
                root = int(rng.integers(0, 12))
                quality = RANDOM_QUALITIES[rng.choice(len(RANDOM_QUALITIES),
                                                      p=RANDOM_WEIGHTS / RANDOM_WEIGHTS.sum())]
                if (root, quality) != prev:
                    break
            chords.append((beat, d, root, quality))
            prev = (root, quality)
            beat += d
    return chords


def make_songs(split: str):
    seed, num_mma, num_synth = SPLITS[split]
    rng = np.random.default_rng(seed)
    songs = []
    grooves = [TRAIN_GROOVES[i] for i in rng.permutation(len(TRAIN_GROOVES))]
    for i in range(num_mma):
        groove, bpb = grooves[i % len(grooves)]
        tonic, mode = int(rng.integers(0, 12)), ("major", "minor")[int(rng.integers(0, 2))]
        tempo = float(rng.integers(66, 171))
        bar_s = bpb * 60.0 / tempo
        num_bars = max(6, int(round(float(rng.uniform(30, 55)) / bar_s)))
        rand = rng.random() < 1 / 3
        chords = (random_progression(rng, num_bars, bpb) if rand else
                  cm.make_progression(rng, mode, tonic, num_bars, bpb, split_prob=0.3))
        bank = i % len(BANKS)
        songs.append((cm.Song(
            name=f"{split}{i:03d}_{groove.lower()}_{'rand' if rand else cm.PITCH_NAMES[tonic].replace('#', 's') + mode[:3]}_{int(tempo)}",
            kind="mma", tonic=tonic, mode=mode, tempo_bpm=tempo, beats_per_bar=bpb,
            groove=groove, chords=chords, seed=int(rng.integers(1, 2**31 - 1)),
        ), bank))
    for i in range(num_synth):
        tonic, mode = int(rng.integers(0, 12)), ("major", "minor")[int(rng.integers(0, 2))]
        tempo = float(rng.integers(66, 171))
        bpb = 4 if rng.random() < 0.8 else 3
        bar_s = bpb * 60.0 / tempo
        num_bars = max(6, int(round(float(rng.uniform(25, 45)) / bar_s)))
        rand = rng.random() < 1 / 3
        chords = (random_progression(rng, num_bars, bpb) if rand else
                  cm.make_progression(rng, mode, tonic, num_bars, bpb, split_prob=0.3))
        timbre = {
            "tilt": float(rng.uniform(0.6, 2.2)), "odd_only": bool(rng.random() < 0.25),
            "num_partials": int(rng.integers(4, 18)), "attack_ms": float(rng.uniform(2, 60)),
            "decay_s": float(rng.uniform(0.3, 3.0)), "sustain": float(rng.uniform(0.1, 0.8)),
            "strike_every_beats": int(rng.choice([1, 2, bpb])),
        }
        songs.append((cm.Song(
            name=f"{split}s{i:03d}_{'rand' if rand else cm.PITCH_NAMES[tonic].replace('#', 's') + mode[:3]}_{int(tempo)}",
            kind="synthetic", tonic=tonic, mode=mode, tempo_bpm=tempo, beats_per_bar=bpb,
            chords=chords, seed=int(rng.integers(1, 2**31 - 1)), timbre=timbre,
        ), -1))
    return songs


def render(mid: Path, wav: Path, bank: Path) -> None:
    cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
           "-r", str(cm.SAMPLE_RATE), "-F", str(wav), str(bank), str(mid)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    import soundfile as sf

    for tool in ("mma", "fluidsynth"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install mma fluidsynth")
    for bank in BANKS:
        if not bank.exists():
            raise SystemExit(f"{bank} missing: apt-get install fluid-soundfont-gm musescore-general-soundfont")
    all_songs = {split: make_songs(split) for split in SPLITS}
    blob = json.dumps({"v": RECIPE_VERSION, "material": cm.MATERIAL_VERSION,
                       "songs": {k: [(asdict(s), b) for s, b in v] for k, v in all_songs.items()},
                       "banks": [f"{b.name} {b.stat().st_size}" for b in BANKS]}, sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    manifest_path = args.out / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("hash") == digest and all(Path(it["wav"]).exists() for it in manifest["items"]):
            print(f"material: reusing {len(manifest['items'])} renders in {args.out} ({digest})")
            return
        shutil.rmtree(args.out)
    # Without a manifest, renders already there (an interrupted run) are reused.
    items = []
    for split, songs in all_songs.items():
        d = args.out / split
        d.mkdir(parents=True, exist_ok=True)
        for song, bank in songs:
            segs = cm.reference_segments(song)
            ref = d / f"{song.name}.ref.lab"
            cm.write_lab(ref, segs)
            common = {"split": split, "ref_lab": str(ref), "duration_s": song.duration_s,
                      "song": song.name}
            if song.kind == "mma":
                chart = d / f"{song.name}.mma"
                chart.write_text(cm.mma_chart_text(song))
                p = subprocess.run(["mma", chart.name], cwd=d, capture_output=True, text=True)
                mid = chart.with_suffix(".mid")
                if p.returncode != 0 or not mid.exists():
                    print(f"skipping {song.name}: mma failed: {p.stdout[-300:]} {p.stderr[-300:]}")
                    continue
                check = cm.verify_midi(mid, song)
                if not check["ok"]:
                    print(f"skipping {song.name}: MIDI timing check failed: {check}")
                    continue
                mid_nd = d / f"{song.name}.nodrums.mid"
                cm.strip_drums(mid, mid_nd)
                for cond, m in (("drums", mid), ("nodrums", mid_nd)):
                    wav = d / f"{song.name}.{cond}.wav"
                    if not wav.exists():  # a resumed run: the render is a pure function
                        tmp = wav.with_suffix(".tmp.wav")
                        render(m, tmp, BANKS[bank])
                        tmp.rename(wav)
                    items.append({"name": f"{song.name}.{cond}", "condition": cond,
                                  "bank": BANKS[bank].name, "wav": str(wav), **common})
                print(f"{split}: {song.name} ({BANKS[bank].name}, chord tones "
                      f"{check['chord_tone_fraction']:.2f})", flush=True)
            else:
                wav = d / f"{song.name}.synthetic.wav"
                sf.write(wav, cm.synth_song(song), cm.SAMPLE_RATE, subtype="PCM_16")
                items.append({"name": f"{song.name}.synthetic", "condition": "synthetic",
                              "bank": "additive", "wav": str(wav), **common})
                print(f"{split}: {song.name} (additive)", flush=True)
    manifest_path.write_text(json.dumps({"hash": digest, "items": items}, indent=1))
    print(f"material: {len(items)} renders in {args.out} ({digest})")


if __name__ == "__main__":
    main()
