"""svd/util/atomic.py: a write either fully happens or leaves nothing behind, not even after kill -9."""
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from conftest import dead_pid

from svd.util import atomic
from svd.util.atomic import save_npz_atomic, write_text_atomic
from svd.util.errors import InputError

ROOT = pathlib.Path(__file__).resolve().parent.parent


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


def test_temporaries_name_their_writer(tmp_path):
    temp = atomic.temporary(tmp_path / "model.npz")
    assert temp.parent == tmp_path and temp.is_file()
    assert temp.name.startswith(f".model.npz.{atomic.HOST_TAG}-{os.getpid()}.") and temp.name.endswith(".tmp")
    assert atomic.WRITER.fullmatch(temp.name[len(".model.npz."):-len(".tmp")])


def test_only_stale_temporaries_of_the_destination_are_removed(tmp_path):
    gone, other_host = dead_pid(), "0" * 8 if atomic.HOST_TAG != "0" * 8 else "1" * 8
    names = {
        f".model.npz.{atomic.HOST_TAG}-{gone}.abc_123x.tmp": False,         # its writer died: removed
        f".model.npz.{atomic.HOST_TAG}-{os.getpid()}.abc_123x.tmp": True,   # a live writer (this process)
        f".model.npz.{atomic.HOST_TAG}-{os.getppid()}.abc_123x.tmp": True,  # a live writer (another process)
        f".model.npz.{other_host}-{gone}.abc_123x.tmp": True,               # another host: cannot tell
        f".model.npz.ckpt.npz.{atomic.HOST_TAG}-{gone}.abc_123x.tmp": True,  # another destination's
        f".model.npz.{gone}.abc_123x.tmp": True,                            # not our naming: not ours to judge
        ".model.npz.swp": True,
    }
    for name in names:
        (tmp_path / name).write_text("x")
    write_text_atomic(tmp_path / "model.npz", "new")
    assert (tmp_path / "model.npz").read_text() == "new"
    assert {name: (tmp_path / name).exists() for name in names} == names


# A writer that holds its temporary open until told to finish: argv = destination, marker, go.
SLOW_WRITER = """
import pathlib, sys, time
from svd.util.atomic import replacing
destination, marker, go = map(pathlib.Path, sys.argv[1:])
with replacing(destination) as temp:
    temp.write_text("slow")
    marker.write_text(temp.name)
    while not go.exists():
        time.sleep(0.01)
"""


def start_slow_writer(tmp_path, destination):
    """Start SLOW_WRITER; return (process, its temporary's path, the file that lets it finish)."""
    marker, go = tmp_path / "marker", tmp_path / "go"
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(destination), str(marker), str(go)],
                               cwd=ROOT)
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert process.poll() is None and time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.01)
    return process, destination.parent / marker.read_text(), go


def test_a_concurrent_writer_keeps_its_temporary_and_wins_last(tmp_path):
    destination = tmp_path / "out" / "result.json"
    process, temp, go = start_slow_writer(tmp_path, destination)
    write_text_atomic(destination, "fast")     # must not delete the live writer's temporary
    assert temp.read_text() == "slow" and destination.read_text() == "fast"
    go.touch()
    assert process.wait(timeout=60) == 0
    assert destination.read_text() == "slow"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["result.json"]


def test_the_temporary_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    destination = tmp_path / "out" / "result.json"
    process, temp, _ = start_slow_writer(tmp_path, destination)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert temp.exists() and not destination.exists()
    write_text_atomic(destination, "again")
    assert sorted(p.name for p in destination.parent.iterdir()) == ["result.json"]


def test_a_device_or_pipe_is_never_replaced(tmp_path):
    """Renaming a temporary onto /dev/null (as root) replaced the device by a file: refused, before any write."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(InputError, match="is not a regular file"):
        atomic.write_text_atomic(pipe, "text")
    with pytest.raises(InputError, match="--out .*pipe: is not a regular file"):
        atomic.check_writable(pipe, "--out")
    assert pipe.is_fifo() and sorted(tmp_path.iterdir()) == [pipe]
