"""Scoring for the Prism Pitch evaluation (``pitch_eval.py``).

Frame metrics are ``mir_eval.melody``'s own functions, applied on each system's own time
grid: the ground truth is sampled at the system's frame times (exact for the analytic
material, whose f0 is a function of time; the MIDI notes for the GM renders) instead of
interpolating the estimate, and frames whose truth is masked (release tails, flagged notes,
GM attacks before the acoustic onset) are dropped before scoring.
"""

from __future__ import annotations

import numpy as np

import mir_eval

CENT_TOLERANCES = (50, 25, 10)
OCTAVE_BAND = (1100.0, 1300.0)


def hz2cents(f):
    f = np.asarray(f, dtype=float)
    out = np.zeros_like(f)
    pos = f > 0
    out[pos] = 1200.0 * np.log2(f[pos] / 10.0)  # mir_eval's base frequency (10 Hz)
    return out


def frames_vs_truth(item, times, f_est, v_est, truth_at, shift_s=0.0):
    """Arrays for mir_eval on the system's grid: (ref_voicing, ref_cent, est_voicing,
    est_cent), scored frames only.  ``shift_s`` evaluates the truth at t - shift (for the
    timing-offset scan)."""
    f_ref, state = truth_at(item, np.asarray(times) - shift_s)
    keep = state >= 0
    ref_v = (state[keep] == 1).astype(float)
    ref_c = np.where(ref_v > 0, hz2cents(f_ref[keep]), 0.0)
    est_c = hz2cents(np.abs(np.asarray(f_est, dtype=float)[keep]))
    est_v = np.asarray(v_est, dtype=float)[keep]
    return ref_v, ref_c, est_v, est_c


def melody_scores(ref_v, ref_c, est_v, est_c) -> dict:
    """mir_eval.melody metrics plus octave-error rate and cent-error statistics."""
    out = {"voiced_frames": int(np.sum(ref_v > 0)), "unvoiced_frames": int(np.sum(ref_v == 0))}
    if len(ref_v) == 0:
        return out
    for tol in CENT_TOLERANCES:
        out[f"rpa{tol}"] = float(mir_eval.melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance=tol))
        out[f"rca{tol}"] = float(mir_eval.melody.raw_chroma_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance=tol))
    out["oa"] = float(mir_eval.melody.overall_accuracy(ref_v, ref_c, est_v, est_c, cent_tolerance=50))
    if out["unvoiced_frames"] == 0:
        out["vx_recall"] = float(mir_eval.melody.voicing_recall(ref_v, est_v))
        out["vx_false_alarm"] = float("nan")
    else:
        vr, vfa = mir_eval.melody.voicing_measures(ref_v, est_v)
        out["vx_recall"], out["vx_false_alarm"] = float(vr), float(vfa)
    voiced = ref_v > 0
    both = voiced & (est_c != 0)
    d = np.abs(ref_c - est_c)[both]
    nv = max(1, int(voiced.sum()))
    out["octave_err"] = float(np.sum((d >= OCTAVE_BAND[0]) & (d <= OCTAVE_BAND[1])) / nv)
    out["no_estimate"] = float(np.sum(voiced & (est_c == 0)) / nv)
    good = d[d < 50]
    out["median_abs_cents"] = float(np.median(good)) if len(good) else float("nan")
    signed = (est_c - ref_c)[both]
    signed = signed[np.abs(signed) < 50]
    out["median_cents"] = float(np.median(signed)) if len(signed) else float("nan")
    return out


def timing_offset(item, times, f_est, v_est, truth_at, lags_s=np.arange(-0.060, 0.0605, 0.002)):
    """The shift that maximises RPA@25 (truth evaluated at t - lag): how late (positive) or
    early the system's time stamps are relative to the audio.  Returns (best_lag, rpa_at_0,
    rpa_best)."""
    best, best_lag, at0 = -1.0, 0.0, float("nan")
    for lag in lags_s:
        rv, rc, ev, ec = frames_vs_truth(item, times, f_est, v_est, truth_at, shift_s=lag)
        if rv.sum() == 0:
            return float("nan"), float("nan"), float("nan")
        r = mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec, cent_tolerance=25)
        if abs(lag) < 1e-9:
            at0 = r
        if r > best + 1e-9:
            best, best_lag = r, lag
    return float(best_lag), float(at0), float(best)


# --------------------------------------------------------------------------
# Tuner


def tuner_scores(times, f_est, tones, settle_tol=1.0, window=(0.3, 0.1)):
    """Per steady tone (on, off, hz, ref, name, kind): bias (mean cents error) and jitter
    (standard deviation) over [on + 0.3 s, off - 0.1 s]; settle time = time after the onset
    from which every frame up to off - 0.1 s is within +-1 cent (inf if never)."""
    times = np.asarray(times)
    f_est = np.asarray(f_est, dtype=float)
    out = []
    for on, off, hz, ref, name, kind in tones:
        sel = (times >= on + window[0]) & (times <= off - window[1])
        c = np.full(len(times), np.nan)
        pos = f_est > 0
        c[pos] = 1200.0 * np.log2(f_est[pos] / hz)
        err = c[sel]
        fin = err[np.isfinite(err)]
        row = {"name": name, "hz": hz, "ref": ref, "kind": kind}
        if len(fin) < 3 or len(fin) < 0.9 * len(err):
            row.update(bias=float("nan"), jitter=float("nan"), settle_s=float("inf"),
                       gross=float(np.mean(~np.isfinite(err))) if len(err) else 1.0)
            out.append(row)
            continue
        row["bias"] = float(np.mean(fin))
        row["jitter"] = float(np.std(fin))
        row["max_abs"] = float(np.max(np.abs(fin)))
        # settling
        span = (times >= on) & (times <= off - window[1])
        idx = np.nonzero(span)[0]
        okk = np.abs(c[idx]) <= settle_tol
        okk &= np.isfinite(c[idx])
        if okk[-1]:
            # last index from which all remaining are ok
            bad = np.nonzero(~okk)[0]
            first_ok = idx[bad[-1] + 1] if len(bad) else idx[0]
            row["settle_s"] = float(times[first_ok] - on)
        else:
            row["settle_s"] = float("inf")
        out.append(row)
    return out


def tuner_summary(rows):
    def stat(key, fn):
        v = np.array([r[key] for r in rows if key in r], dtype=float)
        v = v[~np.isnan(v)]
        return float(fn(v)) if len(v) else float("nan")

    abs_bias = [abs(r["bias"]) for r in rows if np.isfinite(r.get("bias", np.nan))]
    settles = np.array([r["settle_s"] for r in rows], dtype=float)
    return {
        "tones": len(rows),
        "failed": int(sum(1 for r in rows if not np.isfinite(r.get("bias", np.nan)))),
        "bias_median": stat("bias", np.median),
        "abs_bias_median": float(np.median(abs_bias)) if abs_bias else float("nan"),
        "abs_bias_p95": float(np.percentile(abs_bias, 95)) if abs_bias else float("nan"),
        "abs_bias_max": float(np.max(abs_bias)) if abs_bias else float("nan"),
        "jitter_median": stat("jitter", np.median),
        "jitter_p95": stat("jitter", lambda v: np.percentile(v, 95)),
        "settle_median_s": float(np.median(settles)) if len(settles) else float("nan"),
        "settle_p95_s": float(np.percentile(settles, 95, method="higher")) if len(settles) else float("nan"),
        "settled_fraction": float(np.mean(np.isfinite(settles))) if len(settles) else float("nan"),
    }


# --------------------------------------------------------------------------
# Latency


def step_latencies(times, f_est, steps, tol_cents=50.0, hold_s=0.010, search=(-0.1, 0.45)):
    """Per step (t_jump, f1, f2): time from the jump until the output is within ``tol_cents``
    of f2 and stays there for ``hold_s`` (inf if it never does within the search window)."""
    times = np.asarray(times)
    f_est = np.asarray(f_est, dtype=float)
    out = []
    for tj, f1, f2 in steps:
        sel = np.nonzero((times >= tj + search[0]) & (times <= tj + search[1]))[0]
        if not len(sel):
            out.append(float("inf"))
            continue
        f = f_est[sel]
        good = np.zeros(len(sel), dtype=bool)
        pos = f > 0
        good[pos] = np.abs(1200 * np.log2(f[pos] / f2)) < tol_cents
        lat = float("inf")
        ts = times[sel]
        for i in np.nonzero(good)[0]:
            j = np.searchsorted(ts, ts[i] + hold_s, side="right")
            if good[i:j].all() and j <= len(ts):
                lat = float(ts[i] - tj)
                break
        out.append(lat)
    return out


def latency_summary(lats):
    a = np.asarray(lats, dtype=float)
    fin = a[np.isfinite(a)]
    return {
        "n": int(len(a)),
        "detected": float(np.mean(np.isfinite(a))) if len(a) else float("nan"),
        "p50_s": float(np.percentile(fin, 50)) if len(fin) else float("nan"),
        "p95_s": float(np.percentile(fin, 95)) if len(fin) else float("nan"),
        "max_s": float(np.max(fin)) if len(fin) else float("nan"),
        # misses count as infinitely late: p95 over all events
        "p95_all_s": float(np.percentile(np.where(np.isfinite(a), a, np.inf), 95, method="higher")) if len(a) else float("nan"),
    }


def read_midi_notes(path):
    """Notes of a MIDI file as [(on_s, off_s, midi, pitch_hz)], pitch including the pitch bend
    in effect at the note-on (bend range from RPN 0 if present, else 2 semitones)."""
    import mido

    mid = mido.MidiFile(str(path))
    t = 0.0
    active = {}
    bend = {}
    rng = {}
    rpn = {}
    notes = []
    for msg in mid:  # merged tracks, msg.time in seconds
        t += msg.time
        if msg.is_meta:
            continue
        ch = getattr(msg, "channel", 0)
        if msg.type == "pitchwheel":
            bend[ch] = msg.pitch
        elif msg.type == "control_change":
            if msg.control in (101, 100):
                rpn.setdefault(ch, [127, 127])[0 if msg.control == 101 else 1] = msg.value
            elif msg.control == 6 and rpn.get(ch) == [0, 0]:
                rng[ch] = float(msg.value)
            elif msg.control == 38 and rpn.get(ch) == [0, 0]:
                rng[ch] = float(int(rng.get(ch, 2.0))) + msg.value / 100.0
        elif msg.type == "note_on" and msg.velocity > 0:
            if (ch, msg.note) in active:
                on, b = active.pop((ch, msg.note))
                notes.append((on, t, msg.note, b))
            semis = bend.get(ch, 0) / 8192.0 * rng.get(ch, 2.0)
            active[(ch, msg.note)] = (t, msg.note + semis)
        elif msg.type in ("note_off", "note_on"):
            if (ch, msg.note) in active:
                on, b = active.pop((ch, msg.note))
                notes.append((on, t, msg.note, b))
    for (ch, n), (on, b) in active.items():
        notes.append((on, t, n, b))
    notes.sort()
    return [(on, off, n, float(440.0 * 2 ** ((b - 69) / 12))) for on, off, n, b in notes]


def onset_latencies(notes, events, search=(-0.05, 0.30)):
    """Per event (onset_s, true_midi): the first MIDI note-on in [onset + search]: latency and
    whether its note number is right, and the latency of the first note-on with the right
    number.  Returns (latencies with inf for misses, pitch_ok flags, right-note latencies,
    number of note-ons in no event's window -- the others count as used by their event)."""
    ons = np.array([n[0] for n in notes]) if notes else np.zeros(0)
    used = np.zeros(len(ons), dtype=bool)
    lats, pitch_ok, right = [], [], []
    for onset, midi in events:
        win = (ons >= onset + search[0]) & (ons <= onset + search[1])
        cand = np.nonzero(win & ~used)[0]
        used |= win
        if not len(cand):
            lats.append(float("inf"))
            pitch_ok.append(False)
            right.append(float("inf"))
            continue
        k = cand[0]
        lats.append(float(ons[k] - onset))
        pitch_ok.append(int(notes[k][2]) == int(midi))
        good = [j for j in cand if int(notes[j][2]) == int(midi)]
        right.append(float(ons[good[0]] - onset) if good else float("inf"))
    return lats, pitch_ok, right, int((~used).sum())


# --------------------------------------------------------------------------
# Notes (mir_eval.transcription)


def _intervals(notes):
    if not notes:
        return np.zeros((0, 2)), np.zeros(0)
    iv = np.array([[a, max(b, a + 1e-3)] for a, b, _ in notes], dtype=float)
    return iv, np.array([p for _, _, p in notes], dtype=float)


def note_matches(ref_notes, est_notes, excluded=()):
    """Counts for pooled transcription scores: onset-only (50 ms, 50 cents) and with offsets
    (offset_ratio 0.2, min 50 ms).  Estimated notes whose onset falls inside an excluded
    (flagged) reference note (from 50 ms before it) are dropped.  ``*_notes``: [(on, off, hz)]."""
    est = []
    for on, off, hz in est_notes:
        if any(a - 0.05 <= on < b for a, b, _ in excluded):
            continue
        est.append((on, off, hz))
    ri, rp = _intervals(ref_notes)
    ei, ep = _intervals(est)
    out = {"n_ref": len(ref_notes), "n_est": len(est)}
    if len(ref_notes) == 0 or len(est) == 0:
        out.update(match_onset=0, match_offset=0, onset_diffs=[])
        return out
    m_on = mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=0.05, pitch_tolerance=50.0,
                                              offset_ratio=None)
    m_off = mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=0.05, pitch_tolerance=50.0,
                                               offset_ratio=0.2, offset_min_tolerance=0.05)
    # onset lag: matched with a loose onset tolerance (the MIDI is real-time, not compensated)
    m_loose = mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=0.2, pitch_tolerance=50.0,
                                                 offset_ratio=None)
    out["match_onset"] = len(m_on)
    out["match_offset"] = len(m_off)
    out["onset_diffs"] = [float(ei[j, 0] - ri[i, 0]) for i, j in m_loose]
    return out


def prf(match, n_ref, n_est):
    p = match / n_est if n_est else 0.0
    r = match / n_ref if n_ref else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f
