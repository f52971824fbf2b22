"""Where a result came from: svd's version and commit, the seed, the device, the date, the libraries.

Every result svd writes carries one `provenance` object, so that a number in a
paper can be traced to the code and machine that made it:

    svd_version   svd.__version__
    git_commit    `git rev-parse --short HEAD` of the clone svd runs from; the key is
                  absent when svd runs from an installed package, or git is missing,
                  fails or takes longer than GIT_TIMEOUT_S
    date          when the result was made: UTC, ISO 8601 to the second ('2025-01-31T12:00:00Z');
                  the environment variable SOURCE_DATE_EPOCH (whole seconds since 1970,
                  the reproducible-builds convention) fixes it, so that two runs of one
                  command give byte-identical files (the tests set it); an invalid value
                  is ignored
    seed          the random seed of the run: `train --seed`; `eval` and `detect` draw no random
                  numbers, so theirs is the seed the model was trained with (null if the model
                  does not say); null for `score`
    device        where the network ran ('cpu', 'gpu NVIDIA H100 80GB HBM3', svd/device.py);
                  null for `score`, which runs no network
    python, numpy, scipy   their versions; cupy's too when the device is a GPU

The date is the only field that differs between two runs of the same command
on the same machine. Where it is written: the model file (`provenance`, the training run's; kept when
`eval` stores its threshold, svd/model_file.py), the JSON of `eval`, `score` and
`ablate`, each `ablate` run's result file, and every record of a `detect` summary
(svd/jobs/detect_summary.py).
"""
import datetime
import functools
import os
import pathlib
import platform
import re
import subprocess

import numpy

from svd import __version__

GIT_TIMEOUT_S = 2.0  # a commit id is worth waiting this long for, a command's start-up is not


@functools.lru_cache(maxsize=None)
def git_commit():
    """The short commit id of the clone this svd runs from, or None (not a clone, no git, an error, too slow)."""
    root = pathlib.Path(__file__).resolve().parents[2]  # svd/util/provenance.py -> the clone
    if not (root / ".git").exists():  # a folder in a clone, a file in a git worktree
        return None
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs (a network file system)
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{4,40}", commit) else None


def describe(device=None, seed=None):
    """The provenance object (a dict, see the module docstring) of a result made now.

    device: the svd.device.Device the network ran on, or None (no network ran);
    seed: the run's random seed (int) or None.
    """
    import scipy  # the package alone: its version, none of its modules
    found = {"svd_version": __version__}
    commit = git_commit()
    if commit is not None:
        found["git_commit"] = commit
    found.update({
        "date": _now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": None if seed is None else int(seed),
        "device": None if device is None else device.name,
        "python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__})
    if device is not None and device.xp.__name__ == "cupy":
        found["cupy"] = device.xp.__version__
    return found


def _now():
    """The current UTC time, or the time SOURCE_DATE_EPOCH names (see the module docstring)."""
    fixed = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if fixed.isdigit():
        try:
            return datetime.datetime.fromtimestamp(int(fixed), datetime.timezone.utc)
        except (OverflowError, OSError, ValueError):  # beyond the years a datetime holds
            pass
    return datetime.datetime.now(datetime.timezone.utc)
