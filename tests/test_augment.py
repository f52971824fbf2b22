"""Tests for svd/augment.py: the seven augmentation methods of paper Sec. 4.

Statistical tests use fixed seeds and a tolerance of 4 standard errors, so a
correct implementation fails with probability below 1e-4 for any seed, while
a wrong rate or scale (e.g. dropout with rescaling) fails by far more.
"""
import math

import numpy as np
import pytest

from svd import augment, backend, spectrum


def augment_batch(linear, *args, **kwargs):
    """augment.augment_batch with the operations the dispatch chooses for `linear`."""
    return augment.augment_batch(backend.ops(linear), linear, *args, **kwargs)

MEL_BINS = spectrum.MEL_INPUT_BINS
ZERO_MEAN = np.zeros(spectrum.MEL_BANDS, np.float32)
UNIT_STD = np.ones(spectrum.MEL_BANDS, np.float32)
# Normalising with the log-mel of an all-ones spectrogram makes the input of a
# constant spectrogram c equal to log(c) in every band (mel of c is c * row sum).
ONES_LOG_MEL = spectrum.log_mel(np.ones((1, MEL_BINS), np.float32))[0]


def harmonic_song(f0_hz=220.0, partials=10, seconds=1.0):
    """Linear spectrogram (frames, 513) of a tone with partials at f0 * k."""
    t = np.arange(int(seconds * spectrum.SAMPLE_RATE_HZ)) / spectrum.SAMPLE_RATE_HZ
    tone = sum(np.sin(2 * np.pi * f0_hz * k * t) / k for k in range(1, partials + 1))
    return spectrum.linear_spectrogram(tone.astype(np.float32))


def peak_bins(spectrum_row, threshold):
    """Bins of local maxima above threshold in a (bins,) magnitude row."""
    r = spectrum_row
    is_peak = (r[1:-1] > r[:-2]) & (r[1:-1] >= r[2:]) & (r[1:-1] > threshold)
    return np.flatnonzero(is_peak) + 1


def slow_warp(linear, pitch, stretch, out_frames, out_bins):
    """Obvious float64 reference for one example: bilinear, zeros outside."""
    frames, bins = linear.shape

    def value(t, k):
        return linear[t, k] if 0 <= t < frames and 0 <= k < bins else 0.0

    out = np.zeros((out_frames, out_bins))
    for t in range(out_frames):
        pt = frames // 2 + (t - out_frames // 2) / stretch
        for j in range(out_bins):
            pk = j / pitch
            t0, k0 = math.floor(pt), math.floor(pk)
            at, ak = pt - t0, pk - k0
            out[t, j] = ((1 - at) * (1 - ak) * value(t0, k0) + (1 - at) * ak * value(t0, k0 + 1)
                         + at * (1 - ak) * value(t0 + 1, k0) + at * ak * value(t0 + 1, k0 + 1))
    return out


# ------------------------------------------------------------------------- warping

def test_warp_matches_slow_reference_on_random_shapes():
    rng = np.random.default_rng(1)
    for _ in range(3):
        batch, frames, bins = rng.integers(1, 4), 2 * rng.integers(3, 12) + 1, rng.integers(8, 30)
        out_frames, out_bins = 2 * rng.integers(1, 6) + 1, rng.integers(4, bins + 8)
        linear = rng.random((batch, frames, bins), dtype=np.float32)
        pitch, stretch = rng.uniform(0.5, 1.5, batch), rng.uniform(0.5, 1.5, batch)
        got = augment.warp(linear, pitch, stretch, out_frames, out_bins)
        assert got.shape == (batch, out_frames, out_bins) and got.dtype == np.float32
        for b in range(batch):
            want = slow_warp(linear[b].astype(np.float64), pitch[b], stretch[b], out_frames, out_bins)
            # float32 data, weights and products: a few ulp of values below 1.
            np.testing.assert_allclose(got[b], want, atol=1e-6)


def test_pitch_shift_moves_partials_by_the_factor_and_keeps_0_hz():
    song = harmonic_song()
    row = song[len(song) // 2]
    original = peak_bins(row, 0.05 * row.max())
    assert len(original) == 10  # the ten partials of 220 Hz, 10.2 bins apart
    for factor in (0.7, 0.8, 1.2, 1.3):
        shifted = augment.pitch_shift_song(song, factor)
        assert shifted.shape == (len(song), MEL_BINS)
        np.testing.assert_array_equal(shifted[:, 0], song[:, 0])
        found = peak_bins(shifted[len(song) // 2], 0.05 * row.max())
        expected = original * factor
        expected = expected[expected < MEL_BINS - 1]
        assert len(found) == len(expected)
        assert np.all(np.abs(found - expected) <= 1.0), (factor, found, expected)
        # The batch warp does the same to an excerpt of the song.
        excerpt = song[None, 10:31]
        warped = augment.warp(excerpt, [factor], [1.0], out_frames=21)
        np.testing.assert_allclose(warped[0], shifted[10:31], atol=1e-5)


def test_time_stretch_keeps_centre_and_scales_onset_distances():
    frames, out_frames = 61, 41
    linear = np.zeros((1, frames, spectrum.LINEAR_BINS), np.float32)
    onsets = np.array([-12, -5, 0, 7, 14])  # frames from the centre
    linear[0, frames // 2 + onsets] = 1.0
    linear[0, frames // 2] *= np.arange(spectrum.LINEAR_BINS)  # a distinct centre column
    for factor in (0.7, 0.85, 1.25, 1.4):
        out = augment.warp(linear, [1.0], [factor], out_frames)[0]
        np.testing.assert_array_equal(out[out_frames // 2], linear[0, frames // 2, :MEL_BINS])
        energy = out[:, 1:].sum(axis=1)
        for d in onsets[onsets != 0]:
            expected = out_frames // 2 + d * factor
            window = np.arange(max(0, int(expected) - 2), min(out_frames, int(expected) + 4))
            brightest = window[np.argmax(energy[window])]
            assert abs(brightest - expected) <= 1.0, (factor, d, brightest, expected)


def test_factor_one_is_identity():
    rng = np.random.default_rng(2)
    linear = rng.random((3, 121, spectrum.LINEAR_BINS), dtype=np.float32) * 100
    out = augment.warp(linear, np.ones(3), np.ones(3))
    np.testing.assert_allclose(out, linear[:, 3:118, :MEL_BINS], rtol=0, atol=1e-6)
    song = linear[0]
    np.testing.assert_allclose(augment.pitch_shift_song(song, 1.0), song[:, :MEL_BINS], rtol=0, atol=1e-6)


def test_warping_never_makes_negative_magnitudes():
    rng = np.random.default_rng(3)
    linear = rng.random((8, 165, spectrum.LINEAR_BINS), dtype=np.float32)
    linear[linear < 0.5] = 0.0  # many exact zeros next to positives
    out = augment.warp(linear, rng.uniform(0.5, 1.5, 8), rng.uniform(0.7, 1.3, 8))
    assert out.min() >= 0.0


def test_source_frames_is_wide_enough_and_odd():
    assert augment.source_frames(augment.Augmentation()) == 115
    width = augment.source_frames(augment.Augmentation(time_stretch=0.3))
    assert width >= 165 and width % 2 == 1
    for stretch in (0.05, 0.1, 0.3, 0.5, 0.9):
        aug = augment.Augmentation(time_stretch=stretch)
        width = augment.source_frames(aug)
        assert width % 2 == 1
        # Squeezing by the smallest factor still reads only inside the source:
        # a source of ones stays all ones (zero fill would lower the edges).
        ones = np.ones((1, width, spectrum.LINEAR_BINS), np.float32)
        out = augment.warp(ones, [1.0], [1.0 - stretch])
        np.testing.assert_allclose(out, 1.0, atol=1e-6)


# ----------------------------------------------------------- filter and loudness

def test_filter_response_peaks_at_mu_and_is_symmetric_in_semitones():
    for mu_hz, sigma, gain in ((150.0, 5.0, 10.0), (1000.0, 6.0, -7.5), (8000.0, 7.0, 3.0)):
        semitones = np.linspace(-24, 24, 481)  # includes 0
        hz = mu_hz * 2.0 ** (semitones / 12)
        response = augment.filter_response_db(hz, mu_hz, sigma, gain)
        assert np.argmax(np.abs(response)) == 240
        assert response[240] == pytest.approx(gain, rel=1e-12)
        np.testing.assert_allclose(response, response[::-1], rtol=1e-9, atol=1e-12)
        at_sigma = augment.filter_response_db(np.array([mu_hz * 2 ** (sigma / 12)]), mu_hz, sigma, gain)
        assert at_sigma[0] == pytest.approx(gain * math.exp(-0.5), rel=1e-9)
    batched = augment.filter_response_db(np.array([0.0, 100.0]), np.array([150.0, 300.0]),
                                         np.array([5.0, 6.0]), np.array([10.0, -10.0]))
    assert batched.shape == (2, 2)
    np.testing.assert_array_equal(batched[:, 0], 0.0)  # 0 Hz: defined as 0 dB


def test_loudness_is_an_exact_log_offset_above_the_floor():
    rng = np.random.default_rng(4)
    linear = rng.random((16, 5, spectrum.LINEAR_BINS), dtype=np.float32)
    linear[:, 1] *= 1e-9  # a frame near the floor
    linear[:, 2] = 0.0  # silence stays at the floor
    aug = augment.Augmentation(loudness_db=12.0)
    out = augment_batch(linear, aug, np.random.default_rng(7), ZERO_MEAN, UNIT_STD, excerpt_frames=5)
    gain_db = augment.draw_parameters(aug, 16, np.random.default_rng(7))["loudness_db"]
    assert np.all(np.abs(gain_db) <= 12.0) and np.ptp(gain_db) > 6.0
    clean = spectrum.log_mel(linear)
    mel = np.exp(clean)
    gain = 10.0 ** (gain_db / 20.0)
    above = (mel > 1e-6) & (mel * gain[:, None, None] > 1e-6)
    assert above.mean() > 0.5
    offset = np.log(gain)[:, None, None]
    # float32 logs of values of order 1..1e3: 1e-5 is a few ulp.
    np.testing.assert_allclose(out[above], (clean + offset)[above], atol=1e-5)
    assert np.all(out[:, 2] == np.float32(math.log(spectrum.LOG_FLOOR)))


def test_filter_parameters_have_the_paper_distributions():
    n, d = 4000, 10.0
    params = augment.draw_parameters(augment.Augmentation(filter_db=d), n, np.random.default_rng(16))
    mu, sigma, gain = params["filter_mu_hz"], params["filter_sigma_semitones"], params["filter_gain_db"]
    assert np.all((mu >= 150) & (mu < 8000) & (sigma >= 5) & (sigma < 7) & (np.abs(gain) <= d))
    # Log-uniform: each half of the log range holds half the centres (a uniform
    # draw in Hz would put 93% above the geometric mean 1095 Hz); 4 standard errors.
    below = np.mean(mu < math.sqrt(150 * 8000))
    assert abs(below - 0.5) < 4 * math.sqrt(0.25 / n)
    assert abs(gain.mean()) < 4 * (2 * d / math.sqrt(12)) / math.sqrt(n)
    assert abs(sigma.mean() - 6.0) < 4 * (2 / math.sqrt(12)) / math.sqrt(n)


def test_filter_gain_is_applied_to_linear_magnitudes():
    aug = augment.Augmentation(filter_db=10.0)
    linear = np.ones((4, 3, spectrum.LINEAR_BINS), np.float32)
    params = augment.draw_parameters(aug, 4, np.random.default_rng(5))
    gains = augment.amplitude_gains(params)
    expected_db = augment.filter_response_db(np.arange(MEL_BINS) * spectrum.BIN_HZ, params["filter_mu_hz"],
                                             params["filter_sigma_semitones"], params["filter_gain_db"])
    np.testing.assert_allclose(20 * np.log10(gains), expected_db, atol=1e-4)
    assert np.all((params["filter_mu_hz"] >= 150) & (params["filter_mu_hz"] < 8000))
    assert np.all((params["filter_sigma_semitones"] >= 5) & (params["filter_sigma_semitones"] < 7))
    out = augment_batch(linear, aug, np.random.default_rng(5), ZERO_MEAN, UNIT_STD, excerpt_frames=3)
    want = spectrum.log_mel(np.broadcast_to(gains[:, None, :], (4, 3, MEL_BINS)))
    np.testing.assert_allclose(out, want, atol=1e-5)


# ----------------------------------------------------------------------- mixing

def test_mix_lies_between_a_and_b():
    rng = np.random.default_rng(6)
    a = rng.random((50, 4, 7), dtype=np.float32)
    b = rng.random((50, 4, 7), dtype=np.float32)
    c = augment.mix(a, b, rng.uniform(0, 0.5, 50))
    assert np.all(c >= np.minimum(a, b) - 1e-7) and np.all(c <= np.maximum(a, b) + 1e-7)


def test_mixing_uses_only_draw_negatives_and_respects_q():
    # 20000 examples: 4 standard errors are 0.013, so a rate off by 10% fails.
    batch, frames, q = 20000, 1, 0.3
    a_level, b_level = 1.0, 1000.0
    linear = np.full((batch, frames, spectrum.LINEAR_BINS), a_level, np.float32)
    calls = []

    def draw_negatives(n):
        calls.append(n)
        return np.full((n, frames, spectrum.LINEAR_BINS), b_level, np.float32)

    aug = augment.Augmentation(mix_prob=q)
    out = augment_batch(linear, aug, np.random.default_rng(8), ONES_LOG_MEL, UNIT_STD,
                                draw_negatives, excerpt_frames=frames)
    level = np.exp(out.astype(np.float64))  # the constant linear level of each example
    assert np.allclose(level, level[:, :1, :1], rtol=1e-4)  # one blend per example
    level = level[:, 0, 0]
    mixed = level > a_level * (1 + 1e-4)
    assert calls == [mixed.sum()]
    assert np.all(np.abs(level[~mixed] - a_level) < 1e-4)
    fraction = (level[mixed] - a_level) / (b_level - a_level)
    assert np.all((fraction >= 0) & (fraction <= 0.5 + 1e-5))
    standard_error = math.sqrt(q * (1 - q) / batch)
    assert abs(mixed.mean() - q) < 4 * standard_error
    # f ~ U(0, 0.5): mean 0.25, standard deviation 0.5 / sqrt(12).
    assert abs(fraction.mean() - 0.25) < 4 * (0.5 / math.sqrt(12)) / math.sqrt(mixed.sum())


def test_mixing_uses_the_centre_frames_of_the_raw_negative():
    width, frames = 7, 3
    silence = np.zeros((50, width, spectrum.LINEAR_BINS), np.float32)
    ramp = np.arange(1, width + 1, dtype=np.float32)[None, :, None]  # frame t has level t + 1

    def draw_negatives(n):
        return np.broadcast_to(ramp, (n, width, spectrum.LINEAR_BINS)).copy()

    out = augment_batch(silence, augment.Augmentation(mix_prob=1.0), np.random.default_rng(19),
                                ONES_LOG_MEL, UNIT_STD, draw_negatives, excerpt_frames=frames)
    level = np.exp(out.astype(np.float64))[:, :, 0]  # f * (t + 1) for the centre frames t = 2, 3, 4
    np.testing.assert_allclose(level / level[:, :1], np.broadcast_to([1.0, 4 / 3, 5 / 3], (50, 3)), rtol=1e-4)


def test_mixing_needs_draw_negatives():
    linear = np.ones((2, 115, spectrum.LINEAR_BINS), np.float32)
    with pytest.raises(ValueError, match="draw_negatives"):
        augment_batch(linear, augment.Augmentation(mix_prob=0.5), np.random.default_rng(0),
                              ZERO_MEAN, UNIT_STD)


# ------------------------------------------------------------ noise and dropout

def constant_input(batch, frames):
    """Linear ones, normalised so that every clean network input is exactly 1."""
    linear = np.ones((batch, frames, spectrum.LINEAR_BINS), np.float32)
    return linear, (ONES_LOG_MEL - 1.0).astype(np.float32)


def test_input_dropout_zeroes_at_rate_p_without_rescaling():
    p = 0.2
    linear, mean = constant_input(500, 5)
    out = augment_batch(linear, augment.Augmentation(input_dropout=p), np.random.default_rng(9),
                                mean, UNIT_STD, excerpt_frames=5)
    dropped = out == 0.0
    assert np.all(np.abs(out[~dropped] - 1.0) < 1e-5)  # survivors untouched
    standard_error = math.sqrt(p * (1 - p) / out.size)
    assert abs(dropped.mean() - p) < 4 * standard_error


def test_gaussian_noise_has_sigma():
    sigma = 0.2
    linear, mean = constant_input(500, 5)
    out = augment_batch(linear, augment.Augmentation(noise_sigma=sigma), np.random.default_rng(10),
                                mean, UNIT_STD, excerpt_frames=5)
    noise = out.astype(np.float64) - 1.0
    n = noise.size
    assert abs(noise.mean()) < 4 * sigma / math.sqrt(n)
    # Standard error of a sample standard deviation of normals: sigma / sqrt(2n).
    assert abs(noise.std() - sigma) < 4 * sigma / math.sqrt(2 * n)


# ------------------------------------------------------------------ batch entry

def test_paper_combination_batch_shape_and_reproducibility():
    aug = augment.PAPER_COMBINATION
    assert (aug.pitch_shift, aug.time_stretch, aug.filter_db) == (0.3, 0.3, 10.0)
    width = augment.source_frames(aug)
    linear = np.random.default_rng(11).random((6, width, spectrum.LINEAR_BINS), dtype=np.float32)
    mean = np.random.default_rng(12).normal(size=80).astype(np.float32)
    std = np.random.default_rng(13).uniform(0.5, 2, size=80).astype(np.float32)
    first = augment_batch(linear, aug, np.random.default_rng(42), mean, std)
    again = augment_batch(linear, aug, np.random.default_rng(42), mean, std)
    other = augment_batch(linear, aug, np.random.default_rng(43), mean, std)
    assert first.shape == (6, 115, 80) and first.dtype == np.float32
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_all_methods_together_are_reproducible():
    aug = augment.Augmentation(input_dropout=0.1, noise_sigma=0.1, pitch_shift=0.2, time_stretch=0.2,
                               loudness_db=6.0, filter_db=6.0, mix_prob=0.5)
    width = augment.source_frames(aug)
    linear = np.random.default_rng(14).random((5, width, spectrum.LINEAR_BINS), dtype=np.float32)

    def run(seed):
        rng = np.random.default_rng(seed)

        def draw_negatives(n):  # the lead's version may draw from the same generator
            return rng.random((n, width, spectrum.LINEAR_BINS), dtype=np.float32)

        return augment_batch(linear, aug, rng, ZERO_MEAN, UNIT_STD, draw_negatives)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))


@pytest.mark.parametrize("aug", [
    augment.Augmentation(time_stretch=0.3), augment.Augmentation(pitch_shift=0.2),
    augment.Augmentation(pitch_shift=0.3, time_stretch=0.2, filter_db=10.0, loudness_db=6.0)])
def test_batch_composes_warp_then_gains_then_log_mel(aug):
    width = augment.source_frames(aug)
    linear = np.random.default_rng(17).random((4, width, spectrum.LINEAR_BINS), dtype=np.float32)
    out = augment_batch(linear, aug, np.random.default_rng(18), ZERO_MEAN, UNIT_STD)
    params = augment.draw_parameters(aug, 4, np.random.default_rng(18))
    warped = augment.warp(linear, params["pitch_factors"], params["stretch_factors"])
    want = spectrum.log_mel(warped * augment.amplitude_gains(params)[:, None, :])
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_no_augmentation_is_plain_normalised_log_mel():
    rng = np.random.default_rng(15)
    linear = rng.random((3, 115, spectrum.LINEAR_BINS), dtype=np.float32)
    mean = rng.normal(size=80).astype(np.float32)
    std = rng.uniform(0.5, 2, size=80).astype(np.float32)
    out = augment_batch(linear, augment.Augmentation(), rng, mean, std)
    np.testing.assert_allclose(out, (spectrum.log_mel(linear) - mean) / std, atol=1e-5)


@pytest.mark.parametrize("field, value", [
    ("time_stretch", 1.0), ("time_stretch", -0.1), ("pitch_shift", 1.5), ("input_dropout", 1.2),
    ("noise_sigma", -1.0), ("loudness_db", float("nan")), ("filter_db", float("inf")), ("mix_prob", -0.5)])
def test_invalid_strengths_raise_value_error(field, value):
    with pytest.raises(ValueError, match=field):
        augment.Augmentation(**{field: value})


def test_wrong_source_width_raises_value_error():
    linear = np.ones((2, 115, spectrum.LINEAR_BINS), np.float32)
    with pytest.raises(ValueError, match="source_frames"):
        augment_batch(linear, augment.PAPER_COMBINATION, np.random.default_rng(0),
                              ZERO_MEAN, UNIT_STD)
