"""Per-band standardisation of the network's input (paper Sec. 3.1: zero mean, unit variance over the training set).

The statistics come from every frame of the unaugmented training songs and
are stored with the model. They are accumulated in float64 with a shifted sum
of squares (shift = first song's band means), which avoids the cancellation of
the naive E[x^2] - E[x]^2 in float32.

Two options change what a recording's features are before that step, both
chosen at training time and kept in the model's configuration:

- `train --pcen`: per-channel energy normalisation (`pcen`) of the mel
  magnitudes instead of their logarithm: every band divided by its own recent
  past (a 0.4 s one-pole smoother), then compressed by a square root. A gain
  on the audio, and a slowly changing equalisation, are nearly divided out.
- `train --per-recording`: each recording standardised by its own per-band
  statistics first, so that a recording chain's level, equalisation and
  dynamics (a gain and a spread per band) do not reach the network; the stored
  statistics then describe those standardised songs.

A recording's path to the network, with both:

    mel -> pcen(mel) or log(mel) -> (... - own mean) / own std -> (... - mean) / std -> network
"""
import numpy as np
import scipy.signal

from svd import spectrum
from svd.util.arrays import array_module, to_host


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
# (PCEN values spread about as little, 0.1, so with --pcen the floor also tempers quiet, steady bands)


def recording_statistics(log_mel):
    """Mean and deviation per band of one recording over its frames, (80,) float32 each (`per_recording`).

    log_mel: (frames, 80) float32 on any device. The deviation is floored at
    MIN_RECORDING_STD, so that a band that never changes (digital silence) stays
    constant instead of amplifying rounding.
    """
    xp = array_module(log_mel)
    values = log_mel.astype(xp.float64)
    return values.mean(axis=0).astype(xp.float32), xp.maximum(values.std(axis=0), MIN_RECORDING_STD).astype(xp.float32)


def recording_features(linear, per_recording=False, pcen_input=False):
    """The features of one recording before the training set's standardisation, (frames, 80) float32.

    linear: (frames, 513) float32 magnitudes on any device. The log-mel, or the
    PCEN of the mel magnitudes if `pcen_input`; then standardised by the
    recording's own statistics if `per_recording`.
    """
    features = pcen(spectrum.mel(linear)) if pcen_input else spectrum.log_mel(linear)
    return normalise(features, *recording_statistics(features)) if per_recording else features


# Per-channel energy normalisation (Wang et al., ICASSP 2017), with the defaults of Lostanlen et al. (IEEE SPL 2019).
PCEN_TIME_CONSTANT_S = 0.4  # of the smoother M
PCEN_GAIN = 0.98            # alpha: how much of the smoothed level is divided out
PCEN_BIAS = 2.0             # delta
PCEN_POWER = 0.5            # r: the compression
PCEN_EPS = 1e-6             # keeps the division finite in silence


def pcen_smoothing():
    """The smoother's weight s per frame, M[t] = (1 - s) M[t-1] + s E[t]: 0.035 for 0.4 s at 70 frames/s.

    The one-pole filter whose impulse response falls to 1/e after T = 0.4 s of frames
    (librosa's convention): s = (sqrt(1 + 4 T^2) - 1) / (2 T^2), T in frames.
    """
    frames = PCEN_TIME_CONSTANT_S * spectrum.FRAME_RATE_HZ
    return (np.sqrt(1 + 4 * frames ** 2) - 1) / (2 * frames ** 2)


def pcen(mel):
    """PCEN of a mel spectrogram along time: (E / (eps + M)^alpha + delta)^r - delta^r, (frames, 80) float32.

    mel: (frames, 80) non-negative magnitudes E on any device (filtered on the
    host, returned on mel's device). M is E smoothed along time by `pcen_smoothing`,
    starting settled at the first frame (M[0] = E[0]). Digital silence (E = 0)
    maps to 0. Scaling E by g scales E / M^alpha by g^0.02: a gain of 100 (40 dB)
    moves the quotient by 10%.
    """
    xp = array_module(mel)
    energy = np.asarray(to_host(mel), np.float64)
    s = pcen_smoothing()
    smooth, _ = scipy.signal.lfilter([s], [1, s - 1], energy, axis=0, zi=(1 - s) * energy[:1])
    quotient = energy / (PCEN_EPS + smooth) ** PCEN_GAIN
    return xp.asarray(((quotient + PCEN_BIAS) ** PCEN_POWER - PCEN_BIAS ** PCEN_POWER).astype(np.float32))


def normalise(log_mel, mean, std):
    """(log_mel - mean) / std, broadcasting over leading axes: (..., 80) float32."""
    return (log_mel - mean) / std


def silence_value(mean, std, pcen_input=False):
    """The normalised features of digital silence, (80,) float32: what songs are padded with.

    log(1e-7) per band for the log-mel, 0 for PCEN.
    """
    xp = array_module(mean)
    raw = 0.0 if pcen_input else np.log(spectrum.LOG_FLOOR)
    return normalise(xp.full(spectrum.MEL_BANDS, raw, np.float32), mean, std)
