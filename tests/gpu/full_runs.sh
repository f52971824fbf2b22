#!/usr/bin/env bash
# The paper's full training on a lent GPU: 40,000 updates with --augment, then eval and eval --tta.
#
#   bash tests/gpu/full_runs.sh DATA_DIR OUT_DIR [SEED]
#
# DATA_DIR: a corpus in the Jamendo layout (e.g. a synthetic one from `run.py synth`, or
# ../shared/data/jamendolyrics-dev). Resumable: a call cut off by the device's time limit
# leaves a checkpoint every 2000 updates, and the same command continues from it.
# Writes OUT_DIR/model.npz, eval.json, eval-tta.json and train.log (with the wall time).
set -euo pipefail
cd "$(dirname "$0")/../.."
data=$1 out=$2 seed=${3:-0}
mkdir -p "$out"
if ! python -c "import soundfile" 2>/dev/null; then
    python -m pip install --quiet --no-index --no-deps tests/gpu/wheels/*.whl
fi
if [ ! -f "$out/model.npz" ]; then
    start=$(date +%s)
    python run.py train --data "$data" --augment --updates 40000 --seed "$seed" --device gpu \
        --out "$out/model.npz" --cache "$out/cache" --checkpoint-every 2000 --resume 2>> "$out/train.log"
    echo "train call: $(( $(date +%s) - start )) s (this call only)" >> "$out/train.log"
fi
python run.py eval "$out/model.npz" --data "$data" --device gpu --cache "$out/cache" --json "$out/eval.json" \
    --no-store-threshold
python run.py eval "$out/model.npz" --data "$data" --device gpu --cache "$out/cache" --tta \
    --json "$out/eval-tta.json" --no-store-threshold
