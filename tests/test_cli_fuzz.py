"""A small fuzzing harness over the options of every command (fixed seed, so CI sees the same cases).

For every option of every subcommand that takes a value, the harness draws odd
values of the option's kind (empty, negative, nan, infinite, huge, a path that is
a device or a folder or does not exist, ...) and runs `python run.py` with one
of them on a tiny corpus, everything else valid and small. Whatever the value,
the command must end by itself, with exit code 0 (the value was acceptable) or 2
(refused), never a traceback or a crash; a refusal is one `error:` line (svd's)
or argparse's usage and error lines, and changes nothing in the test's folder.

The base arguments alone run each command cleanly (exit 0; checked when the
harness was written), so a refusal is the odd value's. `bench` is left out: its only valued option is `--json`, covered by the same
kinds of paths in the other commands, and any accepted run of it takes minutes.
"""
import os
import pathlib
import random
import subprocess
import sys

import numpy as np
import pytest

from svd.cli import options

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 2015
CASES_PER_COMMAND = 6
TIMEOUT_S = 120

NUMBERS = ["-1", "0", "nan", "inf", "-inf", "1e999", "", " ", "12abc", "99999999999999999999"]
PATHS = ["", " ", "/dev/null", "/", "/proc/version", "TMP", "TMP/missing/below", "AFILE/below", "-", "./",
         "\udcff.npz"]

# Valid, small arguments each command gets beside the odd one (positionals first).
BASE = {
    "synth": ["--out-dir", "TMP/new-corpus", "--clips", "3", "--seconds", "4"],
    "check": ["--data", "CORPUS"],
    "train": ["--data", "CORPUS", "--out", "TMP/model-out.npz", "--updates", "1", "--batch", "2",
              "--checkpoint-every", "1"],
    "bag": ["MODEL", "MODEL", "--out", "TMP/bag.npz"],
    "eval": ["MODEL", "--data", "CORPUS", "--no-store-threshold"],
    "score": ["LABELS", "--data", "CORPUS"],  # the corpus's own labels as predictions: every song has one
    "detect": ["MODEL", "SONG", "--out-dir", "TMP/detections"],
    "detect-merge": ["TMP/detections"],
    "ablate": ["--data", "CORPUS", "--updates", "1", "--batch", "2", "--n-seeds", "1", "--configs", "none",
               "--out-dir", "TMP/ablation"],
    "show-augment": ["SONG", "--out", "TMP/figure.png"],
    "cache": ["--cache", "TMP/cache"],
}
QUIET = ("synth", "check", "train", "bag", "eval", "score", "detect", "ablate")  # the commands with --quiet


def valued_options(command):
    """(option string, kind) of every option of `command` that takes a value: kind is 'number' or 'path'."""
    parser = options.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    valued = []
    for action in sub._actions:
        if not action.option_strings or action.nargs == 0 or action.choices:
            continue  # positionals, flags, and choices (argparse refuses anything else itself)
        kind = "number" if action.type in (int, float) else "path"
        valued.append((max(action.option_strings, key=len), kind))
    return valued


def cases():
    """The fixed list of (command, option, value) cases."""
    rng = random.Random(SEED)
    drawn = []
    for command in BASE:
        valued = valued_options(command)
        for option, kind in rng.sample(valued, min(CASES_PER_COMMAND, len(valued))):
            drawn.append((command, option, rng.choice(NUMBERS if kind == "number" else PATHS)))
    return drawn


def test_the_harness_covers_every_command_but_bench():
    assert set(BASE) == set(next(a for a in options.build_parser()._actions if a.dest == "command").choices) - {"bench"}
    assert len(cases()) >= 30


@pytest.mark.parametrize("command, option, value", cases(), ids=[f"{c} {o} {v!r}" for c, o, v in cases()])
def test_an_odd_option_value_ends_cleanly(tiny_corpus, tmp_path, command, option, value):
    from svd import model_file, network
    work = tmp_path / "work"
    work.mkdir()
    model = tmp_path / "model.npz"
    params = network.init_params(np.random.default_rng(0))
    model_file.save(model, model_file.Model(params, np.zeros(80, np.float32), np.ones(80, np.float32), {},
                                            threshold=0.5))
    a_file = work / "a-file"
    a_file.write_text("")
    names = {"CORPUS": str(tiny_corpus), "MODEL": str(model), "SONG": str(tiny_corpus / "audio" / "test_sång.wav"),
             "LABELS": str(tiny_corpus / "labels")}

    def concrete(argument):
        argument = names.get(argument, argument)
        return argument.replace("AFILE", str(a_file)).replace("TMP", str(work))
    arguments = [command] + [concrete(a) for a in BASE[command]]
    if option in arguments:  # the odd value replaces the base's own
        del arguments[arguments.index(option):arguments.index(option) + 2]
    arguments += [f"{option}={concrete(value)}"] + (["--quiet"] if command in QUIET else [])
    env = {**os.environ, "SVD_CACHE_DIR": str(tmp_path / "cache")}
    if command == "detect-merge":  # something to merge: one detect job's outputs
        subprocess.run([sys.executable, str(ROOT / "run.py"), "detect", *map(concrete, BASE["detect"]), "--quiet"],
                       cwd=work, env=env, check=True, capture_output=True)
    before = {p: p.stat().st_mtime_ns for p in work.rglob("*")}
    try:
        result = subprocess.run([sys.executable, str(ROOT / "run.py"), *arguments], capture_output=True, text=True,
                                cwd=work, env=env, timeout=TIMEOUT_S, errors="replace")
    except subprocess.TimeoutExpired:
        pytest.fail(f"run.py {' '.join(arguments)} did not end within {TIMEOUT_S} s")
    err = result.stderr
    assert pathlib.Path("/dev/null").is_char_device(), "the command replaced /dev/null by a file"
    assert result.returncode in (0, 2), (result.returncode, err)
    assert "Traceback" not in err and "Fatal Python error" not in err, err
    if result.returncode == 2:
        last = err.strip().splitlines()[-1]
        svd_refusal = err.startswith("error: ") and err.count("\n") == 1
        argparse_refusal = err.startswith("usage: ") and ": error: " in last
        assert svd_refusal or argparse_refusal, err
        if command != "detect":  # detect's exit code 2 may mean "a file failed", with its summary written
            assert {p: p.stat().st_mtime_ns for p in work.rglob("*")} == before, err
