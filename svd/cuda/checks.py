"""The argument checks every launcher of svd/cuda/ makes before launching its kernel.

A kernel trusts its sizes and indices: a wrong one reads or writes outside an
array without any error. So before launching, every launcher checks that its
arguments have the shapes its docstring gives, that arrays it writes in place
are C-contiguous float32, and the other conditions its docstring states (index
ranges, distinct rows, ...): a mismatch is a ValueError whose message starts
with "launcher: argument".

Index ranges cost a reduction (min and max, see `check_indices`), so only small
index arrays are checked, and where they live: free on the host, but on the
device a read-back that makes the host wait for the GPU. Training passes its
index arrays from the host (gather_excerpts' song starts, songs and centres:
svd/batches.py; mix_negatives' chosen rows: svd/augment.py), so making a batch
never waits; warp's factors, which augment.augment_batch uploads, are checked
only when they are on the host (see svd/cuda/augment.py warp).

Launchers call these through the module (`checks.check_indices(...)`), so a test
that wraps one here sees every call.
"""
import numpy

from svd.util import arrays


def check_shape(launcher, name, a, shape, dtypes=None):
    """ValueError unless array (or list) `a` has `shape`, and one of `dtypes` if given."""
    if tuple(numpy.shape(a)) != tuple(shape):
        raise ValueError(f"{launcher}: {name} has shape {tuple(numpy.shape(a))}, expected {tuple(shape)}")
    if dtypes is not None and a.dtype not in dtypes:
        raise ValueError(f"{launcher}: {name} has dtype {a.dtype}, expected "
                         f"{' or '.join(numpy.dtype(d).name for d in dtypes)}")


def check_ndim(launcher, name, a, axes):
    """ValueError unless array `a` has one axis per name in `axes`, e.g. ("batch", "bins")."""
    if a.ndim != len(axes):
        raise ValueError(f"{launcher}: {name} must have the axes ({', '.join(axes)}), "
                         f"got shape {tuple(a.shape)}")


def check_writable(launcher, name, a, shape):
    """ValueError unless `a`, which the kernel writes into (an `out`, or an
    array updated in place), is a C-contiguous float32 array of `shape`: the
    caller keeps it, so it cannot be converted."""
    check_shape(launcher, name, a, shape, (numpy.float32,))
    if not a.flags.c_contiguous:
        raise ValueError(f"{launcher}: {name} is written in place and must be C-contiguous")


def check_sizes(launcher, name, pair):
    """ValueError unless `pair` is two integers >= 1 (a kernel shape, dilation,
    pool window, stride or output size)."""
    if numpy.shape(pair) != (2,) or not all(int(v) == v and v >= 1 for v in pair):
        raise ValueError(f"{launcher}: {name} must be two integers >= 1, got {pair!r}")


def check_indices(launcher, name, indices, n, distinct=False):
    """ValueError unless `indices` is a 1-D integer array (or list) of values
    in [0, n), all different if `distinct`.

    The values are reduced where they live: free for a NumPy array; for a
    CuPy array a min and a max (and for `distinct` a sort) on the GPU and a
    read-back that waits for it, which is why launchers check small index
    arrays only (a batch's positions, songs or rows).
    """
    xp = arrays.array_module(indices)
    indices = xp.asarray(indices)
    if indices.ndim != 1 or (indices.size > 0 and indices.dtype.kind not in "iu"):
        raise ValueError(f"{launcher}: {name} must be a 1-D integer array, got {indices.dtype} "
                         f"with shape {tuple(indices.shape)}")
    if indices.size == 0:
        return
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= n:
        raise ValueError(f"{launcher}: {name} must lie in [0, {n}), got values from {low} to {high}")
    if distinct and int(xp.unique(indices).size) != indices.size:
        raise ValueError(f"{launcher}: {name} must be distinct, got a repeated value")


def check_positive(launcher, name, values):
    """ValueError unless every number of array (or list) `values` is finite and
    > 0; reduced where it lives, like `check_indices` (warp calls it for host arrays only)."""
    xp = arrays.array_module(values)
    values = xp.asarray(values)
    if values.size > 0 and not bool(xp.all(xp.isfinite(values) & (values > 0))):
        raise ValueError(f"{launcher}: {name} must be finite and > 0")
