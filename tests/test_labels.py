"""svd/labels.py: parsing, frame targets at exact boundaries, round trip, errors naming the line."""
import json

import numpy as np
import pytest

from svd import labels, spectrum
from svd.util.errors import InputError


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


# ------------------------------------------------ the formats other tools read (detect --labels)

SEGMENTS = [(0.0, 1.25, False), (1.25, 3.5, True), (3.5, 4.0, False)]


@pytest.mark.parametrize("label_format", ["lab", "audacity", "csv", "json"])
def test_every_format_reads_back_the_segments_it_was_written_with(tmp_path, label_format):
    rng = np.random.default_rng(3)
    bounds = np.round(np.cumsum(rng.uniform(0.01, 30, 20)), 3)
    segments = [(0.0, float(bounds[0]), True)] + [(float(a), float(b), k % 2 == 1)
                                                  for k, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    path = tmp_path / ("song" + labels.LABEL_SUFFIXES[label_format])
    path.write_text(labels.segments_text(segments, label_format), encoding="utf-8")
    assert labels.read_segments(path) == segments  # times of 3 decimals are written exactly


def test_the_formats_look_as_other_tools_expect():
    assert labels.lab_text(SEGMENTS).splitlines()[1] == "1.250 3.500 sing"
    assert labels.audacity_text(SEGMENTS).splitlines()[1] == "1.250\t3.500\tsing"  # Audacity splits on tabs
    assert labels.csv_text(SEGMENTS).splitlines()[:2] == ["start_s,end_s,label", "0.000,1.250,nosing"]


def test_the_sing_only_track_holds_the_sung_segments_and_means_the_same_frames(tmp_path):
    path = tmp_path / ("song" + labels.LABEL_SUFFIXES["sing"])
    assert path.name == "song.sing.txt"
    path.write_text(labels.segments_text(SEGMENTS, "sing"), encoding="utf-8")
    assert path.read_text() == "1.250\t3.500\tsing\n"
    read = labels.read_segments(path)
    assert read == [SEGMENTS[1]]
    np.testing.assert_array_equal(labels.frame_targets(read, 300), labels.frame_targets(SEGMENTS, 300))


def test_the_json_format_holds_the_duration_and_the_segments():
    document = json.loads(labels.json_text(SEGMENTS))
    assert document["duration_s"] == 4.0
    assert document["segments"][1] == {"start_s": 1.25, "end_s": 3.5, "label": "sing"}


def test_audacity_frequency_lines_and_windows_line_ends_are_read(tmp_path):
    path = tmp_path / "audacity.txt"
    path.write_bytes(b"0.000000\t1.250000\tnosing\r\n\\\t100.0\t2000.0\r\n1.250000\t3.500000\tsing\r\n")
    assert labels.read_segments(path) == SEGMENTS[:2]


def test_csv_fields_may_be_quoted_and_padded(tmp_path):
    path = tmp_path / "song.csv"
    path.write_text('"start_s", "end_s", "label"\n0, 1.25 ,nosing\n1.25,3.5,"sing"\n', encoding="utf-8")
    assert labels.read_segments(path) == SEGMENTS[:2]


@pytest.mark.parametrize("name, text, message", [
    ("a.txt", "0.0 1.0 sing\n", r"a.txt, line 1: expected 'start<TAB>end<TAB>sing\|nosing' \(tab-separated\)"),
    ("a.txt", "0.0\t1.0\tsing\n1.0\t2.0\n", "a.txt, line 2: expected"),
    ("a.txt", "0.0\t1.0\tvocals\n", "a.txt, line 1: unknown label 'vocals'"),
    ("a.txt", "1.0\t1.0\tsing\n", r"a.txt, line 1: need 0 <= start < end"),  # an Audacity point label
    ("a.csv", "0.0,1.0,sing\n", "a.csv, line 1: expected the header 'start_s,end_s,label'"),
    ("a.csv", "", "a.csv, line 1: expected the header 'start_s,end_s,label', got an empty file"),
    ("a.csv", "start_s,end_s,label\n", "a.csv: the label file is empty"),
    ("a.csv", "start_s,end_s,label\n\n0;1;sing\n", "a.csv, line 3: expected 'start,end,sing|nosing'"),
    ("a.csv", "start_s,end_s,label\n0,x,sing\n", "a.csv, line 2: start and end must be numbers"),
    ("a.csv", "start_s,end_s,label\n0,2,sing\n1,3,nosing\n", "a.csv, line 3: segment starts at 1 s"),
    ("a.lab", "0\t1\tsing\n1 2 nosing\r\n\x0c\n2 x sing\n", "a.lab, line 4: start and end must be numbers"),
    ("a.lab", "0 1 sing " + "x" * 500 + "\n", r"got '0 1 sing x{71}\.\.\.'"),  # a long line is cut
    ("a.js", "{}", "a.js: not a label file this program reads"),
    ("a.json", "{", r"a.json: not JSON \("),
    ("a.json", "[]", "a.json: expected an object with a list 'segments'"),
    ("a.json", '{"segments": [{"start_s": 0, "end_s": 1}]}', "a.json, segment 1: needs start_s and end_s"),
    ("a.json", '{"segments": [{"start_s": 0, "end_s": true, "label": "sing"}]}', "a.json, segment 1: needs"),
    ("a.json", '{"segments": [{"start_s": 0, "end_s": 2, "label": "sing"}, {"start_s": 1, "end_s": 3, '
               '"label": "nosing"}]}', "a.json, segment 2: segment starts at 1 s"),
    ("a.json", '{"segments": [{"start_s": 2, "end_s": 1, "label": "sing"}]}', "a.json, segment 1: need 0 <= start"),
    ("a.json", '{"segments": []}', "a.json: the label file is empty"),
])
def test_malformed_label_files_name_the_file_and_the_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as error:
        labels.read_segments(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", [".lab", ".txt", ".csv", ".json"])
def test_random_damage_is_an_input_error_or_a_valid_reading(tmp_path, suffix):
    """Seeded random edits of a good file: never any exception but InputError, whose message is one line."""
    rng = np.random.default_rng(7)
    good = labels.segments_text(SEGMENTS, {".lab": "lab", ".txt": "audacity", ".csv": "csv", ".json": "json"}[suffix])
    alphabet = list("0123456789.,-e \t\n\r\"'\\;x") + ["sing", "nosing", "nan", "inf", "\x00", "é", "\u2028"]
    path = tmp_path / ("damaged" + suffix)
    for _ in range(300):
        text = list(good)
        for _ in range(rng.integers(1, 4)):
            at = int(rng.integers(0, len(text) + 1))
            if rng.random() < 0.5 and text:
                del text[min(at, len(text) - 1)]
            else:
                text.insert(at, str(rng.choice(alphabet)))
        path.write_text("".join(text), encoding="utf-8")
        try:
            segments = labels.read_segments(path)
        except InputError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
        else:
            assert all(0 <= start < end for start, end, _ in segments)


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="label file not found"):
        labels.read_segments(tmp_path / "missing.csv")
    (tmp_path / "binary.txt").write_bytes(b"RIFF\xff\xfe\x00\x01")
    with pytest.raises(InputError, match="not UTF-8 text"):
        labels.read_segments(tmp_path / "binary.txt")


def test_an_unreadable_label_file_is_one_line(tmp_path, monkeypatch):
    """A mode-000 label or filelist gave a PermissionError traceback (issue 29)."""
    import pathlib
    path = tmp_path / "song.lab"
    path.write_text("0 1 sing\n")

    def refused(self):
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(pathlib.Path, "read_bytes", refused)
    with pytest.raises(InputError, match="cannot be read \\(permission denied\\)"):
        labels.read_lab(path)
