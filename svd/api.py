"""The Python interface, for notebooks and scripts: load a model once, then ask it about any audio.

    import svd
    detector = svd.load_model()                # the bundled model; or load_model("model.npz")
    detector.segments("song.mp3")              # [Segment(start_s=0.0, end_s=12.34..., label='nosing'), ...]
    found = detector.probabilities(samples, sample_rate=44100)   # found.times_s, found.raw, found.smoothed

It runs the chain of `run.py detect` (svd/detect.py): the network's voice
probability for every frame (70 per second, svd/predict.py), the 800 ms
median filter, the threshold (by default the one `run.py eval` stored in the
model), optionally the removal of short segments. `svd.load_model` is this
module's `load_model` (svd/__init__.py imports it on first use).

`audio` is either the path of an audio file (any format `run.py detect`
reads) or a 1-D NumPy array of mono samples with its `sample_rate`; both are
resampled to 22050 Hz the same way (svd/audio.py). Integer samples (as
scipy.io.wavfile reads them) are scaled to [-1, 1) like a decoder does.
Mistakes (a missing file, a stereo array, no threshold) raise
svd.InputError (svd/util/errors.py) with one sentence saying what to do.
"""
import dataclasses
import math
import os
import pathlib
import typing

import numpy as np

from svd import audio as audio_files
from svd import augment, dataset, detect, evaluate, model_file, predict, spectrum
from svd.device import CPU, select
from svd.util.errors import InputError

ARRAY_NAME = "the samples"  # how an array of samples is named in messages and in Detection.path


class Segment(typing.NamedTuple):
    """A stretch of the audio with one label: 'sing' or 'nosing'. Unpacks as (start_s, end_s, label)."""
    start_s: float
    end_s: float
    label: str


@dataclasses.dataclass(frozen=True)
class Probabilities:
    """The voice probability of every frame: each field (frames,), 70 frames per second.

    times_s: float64 frame centres, (i * 315 + 512) / 22050 s; raw: float32, the
    network's output; smoothed: float32, after the 800 ms median filter (the
    threshold applies to it).
    """
    times_s: np.ndarray
    raw: np.ndarray
    smoothed: np.ndarray


def load_model(path=None, device="auto"):
    """A Detector for the model file `path` (written by `run.py train`), or the bundled model if None.

    device: 'auto' (the GPU when CuPy sees one, else the CPU), 'cpu' or 'gpu', as `--device`.
    The bundled model (svd/models/bundled.npz) is described in docs/model-card.md.
    """
    path = model_file.BUNDLED if path is None else path
    return Detector(model_file.load(path), str(path), select(device, quiet=True))


class Detector:
    """A trained model, ready to find the singing in audio (see the module docstring).

    model: svd.model_file.Model; name: how messages name it (its path);
    where: the svd.device.Device the network runs on.
    """

    def __init__(self, model, name="model", where=CPU):
        self.model, self.name, self.where = model, name, where

    @property
    def threshold(self):
        """The threshold `run.py eval` stored in the model; NaN if it has none."""
        return self.model.threshold

    def probabilities(self, audio, sample_rate=None, tta=False):
        """The voice probability of every frame of `audio`: a Probabilities.

        tta: average over pitch-shifted copies (test-time augmentation, paper Sec. 5.4).
        """
        linear, _, _ = _spectrogram(audio, sample_rate)
        raw = predict.probabilities(self.model, linear, _pitch_factors(tta), self.where)
        return Probabilities(spectrum.frame_times_s(len(raw)), raw, evaluate.median_smooth(raw))

    def segments(self, audio, sample_rate=None, threshold=None, min_segment_s=0.0, tta=False):
        """The singing in `audio`: [Segment], contiguous, from 0 to the end of the audio.

        threshold: on the smoothed probability (default: the model's stored
        one); min_segment_s: shorter segments are absorbed by their neighbours.
        """
        found = self.detect(audio, sample_rate, threshold, min_segment_s, tta)
        return [Segment(start, end, "sing" if sing else "nosing") for start, end, sing in found.segments]

    def detect(self, audio, sample_rate=None, threshold=None, min_segment_s=0.0, tta=False):
        """Everything `run.py detect` finds in `audio`: a svd.detect.Detection (probabilities, segments,
        the log-mel spectrogram), e.g. for svd.cli.plot.detection_figure. Arguments as for `segments`."""
        if threshold is not None and not (_is_number(threshold) and 0 <= threshold <= 1):
            raise InputError(f"threshold={threshold!r}: a threshold is a probability between 0 and 1.")
        threshold = detect.model_threshold(self.model, threshold, self.name, option="threshold=")
        if not (_is_number(min_segment_s) and min_segment_s >= 0):
            raise InputError(f"min_segment_s={min_segment_s!r}: give a length in seconds, 0 or more.")
        linear, duration_s, path = _spectrogram(audio, sample_rate)
        return detect.detect_spectrogram(self.model, path, linear, duration_s, float(threshold),
                                         _pitch_factors(tta), min_segment_s, self.where)


def _is_number(value):
    """A finite real number (Python's or NumPy's), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _pitch_factors(tta):
    return augment.TEST_TIME_PITCH_FACTORS if tta else (1.0,)


def _spectrogram(audio, sample_rate):
    """(linear spectrogram (frames, 513) float32, duration in seconds, name as a pathlib.Path) of `audio`."""
    if isinstance(audio, (str, os.PathLike)):
        if sample_rate is not None:
            raise InputError(f"{audio}: sample_rate= is for arrays of samples; a file's rate is read from the "
                             "file, so leave it out.")
        linear, duration_s = detect.read_spectrogram(audio)
        return linear, duration_s, pathlib.Path(audio)
    samples = _mono_float32(audio)
    if sample_rate is None:
        raise InputError(f"{ARRAY_NAME}: an array needs its sample rate; pass sample_rate=, e.g. "
                         "sample_rate=44100.")
    if not (_is_number(sample_rate) and sample_rate >= 1 and sample_rate == int(sample_rate)):
        raise InputError(f"sample_rate={sample_rate!r}: give the rate in Hz as a whole number, e.g. 44100.")
    samples = audio_files.resample(samples, int(sample_rate))
    linear = spectrum.linear_spectrogram(samples)
    dataset.require_excerpt_length(ARRAY_NAME, len(linear))
    return linear, len(samples) / spectrum.SAMPLE_RATE_HZ, pathlib.Path(ARRAY_NAME)


def _mono_float32(samples):
    """`samples` (array-like) as (n,) float32, integers scaled to [-1, 1); InputError for anything else."""
    try:
        samples = np.asarray(samples)
    except (TypeError, ValueError) as error:  # a ragged list, ...
        raise InputError(f"{ARRAY_NAME}: not an array of numbers ({error}); pass a 1-D NumPy array.") from None
    if samples.ndim != 1:
        raise InputError(f"{ARRAY_NAME}: need a 1-D array of mono samples, got shape {samples.shape}; "
                         "mix the channels first, e.g. samples.mean(axis=1) for soundfile's (n, channels).")
    if np.issubdtype(samples.dtype, np.signedinteger):
        samples = samples / float(2 ** (8 * samples.dtype.itemsize - 1))  # int16 PCM: 32768 -> 1.0
    elif samples.dtype == np.uint8:
        samples = (samples - 128.0) / 128.0  # 8-bit PCM is unsigned, silence at 128
    elif not np.issubdtype(samples.dtype, np.floating):
        raise InputError(f"{ARRAY_NAME}: need float samples or signed integer (or 8-bit) PCM, got an array of "
                         f"{samples.dtype}; convert it, e.g. samples.astype(np.float32).")
    samples = samples.astype(np.float32)
    if not np.isfinite(samples).all():
        raise InputError(f"{ARRAY_NAME}: contain NaN or infinite values; remove them first.")
    return samples
