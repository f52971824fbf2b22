"""Small utilities the concepts and the machinery share; none of them is in the paper.

    arrays.py         which array module (NumPy or CuPy) owns an array
    errors.py         InputError, the one exception for user mistakes (also `svd.InputError`)
    atomic.py         writes that a crash never leaves half done; what a full disk says
    textfiles.py      reading the text files a user writes (filelists, labels) as UTF-8
    progress.py       progress on stderr: a bar on a terminal, plain lines in a log
    provenance.py     what every result records about the code and machine that made it
    locks.py          lock files naming host and process: one training per `--out`, one job per ablation run
    streams.py        a batch made on one thread's CUDA stream handed to the trainer's (svd/batches.py)
    cache_folder.py   the cache folder as a whole: where it is, what is in it, `run.py cache --clear`
    feature_cache.py  the spectrograms kept in it, one per audio file

Each imports at most the concepts it serves (feature_cache.py: audio and
spectrum), never the command line (svd/cli/) or the jobs (svd/jobs/).
streams.py is here, not in svd/cuda/, because batches.py uses it on every
device (with NumPy arrays it does nothing) and only backend.py imports the
implementation packages (tests/test_backend.py).
"""
