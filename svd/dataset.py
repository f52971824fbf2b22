"""Annotated corpora in the Jamendo layout, loaded as per-song spectrograms and frame targets.

    DIR/audio/<file>            any format svd.audio reads
    DIR/labels/<stem>.lab       'start end sing|nosing' per line (svd/labels.py); audio in
                                a subfolder has its labels in the same subfolder of labels/
    DIR/filelists/<split>       one audio file name per line; any split names,
                                so k-fold cross-validation is a set of filelists;
                                blank lines and lines starting with '#' (comments)
                                are skipped, and a comment that names an audio
                                file is refused

Songs shorter than one network excerpt (115 frames, 1.67 s) are refused with a
message: most of such an excerpt would be padding, and a song that short is
almost always the wrong file. So are a file listed twice in one filelist
(it would silently count double) and, in every command that reads several
filelists, a file listed in two of them (a test song seen in training).
Label files are checked against the audio's length (svd/labels.py).
"""
import dataclasses
import pathlib

import numpy as np

from svd import labels, spectrum
from svd.excerpt import EXCERPT_FRAMES
from svd.util import cache_folder, feature_cache
from svd.util.errors import InputError
from svd.util.progress import Progress
from svd.util.textfiles import read_text

@dataclasses.dataclass
class Song:
    """One annotated recording.

    name: audio file name; linear: (frames, 513) float32 magnitudes;
    targets: (frames,) uint8 voice per frame; duration_s: length in seconds.
    """
    name: str
    linear: np.ndarray
    targets: np.ndarray
    duration_s: float


def read_filelist(data_dir, split):
    """Audio file names listed in DIR/filelists/<split> (blank lines and '#' comments skipped)."""
    data_dir = pathlib.Path(data_dir)
    listing = data_dir / "filelists" / split
    if not listing.is_file():
        found = sorted(p.name for p in (data_dir / "filelists").glob("*")) if (data_dir / "filelists").is_dir() else []
        hint = f"available: {', '.join(found)}" if found else f"create {data_dir / 'filelists'} with one file per split"
        raise InputError(f"{listing}: filelist not found ({hint}); check --data and the split name.")
    entries = [(number, line.strip()) for number, line in enumerate(read_text(listing).splitlines(), start=1)]
    for number, name in entries:  # a comment that is also a file's name: which was meant cannot be guessed
        if name.startswith("#") and (data_dir / "audio" / name).is_file():
            raise InputError(f"{listing}, line {number}: {name!r} is an audio file's name, but a line starting "
                             "with '#' is a comment; rename the file (or write the comment another way).")
    entries = [(number, name) for number, name in entries if name and not name.startswith("#")]
    if not entries:
        raise InputError(f"{listing}: the filelist is empty; list one audio file name per line.")
    first = {}  # file identity -> (line, name)
    for number, name in entries:
        if not (data_dir / "audio" / name).is_file():
            raise InputError(f"{listing}, line {number}: entry {name!r} has no file {data_dir / 'audio' / name}; "
                             "fix the name or add the audio file.")
        identity = file_identity(data_dir / "audio" / name)
        if identity in first:
            line, earlier = first[identity]
            alias = "" if earlier == name else f" as {earlier!r}"
            raise InputError(f"{listing}, line {number}: {name!r} is listed again (first on line {line}{alias}); "
                             "remove the repeated line.")
        first[identity] = (number, name)
    return [name for _, name in entries]


def file_identity(path):
    """What makes two paths the same file: (device, inode). './a.wav', 'a.wav', a symbolic link to
    it and a hard link all have the same one, so no alias gets past the checks above."""
    status = pathlib.Path(path).stat()
    return status.st_dev, status.st_ino


def check_disjoint(data_dir, splits):
    """InputError if an audio file (by identity, aliases included) is listed in two of the filelists `splits`."""
    owner = {}  # file identity -> (split, name)
    for split in dict.fromkeys(splits):
        for name in read_filelist(data_dir, split):
            identity = file_identity(pathlib.Path(data_dir) / "audio" / name)
            if identity in owner:
                other_split, other_name = owner[identity]
                alias = "" if other_name == name else f" (as {other_name!r})"
                raise InputError(f"{name!r} is listed in both filelists/{other_split}{alias} and filelists/{split} "
                                 f"of {data_dir}; a song must be in one split only: remove it from one of them.")
            owner[identity] = (split, name)


def load_song(data_dir, name, cache_dir):
    """Load one song's spectrogram (cached) and its frame targets. Returns (Song, cache_hit)."""
    data_dir = pathlib.Path(data_dir)
    audio_path = data_dir / "audio" / name
    label_path = label_path_of(data_dir, name)
    segments = labels.read_lab(label_path)
    linear, duration_s, hit = feature_cache.linear_spectrogram(audio_path, cache_dir)
    require_excerpt_length(audio_path, len(linear))
    labels.check_duration(label_path, segments, duration_s)
    return Song(name, linear, labels.frame_targets(segments, len(linear)), duration_s), hit


def label_path_of(data_dir, name):
    """DIR/labels/<name without its suffix>.lab: the audio's path below audio/ mirrored below labels/.

    So audio/a/s.wav and audio/b/s.wav have labels/a/s.lab and labels/b/s.lab, never one shared
    labels/s.lab. InputError when a nested name's label is missing but a flat one of its stem
    is there, which is almost always a label meant for another file.
    """
    data_dir = pathlib.Path(data_dir)
    path = data_dir / "labels" / pathlib.PurePath(name).with_suffix(".lab")
    flat = data_dir / "labels" / (pathlib.PurePath(name).stem + ".lab")
    if path != flat and not path.is_file() and flat.is_file():
        raise InputError(f"{path}: label file not found ({flat} is there, but audio/{name} is in a subfolder: its "
                         f"labels go to the same subfolder below labels/); move or copy the label file.")
    return path


def require_excerpt_length(path, n_frames):
    """Refuse audio with fewer frames than one network excerpt."""
    if n_frames < EXCERPT_FRAMES:
        need_s = ((EXCERPT_FRAMES - 1) * spectrum.HOP_SAMPLES + spectrum.FRAME_SAMPLES) / spectrum.SAMPLE_RATE_HZ
        raise InputError(f"{path}: audio has {n_frames} frames, shorter than one {need_s:.2f} s network "
                         "excerpt; use a longer recording or remove it from the filelist.")


def load_split(data_dir, split, cache_dir=None, quiet=False):
    """All songs of a split, in filelist order: a list of Song."""
    cache_dir = cache_dir or cache_folder.default_dir()
    names = read_filelist(data_dir, split)
    songs = []
    with Progress(f"features {split}", len(names), "songs", quiet=quiet) as bar:
        for name in names:
            songs.append(load_song(data_dir, name, cache_dir)[0])
            bar.update(len(songs))
    return songs
