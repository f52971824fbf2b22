#!/usr/bin/env bash
# The paper's full training on a GPU (40,000 updates with --augment, then eval and eval --tta), spread
# over as many time-limited jobs as it takes: each job resumes where the last one stopped.
#
#   bash tests/gpu/full_runs.sh DATA STATE OUT [SEED]
#
# DATA   a corpus in the Jamendo layout, or the word `synthetic` for the default synthetic corpus,
#        made afresh by each job (it is deterministic).
# STATE  a folder holding what the previous job returned (its OUT): empty or absent for the first job.
# OUT    the folder this job's results go to: at most 4 files.
#
# Built for jobs that run at most about 10 minutes on a machine that keeps nothing between them and
# return only a few files from one folder: each job works in /tmp/svd-full-run (never in OUT), copies
# STATE in, trains with --resume for at most TRAIN_S seconds, and never past CALL_S - 150 s of the job
# (stopped by SIGTERM, which svd turns into a clean stop; the checkpoint, written every 1000 updates,
# keeps all but the last ~1000 updates), evaluates once training is done if the job has time left (else
# the next job does), and copies to OUT the checkpoint (11 MB) or the finished model with train.log and
# the eval JSON files. Resuming from a checkpoint gives exactly the model an uninterrupted run gives
# (svd/train.py), so the jobs add up to one run. Between jobs, copy OUT's files into STATE; run jobs
# until the last line says "done". Environment overrides (for tests and other cards): UPDATES (40000),
# DEVICE (gpu), TRAIN_S (training seconds per job, default 420), CALL_S (the job's own limit, default
# 570), CHECKPOINT_EVERY (1000).
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ $# -lt 3 ]; then sed -n '2,11p' "$0"; exit 2; fi
data=$1 state=$2 out=$3 seed=${4:-0}
updates=${UPDATES:-40000} device=${DEVICE:-gpu} train_s=${TRAIN_S:-420} every=${CHECKPOINT_EVERY:-1000}
call_s=${CALL_S:-570}
left() { echo $(( call_s - SECONDS )); }  # seconds this call has left (SECONDS: bash's clock since the start)
work=${WORK:-/tmp/svd-full-run}
export SVD_CACHE_DIR=$work/cache PYTHONUNBUFFERED=1
mkdir -p "$out" "$work"
say() { echo "full_runs: $*" | tee -a "$work/train.log"; }

# soundfile and cffi are not in the GPU image: install the carried wheels to a private folder, or stop.
if ! python3 -c "import soundfile" 2>/dev/null; then
    if ! ls tests/gpu/wheels/*.whl > /dev/null 2>&1; then
        echo "full_runs: no wheels in tests/gpu/wheels: carry that folder (see tests/gpu/run.sh)"; exit 2
    fi
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/svd-site tests/gpu/wheels/*.whl \
        || { echo "full_runs: pip could not install tests/gpu/wheels"; exit 2; }
    export PYTHONPATH=/tmp/svd-site${PYTHONPATH:+:$PYTHONPATH}
fi

# What the last call left (from STATE), and the data, at fixed paths: the run's settings name the data
# folder, and resuming checks they are the same.
[ -d "$state" ] && cp -p "$state"/* "$work"/ 2>/dev/null
data_option=()
if [ "$data" != synthetic ]; then
    [ -d "$data/audio" ] || { echo "full_runs: $data has no audio/ folder: carry it, or say synthetic"; exit 2; }
    rm -rf "$work/data" && cp -r "$data" "$work/data"
    data_option=(--data "$work/data")
fi
model=$work/model.npz

updates_done() {  # the update count of the checkpoint, 0 without one
    python3 -c "import json, sys, numpy
try: print(json.loads(str(numpy.load(sys.argv[1])['progress']))['update'])
except OSError: print(0)" "$model.ckpt.npz"
}

if [ ! -f "$model" ] && [ "$(left)" -gt 200 ]; then
    limit=$(( $(left) - 150 < train_s ? $(left) - 150 : train_s ))  # keep 150 s for the evaluations
    first=$(updates_done) started=$(date +%s)
    timeout -k 20 "$limit" python3 run.py train "${data_option[@]}" --augment --updates "$updates" --seed "$seed" \
        --device "$device" --out "$model" --cache "$work/cache" --checkpoint-every "$every" --resume --quiet \
        >> "$work/train.log" 2>&1
    code=$? seconds=$(( $(date +%s) - started ))
    if [ -f "$model" ]; then
        say "training finished this call: updates $first to $updates in $seconds s (features and start included)"
    else
        say "training stopped (exit code $code) after $seconds s: checkpoint at update $(updates_done) of $updates"
    fi
fi
limit_to() { echo $(( $(left) - 20 < $1 ? $(left) - 20 : $1 )); }  # $1 s, or what the call has left
if [ -f "$model" ] && [ ! -f "$work/eval.json" ] && [ "$(left)" -gt 60 ]; then
    timeout "$(limit_to 120)" python3 run.py eval "$model" "${data_option[@]}" --device "$device" \
        --cache "$work/cache" --json "$work/eval.json" --quiet >> "$work/train.log" 2>&1 || say "eval failed"
fi
if [ -f "$model" ] && [ ! -f "$work/eval-tta.json" ] && [ "$(left)" -gt 60 ]; then
    timeout "$(limit_to 180)" python3 run.py eval "$model" "${data_option[@]}" --device "$device" \
        --cache "$work/cache" --tta --no-store-threshold --json "$work/eval-tta.json" --quiet \
        >> "$work/train.log" 2>&1 || say "eval --tta failed"
fi

# Into OUT: the finished model or the checkpoint, the log, the evaluations (at most 4 files).
returned=(train.log eval.json eval-tta.json)
if [ -f "$model" ]; then returned+=(model.npz); else returned+=(model.npz.ckpt.npz); fi
for name in "${returned[@]}"; do
    if [ -f "$work/$name" ]; then cp -p "$work/$name" "$out/"; fi
done
if [ -f "$work/eval.json" ] && [ -f "$work/eval-tta.json" ]; then
    say "done: $out holds model.npz, eval.json, eval-tta.json"
else
    say "not done: copy the files of $out into $state and call again, carrying tests/gpu/wheels, $state" \
        "$([ "$data" != synthetic ] && echo "and $data")"
fi
