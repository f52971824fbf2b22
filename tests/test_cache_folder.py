"""Tests of svd/util/cache_folder.py and `run.py cache`: the folder's contents by kind, --clear, and the lock
that refuses --clear while another command uses the folder.

Every test works in its own cache folder (conftest.py sets $SVD_CACHE_DIR), never ~/.cache/svd.
"""
import os
import pathlib
import subprocess
import sys

import pytest

from svd.cli import options
from svd.util import cache_folder

ROOT = pathlib.Path(__file__).resolve().parent.parent


def fill(folder):
    """A cache folder with 2 MB of features, a default corpus, compiled code and a file of the user's."""
    (folder / "features").mkdir(parents=True)
    (folder / "features" / "a.npz").write_bytes(b"x" * 2_000_000)
    (folder / "synthetic-v1-seed0" / "audio").mkdir(parents=True)
    (folder / "synthetic-v1-seed0" / "audio" / "a.wav").write_bytes(b"x" * 2000)
    (folder / ".synthetic-v1-seed0.1f3a09c2-4711.k2x9a_qz.partial").mkdir()  # a half-made corpus counts too
    (folder / ".synthetic-v1-seed0.1f3a09c2-4711.k2x9a_qz.partial" / "a.wav").write_bytes(b"x" * 1000)
    (folder / "native").mkdir()
    (folder / "native" / "svd-native-0123456789abcdef.so").write_bytes(b"x" * 500)
    (folder / "notes.txt").write_text("mine")


@pytest.fixture
def folder():
    """The test's cache folder ($SVD_CACHE_DIR), filled; no lock of this process on any folder after the test."""
    path = cache_folder.default_dir()
    fill(path)
    yield path
    cache_folder.release()


def test_entries_are_sorted_into_their_kinds(folder):
    found = {kind: sorted(p.name for p in paths) for kind, paths in cache_folder.entries(folder).items()}
    assert found == {"features": ["features"], "compiled code": ["native"], "other": ["notes.txt"],
                     "default corpus": [".synthetic-v1-seed0.1f3a09c2-4711.k2x9a_qz.partial", "synthetic-v1-seed0"]}


def test_the_listing_gives_each_kinds_size(folder, capsys):
    assert options.main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"cache folder: {folder} (SVD_CACHE_DIR)" in out
    assert "features            2.0 MB" in out and "default corpus      3.0 kB" in out
    assert "compiled code        500 B" in out and "1 other entry" in out and "notes.txt" in out


def test_feature_bytes_per_audio_hour_is_the_readmes_figure():
    assert round(cache_folder.FEATURE_BYTES_PER_AUDIO_HOUR / 1e6) == 517  # docs/cache.md: "517 MB per hour"


def test_clear_deletes_the_features_only(folder, capsys):
    assert options.main(["cache", "--clear"]) == 0
    assert "deleted features (2.0 MB)" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".synthetic")) == \
        [cache_folder.LOCK_NAME, "native", "notes.txt", "synthetic-v1-seed0"]


def test_clear_all_leaves_only_what_svd_did_not_make(folder, capsys):
    assert options.main(["cache", "--clear", "--all"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [cache_folder.LOCK_NAME, "notes.txt"]
    assert options.main(["cache", "--clear"]) == 0
    assert "deleted nothing" in capsys.readouterr().out


def test_another_cache_folder_keeps_the_compiled_code_in_the_default_one(folder, tmp_path, capsys):
    other = tmp_path / "other-cache"
    fill(other)
    assert options.main(["cache", "--cache", str(other), "--clear", "--all"]) == 0
    assert sorted(p.name for p in other.iterdir()) == [cache_folder.LOCK_NAME, "notes.txt"]
    assert not (folder / "native").exists()  # the compiled code is in the default folder, wherever --cache points
    assert (folder / "features" / "a.npz").exists()  # the default folder's features are not --cache's


def test_a_listing_does_not_create_the_folder(tmp_path, capsys):
    missing = tmp_path / "none"
    assert options.main(["cache", "--cache", str(missing)]) == 0
    assert "not there yet" in capsys.readouterr().out and not missing.exists()


def test_every_option_is_explained(capsys):
    with pytest.raises(SystemExit):
        options.main(["cache", "--help"])
    text = capsys.readouterr().out
    assert "--clear " in text and "--all " in text and "--cache DIR " in text


@pytest.mark.parametrize("arguments, expected", [
    (["--all"], "--all: goes with --clear"),
    (["--cache", ""], "--cache '': an empty path"),
    (["--cache", "/proc/version"], "is a file, not a folder"),
])
def test_mistakes_are_one_line(arguments, expected, capsys):
    assert options.main(["cache", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1


def hold_in_another_process(folder):
    """A process holding `folder` as a command does, until its stdin closes."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from svd.util import cache_folder; "
                               f"cache_folder.hold({str(folder)!r}); print('held', flush=True); sys.stdin.read()"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_clear_is_refused_while_another_process_uses_the_folder(folder, capsys):
    holder = hold_in_another_process(folder)
    try:
        assert options.main(["cache", "--clear", "--all"]) == 2
        err = capsys.readouterr().err
        assert "another svd command" in err and err.count("\n") == 1
        assert (folder / "features" / "a.npz").exists() and (folder / "native").exists()  # nothing deleted
    finally:
        holder.stdin.close()
        holder.wait()
    assert options.main(["cache", "--clear"]) == 0  # the holder has ended: its lock went with it
    assert not (folder / "features").exists()


def test_a_command_using_the_cache_holds_it_while_it_runs(tiny_corpus, tmp_path, capsys):
    """`check` (like train, eval, ablate) holds its cache folder: a `cache --clear` in another process is refused."""
    cache = tmp_path / "check-cache"
    assert options.main(["check", "--data", str(tiny_corpus), "--cache", str(cache), "--quiet"]) == 0
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "cache", "--cache", str(cache), "--clear"],
                            capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 2 and "another svd command" in result.stderr, result.stderr
    cache_folder.release()  # as when the command's process ends
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "cache", "--cache", str(cache), "--clear"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "deleted features" in result.stdout, result.stderr


def test_holding_a_second_folder_lets_go_of_the_first(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    cache_folder.hold(first)
    cache_folder.hold(second)
    try:
        assert cache_folder._held[0] == second.resolve()
        assert cache_folder.clear(first) == {}  # not refused: nothing holds `first` any more
    finally:
        cache_folder.release()


def test_sizes_are_written_in_decimal_units():
    assert [cache_folder.human(n) for n in (0, 999, 1000, 517_104_000, 3.2e9, 4e12)] == \
        ["0 B", "999 B", "1.0 kB", "517.1 MB", "3.2 GB", "4000.0 GB"]
