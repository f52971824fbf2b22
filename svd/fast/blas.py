"""Matrix multiply-accumulate through BLAS, called so that Python's GIL is released.

- `gemm(a, b, out, beta=..., trans_a=..., trans_b=...)`
                      out <- beta*out + op(a) @ op(b), in place, so that a
                      convolution can accumulate its nine taps into one output
                      without temporaries (svd/fast/blocked.py).
- `cblas_sgemm_address()`
                      the same sgemm, for compiled code that calls BLAS itself
                      (svd/fast/winograd.c).
- `gil_free()`, `set_local_threads(n)`
                      whether the above runs without the GIL, and the BLAS thread
                      count of the calling thread (svd/fast/workers.py uses both).

Why ctypes. The worker threads of svd/fast/workers.py each run their own matrix
products at the same time; that only works if a BLAS call releases the GIL.
SciPy's BLAS wrappers do not, but a call through `ctypes` does, so `gemm` calls
the `cblas_?gemm` of the OpenBLAS that SciPy ships, directly. If that library
cannot be found (another platform or SciPy build), `gemm` falls back to SciPy's
wrappers, `gil_free()` is False, and the workers run their blocks one after
another (BLAS then uses all cores inside each product).

NumPy arrays only: the GPU path (svd/cuda/) never comes here.
"""

import ctypes
import os

import numpy
from scipy.linalg import blas as _scipy_blas


def _find_cblas():
    """{dtype: cblas_?gemm} from the OpenBLAS loaded by SciPy, plus its
    per-thread thread-count setter; ({}, None) if not found."""
    try:
        with open("/proc/self/maps") as maps:  # Linux: which libraries are loaded
            paths = {line.split()[-1] for line in maps if "openblas" in line and "/" in line}
    except OSError:
        return {}, None
    for path in sorted(paths):
        if "openblas64" in os.path.basename(path):  # NumPy's copy: 64-bit integer arguments
            continue
        try:
            lib = ctypes.CDLL(path)
            set_local_threads = lib.openblas_set_num_threads_local  # OpenBLAS >= 0.3.27
        except (OSError, AttributeError):
            continue
        # SciPy's wheels prefix the symbols; a plain OpenBLAS does not.
        for prefix in ("scipy_", ""):
            sgemm = getattr(lib, prefix + "cblas_sgemm", None)
            dgemm = getattr(lib, prefix + "cblas_dgemm", None)
            if sgemm is not None and dgemm is not None:
                break
        else:
            continue
        args = [ctypes.c_int] * 6
        sgemm.argtypes = args + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
        dgemm.argtypes = args + [ctypes.c_double, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_int, ctypes.c_double, ctypes.c_void_p, ctypes.c_int]
        sgemm.restype = dgemm.restype = None
        set_local_threads.argtypes = [ctypes.c_int]
        set_local_threads.restype = ctypes.c_int
        gemms = {numpy.dtype(numpy.float32): sgemm, numpy.dtype(numpy.float64): dgemm}
        return gemms, set_local_threads
    return {}, None


_CBLAS_GEMM, _SET_LOCAL_BLAS_THREADS = _find_cblas()
_CBLAS_ROW_MAJOR, _CBLAS_NO_TRANS, _CBLAS_TRANS = 101, 111, 112
_SCIPY_GEMM = {numpy.dtype(numpy.float32): _scipy_blas.sgemm,
               numpy.dtype(numpy.float64): _scipy_blas.dgemm}


def cblas_sgemm_address():
    """Address of the cblas_sgemm that `gemm` calls (for compiled code that calls
    BLAS itself, svd/fast/winograd.c), or None if none was found."""
    sgemm = _CBLAS_GEMM.get(numpy.dtype(numpy.float32))
    return None if sgemm is None else ctypes.cast(sgemm, ctypes.c_void_p).value


def _rows_stride(a, name):
    """Row stride of a 2-D array in elements; its rows must be contiguous."""
    rows, cols = a.shape
    ld = a.strides[0] // a.itemsize if rows > 1 else max(cols, 1)
    if (cols > 1 and a.strides[1] != a.itemsize) or ld < cols or ld < 1:
        raise ValueError(f"gemm: {name} must have contiguous rows, got shape {a.shape} "
                         f"strides {a.strides}")
    return ld


def gemm(a, b, out, beta=1.0, trans_a=False, trans_b=False):
    """In-place matrix multiply-accumulate: out <- beta * out + op(a) @ op(b).

    Args:
        a: (m, k) float array, or (k, m) if `trans_a`.
        b: (k, n) float array, or (n, k) if `trans_b`.
        out: (m, n) array of the same dtype; overwritten.
            All three must have contiguous rows (unit stride along the last
            axis); rows may be further apart (e.g. a row slice of a wider array).
        beta: 1.0 accumulates into `out`, 0.0 overwrites it (its old values are
            then ignored, even NaN).
        trans_a, trans_b: use the transpose of `a` / `b` (no copy is made).

    Returns:
        out (the same array).
    """
    m, n = out.shape
    k = a.shape[0] if trans_a else a.shape[1]
    a_rows = a.shape[1] if trans_a else a.shape[0]
    b_rows, b_cols = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if a_rows != m or b_rows != k or b_cols != n:
        raise ValueError(f"gemm: shapes {a.shape}{'^T' * trans_a} @ {b.shape}{'^T' * trans_b}"
                         f" do not give {out.shape}")
    if not (a.dtype == b.dtype == out.dtype):
        raise ValueError(f"gemm: dtypes differ: {a.dtype}, {b.dtype}, {out.dtype}")
    if m == 0 or n == 0:
        return out
    cblas = _CBLAS_GEMM.get(out.dtype)
    if cblas is not None:  # ctypes releases the GIL for the duration of the call
        lda, ldb, ldc = _rows_stride(a, "a"), _rows_stride(b, "b"), _rows_stride(out, "out")
        cblas(_CBLAS_ROW_MAJOR, _CBLAS_TRANS if trans_a else _CBLAS_NO_TRANS,
              _CBLAS_TRANS if trans_b else _CBLAS_NO_TRANS, m, n, k, 1.0,
              a.ctypes.data, lda, b.ctypes.data, ldb, beta, out.ctypes.data, ldc)
        return out
    # SciPy's (Fortran, column-major) wrapper: a C-contiguous (m, n) array is
    # the column-major matrix out^T, so ask for out^T <- op(b)^T @ op(a)^T.
    # The wrapper would silently copy a non-contiguous array (and write the
    # result into the copy), so that is an error here.
    if not (a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("gemm needs C-contiguous a, b and out")
    out_t = out.T
    result = _SCIPY_GEMM[out.dtype](1.0, b.T, a.T, beta=beta, c=out_t, overwrite_c=1,
                                    trans_a=trans_b, trans_b=trans_a)
    if result is not out_t:
        raise RuntimeError("BLAS copied the output; results would be lost")
    return out


def gil_free():
    """Whether `gemm` calls a cblas through ctypes (no GIL held) whose thread count can be
    set per calling thread (OpenBLAS >= 0.3.27): what parallel worker threads need."""
    return _SET_LOCAL_BLAS_THREADS is not None


def set_local_threads(n):
    """Make BLAS calls from the current thread use n cores; returns the previous setting.
    Only when `gil_free()`."""
    return _SET_LOCAL_BLAS_THREADS(n)
