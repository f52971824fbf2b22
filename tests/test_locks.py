"""svd/util/locks.py: one holder per lock file; dead or silent holders are taken over, live ones never."""
import json
import os
import socket
import time

from conftest import dead_pid

from svd.util import locks


def write_lock(path, host, pid, age_s=0.0):
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "0"}) + "\n", encoding="utf-8")
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_a_lock_names_its_holder_and_is_gone_after_release(tmp_path):
    path = tmp_path / "run.lock"
    lock = locks.try_lock(path)
    holder = json.loads(path.read_text())
    assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
    assert locks.try_lock(path) is None  # held by a live process (this one)
    assert locks.describe(path).startswith(f"host {socket.gethostname()}, process {os.getpid()}, touched ")
    lock.release()
    assert not path.exists()
    with locks.try_lock(path):
        assert path.exists()
    assert not path.exists()


def test_which_locks_are_stale(tmp_path):
    here, path = socket.gethostname(), tmp_path / "run.lock"
    cases = [  # (host, pid, age in s, stale?)
        (here, dead_pid(), 0, True),                        # its process is gone
        (here, os.getppid(), 0, False),                     # a live process on this host
        ("elsewhere", 4242, 0, False),                      # another host's: cannot look, it is fresh
        ("elsewhere", 4242, locks.STALE_AFTER_S + 1, True),  # untouched for too long
        (here, os.getppid(), locks.STALE_AFTER_S + 1, True),  # even alive (a reused id): nobody touches it
    ]
    for host, pid, age_s, stale in cases:
        write_lock(path, host, pid, age_s)
        assert locks.is_stale(path, path.read_text()) == stale, (host, pid, age_s)
        taken = locks.try_lock(path)
        assert (taken is not None) == stale
        if taken:
            assert json.loads(path.read_text())["pid"] == os.getpid()
            taken.release()
    path.write_text("")  # created, its holder not written yet: only age makes it stale
    assert locks.try_lock(path) is None


def test_a_running_job_keeps_touching_its_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "REFRESH_EVERY_S", 0.01)
    path = tmp_path / "run.lock"
    with locks.try_lock(path):
        then = time.time() - 1000
        os.utime(path, (then, then))
        time.sleep(0.2)
        assert time.time() - path.stat().st_mtime < 100


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    path = tmp_path / "run.lock"
    lock = locks.try_lock(path)
    write_lock(path, "elsewhere", 4242)  # taken over meanwhile (we were thought dead)
    lock.release()
    assert json.loads(path.read_text())["host"] == "elsewhere"


def test_putting_aside_gives_back_a_fresh_lock_that_replaced_the_stale_one(tmp_path):
    path = tmp_path / "run.lock"
    write_lock(path, socket.gethostname(), dead_pid())
    stale = path.read_text()
    write_lock(path, "elsewhere", 4242)  # another job took it over after we judged it stale
    locks._put_aside(path, stale)
    assert json.loads(path.read_text())["host"] == "elsewhere"
    assert [p.name for p in tmp_path.iterdir()] == ["run.lock"]
