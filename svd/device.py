"""Where a command's arrays live: the CPU (NumPy) or a CUDA GPU (CuPy), chosen once by `--device`.

    auto  the GPU when CuPy is installed and sees a device, else the CPU; one line says which
    cpu   NumPy arrays: the fast CPU implementation (svd/fast/)
    gpu   CuPy arrays: the project's CUDA kernels (svd/cuda/); without CuPy or
          without a device, one line says so and the command stops (exit code 2)

A Device moves arrays onto itself (`put`) and back to the host (`get`); which
implementation computes on them is the dispatch's business (svd/backend.py),
inside `with device.active():`. The tests make a third kind of device with the
CPU kernel emulator: NumPy arrays computed by the CUDA implementation
(`Device("emulated gpu", numpy, "cuda")`), so the GPU code paths run in CI.
"""
import contextlib
import dataclasses
import sys
import types

import numpy

from svd.util import arrays
from svd.util.errors import InputError

CHOICES = ("auto", "cpu", "gpu")


@dataclasses.dataclass(frozen=True)
class Device:
    """name: for messages; xp: the array module (numpy or cupy); implementation: a backend.IMPLEMENTATIONS
    name that must compute on this device's arrays, or None to leave the choice to the dispatch (it picks
    `fast` for NumPy arrays and `cuda` for CuPy arrays, unless a caller chose otherwise with backend.use)."""
    name: str
    xp: types.ModuleType
    implementation: str = None

    def put(self, array):
        """`array` (host or device) as an array of this device, copied only if it lives elsewhere."""
        return self.xp.asarray(array)

    def get(self, array):
        """`array` as a host NumPy array (a device-to-host copy for a CuPy array)."""
        return arrays.to_host(array)

    def put_all(self, arrays):
        """A dict of arrays (parameters, momentum) moved onto this device, same keys and order."""
        return type(arrays)((name, self.put(value)) for name, value in arrays.items())

    def get_all(self, arrays):
        """A dict of arrays copied to the host, same keys and order."""
        return type(arrays)((name, self.get(value)) for name, value in arrays.items())

    @contextlib.contextmanager
    def active(self):
        """Context manager: inside it, every operation runs with this device's implementation (if it names one)."""
        if self.implementation is None:
            yield self
            return
        from svd import backend  # here: the command line reads CHOICES without loading every implementation
        previous = backend.use(self.implementation)
        try:
            yield self
        finally:
            backend.use(previous)


CPU = Device("cpu", numpy)
TEXTBOOK = Device("cpu (textbook layers)", numpy, "reference")  # train --textbook: svd/layers.py throughout


def select(choice, quiet=False):
    """The Device for a `--device` value (one of CHOICES); InputError for `gpu` when none can run."""
    if choice not in CHOICES:
        raise InputError(f"--device {choice}: choose one of {', '.join(CHOICES)}.")
    if choice == "cpu":
        return CPU
    missing = why_no_gpu()
    if missing is None:
        import cupy
        gpu = Device(f"gpu {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}", cupy)
        if choice == "auto" and not quiet:
            print(f"device: {gpu.name} (--device auto)", file=sys.stderr)
        return gpu
    if choice == "gpu":
        raise InputError(f"--device gpu: {missing}; use --device cpu (or auto).")
    if not quiet and missing != NO_CUPY:  # CuPy installed but unusable: worth a word; not installed: the plain case
        print(f"device: cpu (--device auto: {missing})", file=sys.stderr)
    return CPU


NO_CUPY = "CuPy is not installed (pip install cupy-cuda13x for CUDA 13)"


def why_no_gpu():
    """None if the CUDA path can run here (CuPy installed, a device seen), else a short reason. Never raises."""
    try:
        import cupy
    except ImportError:
        return NO_CUPY
    try:
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
    except Exception:  # no driver, a broken install: all mean "no GPU"
        pass
    return "CuPy sees no CUDA device (no GPU, or no driver)"
