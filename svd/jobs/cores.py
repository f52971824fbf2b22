"""How `detect` shares the CPU's cores between processes and threads.

One process runs the network on all its cores with threads (svd/fast/workers.py),
but threads scale sublinearly: NumPy's element-wise work, Python and the small
layers stay on one core (on two cores, two threads predict a song 1.66x as fast
as one: BENCHMARKS.md section 4, "Cores"). Whole files are independent, so for
many files K processes do better: each decodes a file and runs the network on it,
pinned to its own share of the cores with one thread per core of it, while the
main process writes the outputs. With fewer files than cores, the cores left over
become threads of the processes (K processes over C cores: C // K or C // K + 1
each).

`auto_jobs` is the default split: one process per core, up to one per file, and
within the memory a prediction needs per process; no worker processes for a
single file, on the GPU (one device: the workers only read ahead there, see
svd/jobs/readahead.py), or on one core.
"""
import os

from svd.util.errors import InputError

# Peak memory of one detecting process: the interpreter with NumPy and SciPy, the model, one decoded file and
# the whole-song network's activations; 1.6 GB measured for a one-hour 44.1 kHz stereo file (block-wise
# decoding, docs/benchmark-history.md "detect --jobs throughput"), rounded up.
BYTES_PER_PROCESS = 2 << 30


def parse_jobs(text):
    """detect's --jobs: a number of worker processes (0 or more), or None for auto; InputError otherwise."""
    if text == "auto":
        return None
    try:
        jobs = int(text)
    except ValueError:
        jobs = -1
    if jobs < 0:
        raise InputError(f"--jobs {text}: give auto, 0 (everything in this process) or a number of worker "
                         "processes.")
    return jobs


def said(jobs, files, on_gpu):
    """How the work is shared out, as the end of detect's first line ('' when it all runs in this process)."""
    workers = min(jobs, files)
    if workers == 0:
        return ""
    if on_gpu:
        return f"; {workers} processes read ahead"
    threads = [len(share) for share in shares(available(), workers)]
    each = f"{min(threads)}" if min(threads) == max(threads) else f"{min(threads)}-{max(threads)}"
    return f"; {workers} processes of {each} core{'s' if max(threads) > 1 else ''} each"


def available():
    """The CPU numbers this process may run on, sorted."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no pinning, only counts
        return list(range(os.cpu_count() or 1))


def shares(cpus, processes):
    """`cpus` cut into `processes` nearly equal runs of neighbouring CPUs (neighbours share caches):
    [[cpu, ...], ...], each non-empty. More processes than CPUs take one CPU each, in turn."""
    if processes > len(cpus):
        return [[cpus[k % len(cpus)]] for k in range(processes)]
    cuts = [len(cpus) * k // processes for k in range(processes + 1)]
    return [cpus[start:stop] for start, stop in zip(cuts, cuts[1:])]


def auto_jobs(files, on_gpu, cpus=None, memory_bytes=None):
    """The default number of detecting processes for `files` files (0: all in the main process).

    cpus: the CPUs to share (default: `available()`); memory_bytes: memory free for them (default: the
    system's MemAvailable, unknown = no limit).
    """
    cpus = available() if cpus is None else cpus
    if on_gpu or files < 2 or len(cpus) < 2:
        return 0
    memory_bytes = _memory_available() if memory_bytes is None else memory_bytes
    by_memory = len(cpus) if memory_bytes is None else max(1, memory_bytes // BYTES_PER_PROCESS)
    processes = min(files, len(cpus), by_memory)
    return processes if processes >= 2 else 0


def _memory_available():
    """MemAvailable of /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
