"""svd/util/provenance.py, and provenance in every output: the model file (kept by eval), eval's JSON, detect's
summaries (and their merge)."""
import json
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

import svd
from svd import model_file, network
from svd.cli import options
from svd.device import CPU
from svd.jobs import detect_summary
from svd.util import provenance

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_describe_names_version_seed_device_date_and_libraries():
    found = provenance.describe(CPU, 3)
    assert found["svd_version"] == svd.__version__ and found["seed"] == 3 and found["device"] == "cpu"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found["date"])
    assert all(re.fullmatch(r"\d+\.\d+.*", found[key]) for key in ("python", "numpy", "scipy"))
    assert "cupy" not in found  # only when the device is a GPU
    assert provenance.describe()["device"] is None and provenance.describe()["seed"] is None
    json.dumps(found)  # plain JSON types


@pytest.mark.parametrize("failure", [FileNotFoundError("git"), subprocess.TimeoutExpired("git", 2.0)])
def test_the_commit_is_silently_absent_without_git_or_when_git_hangs(monkeypatch, failure):
    def failing(*args, **kwargs):
        raise failure
    monkeypatch.setattr(subprocess, "run", failing)
    provenance.git_commit.cache_clear()
    try:
        assert provenance.git_commit() is None
        assert "git_commit" not in provenance.describe(CPU, 0)
    finally:
        provenance.git_commit.cache_clear()


def test_the_commit_of_a_clone_is_a_short_hexadecimal_id():
    """Found whenever the tests run in a clone with git: not only when git_commit happens to look in the right
    folder (it looks two folders above its own file, which a move of the module would silently break)."""
    provenance.git_commit.cache_clear()
    commit = provenance.git_commit()
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not run from a git clone (or git is missing)")
    assert commit is not None and re.fullmatch(r"[0-9a-f]{4,40}", commit)


def a_model(provenance_of_run=None):
    params = network.init_params(np.random.default_rng(0))
    return model_file.Model(params, np.zeros(80, np.float32), np.ones(80, np.float32), {"train": {"seed": 4}},
                            provenance=provenance_of_run or {})


def test_the_model_file_keeps_provenance_and_older_files_have_none(tmp_path):
    made = provenance.describe(CPU, 4)
    model_file.save(tmp_path / "m.npz", a_model(made))
    loaded = model_file.load(tmp_path / "m.npz")
    assert loaded.provenance == made and loaded.seed == 4
    model_file.save(tmp_path / "old.npz", a_model())
    assert model_file.load(tmp_path / "old.npz").provenance == {}
    with np.load(tmp_path / "m.npz") as stored:  # a damaged record: the model still works
        arrays = {key: stored[key] for key in stored.files}
    arrays["provenance"] = np.array("{not json")
    np.savez(tmp_path / "damaged.npz", **arrays)
    assert model_file.load(tmp_path / "damaged.npz").provenance == {}


def test_train_records_provenance_and_eval_keeps_it_and_writes_its_own(tiny_corpus, tmp_path, capsys):
    model, results = tmp_path / "m.npz", tmp_path / "eval.json"
    assert options.main(["train", "--data", str(tiny_corpus), "--out", str(model), "--updates", "1", "--batch", "2",
                         "--seed", "5", "--device", "cpu", "--quiet"]) == 0
    trained = model_file.load(model).provenance
    assert trained["seed"] == 5 and trained["device"] == "cpu" and trained["svd_version"] == svd.__version__
    before = detect_summary.sha256_of(model)
    assert options.main(["eval", str(model), "--json", str(results), "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "base rate" in out and "each song of test alone" in out and "stored threshold" in out
    found = json.loads(results.read_text())
    assert model_file.load(model).provenance == trained == found["model_provenance"]  # kept through the store
    assert found["model_sha256"] == before != found["stored_model_sha256"] == detect_summary.sha256_of(model)
    assert found["provenance"]["seed"] == 5 and found["provenance"]["device"] == "cpu"
    assert found["tta_pitch_factors"] == [1.0] and found["test_songs"][0]["song"] == "test_sång.wav"
    assert found["data"] == str(tiny_corpus.resolve()) and "fractions" in found["units"]
    assert options.main(["eval", str(model), "--json", str(results), "--tta", "--tta-shifts=-0.1,0.1",
                         "--device", "cpu", "--quiet"]) == 0
    found = json.loads(results.read_text())
    assert found["tta_pitch_factors"] == [1.0, 0.9, 1.1] and found["stored_model_sha256"] is None


def test_detect_summaries_record_provenance_and_a_skipped_file_keeps_its_maker(tiny_corpus, tmp_path, capsys):
    model_file.save(tmp_path / "m.npz", a_model(provenance.describe(CPU, 4)))
    out = tmp_path / "det"
    song = str(tiny_corpus / "audio" / "test_sång.wav")
    assert options.main(["detect", str(tmp_path / "m.npz"), song, "--threshold", "0.5", "--out-dir", str(out),
                         "--device", "cpu", "--quiet"]) == 0
    done, = detect_summary.read(out / "summary.jsonl").values()
    assert done["status"] == "done" and done["provenance"]["seed"] == 4 and done["provenance"]["device"] == "cpu"
    assert options.main(["detect", str(tmp_path / "m.npz"), song, "--threshold", "0.5", "--out-dir", str(out),
                         "--quiet"]) == 0
    skipped, = detect_summary.read(out / "summary.jsonl").values()
    assert skipped["status"] == "skipped" and skipped["provenance"] == done["provenance"]
    assert options.main(["detect-merge", str(out)]) == 0
    merged, = detect_summary.read(out / "summary-all.jsonl").values()
    assert merged["provenance"] == done["provenance"]
    capsys.readouterr()


def test_merge_joins_records_with_and_without_provenance(tmp_path):
    out = tmp_path / "det"
    out.mkdir()
    segments = [(0.0, 2.0, False), (2.0, 4.0, True)]
    new = detect_summary.record("a.wav", "a.lab", "done", 0.5, "0" * 64, segments,
                                provenance=provenance.describe(CPU, 0))
    old = detect_summary.record("b.wav", "b.lab", "done", 0.5, "0" * 64, segments)
    del old["provenance"]  # a summary line written before provenance was recorded
    detect_summary.write(out / "summary-0-of-2.jsonl", [new])
    detect_summary.write(out / "summary-1-of-2.jsonl", [old])
    for name in ("a.lab", "b.lab"):
        (out / name).write_text("0.000 2.000 nosing\n2.000 4.000 sing\n")
    records, problems = detect_summary.merge(out)
    assert problems == [] and [r["lab"] for r in records] == ["a.lab", "b.lab"]
    assert records[0]["provenance"]["svd_version"] == svd.__version__ and "provenance" not in records[1]
    assert not detect_summary.is_record({**new, "provenance": "0.9.0"})  # a record of the wrong type


def test_source_date_epoch_fixes_the_date_and_an_invalid_one_is_ignored(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    assert provenance.describe()["date"] == "1970-01-02T00:00:00Z"
    for ignored in ("", "soon", "-5", "9" * 30):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", ignored)
        assert provenance.describe()["date"][:4] >= "2024"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert provenance.describe()["date"][:4] >= "2024"
