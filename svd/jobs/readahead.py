"""Reading files ahead in worker processes while the main process computes on the ones already read.

`detect --jobs K` runs `read` (decoding, resampling and the spectrogram of one
audio file: svd/detect.py `read_spectrogram`) for the next files in K worker
processes while the main process runs the network on the current one, so the
two overlap and the reading scales with cores. With K = 0 everything runs in
the calling process, one file after another.

Memory: file i goes to worker i mod K, and a worker gets its next file only
when its last one has been collected, so while the caller works on file i the
workers hold files i+1 ... i+K, one each: one file at a time per process,
however long the catalogue.

Workers are started with 'spawn' (a fresh interpreter, not a copy of this
process), so each holds only its own end of its pipe: when the main process
dies, even by kill -9, the worker's next read or write of the pipe fails and it
exits instead of lingering. Workers ignore Ctrl-C; the main process stops them.
"""
import multiprocessing
import signal

from svd.util.errors import InputError


def read_ahead(read, paths, jobs):
    """Yield (path, result) for each of `paths` in order; result is read(path), or the InputError it raised
    (or that a MemoryError or OSError became).

    read: a module-level function (workers import it by name); jobs: number of
    worker processes, 0 to read in this process. File i goes to worker i mod
    jobs, which gets its next file (i + jobs) as soon as file i is collected;
    a worker that finishes early waits, holding its one result. Any other
    exception in a worker stops it (its traceback on stderr) and raises
    RuntimeError here.
    """
    if jobs == 0:
        for path in paths:
            yield path, _attempt(read, path)
        return
    context = multiprocessing.get_context("spawn")
    workers = []  # (process, our end of its pipe)
    try:
        for _ in range(min(jobs, len(paths))):
            ours, theirs = context.Pipe()
            process = context.Process(target=_work, args=(read, theirs), daemon=True)
            process.start()
            theirs.close()
            workers.append((process, ours))
        for index, (_, ours) in enumerate(workers):
            ours.send(paths[index])
        for index, path in enumerate(paths):
            process, ours = workers[index % len(workers)]
            try:
                result = ours.recv()
            except EOFError:
                process.join()
                raise RuntimeError(f"the worker process reading {path} stopped (exit code {process.exitcode}: "
                                   "out of memory, or see the traceback above); run again, with fewer --jobs "
                                   "if memory is short") from None
            if index + len(workers) < len(paths):
                ours.send(paths[index + len(workers)])
            yield path, result
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


def _work(read, connection):
    """A worker: read each path that arrives and send back its result, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            path = connection.recv()
            connection.send(_attempt(read, path))
        except (EOFError, OSError):  # the main process is done, or gone
            return
