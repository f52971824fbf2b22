"""svd/detect.py and `run.py detect`: segments, min-segment cleaning, and consistency with `run.py eval`."""
import json
import pathlib

import numpy as np
import pytest

from svd import dataset, detect, labels, model_file, predict
from svd.cli import options
from svd.jobs import input_files
from conftest import untrained_model, write_filelist, write_song


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    for split, count in (("train", 1), ("valid", 2), ("test", 2)):
        names = []
        for i in range(count):
            name = f"{split}{i}.wav"
            cut = 2.0 + i
            write_song(root, name, 6.0, [(0.0, cut, False), (cut, 4.5, True), (4.5, 6.0, False)], seed=len(names) + 7 * i)
            names.append(name)
        write_filelist(root, split, names)
    return root


def test_detected_labels_reproduce_the_eval_counts(corpus, tmp_path, capsys):
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    results = tmp_path / "r.json"
    assert options.main(["eval", str(model), "--data", str(corpus), "--json", str(results), "--quiet"]) == 0
    test = json.loads(results.read_text())["test"]
    out = tmp_path / "det"
    assert options.main(["detect", str(model), str(corpus / "audio" / "test0.wav"), str(corpus / "audio" / "test1.wav"),
                         "--out-dir", str(out), "--quiet"]) == 0
    counts = np.zeros(4, int)
    for name in ("test0", "test1"):
        song = dataset.load_song(corpus, name + ".wav", tmp_path / "cache")[0]
        detected = labels.frame_targets(labels.read_lab(out / f"{name}.lab"), len(song.targets))
        counts += labels_confusion(detected, song.targets)
    assert tuple(counts) == (test["tp"], test["fp"], test["tn"], test["fn"])


def labels_confusion(predicted, targets):
    from svd import evaluate
    return np.array(evaluate.confusion(predicted.astype(bool), targets))


def test_lab_covers_the_whole_file_contiguously(corpus, tmp_path):
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    out = tmp_path / "det"
    assert options.main(["detect", str(model), str(corpus / "audio"), "--threshold", "0.5", "--out-dir", str(out),
                         "--quiet"]) == 0
    assert len(list(out.glob("*.lab"))) == 5  # the directory was walked
    segments = labels.read_lab(out / "test0.lab")
    assert segments[0][0] == 0.0 and segments[-1][1] == pytest.approx(6.0, abs=1e-3)
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(segments, segments[1:]))


def test_outputs_mirror_the_input_tree_and_never_collide(corpus, tmp_path, capsys):
    import shutil
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    tree = tmp_path / "music"
    (tree / "a").mkdir(parents=True)
    (tree / "b" / "deep").mkdir(parents=True)
    shutil.copy(corpus / "audio" / "test0.wav", tree / "a" / "01.wav")
    shutil.copy(corpus / "audio" / "test1.wav", tree / "b" / "01.wav")
    shutil.copy(corpus / "audio" / "valid0.wav", tree / "b" / "deep" / "02.wav")
    shutil.copy(corpus / "audio" / "valid1.wav", tree / "b" / "deep" / "02.flac.wav")
    shutil.copy(corpus / "audio" / "valid1.wav", tree / "b" / "deep" / "02.flac")
    out = tmp_path / "det"
    assert options.main(["detect", str(model), str(tree / "a"), str(tree / "b"), str(tree / "a" / "01.wav"),
                         "--threshold", "0.5", "--out-dir", str(out), "--quiet"]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.lab"))
    assert written == ["a/01.lab", "b/01.lab", "b/deep/02.flac.lab", "b/deep/02.flac.wav.lab", "b/deep/02.wav.lab"]
    assert len(capsys.readouterr().out.splitlines()) == 5  # a file named twice is done once
    # One folder: its own tree below --out-dir.
    files = input_files.audio_files([tree / "b"])
    assert input_files.output_stems(input_files.relative_paths(files, [tree / "b"]))[0].as_posix() == "01"


def test_an_unreadable_file_is_skipped_and_fails_the_run(corpus, tmp_path, capsys):
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    (corpus / "audio" / "zz_broken.mp3").write_bytes(b"ID3 not really an mp3")
    out = tmp_path / "det"
    code = options.main(["detect", str(model), str(corpus / "audio"), "--threshold", "0.5", "--out-dir", str(out),
                         "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "failed: " in err and "zz_broken.mp3: cannot decode audio" in err
    assert "1 of 6 files could not be processed" in err
    assert len(list(out.glob("*.lab"))) == 5  # the others were done


def test_a_model_without_threshold_needs_eval_or_threshold(corpus, tmp_path, capsys):
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    assert options.main(["detect", str(model), str(corpus / "audio"), "--quiet"]) == 2
    assert "no stored threshold" in capsys.readouterr().err


def test_plot_writes_a_png(corpus, tmp_path):
    pytest.importorskip("matplotlib")
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    out = tmp_path / "det"
    assert options.main(["detect", str(model), str(corpus / "audio" / "test0.wav"), "--threshold", "0.5", "--plot",
                         "--out-dir", str(out), "--quiet"]) == 0
    assert (out / "test0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("runs, min_frames, expected", [
    ([(1, 10), (0, 2), (1, 10)], 3, [(1, 22)]),                 # a short gap is filled
    ([(0, 10), (1, 2), (0, 3), (1, 10)], 3, [(0, 15), (1, 10)]),  # shortest first, then re-check
    ([(1, 2)], 5, [(1, 2)]),                                     # a song shorter than the minimum stays
    ([(0, 4), (1, 4)], 0, [(0, 4), (1, 4)]),                     # 0 disables cleaning
])
def test_remove_short_segments(runs, min_frames, expected):
    is_sing = np.concatenate([np.full(n, bool(v)) for v, n in runs])
    cleaned = detect.remove_short_segments(is_sing, min_frames)
    np.testing.assert_array_equal(cleaned, np.concatenate([np.full(n, bool(v)) for v, n in expected]))


def test_tta_with_only_the_unshifted_copy_equals_plain_prediction(corpus, tmp_path):
    model_path = tmp_path / "m.npz"
    untrained_model(corpus, model_path)
    model = model_file.load(model_path)
    song = dataset.load_song(corpus, "test0.wav", tmp_path / "cache")[0]
    plain = predict.probabilities(model, song.linear)
    np.testing.assert_array_equal(predict.probabilities(model, song.linear, (1.0,)), plain)
    shifted = predict.probabilities(model, song.linear, (1.0, 0.8, 1.2))
    assert shifted.shape == plain.shape and not np.array_equal(shifted, plain)


def test_the_folder_walk_follows_linked_subfolders_once_and_names_broken_links(tmp_path):
    """Files below a symlinked subfolder were skipped, and dangling links, without a word (issue 29)."""
    music, elsewhere = tmp_path / "music", tmp_path / "elsewhere"
    music.mkdir()
    elsewhere.mkdir()
    (music / "a.wav").write_bytes(b"")
    (elsewhere / "b.flac").write_bytes(b"")
    (music / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(music, target_is_directory=True)  # a loop back: must end
    (music / "gone.wav").symlink_to(tmp_path / "deleted.wav")
    broken = []
    files = input_files.audio_files([music], broken_links=broken)
    assert sorted(p.name for p in files) == ["a.wav", "b.flac"]
    assert [p.name for p in broken] == ["gone.wav"]


def test_files_from_a_corpus_filelist_finds_the_audio_beside_it(corpus, tmp_path):
    """A corpus's filelists/<split> names files in audio/; --files-from takes them from there (issue 31)."""
    names = (corpus / "filelists" / "test").read_text().split()
    found = input_files.read_file_list(corpus / "filelists" / "test")
    assert found == [corpus / "audio" / name for name in names]


def test_a_file_that_runs_out_of_memory_fails_alone_and_the_job_goes_on(corpus, tmp_path, monkeypatch, capsys):
    """A MemoryError inside one file's decoding ended the whole job with a traceback (issue 29)."""
    model = tmp_path / "m.npz"
    untrained_model(corpus, model)
    real = detect.read_spectrogram

    def runs_out(path):
        if pathlib.Path(path).name == "valid0.wav":
            raise MemoryError
        return real(path)
    monkeypatch.setattr(detect, "read_spectrogram", runs_out)
    out = tmp_path / "det"
    code = options.main(["detect", str(model), str(corpus / "audio"), "--threshold", "0.5", "--out-dir", str(out),
                         "--quiet", "--jobs", "0"])  # in this process, where the stand-in decoder is
    err = capsys.readouterr().err
    assert code == 2 and "valid0.wav: not enough memory to read it" in err
    assert (out / "valid1.lab").is_file() and not (out / "valid0.lab").exists()
