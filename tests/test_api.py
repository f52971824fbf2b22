"""svd/api.py: the Python interface gives what `run.py detect` gives, takes arrays like files, and the README's
example runs as written.

The model is untrained (random weights, the corpus's statistics, a stored
threshold of 0.5): these tests compare the interface with the command line,
not the quality of the detection.
"""
import contextlib
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile

import svd
from svd import detect, labels, model_file
from svd.cli import options
from svd.util.errors import InputError
from conftest import one_song_model, write_song

ROOT = pathlib.Path(__file__).resolve().parent.parent
README_MARKER = "<!-- api-example:"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(folder, model with a stored threshold, model without one, song.wav): shared, never written to."""
    base = tmp_path_factory.mktemp("api")
    one_song_model(base, "no-threshold.npz")
    model = model_file.load(base / "no-threshold.npz")
    model.threshold = 0.5
    model_file.save(base / "model.npz", model)
    write_song(base / "corpus", "song.wav", 6.0, [(0.0, 2.0, False), (2.0, 4.5, True), (4.5, 6.0, False)], seed=5)
    return base, base / "model.npz", base / "no-threshold.npz", base / "corpus" / "audio" / "song.wav"


def readme_example():
    """The code block of README.md that follows the API example's marker."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index(README_MARKER):]
    start = after.index("```python\n") + len("```python\n")
    return after[start:after.index("```", start)]


def test_the_readme_example_runs(made, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    _, model, _, song = made
    (tmp_path / "model.npz").write_bytes(model.read_bytes())
    (tmp_path / "song.wav").write_bytes(song.read_bytes())
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), "README.md (API example)", "exec"), {"__name__": "readme_example"})
    lines = printed.getvalue().splitlines()
    assert lines[0].split()[0] == "0.000" and lines[0].split()[2] in ("sing", "nosing")
    assert "Segment(start_s=0.0" in lines[-1]
    assert (tmp_path / "song.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_import_svd_stays_light_until_the_api_is_used():
    code = ("import sys, svd\n"
            "assert 'numpy' not in sys.modules and 'svd.api' not in sys.modules, sorted(sys.modules)\n"
            "assert svd.load_model is svd.api.load_model and svd.Detector is svd.api.Detector\n"
            "assert svd.__version__\n"
            "from svd.util.errors import InputError\n"
            "assert svd.InputError is InputError  # what the API raises, without the path to its module\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        svd.nothing


def test_the_api_finds_what_detect_writes(made, tmp_path):
    _, model, _, song = made
    out = tmp_path / "out"
    assert options.main(["detect", str(model), str(song), "--out-dir", str(out), "--frames", "npy", "--min-segment",
                         "0.3", "--quiet"]) == 0
    detector = svd.load_model(model, device="cpu")
    segments = detector.segments(song, min_segment_s=0.3)
    assert [(round(start, 3), round(end, 3), label == "sing") for start, end, label in segments] \
        == labels.read_lab(out / "song.lab")
    assert all(label in ("sing", "nosing") for *_, label in segments)
    frames = np.load(out / "song.frames.npy")
    found = detector.probabilities(song)
    np.testing.assert_array_equal(frames[:, 1], found.raw)
    np.testing.assert_array_equal(frames[:, 2], found.smoothed)
    np.testing.assert_allclose(frames[:, 0], found.times_s, rtol=1e-7)  # the file's times are float32
    assert found.times_s[1] - found.times_s[0] == pytest.approx(1 / 70)


def test_an_array_is_read_like_a_file(made, tmp_path):
    _, model, _, _ = made
    rng = np.random.default_rng(2)
    samples = (0.2 * np.sin(2 * np.pi * 330 * np.arange(5 * 44100) / 44100)
               + 0.05 * rng.standard_normal(5 * 44100)).astype(np.float32)
    path = tmp_path / "at44k.wav"
    soundfile.write(path, samples, 44100)  # 16-bit PCM
    detector = svd.load_model(model, device="cpu")
    from_file = detector.probabilities(path).raw
    as_float, rate = soundfile.read(path, dtype="float32")
    as_int16, _ = soundfile.read(path, dtype="int16")
    np.testing.assert_array_equal(detector.probabilities(as_float, sample_rate=rate).raw, from_file)
    np.testing.assert_array_equal(detector.probabilities(as_int16, sample_rate=44100.0).raw, from_file)
    assert detector.detect(as_float, sample_rate=rate).path.name == "the samples"


def test_tta_averages_over_pitch_shifted_copies(made):
    _, model, _, song = made
    detector = svd.load_model(model, device="cpu")
    plain, averaged = detector.probabilities(song), detector.probabilities(song, tta=True)
    assert plain.raw.shape == averaged.raw.shape and not np.array_equal(plain.raw, averaged.raw)


STEREO = np.zeros((2, 44100), np.float32)
SHORT = np.zeros(30000, np.float32)  # 1.36 s: shorter than one network excerpt


@pytest.mark.parametrize("call, message", [
    (lambda d, song: d.segments(np.zeros(44100)), "an array needs its sample rate; pass sample_rate="),
    (lambda d, song: d.segments(STEREO, sample_rate=44100), r"need a 1-D array of mono samples, got shape \(2, 44100\)"),
    (lambda d, song: d.segments(song, sample_rate=22050), "sample_rate= is for arrays of samples"),
    (lambda d, song: d.segments(np.zeros(44100), sample_rate=0), "sample_rate=0: give the rate in Hz"),
    (lambda d, song: d.segments(np.zeros(44100), sample_rate=44100.5), "sample_rate=44100.5"),
    (lambda d, song: d.segments(SHORT, sample_rate=22050), "the samples: audio has 92 frames, shorter than one"),
    (lambda d, song: d.segments(np.full(44100, np.nan), sample_rate=22050), "NaN or infinite"),
    (lambda d, song: d.segments(np.array(["a", "b"]), sample_rate=22050), "need float samples or signed integer"),
    (lambda d, song: d.segments([[0.0, 1.0], [2.0]], sample_rate=22050), "not an array of numbers"),
    (lambda d, song: d.segments(song, threshold=1.5), r"threshold=1.5: a threshold is a probability"),
    (lambda d, song: d.segments(song, min_segment_s=-1), r"min_segment_s=-1: give a length in seconds"),
    (lambda d, song: d.segments(song.with_name("missing.wav")), "missing.wav: audio file not found"),
])
def test_mistakes_are_one_line_input_errors(made, call, message):
    _, model, _, song = made
    with pytest.raises(InputError, match=message) as error:
        call(svd.load_model(model, device="cpu"), song)
    assert "\n" not in str(error.value)


def test_a_model_without_threshold_needs_one(made):
    _, _, no_threshold, song = made
    detector = svd.load_model(no_threshold, device="cpu")
    with pytest.raises(InputError, match=r"no-threshold.npz: the model has no stored threshold; run 'python run.py "
                                         r"eval .*no-threshold.npz' once .* or pass threshold=\."):
        detector.segments(song)
    assert np.isnan(detector.threshold)
    assert detector.segments(song, threshold=0.5)[0].start_s == 0.0
    assert len(detector.probabilities(song).raw) == len(detect.read_spectrogram(song)[0])  # needs no threshold
    with pytest.raises(InputError, match="not a usable model file|no such file|not found"):
        svd.load_model(song.with_name("missing.npz"))
