"""Which files a `detect` job reads, and where each one's results go: the handling of many input files.

`run.py detect` takes audio files, folders (walked for audio) and list files
(`--files-from`), optionally led by a model file (`split_model`);
`audio_files` and `read_file_list` turn them into one list of files,
`relative_paths` places each below the deepest folder that holds them all,
and `output_stems` mirrors that tree in the output folder without letting two
results share a name. A file's shard (svd/jobs/shards.py) is decided by its
relative path too. What is then done with each file is svd/detect.py's.
"""
import collections
import os
import pathlib
import sys

from svd import model_file
from svd.util.errors import InputError
from svd.util.textfiles import decode, read_text

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf"}
# Audio (and video) formats libsndfile does not decode: a folder walk passes them over and says so.
OTHER_MEDIA_SUFFIXES = {".m4a", ".aac", ".mp4", ".opus", ".wma", ".webm", ".mka", ".ape", ".alac", ".ac3", ".amr"}


def audio_files(paths, passed_over=None, broken_links=None):
    """Expand files and directories (walked recursively, audio suffixes only) into a file list.

    Each directory's files are sorted; a file reached twice (named twice, inside
    two named directories, or through a symbolic link) is listed once. Linked
    subfolders are followed (each real folder once, so a link loop ends).
    passed_over: a list to which the files of a walked directory are added that
    look like audio in a format this program cannot decode (OTHER_MEDIA_SUFFIXES);
    broken_links: one to which links whose target is missing are added; so that
    the caller can say what it left out.
    """
    found = {}
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            files = _walk(path, broken_links if broken_links is not None else [])
            inside = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
            if passed_over is not None:
                passed_over.extend(p for p in files if p.suffix.lower() in OTHER_MEDIA_SUFFIXES)
        elif path.exists():
            inside = [path]
        else:
            raise InputError(f"{path}: no such file or directory; check the path.")
        for file in inside:
            found.setdefault(os.path.abspath(file), file)
    return list(found.values())


def _walk(folder, broken_links):
    """Every file below `folder`, following linked subfolders (each real folder once), sorted."""
    files, seen = [], set()
    for root, subfolders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # reached again through a link: a loop, or two links to one folder
            subfolders[:] = []
            continue
        seen.add(real)
        for name in names:
            path = pathlib.Path(root) / name
            if path.is_file():
                files.append(path)
            elif path.is_symlink() and not path.exists():
                broken_links.append(path)
    return sorted(files)


def split_model(arguments):
    """(model path, inputs) from detect's positional arguments: a first one ending in .npz names the model.

    Without it the bundled model (svd/models/bundled.npz) is used. No audio file ends in .npz
    (or .npy, taken as a model too, so that a NumPy array named in its place is refused as such).
    """
    if arguments and str(arguments[0]).lower().endswith((".npz", ".npy")):
        return arguments[0], list(arguments[1:])
    return str(model_file.BUNDLED), list(arguments)


def read_file_list(list_path):
    """The paths named in a list file, one per line: [pathlib.Path] ('-': read the list from stdin).

    The list is UTF-8 text; each line is a path exactly as written (spaces kept,
    only the line ending removed), relative to the list's own folder unless
    absolute (relative to the current folder for stdin); in a corpus's
    filelists/ folder, a name found in the corpus's audio/ instead (what a
    filelist holds) is taken from there. Blank lines are ignored. A path that
    does not exist is an InputError naming the line.
    """
    if list_path == "-":
        text, folder, name = decode(sys.stdin.buffer.read(), "stdin"), pathlib.Path(), "stdin"
    else:
        if not pathlib.Path(list_path).is_file():
            raise InputError(f"--files-from {list_path}: no such file; give a text file with one audio path "
                             "per line, or - for stdin.")
        text, folder, name = read_text(list_path), pathlib.Path(list_path).parent, list_path
    paths = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        path = folder / line
        corpus_audio = folder.parent / "audio" / line  # a corpus's filelists/<split> names files in audio/
        if not path.exists() and folder.name == "filelists" and corpus_audio.exists():
            path = corpus_audio
        if not path.exists():
            raise InputError(f"{name}, line {number}: {path}: no such file or directory; fix the line or "
                             "remove it (paths are relative to the list's folder).")
        paths.append(path)
    return paths


def relative_paths(files, inputs):
    """Each file's path relative to the deepest folder holding all `inputs`: [pathlib.Path].

    A named folder counts as holding its own files, a named file is held by its
    folder. This is what the output tree mirrors (`output_stems`) and what
    decides a file's shard (svd/jobs/shards.py).
    """
    bases = [os.path.abspath(p) if pathlib.Path(p).is_dir() else os.path.dirname(os.path.abspath(p))
             for p in inputs]
    root = os.path.commonpath(bases)
    return [pathlib.Path(os.path.relpath(os.path.abspath(file), root)) for file in files]


def output_stems(relative, suffixes=(".lab",)):
    """Where each file's results go, relative to the output folder, without suffix: [pathlib.Path].

    relative: the files' `relative_paths`; suffixes: those of the outputs
    written per file (`.lab`, `.frames.csv`, ...). The input tree is thus mirrored below
    the deepest folder that holds all the inputs (a named folder counts as
    holding its own files), so `a/01.mp3` and `b/01.mp3` get `a/01` and `b/01`,
    and a single folder's files keep their subfolders. Files whose outputs would clash without the audio suffix
    (`01.mp3`, `01.wav`; or `01.wav` and `01.frames.wav` with `.csv` and `.frames.csv`) keep it
    (`01.mp3`, `01.wav`), so no result of a run overwrites another.
    """
    names = [path.with_suffix("") for path in relative]

    def outputs(name):
        return [name.parent / (name.name + suffix) for suffix in suffixes]

    while True:  # each pass gives at least one clashing file its full name, which is unique
        count = collections.Counter(output for name in names for output in outputs(name))
        clashing = [i for i, name in enumerate(names)
                    if name != relative[i] and any(count[output] > 1 for output in outputs(name))]
        if not clashing:
            return names
        for i in clashing:
            names[i] = relative[i]
