"""Reading files ahead in worker processes while the main process computes on the ones already read.

`detect --jobs K` runs `read` for the next files in K worker processes while the
main process works on the current one, so the two overlap and the work scales
with cores. On the CPU `read` is the whole detector of one file (decoding, the
spectrogram and the network: svd/jobs/detection.py), and each worker is pinned
to its own share of the cores (svd/jobs/cores.py), its threads as many as its
cores; on the GPU it is decoding alone (svd/detect.py `read_spectrogram`), and
the network runs in the main process. With K = 0 everything runs in the calling
process, one file after another.

Memory: a worker gets its next file only when its last one has been collected,
so the workers hold one file each: one file at a time per process, however
long the catalogue. The files are given out as workers become free, so the
results come in the order they finish.

Workers are started with 'spawn' (a fresh interpreter, not a copy of this
process), so each holds only its own end of its pipe: when the main process
dies, even by kill -9, the worker's next read or write of the pipe fails and it
exits instead of lingering. A worker pins itself and sets its thread counts
before anything imports NumPy (whose BLAS reads them once), and only then
receives `read`, which imports the rest. Workers ignore Ctrl-C; the main
process stops them.
"""
import multiprocessing
import os
import signal
from multiprocessing import connection

from svd.util.errors import InputError


def read_ahead(read, paths, jobs, cpu_shares=None):
    """Yield (index, result) once for each of `paths`: result is read(paths[index]), or the InputError it raised
    (or that a MemoryError or OSError became); in order with jobs = 0, in the order they finish otherwise.

    read: a module-level function, or a functools.partial of one (workers
    import it by name); jobs: number of worker processes, 0 to read in this
    process; cpu_shares: None, or for each worker the CPUs it is pinned to
    (svd/jobs/cores.py `shares`), its thread count. Each worker starts with one
    file and gets the next one not yet given out as soon as its result is
    collected, so a long file holds up one worker only. Any other exception in
    a worker stops it (its traceback on stderr) and raises RuntimeError here.
    """
    if jobs == 0:
        for index, path in enumerate(paths):
            yield index, _attempt(read, path)
        return
    context = multiprocessing.get_context("spawn")
    workers = []  # (process, our end of its pipe)
    given = {}  # our end of a busy worker's pipe: (its process, the index of its file)
    try:
        for worker in range(min(jobs, len(paths))):
            ours, theirs = context.Pipe()
            cpus = None if cpu_shares is None else cpu_shares[worker]
            process = context.Process(target=_work, args=(theirs, cpus), daemon=True)
            process.start()
            theirs.close()
            workers.append((process, ours))
        for index, (process, ours) in enumerate(workers):
            ours.send(read)
            ours.send(paths[index])
            given[ours] = (process, index)
        following = len(workers)
        while given:
            for ours in connection.wait(list(given)):
                process, index = given.pop(ours)
                try:
                    result = ours.recv()
                except EOFError:
                    process.join()
                    raise RuntimeError(f"the worker process reading {paths[index]} stopped (exit code "
                                       f"{process.exitcode}: out of memory, or see the traceback above); run "
                                       "again, with fewer --jobs if memory is short") from None
                if following < len(paths):
                    ours.send(paths[following])
                    given[ours] = (process, following)
                    following += 1
                yield index, result
    finally:
        for _, ours in workers:
            ours.close()  # the worker sees the end of its pipe and returns
        for process, _ in workers:
            process.join(timeout=5)
            if process.is_alive():  # still inside a long file, which nobody will collect
                process.terminate()
                process.join()


def _attempt(read, path):
    """read(path), or the InputError it raised (a MemoryError or OSError too, as an InputError naming the
    file: one file that cannot be read never ends the job)."""
    try:
        return read(path)
    except InputError as error:
        return error
    except MemoryError:
        return InputError(f"{path}: not enough memory to read it; split the file or free memory.")
    except OSError as error:
        return InputError(f"{path}: cannot be read ({error.strerror or error}); check the file and its disk.")


def _work(connection, cpus):
    """A worker: pinned to `cpus` (None: not pinned), it receives `read`, then reads each path that arrives and
    sends back its result, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cpus is not None:
        os.sched_setaffinity(0, cpus)  # svd/fast/workers.py then starts one thread per CPU of the share
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(len(cpus))
    try:
        read = connection.recv()
    except (EOFError, OSError):
        return
    while True:
        try:
            path = connection.recv()
            connection.send(_attempt(read, path))
        except (EOFError, OSError):  # the main process is done, or gone
            return
