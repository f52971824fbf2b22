"""svd/ablate.py and `run.py ablate`: configurations, confidence intervals, resume, k-fold pooling, TTA reuse.

Training runs here are 2 updates of 2 excerpts on 4-second songs: the tests check
bookkeeping (what is trained, evaluated, read back and pooled), not learning.
"""
import dataclasses
import json

import numpy as np
import pytest

from svd import ablate, augment, dataset, evaluate, train
from svd.cli import options
from svd.util.errors import InputError
from conftest import write_filelist, write_song


def ablate_cli(corpus, out_dir, capsys, *extra):
    """Run `run.py ablate` quietly with tiny training; returns (exit code, stdout, stderr)."""
    code = options.main(["ablate", "--data", str(corpus), "--out-dir", str(out_dir), "--n-seeds", "1",
                         "--updates", "2", "--batch", "2", "--quiet", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refuse_training(*args, **kwargs):
    raise AssertionError("svd.train.train was called, but the model should have been reused")


# ---------------------------------------------------------------- statistics

def test_confidence_interval_matches_a_hand_computation():
    errors = [0.10, 0.12, 0.14, 0.11, 0.13]
    mean, half = ablate.mean_confidence(errors)
    # mean 0.12; s² = (0.02² + 0 + 0.02² + 0.01² + 0.01²) / 4 = 0.00025; t(0.975, 4 d.o.f.) = 2.776445 (tables).
    assert mean == pytest.approx(0.12, abs=1e-12)
    assert half == pytest.approx(2.776445 * np.sqrt(0.00025) / np.sqrt(5), rel=1e-6)  # 6 digits of the t value
    assert ablate.mean_confidence([0.2]) == (0.2, None)  # one seed: no interval


def test_each_single_method_configuration_switches_on_exactly_one_field():
    for name, field, strength in ablate.SINGLE_METHODS:
        on = {k: v for k, v in dataclasses.asdict(augment.Augmentation(**ablate.CONFIGS[name].augmentation)).items()
              if v != 0}
        assert on == {field: strength}, name
    assert ablate.CONFIGS["none"].augmentation == {}
    assert augment.Augmentation(**ablate.CONFIGS["combined"].augmentation) == augment.PAPER_COMBINATION
    for base in ("none", "combined"):
        tta = ablate.CONFIGS[base + "+tta"]
        assert tta.trained_as == base and tta.augmentation == ablate.CONFIGS[base].augmentation
        assert tta.pitch_factors == (1.0, 0.8, 0.9, 1.1, 1.2) and ablate.CONFIGS[base].pitch_factors == (1.0,)
    assert list(ablate.CONFIGS)[0] == "none" and list(ablate.CONFIGS)[-2:] == ["none+tta", "combined+tta"]


def test_configs_keep_figure_order_and_unknown_names_are_refused():
    assert [c.name for c in ablate.select_configs("pitch, none")] == ["none", "pitch"]
    with pytest.raises(InputError, match="unknown configuration 'pich'"):
        ablate.select_configs("none,pich")
    with pytest.raises(InputError, match="at least two different"):
        ablate.parse_folds("fold1")


# ---------------------------------------------------------------- resume and reuse

def test_a_finished_ablation_is_read_back_not_redone(tiny_corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ablation"
    code, first, _ = ablate_cli(tiny_corpus, out, capsys, "--configs", "none,pitch")
    assert code == 0
    assert sorted(p.name for p in out.glob("*.json")) == ["none-seed0.json", "pitch-seed0.json"]
    stored = json.loads((out / "pitch-seed0.json").read_text())
    assert stored["augmentation"] == {"pitch_shift": 0.3} and set(stored["chosen"]) == {"tp", "fp", "tn", "fn"}
    assert stored["provenance"]["seed"] == 0 and stored["tta_pitch_factors"] == [1.0]

    monkeypatch.setattr(train, "train", refuse_training)
    code, second, _ = ablate_cli(tiny_corpus, out, capsys, "--configs", "none,pitch")
    assert code == 0 and second == first
    # A model whose result file is missing is re-evaluated, not retrained.
    (out / "pitch-seed0.json").unlink()
    code, third, _ = ablate_cli(tiny_corpus, out, capsys, "--configs", "none,pitch")
    assert code == 0 and third == first


def test_results_of_other_settings_are_not_mixed_in(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "ablation"
    assert ablate_cli(tiny_corpus, out, capsys, "--configs", "none")[0] == 0
    code, _, err = ablate_cli(tiny_corpus, out, capsys, "--configs", "none", "--updates", "3")
    assert code == 2
    assert "updates 2 (now 3)" in err


def test_a_tta_configuration_reuses_its_base_model(tiny_corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ablation"
    assert ablate_cli(tiny_corpus, out, capsys, "--configs", "none")[0] == 0
    monkeypatch.setattr(train, "train", refuse_training)
    factors_seen = []
    real_probabilities = ablate.predict.probabilities

    def recording_probabilities(model, linear, pitch_factors=(1.0,), device=None):
        factors_seen.append(tuple(pitch_factors))
        return real_probabilities(model, linear, pitch_factors, device)
    monkeypatch.setattr(ablate.predict, "probabilities", recording_probabilities)
    code, text, _ = ablate_cli(tiny_corpus, out, capsys, "--configs", "none,none+tta")
    assert code == 0 and "test augmentation (none+tta)" in text
    assert factors_seen == [augment.TEST_TIME_PITCH_FACTORS] * 2  # valid and test songs, only for +tta
    assert (out / "none+tta-seed0.json").is_file()


# ---------------------------------------------------------------- k-fold

FOLD_SECONDS = {"f1": 4.0, "f2": 5.0, "f3": 6.0}
FOLD_PROBABILITY = {"f1": 0.8, "f2": 0.3, "f3": 0.6}  # constant per song: smoothing keeps it


@pytest.fixture
def fold_corpus(tmp_path):
    root = tmp_path / "folds"
    for index, (fold, seconds) in enumerate(FOLD_SECONDS.items()):
        write_song(root, f"{fold}.wav", seconds, [(0.0, 1.0, False), (1.0, 2.5, True), (2.5, seconds, False)],
                   seed=index)
        write_filelist(root, fold, [f"{fold}.wav"])
    return root


def test_k_fold_trains_on_the_other_folds_and_pools_counts(fold_corpus, tmp_path, monkeypatch):
    songs = {fold: dataset.load_split(fold_corpus, fold, quiet=True)[0] for fold in FOLD_SECONDS}
    fold_of_length = {len(song.targets): fold for fold, song in songs.items()}
    trained_on = []

    def fake_train(train_songs, config, out_path, **kwargs):
        trained_on.append(sorted(fold_of_length[len(s.targets)] for s in train_songs))
        return "model"  # writes nothing

    def fake_probabilities(model, linear, pitch_factors=(1.0,), device=None):
        return np.full(len(linear), FOLD_PROBABILITY[fold_of_length[len(linear)]], np.float32)
    monkeypatch.setattr(train, "train", fake_train)
    monkeypatch.setattr(ablate.predict, "probabilities", fake_probabilities)
    settings = ablate.Settings(str(fold_corpus), updates=2, batch=2, folds=list(FOLD_SECONDS), fold_threshold=0.5)
    configs = ablate.select_configs("none")
    results = ablate.run_ablation(settings, configs, [0], tmp_path / "out", quiet=True)

    assert trained_on == [["f2", "f3"], ["f1", "f3"], ["f1", "f2"]]
    chosen, optimal = np.zeros(4, int), np.zeros(4, int)
    for fold, song in songs.items():
        chosen += evaluate.confusion(np.full(len(song.targets), FOLD_PROBABILITY[fold] >= 0.5), song.targets)
        # A constant prediction's optimal threshold says all-voice or no-voice, whichever errs less.
        optimal += min((evaluate.confusion(np.full(len(song.targets), v), song.targets) for v in (True, False)),
                       key=lambda c: c[1] + c[3])
    assert ablate.pooled_counts(results, "chosen") == dict(zip(ablate.COUNT_KEYS, chosen.tolist()))
    assert ablate.pooled_counts(results, "optimal") == dict(zip(ablate.COUNT_KEYS, optimal.tolist()))
    row = ablate.summarise(results, configs)[0]
    expected = evaluate.measures(*chosen.tolist())
    for measure in ("error", "recall", "specificity"):
        assert row["chosen"][measure] == pytest.approx(expected[measure], abs=1e-12)
    assert row["error_mean"] == pytest.approx(evaluate.measures(*optimal.tolist())["error"], abs=1e-12)


def test_a_missing_fold_filelist_is_a_clear_error(fold_corpus, tmp_path, capsys):
    code, _, err = ablate_cli(fold_corpus, tmp_path / "out", capsys, "--folds", "f1,f2,f9")
    assert code == 2
    assert "filelists/f9: filelist not found" in err


def test_the_figure_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from svd.cli import plot
    summary = [{"name": "none", "error_mean": 0.1, "error_half_width": 0.02},
               {"name": "none+tta", "error_mean": 0.08, "error_half_width": None}]
    plot.ablation_png(summary, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("content", ["null", "[]", '{"config": "none"}', "HALF"])
def test_a_hand_edited_result_file_is_redone_not_a_traceback(tiny_corpus, tmp_path, capsys, monkeypatch, content):
    """Result files holding null or lacking 'chosen' gave AttributeError/KeyError tracebacks (issue 29)."""
    out = tmp_path / "ablation"
    assert ablate_cli(tiny_corpus, out, capsys, "--configs", "none")[0] == 0
    result = out / "none-seed0.json"
    good = json.loads(result.read_text())
    if content == "HALF":
        content = json.dumps({k: v for k, v in good.items() if k != "chosen"})
    result.write_text(content)
    monkeypatch.setattr(train, "train", refuse_training)  # the model is still there: only evaluated again
    code, _, err = ablate_cli(tiny_corpus, out, capsys, "--configs", "none")
    assert code == 0 and "Traceback" not in err
    assert json.loads(result.read_text())["chosen"] == good["chosen"]
