"""svd/atomic.py: a write either fully happens or leaves nothing behind."""
import os

import pytest

from svd.atomic import save_npz_atomic, write_text_atomic


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    path = tmp_path / "out.txt"
    write_text_atomic(path, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.npz"
    write_text_atomic(path, "old")

    class Boom:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("crash while writing")
    with pytest.raises(RuntimeError):
        save_npz_atomic(path, {"a": Boom()})
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
