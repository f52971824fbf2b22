"""Every kernels/*.cu compiles with nvcc, warnings as errors, for two GPU generations.

Compiled for sm_90 (Hopper: H100/H200) and sm_75 (Turing, the oldest
architecture CUDA 13 still supports), as a fatbin: device code only, no host
compiler pass. All compilations run in parallel: 5-10 s on 2 cores. The
same flags as the GPU build: --fmad=false (see svd/cuda/launch.py).
Warnings fail the build: nvcc's (-Werror all-warnings) and ptxas's (register
spills included). Also compiles, to PTX, the exact text svd/cuda/launch.py hands to
NVRTC (kernels/emulate.h pasted in), which must need no include path, and,
where libnvrtc is found (a CUDA toolkit with it, the nvidia-cuda-nvrtc wheel,
or $SVD_NVRTC_LIBRARY), compiles that text with NVRTC itself, as CuPy will.

Skipped if nvcc is neither on PATH nor in /usr/local/cuda/bin, or gcc (nvcc's
host compiler, used even here to preprocess) is missing. Nothing runs:
no GPU is needed.
"""
import ctypes
import ctypes.util
import glob
import importlib.util
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from svd.cuda import launch

ARCHITECTURES = ("90", "75")
FLAGS = ["--fmad=false", "-Werror", "all-warnings", "-Xptxas", "-warn-spills,-Werror"]


def find_nvcc():
    """Path of nvcc, or None."""
    found = shutil.which("nvcc")
    if found is None and os.access("/usr/local/cuda/bin/nvcc", os.X_OK):
        found = "/usr/local/cuda/bin/nvcc"
    return found


def fatbin_command(nvcc, source, output):
    """nvcc command compiling `source` for every architecture in ARCHITECTURES."""
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHITECTURES]
    return [nvcc, "--fatbin", *gencode, *FLAGS, "-o", str(output), str(source)]


def nvrtc_text_command(nvcc, source, output):
    """nvcc command compiling svd/cuda/launch.py's self-contained source to PTX for sm_90."""
    return [nvcc, "--ptx", "-arch=compute_90", *FLAGS, "-o", str(output), str(source)]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """{(family, kind): CompletedProcess} of all compilations, run in parallel."""
    nvcc = find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found (PATH, /usr/local/cuda/bin): CUDA sources not compiled")
    if shutil.which("gcc") is None:
        pytest.skip("nvcc needs its host compiler gcc on PATH, even for device code")
    out = tmp_path_factory.mktemp("nvcc")
    commands = {}
    for family in launch.FAMILIES:
        commands[family, "fatbin"] = fatbin_command(nvcc, launch.KERNEL_DIR / f"{family}.cu",
                                                    out / f"{family}.fatbin")
        nvrtc_source = out / f"{family}_nvrtc.cu"  # outside kernels/: no emulate.h to include
        nvrtc_source.write_text(launch.kernel_source(family), encoding="utf-8")
        commands[family, "nvrtc-text"] = nvrtc_text_command(nvcc, nvrtc_source, out / f"{family}.ptx")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = pool.map(lambda c: subprocess.run(c, capture_output=True, text=True),
                           commands.values())
        return dict(zip(commands, results))


@pytest.mark.parametrize("kind", ["fatbin", "nvrtc-text"])
@pytest.mark.parametrize("family", launch.FAMILIES)
def test_kernels_compile_with_nvcc(compiled, family, kind):
    result = compiled[family, kind]
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}{result.stderr}"


def test_nvrtc_text_has_no_includes():
    """NVRTC has no include path and no standard headers: the source must stand alone."""
    for family in launch.FAMILIES:
        source = launch.kernel_source(family)
        cuda_branch = source.split("#if defined(__CUDACC__)")[1].split("#else")[0]
        assert "#include" not in cuda_branch and '#include "emulate.h"' not in source


# --------------------------------------------------------------------------
# NVRTC, the compiler CuPy uses (optional: skipped where libnvrtc is absent)
# --------------------------------------------------------------------------

def find_nvrtc():
    """ctypes handle on libnvrtc, or None: $SVD_NVRTC_LIBRARY, the system's, a
    CUDA toolkit's, or the one in the nvidia-cuda-nvrtc wheel."""
    candidates = [os.environ.get("SVD_NVRTC_LIBRARY"), ctypes.util.find_library("nvrtc")]
    candidates += sorted(glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"))
    spec = importlib.util.find_spec("nvidia")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidates += sorted(glob.glob(os.path.join(folder, "*", "lib", "libnvrtc.so*")))
    for path in candidates:
        if path:
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


def nvrtc_compile(nvrtc, source, options):
    """(success, log) of compiling `source` with NVRTC and `options`."""
    program = ctypes.c_void_p()
    if nvrtc.nvrtcCreateProgram(ctypes.byref(program), source.encode(), b"kernels.cu", 0, None, None):
        return False, "nvrtcCreateProgram failed"
    encoded = [o.encode() for o in options]
    status = nvrtc.nvrtcCompileProgram(program, len(encoded), (ctypes.c_char_p * len(encoded))(*encoded))
    size = ctypes.c_size_t()
    nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetProgramLog(program, log)
    nvrtc.nvrtcDestroyProgram(ctypes.byref(program))
    return status == 0, log.value.decode(errors="replace")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("family", launch.FAMILIES)
def test_kernels_compile_with_nvrtc(family, architecture):
    nvrtc = find_nvrtc()
    if nvrtc is None:
        pytest.skip("libnvrtc not found: the NVRTC compilation is left to tests/test_kernels_gpu.py")
    options = [*launch.COMPILE_OPTIONS, f"--gpu-architecture=compute_{architecture}"]
    ok, log = nvrtc_compile(nvrtc, launch.kernel_source(family), options)
    assert ok and "warning" not in log.lower(), f"NVRTC {' '.join(options)}, kernels/{family}.cu:\n{log}"
