"""How `detect` shares the cores (svd/jobs/cores.py): worker processes pinned to their share, and the default split.

That the workers' outputs equal one process's, byte for byte, is tested with the
rest of many-file detection (tests/test_detect_shards.py)."""
import os
import time

import pytest

from svd.jobs import cores, readahead
from svd.cli import options
from conftest import one_song_model
from test_detect_shards import write_audio


def test_shares_are_nearly_equal_runs_of_neighbouring_cpus():
    assert cores.shares([0, 1, 2, 3, 4, 5, 6, 7], 3) == [[0, 1], [2, 3, 4], [5, 6, 7]]
    assert cores.shares([0, 1], 2) == [[0], [1]]
    assert cores.shares([4, 5, 6], 1) == [[4, 5, 6]]
    assert cores.shares([0, 1], 5) == [[0], [1], [0], [1], [0]]  # more processes than CPUs: one CPU each, in turn


@pytest.mark.parametrize("files, on_gpu, cpus, memory_gb, expected", [
    (10, False, 2, 24, 2),     # this machine: one process per core
    (3, False, 16, 64, 3),     # no more processes than files (their cores become threads)
    (100, False, 64, 24, 12),  # memory: 2 GiB each
    (1, False, 16, 64, 0),     # one file: all cores as threads in this process
    (10, True, 16, 64, 0),     # the GPU: the network in this process
    (10, False, 1, 64, 0),     # one core
    (10, False, 8, 3, 0),      # memory for one: this process
    (10, False, 4, None, 4),   # memory unknown: no limit
])
def test_the_default_split(files, on_gpu, cpus, memory_gb, expected):
    memory = None if memory_gb is None else memory_gb << 30
    assert cores.auto_jobs(files, on_gpu, list(range(cpus)), memory) == expected


def test_auto_reads_this_machine():
    assert cores.available() and set(cores.available()) <= set(range(os.cpu_count()))
    assert cores.auto_jobs(2, False) in (0, 2)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pinning is Linux's")
def test_each_worker_is_pinned_to_its_share_with_as_many_threads():
    """The worker applies its share before it receives `read`, so NumPy's BLAS starts with that many threads."""
    cpus = cores.available()
    shares = cores.shares(cpus, 2) if len(cpus) >= 2 else [cpus, cpus]
    pinned = dict(readahead.read_ahead(affinity, ["a", "b"], 2, shares))
    assert pinned == {0: shares[0], 1: shares[1]}
    threads = dict(readahead.read_ahead(environment, ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"], 2, shares))
    assert threads == {0: str(len(shares[0])), 1: str(len(shares[1]))}
    unpinned = list(readahead.read_ahead(affinity, ["a"], 1))  # reading ahead for the GPU
    assert unpinned == [(0, cpus)]


def test_a_free_worker_takes_the_next_file_so_a_long_one_holds_up_one_worker():
    """Worker 0 sleeps 3 s over its first file; worker 1 does the other four meanwhile, and they come first."""
    delays = [3.0, 0.0, 0.0, 0.0, 0.0]
    finished = [index for index, _ in readahead.read_ahead(time.sleep, delays, 2)]
    assert sorted(finished) == [0, 1, 2, 3, 4] and finished[-1] == 0


def affinity(path):
    """A worker's `read` (the workers import it from this module by name): the CPUs the worker may use."""
    return sorted(os.sched_getaffinity(0))


def environment(name):
    """A worker's `read`: one of its environment variables."""
    return os.environ.get(name)


def test_the_first_line_says_how_the_cores_are_shared(tmp_path, capsys):
    one_song_model(tmp_path, "model.npz")
    for seed in range(3):
        write_audio(tmp_path / "music" / f"{seed}.wav", 3.0, seed)
    arguments = ["detect", str(tmp_path / "model.npz"), str(tmp_path / "music"), "--threshold", "0.5"]
    assert options.main([*arguments, "--out-dir", str(tmp_path / "one"), "--jobs", "0"]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "detect: 3 files, 0 with outputs already (skipped), 3 to do"
    assert options.main([*arguments, "--out-dir", str(tmp_path / "two"), "--jobs", "2"]) == 0
    first = capsys.readouterr().err.splitlines()[0]
    each = len(cores.shares(cores.available(), 2)[0])
    assert first.endswith(f"3 to do; 2 processes of {each} core{'s' if each > 1 else ''} each"), first
    for name in ("0", "1", "2"):
        assert (tmp_path / "two" / f"{name}.lab").read_bytes() == (tmp_path / "one" / f"{name}.lab").read_bytes()
