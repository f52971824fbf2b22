"""run.py: every bad-input case gives one clear line on stderr and exit code 2, never a traceback.

The bad-input tables run `python run.py ...` as a real process, as a user would, and
assert: exit code 2, no traceback, exactly one line `error: ...` naming the culprit,
and (for bad options) nothing new or changed on disk. Cases that need to replace a
module (matplotlib missing) call run.main in-process instead.
"""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile

import run
from conftest import write_filelist, write_song

ROOT = pathlib.Path(__file__).resolve().parent.parent


def check(corpus, capsys, *extra):
    code = run.main(["check", "--data", str(corpus), "--quiet", *extra])
    return code, capsys.readouterr()


def run_cli(arguments, cwd, cache):
    """`python run.py ARGUMENTS` in a fresh process: (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, arguments)], capture_output=True,
                            text=True, cwd=cwd, env={**os.environ, "SVD_CACHE_DIR": str(cache)})
    return result.returncode, result.stdout, result.stderr


def assert_one_clear_line(code, err, expected):
    assert code == 2, err
    assert "Traceback" not in err, err
    assert expected in err and err.startswith("error: ") and err.count("\n") == 1, err


def test_a_good_corpus_checks_out(tiny_corpus, capsys):
    code, out = check(tiny_corpus, capsys)
    assert code == 0
    assert "train: 1 songs" in out.out and "OK" in out.out


def break_corpus(corpus, case):
    """Damage `corpus` in one way; return the text the error message must contain."""
    audio, labels, lists = corpus / "audio", corpus / "labels", corpus / "filelists"
    song = "train_sång"
    if case == "missing audio":
        (audio / f"{song}.wav").unlink()
        return "entry 'train_sång.wav' has no file"
    if case == "missing label file":
        (labels / f"{song}.lab").unlink()
        return "train_sång.lab: label file not found"
    if case == "malformed line":
        (labels / f"{song}.lab").write_text("0.0 1.0 sing\n1.0 two nosing\n")
        return "train_sång.lab, line 2: start and end must be numbers"
    if case == "overlapping segments":
        (labels / f"{song}.lab").write_text("0.0 2.0 sing\n1.0 4.0 nosing\n")
        return "line 2: segment starts at 1 s, before the previous one ends"
    if case == "unknown label word":
        (labels / f"{song}.lab").write_text("0.0 4.0 vocals\n")
        return "line 1: unknown label 'vocals'; use 'sing' or 'nosing'"
    if case == "empty filelist":
        (lists / "train").write_text("\n")
        return "filelists/train: the filelist is empty"
    if case == "missing filelist":
        (lists / "train").unlink()
        return "filelists/train: filelist not found (available: test, valid)"
    if case == "corrupt audio":
        (audio / f"{song}.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk")
        return "train_sång.wav: cannot decode audio"
    if case == "too short":
        write_song(corpus, f"{song}.wav", 1.0, [(0.0, 1.0, True)])
        return "train_sång.wav: audio has 67 frames, shorter than one"
    if case == "empty label file":
        (labels / f"{song}.lab").write_text("\n")
        return "train_sång.lab: the label file is empty"
    if case == "labels past the end":
        (labels / f"{song}.lab").write_text("0 3 nosing\n3 9 sing\n")
        return "a segment runs 3-9 s but the audio lasts only 4.00 s; the labels do not belong to this audio"
    if case == "listed twice":
        (lists / "train").write_text(f"{song}.wav\n\n{song}.wav\n")
        return "filelists/train, line 3: 'train_sång.wav' is listed again (first on line 1)"
    if case == "in two splits":
        (lists / "test").write_text(f"test_sång.wav\n{song}.wav\n")
        return "'train_sång.wav' is listed in both filelists/train and filelists/test"
    if case == "UTF-16 filelist":
        (lists / "train").write_bytes(f"{song}.wav\n".encode("utf-16"))
        return "filelists/train: starts with a UTF-16 byte-order mark"
    if case == "Latin-1 filelist":
        (lists / "train").write_bytes(f"{song}.wav\n".encode("latin-1"))
        return "filelists/train: not UTF-8 text (byte 0xe5 at offset 7)"
    if case == "nan samples":
        samples = np.zeros(22050 * 3, np.float32)
        samples[5] = np.inf
        soundfile.write(audio / f"{song}.wav", samples, 22050, subtype="FLOAT")
        return "train_sång.wav: the audio contains NaN or infinite samples"
    raise AssertionError(case)


CASES = ["missing audio", "missing label file", "malformed line", "overlapping segments", "unknown label word",
         "empty filelist", "missing filelist", "corrupt audio", "too short", "nan samples", "empty label file",
         "labels past the end", "listed twice", "in two splits", "UTF-16 filelist", "Latin-1 filelist"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_clear_line_and_exit_code_2(tiny_corpus, tmp_path, case):
    expected = break_corpus(tiny_corpus, case)
    code, _, err = run_cli(["check", "--data", tiny_corpus, "--quiet"], tmp_path, tmp_path / "cache")
    assert_one_clear_line(code, err, expected)


def test_utf8_byte_order_marks_and_a_short_label_overhang_are_accepted(tiny_corpus, capsys):
    song = "train_sång"
    (tiny_corpus / "filelists" / "train").write_bytes(f"\ufeff{song}.wav\n".encode("utf-8"))
    (tiny_corpus / "labels" / f"{song}.lab").write_bytes("\ufeff0 2 nosing\n2 4.9 sing\n".encode("utf-8"))
    code, out = check(tiny_corpus, capsys)
    assert code == 0, out.err
    assert "train: 1 songs" in out.out


def test_missing_model_file_is_a_clear_error(tiny_corpus, tmp_path, capsys):
    code = run.main(["eval", str(tmp_path / "none.npz"), "--data", str(tiny_corpus), "--quiet"])
    assert code == 2
    assert "model file not found" in capsys.readouterr().err


def test_a_file_that_is_not_a_model_is_a_clear_error(tiny_corpus, tmp_path, capsys):
    fake = tmp_path / "fake.npz"
    np.savez(fake, something=np.zeros(3))
    code = run.main(["eval", str(fake), "--data", str(tiny_corpus), "--quiet"])
    assert code == 2
    assert "model format 'none' is not 'svd-model-1'" in capsys.readouterr().err


def _damage(arrays, case):
    """Change a model file's arrays in one way; return the text the error must contain."""
    if case == "missing parameter":
        del arrays["param/conv2.b"]
        return "no param/conv2.b"
    if case == "wrong shape":
        arrays["param/dense2.w"] = np.zeros((64, 256), np.float32)
        return "param/dense2.w has shape (64, 256), not (256, 64)"
    if case == "other dtype":
        arrays["param/conv1.w"] = arrays["param/conv1.w"].astype(np.float64)
        return "param/conv1.w is float64, not float32"
    if case == "missing statistic":
        del arrays["std"]
        return "no std"
    if case == "broken config":
        arrays["config"] = np.array("{not json")
        return "its training configuration is not a JSON object"
    if case == "diverged weights":
        arrays["param/dense1.w"][3, 4] = np.nan
        return "its weights are not all finite numbers: the training diverged"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing parameter", "wrong shape", "other dtype", "missing statistic",
                                  "broken config", "diverged weights"])
@pytest.mark.parametrize("command", ["eval", "detect"])
def test_a_damaged_model_file_is_refused_before_any_work(tiny_corpus, tmp_path, command, case):
    from svd import model as model_file, network
    path = tmp_path / "model.npz"
    model_file.save(path, model_file.Model(network.init_params(np.random.default_rng(0)),
                                           np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    expected = _damage(arrays, case)
    np.savez(path, **arrays)
    where = ["--data", str(tiny_corpus)] if command == "eval" else [str(tiny_corpus / "audio"), "--threshold", "0.5",
                                                                    "--out-dir", str(tmp_path / "out")]
    code, _, err = run_cli([command, str(path), *where, "--quiet"], tmp_path, tmp_path / "cache")
    assert_one_clear_line(code, err, expected)
    assert "not a usable model file" in err
    assert not (tmp_path / "out").exists()


def test_missing_matplotlib_is_reported_before_the_first_file(tiny_corpus, tmp_path, capsys, monkeypatch):
    from svd import model as model_file, network
    path = tmp_path / "model.npz"
    model_file.save(path, model_file.Model(network.init_params(np.random.default_rng(0)),
                                           np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code = run.main(["detect", str(path), str(tiny_corpus / "audio"), "--threshold", "0.5", "--plot",
                     "--out-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert "plots need matplotlib, which is not installed; run 'pip install matplotlib'" in captured.err
    assert captured.out == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["synth", "check", "train", "eval", "detect", "detect-merge", "ablate",
                                     "show-augment", "bench"])
def test_every_subcommand_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        run.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    parser = run.build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{command} {action.option_strings} has no help"
            assert action.option_strings[-1] in text


def test_an_impossible_augmentation_strength_is_a_clear_error(tiny_corpus, capsys):
    code = run.main(["train", "--data", str(tiny_corpus), "--pitch-shift", "1.5", "--updates", "1", "--quiet"])
    assert code == 2
    assert "pitch_shift=1.5 is invalid" in capsys.readouterr().err


def test_augment_flag_is_the_papers_combination():
    args = run.build_parser().parse_args(["train", "--augment", "--filter-db", "6"])
    assert run.augmentation_from(args) == {"pitch_shift": 0.3, "time_stretch": 0.3, "filter_db": 6.0}


BAD_OPTIONS = [  # (arguments after the corpus, text the one-line error must contain)
    (["train", "--updates", "0"], "--updates 0: must be at least 1"),
    (["train", "--batch", "0"], "--batch 0: must be at least 1"),
    (["train", "--checkpoint-every", "0"], "--checkpoint-every 0: must be at least 1"),
    (["train", "--lr-every", "0"], "--lr-every 0: must be at least 1"),
    (["train", "--lr", "nan"], "--lr nan: the learning rate must be a positive number"),
    (["train", "--lr", "-0.1"], "--lr -0.1: the learning rate must be a positive number"),
    (["train", "--momentum", "1.5"], "the momentum in [0, 1)"),
    (["eval", "MODEL", "--threshold", "nan"], "--threshold nan: a threshold is a probability between 0 and 1"),
    (["eval", "MODEL", "--threshold", "1.5"], "--threshold 1.5: a threshold is a probability between 0 and 1"),
    (["eval", "MODEL", "--tta", "--tta-shifts", "abc"], "--tta-shifts abc: give comma-separated pitch shifts"),
    (["eval", "MODEL", "--tta", "--tta-shifts=-20,20"], "as fractions between -0.5 and 0.5"),
    (["train", "--out", "AFILE/sub/model.npz"], "/sub/model.npz: cannot write in"),
    (["train", "--out", "TMP"], "is a directory; name a file"),
    (["eval", "MODEL", "--json", "AFILE/results.json"], "/results.json: cannot write in"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--out-dir", "MODEL"], "is a file, not a directory"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--jobs", "-1"], "--jobs -1: give 0"),
    (["detect", "MODEL", "--threshold", "0.5"], "no inputs: name audio files or folders, or give --files-from"),
    (["ablate", "--updates", "1", "--out-dir", "AFILE/ablation"], "/ablation: cannot write in"),
    (["train", "--cache", "AFILE"], "a-file: is a file, not a directory"),
    (["eval", "MODEL", "--cache", "AFILE/cache"], "/cache: cannot write in"),
    (["synth", "--out-dir", "AFILE/corpus"], "/corpus: cannot write in"),
    (["show-augment", "SONG", "--out", "AFILE/figure1.png"], "/figure1.png: cannot write in"),
]


@pytest.mark.parametrize("arguments, expected", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_a_bad_option_value_gives_one_clear_line_and_writes_nothing(tiny_corpus, tmp_path, arguments, expected):
    from svd import model as model_file, network
    model = tmp_path / "model.npz"
    if "MODEL" in arguments or "AUDIO" in arguments:
        params = network.init_params(np.random.default_rng(0))
        model_file.save(model, model_file.Model(params, np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    a_file = tmp_path / "a-file"  # a path below a file can never be written
    a_file.write_text("")
    names = {"MODEL": str(model), "TMP": str(tmp_path), "AUDIO": str(tiny_corpus / "audio"), "AFILE": str(a_file),
             "SONG": str(tiny_corpus / "audio" / "test_sång.wav")}
    arguments = [names.get(a, a).replace("AFILE", str(a_file)) for a in arguments]
    cache = tmp_path.parent / (tmp_path.name + "-cache")  # outside the tree that must stay unchanged
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    out = ["--out", str(model)] if arguments[0] == "train" and "--out" not in arguments else []
    if arguments[0] == "train" and "--updates" not in arguments:
        out += ["--updates", "1"]  # should a check be missing, fail fast instead of training for long
    data = [] if arguments[0] in ("detect", "synth", "show-augment") else ["--data", str(tiny_corpus)]
    quiet = [] if arguments[0] == "show-augment" else ["--quiet"]
    code, _, err = run_cli(arguments + out + data + quiet, tmp_path, cache)
    assert_one_clear_line(code, err, expected)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
