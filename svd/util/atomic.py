"""Atomic file writes: a crash never leaves a half-written file behind.

Everything the project writes (models, checkpoints, feature cache, labels,
JSON results, the synthetic corpus) goes to a temporary next to the destination
first and is then renamed over the destination, which POSIX makes atomic. A
write that fails (a full disk, ENOSPC; no permission; a read-only disk) leaves the
destination as it was and raises WriteFailed, a user error naming the destination.

A process killed in the middle of a write (kill -9, power cut) cannot delete its
temporary, so every temporary names its writer:

    .<name>.<host>-<pid>.<random><suffix>     e.g. .model.npz.1f3a09c2-4711.k2x9a_qz.tmp

(<host>: 8 hex digits of a hash of the host name; <suffix>: `.tmp` for files,
`.partial` for the corpus folders of svd/synth/corpus.py). Before `<name>` is written
again, its temporaries whose writer is gone are deleted: made on this host by a
process id that no longer exists. Why this rule and not an age limit: a live
writer's temporary is never touched however slow it is (a concurrent writer of the
same destination, a long corpus synthesis), and a dead writer's leftovers go at the
next write instead of days later. To be safe, it leaves alone temporaries from
another host (a shared network folder: that host's processes cannot be seen from
here), those whose pid now belongs to another live process (they go once it ends),
and any name not of exactly this form. Listing the folder costs about half a
millisecond per thousand entries, small next to computing what is written.
"""
import contextlib
import hashlib
import os
import pathlib
import re
import shutil
import socket
import tempfile

import numpy as np

from svd.util.errors import InputError

HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# What follows `.<name>.` in a temporary's name, before its suffix. mkstemp/mkdtemp draw
# the random part from [a-z0-9_], so neither it nor the writer contains a dot.
WRITER = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)\.[a-z0-9_]+")


class WriteFailed(InputError):
    """A write failed (disk full, no permission, ...): the message names the destination and what to do."""


def write_failed(path, error):
    """The WriteFailed for an OSError met while writing `path` (the destination, not a temporary)."""
    reason = error.strerror or str(error)
    return WriteFailed(f"{path}: cannot write it ({reason}); make room on that disk or pick a writable "
                       "location, then run again.")


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path next to `path`; on success rename it to `path`, on error delete it.

    An OSError while writing (ENOSPC: disk full, EACCES, EROFS, ...) becomes WriteFailed
    naming `path`; `path` itself is then unchanged.
    """
    path = pathlib.Path(path)
    if path.exists() and not path.is_file():  # renaming onto /dev/null would replace the device itself
        raise InputError(f"{path}: is not a regular file (a device, a pipe?), so it is not replaced; name a file.")
    try:
        temp = temporary(path)
    except OSError as error:
        raise write_failed(path, error) from None
    try:
        yield temp
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; give it normal permissions
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise write_failed(path, error) from None
        raise


def temporary(path, suffix=".tmp", directory=False):
    """Create an empty private temporary file (or, with directory=True, folder) next to `path`.

    Its name carries this process's writer tag (see the module docstring); stale
    temporaries of `path` with the same suffix are deleted first. Creates the
    parent folder if need be. Returns the temporary's pathlib.Path.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path, suffix)
    prefix = f".{path.name}.{HOST_TAG}-{os.getpid()}."
    if directory:
        return pathlib.Path(tempfile.mkdtemp(suffix=suffix, prefix=prefix, dir=path.parent))
    handle, temp = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=path.parent)
    os.close(handle)
    return pathlib.Path(temp)


def _remove_stale(path, suffix):
    """Delete the temporaries of `path` ending in `suffix` whose writer process is gone (files or folders)."""
    path = pathlib.Path(path)
    prefix = f".{path.name}."
    for entry in os.listdir(path.parent):
        if not (entry.startswith(prefix) and entry.endswith(suffix)):
            continue
        writer = WRITER.fullmatch(entry[len(prefix):len(entry) - len(suffix)])
        if writer is None or writer["host"] != HOST_TAG or process_alive(int(writer["pid"])):
            continue
        stale = path.parent / entry
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)  # another run may be removing it at the same time
        else:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def process_alive(pid):
    """Whether a process with this id exists on this host (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # it exists but belongs to another user; or an id no process can have: keep it
    return True


def check_writable(path, option, directory=False):
    """Before any work starts: InputError unless `path` can be written (created if need be).

    path: a file to be written atomically (its folder must be creatable and writable, and it
    must not be a directory), or with directory=True a folder (it must not be a file).
    option: the command-line option that named it, for the message.
    """
    path = pathlib.Path(path)
    folder = path if directory else path.parent
    if path.is_symlink() and not path.exists():
        raise InputError(f"{option} {path}: is a symbolic link to {os.readlink(path)}, which does not exist; "
                         "remove the link or make it point to an existing place.")
    if directory and path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file, not a directory; name a directory.")
    if not directory and path.is_dir():
        raise InputError(f"{option} {path}: is a directory; name a file.")
    if not directory and path.exists() and not path.is_file():
        raise InputError(f"{option} {path}: is not a regular file (a device, a pipe?); name a file.")
    existing = existing_ancestor(folder)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {existing}; pick a writable location.")


def check_output(path, option, suffix, inputs=()):
    """check_writable for an output file, which must also end in `suffix` and be none of `inputs`.

    A wrong suffix is how an output lands on an input (`eval M --json M`, `train --out
    labels/x.lab`); `inputs` (paths the command reads) are compared by file identity,
    so links and other spellings of the same file are caught too.
    """
    check_writable(path, option)
    path = pathlib.Path(path)
    if path.suffix.lower() != suffix:
        raise InputError(f"{option} {path}: this output is a {suffix} file; give a name ending in {suffix}.")
    for source in inputs:
        if path.exists() and pathlib.Path(source).exists() and os.path.samefile(path, source):
            raise InputError(f"{option} {path}: is {source}, which this command reads; give the output "
                             "another name.")


def existing_ancestor(path):
    """`path` itself if it exists, else its nearest existing parent folder."""
    path = pathlib.Path(path)
    while not path.exists():
        path = path.parent
    return path


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
