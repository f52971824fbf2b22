"""Scoring segment files of any system against a corpus's labels (`run.py score`), counted as `run.py eval` counts.

A prediction file gives one song's decisions as segments, in one of three
formats, picked by its suffix:

    .lab   'start end sing|nosing' per line, as the corpus's labels and
           `run.py detect` write them (read by svd/labels.py, just as strictly)
    .txt   an Audacity label track ('Export Labels'): 'start<TAB>end<TAB>label'
           per line; the lines Audacity adds for a spectral selection (they
           start with a backslash) are skipped
    .csv   a header line 'start_s,end_s,label', then one segment per row
    .json  {"segments": [{"start_s": .., "end_s": .., "label": ..}, ..]}, as
           `detect --labels json` writes it
    .sing.txt  `detect --labels sing`: an Audacity track of the sung segments only

Times are in seconds; segments must be sorted and must not overlap; time no
segment covers counts as no voice (as in a `.lab`). Every format is read by
svd/labels.py (`read_segments`), as strictly as the corpus's labels: the label
is `sing` or `nosing`, written exactly so; any other label, an empty one too,
is refused with the line it is on, since a vocabulary guessed wrongly
('vocals', 'speech', 'x') would silently count as one class or the other.

Counting is eval's (svd/evaluate.py), on the same frames: a song's frames are
those its audio gives (70 per second, svd/spectrum.py), and frame i is
decided voice when its centre time lies inside a voice segment, exactly as the
corpus's `.lab` becomes its targets (`labels.frame_targets`). The 800 ms median
filter is NOT applied: segments are decisions already (`detect` smoothed its
own before writing them), and smoothing another system's output would change it.
Counts are pooled over the songs, and each song is also measured alone.

Matching: a prediction file belongs to the song whose audio file has its stem
(`01 - Intro.lab` for `audio/01 - Intro.mp3`) or its whole name
(`01 - Intro.mp3.lab`, what `detect` writes when two inputs share a stem);
the name is what comes before the suffix (`01 - Intro` of `01 - Intro.sing.txt`).
Every song of the split needs one; a file that matches a song of the corpus
outside the split is passed over (detect was run on the whole corpus), and a
file that matches no song of the corpus at all is refused, like two files for
one song: each is a naming mistake that would otherwise go unseen.
"""
import pathlib

from svd import evaluate, labels
from svd.util.errors import InputError

SUFFIXES = tuple(labels.LABEL_SUFFIXES.values())  # one detection in several formats: the first is read
SHOWN = ".lab, Audacity .txt, .csv or .json"


def suffix_of(path):
    """The prediction suffix of `path` (lower case): one of SUFFIXES, or its last suffix if none."""
    name = pathlib.Path(path).name.lower()
    return next((suffix for suffix in reversed(SUFFIXES) if name.endswith(suffix)), pathlib.Path(path).suffix.lower())


def stem_of(path):
    """The name of `path` without its prediction suffix: the song it belongs to."""
    name = pathlib.Path(path).name
    return name[:len(name) - len(suffix_of(path))]


# ------------------------------------------------------------------ reading one file

def read_predictions(path):
    """The segments of a prediction file, read by its suffix (svd/labels.py): a list of (start_s, end_s, is_voice)."""
    path = pathlib.Path(path)
    if suffix_of(path) not in SUFFIXES:
        raise InputError(f"{path}: not a prediction file this program reads; give {SHOWN} segment files.")
    if not path.is_file():
        raise InputError(f"{path}: prediction file not found; check the path.")
    return labels.read_segments(path)


# ------------------------------------------------------------------ files to songs

def prediction_files(inputs):
    """The prediction files named by `inputs` (files, and folders walked for SUFFIXES), in order, each once."""
    found = {}
    for text in inputs:
        path = pathlib.Path(text)
        if path.is_dir():
            walked = sorted(p for p in path.rglob("*") if suffix_of(p) in SUFFIXES and p.is_file()
                            and not p.name.startswith("."))
            found.update((p.resolve(), p) for p in walked)
        elif path.is_file():
            if suffix_of(path) not in SUFFIXES:
                raise InputError(f"{path}: not a prediction file this program reads (its suffix is not "
                                 f"{', '.join(SUFFIXES)}); give {SHOWN} segment files.")
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
        song = in_split.get(stem_of(path))
        if song is None:
            (passed_over if stem_of(path) in in_corpus else strangers).append(path)
        elif song in chosen and _same_detection(chosen[song], path):
            if SUFFIXES.index(suffix_of(path)) < SUFFIXES.index(suffix_of(chosen[song])):
                chosen[song] = path  # one detection in several formats (detect --labels): .lab first
        elif song in chosen:
            raise InputError(f"{chosen[song]} and {path} both give predictions for {song}; keep one of them.")
        else:
            chosen[song] = path
    missing = [name for name in song_names if name not in chosen]
    if missing:
        hint = f"; these files match no song of the corpus: {_some(strangers)}" if strangers else ""
        raise InputError(f"{len(missing)} of the {len(song_names)} songs of {split} have no prediction file: "
                         f"{_some(missing)} (each needs <audio stem>.lab, .txt, .csv or .json){hint}.")
    if strangers:
        raise InputError(f"{len(strangers)} prediction files match no song of the corpus: {_some(strangers)}; "
                         "name each after its audio file (<audio stem>.lab) or leave it out.")
    return chosen, passed_over


def _same_detection(a, b):
    """Whether two segment files are one detection in two formats: same folder, same name, other suffix."""
    return a.parent == b.parent and stem_of(a) == stem_of(b) and suffix_of(a) != suffix_of(b)


def _some(items, shown=5):
    """The first few items, comma-separated ('a, b, c, ...')."""
    return ", ".join(map(str, items[:shown])) + (", ..." if len(items) > shown else "")


def reference_songs(paths):
    """svd.dataset.Song records made of reference segment files alone (`score --reference`).

    Each recording is as long as its reference's last segment; its frames are eval's
    (svd/spectrum.py) over that length; there is no spectrogram (linear is None).
    """
    from svd import dataset, spectrum
    songs = []
    for path in paths:
        segments = read_predictions(path)
        duration_s = segments[-1][1] if segments else 0.0
        frames = spectrum.frame_count(int(round(duration_s * spectrum.SAMPLE_RATE_HZ)))
        if frames == 0:
            raise InputError(f"{path}: the reference is shorter than one frame (46 ms); give a real label file.")
        songs.append(dataset.Song(path.name, None, labels.frame_targets(segments, frames), duration_s))
    return songs


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
