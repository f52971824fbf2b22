"""Shared fixtures: a tiny corpus in the Jamendo layout written from analytic signals; a dead process id."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
# Every output records its date (svd/util/provenance.py); a fixed one, inherited by the commands the tests
# start, keeps the files of two runs of one command byte-identical (tests/test_interruptions.py).
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
# The fast path's implementations in their fixed order (svd/fast/choice.py), in this process and the commands
# it starts: a choice measured anew in every test's cache folder would cost time and could differ between a
# killed run and its resumption. tests/test_fast_choice.py turns the measuring on where it is tested.
os.environ.setdefault("SVD_FAST_CHOICE", "fixed")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own feature cache, never the user's ~/.cache/svd."""
    monkeypatch.setenv("SVD_CACHE_DIR", str(tmp_path / "cache"))


def write_song(root, name, seconds, segments, rate_hz=22050, seed=0):
    """Write audio/<name> (noise, plus a 440 Hz tone in sing segments) and labels/<stem>.lab."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    samples = 0.05 * rng.standard_normal(len(t))
    for start, end, sing in segments:
        if sing:
            inside = (t >= start) & (t < end)
            samples[inside] += 0.3 * np.sin(2 * np.pi * 440 * t[inside])
    root = pathlib.Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    soundfile.write(root / "audio" / name, samples.astype(np.float32), rate_hz)
    lab = "".join(f"{s:.3f} {e:.3f} {'sing' if v else 'nosing'}\n" for s, e, v in segments)
    (root / "labels" / (pathlib.Path(name).stem + ".lab")).write_text(lab, encoding="utf-8")


def write_filelist(root, split, names):
    (pathlib.Path(root) / "filelists").mkdir(parents=True, exist_ok=True)
    (pathlib.Path(root) / "filelists" / split).write_text("".join(n + "\n" for n in names), encoding="utf-8")


def untrained_model(corpus, path, seed=0):
    """A model with random (scaled) weights and the corpus's statistics: detection and counting need no training."""
    from svd import dataset, model_file, network, normalise, spectrum
    songs = dataset.load_split(corpus, "train", quiet=True)
    mean, std = normalise.band_statistics(spectrum.log_mel(s.linear) for s in songs)
    rng = np.random.default_rng(seed)
    params = {k: (2.0 * v if k.endswith(".w") else rng.normal(0, 0.2, v.shape).astype(np.float32))
              for k, v in network.init_params(rng).items()}
    model_file.save(path, model_file.Model(params, mean, std, {"train": {"seed": seed}, "data": str(corpus)}))


def one_song_model(base, model_name):
    """base/corpus with one 4 s training song (voice from 1.5 s) and an untrained model base/model_name of it."""
    write_song(base / "corpus", "train.wav", 4.0, [(0.0, 1.5, False), (1.5, 4.0, True)])
    write_filelist(base / "corpus", "train", ["train.wav"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SVD_CACHE_DIR", str(base / "cache"))
        untrained_model(base / "corpus", base / model_name)


def dead_pid():
    """The id of a process that has just ended (and been reaped, so no process has it now)."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


@pytest.fixture
def tiny_corpus(tmp_path):
    """Three 4-second songs, one per split."""
    root = tmp_path / "corpus"
    for split, seed in (("train", 1), ("valid", 2), ("test", 3)):
        name = f"{split}_sång.wav"
        write_song(root, name, 4.0, [(0.0, 1.5, False), (1.5, 3.0, True), (3.0, 4.0, False)], seed=seed)
        write_filelist(root, split, [name])
    return root


@pytest.fixture
def choice():
    """backend.use, for a test that chooses an implementation; the previous choice is restored after it."""
    from svd import backend
    previous = backend.use(None)
    yield backend.use
    backend.use(previous)
