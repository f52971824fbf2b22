#!/usr/bin/env bash
# The one-command check of svd's CUDA path on a GPU machine, sized for a time-limited job (about
# 6 minutes): all of it is tests/gpu/check.py (its docstring gives the steps and the time limits).
#
#   bash tests/gpu/run.sh --out DIR                        # the whole check; at most four files in DIR
#   bash tests/gpu/run.sh --out DIR --only gpu-tests,profile-gpu   # a targeted rerun (the guards always run)
#   bash tests/gpu/run.sh --dry-run --out /tmp/dry         # on any CPU: the step logic, no GPU
#
# It works under /tmp/svd-gpu-check, stops by its own deadline (360 s, --deadline-s), and writes into
# DIR: summary.json, logs.tar.gz, bench-gpu.json, profile-gpu.json.
#
# A GPU machine without soundfile (and no network) needs its wheels beside the check; fetch them
# once on a machine with network (tests/gpu/wheels is gitignored) and copy the folder along:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       --platform any -d tests/gpu/wheels soundfile cffi pycparser
#
# The paper's full 40,000-update runs, resumable across time-limited jobs: tests/gpu/full_runs.sh.
set -u
cd "$(dirname "$0")/../.."
exec python3 tests/gpu/check.py "$@"
