"""Which array module owns an array: NumPy on the CPU, CuPy on a CUDA GPU.

The one leaf every layer imports for the array code that is the same on both
(`xp.maximum`, `xp.zeros`, ...). CuPy is optional: without it every array is a
NumPy array. It is looked for at the first call, not when this module is
imported, because the command line imports this module (svd/cli/options.py, through
svd/augment.py) to build its options, and `--help` must not wait for CuPy to load.
"""
import numpy

_cupy = None  # the cupy module, once looked for; False where it is not installed


def array_module(x):
    """The array module (numpy or cupy) that owns array `x`."""
    global _cupy
    if _cupy is None:
        try:
            import cupy as _cupy
        except ImportError:
            _cupy = False
    if _cupy:
        return _cupy.get_array_module(x)
    return numpy


def to_host(x):
    """x as a host NumPy array: a device-to-host copy for a CuPy array, numpy.asarray(x) otherwise."""
    return x.get() if array_module(x) is not numpy else numpy.asarray(x)
