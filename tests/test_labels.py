"""svd/labels.py: parsing, frame targets at exact boundaries, round trip, errors naming the line."""
import numpy as np
import pytest

from svd import labels, spectrum
from svd.errors import InputError


def write(tmp_path, text):
    path = tmp_path / "song.lab"
    path.write_text(text, encoding="utf-8")
    return path


def test_parses_segments(tmp_path):
    path = write(tmp_path, "0.000 1.500 nosing\n1.500 3.000 sing\n\n")
    assert labels.read_lab(path) == [(0.0, 1.5, False), (1.5, 3.0, True)]


def test_targets_change_exactly_at_segment_boundaries():
    times = spectrum.frame_times_s(100)
    start, end = times[10], times[20]  # boundaries exactly on frame centres
    targets = labels.frame_targets([(0.0, start, False), (start, end, True)], 100)
    assert targets[9] == 0 and targets[10] == 1  # start is inclusive
    assert targets[19] == 1 and targets[20] == 0  # end is exclusive
    assert targets.sum() == 10
    # A boundary a hair after a centre leaves that frame outside.
    targets = labels.frame_targets([(start + 1e-9, end, True)], 100)
    assert targets[10] == 0 and targets[11] == 1


def test_gaps_between_segments_count_as_nosing():
    times = spectrum.frame_times_s(50)
    targets = labels.frame_targets([(times[5], times[10], True), (times[20], times[30], True)], 50)
    assert targets[10:20].sum() == 0 and targets.sum() == 15


def test_segments_round_trip_through_frames(tmp_path):
    rng = np.random.default_rng(0)
    is_sing = np.repeat(rng.integers(0, 2, 30).astype(bool), rng.integers(1, 40, 30))
    duration = spectrum.frame_times_s(len(is_sing))[-1] + 0.03
    segments = labels.frames_to_segments(is_sing, duration)
    assert segments[0][0] == 0.0 and segments[-1][1] == duration
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(segments, segments[1:]))
    path = tmp_path / "out.lab"
    labels.write_lab(path, segments)
    assert np.array_equal(labels.frame_targets(labels.read_lab(path), len(is_sing)), is_sing)


@pytest.mark.parametrize("text, message", [
    ("0.0 1.0 sing\n1.0 2.0\n", "line 2: expected 'start end sing|nosing'"),
    ("0.0 abc sing\n", "line 1: start and end must be numbers"),
    ("2.0 1.0 sing\n", "line 1: need 0 <= start < end"),
    ("0.0 1.0 singing\n", "line 1: unknown label 'singing'"),
    ("0.0 2.0 sing\n1.0 3.0 nosing\n", "line 2: segment starts at 1 s, before the previous one ends"),
    ("1.0 2.0 sing\n0.0 1.0 nosing\n", "line 2: segment starts at 0 s"),
])
def test_malformed_files_name_the_line_and_the_fix(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        labels.read_lab(write(tmp_path, text))


def test_missing_label_file(tmp_path):
    with pytest.raises(InputError, match="label file not found"):
        labels.read_lab(tmp_path / "missing.lab")
