"""The README's "Label formats and frame convention": frame times and counts, and the librosa equivalence it
states (checked only where librosa happens to be installed; it is never a dependency)."""
import numpy as np
import pytest

from svd import spectrum


def test_frame_i_covers_315_i_to_315_i_plus_1024_and_is_stamped_with_its_centre():
    assert spectrum.FRAME_RATE_HZ == 70
    for n_samples in (1024, 1338, 1339, 22050, 22050 * 60 + 7):
        assert spectrum.frame_count(n_samples) == 1 + (n_samples - 1024) // 315
        last = spectrum.frame_count(n_samples) - 1
        assert 315 * last + 1024 <= n_samples < 315 * (last + 1) + 1024
    assert spectrum.frame_times_s(3).tolist() == [512 / 22050, 827 / 22050, 1142 / 22050]


def test_the_features_equal_librosa_with_the_stated_options():
    librosa = pytest.importorskip("librosa")
    bank = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=27.5, fmax=8000, htk=True, norm=None)
    assert not bank[:, spectrum.MEL_INPUT_BINS:].any()  # nothing above 8 kHz
    np.testing.assert_array_equal(bank[:, :spectrum.MEL_INPUT_BINS].T, spectrum.mel_filterbank())  # bit-identical
    samples = 0.1 * np.random.default_rng(0).standard_normal(22050 * 3).astype(np.float32)
    theirs = np.abs(librosa.stft(samples, n_fft=1024, hop_length=315, window="hann", center=False)).T
    ours = spectrum.linear_spectrogram(samples)
    assert theirs.shape == ours.shape
    # float32 FFTs of 1024 points: rounding of a few 1e-7 of the largest magnitude (the README states 2.2e-7)
    assert np.abs(theirs - ours).max() <= 5e-7 * np.abs(theirs).max()
    frames = np.arange(5)
    np.testing.assert_allclose(librosa.frames_to_time(frames, sr=22050, hop_length=315, n_fft=1024),
                               spectrum.frame_times_s(5), rtol=0, atol=1e-12)
