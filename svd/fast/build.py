"""The fast CPU path's compiled C (svd/fast/winograd.c, single_channel_conv.c, max_pool.c, batch_norm.c), built
and loaded.

The C files hold the few loops that NumPy cannot run fast (they would take many
passes over memory): the Winograd tile transforms, the first layer's single-channel
convolution and the max-pooling. They are compiled once per machine with the system's
C compiler (`cc`, or $CC) into one shared library in the folder `native` of the
project's cache folder (svd/util/cache_folder.py's `native_dir`: in $SVD_CACHE_DIR or
~/.cache/svd, as the feature cache), named by a hash of the sources, the flags and the CPU
(-march=native code runs only where it was built; portable flags where the compiler
refuses -march=native), and loaded with ctypes, which releases Python's GIL during
each call so that the worker threads of svd/fast/workers.py run them on all cores.

Without a C compiler (or if the build fails) `library()` is None and svd/fast/__init__.py
sends every operation to the NumPy code of svd/fast/blocked.py and numpy_pool.py;
`unavailable_reason()` says why.

Each is said once on stderr, so that a pause or a slow run is not a mystery: one line
when a build starts (the first run on a machine), and one line per process when the
compiled code cannot be had. `set_notices(False)` (a command's --quiet) keeps them quiet.
"""

import ctypes
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import sys

from svd.util.atomic import temporary
from svd.util.cache_folder import native_dir

SOURCES = tuple(pathlib.Path(__file__).with_name(name)
                for name in ("winograd.c", "single_channel_conv.c", "max_pool.c", "batch_norm.c"))
# Tried in turn: code for this CPU's vector units, else (a compiler or CPU that does not
# know -march=native) portable code.
CFLAGS = (("-O3", "-march=native", "-std=c99", "-fPIC", "-shared"),
          ("-O3", "-std=c99", "-fPIC", "-shared"))

_library = None  # the loaded library; False after a failed build; None before trying
_reason = None
_enabled = True
_notices = True  # whether the lines of `say` go to stderr


def cpu_tag():
    """What -march=native depends on: the CPU's model and feature flags, as text."""
    try:
        with open("/proc/cpuinfo") as info:
            lines = [line for line in info if line.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor() + platform.machine()


def _build(compiler):
    """Path of the shared library built from SOURCES with the first of CFLAGS that works,
    compiling it if not cached yet. Raises OSError with the compiler's messages if no
    set of flags works.

    The compiler writes into a private temporary folder next to the library (named for
    this process, see svd/util/atomic.py), and the finished library is renamed into place: a
    process killed mid-build leaves only that folder, which the next build deletes. (Not a
    temporary file: the linker of a killed build may still be running, and it creates its
    output file anew, so a deleted temporary file could reappear; in a deleted folder it
    cannot.)
    """
    errors = []
    for flags in CFLAGS:
        digest = hashlib.sha256(repr((compiler, flags, cpu_tag())).encode())
        for source in SOURCES:
            digest.update(source.read_bytes())
        path = native_dir() / f"svd-native-{digest.hexdigest()[:16]}.so"
        if path.exists() and _intact(path):
            return path
        if not errors:  # the first flags tried: say it once, not again for the portable flags
            say("compiling the fast CPU path's C code once for this machine (about 2 s) ...")
        folder = temporary(path, suffix=".partial", directory=True)
        try:
            built = folder / path.name
            result = subprocess.run([compiler, *flags, "-o", str(built), *map(str, SOURCES)],
                                    capture_output=True, text=True)
            if result.returncode == 0:
                note = folder / (path.name + ".sha256")
                note.write_text(_sha256(built) + "\n")
                os.replace(built, path)
                os.replace(note, _note_of(path))
                return path
            errors.append(f"{compiler} {' '.join(flags)}:\n{result.stderr}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    raise BuildFailed("could not build the fast CPU path's C code:\n" + "\n".join(errors))


class BuildFailed(OSError):
    """The compiler refused every set of flags (as opposed to a folder that cannot be written)."""


def _note_of(path):
    """The file beside a built library that holds its SHA-256: <library>.sha256."""
    return path.with_name(path.name + ".sha256")


def _sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def _intact(path):
    """Whether the library at `path` is the one that was built: its bytes match the SHA-256 beside it.

    A truncated or damaged library (a full disk, a copy gone wrong) would crash the
    process when loaded or called; one that fails this check is built again.
    """
    try:
        return _note_of(path).read_text().strip() == _sha256(path)
    except OSError:
        return False


def set_notices(flag):
    """Say on stderr when the C code is compiled or cannot be (True, the default), or not (False)."""
    global _notices
    _notices = bool(flag)


def say(line):
    if _notices:
        print(line, file=sys.stderr, flush=True)


def set_enabled(flag):
    """Use the compiled code (True, the default) or not (False: the NumPy loops of
    svd/fast/blocked.py and numpy_pool.py everywhere, e.g. to compare the two or to time
    what the C code gains)."""
    global _enabled
    _enabled = bool(flag)


def library():
    """The loaded ctypes library (built on first use), or None if it cannot be built or
    is switched off by `set_enabled(False)`."""
    global _library, _reason
    if not _enabled:
        return None
    if _library is None:
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        advice = "install a C compiler to speed it up (e.g. 'apt install gcc'), or set $CC"
        if compiler is None:
            _library, _reason = False, "no C compiler (cc or $CC) found"
        else:
            try:
                _library = ctypes.CDLL(str(_build(compiler)))
            except BuildFailed as error:
                _library, _reason = False, str(error)
            except OSError as error:  # the folder: unwritable, full, ...
                _library, _reason = False, f"{native_dir()} cannot be written: {error.strerror or error}"
                advice = "make that folder writable, or set $SVD_CACHE_DIR to a writable one"
        if _library is False:  # once per process: the result is kept in _library
            why = f"{compiler} could not build it" if isinstance(_reason, str) and _reason.startswith("could not") \
                else _reason
            say(f"the fast CPU path runs without its compiled C code ({why}), 2-3x slower; {advice}")
    return _library or None


def function(name, argtypes):
    """The library's C function `name`, its argument types declared and its result void,
    or None when `library()` is None. (ctypes keeps one function object per name, so
    the declaration is made once.)"""
    lib = library()
    if lib is None:
        return None
    c_function = getattr(lib, name)
    if c_function.argtypes is None:
        c_function.argtypes = argtypes
        c_function.restype = None
    return c_function


def unavailable_reason():
    """Why `library()` is None (a sentence), or None when it is available."""
    if not _enabled:
        return "switched off (svd.fast.build.set_enabled(False))"
    return None if library() is not None else _reason
