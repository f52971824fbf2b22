"""svd/normalise.py: band statistics against float64 reference, stability, silence value, per-recording, PCEN."""
import numpy as np

from svd import normalise, spectrum


def test_statistics_equal_the_float64_reference_over_all_frames():
    rng = np.random.default_rng(0)
    songs = [rng.normal(rng.normal(size=80), 2.0, size=(rng.integers(5, 200), 80)).astype(np.float32)
             for _ in range(5)]
    mean, std = normalise.band_statistics(songs)
    everything = np.concatenate(songs).astype(np.float64)
    np.testing.assert_allclose(mean, everything.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(std, everything.std(axis=0), rtol=1e-5)
    assert mean.dtype == std.dtype == np.float32


def test_statistics_are_stable_for_a_large_offset_and_tiny_spread():
    # Naive float32 E[x^2] - E[x]^2 loses all digits here (offset 1e4, spread 1e-2).
    rng = np.random.default_rng(1)
    songs = [(1e4 + 1e-2 * rng.standard_normal((2000, 80))).astype(np.float64) for _ in range(3)]
    _, std = normalise.band_statistics(songs)
    reference = np.concatenate(songs).std(axis=0)
    np.testing.assert_allclose(std, reference, rtol=1e-3)


def test_silence_normalises_the_log_floor():
    mean = np.arange(80, dtype=np.float32)
    std = np.full(80, 2.0, np.float32)
    np.testing.assert_allclose(normalise.silence_value(mean, std), (np.log(spectrum.LOG_FLOOR) - mean) / 2,
                               rtol=1e-6)


def test_a_recording_standardised_by_its_own_statistics_forgets_its_level():
    """recording_features: zero mean and unit deviation per band; a gain on the audio changes nothing; a band
    that never changes stays constant (its deviation floored) instead of amplifying rounding."""
    rng = np.random.default_rng(4)
    linear = rng.uniform(0.01, 1.0, (300, 513)).astype(np.float32)
    linear[:, 200:] = 0.0  # bands above the last bin with energy: digital silence
    own = normalise.recording_features(linear, True)
    loud = normalise.recording_features(linear * np.float32(50.0), True)
    live = np.flatnonzero(normalise.recording_statistics(spectrum.log_mel(linear))[1] > normalise.MIN_RECORDING_STD)
    assert 20 < len(live) < 80  # some bands are silent, some are not: both rules are tested
    np.testing.assert_allclose(own.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(own[:, live].std(axis=0), 1, rtol=1e-4)
    np.testing.assert_allclose(loud[:, live], own[:, live], atol=2e-4)
    assert np.abs(own[:, live[-1] + 1:]).max() == 0
    np.testing.assert_array_equal(normalise.recording_features(linear, False), spectrum.log_mel(linear))


def _pcen_by_loop(energy):
    """PCEN written out frame by frame in float64: the reference for the filtered one."""
    s = normalise.pcen_smoothing()
    smooth = np.empty_like(energy)
    previous = energy[0]
    for t, frame in enumerate(energy):
        previous = smooth[t] = (1 - s) * previous + s * frame
    quotient = energy / (normalise.PCEN_EPS + smooth) ** normalise.PCEN_GAIN
    return (quotient + normalise.PCEN_BIAS) ** normalise.PCEN_POWER - normalise.PCEN_BIAS ** normalise.PCEN_POWER


def test_pcen_equals_the_frame_by_frame_definition_and_maps_silence_and_steady_bands_analytically():
    """Against a loop over frames; a band that is constant c from the start has M = c, so its value is
    (c / (eps + c)^alpha + delta)^r - delta^r; digital silence is 0; the smoother forgets a step by 1/e in
    0.4 s (28 frames at 70 frames per second)."""
    rng = np.random.default_rng(5)
    energy = rng.uniform(0.0, 20.0, (400, 80)).astype(np.float32)
    energy[:, 3] = 0.0
    energy[:, 4] = 2.5
    out = normalise.pcen(energy)
    assert out.shape == (400, 80) and out.dtype == np.float32
    np.testing.assert_allclose(out, _pcen_by_loop(energy.astype(np.float64)), rtol=1e-5, atol=1e-6)
    assert np.all(out[:, 3] == 0)
    steady = (2.5 / (1e-6 + 2.5) ** 0.98 + 2.0) ** 0.5 - 2.0 ** 0.5
    np.testing.assert_allclose(out[:, 4], steady, rtol=1e-6)
    frames = normalise.PCEN_TIME_CONSTANT_S * spectrum.FRAME_RATE_HZ
    assert abs((1 - normalise.pcen_smoothing()) ** frames - np.exp(-1)) < 1e-3
    np.testing.assert_array_equal(normalise.silence_value(np.zeros(80, np.float32), np.ones(80, np.float32), True), 0)


def test_pcen_divides_out_all_but_a_small_power_of_a_gain():
    """A gain g on the mel magnitudes multiplies E / (eps + M)^alpha by g^(1 - alpha) (eps aside): recovered
    exactly from the outputs, 100^0.02 = 1.096 for 40 dB, where the log-mel moves by log(100) = 4.6."""
    rng = np.random.default_rng(6)
    energy = rng.uniform(0.5, 20.0, (300, 80))

    def quotient(out):
        return (out.astype(np.float64) + normalise.PCEN_BIAS ** normalise.PCEN_POWER) ** (1 / normalise.PCEN_POWER) \
            - normalise.PCEN_BIAS

    ratio = quotient(normalise.pcen(energy * 100.0)) / quotient(normalise.pcen(energy))
    np.testing.assert_allclose(ratio, 100.0 ** (1 - normalise.PCEN_GAIN), rtol=1e-4)
