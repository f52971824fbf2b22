"""Atomic file writes: a crash never leaves a half-written file behind.

Everything the project writes (models, checkpoints, feature cache, labels,
JSON results) goes to a temporary file in the destination's folder first and
is then renamed over the destination, which POSIX makes atomic.
"""
import contextlib
import os
import pathlib
import tempfile

import numpy as np


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path next to `path`; on success rename it to `path`, on error delete it."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    os.close(handle)
    try:
        yield pathlib.Path(temp)
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; give it normal permissions
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def check_writable(path, option, directory=False):
    """Before any work starts: InputError unless `path` can be written (created if need be).

    path: a file to be written atomically (its folder must be creatable and writable, and it
    must not be a directory), or with directory=True a folder (it must not be a file).
    option: the command-line option that named it, for the message.
    """
    from svd.errors import InputError
    path = pathlib.Path(path)
    folder = path if directory else path.parent
    if directory and path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file, not a directory; name a directory.")
    if not directory and path.is_dir():
        raise InputError(f"{option} {path}: is a directory; name a file.")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {existing}; pick a writable location.")


def write_text_atomic(path, text):
    """Write `text` (UTF-8) to `path` atomically."""
    with replacing(path) as temp:
        temp.write_text(text, encoding="utf-8")


def save_npz_atomic(path, arrays):
    """Save a dict of arrays as an uncompressed `.npz` at `path` atomically."""
    with replacing(path) as temp:
        with open(temp, "wb") as out:
            np.savez(out, **arrays)


def _umask():
    """The process's file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
