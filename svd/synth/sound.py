"""Building blocks of every sound in the synthetic corpus: levels, control signals, tones, noise.

Units: time in seconds (`_s`) or in samples at SAMPLE_RATE_HZ; pitch in MIDI note
numbers (69 = A4 = 440 Hz, 12 per octave) until converted to Hz; levels in dB.
Slowly varying controls (pitch, loudness, vowel weights) are computed on a coarser
CONTROL_RATE_HZ grid and interpolated to audio rate, which keeps smoothing them cheap.
Tones are read from a wavetable: one period of a sum of harmonics, tabulated once per
instrument, with no harmonic above MAX_PARTIAL_HZ.
"""
import numpy as np
import scipy.ndimage
import scipy.signal

from svd.spectrum import SAMPLE_RATE_HZ


CONTROL_RATE_HZ = 1000          # grid of pitch and loudness contours
MAX_PARTIAL_HZ = 10000.0        # harmonics above are dropped: below Nyquist, so nothing aliases
MAX_HARMONICS = 100              # reaches MAX_PARTIAL_HZ from a 100 Hz voice
TABLE_SIZE = 4096               # samples per tabulated period in `wavetable`


def db_to_gain(level_db):
    return 10.0 ** (level_db / 20.0)


def rms(x):
    return np.sqrt(np.mean(x ** 2))


def midi_to_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def control_times(n_samples):
    """Times (n_ctrl,) in s of the control grid covering n_samples audio samples."""
    return np.arange(int(np.ceil(n_samples * CONTROL_RATE_HZ / SAMPLE_RATE_HZ)) + 1) / CONTROL_RATE_HZ


def to_audio_rate(control, n_samples):
    """Linearly interpolate a control-grid signal (n_ctrl,) to (n_samples,) at SAMPLE_RATE_HZ."""
    control_s = np.arange(len(control)) / CONTROL_RATE_HZ
    return np.interp(np.arange(n_samples) / SAMPLE_RATE_HZ, control_s, control)


def smooth(control, smooth_s):
    """Gaussian smoothing (std smooth_s seconds) of a control-grid signal."""
    return scipy.ndimage.gaussian_filter1d(control, smooth_s * CONTROL_RATE_HZ, mode="nearest")


def unit_noise(rng, n_ctrl, smooth_s):
    """Gaussian noise (n_ctrl,) on the control grid, smoothed over smooth_s, with unit std."""
    sigma = smooth_s * CONTROL_RATE_HZ
    # A unit-sum Gaussian kernel of std sigma leaves white noise a std of (2 sqrt(pi) sigma)**-0.5.
    return smooth(rng.standard_normal(n_ctrl), smooth_s) * np.sqrt(2 * np.sqrt(np.pi) * sigma)


def ramps(n_samples, attack_s, release_s):
    """Gain (n_samples,): linear rise over attack_s, 1, linear fall over release_s.

    Starts and ends one step above zero, so a note sounds from its first sample to its last.
    """
    i = np.arange(n_samples)
    rise = (i + 1) / max(attack_s * SAMPLE_RATE_HZ, 1.0)
    fall = (n_samples - i) / max(release_s * SAMPLE_RATE_HZ, 1.0)
    return np.minimum(1.0, np.minimum(rise, fall))


def harmonic_gains(tilt, n_harmonics=MAX_HARMONICS):
    """(n_harmonics,) amplitudes k**-tilt of harmonics k = 1.. (tilt 1 = -6 dB/octave)."""
    return np.arange(1, n_harmonics + 1) ** -float(tilt)


def wavetable(gains, max_f0_hz):
    """One period (TABLE_SIZE + 1,) of sum_k gains[k-1] sin(2 pi k x), x in [0, 1].

    Harmonics that would exceed MAX_PARTIAL_HZ at max_f0_hz are left out. The last
    entry repeats the first, for interpolation across the period boundary.
    """
    n_harmonics = max(1, min(len(gains), int(MAX_PARTIAL_HZ / max_f0_hz)))
    x = np.arange(TABLE_SIZE + 1) / TABLE_SIZE
    k = np.arange(1, n_harmonics + 1)
    return np.sin(2 * np.pi * np.outer(x, k)) @ gains[:n_harmonics]


def read_table(table, phase):
    """Wavetable read at phase (n,) in cycles, linearly interpolated: a tone (n,).

    Wavetable synthesis costs a few operations per sample whatever the number of
    harmonics, where summing sinusoids would cost one sine per harmonic and sample.
    """
    position = (phase % 1.0) * TABLE_SIZE
    index = position.astype(np.intp)
    fraction = position - index
    return table[index] + fraction * (table[index + 1] - table[index])


def oscillator(table, f0_hz):
    """A tone (n,) following f0_hz (n,) Hz, starting at phase 0."""
    return read_table(table, np.concatenate(([0.0], np.cumsum(f0_hz[:-1]) / SAMPLE_RATE_HZ)))


def note(table, midi, n_samples, attack_s, decay_s, release_s):
    """A fixed-pitch note (n_samples,): attack ramp, exponential decay (np.inf: none), release ramp."""
    t = np.arange(n_samples) / SAMPLE_RATE_HZ
    tone = read_table(table, midi_to_hz(midi) * t)
    return tone * np.exp(-t / decay_s) * ramps(n_samples, attack_s, release_s)


def butter_sos(order, cutoff_hz, kind):
    """Butterworth filter ('highpass' at cutoff_hz, or 'bandpass' between a pair) as sos."""
    return scipy.signal.butter(order, cutoff_hz, kind, fs=SAMPLE_RATE_HZ, output="sos")


def noise_burst(rng, sos, n_samples, decay_s):
    """Filtered white noise (n_samples,) of unit RMS, then decaying exponentially."""
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(n_samples))
    return noise / rms(noise) * np.exp(-np.arange(n_samples) / (decay_s * SAMPLE_RATE_HZ))
