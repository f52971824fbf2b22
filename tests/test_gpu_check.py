"""tests/gpu/check.py (what tests/gpu/run.sh runs on a GPU machine), dry-run on the CPU.

The check is made for a time-limited GPU job that returns a few files from one output folder;
these tests hold it to that without a GPU: a whole dry run (the smoke
step through the kernel emulator, the command-line steps on the CPU at tiny
sizes) passes and leaves 4 files; a failed guard stops everything after it; a
step that outlasts its limit is killed and counted; a skipped test fails its
step; missing wheels stop the check at once; the deadline leaves steps unrun
and says so. Every real (GPU) command line is also parsed by run.py's parser,
so a misspelt option cannot first show on the GPU. About 40 s on two idle cores (the whole
dry run is most of it).
"""
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "gpu"))
import check  # noqa: E402

MAX_FILES = 4  # what the check promises to write into its output folder


def dry_run(tmp_path, *options):
    """(exit code, summary dict, files in out, stdout) of check.py --dry-run with `options`."""
    out, work = tmp_path / "out", tmp_path / "work"
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "gpu" / "check.py"), "--dry-run", "--out", str(out),
                             "--work", str(work), *options], capture_output=True, text=True, cwd=ROOT, timeout=300)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return result.returncode, summary, sorted(p.name for p in out.iterdir()), result.stdout


def statuses(summary):
    return {step["name"]: step["status"] for step in summary["steps"]}


def test_a_whole_dry_run_passes_and_returns_at_most_eight_files(tmp_path):
    code, summary, files, stdout = dry_run(tmp_path)
    assert code == 0 and summary["ok"], stdout
    assert set(statuses(summary).values()) == {"pass"}
    assert files == ["bench-gpu.json", "logs.tar.gz", "profile-gpu.json", "summary.json"]
    assert len(files) <= MAX_FILES and summary["files"] == files
    assert all("/" not in name for name in files)  # flat: nothing deeper than the machine returns
    assert summary["figures"]["test_error_gpu_minus_cpu"] == 0.0  # both evaluations ran on the CPU here
    import tarfile
    with tarfile.open(tmp_path / "out" / "logs.tar.gz") as archive:
        names = archive.getnames()
    assert "eval-gpu.json" in names and any(name.endswith("smoke.log") for name in names)


def test_a_failed_guard_stops_everything_after_it(tmp_path):
    code, summary, files, _ = dry_run(tmp_path, "--inject", "smoke=fail")
    status = statuses(summary)
    assert code == 1 and status["smoke"] == "fail" and summary["failed"][0] == "smoke"
    assert all(status[step.name] == "not run" for step in check.STEPS[3:])
    smoke = next(step for step in summary["steps"] if step["name"] == "smoke")
    assert "injected failure" in smoke["tail"]  # the log's end is in the summary
    assert "summary.json" in files and len(files) <= MAX_FILES


def test_a_step_past_its_limit_is_killed_and_what_needs_it_is_not_run(tmp_path):
    code, summary, _, _ = dry_run(tmp_path, "--inject", "smoke=pass", "--inject", "synth=hang",
                                  "--only", "synth,train-augment")
    status = statuses(summary)
    assert code == 1 and status["synth"] == "timeout" and status["train-augment"] == "not run"
    assert status["eval-gpu"] == "not asked" and "eval-gpu" not in summary["failed"]
    synth = next(step for step in summary["steps"] if step["name"] == "synth")
    assert synth["seconds"] < 30


def test_a_skipped_gpu_test_fails_its_step(tmp_path):
    code, summary, _, _ = dry_run(tmp_path, "--inject", "smoke=pass", "--inject", "gpu-tests=skip",
                                  "--only", "gpu-tests")
    gpu_tests = next(step for step in summary["steps"] if step["name"] == "gpu-tests")
    assert code == 1 and gpu_tests["status"] == "fail" and "skipped" in gpu_tests["why"]


def test_missing_wheels_stop_the_check_at_once(tmp_path):
    (tmp_path / "no-wheels").mkdir()
    code, summary, _, _ = dry_run(tmp_path, "--wheels", str(tmp_path / "no-wheels"))
    status = statuses(summary)
    assert code == 1 and status["wheels"] == "fail" and status["smoke"] == "not run"
    assert summary["seconds"] < 30


def test_the_deadline_leaves_steps_unrun_and_counts_them(tmp_path):
    """With less than check.MIN_STEP_S left (after PACKING_S), no step starts; each says why."""
    code, summary, files, _ = dry_run(tmp_path, "--deadline-s", str(check.PACKING_S + check.MIN_STEP_S - 5))
    status = statuses(summary)
    assert code == 1 and status["wheels"] == "not run" and status["synth"] == "not run"
    assert "deadline" in summary["steps"][0]["why"] and "summary.json" in files


@pytest.mark.parametrize("step", [s for s in check.STEPS if s.command[1:2] == ["run.py"]], ids=lambda s: s.name)
def test_every_gpu_command_line_parses(step):
    """The real commands, as the GPU machine will run them, are valid run.py command lines."""
    sys.path.insert(0, str(ROOT))
    from svd.cli import options
    arguments = [part.replace("{work}", "/tmp/w").replace("{out}", "/tmp/o") for part in step.command[2:]]
    options.build_parser().parse_args(arguments)  # SystemExit on an unknown or misspelt option
    assert "--device" not in arguments or arguments[arguments.index("--device") + 1] in ("gpu", "cpu")


def test_no_cpu_only_test_runs_on_the_gpu():
    """The GPU tests step runs the GPU test files only (CI runs the emulated and CPU tests)."""
    gpu_tests = next(step for step in check.STEPS if step.name == "gpu-tests")
    files = {part.split("::")[0] for part in gpu_tests.command if part.startswith("tests/")}
    assert files == {"tests/test_kernels_gpu.py", "tests/test_gpu_parity.py", "tests/test_device.py",
                     "tests/test_backend.py"}
    assert all(step.command[0] == "python3" for step in check.STEPS if step.command)


def test_test_verdicts_count_skips_as_failures():
    assert check.test_verdict(0, {"tests": 5, "failures": 0, "errors": 0, "skipped": 0})[0]
    assert not check.test_verdict(0, {"tests": 5, "failures": 0, "errors": 0, "skipped": 5})[0]
    assert not check.test_verdict(0, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0})[0]
    assert not check.test_verdict(1, None)[0]


def test_run_sh_runs_the_check_with_python3():
    text = (ROOT / "tests" / "gpu" / "run.sh").read_text(encoding="utf-8")
    assert 'exec python3 tests/gpu/check.py "$@"' in text


def test_full_runs_resume_across_calls(tiny_corpus, tmp_path):
    """tests/gpu/full_runs.sh on the CPU, 2 augmented updates: a first call stopped by its time limit
    before it finishes returns what it has and says to call again; the next call, given the returned
    files as its state, finishes training and both evaluations; a third does nothing new."""
    import os
    import shutil
    state, out = tmp_path / "state", tmp_path / "out"

    def call(train_s):
        env = {**os.environ, "WORK": str(tmp_path / "work"), "UPDATES": "2", "DEVICE": "cpu",
               "CHECKPOINT_EVERY": "1", "TRAIN_S": str(train_s)}
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(tmp_path / "work", ignore_errors=True)  # a fresh machine each call
        result = subprocess.run(["bash", str(ROOT / "tests" / "gpu" / "full_runs.sh"), str(tiny_corpus), str(state),
                                 str(out)],
                                capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        state.mkdir(exist_ok=True)
        for path in out.iterdir():  # what the one who runs the jobs does between them
            shutil.copy(path, state / path.name)
        return result.stdout.strip().splitlines()[-1], sorted(p.name for p in out.iterdir())
    last, files = call(train_s=1)
    assert last.startswith("full_runs: not done") and "model.npz" not in files
    last, files = call(train_s=120)
    assert last.startswith("full_runs: done"), last
    assert files == ["eval-tta.json", "eval.json", "model.npz", "train.log"] and len(files) <= MAX_FILES
    assert "training finished this call" in (state / "train.log").read_text(encoding="utf-8")
    last, _ = call(train_s=120)
    assert last.startswith("full_runs: done")
