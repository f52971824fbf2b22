"""Splitting work between N independent jobs: `--shard I/N` (I counts from 0, so 0 <= I < N).

Any scheduler can run the jobs (a Slurm job array, GNU parallel, a shell loop over
hosts): each job is started with the same inputs and its own I, and does only its
part. Nothing is shared but the output folder, so no job waits for another.

- detect: a file belongs to shard `int(sha256(key)[:8 bytes]) mod N`, `key` being
  its path relative to the inputs' common folder (`a/01.mp3`). The hash, unlike
  Python's `hash()`, is the same on every machine and every run, and a file keeps
  its shard when others are added to the catalogue.
- ablate: its few dozen models to train (svd/ablate.py `units`) are dealt out in
  turn, model k to shard k mod N, which balances hours of training better than a
  hash would.
"""
import hashlib
import re

from svd.util.errors import InputError

_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse(text):
    """(index, count) from 'I/N' with 0 <= I < N; None -> (0, 1), the whole input. InputError otherwise."""
    if text is None:
        return 0, 1
    match = _FORM.fullmatch(text)
    if match is None:
        raise InputError(f"--shard {text}: expected I/N, two whole numbers such as 0/4 (shard I of N, "
                         "counting from 0).")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise InputError(f"--shard {text}: need 0 <= I < N (shards count from 0: 0/{max(count, 1)} to "
                         f"{max(count, 1) - 1}/{max(count, 1)}); for 1-based task ids pass I-1.")
    return index, count


def of_key(key, count):
    """The shard (0..count-1) of a string key: sha256 of its UTF-8 bytes, first 8 bytes as an integer, mod count.

    A file name that is not valid UTF-8 reaches Python with its odd bytes as lone surrogates
    (PEP 383); they are turned back into those bytes, so such a file has a shard like any other.
    """
    return int.from_bytes(hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()[:8], "big") % count

