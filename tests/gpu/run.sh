#!/usr/bin/env bash
# The one-command check of a lent GPU machine, sized for its window: all of it is tests/gpu/check.py
# (read its docstring for the steps, the time limits and what comes back).
#
# Once, on a machine with network, fetch the wheels the GPU image lacks (tests/gpu/wheels is gitignored):
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       --platform any -d tests/gpu/wheels soundfile cffi pycparser
#
# Then, through the device tool (command, timeout_s, carry):
#
#   run(command="bash tests/gpu/run.sh", timeout_s=420, carry=["tests/gpu/wheels"])
#
# It works under /tmp/svd-gpu-check, stops by its own deadline (360 s, --deadline-s), and leaves at most
# four files in $OUT: summary.json, logs.tar.gz, bench-gpu.json, profile-gpu.json. Options go to check.py:
#   bash tests/gpu/run.sh --only gpu-tests,profile-gpu     # a targeted rerun (the guards always run)
#   bash tests/gpu/run.sh --dry-run --out /tmp/dry         # on any CPU: the step logic, no GPU
# The paper's full 40,000-update runs, resumable across calls: tests/gpu/full_runs.sh.
set -u
cd "$(dirname "$0")/../.."
exec python3 tests/gpu/check.py "$@"
