"""svd/dataset.py and svd/util/feature_cache.py: layout, targets, errors, cache hits and corrupt entries."""
import numpy as np
import pytest

from svd import dataset, spectrum
from svd.util import feature_cache
from svd.util.errors import InputError
from conftest import write_filelist, write_song


def test_loads_a_split_with_frame_targets(tiny_corpus, tmp_path):
    songs = dataset.load_split(tiny_corpus, "train", tmp_path / "c", quiet=True)
    assert [s.name for s in songs] == ["train_sång.wav"]
    song = songs[0]
    assert song.linear.shape == (spectrum.frame_count(4 * 22050), spectrum.LINEAR_BINS)
    times = spectrum.frame_times_s(len(song.targets))
    np.testing.assert_array_equal(song.targets, (times >= 1.5) & (times < 3.0))
    assert song.duration_s == pytest.approx(4.0)


def test_second_load_hits_the_cache_without_recomputing(tiny_corpus, tmp_path, monkeypatch):
    first, hit = dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")
    assert not hit
    monkeypatch.setattr(spectrum, "linear_spectrogram", lambda *a: pytest.fail("recomputed"))
    second, hit = dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")
    assert hit
    np.testing.assert_array_equal(first.linear, second.linear)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_a_corrupt_cache_entry_is_rebuilt_not_trusted(tiny_corpus, tmp_path, damage):
    song, _ = dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")
    (entry,) = (tmp_path / "c" / "features").glob("*.npz")
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF  # inside the array payload
    else:
        data = b"not a zip at all"
    entry.write_bytes(bytes(data))
    rebuilt, hit = dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")
    assert not hit
    np.testing.assert_array_equal(rebuilt.linear, song.linear)
    assert dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")[1]  # repaired entry now hits


def test_changed_audio_misses_the_cache(tiny_corpus, tmp_path):
    dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")
    write_song(tiny_corpus, "train_sång.wav", 4.0, [(0.0, 4.0, True)], seed=99)
    assert not dataset.load_song(tiny_corpus, "train_sång.wav", tmp_path / "c")[1]


def test_cache_key_depends_on_content_and_parameters(tiny_corpus, monkeypatch):
    path = tiny_corpus / "audio" / "train_sång.wav"
    key = feature_cache.feature_key(path)
    assert key == feature_cache.feature_key(path)
    monkeypatch.setattr(spectrum, "HOP_SAMPLES", 316)
    assert feature_cache.feature_key(path) != key


def test_missing_filelist_names_the_available_ones(tiny_corpus):
    with pytest.raises(InputError, match=r"filelists/fold1: filelist not found \(available: test, train, valid\)"):
        dataset.read_filelist(tiny_corpus, "fold1")


def test_empty_filelist(tiny_corpus):
    write_filelist(tiny_corpus, "empty", [])
    with pytest.raises(InputError, match="the filelist is empty"):
        dataset.read_filelist(tiny_corpus, "empty")


def test_filelist_entry_without_audio(tiny_corpus):
    write_filelist(tiny_corpus, "bad", ["train_sång.wav", "ghost.wav"])
    with pytest.raises(InputError, match="entry 'ghost.wav' has no file"):
        dataset.read_filelist(tiny_corpus, "bad")


def test_audio_without_labels(tiny_corpus, tmp_path):
    (tiny_corpus / "labels" / "train_sång.lab").unlink()
    with pytest.raises(InputError, match="train_sång.lab: label file not found"):
        dataset.load_split(tiny_corpus, "train", tmp_path / "c", quiet=True)


def test_audio_shorter_than_one_excerpt_is_refused(tmp_path):
    write_song(tmp_path, "short.wav", 1.0, [(0.0, 1.0, True)])
    write_filelist(tmp_path, "train", ["short.wav"])
    with pytest.raises(InputError, match="short.wav: audio has 67 frames, shorter than one 1.68 s"):
        dataset.load_split(tmp_path, "train", tmp_path / "c", quiet=True)



def test_nested_audio_reads_the_labels_at_the_same_place_below_labels(tiny_corpus):
    """audio/a/s.wav and audio/b/s.wav both read labels/s.lab before (issue 29)."""
    audio, labels_dir = tiny_corpus / "audio", tiny_corpus / "labels"
    for folder, segments in (("a", "0 4 sing\n"), ("b", "0 4 nosing\n")):
        (audio / folder).mkdir()
        (audio / folder / "s.wav").write_bytes((audio / "train_sång.wav").read_bytes())
        (labels_dir / folder).mkdir()
        (labels_dir / folder / "s.lab").write_text(segments)
    (labels_dir / "s.lab").write_text("0 4 sing\n")
    (tiny_corpus / "filelists" / "nested").write_text("a/s.wav\nb/s.wav\n")
    a, b = dataset.load_split(tiny_corpus, "nested", quiet=True)
    assert a.targets.all() and not b.targets.any()
    (labels_dir / "b" / "s.lab").unlink()
    with pytest.raises(InputError, match="labels/b/s.lab: label file not found .*labels/s.lab is there"):
        dataset.load_split(tiny_corpus, "nested", quiet=True)
