"""What the VST3 host scripts share: checks, the JSON summary line they end with, and a
float32 WAV reader (no soundfile in the test venv)."""

import json
import sys

SUMMARY = {"ok": False, "checks": [], "failures": []}


def emit_and_exit(code):
    SUMMARY["ok"] = code == 0 and not SUMMARY["failures"]
    print(json.dumps(SUMMARY))
    sys.exit(code)


def check(cond, what):
    SUMMARY["checks"].append(what)
    if cond:
        print(f"ok: {what}")
    else:
        print(f"FAIL: {what}")
        SUMMARY["failures"].append(what)
    return cond


def read_wav_f32(path):
    """A float32 WAV as ([channels, samples] float32, rate), without soundfile."""
    import numpy as np

    data = open(path, "rb").read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", f"{path} is not a WAV"
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = (int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little"),
                   int.from_bytes(body[4:8], "little"), int.from_bytes(body[14:16], "little"))
        elif cid == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    tag, channels, rate, bits = fmt
    assert tag in (3, 0xFFFE) and bits == 32, f"{path}: need float32 WAV, got {fmt}"
    return np.frombuffer(pcm, dtype="<f4").reshape(-1, channels).T.copy(), rate
