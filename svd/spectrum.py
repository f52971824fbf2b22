"""From samples to the network's input: STFT magnitudes, mel filterbank, log (paper Sec. 3.1).

The framing convention, used everywhere (labels, training, prediction):
frame i covers samples [i*HOP_SAMPLES, i*HOP_SAMPLES + FRAME_SAMPLES) of the
22050 Hz signal, no centring, no padding; its time stamp is the centre of that
window, (i*315 + 512) / 22050 seconds. A signal of n samples has
1 + (n - 1024) // 315 frames (none if n < 1024).

The linear magnitude spectrogram keeps all 513 bins of the 1024-point DFT
(0 Hz to 11025 Hz, 21.5 Hz apart) because the augmentations of Sec. 4.2 warp
it before the mel filterbank is applied, and a downward pitch shift by 30%
reads source bins up to 8 kHz / 0.7 = 11.4 kHz. The mel filterbank reads only
the MEL_INPUT_BINS = 372 bins up to 8 kHz (0 Hz .. 7988.6 Hz).

Mel scale: the HTK formula mel(f) = 1127 * ln(1 + f / 700). The 80 filters
are triangles with peak 1 (no area normalisation), their edges and centres
82 points equally spaced in mel from 27.5 Hz to 8 kHz: filter m rises from
edge m to 1 at centre m+1 and falls to 0 at edge m+2, evaluated at the linear
bin frequencies k * 22050 / 1024.
"""
import numpy as np

from svd.util.arrays import array_module

# Paper Sec. 3.1.
SAMPLE_RATE_HZ = 22050
FRAME_SAMPLES = 1024
HOP_SAMPLES = 315
FRAME_RATE_HZ = SAMPLE_RATE_HZ / HOP_SAMPLES  # 70 frames per second
MEL_BANDS = 80
MEL_MIN_HZ = 27.5
MEL_MAX_HZ = 8000.0
LOG_FLOOR = 1e-7

BIN_HZ = SAMPLE_RATE_HZ / FRAME_SAMPLES
LINEAR_BINS = FRAME_SAMPLES // 2 + 1  # 513 bins: 0 Hz .. 11025 Hz
MEL_INPUT_BINS = int(MEL_MAX_HZ // BIN_HZ) + 1  # 372 bins: 0 Hz .. 7988.6 Hz

# Frames per STFT block, so a one-hour recording never needs its whole
# (frames, 1024) frame matrix in memory at once.
_STFT_BLOCK_FRAMES = 4096


def frame_count(n_samples):
    """Number of whole frames in a signal of `n_samples` samples (0 if shorter than one frame)."""
    if n_samples < FRAME_SAMPLES:
        return 0
    return 1 + (n_samples - FRAME_SAMPLES) // HOP_SAMPLES


def frame_times_s(n_frames):
    """Centre time in seconds of each frame: (n_frames,) float64."""
    return (np.arange(n_frames) * HOP_SAMPLES + FRAME_SAMPLES / 2) / SAMPLE_RATE_HZ


def hann_window():
    """The periodic ("DFT-even") Hann window, (1024,) float32; it sums to 512.

    w[n] = 0.5 - 0.5 cos(2 pi n / N), n = 0 .. N-1, N = 1024 (scipy.signal.get_window("hann", N) to the bit).
    """
    n = np.arange(FRAME_SAMPLES)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / FRAME_SAMPLES)).astype(np.float32)


def linear_spectrogram(samples):
    """STFT magnitudes, all bins.

    samples: (n,) float32 at 22050 Hz.
    Returns (frame_count(n), LINEAR_BINS) float32, |DFT| of the Hann-windowed
    frames, unnormalised: a sinusoid of amplitude A centred on a bin shows
    A * 512 / 2 = 256 A there.
    """
    import scipy.fft  # here, not at the top: loading it takes ~0.5 s that `run.py --help` should not pay
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    n_frames = frame_count(len(samples))
    out = np.empty((n_frames, LINEAR_BINS), np.float32)
    window = hann_window()
    for start in range(0, n_frames, _STFT_BLOCK_FRAMES):
        stop = min(start + _STFT_BLOCK_FRAMES, n_frames)
        first = start * HOP_SAMPLES
        span = samples[first:(stop - 1) * HOP_SAMPLES + FRAME_SAMPLES]
        frames = np.lib.stride_tricks.sliding_window_view(span, FRAME_SAMPLES)[::HOP_SAMPLES]
        spectrum = scipy.fft.rfft(frames * window, axis=1)
        out[start:stop] = np.abs(spectrum)
    return out


def hz_to_mel(f_hz):
    """HTK mel scale: 1127 * ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(f_hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of `hz_to_mel`."""
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def mel_band_edges_hz():
    """The 82 edge/centre frequencies of the filterbank in Hz: (MEL_BANDS + 2,) float64."""
    return mel_to_hz(np.linspace(hz_to_mel(MEL_MIN_HZ), hz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2))


def mel_filterbank():
    """Triangular mel filters over the bins up to 8 kHz: (MEL_INPUT_BINS, MEL_BANDS) float32, peak 1."""
    edges = mel_band_edges_hz()
    bins_hz = np.arange(MEL_INPUT_BINS) * BIN_HZ
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_hz[:, None] - lower) / (centre - lower)
    falling = (upper - bins_hz[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def mel(linear, filterbank=None):
    """Mel magnitudes of a linear spectrogram.

    linear: (..., bins) float32 magnitudes with bins >= MEL_INPUT_BINS (only
    the bins up to 8 kHz are read), a NumPy or CuPy array; returns (...,
    MEL_BANDS) float32 on the same device. filterbank: `mel_filterbank()` by
    default; pass it on the device to save the copy.
    """
    xp = array_module(linear)
    if filterbank is None:
        filterbank = mel_filterbank()
    return linear[..., :MEL_INPUT_BINS] @ xp.asarray(filterbank)


def log_mel(linear, filterbank=None):
    """log(max(mel, 1e-7)) of a linear spectrogram: arguments and result as for `mel`."""
    xp = array_module(linear)
    return xp.log(xp.maximum(mel(linear, filterbank), xp.float32(LOG_FLOOR)))
