"""Which implementation of an operation runs on this machine: measured once, then kept (like FFTW's wisdom).

Where more than one implementation applies to an operation's arrays (conv2d:
Winograd, the single-channel kernel, im2col, blocked at three block sizes;
max-pool: compiled, NumPy), the first call with a new *key* (the operation, the
shapes, the dilation, whether dx is wanted, the number of threads) runs each
candidate WARMUP times and then REPEATS times, keeps the one with the lowest
median time, and runs it once more for the result (the candidates share
buffers, svd/fast/workers.py). The same call never measures twice in a
process, and a key measured among other candidates (a code change that adds or
removes one) is measured again. The choices are saved, with the times they
were made on, to a file in the compiled code's folder named after the machine (`machine_tag`:
CPU model and flags, core count, NumPy and SciPy (whose BLAS runs) versions, the compiled library,
which is itself named after the C sources): another machine or a changed source
starts a new file, so a choice is never stale. `run.py bench --layers` prints them.

Every candidate computes the same result within float32 rounding (tests/
test_fast*.py), so the choice changes the speed, not what is learned; but not
to the bit: a training killed while its first calls were being measured may
continue on another implementation when resumed, and is then float32-equal,
not byte-equal, to an uninterrupted run. SVD_FAST_CHOICE=fixed (the tests use it)
takes the first candidate that applies and makes every run reproducible to the bit.
"""
import hashlib
import json
import os
import statistics
import time

import numpy

from svd.util.atomic import write_text_atomic
from svd.util.cache_folder import native_dir
from svd.fast import build, workers

WARMUP, REPEATS = 1, 3
FORMAT = 1  # of the saved file

_choices = {}  # {file: {key: {"chosen": name, "seconds": {name: median}}}}, each file loaded on first use
# False: take the first candidate that applies (the fixed order of svd/fast/__init__.py); SVD_FAST_CHOICE=fixed
_measuring = os.environ.get("SVD_FAST_CHOICE", "measured") != "fixed"
_clock = time.perf_counter
_machine = None  # machine_tag(), once read
_said = False


def machine_tag():
    """What the speed of the candidates depends on, as one line of text (read once per process)."""
    global _machine
    if _machine is None:
        _machine = _read_machine_tag()
    return _machine


def _read_machine_tag():
    import scipy
    library = build.library()
    return " | ".join([build.cpu_tag().replace("\n", " "), f"{os.cpu_count()} cores", f"numpy {numpy.__version__}",
                       f"scipy {scipy.__version__} (its BLAS)", f"library {os.path.basename(getattr(library, '_name', None) or 'none')}"])


def path():
    """The file of this machine's choices."""
    digest = hashlib.sha256(f"{FORMAT} {machine_tag()}".encode()).hexdigest()[:16]
    return native_dir() / f"choices-{digest}.json"


def set_measuring(flag):
    """Measure (True, the default) or take the first candidate that applies (False: the fixed order of
    svd/fast/__init__.py, for comparing the two)."""
    global _measuring
    _measuring = bool(flag)


def key(operation, x, *details):
    """The key of a call: the operation, x's shape with its first two axes (batch, time) as one size rounded up
    to a power of two (songs of every length share a choice), `details` (weights' shape, dilation, ...), and the
    number of worker threads (the candidates do not scale alike: a `detect --jobs` process has fewer)."""
    rows = 1 << max(int(x.shape[0] * x.shape[1]) - 1, 0).bit_length()
    return " ".join(map(str, (operation, (rows, *x.shape[2:]), *details, f"threads {workers.num_threads()}")))


def choose(key, candidates, run):
    """The result of the fastest of `candidates` for `key`, measuring them when `key` is new.

    key: text naming the operation and its shapes; candidates: [(name, function)],
    at least one; run(function) calls one candidate on the operation's arguments.
    """
    if len(candidates) == 1 or not _measuring:
        return run(candidates[0][1])
    by_name = dict(candidates)
    choices = _loaded()
    stored = choices.get(key, {})
    chosen = stored.get("chosen")
    if chosen not in by_name or set(stored["seconds"]) != set(by_name):  # new, or measured among other candidates
        seconds = {name: _median_seconds(run, function) for name, function in candidates}
        chosen = min(seconds, key=seconds.get)
        choices[key] = {"chosen": chosen, "seconds": seconds}
        _save(choices)
    return run(by_name[chosen])


def chosen():
    """This machine's choices so far: {key: {"chosen": name, "seconds": {candidate: median seconds}}}."""
    return dict(_loaded())


def _median_seconds(run, function):
    for _ in range(WARMUP):
        run(function)
    times = []
    for _ in range(REPEATS):
        start = _clock()
        run(function)
        times.append(_clock() - start)
    return statistics.median(times)


def _loaded():
    """The choices of this machine's file (`path`; another cache folder, another file), read once."""
    where = path()
    if where not in _choices:
        _choices[where] = {}
        try:
            stored = json.loads(where.read_text(encoding="utf-8"))
            if isinstance(stored, dict) and stored.get("format") == FORMAT and isinstance(stored.get("choices"), dict):
                _choices[where] = {key: entry for key, entry in stored["choices"].items() if _well_formed(entry)}
        except (OSError, ValueError):
            pass  # none yet, or damaged: measured again
    return _choices[where]


def _well_formed(entry):
    return (isinstance(entry, dict) and isinstance(entry.get("chosen"), str) and isinstance(entry.get("seconds"), dict)
            and all(isinstance(seconds, (int, float)) for seconds in entry["seconds"].values()))


def _save(choices):
    global _said
    if not _said:  # once per process, silenced with the build's notices (a command's --quiet)
        _said = True
        build.say("measuring which implementation of each layer is fastest on this machine (once, a few seconds)")
    try:
        write_text_atomic(path(), json.dumps({"format": FORMAT, "machine": machine_tag(), "choices": choices},
                                             indent=1, sort_keys=True) + "\n")
    except OSError:
        pass  # an unwritable cache folder: the choices hold for this process only
