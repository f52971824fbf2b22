"""`run.py ablate --shard I/N` and --summarise-only: jobs sharing an --out-dir, lock files, missing runs.

Most tests replace training and prediction by fakes (as tests/test_ablate.py's
k-fold test does): they check which job trains and evaluates what, not learning.
One test runs three real processes at once, each training for 2 updates.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from svd import ablate, train
from svd.cli import options
from svd.util import locks
from conftest import dead_pid

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIGS = "none,pitch,none+tta"  # two models per seed; none+tta reuses none's


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training and prediction; returns the list of model files 'trained', in order."""
    trained = []

    def fake_train(songs, config, out_path, **kwargs):
        trained.append(pathlib.Path(out_path).name)
        return "model"  # writes nothing

    def fake_probabilities(model, linear, pitch_factors=(1.0,), device=None):
        return np.full(len(linear), 0.6, np.float32)
    monkeypatch.setattr(train, "train", fake_train)
    monkeypatch.setattr(ablate.predict, "probabilities", fake_probabilities)
    return trained


def ablate_cli(corpus, out_dir, capsys, *extra):
    """Run `run.py ablate` quietly with 3 seeds; returns (exit code, stdout, stderr)."""
    code = options.main(["ablate", "--data", str(corpus), "--out-dir", str(out_dir), "--configs", CONFIGS,
                         "--n-seeds", "3", "--updates", "2", "--batch", "2", "--quiet", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_lock(path, host, pid, age_s=0.0):
    """A lock file as another job would have left it, `age_s` seconds old."""
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "0"}) + "\n", encoding="utf-8")
    then = os.stat(path).st_mtime - age_s
    os.utime(path, (then, then))


def test_shards_divide_the_models_and_report_everything_finished(tiny_corpus, tmp_path, capsys, fake_training):
    out = tmp_path / "ablation"
    # Models, seeds outermost: none-seed0 pitch-seed0 none-seed1 pitch-seed1 none-seed2 pitch-seed2.
    code, first, _ = ablate_cli(tiny_corpus, out, capsys, "--shard", "0/2")
    assert code == 0 and fake_training == ["none-seed0.npz", "none-seed1.npz", "none-seed2.npz"]
    assert "missing runs (3 of 9, not in the figures above): pitch-seed0, pitch-seed1, pitch-seed2" in first
    code, second, _ = ablate_cli(tiny_corpus, out, capsys, "--shard", "1/2")
    assert code == 0 and fake_training[3:] == ["pitch-seed0.npz", "pitch-seed1.npz", "pitch-seed2.npz"]
    assert "missing" not in second and "pitch ±30%" in second and "test augmentation (none+tta)" in second
    assert sorted(p.name for p in out.glob("*.json")) == sorted(
        f"{config}-seed{seed}.json" for config in CONFIGS.split(",") for seed in range(3))
    assert not list(out.glob("*.lock"))
    # Nothing is left to do: every job, sharded or not, and --summarise-only give the same report.
    for extra in (["--shard", "0/2"], [], ["--summarise-only"]):
        code, again, _ = ablate_cli(tiny_corpus, out, capsys, *extra)
        assert code == 0 and again == second
    assert len(fake_training) == 6


def test_summarise_only_trains_nothing_and_names_the_missing_runs(tiny_corpus, tmp_path, capsys, fake_training):
    out = tmp_path / "ablation"
    code, _, err = ablate_cli(tiny_corpus, out, capsys, "--summarise-only")
    assert code == 2 and err.startswith("error: --out-dir ") and "no finished runs" in err and err.count("\n") == 1
    code, text, _ = ablate_cli(tiny_corpus, out, capsys, "--shard", "7/8")  # 6 models: nothing for shard 7
    assert code == 0 and text.startswith("missing runs (9 of 9, not in the figures above): none-seed0, ")
    assert ablate_cli(tiny_corpus, out, capsys, "--shard", "1/2")[0] == 0
    trained = list(fake_training)
    code, text, _ = ablate_cli(tiny_corpus, out, capsys, "--summarise-only", "--json", str(tmp_path / "s.json"))
    assert code == 0 and fake_training == trained
    assert text.startswith("Figure 2") and "\npitch " in text and "\nnone " not in text
    assert text.rstrip().endswith("missing runs (6 of 9, not in the figures above): none-seed0, none+tta-seed0, "
                                  "none-seed1, none+tta-seed1, none-seed2, none+tta-seed2")
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["missing"][:2] == ["none-seed0", "none+tta-seed0"] and summary["n_seeds"] == 3
    assert "svd_version" in summary["provenance"]


def test_a_live_lock_is_left_to_its_job_and_a_stale_one_is_taken_over(tiny_corpus, tmp_path, capsys,
                                                                         fake_training):
    out = tmp_path / "ablation"
    out.mkdir()
    here = socket.gethostname()
    write_lock(out / "none-seed0.lock", here, os.getppid())                     # a live job on this host
    write_lock(out / "pitch-seed0.lock", "elsewhere", 4242)                    # a job on another host
    write_lock(out / "none-seed1.lock", here, dead_pid())                      # killed: stale
    write_lock(out / "pitch-seed1.lock", "elsewhere", 4242, locks.STALE_AFTER_S + 60)  # untouched for long
    code, text, err = run_verbose(tiny_corpus, out, capsys)
    assert code == 0
    assert sorted(fake_training) == ["none-seed1.npz", "none-seed2.npz", "pitch-seed1.npz", "pitch-seed2.npz"]
    assert f"ablate: none-seed0 is being run by host {here}, process {os.getppid()}, touched " in err
    assert "ablate: pitch-seed0 is being run by host elsewhere, process 4242" in err
    assert "missing runs (3 of 9, not in the figures above): none-seed0, none+tta-seed0, pitch-seed0" in text
    assert sorted(p.name for p in out.glob("*.lock")) == ["none-seed0.lock", "pitch-seed0.lock"]  # not ours
    # A finished run is never redone, lock or no lock.
    (out / "none-seed0.lock").unlink()
    write_lock(out / "none-seed1.lock", here, dead_pid())
    del fake_training[:]
    assert run_verbose(tiny_corpus, out, capsys)[0] == 0
    assert fake_training == ["none-seed0.npz"]


def run_verbose(corpus, out, capsys):
    """ablate_cli without --quiet (the lock messages go to stderr); progress bars are plain lines here."""
    code = options.main(["ablate", "--data", str(corpus), "--out-dir", str(out), "--configs", CONFIGS, "--n-seeds", "3",
                         "--updates", "2", "--batch", "2"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("value", ["2/2", "0/0", "x"])
def test_a_bad_shard_is_one_clear_line(tiny_corpus, tmp_path, capsys, value):
    code, _, err = ablate_cli(tiny_corpus, tmp_path / "ablation", capsys, "--shard", value)
    assert code == 2 and err.startswith(f"error: --shard {value}: ") and err.count("\n") == 1
    assert not (tmp_path / "ablation").exists()


def test_three_processes_at_once_train_each_model_once(tiny_corpus, tmp_path):
    """Two shards and one unsharded job started together on one --out-dir, with real 2-update trainings."""
    out = tmp_path / "ablation"
    jobs = [subprocess.Popen([sys.executable, str(ROOT / "run.py"), "ablate", "--data", str(tiny_corpus),
                              "--out-dir", str(out), "--configs", "none,none+tta", "--n-seeds", "3", "--updates", "2",
                              "--batch", "2", "--cache", str(tmp_path / "cache"), *shard],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
            for shard in (["--shard", "0/2"], ["--shard", "1/2"], [])]
    logs = []
    for job in jobs:
        stdout, stderr = job.communicate(timeout=300)
        assert job.returncode == 0, stderr
        logs.append((stdout, stderr))
    said = [line for _, stderr in logs for line in stderr.splitlines() if line.startswith("ablate: ")]
    trained = sorted(line.split()[2] for line in said if line.startswith("ablate: training "))
    evaluated = sorted(line.split()[2] for line in said if line.startswith("ablate: evaluating "))
    assert trained == ["none-seed0", "none-seed1", "none-seed2"]
    assert evaluated == sorted(f"{config}-seed{seed}" for config in ("none", "none+tta") for seed in range(3))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"none-seed{seed}.npz" for seed in range(3)]
        + [f"{config}-seed{seed}.json" for config in ("none", "none+tta") for seed in range(3)])
    last = options.main(["ablate", "--data", str(tiny_corpus), "--out-dir", str(out), "--configs", "none,none+tta",
                         "--n-seeds", "3", "--updates", "2", "--batch", "2", "--summarise-only", "--quiet"])
    assert last == 0
