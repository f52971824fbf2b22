"""svd/audio.py: decoding, downmix, anti-aliased resampling, clear errors."""
import numpy as np
import pytest
import soundfile

from svd import audio
from svd.util.errors import InputError


def tone(freq_hz, rate_hz, seconds, amplitude):
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def peak_frequency_hz(samples, rate_hz=22050):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * rate_hz / len(samples)


@pytest.mark.parametrize("rate_hz", [44100, 48000, 16000, 22050])
def test_resampling_keeps_a_tones_frequency_and_level(tmp_path, rate_hz):
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(1000.0, rate_hz, 2.0, 0.5), rate_hz, subtype="FLOAT")
    samples = audio.load(path)
    assert samples.dtype == np.float32
    assert len(samples) == pytest.approx(2.0 * 22050, abs=2)
    assert peak_frequency_hz(samples) == pytest.approx(1000.0, abs=1.0)
    middle = samples[2000:-2000]  # away from the filter's edge transients
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_tones_above_the_new_nyquist_are_filtered_not_aliased(tmp_path):
    path = tmp_path / "high.wav"
    soundfile.write(path, tone(15000.0, 44100, 1.0, 0.5), 44100, subtype="FLOAT")
    samples = audio.load(path)[2000:-2000]
    # Aliasing would put a 0.5-amplitude tone at 22050 - 15000 = 7050 Hz.
    assert np.sqrt(np.mean(samples ** 2)) < 1e-3


def test_stereo_is_downmixed_by_averaging(tmp_path):
    path = tmp_path / "stereo.flac"
    left = tone(500.0, 22050, 1.0, 0.4)
    soundfile.write(path, np.stack([left, np.zeros_like(left)], axis=1), 22050)
    np.testing.assert_allclose(audio.load(path), left / 2, atol=1e-4)  # 16-bit FLAC quantisation


@pytest.mark.parametrize("suffix", [".ogg", ".mp3", ".flac"])
def test_compressed_formats_and_utf8_names_load(tmp_path, suffix):
    path = tmp_path / f"Séculaire_Nÿme{suffix}"
    soundfile.write(path, tone(440.0, 44100, 1.0, 0.3), 44100)
    samples = audio.load(path)
    assert peak_frequency_hz(samples[:16384]) == pytest.approx(440.0, abs=3.0)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        audio.load(tmp_path / "nope.wav")


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    with pytest.raises(InputError, match="broken.wav: cannot decode"):
        audio.load(path)


def test_nan_samples_are_refused(tmp_path):
    path = tmp_path / "nan.wav"
    samples = tone(440.0, 22050, 0.5, 0.3)
    samples[100] = np.nan
    soundfile.write(path, samples, 22050, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        audio.load(path)


@pytest.mark.parametrize("rate_hz", [1, 7, 2_147_483_647])
def test_a_header_with_an_absurd_sample_rate_is_refused(tmp_path, rate_hz):
    """A 264 KB WAV saying 1 Hz killed a whole detect job with a MemoryError (issue 29)."""
    path = tmp_path / "odd.wav"
    soundfile.write(path, np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[24:28] = rate_hz.to_bytes(4, "little")  # the fmt chunk's sample rate
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=f"sample rate is {rate_hz} Hz, outside the 4000-768000 Hz"):
        audio.load(path)


def test_an_unreadable_audio_file_says_permission_not_damage(tmp_path, monkeypatch):
    """Mode 000 audio was called damaged by detect and a traceback elsewhere (issue 29); os.access is
    patched because the tests may run as root, whom permissions do not stop."""
    path = tmp_path / "locked.wav"
    soundfile.write(path, np.zeros(30000, np.float32), 22050)
    monkeypatch.setattr(audio.os, "access", lambda p, mode: False)
    with pytest.raises(InputError, match="cannot be read \\(permission denied\\); give your user read access"):
        audio.load(path)


def test_the_channel_by_channel_mixdown_is_numpy_s_mean_to_the_bit_for_one_and_two_channels():
    rng = np.random.default_rng(8)
    for channels in (1, 2, 6):
        block = rng.uniform(-1, 1, (10_001, channels)).astype(np.float32)
        mixed = audio._mixed_down(block)
        assert mixed.dtype == np.float32 and mixed.shape == (10_001,)
        if channels <= 2:
            np.testing.assert_array_equal(mixed, block.mean(axis=1))
        else:
            np.testing.assert_allclose(mixed, block.mean(axis=1), atol=1e-6)
