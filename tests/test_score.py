"""svd/cli/score.py and `run.py score`: the three segment formats, the label vocabulary, matching files to songs,
and counts equal to eval's on the same frames."""
import json

import numpy as np
import pytest

from conftest import untrained_model
from svd import dataset, labels
from svd.cli import options, score
from svd.util.errors import InputError


def random_segments(rng, duration_s=20.0):
    """Contiguous segments over [0, duration_s] with alternating classes, times to the millisecond."""
    cuts = np.unique(np.round(rng.uniform(0.1, duration_s - 0.1, rng.integers(0, 8)), 3))
    bounds = [0.0, *map(float, cuts), duration_s]
    first = bool(rng.integers(0, 2))
    return [(bounds[k], bounds[k + 1], first != (k % 2 == 1)) for k in range(len(bounds) - 1)]


def write_formats(folder, stem, segments, voice="sing", no_voice="nosing"):
    """The same segments as <stem>.lab, <stem>.txt (Audacity) and <stem>.csv; returns the three paths."""
    folder.mkdir(parents=True, exist_ok=True)
    lab, txt, csv = folder / f"{stem}.lab", folder / f"{stem}.txt", folder / f"{stem}.csv"
    lab.write_text(labels.lab_text(segments), encoding="utf-8")
    word = {True: voice, False: no_voice}
    txt.write_text("".join(f"{s:.6f}\t{e:.6f}\t{word[v]}\n" for s, e, v in segments), encoding="utf-8")
    csv.write_text("start_s,end_s,label\n" + "".join(f"{s},{e},{word[v]}\n" for s, e, v in segments),
                   encoding="utf-8")
    return lab, txt, csv


@pytest.mark.parametrize("seed", range(5))
def test_the_three_formats_read_the_same_segments(tmp_path, seed):
    segments = random_segments(np.random.default_rng(seed))
    read = [score.read_predictions(path) for path in write_formats(tmp_path, "song", segments)]
    for found in read:
        assert [(round(s, 3), round(e, 3), v) for s, e, v in found] == segments


@pytest.mark.parametrize("voice, no_voice", [("sing", "nosing")])
def test_the_vocabulary_of_audacity_and_csv_files(tmp_path, voice, no_voice):
    segments = [(0.0, 1.0, False), (1.0, 2.5, True), (2.5, 3.0, False)]
    for path in write_formats(tmp_path, "song", segments, voice, no_voice)[1:]:
        assert score.read_predictions(path) == segments


def test_audacity_spectral_selection_lines_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "song.txt"
    path.write_text("0.5\t1.5\tsing\n\\\t200.0\t4000.0\n\n2.0\t3.0\tnosing\n", encoding="utf-8")
    assert score.read_predictions(path) == [(0.5, 1.5, True), (2.0, 3.0, False)]


@pytest.mark.parametrize("name, text, expected", [
    ("a.txt", "0\t1\tvocals\n", "line 1: unknown label 'vocals'; use 'sing' or 'nosing'"),
    ("a.txt", "0\t1\t\n", "line 1: unknown label ''"),  # an Audacity label left empty
    ("a.txt", "0\t1\tSing\n", "unknown label 'Sing'"),  # exactly as written: lower case
    ("a.csv", "start_s,end_s,label\n0,1,singing\n", "line 2: unknown label 'singing'"),
    ("a.txt", "0 1 sing\n", "line 1: expected 'start<TAB>end<TAB>sing|nosing' (tab-separated)"),
    ("a.txt", "0\tone\tsing\n", "line 1: start and end must be numbers of seconds"),
    ("a.txt", "2\t1\tsing\n", "line 1: need 0 <= start < end"),
    ("a.txt", "0\tnan\tsing\n", "line 1: need 0 <= start < end"),
    ("a.txt", "0\t2\tsing\n1\t3\tnosing\n", "line 2: segment starts at 1 s, before the previous one ends (2 s)"),
    ("a.txt", "\n", "the label file is empty"),
    ("a.csv", "0,1,sing\n", "line 1: expected the header 'start_s,end_s,label', got '0,1,sing'"),
    ("a.csv", "", "got an empty file"),
    ("a.csv", "start_s,end_s,label\n0,1\n", "line 2: expected 'start,end,sing|nosing', got '0,1'"),
    ("a.csv", "start_s,end_s,label\n", "the label file is empty"),
    ("a.lab", "0 1 voice\n", "line 1: unknown label 'voice'; use 'sing' or 'nosing'"),  # .lab stays strict
    ("a.js", "{}", "not a prediction file this program reads"),
    ("a.json", "{}", "expected an object with a list 'segments'"),
])
def test_a_malformed_prediction_file_is_one_clear_error(tmp_path, name, text, expected):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as error:
        score.read_predictions(tmp_path / name)
    assert expected in str(error.value) and str(tmp_path / name) in str(error.value)


def test_a_csv_header_with_a_byte_order_mark_and_spaces_is_read(tmp_path):
    (tmp_path / "a.csv").write_bytes("\ufeffstart_s, end_s, label\n0,1.5, sing\n".encode("utf-8"))
    assert score.read_predictions(tmp_path / "a.csv") == [(0.0, 1.5, True)]


# ------------------------------------------------------------------ matching

SONGS = ["01 - Intro.mp3", "02.wav"]
CORPUS = SONGS + ["03.wav", "04.flac"]


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("0 1 sing\n")
    return [folder / name for name in names]


def test_files_match_songs_by_stem_or_whole_name_and_other_splits_are_passed_over(tmp_path):
    files = touch(tmp_path, "01 - Intro.lab", "02.wav.lab", "03.txt")
    chosen, passed_over = score.match(SONGS, files, CORPUS, "test")
    assert chosen == {"01 - Intro.mp3": files[0], "02.wav": files[1]}
    assert passed_over == [files[2]]


@pytest.mark.parametrize("names, expected", [
    (["01 - Intro.lab"], "1 of the 2 songs of test have no prediction file: 02.wav (each needs <audio stem>.lab"),
    (["01 - Intro.lab", "2.lab"], "these files match no song of the corpus: "),  # a typo is named beside the gap
    (["01 - Intro.lab", "02.lab", "05.csv"], "1 prediction files match no song of the corpus: "),
    (["01 - Intro.lab", "02.lab", "02.wav.csv"], "both give predictions for 02.wav; keep one of them"),
])
def test_missing_extra_and_doubled_files_are_refused(tmp_path, names, expected):
    with pytest.raises(InputError) as error:
        score.match(SONGS, touch(tmp_path, *names), CORPUS, "test")
    assert expected in str(error.value)


def test_prediction_files_walks_folders_and_refuses_what_it_cannot_read(tmp_path):
    lab, = touch(tmp_path / "out" / "deep", "a.lab")
    touch(tmp_path / "out", "summary.jsonl", "a.png", ".hidden.lab")
    assert score.prediction_files([tmp_path / "out", lab]) == [lab]  # named twice, counted once
    for inputs, expected in (([tmp_path / "none"], "no such file or folder"),
                             ([tmp_path / "out" / "a.png"], "not a prediction file this program reads"),
                             ([tmp_path / "out" / "deep" / "x"], "no such file or folder")):
        with pytest.raises(InputError, match=expected):
            score.prediction_files(inputs)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no prediction files"):
        score.prediction_files([tmp_path / "empty"])


# ------------------------------------------------------------------ counting

def test_frame_decisions_come_straight_from_the_segments_without_smoothing(tiny_corpus):
    song, = dataset.load_split(tiny_corpus, "test", quiet=True)
    blip = [(0.0, 0.5, False), (0.5, 0.6, True), (0.6, song.duration_s, False)]  # 100 ms: a median filter removes it
    scored = score.score([song], {song.name: ("blip.lab", blip)})
    decided = labels.frame_targets(blip, len(song.targets)).astype(bool)
    assert 6 <= decided.sum() <= 8 and scored["songs"][0]["tp"] + scored["songs"][0]["fp"] == decided.sum()
    assert scored["pooled"]["fp"] == int(np.sum(decided & (song.targets == 0)))


def test_segments_past_the_audio_are_refused(tiny_corpus):
    song, = dataset.load_split(tiny_corpus, "test", quiet=True)
    with pytest.raises(InputError, match="the labels do not belong to this audio"):
        score.score([song], {song.name: ("late.lab", [(0.0, 9.0, True)])})


def test_the_corpus_labels_score_perfectly_with_the_base_rate_beside(tiny_corpus, tmp_path, capsys):
    results = tmp_path / "score.json"
    assert options.main(["score", str(tiny_corpus / "labels"), "--data", str(tiny_corpus), "--json", str(results),
                         "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "no median filter" in out and "test_sång.wav" in out and "always voice" in out
    found = json.loads(results.read_text(), parse_constant=lambda c: pytest.fail(f"{c} is not strict JSON"))
    assert found["pooled"]["error"] == 0.0 and found["split"] == "test" and "fractions" in found["units"]
    rate = found["base_rate"]
    assert rate["never_voice_error"] == rate["voice_fraction"] == pytest.approx(1.5 / 4, abs=0.01)
    assert rate["always_voice_error"] == pytest.approx(1 - rate["voice_fraction"])
    assert found["songs"][0]["predictions"].endswith("test_sång.lab") and "auroc" not in found["songs"][0]
    assert found["provenance"]["device"] is None and found["provenance"]["seed"] is None


def test_scoring_detect_output_gives_the_counts_of_eval(tiny_corpus, tmp_path, capsys):
    """detect writes eval's decisions (smoothed, at the stored threshold) as segments; score counts them
    on the same frames, so the test split's counts must be eval's exactly."""
    model = tmp_path / "m.npz"
    untrained_model(tiny_corpus, model)
    evaluated, scored = tmp_path / "eval.json", tmp_path / "score.json"
    assert options.main(["eval", str(model), "--data", str(tiny_corpus), "--json", str(evaluated), "--quiet"]) == 0
    assert options.main(["detect", str(model), str(tiny_corpus / "audio"), "--out-dir", str(tmp_path / "det"),
                         "--quiet"]) == 0
    assert options.main(["score", str(tmp_path / "det"), "--data", str(tiny_corpus), "--json", str(scored),
                         "--quiet"]) == 0
    capsys.readouterr()
    test, pooled = json.loads(evaluated.read_text())["test"], json.loads(scored.read_text())["pooled"]
    assert [pooled[k] for k in ("tp", "fp", "tn", "fn")] == [test[k] for k in ("tp", "fp", "tn", "fn")]


def test_a_missing_prediction_is_one_line_naming_the_song(tiny_corpus, tmp_path, capsys):
    touch(tmp_path / "preds", "valid_sång.lab")
    code = options.main(["score", str(tmp_path / "preds"), "--data", str(tiny_corpus), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "1 of the 1 songs of test have no prediction file: test_sång.wav" in err


def test_score_against_reference_label_files_needs_no_corpus(tmp_path, capsys):
    """`score EST --reference REF` (issue 31), as mir_eval users expect: files or folders matched by name."""
    (tmp_path / "ref").mkdir()
    (tmp_path / "est").mkdir()
    (tmp_path / "ref" / "a.lab").write_text("0 2 nosing\n2 6 sing\n")
    (tmp_path / "ref" / "b.lab").write_text("0 4 sing\n")
    (tmp_path / "est" / "a.lab").write_text("0 4 nosing\n4 6 sing\n")   # misses 2-4 s of singing
    (tmp_path / "est" / "b.csv").write_text("start_s,end_s,label\n0,4,sing\n")
    assert options.main(["score", str(tmp_path / "est"), "--reference", str(tmp_path / "ref"), "--quiet",
                         "--json", str(tmp_path / "s.json")]) == 0
    result = json.loads((tmp_path / "s.json").read_text())
    frames = sum(row["frames"] for row in result["songs"])
    assert result["pooled"]["fn"] == pytest.approx(2 * 70, abs=2) and result["pooled"]["fp"] == 0
    assert result["pooled"]["error"] == pytest.approx(result["pooled"]["fn"] / frames)
    assert options.main(["score", str(tmp_path / "est" / "a.lab"), "--reference", str(tmp_path / "ref" / "a.lab"),
                         "--quiet"]) == 0
    assert options.main(["score", str(tmp_path / "est"), "--reference", str(tmp_path / "ref"), "--split", "valid",
                         "--quiet"]) == 2
    assert "leave out --data and --split" in capsys.readouterr().err


def test_a_detect_folder_with_several_label_formats_per_song_is_scored_once(tmp_path, capsys):
    """detect --labels lab,audacity,csv writes three files per song; score reads the .lab (issue 31)."""
    (tmp_path / "ref").mkdir()
    (tmp_path / "det").mkdir()
    (tmp_path / "ref" / "a.lab").write_text("0 2 nosing\n2 6 sing\n")
    segments = [(0.0, 2.0, False), (2.0, 6.0, True)]
    for fmt, suffix in labels.LABEL_SUFFIXES.items():
        (tmp_path / "det" / f"a{suffix}").write_text(labels.segments_text(segments, fmt))
    assert options.main(["score", str(tmp_path / "det"), "--reference", str(tmp_path / "ref"), "--quiet",
                         "--json", str(tmp_path / "s.json")]) == 0
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["songs"][0]["predictions"].endswith("a.lab") and result["pooled"]["error"] == 0.0
