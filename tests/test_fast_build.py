"""Tests of svd/fast/build.py: the fast CPU path's C code is built once per machine into the
cache folder, atomically, and everything still works (with NumPy loops) when it cannot
be built or is switched off."""

import os
import pathlib
import shutil

import numpy as np
import pytest

from conftest import dead_pid

from svd import fast, layers
from svd.fast import build
from svd.util import atomic


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """build.py as if never loaded in this process, with an empty cache folder (and its notices on,
    whatever an earlier command's --quiet left)."""
    monkeypatch.setattr(build, "_library", None)
    monkeypatch.setattr(build, "_reason", None)
    monkeypatch.setattr(build, "_notices", True)
    monkeypatch.setenv("SVD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "native"


def _compiler():
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


COMPILING = "compiling the fast CPU path's C code once for this machine (about 2 s) ...\n"


def test_builds_once_into_the_cache_folder(fresh_build, capsys):
    if _compiler() is None:
        pytest.skip("no C compiler")
    assert build.library() is not None
    assert capsys.readouterr().err == COMPILING  # the pause of the first run is explained, once
    built = sorted(fresh_build.iterdir())
    assert [p.suffix for p in built] == [".so", ".sha256"]  # the library and its hash; no temporary left behind
    stamp = built[0].stat().st_mtime_ns
    assert build._build(_compiler()) == built[0]  # found in the cache, not rebuilt
    assert built[0].stat().st_mtime_ns == stamp
    assert capsys.readouterr().err == ""  # and nothing said


def test_a_killed_build_is_cleaned_up_by_the_next(fresh_build):
    """A build folder left by a process that died is deleted when the library is next built."""
    if _compiler() is None:
        pytest.skip("no C compiler")
    library_path = build._build(_compiler())
    library_path.unlink()
    stale = fresh_build / f".{library_path.name}.{atomic.HOST_TAG}-{dead_pid()}.abc123.partial"
    stale.mkdir()
    (stale / library_path.name).write_bytes(b"half a library")
    assert build.library() is not None
    assert sorted(p.name for p in fresh_build.iterdir()) == [library_path.name, library_path.name + ".sha256"]


def test_without_march_native_it_builds_portable_code(fresh_build, monkeypatch):
    """A compiler that refuses -march=native (some clang builds) gets the portable flags."""
    compiler = _compiler()
    if compiler is None:
        pytest.skip("no C compiler")
    wrapper = fresh_build.parent.parent / "cc-without-march-native"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -march=native ] && exit 1; done\n'
                       f'exec {compiler} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CC", str(wrapper))
    assert build.library() is not None
    assert len(list(fresh_build.glob("*.so"))) == 1


def test_a_failed_build_leaves_nothing_and_says_why(fresh_build, monkeypatch, capsys):
    false = str(pathlib.Path(shutil.which("false") or "/bin/false"))
    monkeypatch.setenv("CC", false)
    assert build.library() is None
    assert "could not build" in build.unavailable_reason()
    assert not fresh_build.exists() or not any(fresh_build.iterdir())
    assert capsys.readouterr().err == COMPILING + (
        f"the fast CPU path runs without its compiled C code ({false} could not build it), 2-3x slower; install "
        "a C compiler to speed it up (e.g. 'apt install gcc'), or set $CC\n")


def test_without_a_compiler_it_says_so_once(fresh_build, monkeypatch, capsys):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert build.library() is None
    assert "no C compiler" in build.unavailable_reason()
    assert capsys.readouterr().err == (
        "the fast CPU path runs without its compiled C code (no C compiler (cc or $CC) found), 2-3x slower; "
        "install a C compiler to speed it up (e.g. 'apt install gcc'), or set $CC\n")
    assert build.library() is None and build.function("max_pool_forward_worker", []) is None
    assert capsys.readouterr().err == ""  # once per process, however often the layers ask


def test_quiet_commands_keep_the_notices_quiet(fresh_build, monkeypatch, capsys):
    """A command's --quiet (svd/cli/options.py calls set_notices) silences both lines."""
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    build.set_notices(False)
    assert build.library() is None
    assert capsys.readouterr().err == ""


def test_switched_off_the_fast_path_still_equals_reference():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 9, 9, 4))
    w, b = rng.standard_normal((3, 3, 4, 5)), rng.standard_normal(5)
    build.set_enabled(False)
    try:
        assert build.library() is None and "switched off" in build.unavailable_reason()
        y, _ = fast.conv2d_forward(x.astype(np.float32), w.astype(np.float32),
                                   b.astype(np.float32))
    finally:
        build.set_enabled(True)
    y_ref, _ = layers.conv2d_forward(x, w, b)
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-5 * np.abs(y_ref).max())


@pytest.mark.parametrize("damage", ["truncated", "no hash beside it"])
def test_a_damaged_library_in_the_cache_is_built_again_not_loaded(fresh_build, monkeypatch, damage):
    """A truncated native/*.so made every later run die with a bus error, no message (issue 29)."""
    if _compiler() is None:
        pytest.skip("needs a C compiler")
    path = pathlib.Path(build._build(_compiler()))
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 3])
    else:
        build._note_of(path).unlink()
    assert build._build(_compiler()) == path
    assert path.read_bytes() == good and build._intact(path)


def test_an_unwritable_cache_folder_is_named_not_blamed_on_the_compiler(fresh_build, monkeypatch, capsys):
    if _compiler() is None:
        pytest.skip("needs a C compiler")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(build, "temporary", refused)
    assert build.library() is None
    err = capsys.readouterr().err
    assert "cannot be written: Permission denied" in err and "make that folder writable" in err
    assert "install a C compiler" not in err
