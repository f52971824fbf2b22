"""Per-band standardisation of log-mel input (paper Sec. 3.1: zero mean, unit variance over the training set).

The statistics come from every frame of the unaugmented training songs and
are stored with the model. Optionally (`train --per-recording`) each recording
is first standardised by its own per-band statistics (`per_recording`), so that
a recording chain's level, equalisation and dynamics (a gain and a spread per
band) do not reach the network; the stored statistics then describe those
standardised songs.

The two steps of a recording, with `per_recording`:
    log_mel -> (log_mel - own mean) / own std -> (... - mean) / std -> network They are accumulated in float64 with a shifted
sum of squares (shift = first song's band means), which avoids the
cancellation of the naive E[x^2] - E[x]^2 in float32.
"""
import numpy as np

from svd import spectrum
from svd.util.arrays import array_module


def band_statistics(log_mels):
    """Mean and standard deviation per mel band over all frames of all songs.

    log_mels: iterable of (frames, 80) float32 arrays.
    Returns (mean, std), each (80,) float32; std is floored at 1e-6 so that a
    constant band cannot divide by zero.
    """
    shift = total = squares = None
    count = 0
    for log_mel in log_mels:
        values = np.asarray(log_mel, np.float64)
        if shift is None:
            shift = values.mean(axis=0)
            total = np.zeros_like(shift)
            squares = np.zeros_like(shift)
        centred = values - shift
        total += centred.sum(axis=0)
        squares += (centred ** 2).sum(axis=0)
        count += len(values)
    mean_centred = total / count
    variance = np.maximum(squares / count - mean_centred ** 2, 0.0)
    return (shift + mean_centred).astype(np.float32), np.maximum(np.sqrt(variance), 1e-6).astype(np.float32)


def shared_scale(std):
    """One standard deviation for every band: the root mean square of the per-band ones, (80,) float32.

    Dividing by one number keeps a gain on the audio (a constant added to every
    log-mel value) a constant after normalisation, which zero-mean first-layer
    filters then ignore (svd/layers.py `zero_mean_forward`).
    """
    return np.full_like(std, np.sqrt(np.mean(np.square(std, dtype=np.float64))))


MIN_RECORDING_STD = 0.1  # natural-log units; a band this steady in a recording is silence or a constant tone


def recording_statistics(log_mel):
    """Mean and deviation per band of one recording over its frames, (80,) float32 each (`per_recording`).

    log_mel: (frames, 80) float32 on any device. The deviation is floored at
    MIN_RECORDING_STD, so that a band that never changes (digital silence) stays
    constant instead of amplifying rounding.
    """
    xp = array_module(log_mel)
    values = log_mel.astype(xp.float64)
    return values.mean(axis=0).astype(xp.float32), xp.maximum(values.std(axis=0), MIN_RECORDING_STD).astype(xp.float32)


def recording_log_mel(linear, per_recording):
    """The log-mel of one recording, (frames, 80) float32: standardised by its own statistics if `per_recording`.

    linear: (frames, 513) float32 magnitudes on any device.
    """
    log_mel = spectrum.log_mel(linear)
    return normalise(log_mel, *recording_statistics(log_mel)) if per_recording else log_mel


def normalise(log_mel, mean, std):
    """(log_mel - mean) / std, broadcasting over leading axes: (..., 80) float32."""
    return (log_mel - mean) / std


def silence_value(mean, std):
    """The normalised log-mel of digital silence, (80,) float32: what songs are padded with."""
    xp = array_module(mean)
    return normalise(xp.full(spectrum.MEL_BANDS, np.log(spectrum.LOG_FLOOR), np.float32), mean, std)
