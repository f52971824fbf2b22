"""run.py: every bad-input case gives one clear line on stderr and exit code 2, never a traceback.

The bad-input tables run `python run.py ...` as a real process, as a user would, and
assert: exit code 2, no traceback, exactly one line `error: ...` naming the culprit,
and (for bad options) nothing new or changed on disk. Cases that need to replace a
module (matplotlib missing) call options.main in-process instead.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from svd.cli import options
from conftest import write_song

ROOT = pathlib.Path(__file__).resolve().parent.parent


def check(corpus, capsys, *extra):
    code = options.main(["check", "--data", str(corpus), "--quiet", *extra])
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
    if case == "listed twice as ./":
        (lists / "train").write_text(f"{song}.wav\n./{song}.wav\n")
        return f"filelists/train, line 2: './{song}.wav' is listed again (first on line 1 as '{song}.wav')"
    if case == "listed twice through a symbolic link":
        (audio / "alias.wav").symlink_to(audio / f"{song}.wav")
        (lists / "train").write_text(f"{song}.wav\nalias.wav\n")
        return f"filelists/train, line 2: 'alias.wav' is listed again (first on line 1 as '{song}.wav')"
    if case == "in two splits as ./":
        (lists / "test").write_text(f"test_sång.wav\n./{song}.wav\n")
        return f"'./{song}.wav' is listed in both filelists/train (as '{song}.wav') and filelists/test"
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
         "labels past the end", "listed twice", "in two splits", "UTF-16 filelist", "Latin-1 filelist",
         "listed twice as ./", "listed twice through a symbolic link", "in two splits as ./"]


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
    code = options.main(["eval", str(tmp_path / "none.npz"), "--data", str(tiny_corpus), "--quiet"])
    assert code == 2
    assert "model file not found" in capsys.readouterr().err


def test_a_file_that_is_not_a_model_is_a_clear_error(tiny_corpus, tmp_path, capsys):
    fake = tmp_path / "fake.npz"
    np.savez(fake, something=np.zeros(3))
    code = options.main(["eval", str(fake), "--data", str(tiny_corpus), "--quiet"])
    assert code == 2
    assert "model format 'none' is not 'svd-model-1'" in capsys.readouterr().err


HUGE_HEADER = "a member whose .npy header claims 10^12 float32 values, followed by 8 bytes"


def _save_members(path, arrays):
    """np.savez, except that a HUGE_HEADER member gets a header claiming (10**12,) floats and no such data."""
    import io
    import zipfile
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in arrays.items():
            member = io.BytesIO()
            if isinstance(value, str) and value == HUGE_HEADER:
                np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                              "shape": (10**12,)})
                member.write(bytes(8))
            else:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            archive.writestr(key + ".npy", member.getvalue())


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
    if case == "huge claimed shape":  # the header alone would ask for 4 TB
        arrays["param/conv2.b"] = HUGE_HEADER
        return "param/conv2.b has shape (1000000000000,), not (32,)"
    if case == "diverged weights":
        arrays["param/dense1.w"][3, 4] = np.nan
        return "its weights are not all finite numbers: the training diverged"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing parameter", "wrong shape", "other dtype", "missing statistic",
                                  "broken config", "diverged weights", "huge claimed shape"])
@pytest.mark.parametrize("command", ["eval", "detect"])
def test_a_damaged_model_file_is_refused_before_any_work(tiny_corpus, tmp_path, command, case):
    from svd import model_file, network
    path = tmp_path / "model.npz"
    model_file.save(path, model_file.Model(network.init_params(np.random.default_rng(0)),
                                           np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    expected = _damage(arrays, case)
    _save_members(path, arrays)
    where = ["--data", str(tiny_corpus)] if command == "eval" else [str(tiny_corpus / "audio"), "--threshold", "0.5",
                                                                    "--out-dir", str(tmp_path / "out")]
    code, _, err = run_cli([command, str(path), *where, "--quiet"], tmp_path, tmp_path / "cache")
    assert_one_clear_line(code, err, expected)
    assert "not a usable model file" in err
    assert not (tmp_path / "out").exists()


def test_missing_matplotlib_is_reported_before_the_first_file(tiny_corpus, tmp_path, capsys, monkeypatch):
    from svd import model_file, network
    path = tmp_path / "model.npz"
    model_file.save(path, model_file.Model(network.init_params(np.random.default_rng(0)),
                                           np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code = options.main(["detect", str(path), str(tiny_corpus / "audio"), "--threshold", "0.5", "--plot",
                         "--out-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert "plots need matplotlib, which is not installed; run 'pip install matplotlib'" in captured.err
    assert captured.out == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["synth", "check", "train", "eval", "score", "detect", "detect-merge", "ablate",
                                     "show-augment", "bench"])
def test_every_subcommand_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        options.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    parser = options.build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{command} {action.option_strings} has no help"
            assert action.option_strings[-1] in text


def test_an_impossible_augmentation_strength_is_a_clear_error(tiny_corpus, capsys):
    code = options.main(["train", "--data", str(tiny_corpus), "--pitch-shift", "1.5", "--updates", "1", "--quiet"])
    assert code == 2
    assert "pitch_shift=1.5 is invalid" in capsys.readouterr().err


def test_augment_flag_is_the_papers_combination():
    args = options.build_parser().parse_args(["train", "--augment", "--filter-db", "6"])
    assert options.augmentation_from(args) == {"pitch_shift": 0.3, "time_stretch": 0.3, "filter_db": 6.0}


BAD_OPTIONS = [  # (arguments after the corpus, text the one-line error must contain)
    (["train", "--out", "/dev/null"], "/dev/null: is not a regular file"),  # renaming onto it replaced the device
    (["train", "--updates", "0"], "--updates 0: must be at least 1"),
    (["train", "--pcen", "--augment"], "--pcen with augmentation is not built"),
    (["detect", "MODEL", "-", "--threshold", "0.5", "--frames", "npy"], "detect -: audio on standard input gives one"),
    (["detect", "MODEL", "-", "AUDIO", "--threshold", "0.5"], "leave out other inputs"),
    (["detect", "MODEL", "-", "--threshold", "0.5", "--labels", "lab,json"], "more than one --labels format"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--labels", "sing,yaml"], "unknown format 'yaml'"),
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
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--jobs", "-1"], "--jobs -1: give auto, 0"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--jobs", "all"], "--jobs all: give auto, 0"),
    (["detect", "MODEL", "--threshold", "0.5"], "no inputs: name audio files or folders, or give --files-from"),
    (["ablate", "--updates", "1", "--out-dir", "AFILE/ablation"], "/ablation: cannot write in"),
    (["train", "--cache", "AFILE"], "a-file: is a file, not a directory"),
    (["eval", "MODEL", "--cache", "AFILE/cache"], "/cache: cannot write in"),
    (["synth", "--out-dir", "AFILE/corpus"], "/corpus: cannot write in"),
    (["show-augment", "SONG", "--out", "AFILE/figure1.png"], "/figure1.png: cannot write in"),
    # issue 22
    (["train", "--data", ""], "--data '': an empty path (an unset shell variable?)"),
    (["eval", "MODEL", "--data", ""], "--data '': an empty path (an unset shell variable?)"),
    (["train", "--cache", ""], "--cache '': an empty path (an unset shell variable?)"),
    (["train", "--seed", "-1"], "--seed -1: a seed must be 0 or more"),
    (["synth", "--seed", "-1", "--out-dir", "TMP/corpus"], "--seed -1: a seed must be 0 or more"),
    (["show-augment", "SONG", "--seed", "-1", "--out", "TMP/figure1.png"], "--seed -1: a seed must be 0 or more"),
    (["show-augment", "SONG", "--out", "SONG"], "the picture is a PNG file; give a name ending in .png"),
    (["show-augment", "PNGSONG", "--out", "PNGSONG"], "is the input audio file itself"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--min-segment", "nan"], "--min-segment nan: give a length"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--min-segment", "-1"], "--min-segment -1.0: give a length"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--labels", "lab,tsv"], "--labels 'lab,tsv': unknown format"),
    (["detect", "MODEL", "AUDIO", "--threshold", "0.5", "--frames", ""], "--frames '': no format named"),
    (["train", "--batch", "100000"], "--batch 100000: a mini-batch that big needs about"),
    (["eval", "NPY"], "one NumPy array (a .npy file), not a model file"),
    (["detect", "NPY", "AUDIO", "--threshold", "0.5"], "one NumPy array (a .npy file), not a model file"),
    (["detect", "MODEL5", "AUDIO"], "its stored threshold 5 is not a probability in [0, 1]"),
    (["detect", "MODEL-1", "AUDIO"], "its stored threshold -1 is not a probability in [0, 1]"),
    (["eval", "MODEL", "--valid-split", "test", "--test-split", "test"], "the threshold would be chosen on the songs"),
    (["train", "--train-split", "valid"], "--train-split valid: that filelist is held out"),
    (["bench", "--layers", "--device", "gpu"], "bench --layers times the layers of the fast CPU path"),
    (["eval", "ROMODEL"], "the model file is read-only, so the chosen threshold cannot be stored in it"),
    (["train", "--out", "LOCKED"], "another training run is writing it (host"),
    (["train", "--textbook", "--device", "gpu"], "--textbook runs the plain NumPy layers on the CPU"),
    # issue 23
    (["check", "--splits", ","], "--splits ',': give one name or several, comma-separated"),
    (["check", "--splits", "valid,nosuch"], "filelists/nosuch: filelist not found"),
    (["ablate", "--n-seeds", "0", "--out-dir", "TMP/ablation"], "--n-seeds 0: need at least one seed"),
    (["score", "TMP/none.lab"], "none.lab: no such file or folder"),
    (["score", "MODEL"], "model.npz: not a prediction file this program reads"),
    (["score", "AUDIO"], "no prediction files (.lab, .txt, .csv, .json, .sing.txt) in"),
    (["score", "LABELS", "--split", "nosuch"], "filelists/nosuch: filelist not found"),
    (["score", "LABELS", "--json", "AFILE/score.json"], "/score.json: cannot write in"),
    (["score", "LABELS", "--data", ""], "--data '': an empty path (an unset shell variable?)"),
    # issue 29: an output that is also an input, and outputs without their proper suffix
    (["eval", "MODEL", "--json", "MODEL"], "this output is a .json file; give a name ending in .json"),
    (["eval", "MODELJSON", "--json", "MODELJSON"], "which this command reads; give the output another name"),
    (["train", "--out", "LABELFILE"], "this output is a .npz file; give a name ending in .npz"),
    (["score", "LABELS", "--json", "LABELFILE"], "this output is a .json file"),
    (["bag", "MODEL", "MODEL", "--out", "MODEL"], "which this command reads"),
    (["bag", "MODEL", "--out", "TMP/bag.npz"], "name two or more model files"),
    # issue 29: wrong advice for a dangling link
    (["detect", "MODEL", "SONG", "--threshold", "0.5", "--out-dir", "DANGLING"], "is a symbolic link to"),
    # issue 29: huge values
    (["detect", "MODEL", "SONG", "--threshold", "0.5", "--min-segment", "1e308"], "--min-segment 1e+308: give a length in seconds from 0"),
    (["train", "--loudness-db", "1e308"], "loudness_db=1e+308 is invalid; it must be a range in dB in [0, 120]"),
    (["train", "--noise-sigma", "1e30"], "noise_sigma=1e+30 is invalid"),
    # issue 31: a finished model is never replaced silently; a multi-day ablation is a choice
    (["train", "--out", "MODEL"], "a model file is already there; pass --overwrite"),
    (["ablate"], "take about 6.9 days on a 2-core CPU; pass --updates 40000 to run them anyway"),
    # issue 29: weights no training gives, a deviation that is damage
    (["detect", "HUGEMODEL", "SONG"], "some weights exceed 10000 in size"),
    (["detect", "DENORMALMODEL", "SONG"], "normalisation statistics are not finite, positive"),
]


@pytest.mark.parametrize("arguments, expected", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_a_bad_option_value_gives_one_clear_line_and_writes_nothing(tiny_corpus, tmp_path, arguments, expected):
    from svd import model_file, network
    model = tmp_path / "model.npz"
    params = network.init_params(np.random.default_rng(0))
    stats = np.zeros(80, np.float32), np.ones(80, np.float32)
    if "MODEL" in arguments or "AUDIO" in arguments:
        model_file.save(model, model_file.Model(params, *stats, {}))
    for name, threshold in (("MODEL5", 5.0), ("MODEL-1", -1.0)):  # a stored threshold edited by hand
        if name in arguments:
            model_file.save(tmp_path / f"{name}.npz", model_file.Model(params, *stats, {}, threshold=threshold))
    if "MODELJSON" in arguments:  # a model file that happens to be named .json
        model_file.save(tmp_path / "model.json", model_file.Model(params, *stats, {}))
    if "HUGEMODEL" in arguments:
        model_file.save(tmp_path / "huge.npz", model_file.Model({**params, "dense3.w": params["dense3.w"] * 1e6},
                                                                *stats, {}, threshold=0.5))
    if "DENORMALMODEL" in arguments:
        model_file.save(tmp_path / "denormal.npz", model_file.Model(params, stats[0], np.full(80, 1e-40, np.float32),
                                                                    {}, threshold=0.5))
    if "DANGLING" in arguments:
        (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    if "NPY" in arguments:
        np.save(tmp_path / "weights.npy", np.zeros(3))
    if "ROMODEL" in arguments:
        model_file.save(tmp_path / "protected.npz", model_file.Model(params, *stats, {}, threshold=0.5))
        (tmp_path / "protected.npz").chmod(0o444)
    if "PNGSONG" in arguments:
        (tmp_path / "song.png").write_bytes((tiny_corpus / "audio" / "test_sång.wav").read_bytes())
    if "LOCKED" in arguments:  # a live run (this test's own process) holds the output
        (tmp_path / "locked.npz.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                                              "token": "0"}) + "\n")
    a_file = tmp_path / "a-file"  # a path below a file can never be written
    a_file.write_text("")
    names = {"MODEL": str(model), "TMP": str(tmp_path), "AUDIO": str(tiny_corpus / "audio"), "AFILE": str(a_file),
             "SONG": str(tiny_corpus / "audio" / "test_sång.wav"), "MODEL5": str(tmp_path / "MODEL5.npz"),
             "MODEL-1": str(tmp_path / "MODEL-1.npz"), "NPY": str(tmp_path / "weights.npy"),
             "ROMODEL": str(tmp_path / "protected.npz"), "PNGSONG": str(tmp_path / "song.png"),
             "LOCKED": str(tmp_path / "locked.npz"), "LABELS": str(tiny_corpus / "labels"),
             "MODELJSON": str(tmp_path / "model.json"), "LABELFILE": str(tiny_corpus / "labels" / "test_sång.lab"),
             "HUGEMODEL": str(tmp_path / "huge.npz"), "DANGLING": str(tmp_path / "dangling"), "DENORMALMODEL": str(tmp_path / "denormal.npz")}
    arguments = [names.get(a, a).replace("AFILE", str(a_file)).replace("TMP/", f"{tmp_path}/") for a in arguments]
    cache = tmp_path.parent / (tmp_path.name + "-cache")  # outside the tree that must stay unchanged
    before = {p: p.lstat().st_mtime_ns for p in tmp_path.rglob("*")}
    out = ["--out", str(model)] if arguments[0] == "train" and "--out" not in arguments else []
    if arguments[0] == "train" and "--updates" not in arguments:
        out += ["--updates", "1"]  # should a check be missing, fail fast instead of training for long
    no_data = arguments[0] in ("detect", "synth", "show-augment", "bench", "bag") or "--data" in arguments
    data = [] if no_data else ["--data", str(tiny_corpus)]
    quiet = [] if arguments[0] == "show-augment" else ["--quiet"]
    code, _, err = run_cli(arguments + out + data + quiet, tmp_path, cache)
    assert_one_clear_line(code, err, expected)
    assert {p: p.lstat().st_mtime_ns for p in tmp_path.rglob("*")} == before


# --------------------------------------------------------------------------
# issue 22: cases that need more than one bad option
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value, blamed", [("A-FILE", "SVD_CACHE_DIR"), ("A-FILE/below", "SVD_CACHE_DIR")])
def test_a_bad_svd_cache_dir_names_the_variable_not_the_option(tiny_corpus, tmp_path, value, blamed):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, _, err = run_cli(["check", "--data", tiny_corpus, "--quiet"], tmp_path,
                           value.replace("A-FILE", str(a_file)))
    assert_one_clear_line(code, err, f"error: {blamed} {a_file}")
    assert "--cache" not in err


def test_train_refuses_a_left_checkpoint_before_reading_any_audio(tiny_corpus, tmp_path):
    (tmp_path / "model.npz.ckpt.npz").write_bytes(b"left by an interrupted run")
    cache = tmp_path / "cache"
    code, _, err = run_cli(["train", "--data", tiny_corpus, "--out", tmp_path / "model.npz", "--updates", "1",
                            "--quiet"], tmp_path, cache)
    assert_one_clear_line(code, err, "an interrupted run left this checkpoint; pass --resume")
    assert not (cache / "features").exists()   # refused before the training split was decoded


def test_eval_reads_the_test_split_before_predicting_the_validation_split(tiny_corpus, tmp_path):
    from svd import model_file, network
    model = tmp_path / "model.npz"
    model_file.save(model, model_file.Model(network.init_params(np.random.default_rng(0)),
                                            np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    (tiny_corpus / "audio" / "test_sång.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt junk")
    cache = tmp_path / "cache"
    code, _, err = run_cli(["eval", model, "--data", tiny_corpus, "--quiet"], tmp_path, cache)
    assert_one_clear_line(code, err, "test_sång.wav: cannot decode audio")
    assert list((cache / "features").glob("*.npz")) == []   # the validation song was not even read


def write_summary_lines(folder, lines):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_detect_merge_names_damaged_and_hand_edited_lines(tmp_path):
    from svd.jobs import detect_summary
    out = tmp_path / "detections"
    good = detect_summary.record("a.wav", "a.lab", "done", 0.5, "0" * 64, [(0.0, 2.0, False), (2.0, 4.0, True)])
    edited = {**good, "lab": "b.lab", "path": "b.wav", "duration_s": "four"}
    write_summary_lines(out, [json.dumps(good), "{not json", json.dumps(edited)])
    (out / "a.lab").write_text("0.000 2.000 nosing\n2.000 4.000 sing\n")
    code, stdout, err = run_cli(["detect-merge", out], tmp_path, tmp_path / "cache")
    assert_one_clear_line(code, err, "the detection is incomplete or inconsistent")
    assert "damaged: 2 line(s) are not summary records (edited by hand?) and were left out: summary.jsonl, " \
           "line 2; summary.jsonl, line 3" in stdout
    assert "1 files: 1 done" in stdout


def test_detect_handles_a_file_name_that_is_not_utf8(tiny_corpus, tmp_path):
    from svd import model_file, network
    model = tmp_path / "model.npz"
    model_file.save(model, model_file.Model(network.init_params(np.random.default_rng(0)),
                                            np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    folder = tmp_path / "songs"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.wav")  # Latin-1 e-acute: not UTF-8
    with open(odd, "wb") as copy:
        copy.write((tiny_corpus / "audio" / "test_sång.wav").read_bytes())
    (folder / "plain.wav").write_bytes((tiny_corpus / "audio" / "valid_sång.wav").read_bytes())
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        code, _, err = run_cli(["detect", model, folder, "--threshold", "0.5", "--out-dir", out, "--quiet",
                                "--shard", shard], tmp_path, tmp_path / "cache")
        assert code == 0, err
    assert sorted(os.listdir(os.fsencode(out))) == [b"caf\xe9.lab", b"plain.lab", b"summary-0-of-2.jsonl",
                                                    b"summary-1-of-2.jsonl"]
    code, stdout, err = run_cli(["detect-merge", out], tmp_path, tmp_path / "cache")
    assert code == 0 and "2 files: 2 done" in stdout, stdout + err


def test_an_undecodable_mp3_says_so_without_decoder_noise(tiny_corpus, tmp_path):
    from svd import model_file, network
    model = tmp_path / "model.npz"
    model_file.save(model, model_file.Model(network.init_params(np.random.default_rng(0)),
                                            np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    (tmp_path / "broken.mp3").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    code, _, err = run_cli(["detect", model, tmp_path / "broken.mp3", "--threshold", "0.5", "--out-dir",
                            tmp_path / "out", "--quiet"], tmp_path, tmp_path / "cache")
    assert code == 2 and "Traceback" not in err, err
    assert "broken.mp3: cannot decode audio (its contents are not a format libsndfile recognises); the file " \
           "is damaged or not really audio" in err
    assert "Note:" not in err and "does not exist" not in err and "convert it" not in err, err


def test_eval_refuses_up_front_a_model_in_a_folder_it_cannot_write(tiny_corpus, tmp_path, capsys, monkeypatch):
    from svd import model_file, network
    folder = tmp_path / "models"
    folder.mkdir()
    model = folder / "model.npz"
    model_file.save(model, model_file.Model(network.init_params(np.random.default_rng(0)),
                                            np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    real_access = os.access   # a read-only folder (os.access, not the mode bits: the tests may run as root)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if pathlib.Path(path) == folder
                        and mode & os.W_OK else real_access(path, mode, **kw))
    code = options.main(["eval", str(model), "--data", str(tiny_corpus), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""    # refused before any prediction, so no table either
    assert f"its folder {folder} cannot be written, so the chosen threshold cannot be stored" in captured.err
    assert "--no-store-threshold" in captured.err
    assert options.main(["eval", str(model), "--data", str(tiny_corpus), "--quiet", "--no-store-threshold"]) == 0


# --------------------------------------------------------------------------
# issue 23: one list syntax, an unambiguous seed count, a default picture name
# --------------------------------------------------------------------------

@pytest.mark.parametrize("splits", [["valid,test"], ["valid", "test"], ["valid,test", "test"]])
def test_check_splits_take_a_comma_separated_list_and_the_older_spaced_form(tiny_corpus, capsys, splits):
    code, out = check(tiny_corpus, capsys, "--splits", *splits)
    assert code == 0, out.err
    assert [line.split(":")[0] for line in out.out.splitlines()[:-1]] == ["valid", "test"]


def test_ablate_counts_seeds_with_n_seeds_and_the_old_name_is_refused(capsys):
    args = options.build_parser().parse_args(["ablate", "--n-seeds", "3"])
    assert args.n_seeds == 3
    with pytest.raises(SystemExit) as exit_:
        options.build_parser().parse_args(["ablate", "--seeds", "3"])
    assert exit_.value.code == 2 and "unrecognized arguments: --seeds 3" in capsys.readouterr().err


def test_show_augment_writes_its_picture_in_the_current_folder_by_default(tiny_corpus, tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.chdir(tmp_path)
    assert options.main(["show-augment", str(tiny_corpus / "audio" / "test_sång.wav")]) == 0
    assert (tmp_path / "test_sång-augment.png").is_file()
    assert "wrote test_sång-augment.png" in capsys.readouterr().out


# --------------------------------------------------------------------------
# issues 29 and 31: a model file changes only when asked, and never under another run's feet
# --------------------------------------------------------------------------

def small_model(path, corpus, threshold=float("nan")):
    """An untrained model whose config records `corpus` as its training corpus."""
    from svd import model_file, network
    params = network.init_params(np.random.default_rng(0))
    model_file.save(path, model_file.Model(params, np.full(80, -5, np.float32), np.full(80, 2, np.float32),
                                           {"data": str(corpus)}, threshold=threshold))


def test_eval_stores_its_threshold_on_the_models_own_corpus_only_unless_asked(tiny_corpus, tmp_path, capsys):
    from svd import model_file
    other = tmp_path / "other"
    import shutil
    shutil.copytree(tiny_corpus, other)
    small_model(tmp_path / "m.npz", tiny_corpus)
    assert options.main(["eval", str(tmp_path / "m.npz"), "--data", str(other), "--quiet"]) == 0
    assert np.isnan(model_file.load(tmp_path / "m.npz").threshold)  # another corpus: the file is left alone
    assert options.main(["eval", str(tmp_path / "m.npz"), "--data", str(other), "--store-threshold", "--quiet"]) == 0
    assert not np.isnan(model_file.load(tmp_path / "m.npz").threshold)
    small_model(tmp_path / "n.npz", tiny_corpus)
    assert options.main(["eval", str(tmp_path / "n.npz"), "--quiet"]) == 0  # its own corpus: stored for detect
    assert not np.isnan(model_file.load(tmp_path / "n.npz").threshold)
    capsys.readouterr()


def test_eval_never_puts_back_a_model_replaced_while_it_ran(tiny_corpus, tmp_path, capsys, monkeypatch):
    """`cp A r.npz; eval r.npz & mv B r.npz` used to leave A in r.npz (issue 29)."""
    from svd import predict
    small_model(tmp_path / "r.npz", tiny_corpus)
    small_model(tmp_path / "b.npz", tiny_corpus, threshold=0.25)
    replacement = (tmp_path / "b.npz").read_bytes()
    real = predict.smoothed_probabilities

    def replaced_meanwhile(*args, **kwargs):  # a training finishes into the same path during eval
        if (tmp_path / "b.npz").exists():
            os.replace(tmp_path / "b.npz", tmp_path / "r.npz")
        return real(*args, **kwargs)
    monkeypatch.setattr(predict, "smoothed_probabilities", replaced_meanwhile)
    assert options.main(["eval", str(tmp_path / "r.npz"), "--quiet"]) == 0
    assert (tmp_path / "r.npz").read_bytes() == replacement
    assert "changed while it was evaluated" in capsys.readouterr().err


def test_eval_leaves_a_model_alone_while_a_training_writes_it(tiny_corpus, tmp_path):
    """The lock `train --out` holds (here a live process's) keeps eval from storing into the file."""
    small_model(tmp_path / "r.npz", tiny_corpus)
    before = (tmp_path / "r.npz").read_bytes()
    (tmp_path / "r.npz.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                                     "token": "0"}) + "\n")
    code, _, err = run_cli(["eval", tmp_path / "r.npz", "--quiet"], tmp_path, tmp_path / "cache")
    assert code == 0 and "changed while it was evaluated" in err
    assert (tmp_path / "r.npz").read_bytes() == before


def test_train_replaces_a_model_only_with_overwrite(tiny_corpus, tmp_path):
    small_model(tmp_path / "m.npz", tiny_corpus, threshold=0.3)
    arguments = ["train", "--data", tiny_corpus, "--out", tmp_path / "m.npz", "--updates", "1", "--batch", "2",
                 "--quiet"]
    code, _, err = run_cli(arguments, tmp_path, tmp_path / "cache")
    assert code == 2 and "pass --overwrite" in err
    code, _, err = run_cli(arguments + ["--overwrite"], tmp_path, tmp_path / "cache")
    assert code == 0, err


def test_detect_fails_a_file_whose_samples_overflow_and_goes_on(tiny_corpus, tmp_path):
    """Huge finite float samples made NaN probabilities that read as 'no singing', exit 0 (issue 29)."""
    small_model(tmp_path / "m.npz", tiny_corpus, threshold=0.5)
    samples, rate = soundfile.read(tiny_corpus / "audio" / "test_sång.wav", dtype="float32")
    soundfile.write(tmp_path / "huge.wav", samples * np.float32(1e37), rate, subtype="FLOAT")
    code, out, err = run_cli(["detect", tmp_path / "m.npz", tmp_path / "huge.wav",
                              tiny_corpus / "audio" / "test_sång.wav", "--out-dir", tmp_path / "det", "--quiet"],
                             tmp_path, tmp_path / "cache")
    assert code == 2 and "Traceback" not in err
    assert "huge.wav: its samples are so large" in err and "far outside [-1, 1]" in err
    assert [p.name for p in (tmp_path / "det").rglob("*.lab")] == ["test_sång.lab"]  # the job went on


def test_detect_without_a_model_uses_the_bundled_one(tiny_corpus, tmp_path, monkeypatch, capsys):
    from svd import model_file
    small_model(tmp_path / "bundled.npz", tiny_corpus, threshold=0.5)
    monkeypatch.setattr(model_file, "BUNDLED", tmp_path / "bundled.npz")
    song = tiny_corpus / "audio" / "test_sång.wav"
    assert options.main(["detect", str(song), "--out-dir", str(tmp_path / "det"), "--quiet"]) == 0
    assert (tmp_path / "det" / "test_sång.lab").is_file()
    import svd
    assert svd.load_model().name == str(tmp_path / "bundled.npz")
    capsys.readouterr()


def test_the_program_alone_shows_its_help(capsys):
    assert options.main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_a_filelist_comment_that_names_an_audio_file_is_refused(tiny_corpus, capsys):
    """'#1.wav' left its split without a word (issue 29); a plain comment still passes."""
    (tiny_corpus / "filelists" / "train").write_text("# my songs\ntrain_sång.wav\n", encoding="utf-8")
    assert check(tiny_corpus, capsys)[0] == 0
    (tiny_corpus / "audio" / "#1.wav").write_bytes((tiny_corpus / "audio" / "train_sång.wav").read_bytes())
    (tiny_corpus / "filelists" / "train").write_text("#1.wav\ntrain_sång.wav\n", encoding="utf-8")
    code, out = check(tiny_corpus, capsys)
    assert code == 2 and "'#1.wav' is an audio file's name, but a line starting with '#' is a comment" in out.err


def test_a_model_whose_recorded_corpus_is_not_a_path_is_evaluated_on_data(tiny_corpus, tmp_path, capsys):
    """A config saying {"data": 5} gave a TypeError traceback (issue 29)."""
    from svd import model_file, network
    model_file.save(tmp_path / "m.npz", model_file.Model(network.init_params(np.random.default_rng(0)),
                                                         np.zeros(80, np.float32), np.ones(80, np.float32),
                                                         {"data": 5}))
    assert options.main(["eval", str(tmp_path / "m.npz"), "--data", str(tiny_corpus), "--quiet"]) == 0
    capsys.readouterr()


def test_members_a_model_file_does_not_use_are_never_read(tmp_path):
    """A 7 MB npz with a compressed 2 GiB extra member was loaded whole before validation (issue 29)."""
    from svd import model_file, network
    path = tmp_path / "model.npz"
    model_file.save(path, model_file.Model(network.init_params(np.random.default_rng(0)),
                                           np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["extra/bomb"] = HUGE_HEADER  # reading it would fail (and would need 4 TB)
    _save_members(path, arrays)
    assert model_file.load(path).params["conv1.w"].shape == (3, 3, 1, 64)
