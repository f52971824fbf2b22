"""The CUDA kernels of kernels/*.cu, compiled by g++ and run serially on the CPU.

`build(directory)` compiles every kernels/<family>.cu as plain C++ (the macros
of kernels/emulate.h turn each kernel into serial loops over an emulated grid)
together with launch.cpp into one shared library; `Emulator` loads it with
ctypes and offers `run_kernel(family, name, blocks, threads, args)`, the
drop-in replacement of svd.cuda.launch.run_kernel. With it, every launcher of
svd/cuda/ runs on NumPy arrays, through the very kernel code the GPU runs.

`grid_override`, if set, replaces the launcher's (blocks, threads): a small
grid makes each emulated thread take many indices, which exercises the
grid-stride step of SVD_FOR_EACH as well as the index mapping. For a 2-D
launch (svd/cuda/launch.py `kernel_rows`: blocks and threads are (x, y) pairs) the
override (b, t) becomes a (b, b) grid of (t, 1) blocks: both grid-stride
loops, over rows and over columns, then take many steps.
"""
import ctypes
import pathlib
import shutil
import subprocess

import numpy

from svd.cuda import launch

HERE = pathlib.Path(__file__).resolve().parent
# -ffp-contract=off: no fused multiply-adds, like the GPU build (--fmad=false),
# so element-wise kernels round exactly like NumPy. -Werror: the emulation
# build doubles as a strict C++ compile check of the kernels.
GXX_FLAGS = ["-std=c++14", "-O2", "-fPIC", "-shared", "-ffp-contract=off",
             "-Wall", "-Wextra", "-Werror"]

_C_TYPES = {"int": ctypes.c_int, "unsigned int": ctypes.c_uint, "long long": ctypes.c_longlong,
            "float": ctypes.c_float, "double": ctypes.c_double}


def compiler():
    """Path of g++, or None."""
    return shutil.which("g++")


def build_command(library_path):
    """The g++ command line that builds the emulation library at library_path."""
    sources = [str(launch.KERNEL_DIR / f"{family}.cu") for family in launch.FAMILIES]
    return [compiler(), *GXX_FLAGS, "-x", "c++", *sources, "-x", "none", str(HERE / "launch.cpp"),
            "-o", str(library_path)]


def build(directory):
    """Compile the emulation library into `directory`; returns its path.
    Raises RuntimeError with the compiler's output if the build fails."""
    library_path = pathlib.Path(directory) / "libsvd_kernels_emulated.so"
    result = subprocess.run(build_command(library_path), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("g++ failed to build the kernel emulation:\n" + result.stderr)
    return library_path


class Emulator:
    """ctypes handle on the emulation library; `run_kernel` replaces svd.cuda.launch.run_kernel."""

    def __init__(self, library_path):
        self.lib = ctypes.CDLL(str(library_path))
        self.lib.svd_emulate_launch.argtypes = [ctypes.c_uint] * 4
        self.lib.svd_emulate_launch.restype = None
        self.grid_override = None
        self.launches = []  # (family, name, blocks, threads) of every run, for coverage checks
        for family in launch.FAMILIES:
            for name, signature in launch.kernel_signatures(family).items():
                function = getattr(self.lib, name)
                function.argtypes = [ctypes.c_void_p if c_type.endswith("*") else _C_TYPES[c_type]
                                     for c_type, _ in signature]
                function.restype = None

    def run_kernel(self, family, name, blocks, threads, args):
        """Run kernel `name` serially over the emulated grid, on NumPy arrays.
        blocks, threads: ints (1-D launch) or (x, y) pairs (2-D launch)."""
        two_d = isinstance(blocks, tuple)
        if self.grid_override is not None:
            blocks, threads = self.grid_override
            if two_d:
                blocks, threads = (blocks, blocks), (threads, 1)
        self.launches.append((family, name, blocks, threads))
        values = [a.ctypes.data if isinstance(a, numpy.ndarray) else a.item() for a in args]
        (grid_x, grid_y), (block_x, block_y) = (blocks, threads) if two_d else ((blocks, 1), (threads, 1))
        self.lib.svd_emulate_launch(grid_x, grid_y, block_x, block_y)
        getattr(self.lib, name)(*values)
