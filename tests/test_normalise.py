"""svd/normalise.py: band statistics against float64 reference, stability, silence value."""
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
