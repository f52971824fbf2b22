"""kill -9 at random moments, then the same command again: the results equal an uninterrupted run's.

Every write goes through svd/util/atomic.py (a temporary next to the destination, then a
rename), `synth` builds its corpus in a `.partial` directory, and `train` resumes from
its checkpoints. So after a SIGKILL at any moment, running the same command again
(`train` always with --resume) must give byte-identical output files and leave no
temporary (`*.tmp`, `*.partial`) anywhere under the output and cache directories.

Each command runs once uninterrupted as the reference. Then, for each seed of SEEDS,
it is started afresh, killed at a moment drawn from the seed, and run again. A moment
counts from the command's first visible work (its *anchor*: a file or folder it
creates), as a fraction of the time the reference took from its anchor to its end, so
the kills land in the work rather than in Python's start-up. A run the kill came too
late for has simply finished: its rerun must still give the same files. Each test
checks that at least one of its kills did interrupt the command.

Tiny corpora (three 4 s songs), a few updates and single-threaded BLAS (also for
determinism: the thread count changes float sums) keep the file at about a minute.
"""
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import write_filelist, write_song

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = (0, 1, 2)
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TIMEOUT_S = 300
TRAIN = ["--updates", "6", "--batch", "2", "--checkpoint-every", "2", "--resume"]


def moment(seed):
    """Fraction of the reference's working time after which seed's run is killed."""
    return np.random.default_rng(seed).uniform(0.05, 0.95)


def command(args, cache):
    """The command line of one run; its cache folder is `cache`, through SVD_CACHE_DIR (detect has no --cache)."""
    return [sys.executable, str(ROOT / "run.py"), *args, "--quiet"]


def start(args, cache):
    return subprocess.Popen(command(args, cache), cwd=ROOT, env={**ENV, "SVD_CACHE_DIR": str(cache)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run(args, cache, expect=0):
    """Run to the end; returns stderr. Its exit code must be `expect`."""
    result = subprocess.run(command(args, cache), cwd=ROOT, env={**ENV, "SVD_CACHE_DIR": str(cache)},
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == expect, result.stderr
    return result.stderr


def wait_for(process, anchor, seconds=TIMEOUT_S):
    """Poll until anchor() holds or the process ends (or `seconds` pass)."""
    deadline = time.monotonic() + seconds
    while process.poll() is None and not anchor() and time.monotonic() < deadline:
        time.sleep(0.005)


def timed_reference(args, cache, anchor):
    """Run uninterrupted; returns the seconds from its anchor to its end."""
    process = start(args, cache)
    wait_for(process, anchor)
    anchored = time.monotonic()
    _, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, err
    return time.monotonic() - anchored


def killed(args, cache, anchor, delay_s):
    """Start the command, SIGKILL it delay_s after its anchor appears; True if it was still running."""
    process = start(args, cache)
    wait_for(process, anchor)
    wait_for(process, lambda: False, delay_s)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    _, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode in (0, -signal.SIGKILL), err
    return process.returncode == -signal.SIGKILL


def read_tree(root):
    """{path relative to root: bytes} of every file under root."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def temporaries(root):
    return [str(path) for path in root.rglob("*") if path.name.endswith((".tmp", ".partial"))]


def check_interruptions(tmp_path, args_in, anchor_in, rerun_expect=lambda work: 0, prepare=lambda work: None,
                        comparable=lambda tree: tree):
    """The reference, then per seed a killed run and a rerun with equal results; returns the kills that hit.

    args_in(work): the command's arguments, writing under work/out; anchor_in(work): its anchor test;
    prepare(work): copies inputs the command modifies into work/out; rerun_expect(work): the exit
    code the rerun must have, decided before it starts (0 but for a finished `synth`);
    comparable(tree): what of the output tree must be equal (default: all of it).
    """
    reference = tmp_path / "reference"
    prepare(reference)
    working_s = timed_reference(args_in(reference), reference / "cache", anchor_in(reference))
    expected = read_tree(reference / "out")
    hits = []
    for seed in SEEDS:
        work = tmp_path / f"seed{seed}"
        prepare(work)
        hits.append(killed(args_in(work), work / "cache", anchor_in(work), moment(seed) * working_s))
        run(args_in(work), work / "cache", expect=rerun_expect(work))
        assert comparable(read_tree(work / "out")) == comparable(expected), f"seed {seed}: killed={hits[-1]}"
        assert temporaries(work) == [], f"seed {seed}"
    assert any(hits), "every kill came after the command had finished: nothing was interrupted"
    return expected


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three 4 s songs, one per split (shared, never written to)."""
    root = tmp_path_factory.mktemp("interruptions") / "corpus"
    for split, seed in (("train", 1), ("valid", 2), ("test", 3)):
        name = f"{split}.wav"
        write_song(root, name, 4.0, [(0.0, 1.5, False), (1.5, 3.0, True), (3.0, 4.0, False)], seed=seed)
        write_filelist(root, split, [name])
    return root


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory):
    """A model trained briefly on the corpus (shared, never written to)."""
    folder = tmp_path_factory.mktemp("model")
    run(["train", "--data", str(corpus), "--out", str(folder / "model.npz"), "--updates", "2", "--batch", "2"],
        folder / "cache")
    return folder / "model.npz"


def features_appear(work):
    return lambda: (work / "cache" / "features").exists()


def test_train_resumed_after_kill_writes_the_same_model(tmp_path, corpus):
    expected = check_interruptions(
        tmp_path, lambda work: ["train", "--data", str(corpus), "--out", str(work / "out" / "model.npz"), *TRAIN],
        features_appear)
    assert list(expected) == ["model.npz"]       # the checkpoint is gone once the model is written


def test_eval_after_kill_writes_the_same_json_and_threshold(tmp_path, corpus, model):
    def prepare(work):
        (work / "out").mkdir(parents=True)
        (work / "out" / "model.npz").write_bytes(model.read_bytes())   # eval stores its threshold in it
    stored_sha256 = {}

    def comparable(tree):
        """A kill that lands after the threshold was stored (eval's last write; under load the
        interpreter's exit can still be running) leaves the rerun the stored model as its input, and
        its JSON then rightly records that file's hash: the input's hash may be either of the two."""
        table = json.loads(tree["table.json"])
        stored_sha256.setdefault("value", table["stored_model_sha256"])
        assert table.pop("model_sha256") in (original_sha256, stored_sha256["value"])
        return {**tree, "table.json": table}
    original_sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
    expected = check_interruptions(
        tmp_path, lambda work: ["eval", str(work / "out" / "model.npz"), "--data", str(corpus),
                                "--json", str(work / "out" / "table.json")],
        features_appear, prepare=prepare, comparable=comparable)
    assert sorted(expected) == ["model.npz", "table.json"] and expected["model.npz"] != model.read_bytes()
    assert json.loads(expected["table.json"])["model_sha256"] == original_sha256  # uninterrupted: the input's


def test_detect_after_kill_writes_the_same_labels(tmp_path, corpus, model):
    def comparable(tree):
        """The rerun skips the files done before the kill: their summary lines say so, all else is equal."""
        summary = tree["summary.jsonl"].replace(b'"status": "skipped"', b'"status": "done"')
        return {**tree, "summary.jsonl": summary}
    expected = check_interruptions(
        tmp_path, lambda work: ["detect", str(model), str(corpus / "audio"), "--out-dir", str(work / "out"),
                                "--threshold", "0.5"],
        lambda work: lambda: (work / "out").exists(), comparable=comparable)
    assert sorted(expected) == ["summary.jsonl", "test.lab", "train.lab", "valid.lab"]


def test_synth_after_kill_writes_the_same_corpus(tmp_path):
    def partial_appears(work):
        return lambda: any(path.name.endswith(".partial") for path in (work / "out").glob(".*"))

    def rerun_expect(work):
        # A corpus renamed into place before the kill is complete; synth then refuses to overwrite it.
        return 2 if (work / "out" / "corpus").exists() else 0
    expected = check_interruptions(
        tmp_path, lambda work: ["synth", "--out-dir", str(work / "out" / "corpus"), "--clips", "3", "--seconds", "4"],
        partial_appears, rerun_expect=rerun_expect, prepare=lambda work: (work / "out").mkdir(parents=True))
    assert len(expected) == 3 + 3 + 3 + 1       # wav and lab files, filelists, README


def test_ablate_after_kill_gives_the_same_runs_and_summary(tmp_path, corpus):
    expected = check_interruptions(
        tmp_path, lambda work: ["ablate", "--data", str(corpus), "--configs", "none", "--n-seeds", "1",
                                "--updates", "2", "--batch", "2", "--out-dir", str(work / "out" / "runs"),
                                "--json", str(work / "out" / "summary.json")],
        features_appear)
    assert sorted(expected) == ["runs/none-seed0.json", "runs/none-seed0.npz", "summary.json"]


# --------------------------------------------------------------------------
# Ctrl-C and SIGTERM: a clean exit (code 130), never a crash, nothing damaged
# --------------------------------------------------------------------------
# Issue 22: Ctrl-C used to leave parallel_for (svd/fast/workers.py) while its worker threads still ran
# compiled code on arrays the unwinding caller freed (segmentation faults). Each command
# gets SIGINT and SIGTERM at random moments of its work; it must end with exit code 130
# (or 0 if the signal came after it had finished), one plain "interrupted" line and no
# traceback or fatal error, and leave only intact files: the checkpoint loads, every
# .lab reads back, every summary line is JSON, no temporary is left.

SIGNAL_SEEDS = (10, 11)


def signalled(args, cache, anchor, delay_s, signum):
    """Start the command, send `signum` delay_s after its anchor; (exit code, stderr)."""
    process = start(args, cache)
    wait_for(process, anchor)
    wait_for(process, lambda: False, delay_s)
    if process.poll() is None:
        process.send_signal(signum)
    _, err = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, err


def assert_clean_exit(code, err):
    assert code in (0, 130), f"exit code {code}: {err}"
    assert "Traceback" not in err and "Fatal Python error" not in err and "Segmentation" not in err, err
    if code == 130:
        assert err.rstrip().endswith("interrupted"), err


def check_signals(tmp_path, args_in, anchor_in, check_outputs):
    """Per signal and seed: run, signal at a random moment, check the exit and check_outputs(out folder)."""
    reference = tmp_path / "reference"
    working_s = timed_reference(args_in(reference), reference / "cache", anchor_in(reference))
    hits = 0
    for signum in (signal.SIGINT, signal.SIGTERM):
        for seed in SIGNAL_SEEDS:
            work = tmp_path / f"{signum.name}-{seed}"
            code, err = signalled(args_in(work), work / "cache", anchor_in(work), moment(seed) * working_s, signum)
            assert_clean_exit(code, err)
            check_outputs(work / "out", code, err)
            assert temporaries(work) == [], f"{signum.name} seed {seed}"
            hits += code == 130
    assert hits, "every signal came after the command had finished: nothing was interrupted"


def test_train_ends_cleanly_on_sigint_and_sigterm_and_keeps_its_checkpoint(tmp_path, corpus):
    from svd import model_file

    def check_outputs(out, code, err):
        model, ckpt = out / "model.npz", out / "model.npz.ckpt.npz"
        if code == 0:
            model_file.load(model)
            return
        if model.exists():   # the signal came after the final save: the model is whole
            model_file.load(model)
        if ckpt.exists():
            stored = model_file.load(ckpt)                     # intact: it loads and checks out
            assert "progress" in stored.extra
            assert model.exists() or f"{ckpt} holds update" in err and "--resume" in err, err

    check_signals(tmp_path, lambda work: ["train", "--data", str(corpus), "--out", str(work / "out" / "model.npz"),
                                          "--updates", "8", "--batch", "8", "--checkpoint-every", "2"],
                  features_appear, check_outputs)


def test_detect_ends_cleanly_on_sigint_and_sigterm_and_leaves_intact_outputs(tmp_path, corpus, model):
    import json
    from svd import labels

    def check_outputs(out, code, err):
        for lab in out.glob("*.lab"):
            labels.read_lab(lab)
        for line in (out / "summary.jsonl").read_text().splitlines():
            json.loads(line)

    check_signals(tmp_path, lambda work: ["detect", str(model), str(corpus / "audio"), "--out-dir",
                                          str(work / "out"), "--threshold", "0.5"],
                  lambda work: lambda: (work / "out").exists(), check_outputs)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_program_starts_gives_exit_130_and_one_line(signum):
    """Ctrl-C or SIGTERM in the first ~0.4 s (while importing) gave a traceback or exit -2 (issue 29).

    `run.py cache --help` imports the command line and exits: a signal lands before, inside or
    after the imports; each outcome is exit 130 with the one line 'interrupted', or a finished run.
    A signal that arrives before the interpreter runs the program's first line kills it silently
    (the operating system's default action) or stops Python's own start-up (its 'site' module);
    no code of the program can act then, so those are allowed. Anything later must be exit 130
    and one line, and some signals must land in the program's imports.
    """
    root = pathlib.Path(__file__).resolve().parent.parent
    interrupted = 0
    for delay_s in np.linspace(0.0, 0.4, 12):
        process = subprocess.Popen([sys.executable, str(root / "run.py"), "cache", "--help"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay_s)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        if (process.returncode == -signum and err == "") or "init_import_site" in err:
            continue  # before the interpreter's own start-up was over (Python's 'site' module)
        assert "Traceback" not in err, err
        if process.returncode != 0:
            assert process.returncode == 130 and err == "interrupted\n", (process.returncode, err)
            interrupted += 1
    assert interrupted > 0  # some signals did land while it ran
