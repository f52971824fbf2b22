"""Finding the singing in arbitrary audio files: probabilities -> smoothed decisions -> segments.

The probabilities come from svd/predict.py; then the same chain as the
evaluation (svd/evaluate.py): 800 ms median filter, threshold (by default the one `run.py eval` chose on
validation and stored in the model). Optionally, segments shorter than
`min_segment_s` are absorbed by their neighbours, and predictions are
averaged over pitch-shifted copies (test-time augmentation, paper Sec. 5.4).

Reading a file (`read_spectrogram`: decode, resample, STFT) and running the
network on it (`detect_spectrogram`) are separate steps, so that many files can
be read ahead in worker processes (svd/jobs/readahead.py) while one process predicts.
The segments are written as label files by svd/labels.py; `frame_table` and
its writers give the probability of every frame (`detect --frames`).
"""
import collections
import dataclasses
import math
import os
import pathlib
import sys

import numpy as np

from svd import audio, dataset, evaluate, labels, model_file, predict, spectrum
from svd.atomic import replacing, write_text_atomic
from svd.device import CPU
from svd import errors
from svd.errors import InputError
from svd.textfiles import decode, read_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf"}
# Audio (and video) formats libsndfile does not decode: a folder walk passes them over and says so.
OTHER_MEDIA_SUFFIXES = {".m4a", ".aac", ".mp4", ".opus", ".wma", ".webm", ".mka", ".ape", ".alac", ".ac3", ".amr"}


@dataclasses.dataclass
class Detection:
    """What was found in one file.

    probabilities, smoothed: (frames,) float32; is_sing: (frames,) bool after
    min-segment cleaning; segments: [(start_s, end_s, is_sing)] covering the file.
    """
    path: pathlib.Path
    log_mel: np.ndarray
    probabilities: np.ndarray
    smoothed: np.ndarray
    is_sing: np.ndarray
    segments: list
    threshold: float


def audio_files(paths, passed_over=None, broken_links=None):
    """Expand files and directories (walked recursively, audio suffixes only) into a file list.

    Each directory's files are sorted; a file reached twice (named twice, inside
    two named directories, or through a symbolic link) is listed once. Linked
    subfolders are followed (each real folder once, so a link loop ends).
    passed_over: a list to which the files of a walked directory are added that
    look like audio in a format this program cannot decode (OTHER_MEDIA_SUFFIXES);
    broken_links: one to which links whose target is missing are added; so that
    the caller can say what it left out.
    """
    found = {}
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            files = _walk(path, broken_links if broken_links is not None else [])
            inside = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
            if passed_over is not None:
                passed_over.extend(p for p in files if p.suffix.lower() in OTHER_MEDIA_SUFFIXES)
        elif path.exists():
            inside = [path]
        else:
            raise InputError(f"{path}: no such file or directory; check the path.")
        for file in inside:
            found.setdefault(os.path.abspath(file), file)
    return list(found.values())


def _walk(folder, broken_links):
    """Every file below `folder`, following linked subfolders (each real folder once), sorted."""
    files, seen = [], set()
    for root, subfolders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # reached again through a link: a loop, or two links to one folder
            subfolders[:] = []
            continue
        seen.add(real)
        for name in names:
            path = pathlib.Path(root) / name
            if path.is_file():
                files.append(path)
            elif path.is_symlink() and not path.exists():
                broken_links.append(path)
    return sorted(files)


def split_model(arguments):
    """(model path, inputs) from detect's positional arguments: a first one ending in .npz names the model.

    Without it the bundled model (svd/models/bundled.npz) is used. No audio file ends in .npz
    (or .npy, taken as a model too, so that a NumPy array named in its place is refused as such).
    """
    if arguments and str(arguments[0]).lower().endswith((".npz", ".npy")):
        return arguments[0], list(arguments[1:])
    return str(model_file.BUNDLED), list(arguments)


def read_file_list(list_path):
    """The paths named in a list file, one per line: [pathlib.Path] ('-': read the list from stdin).

    The list is UTF-8 text; each line is a path exactly as written (spaces kept,
    only the line ending removed), relative to the list's own folder unless
    absolute (relative to the current folder for stdin); in a corpus's
    filelists/ folder, a name found in the corpus's audio/ instead (what a
    filelist holds) is taken from there. Blank lines are ignored. A path that
    does not exist is an InputError naming the line.
    """
    if list_path == "-":
        text, folder, name = decode(sys.stdin.buffer.read(), "stdin"), pathlib.Path(), "stdin"
    else:
        if not pathlib.Path(list_path).is_file():
            raise InputError(f"--files-from {list_path}: no such file; give a text file with one audio path "
                             "per line, or - for stdin.")
        text, folder, name = read_text(list_path), pathlib.Path(list_path).parent, list_path
    paths = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        path = folder / line
        corpus_audio = folder.parent / "audio" / line  # a corpus's filelists/<split> names files in audio/
        if not path.exists() and folder.name == "filelists" and corpus_audio.exists():
            path = corpus_audio
        if not path.exists():
            raise InputError(f"{name}, line {number}: {path}: no such file or directory; fix the line or "
                             "remove it (paths are relative to the list's folder).")
        paths.append(path)
    return paths


def relative_paths(files, inputs):
    """Each file's path relative to the deepest folder holding all `inputs`: [pathlib.Path].

    A named folder counts as holding its own files, a named file is held by its
    folder. This is what the output tree mirrors (`output_stems`) and what
    decides a file's shard (svd/jobs/shards.py).
    """
    bases = [os.path.abspath(p) if pathlib.Path(p).is_dir() else os.path.dirname(os.path.abspath(p))
             for p in inputs]
    root = os.path.commonpath(bases)
    return [pathlib.Path(os.path.relpath(os.path.abspath(file), root)) for file in files]


def output_stems(relative, suffixes=(".lab",)):
    """Where each file's results go, relative to the output folder, without suffix: [pathlib.Path].

    relative: the files' `relative_paths`; suffixes: those of the outputs
    written per file (`.lab`, `.frames.csv`, ...). The input tree is thus mirrored below
    the deepest folder that holds all the inputs (a named folder counts as
    holding its own files), so `a/01.mp3` and `b/01.mp3` get `a/01` and `b/01`,
    and a single folder's files keep their subfolders. Files whose outputs would clash without the audio suffix
    (`01.mp3`, `01.wav`; or `01.wav` and `01.frames.wav` with `.csv` and `.frames.csv`) keep it
    (`01.mp3`, `01.wav`), so no result of a run overwrites another.
    """
    names = [path.with_suffix("") for path in relative]

    def outputs(name):
        return [name.parent / (name.name + suffix) for suffix in suffixes]

    while True:  # each pass gives at least one clashing file its full name, which is unique
        count = collections.Counter(output for name in names for output in outputs(name))
        clashing = [i for i, name in enumerate(names)
                    if name != relative[i] and any(count[output] > 1 for output in outputs(name))]
        if not clashing:
            return names
        for i in clashing:
            names[i] = relative[i]


def shown(path):
    """`path` as text that any terminal takes: the bytes of a name that is not UTF-8 become U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_spectrogram(path):
    """Decode one audio file: its linear spectrogram, (frames, 513) float32, and its duration in seconds.

    InputError for unusable audio (unreadable, or shorter than one network excerpt).
    """
    return spectrogram_of(path, audio.load(path))


def spectrogram_of(path, samples):
    """`read_spectrogram` of decoded audio: (n,) float32 samples at 22050 Hz; path: what messages call it."""
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > ABSURD_PEAK:
        print(f"{shown(path)}: note: its samples reach {peak:g}, far outside [-1, 1] (integer values in a float "
              "file?); the level is taken as it is", file=sys.stderr)
    linear = spectrum.linear_spectrogram(samples)
    if not np.all(np.isfinite(linear)):
        raise InputError(f"{shown(path)}: its samples are so large that their spectrum overflows float32 (peak "
                         f"{peak:g}); scale the audio into [-1, 1] and try again.")
    dataset.require_excerpt_length(path, len(linear))
    return linear, len(samples) / spectrum.SAMPLE_RATE_HZ


MAX_MIN_SEGMENT_S = 86400.0  # --min-segment: a day; longer would merge every file into one segment anyway
ABSURD_PEAK = 100.0  # decoders give samples in [-1, 1]; 40 dB beyond that is no recording's level


def detect_spectrogram(model, path, linear, duration_s, threshold, pitch_factors=(1.0,), min_segment_s=0.0,
                       device=CPU):
    """Run the detector on one audio file already read by `read_spectrogram`; returns a Detection.

    linear: (frames, 513) float32; duration_s: the file's length in seconds;
    device: the svd.device.Device the network runs on.
    """
    raw = predict.probabilities(model, linear, pitch_factors, device)
    if not np.all(np.isfinite(raw)):
        raise InputError(f"{shown(path)}: the network's output is not a number for {np.count_nonzero(~np.isfinite(raw))} "
                         "of its frames (audio or model weights far out of range); check the file's level and "
                         "the model.")
    smoothed = evaluate.median_smooth(raw)
    is_sing = remove_short_segments(smoothed >= threshold, round(min_segment_s * spectrum.FRAME_RATE_HZ))
    return Detection(pathlib.Path(path), spectrum.log_mel(linear), raw, smoothed, is_sing,
                     labels.frames_to_segments(is_sing, duration_s), threshold)


FRAME_COLUMNS = ("time_s", "p_raw", "p_smoothed")  # the frame table's columns, in this order


def frame_table(detection):
    """The frame-wise probabilities of a Detection: (frames, 3) float32, columns FRAME_COLUMNS.

    time_s is the frame's centre (svd/spectrum.py: (i * 315 + 512) / 22050 s,
    70 frames per second); p_raw the network's probability, p_smoothed after
    the 800 ms median filter (what the threshold is applied to).
    """
    times = spectrum.frame_times_s(len(detection.probabilities))
    return np.stack([times, detection.probabilities, detection.smoothed], axis=1).astype(np.float32)


def write_frames_npy(path, detection):
    """Write `frame_table(detection)` as a `.npy` file, atomically."""
    with replacing(path) as temp:
        with open(temp, "wb") as out:  # a file object: np.save would add .npy to the temporary's name
            np.save(out, frame_table(detection))


def write_frames_csv(path, detection):
    """Write `frame_table(detection)` as CSV with the header `time_s,p_raw,p_smoothed`, atomically.

    Times with 6 decimals (microseconds, from float64: the .npy's float32 times
    of an hour-long file come in steps of 0.24 ms); probabilities with 9
    significant digits, which give back the float32 values exactly.
    """
    times = spectrum.frame_times_s(len(detection.probabilities))
    lines = [",".join(FRAME_COLUMNS)]
    lines += [f"{time:.6f},{raw:.9g},{smoothed:.9g}" for time, raw, smoothed
              in zip(times.tolist(), detection.probabilities.tolist(), detection.smoothed.tolist())]
    write_text_atomic(path, "\n".join(lines) + "\n")


def remove_short_segments(is_sing, min_frames):
    """Flip runs shorter than `min_frames` to the label around them, shortest runs first.

    is_sing: (frames,) bool; returns a new (frames,) bool array in which every
    run is at least `min_frames` long (unless the whole song is shorter).
    """
    is_sing = np.array(is_sing, bool)
    while min_frames > 1:
        starts = np.concatenate([[0], np.flatnonzero(is_sing[1:] != is_sing[:-1]) + 1])
        lengths = np.diff(np.concatenate([starts, [len(is_sing)]]))
        if len(starts) == 1 or lengths.min() >= min_frames:
            break
        shortest = int(np.argmin(lengths))
        start = starts[shortest]
        is_sing[start:start + lengths[shortest]] = ~is_sing[start]
    return is_sing


STORED_THRESHOLD_SLACK = 1e-6


def model_threshold(model, override, model_path="MODEL", option="--threshold"):
    """The threshold to use: `override` if given, else the one stored by `run.py eval` (a probability).

    option: how the caller passes a threshold (`--threshold`, or `threshold=` in the Python API), for the messages.
    """
    if override is not None:
        return override
    if math.isnan(model.threshold):
        raise InputError(f"{model_path}: the model has no stored threshold; run "
                         f"{errors.command('eval ' + str(model_path))} once (it stores the validation threshold) or pass {option}.")
    # 5 would mark nothing as singing, -1 everything. eval's extreme candidates lie 1e-6 outside
    # the probabilities (svd/evaluate.py `_candidate`), so they may be 1e-6 outside [0, 1].
    if not -STORED_THRESHOLD_SLACK <= model.threshold <= 1 + STORED_THRESHOLD_SLACK:
        raise InputError(f"{model_path}: its stored threshold {model.threshold:g} is not a probability in [0, 1] "
                         f"(edited or damaged); run {errors.command('eval ' + str(model_path))} to store a new one, or pass "
                         f"{option}.")
    return model.threshold
