"""Scoring segment files of any system against a corpus's labels (`run.py score`), counted as `run.py eval` counts.

A prediction file gives one song's decisions as segments, in one of three
formats, picked by its suffix:

    .lab   'start end sing|nosing' per line, as the corpus's labels and
           `run.py detect` write them (read by svd/labels.py, just as strictly)
    .txt   an Audacity label track ('Export Labels'): 'start<TAB>end<TAB>label'
           per line; the lines Audacity adds for a spectral selection (they
           start with a backslash) are skipped
    .csv   a header line 'start_s,end_s,label', then one segment per row

Times are in seconds; segments must be sorted and must not overlap; time no
segment covers counts as no voice (as in a `.lab`). Labels of `.txt` and `.csv`
files: `sing` or `voice` is voice, `nosing` or `novoice` is no voice, written
exactly so (lower case). Any other label, an empty one too, is refused with the
line it is on: a vocabulary guessed wrongly ('vocals', 'speech', 'x') would
silently count as one class or the other.

Counting is eval's (svd/evaluate.py), on the same frames: a song's frames are
those its audio gives (70 per second, svd/spectrum.py), and frame i is
decided voice when its centre time lies inside a voice segment, exactly as the
corpus's `.lab` becomes its targets (`labels.frame_targets`). The 800 ms median
filter is NOT applied: segments are decisions already (`detect` smoothed its
own before writing them), and smoothing another system's output would change it.
Counts are pooled over the songs, and each song is also measured alone.

Matching: a prediction file belongs to the song whose audio file has its stem
(`01 - Intro.lab` for `audio/01 - Intro.mp3`) or its whole name
(`01 - Intro.mp3.lab`, what `detect` writes when two inputs share a stem).
Every song of the split needs one; a file that matches a song of the corpus
outside the split is passed over (detect was run on the whole corpus), and a
file that matches no song of the corpus at all is refused, like two files for
one song: each is a naming mistake that would otherwise go unseen.
"""
import csv
import math
import pathlib

from svd import evaluate, labels
from svd.errors import InputError
from svd.textfiles import read_text

SUFFIXES = (".lab", ".txt", ".csv")
VOICE_WORDS = ("sing", "voice")
NO_VOICE_WORDS = ("nosing", "novoice")
CSV_HEADER = ["start_s", "end_s", "label"]


# ------------------------------------------------------------------ reading one file

def read_predictions(path):
    """The segments of a prediction file, read by its suffix: a list of (start_s, end_s, is_voice)."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: not a prediction file this program reads; give .lab, Audacity .txt or .csv "
                         "segment files.")
    if not path.is_file():
        raise InputError(f"{path}: prediction file not found; check the path.")
    if suffix == ".lab":
        return labels.read_lab(path)
    segments = _read_csv(path) if suffix == ".csv" else _read_audacity(path)
    if not segments:
        line = "0,<duration>,nosing" if suffix == ".csv" else "0<TAB><duration><TAB>nosing"
        raise InputError(f"{path}: no segments; write one per line (a song without voice: '{line}').")
    for (_, previous_end, _), (start, _, _), number in zip(segments, segments[1:], range(2, len(segments) + 1)):
        if start < previous_end - 1e-9:
            raise InputError(f"{path}, segment {number}: starts at {start:g} s, before the previous one ends "
                             f"({previous_end:g} s); sort the segments and remove overlaps.")
    return segments


def _read_audacity(path):
    """Segments of an Audacity label track: 'start<TAB>end<TAB>label' lines."""
    segments = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):  # blank, or the frequency range of a spectral selection
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputError(f"{path}, line {number}: expected 'start<TAB>end<TAB>label' (an Audacity label track), "
                             f"got {line.strip()!r}; a file of 'start end label' lines is a .lab: rename it so.")
        segments.append(_segment(path, f"line {number}", *fields))
    return segments


def _read_csv(path):
    """Segments of a CSV file with the header 'start_s,end_s,label'."""
    rows = list(csv.reader(read_text(path).splitlines()))
    if not rows or [field.strip() for field in rows[0]] != CSV_HEADER:
        found = repr(",".join(rows[0])) if rows else "an empty file"
        raise InputError(f"{path}: the first line must be the header '{','.join(CSV_HEADER)}', found {found}; "
                         "add or fix the header.")
    segments = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        if len(row) != 3:
            raise InputError(f"{path}, line {number}: expected three fields 'start_s,end_s,label', got "
                             f"{','.join(row)!r}; fix the row.")
        segments.append(_segment(path, f"line {number}", *row))
    return segments


def _segment(path, where, start_text, end_text, label):
    """(start_s, end_s, is_voice) of one line; InputError naming `where` if a time or the label is wrong."""
    try:
        start, end = float(start_text), float(end_text)
    except ValueError:
        raise InputError(f"{path}, {where}: start and end must be numbers of seconds, got {start_text.strip()!r} "
                         f"and {end_text.strip()!r}; fix the line.") from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        raise InputError(f"{path}, {where}: need 0 <= start < end, got {start_text.strip()} and "
                         f"{end_text.strip()}; fix the times.")
    label = label.strip()
    if label not in VOICE_WORDS + NO_VOICE_WORDS:
        raise InputError(f"{path}, {where}: unknown label {label!r}; use {' or '.join(VOICE_WORDS)} for voice, "
                         f"{' or '.join(NO_VOICE_WORDS)} for no voice.")
    return start, end, label in VOICE_WORDS


# ------------------------------------------------------------------ files to songs

def prediction_files(inputs):
    """The prediction files named by `inputs` (files, and folders walked for SUFFIXES), in order, each once."""
    found = {}
    for text in inputs:
        path = pathlib.Path(text)
        if path.is_dir():
            walked = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                            and not p.name.startswith("."))
            found.update((p.resolve(), p) for p in walked)
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                raise InputError(f"{path}: not a prediction file this program reads (its suffix is not "
                                 f"{', '.join(SUFFIXES)}); give .lab, Audacity .txt or .csv segment files.")
            found.setdefault(path.resolve(), path)
        else:
            raise InputError(f"{path}: no such file or folder; name prediction files or folders of them.")
    if not found:
        raise InputError(f"no prediction files ({', '.join(SUFFIXES)}) in {' '.join(map(str, inputs))}; "
                         "name the files or the folder that holds them.")
    return list(found.values())


def corpus_names(data_dir):
    """The names of every audio file of the corpus (relative to DIR/audio), listed in a filelist or not."""
    audio = pathlib.Path(data_dir) / "audio"
    if not audio.is_dir():
        return []
    return [path.relative_to(audio).as_posix() for path in audio.rglob("*") if path.is_file()]


def match(song_names, files, all_names, split):
    """{song name: prediction file} for every song of the split, and the files passed over.

    song_names: the split's audio file names; files: prediction paths;
    all_names: every audio file name of the corpus (for telling a song of
    another split from a naming mistake). InputError for a song without a file,
    a song with two, and a file that names no song of the corpus.
    """
    def keys(name):
        return {pathlib.PurePath(name).stem, pathlib.PurePath(name).name}

    in_split = {key: name for name in song_names for key in keys(name)}
    in_corpus = {key for name in all_names for key in keys(name)}
    chosen, passed_over, strangers = {}, [], []
    for path in files:
        song = in_split.get(path.stem)
        if song is None:
            (passed_over if path.stem in in_corpus else strangers).append(path)
        elif song in chosen:
            raise InputError(f"{chosen[song]} and {path} both give predictions for {song}; keep one of them.")
        else:
            chosen[song] = path
    missing = [name for name in song_names if name not in chosen]
    if missing:
        hint = f"; these files match no song of the corpus: {_some(strangers)}" if strangers else ""
        raise InputError(f"{len(missing)} of the {len(song_names)} songs of {split} have no prediction file: "
                         f"{_some(missing)} (each needs <audio stem>.lab, .txt or .csv){hint}.")
    if strangers:
        raise InputError(f"{len(strangers)} prediction files match no song of the corpus: {_some(strangers)}; "
                         "name each after its audio file (<audio stem>.lab) or leave it out.")
    return chosen, passed_over


def _some(items, shown=5):
    """The first few items, comma-separated ('a, b, c, ...')."""
    return ", ".join(map(str, items[:shown])) + (", ..." if len(items) > shown else "")


# ------------------------------------------------------------------ counting

def score(songs, predictions):
    """Pooled and per-song measures of the predicted segments against the songs' labels.

    songs: svd.dataset.Song list; predictions: {song name: (file path,
    [(start_s, end_s, is_voice)])}. InputError if a file's segments do not fit its song's audio
    (svd/labels.py `check_duration`). Returns {"pooled": `evaluate.pooled`,
    "base_rate": `evaluate.base_rate`, "songs": `evaluate.song_rows` (no AUROC: there
    are no scores to rank) with each song's "predictions" file}.
    """
    decisions, targets = [], [song.targets for song in songs]
    for song in songs:
        path, segments = predictions[song.name]
        labels.check_duration(path, segments, song.duration_s)
        decisions.append(labels.frame_targets(segments, len(song.targets)).astype(bool))
    rows = evaluate.song_rows([song.name for song in songs], decisions, targets)
    for row in rows:
        row["predictions"] = str(predictions[row["song"]][0])
    return {"pooled": evaluate.pooled(decisions, targets), "base_rate": evaluate.base_rate(targets), "songs": rows}
