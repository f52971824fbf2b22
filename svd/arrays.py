"""Which array module owns an array: NumPy on the CPU, CuPy on a CUDA GPU.

The one leaf every layer imports for the array code that is the same on both
(`xp.maximum`, `xp.zeros`, ...). CuPy is imported only if it is installed;
without it every array is a NumPy array.
"""
import numpy

try:  # A GPU is optional: without CuPy every array is a NumPy array.
    import cupy
except ImportError:
    cupy = None


def array_module(x):
    """The array module (numpy or cupy) that owns array `x`."""
    if cupy is not None:
        return cupy.get_array_module(x)
    return numpy
