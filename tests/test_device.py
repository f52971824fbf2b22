"""svd/device.py and --device: which device a command uses, and one clear line when the GPU cannot run."""
import numpy as np
import pytest

from svd import device
from svd.cli import options
from svd.util.errors import InputError


def test_cpu_is_numpy_and_leaves_the_implementation_to_the_dispatch():
    from svd import backend
    assert device.select("cpu") is device.CPU
    assert device.CPU.xp is np and device.CPU.implementation is None
    previous = backend.use("reference")
    try:
        with device.CPU.active():
            assert backend.ops(np.zeros(1)).name == "reference"  # a caller's choice stands
    finally:
        backend.use(previous)


def test_an_emulated_gpu_device_runs_the_cuda_implementation_on_numpy_arrays():
    from svd import backend
    emulated = device.Device("emulated gpu", np, "cuda")
    with emulated.active():
        assert backend.ops(np.zeros(1)).name == "cuda"
    assert backend.ops(np.zeros(1)).name == "fast"
    values = {"a": np.arange(3.0)}
    assert emulated.get_all(emulated.put_all(values))["a"].tolist() == [0.0, 1.0, 2.0]


def test_without_a_gpu_auto_says_cpu_in_one_line_only_where_cupy_is_there_and_gpu_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(device, "why_no_gpu", lambda: device.NO_CUPY)  # the plain CPU install: nothing to say
    assert device.select("auto") is device.CPU
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(device, "why_no_gpu", lambda: "CuPy sees no CUDA device (no GPU, or no driver)")
    assert device.select("auto") is device.CPU
    assert capsys.readouterr().err == "device: cpu (--device auto: CuPy sees no CUDA device (no GPU, or no driver))\n"
    assert device.select("auto", quiet=True) is device.CPU
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(device, "why_no_gpu", lambda: device.NO_CUPY)
    with pytest.raises(InputError, match="--device gpu: CuPy is not installed .*; use --device cpu"):
        device.select("gpu")


def test_device_gpu_without_one_is_one_line_and_exit_code_2_before_any_work(tiny_corpus, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(device, "why_no_gpu", lambda: "CuPy sees no CUDA device (no GPU, or no driver)")
    code = options.main(["train", "--data", str(tiny_corpus), "--updates", "1", "--device", "gpu",
                         "--out", str(tmp_path / "m.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == "error: --device gpu: CuPy sees no CUDA device (no GPU, or no driver); use --device cpu " \
                  "(or auto).\n"
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.skipif(device.why_no_gpu() is not None, reason="needs CuPy and a CUDA device")
def test_auto_picks_the_gpu_when_there_is_one(capsys):
    chosen = device.select("auto")
    assert chosen.xp is not np and chosen.name.startswith("gpu ")
    assert capsys.readouterr().err.startswith("device: gpu ")
