#!/bin/sh
# Whole recipe, in order, niced, logs under target/split-logs/. Resumable: rerun to continue.
#   sh bundle/models/split/pipeline.sh            # render, tiny smoke train + export, full train
#   SKIP_FULL=1 sh bundle/models/split/pipeline.sh
set -e
cd "$(dirname "$0")/../../.."
PY=${PY:-.venv-split/bin/python}
LOGS=target/split-logs
mkdir -p "$LOGS"
[ -f target/split-data/manifest.json ] || nice -n 19 $PY bundle/models/split/render.py --out target/split-data --jobs 2 >> "$LOGS/render.log" 2>&1
nice -n 19 $PY bundle/models/split/train.py --config tiny >> "$LOGS/train-tiny.log" 2>&1
nice -n 19 $PY bundle/models/split/export.py --ckpt target/split-runs/tiny/best.pt >> "$LOGS/export-tiny.log" 2>&1 || true
[ -n "$SKIP_FULL" ] || nice -n 19 $PY bundle/models/split/train.py --config full >> "$LOGS/train-full.log" 2>&1
