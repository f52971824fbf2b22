"""Singing-voice annotations: `.lab` files <-> segments <-> per-frame targets.

A `.lab` file (Jamendo corpus format, Ramona et al.) has one segment per line,
`start end label`, times in seconds, label `sing` or `nosing`. Segments must be
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
import pathlib

import numpy as np

from svd.atomic import write_text_atomic
from svd.errors import InputError
from svd.spectrum import frame_times_s
from svd.textfiles import read_text

LABEL_WORDS = ("sing", "nosing")
LABEL_OVERHANG_S = 1.0  # how far the last segment may end after the decoded audio


def read_lab(path):
    """Parse a `.lab` file into a list of (start_s, end_s, is_sing) tuples."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: label file not found; every audio file needs "
                         f"labels/<name>.lab with 'start end sing|nosing' lines.")
    segments = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        segments.append(_parse_line(path, number, line))
    if not segments:
        raise InputError(f"{path}: the label file is empty; write one 'start end sing|nosing' line per segment "
                         "(an instrumental song: '0 <duration> nosing').")
    _check_order(path, segments)
    return [(start, end, label == "sing") for start, end, label, _ in segments]


def _parse_line(path, number, line):
    fields = line.split()
    where = f"{path}, line {number}"
    if len(fields) != 3:
        raise InputError(f"{where}: expected 'start end sing|nosing', got {line.strip()!r}; fix the line.")
    try:
        start, end = float(fields[0]), float(fields[1])
    except ValueError:
        raise InputError(f"{where}: start and end must be numbers of seconds, got {line.strip()!r}; "
                         "fix the line.") from None
    if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end <= start:
        raise InputError(f"{where}: need 0 <= start < end, got {line.strip()!r}; fix the times.")
    if fields[2] not in LABEL_WORDS:
        raise InputError(f"{where}: unknown label {fields[2]!r}; use 'sing' or 'nosing'.")
    return start, end, fields[2], number


def _check_order(path, segments):
    for (_, previous_end, _, _), (start, _, _, number) in zip(segments, segments[1:]):
        if start < previous_end - 1e-9:
            raise InputError(f"{path}, line {number}: segment starts at {start:g} s, before the previous "
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
    return "".join(f"{start:.3f} {end:.3f} {'sing' if sing else 'nosing'}\n" for start, end, sing in segments)

