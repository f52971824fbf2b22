"""Tests for svd/synth/: the synthetic default corpus.

A small corpus (4 clips of 6 s) keeps this file fast; each promise of `write_corpus`
(determinism, layout, audio format, exact labels, atomic writing) has a test.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile
from conftest import dead_pid

from svd import synth
from svd.spectrum import SAMPLE_RATE_HZ
from svd.util import atomic
from svd.util.errors import InputError

ROOT = pathlib.Path(__file__).resolve().parent.parent

SMALL = dict(n_clips=4, clip_seconds=6.0, split_sizes=(2, 1, 1))
TINY = dict(n_clips=3, clip_seconds=4.0, split_sizes=(1, 1, 1))
SPLITS = ("train", "valid", "test")
RATE = SAMPLE_RATE_HZ
LAB_LINE = re.compile(r"\d+\.\d{3} \d+\.\d{3} (sing|nosing)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synth.write_corpus(tmp_path_factory.mktemp("synth") / "corpus", seed=0, **SMALL)


def read_tree(root):
    """{path relative to root: bytes} of every file under root."""
    return {path.relative_to(root): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def read_lab(path):
    return [(float(start), float(end), label) for start, end, label in
            (line.split() for line in path.read_text().splitlines())]


def rms(x):
    return np.sqrt(np.mean(x ** 2))


def test_same_seed_gives_identical_bytes(corpus, tmp_path):
    again = synth.write_corpus(tmp_path / "again", seed=0, **SMALL)
    assert read_tree(again) == read_tree(corpus)


def test_other_seed_gives_other_audio_and_labels(corpus, tmp_path):
    other = synth.write_corpus(tmp_path / "other", seed=1, **SMALL)
    for index in range(SMALL["n_clips"]):
        for name in (f"audio/clip{index:03d}.wav", f"labels/clip{index:03d}.lab"):
            assert (other / name).read_bytes() != (corpus / name).read_bytes(), name


def test_clips_do_not_depend_on_how_many_are_made(corpus, tmp_path):
    fewer = synth.write_corpus(tmp_path / "fewer", seed=0, n_clips=3, clip_seconds=6.0, split_sizes=(1, 1, 1))
    for index in range(3):
        for name in (f"audio/clip{index:03d}.wav", f"labels/clip{index:03d}.lab"):
            assert (fewer / name).read_bytes() == (corpus / name).read_bytes(), name


def test_filelists_name_every_audio_file_once_with_its_labels(corpus):
    splits = {}
    for split in SPLITS:
        text = (corpus / "filelists" / split).read_text()
        assert text.endswith("\n")
        splits[split] = text.splitlines()
    assert [len(splits[split]) for split in SPLITS] == list(SMALL["split_sizes"])
    listed = splits["train"] + splits["valid"] + splits["test"]
    assert listed == [f"clip{index:03d}.wav" for index in range(SMALL["n_clips"])]
    assert sorted(path.name for path in (corpus / "audio").iterdir()) == listed
    labels = [name.replace(".wav", ".lab") for name in listed]
    assert sorted(path.name for path in (corpus / "labels").iterdir()) == labels
    assert "seed: 0" in (corpus / "README.txt").read_text()


def test_labels_alternate_and_cover_each_clip(corpus):
    for split in SPLITS:
        labels_in_split = set()
        for name in (corpus / "filelists" / split).read_text().splitlines():
            lab = corpus / "labels" / name.replace(".wav", ".lab")
            assert all(LAB_LINE.fullmatch(line) for line in lab.read_text().splitlines()), lab
            segments = read_lab(lab)
            assert segments[0][0] == 0.0
            for (_, end, label), (next_start, _, next_label) in zip(segments, segments[1:]):
                assert end == next_start and label != next_label
            assert all(start < end for start, end, _ in segments)
            duration_s = soundfile.info(corpus / "audio" / name).frames / RATE
            assert abs(segments[-1][1] - duration_s) <= 1e-3      # times are stored to the millisecond
            labels_in_split |= {label for _, _, label in segments}
        assert labels_in_split == {"sing", "nosing"}, split


def test_audio_is_mono_finite_and_peak_normalised(corpus):
    for path in sorted((corpus / "audio").iterdir()):
        info = soundfile.info(path)
        assert (info.channels, info.samplerate, info.frames) == (1, RATE, round(SMALL["clip_seconds"] * RATE))
        audio, _ = soundfile.read(path)
        assert np.isfinite(audio).all()
        # 16-bit storage moves the peak by at most one quantisation step, 2**-15.
        assert abs(np.abs(audio).max() - 10 ** (synth.PEAK_DBFS / 20)) <= 2 ** -15
        assert rms(audio) > 0.03


@pytest.mark.parametrize("seed", range(3))
def test_voice_sounds_exactly_during_sing_segments(seed):
    mix, voice, segments = synth.synth_clip(np.random.default_rng(seed), 8.0)
    accompaniment = mix - voice
    sung = np.zeros(len(voice), bool)
    edge = round(0.03 * RATE)       # attack and release last at most 30 ms
    for start_s, end_s, label in segments:
        if label == "sing":
            start, end = round(start_s * RATE), round(end_s * RATE)
            sung[start:end] = True
            phrase = voice[start:end]
            # Mixed at -6..+6 dB re the accompaniment, plus a little per-phrase variation.
            assert 10 ** (-12 / 20) < rms(phrase) / rms(accompaniment[start:end]) < 10 ** (12 / 20)
            # Sounding right from the label's start to its end (-60 dB re the phrase allows for the ramps).
            assert rms(phrase[:edge]) > 1e-3 * rms(phrase) and rms(phrase[-edge:]) > 1e-3 * rms(phrase)
    assert not voice[~sung].any()     # exactly zero: the phrases are written into silence
    assert rms(accompaniment[~sung]) > 0


@pytest.mark.parametrize("seed", range(5))
def test_vocal_layout_alternates_within_the_voice_fraction(seed):
    rng = np.random.default_rng(seed)
    seconds = round(rng.uniform(synth.MIN_CLIP_S, 120.0), 3)
    segments = synth.vocal_layout(rng, seconds)
    assert segments[0][0] == 0.0 and segments[-1][1] == seconds
    for (_, end, label), (next_start, _, next_label) in zip(segments, segments[1:]):
        assert end == next_start and label != next_label
    assert min(end - start for start, end, _ in segments) >= synth.clip.MIN_SEGMENT_S
    sung_s = sum(end - start for start, end, label in segments if label == "sing")
    assert synth.clip.VOICE_FRACTION[0] <= sung_s / seconds <= synth.clip.VOICE_FRACTION[1]


def test_progress_is_reported_after_each_clip(tmp_path):
    calls = []
    synth.write_corpus(tmp_path / "corpus", progress=lambda done, total: calls.append((done, total)), **TINY)
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_empty_existing_dir_is_filled(tmp_path):
    out_dir = tmp_path / "corpus"
    out_dir.mkdir()
    synth.write_corpus(out_dir, seed=0, **TINY)
    assert len(list((out_dir / "audio").iterdir())) == 3
    assert list(tmp_path.iterdir()) == [out_dir]          # no temporary directory left behind


def test_non_empty_out_dir_is_refused_and_kept(tmp_path):
    out_dir = tmp_path / "corpus"
    out_dir.mkdir()
    (out_dir / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        synth.write_corpus(out_dir, **TINY)
    assert list(out_dir.iterdir()) == [out_dir / "mine.txt"]
    assert (out_dir / "mine.txt").read_text() == "keep me"
    assert list(tmp_path.iterdir()) == [out_dir]


def test_a_crash_leaves_no_half_corpus(tmp_path):
    def crash(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth.write_corpus(tmp_path / "corpus", progress=crash, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sizes", [dict(split_sizes=(2, 2, 0)), dict(split_sizes=(2, 1, 2)),
                                   dict(split_sizes=(2, 2)), dict(clip_seconds=2.0)])
def test_impossible_sizes_are_refused(tmp_path, sizes):
    with pytest.raises(InputError):
        synth.write_corpus(tmp_path / "corpus", **{**SMALL, **sizes})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sizes, option", [
    (dict(clip_seconds=float("nan")), "--seconds nan: a clip needs at least 4 s"),
    (dict(clip_seconds=synth.MAX_CLIP_S + 1), "--seconds 601: .* at most 600 s"),
    (dict(clip_seconds=float("inf")), "--seconds inf: .* pick a length in that range"),
    (dict(n_clips=20000, clip_seconds=30.0, split_sizes=(19998, 1, 1)), "--clips 20000 x --seconds 30"),
])
def test_absurd_sizes_are_refused_before_any_work(tmp_path, sizes, option, capsys):
    request = {**SMALL, **sizes}
    with pytest.raises(InputError, match=option) as error:
        synth.write_corpus_with_progress(tmp_path / "corpus", 0, False, **request)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().err == ""   # not even a progress line


def test_a_corpus_larger_than_the_free_disk_space_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(synth.corpus.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=100_000))
    with pytest.raises(InputError, match=r"x --seconds 4 needs 1 MB but .* has 0 MB free; free some space"):
        synth.write_corpus(tmp_path / "corpus", **TINY)
    assert list(tmp_path.iterdir()) == []


def test_only_a_dead_writers_partial_directory_is_removed(tmp_path):
    partials = {
        f".corpus.{atomic.HOST_TAG}-{dead_pid()}.abcd_123.partial": False,      # a killed run's: removed
        f".corpus.{atomic.HOST_TAG}-{os.getppid()}.abcd_123.partial": True,     # a run still working: kept
        f".other.{atomic.HOST_TAG}-{dead_pid()}.abcd_123.partial": True,        # another corpus's: left
    }
    for name in partials:
        (tmp_path / name / "audio").mkdir(parents=True)
        (tmp_path / name / "audio" / "clip000.wav").write_bytes(b"half")
    synth.write_corpus(tmp_path / "corpus", **TINY)
    assert {name: (tmp_path / name).exists() for name in partials} == partials
    assert (tmp_path / "corpus" / "filelists" / "test").is_file()


def finish_first_elsewhere(monkeypatch, corpus):
    """Make `fill_corpus` behave as if another process renamed a complete `corpus` into place meanwhile."""
    fill = synth.corpus.fill_corpus

    def fill_and_lose_the_race(corpus_dir, *args):
        fill(corpus_dir, *args)
        if not corpus.exists():
            shutil.copytree(corpus_dir, corpus)
    monkeypatch.setattr(synth.corpus, "fill_corpus", fill_and_lose_the_race)


def test_a_corpus_written_meanwhile_by_another_process_is_refused_not_overwritten(tmp_path, monkeypatch):
    finish_first_elsewhere(monkeypatch, tmp_path / "corpus")
    with pytest.raises(InputError, match="another process wrote it meanwhile"):
        synth.write_corpus(tmp_path / "corpus", **TINY)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["corpus"]


def test_the_default_corpus_is_generated_once_and_the_winner_of_a_race_is_used(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(synth.corpus, "DEFAULT_CLIPS", 3)
    monkeypatch.setattr(synth.corpus, "DEFAULT_CLIP_S", 4.0)
    monkeypatch.setattr(synth.corpus, "DEFAULT_SPLITS", (1, 1, 1))
    corpus = tmp_path / f"synthetic-v{synth.VERSION}-seed{synth.DEFAULT_SEED}"
    finish_first_elsewhere(monkeypatch, corpus)
    assert synth.default_corpus(tmp_path, quiet=True) == corpus
    assert "generating the default synthetic corpus" in capsys.readouterr().err
    assert synth.default_corpus(tmp_path, quiet=True) == corpus     # there now: not generated again
    assert capsys.readouterr().err == ""
    assert sorted(path.name for path in tmp_path.iterdir()) == [corpus.name]


# A first use of the default corpus, made small (argv: cache dir, barrier dir). The barrier
# holds each process after it has built its own copy until the other has too, so both
# try to rename theirs into place and one of them must lose.
FIRST_USE = """
import os, pathlib, sys, time
from svd.synth import corpus
cache, barrier = map(pathlib.Path, sys.argv[1:])
corpus.DEFAULT_CLIPS, corpus.DEFAULT_CLIP_S, corpus.DEFAULT_SPLITS = 3, 4.0, (1, 1, 1)
fill = corpus.fill_corpus

def fill_then_wait(*args):
    fill(*args)
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

corpus.fill_corpus = fill_then_wait
print(corpus.default_corpus(cache, quiet=True))
"""


def test_two_processes_needing_the_default_corpus_at_once_both_get_it(tmp_path):
    cache, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    processes = [subprocess.Popen([sys.executable, "-c", FIRST_USE, str(cache), str(barrier)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    assert len(list(barrier.iterdir())) == 2                   # both built a copy: the race did happen
    corpus = cache / f"synthetic-v{synth.VERSION}-seed{synth.DEFAULT_SEED}"
    assert [out.strip() for out, _ in outputs] == [str(corpus)] * 2
    assert read_tree(corpus) == read_tree(synth.write_corpus(tmp_path / "alone", **TINY))
    assert [path.name for path in cache.iterdir()] == [corpus.name]   # the loser's copy is gone
