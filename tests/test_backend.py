"""Tests of svd/backend.py: the one dispatch between the reference, fast CPU and CUDA implementations."""

import pathlib
import re

import numpy as np
import pytest

from svd import backend, layers, loss, optim

SVD_DIR = pathlib.Path(__file__).resolve().parent.parent / "svd"


@pytest.mark.parametrize("name", backend.IMPLEMENTATIONS)
def test_every_implementation_provides_every_operation(name):
    ops = backend.implementation(name)
    assert ops.name == name
    for op in backend.OPERATIONS:
        assert callable(getattr(ops, op)), (name, op)


def test_reference_is_the_textbook_modules():
    ops = backend.implementation("reference")
    assert ops.conv2d_forward is layers.conv2d_forward
    assert ops.sigmoid_cross_entropy_forward is loss.sigmoid_cross_entropy_forward
    assert ops.nesterov_momentum is optim.nesterov_momentum


def test_numpy_arrays_get_the_fast_path_unless_told_otherwise(choice):
    x = np.zeros(3, np.float32)
    assert backend.implementation_for(x) == "fast"
    assert backend.ops(x) is backend.implementation("fast")
    assert backend.implementation("fast").dropout_forward is layers.dropout_forward  # no faster one
    choice("reference")
    assert backend.ops(x).name == "reference"
    assert choice(None) == "reference"
    assert backend.ops(x).name == "fast"


def test_unknown_implementation_is_refused(choice):
    with pytest.raises(ValueError, match="unknown implementation 'gpu'"):
        choice("gpu")
    assert backend.implementation_for(np.zeros(1)) == "fast"


def test_cupy_arrays_get_the_cuda_path():
    cupy = pytest.importorskip("cupy")
    from svd import device
    if device.why_no_gpu() is not None:
        pytest.skip(device.why_no_gpu())
    assert backend.ops(cupy.zeros(3, cupy.float32)).name == "cuda"


def test_no_module_outside_the_dispatch_chooses_an_implementation():
    """Only backend.py imports an implementation module; everything else asks backend.ops."""
    implementation_modules = {"fast", "cuda"}  # svd/fast/ is a package: the glob below skips its modules
    offenders = []
    for path in sorted(SVD_DIR.glob("*.py")):
        if path.stem in {"backend"} | implementation_modules:
            continue
        text = path.read_text(encoding="utf-8")
        for module in implementation_modules:
            if re.search(rf"^\s*(from svd import .*\b{module}\b|from \. import .*\b{module}\b|import svd\.{module}"
                         rf"|from (svd|)\.{module}(\.\w+)* import)", text, flags=re.M):
                offenders.append(f"{path.name} imports {module}")
    assert not offenders, offenders
