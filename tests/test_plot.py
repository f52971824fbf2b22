"""svd/cli/plot.py and `run.py show-augment`: the augmentation picture (paper Fig. 1) and its input checks."""
import pathlib

import numpy as np
import pytest
import soundfile

from svd import normalise, spectrum
from svd.cli import options, plot


def write_tone(path, seconds=3.0, rate_hz=22050):
    """A 440 Hz tone with a little noise: enough structure for every panel."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    samples = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    soundfile.write(path, samples.astype(np.float32), rate_hz)
    return path


def test_show_augment_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    tone = write_tone(tmp_path / "tone.wav")
    assert options.main(["show-augment", str(tone), "--at", "1.0", "--out", str(tmp_path / "aug.png")]) == 0
    written = (tmp_path / "aug.png").read_bytes()
    assert written[:8] == b"\x89PNG\r\n\x1a\n" and len(written) > 10_000
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("at", ["3.5", "-0.1"])
def test_a_time_outside_the_song_is_a_clear_error(tmp_path, capsys, at):
    tone = write_tone(tmp_path / "tone.wav")
    assert options.main(["show-augment", str(tone), "--at", at, "--out", str(tmp_path / "aug.png")]) == 2
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


# ------------------------------------------------ detect --plot: axes a musician reads at once

def a_detection(seconds=95.0, seed=0):
    """A Detection of `seconds` of made-up probabilities (the picture needs no network)."""
    from svd import detect, evaluate, labels
    rng = np.random.default_rng(seed)
    n_frames = spectrum.frame_count(int(seconds * spectrum.SAMPLE_RATE_HZ))
    raw = np.clip(np.repeat(rng.random(n_frames // 70 + 1), 70)[:n_frames]
                  + 0.1 * rng.standard_normal(n_frames), 0, 1).astype(np.float32)
    smoothed = evaluate.median_smooth(raw)
    is_sing = smoothed >= 0.5
    return detect.Detection(pathlib.Path("song.wav"), rng.standard_normal((n_frames, 80)).astype(np.float32), raw,
                            smoothed, is_sing, labels.frames_to_segments(is_sing, seconds), 0.5)


def time_tick_texts(axes):
    """The tick labels of the time axis that lie inside the view (the locator also places some outside)."""
    low, high = axes.get_xlim()
    return [label.get_text() for label in axes.get_xticklabels() if low <= label.get_position()[0] <= high]


def boxes_overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_detection_picture_has_hz_m_ss_and_a_legend_beside_the_curves():
    pytest.importorskip("matplotlib")
    figure = plot.detection_figure(a_detection())
    figure.canvas.draw()
    top, bottom = figure.axes
    # Frequency in Hz, each tick where that frequency lies on the mel axis (band k spans [k, k+1]).
    assert top.get_ylabel() == "frequency (Hz)"
    ticks = dict(zip([label.get_text() for label in top.get_yticklabels()], top.get_yticks()))
    assert {"100", "500", "1k", "4k", "8k"} <= set(ticks)
    # Band k's centre lies k + 1 equal mel steps above 27.5 Hz (82 edges up to 8 kHz) and is drawn at k + 0.5.
    def mel(f_hz):
        return 1127 * np.log(1 + f_hz / 700)  # HTK
    step = (mel(8000) - mel(27.5)) / 81
    for text, f_hz in (("100", 100), ("1k", 1000), ("4k", 4000)):
        assert ticks[text] == pytest.approx((mel(f_hz) - mel(27.5)) / step - 0.5, abs=1e-9)
    # Time as m:ss at round steps, on both panels (shared axis).
    texts = time_tick_texts(bottom)
    assert texts[:3] == ["0:00", "0:10", "0:20"] and "1:30" in texts
    assert "m:ss" in bottom.get_xlabel()
    # The legend is outside both panels and names every curve.
    legend = figure.legends[0]
    names = [text.get_text() for text in legend.get_texts()]
    assert names == ["singing detected", "raw probability", "smoothed (800 ms median)", "threshold 0.50"]
    box = legend.get_window_extent()
    assert not any(boxes_overlap(box, axes.get_window_extent()) for axes in figure.axes)
    plot.pyplot().close(figure)


@pytest.mark.parametrize("seconds, step", [(3, "0:01"), (30, "0:05"), (240, "0:30"), (1200, "2:00")])
def test_time_ticks_are_round_steps(seconds, step):
    pytest.importorskip("matplotlib")
    figure = plot.detection_figure(a_detection(seconds))
    figure.canvas.draw()
    texts = time_tick_texts(figure.axes[1])
    assert texts[0] == "0:00" and texts[1] == step and len(texts) <= 13
    plot.pyplot().close(figure)


def test_minutes_seconds():
    assert [plot.minutes_seconds(s) for s in (0, 9.6, 59.4, 60, 75 * 60 + 1)] == ["0:00", "0:10", "0:59", "1:00",
                                                                                     "75:01"]


def test_a_song_without_singing_still_explains_the_green():
    pytest.importorskip("matplotlib")
    detection = a_detection(5)
    detection.is_sing[:] = False
    detection.segments = [(0.0, 5.0, False)]
    figure = plot.detection_figure(detection)
    assert "singing detected (none)" in [text.get_text() for text in figure.legends[0].get_texts()]
    plot.pyplot().close(figure)


# ------------------------------------------------ show-augment: panels in reading order, a legible legend

def test_figure_1_panels_are_in_reading_order_with_the_original_first():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    figure = plot.augmentation_figure(rng.random((300, spectrum.LINEAR_BINS), dtype=np.float32), 150, seed=0)
    figure.canvas.draw()
    panels = [axes for axes in figure.axes if axes.get_subplotspec() is not None and axes.get_title()]
    panels.sort(key=lambda axes: (axes.get_subplotspec().rowspan.start, axes.get_subplotspec().colspan.start))
    titles = [axes.get_title() for axes in panels]
    assert len(titles) == 14 and titles[0].startswith("(a) linear spectrogram") and titles[1] == "(b) original"
    letters = [title[1] for title in titles if title.startswith("(")]
    assert letters == sorted(letters) and letters[-1] == "h"  # (a) ... (h) left to right, top to bottom
    assert titles[-1].startswith("mixed with the excerpt")
    # The crop legend: readable type, covering no panel.
    legend = panels[0].get_legend()
    assert legend.get_texts()[0].get_fontsize() >= 9
    assert [text.get_text() for text in legend.get_texts()] == ["×1 (unchanged)", "×0.8", "×1.2"]
    box = legend.get_window_extent()
    assert not any(boxes_overlap(box, axes.get_window_extent()) for axes in figure.axes)
    plot.pyplot().close(figure)
