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
import dataclasses
import math
import pathlib
import sys

import numpy as np

from svd import audio, dataset, evaluate, labels, predict, spectrum
from svd.device import CPU
from svd.util import errors
from svd.util.atomic import replacing, write_text_atomic
from svd.util.errors import InputError


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
