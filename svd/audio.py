"""Reading audio files: any format libsndfile decodes (wav, flac, ogg, mp3), as mono float32 at 22050 Hz.

Stereo (or more) is downmixed by averaging the channels; other sample rates are
resampled with scipy's polyphase resampler, whose Kaiser-windowed low-pass
filter removes what would alias above the new Nyquist frequency (11025 Hz).
"""
import math
import pathlib

import numpy as np
import scipy.signal
import soundfile

from svd.errors import InputError
from svd.spectrum import SAMPLE_RATE_HZ


def load(path):
    """Read `path` as mono float32 samples at 22050 Hz: (n,) array.

    Raises InputError (one sentence: file, problem, fix) for a missing,
    unreadable, empty or non-finite file.
    """
    require_file(path)
    try:
        samples, rate_hz = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        raise InputError(f"{path}: cannot decode audio ({error}); "
                         "convert it to wav, flac, ogg or mp3.") from None
    if samples.size == 0:
        raise InputError(f"{path}: the audio file contains no samples; replace it with a valid recording.")
    if not np.isfinite(samples).all():
        raise InputError(f"{path}: the audio contains NaN or infinite samples; re-export the file.")
    mono = samples.mean(axis=1)
    return resample(mono, rate_hz)


def require_file(path):
    """Raise InputError unless `path` is an existing file."""
    if not pathlib.Path(path).is_file():
        raise InputError(f"{path}: audio file not found; check the path or the filelist entry.")


def resample(samples, rate_hz):
    """Resample (n,) float32 `samples` from `rate_hz` to 22050 Hz (anti-aliased polyphase filter)."""
    if rate_hz == SAMPLE_RATE_HZ:
        return np.ascontiguousarray(samples, dtype=np.float32)
    common = math.gcd(int(rate_hz), SAMPLE_RATE_HZ)
    up, down = SAMPLE_RATE_HZ // common, int(rate_hz) // common
    return scipy.signal.resample_poly(samples, up, down).astype(np.float32)
