"""tests/gpu/profile_update.py (the per-operation GPU profile) runs its logic here, through the kernel
emulator: one update at batch 1, host clocks in place of CUDA events. The figures are not checked (a
test never depends on timing), only that every operation and every convolution piece gets one, and that
without a GPU the script says so and stops (exit code 2). Skipped without g++. About 10 s."""
import json
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "gpu"))
import profile_update  # noqa: E402
from kernel_emulation import emulator  # noqa: E402

from svd import cuda, device  # noqa: E402


@pytest.fixture
def emulated_gpu(tmp_path, monkeypatch):
    if emulator.compiler() is None:
        pytest.skip("g++ is not installed: no kernel emulation")
    library = emulator.Emulator(emulator.build(tmp_path))
    monkeypatch.setattr(cuda.launch, "run_kernel", library.run_kernel)
    return device.Device("emulated gpu", np, "cuda")


def test_the_profile_times_every_operation_and_convolution_piece(emulated_gpu):
    figures = profile_update.run(emulated_gpu, updates=1, batch=1, repeats=1)
    json.dumps(figures)  # what --json writes
    timed = figures["per_update"]
    for layer in ("conv1", "conv2", "conv3", "conv4"):
        for direction in ("forward", "backward"):
            assert f"{layer} {direction}" in timed and f"{layer} {direction}: rest (GEMMs)" in timed
        assert f"{layer} forward: im2col" in timed and f"{layer} backward: column_sums" in timed
    assert {"update", "pool1 forward", "dense1 backward", "loss forward", "nesterov step",
            "conv2 backward: col2im"} <= set(timed)
    alone = figures["conv_pieces_alone_ms"]
    assert {"conv2 im2col", "conv2 GEMM dw (cols^T @ dz)", "conv2 col2im", "conv1 bias grad: ones @ dz"} <= set(alone)
    assert all(value >= 0 for value in alone.values())
    assert all(getattr(module, piece).__name__ == piece for piece, module in profile_update.PIECES.items()), \
        "the timers are taken off again"


def test_without_a_gpu_the_profile_stops_with_exit_code_2(monkeypatch, capsys):
    monkeypatch.setattr(device, "why_no_gpu", lambda: "no GPU here")
    assert profile_update.main([]) == 2
    assert "no GPU here" in capsys.readouterr().err
