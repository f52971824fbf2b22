"""The cache folder as a whole: where it is, what is in it, and `run.py cache --clear`.

svd keeps three kinds of things in one folder, $SVD_CACHE_DIR or ~/.cache/svd
(`--cache DIR` for the features and the corpus of one command):

    features/                     a spectrogram per audio file (svd/util/feature_cache.py): about
                                  517 MB per hour of audio (FEATURE_BYTES_PER_AUDIO_HOUR)
    synthetic-v<V>-seed<S>/       the default synthetic corpus (svd/synth/corpus.py), about 40 MB
    native/                       the fast CPU path's compiled C code (svd/fast/build.py), about
                                  50 kB for each version of the C code and CPU; always in
                                  $SVD_CACHE_DIR or ~/.cache/svd, whatever --cache says

Nothing is ever deleted by the commands that fill it; `clear` does, on request.

Clearing must not pull files from under a running command (a training reading its
features, a check writing them), so every command that uses the folder holds a
shared lock on its file `.in-use` for as long as it runs (`hold`, an flock(2) lock,
which the system drops when the process ends, however it ends), and `clear` takes
the exclusive lock first or refuses. Where the file system has no locks (some
network folders) nothing is held and `clear` goes ahead.
"""
import os
import pathlib
import shutil

from svd import spectrum
from svd.util.errors import InputError

try:
    import fcntl  # POSIX; without it (Windows) nothing is locked
except ImportError:
    fcntl = None

LOCK_NAME = ".in-use"
# One cached spectrogram: 513 float32 bins per frame, 70 frames per second (svd/util/feature_cache.py).
FEATURE_BYTES_PER_AUDIO_HOUR = spectrum.LINEAR_BINS * 4 * spectrum.FRAME_RATE_HZ * 3600
# (kind, what it is); `kind_of` sorts the folder's entries into them.
KINDS = (("features", "spectrograms of audio files, computed again when needed"),
         ("default corpus", "the synthetic corpus, generated again when needed (about 10 s)"),
         ("compiled code", "the fast CPU path's C code and which implementation of each layer is fastest here, made "
                           "again when needed (a few seconds)"),
         ("other", "not made by svd: never deleted"))


def default_dir():
    """$SVD_CACHE_DIR if set, else ~/.cache/svd."""
    return pathlib.Path(os.environ.get("SVD_CACHE_DIR") or pathlib.Path.home() / ".cache" / "svd")


def chosen_dir(option):
    """The cache directory for the `--cache` value `option` (None if not given) and what chose it, for messages.

    Returns (path, name): name is '--cache', 'SVD_CACHE_DIR' or 'the default cache directory',
    so that a message blames what the user actually set. An empty --cache is a mistake
    (an unset shell variable), not a request for the default.
    """
    if option is not None:
        if not option.strip():
            raise InputError("--cache '': an empty path (an unset shell variable?); name a folder, or leave out "
                             "--cache for $SVD_CACHE_DIR or ~/.cache/svd.")
        return pathlib.Path(option), "--cache"
    if os.environ.get("SVD_CACHE_DIR"):
        return default_dir(), "SVD_CACHE_DIR"
    return default_dir(), "the default cache directory"


def native_dir():
    """The folder of the compiled C code (svd/fast/build.py)."""
    return default_dir() / "native"


# --------------------------------------------------------------------------
# The lock: commands hold it shared, `clear` exclusively
# --------------------------------------------------------------------------

_held = None  # (folder, file descriptor) of the shared lock this process holds, or None


def hold(folder):
    """Hold a shared lock on the cache folder `folder` until this process ends (or holds another
    folder), so that `clear` refuses meanwhile. Creates the folder. Says nothing when the lock
    cannot be had (a read-only folder: the command will say so when it writes)."""
    global _held
    folder = pathlib.Path(folder).resolve()
    if fcntl is None or (_held is not None and _held[0] == folder):
        return
    release()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits while a `clear` runs
    except OSError:  # no locks on this file system
        os.close(descriptor)
        return
    _held = (folder, descriptor)


def release():
    """Let go of the folder `hold` holds, if any."""
    global _held
    if _held is not None:
        os.close(_held[1])  # closing the only descriptor drops the lock
        _held = None


# --------------------------------------------------------------------------
# What is in the folder
# --------------------------------------------------------------------------

def kind_of(name):
    """The KINDS entry an entry `name` of the cache folder belongs to (temporaries count with their kind)."""
    bare = name.lstrip(".")
    if bare == "features":
        return "features"
    if bare.startswith("synthetic-v"):
        return "default corpus"
    if bare == "native":
        return "compiled code"
    return "other"


def entries(folder):
    """{kind: [paths]} of everything in the cache folder `folder` (its lock file aside), every kind
    of KINDS present (maybe empty); the compiled code is looked for in `native_dir()`."""
    folder = pathlib.Path(folder)
    found = {kind: [] for kind, _ in KINDS}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.name != LOCK_NAME and not (kind_of(path.name) == "compiled code" and path == native_dir()):
                found[kind_of(path.name)].append(path)
    if native_dir().exists():
        found["compiled code"].append(native_dir())
    return found


def size_bytes(path):
    """Bytes of the file `path`, or of all files below the folder `path` (links are not followed)."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size if os.path.lexists(path) else 0
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # deleted meanwhile
                pass
    return total


def human(n_bytes):
    """'517.1 MB': decimal units, as the documents quote them."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    for unit in ("kB", "MB", "GB"):
        n_bytes /= 1000
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.1f} {unit}"


def describe(folder, named_by):
    """The lines `run.py cache` prints: the folder, then each kind's size and what it is. Entries of
    kind 'other' are counted, not measured (a --cache pointed at a big folder must not walk it)."""
    folder = pathlib.Path(folder)
    found = entries(folder)
    sizes = {kind: sum(size_bytes(path) for path in paths) for kind, paths in found.items() if kind != "other"}
    lines = [f"cache folder: {folder} ({named_by})" + ("" if folder.is_dir() else ": not there yet")]
    for kind, meaning in KINDS[:-1]:
        where = ""
        if kind == "features" and sizes[kind]:
            hours = sizes[kind] / FEATURE_BYTES_PER_AUDIO_HOUR
            where = f"; about {hours:.1f} h of audio" if hours >= 1 else f"; about {60 * hours:.1f} min of audio"
        if kind == "compiled code" and found[kind] and found[kind][-1].parent.resolve() != folder.resolve():
            where = f"; in {found[kind][-1]}"
        lines.append(f"  {kind:<16}{human(sizes[kind]):>10}  {meaning}{where}")
    lines.append(f"  {'total':<16}{human(sum(sizes.values())):>10}")
    if found["other"]:
        count = len(found["other"])
        lines.append(f"  and {count} other {'entry' if count == 1 else 'entries'}, not made by svd and never deleted: "
                     + ", ".join(path.name for path in found["other"][:5]) + (" ..." if len(found["other"]) > 5 else ""))
    return lines


# --------------------------------------------------------------------------
# Clearing
# --------------------------------------------------------------------------

def clear(folder, everything=False):
    """Delete the features of the cache folder `folder`, and with `everything` also the default
    corpus and the compiled code (never an entry of kind 'other'). Returns {kind: bytes freed}.

    Raises InputError, deleting nothing, while another process holds the folder (`hold`).
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return {}
    if _held is not None and _held[0] == folder.resolve():
        release()  # this process's own command is done with it
    descriptor = None
    try:
        descriptor = _lock_exclusively(folder)
        kinds = ("features", "default corpus", "compiled code") if everything else ("features",)
        freed = {}
        for kind, paths in entries(folder).items():
            if kind in kinds and paths:
                freed[kind] = sum(size_bytes(path) for path in paths)
                for path in paths:
                    _delete(path)
        return freed
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _lock_exclusively(folder):
    """The descriptor of `folder`'s lock file, locked exclusively (None where nothing can be locked);
    InputError if another process holds the lock."""
    if fcntl is None:
        return None
    try:
        descriptor = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise InputError(f"{folder}: another svd command (check, train, eval or ablate) is using this cache "
                         "folder; clear it when that has finished.") from None
    except OSError:  # no locks on this file system
        pass
    return descriptor


def _delete(path):
    """Remove a file, link or folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
