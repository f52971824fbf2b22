#!/usr/bin/env bash
# One-command check for a lent GPU machine (its image has CuPy, PyTorch and nvcc, but
# neither soundfile nor cffi, and no network). From the repository root:
#
#   pip download --python-version 3.12 --only-binary=:all: --no-deps \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
#       soundfile cffi pycparser -d tests/gpu/wheels       # once, on a machine with network
#   bash tests/gpu/run.sh [OUT_DIR]                        # on the GPU machine (carry tests/gpu/wheels)
#
# Runs every GPU test (kernels, dispatch, device), the full-shape GPU/CPU parity tests,
# the whole CPU suite's device-independent parts that touch the GPU path, a short
# training + evaluation on the GPU end to end, `bench --device gpu` (with PyTorch+cuDNN's
# float32 and TF32 speed beside it) and `detect --jobs 0/1/2` timings. Logs and the
# bench JSON go to OUT_DIR (default: $OUT, else gpu-check). The paper's full 40,000-update
# runs are tests/gpu/full_runs.sh (resumable across calls).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-gpu-check}}
mkdir -p "$out"
status=0
step() {  # step NAME COMMAND...: run, log to $out/NAME.log, remember a failure
    local name=$1; shift
    echo "== $name: $*"
    "$@" > "$out/$name.log" 2>&1; local code=$?
    tail -n 3 "$out/$name.log"
    [ $code -eq 0 ] || { echo "== $name FAILED (exit $code)"; status=1; }
}
if ! python -c "import soundfile" 2>/dev/null; then
    python -m pip install --quiet --no-index --no-deps tests/gpu/wheels/*.whl || status=1
fi
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
python -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" | tee "$out/versions.txt"
step gpu-tests python -m pytest -q -rs tests/test_kernels_gpu.py tests/test_gpu_parity.py tests/test_device.py \
    tests/test_backend.py
step emulated-and-parity python -m pytest -q -x tests/test_kernels_emulated.py tests/test_trusted_reference.py \
    tests/test_torch_parity.py
data="$out/corpus"
rm -rf "$data"
step synth python run.py synth --out-dir "$data" --clips 12 --seconds 20 --quiet
step train-gpu python run.py train --data "$data" --updates 600 --device gpu --out "$out/model.npz" \
    --cache "$out/cache" --checkpoint-every 200
step eval-gpu python run.py eval "$out/model.npz" --data "$data" --device gpu --cache "$out/cache" \
    --json "$out/eval-gpu.json"
step eval-cpu python run.py eval "$out/model.npz" --data "$data" --device cpu --cache "$out/cache" \
    --json "$out/eval-cpu.json" --no-store-threshold
step bench-gpu python run.py bench --device gpu --json "$out/bench-gpu.json" --quiet
# detect --jobs K on the GPU (issue 13): wall seconds for the 12 clips, K = 0, 1, 2, three rounds
for round in 1 2 3; do
    for jobs in 0 1 2; do
        rm -rf "$out/detect-out"
        start=$(date +%s.%N)
        python run.py detect "$out/model.npz" "$data/audio" --out-dir "$out/detect-out" --device gpu \
            --jobs $jobs --quiet > /dev/null 2>> "$out/detect-jobs.log" || status=1
        echo "jobs $jobs round $round seconds $(python -c "print(round($(date +%s.%N) - $start, 2))")" \
            | tee -a "$out/detect-jobs.txt"
    done
done
exit $status
