"""Lock files: "this output is being written by host H, process P", for processes that share a folder.

Two processes, on one machine or on many (through a shared folder), must never
write the same output at once. Two kinds of work take such locks: a training, on its
`--out` model and checkpoint (svd/train.py `output_lock`: a second training on
the same `--out` is refused, naming the first), and the ablation, on each of
its runs (svd/ablate.py: several `ablate --shard` jobs share one folder, and a
job that finds a run locked leaves it to the job that holds it). Before it
writes, a process (a *job* below) creates `<output>.lock` with O_EXCL, which
succeeds for exactly one creator, even on NFS; the file holds one JSON line
`{"host", "pid", "token"}` for people and for the checks below, and is deleted
when the run ends.

A job that is killed cannot delete its lock, so a lock is *stale*, and may be
taken over, when

- it names this host and a process id that no longer exists here (the same
  rule as the temporaries of svd/util/atomic.py), or
- its file has not been touched for STALE_AFTER_S: while a run goes on, a
  background thread of its job touches the lock every REFRESH_EVERY_S, so only
  a lock whose job died (or whose host vanished) grows old. This needs the
  hosts' clocks to agree to within a few minutes (NTP).

Taking over: the stale lock is renamed aside (a rename succeeds for exactly one
of several jobs that found the same stale lock) and checked to be the one
judged stale; then the lock is created again with O_EXCL as usual.
"""
import contextlib
import json
import os
import pathlib
import secrets
import socket
import threading
import time

from svd.util.atomic import HOST_TAG, process_alive

STALE_AFTER_S = 600.0  # a lock untouched this long belongs to a dead job
REFRESH_EVERY_S = 60.0  # how often a running job touches its lock


class Lock:
    """A lock file held by this process (from `try_lock`); `release()` or leave its `with` block to delete it."""

    def __init__(self, path, text):
        self.path, self.text = pathlib.Path(path), text
        self._stop = threading.Event()
        self._refresher = threading.Thread(target=self._refresh, name=f"refresh {self.path.name}", daemon=True)
        self._refresher.start()

    def _refresh(self):
        while not self._stop.wait(REFRESH_EVERY_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self):
        """Stop refreshing and delete the lock file, if it is still ours."""
        self._stop.set()
        self._refresher.join()
        if _read(self.path) == self.text:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def try_lock(path, stale_after_s=STALE_AFTER_S):
    """Create the lock file `path` for this process: a Lock, or None if a live job holds it."""
    path = pathlib.Path(path)
    text = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": secrets.token_hex(8)}) + "\n"
    for _ in range(3):  # a lock that vanishes or turns stale between two looks: look again
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            held = _read(path)
            if held is not None and is_stale(path, held, stale_after_s):
                _put_aside(path, held)
            elif held is not None:
                return None
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        return Lock(path, text)
    return None


def is_stale(path, text, stale_after_s=STALE_AFTER_S):
    """Whether the lock `path`, whose content is `text`, belongs to a job that is gone (see the module doc)."""
    holder = _holder(text)
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        if not process_alive(holder["pid"]):
            return True
    try:
        return time.time() - os.stat(path).st_mtime > stale_after_s
    except FileNotFoundError:
        return False  # released meanwhile: not stale, simply gone


def describe(path):
    """Who holds the lock `path`, for messages: 'host H, process P, touched S s ago'."""
    holder = _holder(_read(path) or "")
    try:
        age = f", touched {time.time() - os.stat(path).st_mtime:.0f} s ago"
    except FileNotFoundError:
        age = ", just released"
    return f"host {holder.get('host', '?')}, process {holder.get('pid', '?')}{age}"


def _put_aside(path, text):
    """Rename the stale lock `path` (content `text`) out of the way; if it changed meanwhile, put it back."""
    aside = path.with_name(f".{path.name}.{HOST_TAG}-{os.getpid()}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # another job took it over first
    if _read(aside) != text:  # we moved a fresh lock that replaced the stale one: give it back
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
    with contextlib.suppress(FileNotFoundError):
        aside.unlink()


def _read(path):
    """The lock file's text, or None if there is none."""
    try:
        return pathlib.Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _holder(text):
    """The JSON object of a lock's text; {} while its creator has not written it yet (or if damaged)."""
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}
