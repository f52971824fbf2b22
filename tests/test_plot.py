"""svd/plot.py and `run.py show-augment`: the augmentation picture (paper Fig. 1) and its input checks."""
import numpy as np
import pytest
import soundfile

from svd import cli
from svd import normalise, plot, spectrum


def write_tone(path, seconds=3.0, rate_hz=22050):
    """A 440 Hz tone with a little noise: enough structure for every panel."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    samples = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    soundfile.write(path, samples.astype(np.float32), rate_hz)
    return path


def test_show_augment_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    tone = write_tone(tmp_path / "tone.wav")
    assert cli.main(["show-augment", str(tone), "--at", "1.0", "--out", str(tmp_path / "aug.png")]) == 0
    written = (tmp_path / "aug.png").read_bytes()
    assert written[:8] == b"\x89PNG\r\n\x1a\n" and len(written) > 10_000
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("at", ["3.5", "-0.1"])
def test_a_time_outside_the_song_is_a_clear_error(tmp_path, capsys, at):
    tone = write_tone(tmp_path / "tone.wav")
    assert cli.main(["show-augment", str(tone), "--at", at, "--out", str(tmp_path / "aug.png")]) == 2
    assert f"--at {float(at):g}: outside" in capsys.readouterr().err
    assert not (tmp_path / "aug.png").exists()


def test_the_unchanged_panel_is_the_songs_normalised_excerpt():
    rng = np.random.default_rng(1)
    linear = rng.random((300, spectrum.LINEAR_BINS), dtype=np.float32)
    views, source, curves_db, partner = plot._augmented_views(linear, centre_frame=100, seed=0)
    mean, std = normalise.band_statistics([spectrum.log_mel(linear)])
    expected = normalise.normalise(spectrum.log_mel(linear[100 - 57:100 + 58]), mean, std)
    assert views[0][0] == "(b) original"
    np.testing.assert_allclose(views[0][1], expected, rtol=1e-5, atol=1e-5)  # float32 mel products
    assert all(v.shape == (115, spectrum.MEL_BANDS) and np.isfinite(v).all() for _, v in views)
    assert len(views) == 12 and curves_db.shape == (50, spectrum.MEL_INPUT_BINS)
    assert abs(partner - 100) >= 115  # mixed with another part of the song
