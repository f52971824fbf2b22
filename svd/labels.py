"""Singing-voice annotations: label files <-> segments <-> per-frame targets.

A `.lab` file (Jamendo corpus format, Ramona et al.) has one segment per line,
`start end label`, separated by whitespace, times in seconds, label `sing` or
`nosing`. `run.py detect --labels` also writes formats other tools read,
with the same segments and times (3 decimals):

    .txt   an Audacity label track: `start<TAB>end<TAB>label` per line (Audacity
           splits on tabs; a line starting with a backslash, the frequency range
           of Audacity's extended format, is passed over when reading)
    .csv   a header line `start_s,end_s,label`, then `start,end,label` per line
    .json  {"duration_s": D, "segments": [{"start_s": s, "end_s": e, "label": l}, ...]}
    .sing.txt  an Audacity label track of the sung segments only (the gaps are
           nosing, as in every format), for a track that shows nothing else

`read_segments` reads any of the three, choosing by the file's suffix, with the
same checks as `read_lab`; every malformed line is an InputError naming the file
and the line. Segments must be
sorted and must not overlap; time not covered by any segment counts as nosing.
A frame's target is the label at its centre time (see svd/spectrum.py for the
framing convention): 1 if some sing segment has start <= t < end, else 0.

Refused, because each is almost always a mistake rather than a deliberate
annotation: an empty file (an instrumental song is `0 <duration> nosing`),
unsorted or overlapping segments, and (`check_duration`) segments that begin
after the audio ends or end more than LABEL_OVERHANG_S after it (labels that
belong to another file or another edit). A shorter overhang is accepted: MP3
decoders differ by some tens of milliseconds in the length they decode.
"""
import csv
import json
import pathlib

import numpy as np

from svd.spectrum import frame_times_s
from svd.util.atomic import write_text_atomic
from svd.util.errors import InputError
from svd.util.textfiles import read_text

LABEL_WORDS = ("sing", "nosing")
LABEL_OVERHANG_S = 1.0  # how far the last segment may end after the decoded audio


# --labels name -> suffix of the file `run.py detect` writes (svd/jobs/detection.py)
LABEL_SUFFIXES = {"lab": ".lab", "audacity": ".txt", "csv": ".csv", "json": ".json", "sing": ".sing.txt"}
SING_ONLY = ("sing",)  # the formats that leave the nosing segments out
CSV_HEADER = ("start_s", "end_s", "label")
LAB_SHAPE = "'start end sing|nosing'"
AUDACITY_SHAPE = "'start<TAB>end<TAB>sing|nosing' (tab-separated)"
CSV_SHAPE = "'start,end,sing|nosing'"
JSON_SHAPE = '{"segments": [{"start_s": 0.0, "end_s": 1.5, "label": "sing"}, ...]}'


def read_lab(path):
    """Parse a `.lab` file into a list of (start_s, end_s, is_sing) tuples."""
    text = _read_label_text(path, "every audio file needs labels/<name>.lab with 'start end sing|nosing' lines")
    rows = [(number, line.split(), line) for number, line in _numbered_lines(text)]
    return _segments(path, rows, LAB_SHAPE)


def read_audacity(path):
    """Parse an Audacity label track (`.txt`) into a list of (start_s, end_s, is_sing) tuples."""
    text = _read_label_text(path, f"give a label file with {AUDACITY_SHAPE} lines")
    rows = [(number, line.split("\t"), line) for number, line in _numbered_lines(text)
            if not line.startswith("\\")]  # '\<TAB>low<TAB>high': the frequency range of the label above
    return _segments(path, rows, AUDACITY_SHAPE)


def read_csv(path):
    """Parse a `.csv` label file (header `start_s,end_s,label`) into a list of (start_s, end_s, is_sing) tuples."""
    text = _read_label_text(path, f"give a label file with the header {','.join(CSV_HEADER)!r} and "
                                  f"{CSV_SHAPE} lines")
    rows = [(number, _csv_fields(path, number, line), line) for number, line in _numbered_lines(text)]
    if not rows or tuple(rows[0][1]) != CSV_HEADER:
        number, got = (rows[0][0], _shown(rows[0][2])) if rows else (1, "an empty file")
        raise InputError(f"{path}, line {number}: expected the header {','.join(CSV_HEADER)!r}, got {got}; "
                         "put the header on the first line.")
    return _segments(path, rows[1:], CSV_SHAPE)


def read_json(path):
    """Parse a `.json` label file (see the module docstring) into a list of (start_s, end_s, is_sing) tuples."""
    text = _read_label_text(path, f"give a label file of the form {JSON_SHAPE}")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise InputError(f"{path}: not JSON ({error}); give a label file of the form {JSON_SHAPE}.") from None
    entries = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise InputError(f"{path}: expected an object with a list 'segments' of objects, as in {JSON_SHAPE}.")
    rows = []
    for number, entry in enumerate(entries, start=1):
        fields = [entry.get(key) for key in CSV_HEADER]
        if not all(isinstance(value, (int, float, str)) and not isinstance(value, bool) for value in fields):
            raise InputError(f"{path}, segment {number}: needs start_s and end_s (seconds) and label (sing or "
                             f"nosing), as in {JSON_SHAPE}; fix the segment.")
        rows.append((number, [str(value) for value in fields], json.dumps(entry)))
    return _segments(path, rows, JSON_SHAPE, unit="segment")


def read_segments(path):
    """The segments of a label file in any of the formats above, by suffix: [(start_s, end_s, is_sing)].

    `.lab` (whitespace-separated), `.txt` (Audacity, tab-separated; `.sing.txt` too), `.csv`
    or `.json`; InputError naming the file (and the line) for anything else or anything malformed.
    """
    readers = {".lab": read_lab, ".txt": read_audacity, ".csv": read_csv, ".json": read_json}
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in readers:
        raise InputError(f"{path}: not a label file this program reads (the name must end in .lab, .txt for an "
                         "Audacity label track, .csv or .json); rename it or convert it.")
    return readers[suffix](path)


def _read_label_text(path, what_is_needed):
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: label file not found; {what_is_needed}.")
    return read_text(path)


def _numbered_lines(text):
    """(line number, line) of each line that is not blank; lines end at \\n, \\r\\n or \\r only (as editors count)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def _csv_fields(path, number, line):
    try:
        return [field.strip() for field in next(csv.reader([line], skipinitialspace=True))]
    except csv.Error as error:
        raise InputError(f"{path}, line {number}: not a CSV line ({error}); fix the line.") from None


def _segments(path, rows, shape, unit="line"):
    """rows: [(line number, fields, line)] -> [(start_s, end_s, is_sing)], checked (see the module docstring).

    unit: what the numbers count in messages ('line'; 'segment' for JSON).
    """
    segments = [_parse_line(f"{path}, {unit} {number}", fields, line, shape) for number, fields, line in rows]
    if not segments:
        raise InputError(f"{path}: the label file is empty; write one {shape} line per segment "
                         "(an instrumental song: '0 <duration> nosing').")
    _check_order(segments)
    return [(start, end, label == "sing") for start, end, label, _ in segments]


def _parse_line(where, fields, line, shape):
    fields = [field.strip() for field in fields]
    if len(fields) != 3:
        raise InputError(f"{where}: expected {shape}, got {_shown(line)}; fix the line.")
    try:
        start, end = float(fields[0]), float(fields[1])
    except ValueError:
        raise InputError(f"{where}: start and end must be numbers of seconds, got {_shown(line)}; "
                         "fix the line.") from None
    if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end <= start:
        raise InputError(f"{where}: need 0 <= start < end, got {_shown(line)}; fix the times.")
    if fields[2] not in LABEL_WORDS:
        raise InputError(f"{where}: unknown label {_shown(fields[2])}; use 'sing' or 'nosing'.")
    return start, end, fields[2], where


def _shown(text, limit=80):
    """`text` quoted on one line for a message (repr escapes tabs and control characters), cut at `limit`."""
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _check_order(segments):
    for (_, previous_end, _, _), (start, _, _, where) in zip(segments, segments[1:]):
        if start < previous_end - 1e-9:
            raise InputError(f"{where}: segment starts at {start:g} s, before the previous "
                             f"one ends ({previous_end:g} s); sort the segments and remove overlaps.")


def check_duration(path, segments, duration_s):
    """InputError if the segments of `path` do not fit audio of `duration_s` seconds (see module doc)."""
    start, end, _ = segments[-1]
    if start >= duration_s or end > duration_s + LABEL_OVERHANG_S:
        raise InputError(f"{path}: a segment runs {start:g}-{end:g} s but the audio lasts only {duration_s:.2f} s; "
                         "the labels do not belong to this audio: fix the times or pair the right files.")


def frame_targets(segments, n_frames):
    """Per-frame voice targets: (n_frames,) uint8, 1 where the frame centre lies in a sing segment."""
    times = frame_times_s(n_frames)
    targets = np.zeros(n_frames, np.uint8)
    for start, end, is_sing in segments:
        if is_sing:
            targets[(times >= start) & (times < end)] = 1
    return targets


def frames_to_segments(is_sing, duration_s):
    """Contiguous segments covering [0, duration_s] from per-frame decisions.

    is_sing: (n_frames,) bool. A boundary is placed halfway between the centres
    of two frames that disagree, so that reading the segments back with
    `frame_targets` gives `is_sing` again.
    Returns a list of (start_s, end_s, is_sing).
    """
    is_sing = np.asarray(is_sing, bool)
    if len(is_sing) == 0:
        return [(0.0, duration_s, False)]
    times = frame_times_s(len(is_sing))
    changes = np.flatnonzero(is_sing[1:] != is_sing[:-1]) + 1
    bounds = [0.0] + [float((times[i - 1] + times[i]) / 2) for i in changes] + [duration_s]
    starts = [0] + list(changes)
    return [(bounds[k], bounds[k + 1], bool(is_sing[starts[k]])) for k in range(len(starts))]


def write_lab(path, segments):
    """Write segments as a `.lab` file (3 decimals), atomically (temp file, then rename)."""
    write_text_atomic(path, lab_text(segments))


def lab_text(segments):
    """The text of a `.lab` file: one 'start end sing|nosing' line per segment, times with 3 decimals."""
    return "".join(f"{start:.3f} {end:.3f} {_word(sing)}\n" for start, end, sing in segments)


def audacity_text(segments):
    """The text of an Audacity label track: one 'start<TAB>end<TAB>sing|nosing' line per segment."""
    return "".join(f"{start:.3f}\t{end:.3f}\t{_word(sing)}\n" for start, end, sing in segments)


def csv_text(segments):
    """The text of a `.csv` label file: the header 'start_s,end_s,label', then one line per segment."""
    return ",".join(CSV_HEADER) + "\n" + "".join(f"{start:.3f},{end:.3f},{_word(sing)}\n"
                                                  for start, end, sing in segments)


def json_text(segments):
    """The text of a `.json` label file (module docstring): the duration, then one segment per line."""
    duration = json.dumps({"duration_s": float(f"{segments[-1][1]:.3f}") if segments else 0.0})
    lines = [json.dumps({"start_s": float(f"{start:.3f}"), "end_s": float(f"{end:.3f}"), "label": _word(sing)})
             for start, end, sing in segments]
    return duration[:-1] + ', "segments": [\n' + ",\n".join(lines) + "\n]}\n"


def sing_text(segments):
    """The text of an Audacity label track of the sung segments only: 'start<TAB>end<TAB>sing' per line."""
    return audacity_text([segment for segment in segments if segment[2]])


def segments_text(segments, label_format):
    """The text of a label file in `label_format`, one of LABEL_SUFFIXES ('lab', 'audacity', 'csv', ...)."""
    writers = {"lab": lab_text, "audacity": audacity_text, "csv": csv_text, "json": json_text, "sing": sing_text}
    return writers[label_format](segments)  # the callers check the names first


def _word(is_sing):
    return "sing" if is_sing else "nosing"

