"""Writing the synthetic corpus to disk, in the layout of the Jamendo corpus.

`write_corpus` writes a small singing-voice detection dataset, generated from a seed,
in the layout of the Jamendo corpus (paper Sec. 5.1): `audio/<name>.wav`,
`labels/<name>.lab` and `filelists/{train,valid,test}`; each clip comes from
svd/synth/clip.py. `default_corpus` is the corpus the project trains and evaluates on
without --data, generated once into the cache directory.
"""
import errno
import os
import pathlib
import shutil
import sys

import numpy as np
import soundfile

from svd import labels
from svd.util.atomic import existing_ancestor, temporary
from svd.util.errors import InputError
from svd.util.progress import Progress
from svd.spectrum import SAMPLE_RATE_HZ
from svd.synth.clip import MIN_CLIP_S, PEAK_DBFS, synth_clip


# Bump when svd/synth/ changes what a seed generates: the default corpus then gets a new directory.
VERSION = 1
DEFAULT_SEED = 0
# Size of the default corpus; read when it is generated, so a test may make it smaller.
DEFAULT_CLIPS = 30
DEFAULT_CLIP_S = 30.0
DEFAULT_SPLITS = (20, 5, 5)

# Limits on what one request may ask for, checked before any work. A clip is synthesised
# in memory at about 1 MB per second of audio (float64 stems and controls), so 10 minutes
# stays under a gigabyte; 100 hours of 16-bit audio is 16 GB on disk and about an hour
# of synthesis on one core, far beyond the paper's corpora (Jamendo and RWC: ~6 hours each).
MAX_CLIP_S = 600.0
MAX_TOTAL_HOURS = 100.0
WAV_BYTES_PER_S = 2 * SAMPLE_RATE_HZ   # mono 16-bit


def default_corpus(cache_dir, quiet=False):
    """The embedded default corpus (synthetic, seed 0) in `cache_dir`, generated there on first use.

    Safe when several processes need it at once: each builds its own private copy,
    the first to finish renames it into place, the others see the name taken and use
    that corpus (the same seed gives the same bytes). Returns its directory (pathlib.Path).
    """
    corpus = pathlib.Path(cache_dir) / f"synthetic-v{VERSION}-seed{DEFAULT_SEED}"
    if not _complete(corpus):
        print(f"generating the default synthetic corpus in {corpus} (first use)", file=sys.stderr)
        try:
            write_corpus_with_progress(corpus, DEFAULT_SEED, quiet, n_clips=DEFAULT_CLIPS,
                                       clip_seconds=DEFAULT_CLIP_S, split_sizes=DEFAULT_SPLITS)
        except InputError:
            if not _complete(corpus):
                raise
            # Another process generated it at the same time and renamed its copy into place first.
    return corpus


def _complete(corpus):
    """Whether a corpus written by `write_corpus` is there (it appears complete or not at all)."""
    return (corpus / "filelists" / "test").is_file()


def write_corpus_with_progress(out_dir, seed, quiet, n_clips, clip_seconds, split_sizes):
    """`write_corpus` with a progress bar on stderr (unless quiet); the request is checked before the bar starts."""
    check_request(pathlib.Path(out_dir), n_clips, clip_seconds, split_sizes)
    with Progress("synthesising", n_clips, "clips", quiet=quiet) as bar:
        return write_corpus(out_dir, seed, n_clips, clip_seconds, split_sizes,
                            progress=lambda done, total: bar.update(done))


def write_corpus(out_dir, seed=0, n_clips=DEFAULT_CLIPS, clip_seconds=DEFAULT_CLIP_S, split_sizes=DEFAULT_SPLITS,
                 progress=None):
    """Write the synthetic corpus into `out_dir` (which must not exist, or be empty).

    Writes audio/clipNNN.wav (mono, SAMPLE_RATE_HZ, 16-bit, peak PEAK_DBFS),
    labels/clipNNN.lab (`start end sing|nosing` per line, seconds with 3 decimals,
    covering the clip), filelists/{train,valid,test} (the first split_sizes[0] clips
    train, the next valid, the rest test) and README.txt. The corpus is built in a
    temporary sibling directory `.<name>.<host>-<pid>.<random>.partial` and renamed
    into place, so `out_dir` is either complete or absent; such a directory left by a
    killed run is deleted by the next run writing the same `out_dir` (svd/util/atomic.py).
    If another process fills `out_dir` while this one works, InputError, as if it had
    been there from the start. Clip i depends only on (seed, i, clip_seconds): the
    same seed gives byte-identical files.

    progress: optional callable progress(done, total), called after each clip.
    Returns out_dir as a pathlib.Path.
    """
    out_dir = pathlib.Path(out_dir)
    check_request(out_dir, n_clips, clip_seconds, split_sizes)
    temp = temporary(out_dir, suffix=".partial", directory=True)
    try:
        fill_corpus(temp, seed, n_clips, clip_seconds, split_sizes, progress)
        temp.chmod(0o755)       # mkdtemp makes it private; a corpus is an ordinary output
        try:
            os.replace(temp, out_dir)   # over nothing or an empty directory; fails over a full one
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise InputError(f"{out_dir} already exists and is not empty (another process wrote it meanwhile); "
                             "remove it or choose another directory.") from None
    except BaseException:
        shutil.rmtree(temp)
        raise
    return out_dir


def check_request(out_dir, n_clips, clip_seconds, split_sizes):
    """Raise InputError for an occupied out_dir, impossible or too large sizes, or too little disk space."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(f"{out_dir} already exists and is not empty; remove it or choose another directory.")
    if len(split_sizes) != 3 or min(split_sizes) < 1 or sum(split_sizes) != n_clips:
        raise InputError(f"split sizes {tuple(split_sizes)} must be three positive counts adding up to "
                         f"the {n_clips} clips; change the split sizes or the number of clips.")
    if not MIN_CLIP_S <= clip_seconds <= MAX_CLIP_S:     # also refuses NaN
        raise InputError(f"--seconds {clip_seconds:g}: a clip needs at least {MIN_CLIP_S:g} s (a phrase and a "
                         f"pause) and at most {MAX_CLIP_S:g} s (memory); pick a length in that range.")
    hours = n_clips * clip_seconds / 3600
    if hours > MAX_TOTAL_HOURS:
        raise InputError(f"--clips {n_clips} x --seconds {clip_seconds:g} is {hours:.0f} hours of audio, more than "
                         f"the {MAX_TOTAL_HOURS:g} hours synth makes at once; lower --clips or --seconds.")
    needed_bytes = n_clips * clip_seconds * WAV_BYTES_PER_S
    disk = existing_ancestor(out_dir)
    free_bytes = shutil.disk_usage(disk).free
    if needed_bytes > free_bytes:
        raise InputError(f"--clips {n_clips} x --seconds {clip_seconds:g} needs {needed_bytes / 1e6:,.0f} MB but "
                         f"{disk} has {free_bytes / 1e6:,.0f} MB free; free some space or lower --clips or --seconds.")


def fill_corpus(corpus_dir, seed, n_clips, clip_seconds, split_sizes, progress):
    """Write every file of the corpus into the existing, empty corpus_dir."""
    for folder in ("audio", "labels", "filelists"):
        (corpus_dir / folder).mkdir()
    names, sung_s, total_s = [], 0.0, 0.0
    for index in range(n_clips):
        # One generator per clip, spawned from the seed: clips do not depend on each other.
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
        mix, _, segments = synth_clip(rng, clip_seconds)
        name = f"clip{index:03d}"
        with open(corpus_dir / "audio" / f"{name}.wav", "wb") as wav:  # a file object: any name the OS takes
            soundfile.write(wav, mix, SAMPLE_RATE_HZ, format="WAV", subtype="PCM_16")
        labels.write_lab(corpus_dir / "labels" / f"{name}.lab",
                         [(start, end, label == "sing") for start, end, label in segments])
        names.append(f"{name}.wav")
        sung_s += sum(end - start for start, end, label in segments if label == "sing")
        total_s += segments[-1][1]
        if progress is not None:
            progress(index + 1, n_clips)
    bounds = np.cumsum([0, *split_sizes])
    for split, start, end in zip(("train", "valid", "test"), bounds[:-1], bounds[1:]):
        (corpus_dir / "filelists" / split).write_text("".join(f"{name}\n" for name in names[start:end]),
                                                      encoding="ascii")
    (corpus_dir / "README.txt").write_text(readme(seed, n_clips, clip_seconds, split_sizes, sung_s / total_s),
                                           encoding="ascii")


def readme(seed, n_clips, clip_seconds, split_sizes, voice_fraction):
    """Text of the corpus's README.txt."""
    return (
        "Synthetic singing-voice detection corpus, written by svd.synth.write_corpus.\n"
        "Every sound in it is synthesized (no recordings): songs with drums, bass, pads,\n"
        "plucked chords and vocal-like instrumental leads, and a synthetic singer.\n\n"
        f"seed: {seed}\n"
        f"clips: {n_clips} x {clip_seconds:g} s, mono {SAMPLE_RATE_HZ} Hz 16-bit WAV, "
        f"peak {PEAK_DBFS:g} dBFS\n"
        f"splits: train {split_sizes[0]}, valid {split_sizes[1]}, test {split_sizes[2]}\n"
        f"sung: {100 * voice_fraction:.1f}% of the time\n\n"
        "Layout (as the Jamendo corpus): audio/<name>.wav, labels/<name>.lab with one\n"
        "'start end sing|nosing' line per segment (seconds, covering the clip), and\n"
        "filelists/{train,valid,test} naming one audio file per line.\n"
        "The labels are exact: the voice sounds exactly during the 'sing' segments.\n"
    )
