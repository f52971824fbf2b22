"""svd/spectrum.py against analytic signals: sinusoid peaks, framing, mel filterbank geometry."""
import numpy as np
import pytest

from svd import spectrum


def test_frame_count_follows_the_documented_convention():
    assert spectrum.frame_count(1023) == 0
    assert spectrum.frame_count(1024) == 1
    assert spectrum.frame_count(1024 + 314) == 1
    assert spectrum.frame_count(1024 + 315) == 2
    assert spectrum.frame_count(22050) == 1 + (22050 - 1024) // 315


@pytest.mark.parametrize("k, amplitude", [(10, 1.0), (93, 0.25), (371, 0.5)])
def test_stft_of_a_bin_centred_sinusoid_peaks_at_that_bin_with_magnitude_256_a(k, amplitude):
    n = 1024 + 315 * 20
    t = np.arange(n)
    samples = (amplitude * np.cos(2 * np.pi * k * t / 1024)).astype(np.float32)
    linear = spectrum.linear_spectrogram(samples)
    assert linear.shape == (21, spectrum.LINEAR_BINS)
    assert np.all(np.argmax(linear, axis=1) == k)
    # Periodic Hann sums to 512: a cosine of amplitude A gives A*512/2 (float32 FFT: rel. 1e-4).
    np.testing.assert_allclose(linear[:, k], 256 * amplitude, rtol=1e-4)
    # The window's sidelobes fall off fast: two bins away is over 60 dB down.
    assert np.all(linear[:, k + 2] < 1e-3 * linear[:, k])


def test_frame_i_covers_samples_i_hop_to_i_hop_plus_1024():
    samples = np.zeros(1024 + 315 * 5, np.float32)
    samples[3 * 315 + 1023] = 1.0  # the last sample of frame 3 (also inside frames 4 and 5)
    linear = spectrum.linear_spectrogram(samples)
    energy = linear.sum(axis=1)
    covering = [i for i in range(6) if i * 315 <= 3 * 315 + 1023 < i * 315 + 1024]
    assert covering == [3, 4, 5]
    assert [i for i in range(6) if energy[i] > 0] == covering


def test_frame_times_are_window_centres():
    np.testing.assert_allclose(spectrum.frame_times_s(3), (np.arange(3) * 315 + 512) / 22050)


def test_mel_scale_is_htk_and_invertible():
    assert spectrum.hz_to_mel(700.0) == pytest.approx(1127 * np.log(2))
    f = np.array([27.5, 440.0, 8000.0])
    np.testing.assert_allclose(spectrum.mel_to_hz(spectrum.hz_to_mel(f)), f)


def test_mel_edges_span_27_5_hz_to_8_khz_equally_spaced_in_mel():
    edges = spectrum.mel_band_edges_hz()
    assert len(edges) == 82
    assert edges[0] == pytest.approx(27.5) and edges[-1] == pytest.approx(8000.0)
    np.testing.assert_allclose(np.diff(spectrum.hz_to_mel(edges)), np.diff(spectrum.hz_to_mel(edges))[0])


def test_mel_filters_are_unit_peak_triangles_at_the_documented_frequencies():
    fb = spectrum.mel_filterbank()
    edges = spectrum.mel_band_edges_hz()
    bins_hz = np.arange(spectrum.MEL_INPUT_BINS) * spectrum.BIN_HZ
    assert fb.shape == (372, 80) and fb.dtype == np.float32
    assert fb.max() <= 1.0 and np.all(fb.max(axis=0) > 0)  # every filter sees at least one bin
    for m in (0, 40, 79):
        lower, centre, upper = edges[m], edges[m + 1], edges[m + 2]
        inside = (bins_hz > lower) & (bins_hz < upper)
        assert np.all(fb[~inside, m] == 0)
        k = np.flatnonzero(inside)
        expected = np.where(bins_hz[k] <= centre, (bins_hz[k] - lower) / (centre - lower),
                            (upper - bins_hz[k]) / (upper - centre))
        np.testing.assert_allclose(fb[k, m], expected, rtol=1e-6)
    # Upper filters are wide enough to contain a bin near their centre: peak close to 1.
    assert fb[:, 79].max() > 0.9


def test_log_mel_clips_at_1e_7_and_reads_only_bins_up_to_8_khz():
    linear = np.zeros((2, spectrum.LINEAR_BINS), np.float32)
    linear[1, 400:] = 1e6  # above 8 kHz: must be ignored
    out = spectrum.log_mel(linear)
    assert out.shape == (2, 80) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.log(1e-7), rtol=1e-6)
