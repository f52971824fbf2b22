"""A full disk (ENOSPC) or another failed write: one line naming the path, and no work lost.

Every write goes through svd/util/atomic.py, which turns an OSError into WriteFailed (an
InputError: one line, exit code 2) naming the destination, not its temporary.
`train` writes a checkpoint of the finished run before the model file, so a model
that does not fit leaves the whole training in the checkpoint, and `--resume`
writes the model without training again.

Most tests make chosen writes fail by replacing numpy.savez and Path.write_text
with versions that raise ENOSPC for some destinations. The last one fills a real
small tmpfs, where this machine lets us mount one (a private mount namespace);
elsewhere it is skipped.
"""
import errno
import io
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from svd import model_file
from svd.cli import options

ROOT = pathlib.Path(__file__).resolve().parent.parent
TRAIN = ["--updates", "2", "--batch", "2", "--checkpoint-every", "1", "--quiet"]


def full_disk(monkeypatch, fails):
    """Make writes whose temporary's name contains `.DEST.` fail with ENOSPC when fails(DEST, count) is true.

    count: how many writes of DEST were tried so far, this one included. Returns nothing;
    monkeypatch undoes it.
    """
    tried = {}
    real_savez, real_write_text = np.savez, pathlib.Path.write_text

    def check(name):
        # '.model.npz.<writer>.tmp' -> 'model.npz'
        dest = name[1:].split(".tmp")[0].rsplit(".", 2)[0] if name.startswith(".") else name
        tried[dest] = tried.get(dest, 0) + 1
        if fails(dest, tried[dest]):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def savez(file, *args, **kwargs):
        if not isinstance(file, io.BytesIO):  # an archive made in memory (model_file.sha256) needs no disk
            check(pathlib.Path(getattr(file, "name", file)).name)
        return real_savez(file, *args, **kwargs)

    def write_text(self, *args, **kwargs):
        check(self.name)
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(np, "savez", savez)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


def one_line(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_full_disk_at_the_final_save_keeps_the_training_in_the_checkpoint(tiny_corpus, tmp_path, capsys,
                                                                          monkeypatch):
    out = tmp_path / "model.npz"
    args = ["train", "--data", str(tiny_corpus), "--out", str(out), *TRAIN]
    with monkeypatch.context() as patch:
        full_disk(patch, lambda dest, count: dest == "model.npz")
        err = one_line(capsys, options.main(args))
    assert f"{out}: cannot write it (No space left on device)" in err
    ckpt = tmp_path / "model.npz.ckpt.npz"
    assert f"the checkpoint {ckpt} holds update 2; run the same command with --resume" in err
    assert not out.exists() and model_file.load(ckpt).extra["progress"]
    assert options.main(args + ["--resume"]) == 0           # writes the model without training again
    assert "resuming at update 2" not in capsys.readouterr().err  # (--quiet)
    model_file.load(out)
    assert not ckpt.exists()


def test_a_full_disk_everywhere_at_the_end_names_the_last_checkpoint(tiny_corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "model.npz"
    with monkeypatch.context() as patch:   # the first checkpoint fits, then nothing does
        full_disk(patch, lambda dest, count: dest == "model.npz" or (dest == "model.npz.ckpt.npz" and count > 1))
        err = one_line(capsys, options.main(["train", "--data", str(tiny_corpus), "--out", str(out), *TRAIN]))
    assert "holds update 1; run the same command with --resume" in err
    assert json_update(tmp_path / "model.npz.ckpt.npz") == 1


def test_a_full_disk_at_a_checkpoint_stops_training_and_keeps_the_one_before(tiny_corpus, tmp_path, capsys,
                                                                            monkeypatch):
    out = tmp_path / "model.npz"
    ckpt = tmp_path / "model.npz.ckpt.npz"
    with monkeypatch.context() as patch:
        full_disk(patch, lambda dest, count: dest == "model.npz.ckpt.npz" and count == 2)
        err = one_line(capsys, options.main(["train", "--data", str(tiny_corpus), "--out", str(out), "--updates", "3",
                                             "--batch", "2", "--checkpoint-every", "1", "--quiet"]))
    assert f"{ckpt}: cannot write it (No space left on device)" in err
    assert f"Training stopped at update 2; the checkpoint {ckpt} holds update 1" in err
    assert json_update(ckpt) == 1 and not out.exists()


def json_update(ckpt):
    import json
    return json.loads(str(model_file.load(ckpt).extra["progress"]))["update"]


@pytest.fixture
def trained(tiny_corpus, tmp_path):
    """A model file (random weights: the tests need a file, not a good model)."""
    from svd import network
    path = tmp_path / "model.npz"
    model_file.save(path, model_file.Model(network.init_params(np.random.default_rng(0)),
                                           np.zeros(80, np.float32), np.ones(80, np.float32), {}))
    return path


def test_a_full_disk_at_eval_json_names_the_file(tiny_corpus, trained, tmp_path, capsys, monkeypatch):
    before = trained.read_bytes()
    full_disk(monkeypatch, lambda dest, count: dest == "table.json")
    err = one_line(capsys, options.main(["eval", str(trained), "--data", str(tiny_corpus), "--json",
                                         str(tmp_path / "table.json"), "--quiet"]))
    assert f"{tmp_path / 'table.json'}: cannot write it (No space left on device)" in err
    assert trained.read_bytes() == before and not (tmp_path / "table.json").exists()


def test_a_full_disk_at_the_threshold_store_names_the_model(tiny_corpus, trained, capsys, monkeypatch):
    before = trained.read_bytes()
    full_disk(monkeypatch, lambda dest, count: dest == "model.npz")
    err = one_line(capsys, options.main(["eval", str(trained), "--data", str(tiny_corpus), "--quiet"]))
    assert f"{trained}: cannot write it (No space left on device)" in err
    assert trained.read_bytes() == before


def test_a_full_disk_at_a_lab_file_names_it(tiny_corpus, trained, tmp_path, capsys, monkeypatch):
    full_disk(monkeypatch, lambda dest, count: dest.endswith(".lab"))
    err = one_line(capsys, options.main(["detect", str(trained), str(tiny_corpus / "audio" / "test_sång.wav"),
                                         "--threshold", "0.5", "--out-dir", str(tmp_path / "out"), "--quiet"]))
    assert f"{tmp_path / 'out' / 'test_sång.lab'}: cannot write it (No space left on device)" in err


def test_a_failed_journal_append_names_the_journal(tiny_corpus, trained, tmp_path, capsys, monkeypatch):
    real_open = os.open

    def refusing_open(path, *args, **kwargs):
        if str(path).endswith(".journal"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, "open", refusing_open)
    err = one_line(capsys, options.main(["detect", str(trained), str(tiny_corpus / "audio" / "test_sång.wav"),
                                         "--threshold", "0.5", "--out-dir", str(tmp_path / "out"), "--quiet"]))
    assert f"{tmp_path / 'out' / '.summary.jsonl.journal'}: cannot write it (No space left on device)" in err


def test_a_full_disk_in_the_feature_cache_names_the_entry(tiny_corpus, tmp_path, capsys, monkeypatch):
    full_disk(monkeypatch, lambda dest, count: dest.endswith(".npz"))
    err = one_line(capsys, options.main(["check", "--data", str(tiny_corpus), "--cache", str(tmp_path / "c"),
                                         "--quiet"]))
    assert f"{tmp_path / 'c' / 'features'}" in err and "cannot write it (No space left on device)" in err


def _can_mount_tmpfs(folder):
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs '{folder}'"],
                           capture_output=True)
    return probe.returncode == 0


def test_a_real_full_tmpfs_keeps_the_checkpoint_and_resume_finishes(tiny_corpus, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if not _can_mount_tmpfs(disk):
        pytest.skip("cannot mount a tmpfs here (no user namespaces or no unshare)")
    # 14 MiB: one 11 MiB checkpoint fits, a second one (written beside the first) does not,
    # nor the 5.6 MiB model file next to it; then the same tmpfs grows and --resume finishes.
    train = [sys.executable, str(ROOT / "run.py"), "train", "--data", str(tiny_corpus), "--out",
             str(disk / "model.npz"), "--cache", str(tmp_path / "cache"), "--updates", "3", "--batch", "2",
             "--checkpoint-every", "1", "--quiet"]
    quoted = " ".join(f"'{part}'" for part in train)
    script = (f"mount -t tmpfs -o size=14m tmpfs '{disk}' && {{ {quoted} 2>&1; echo \"rc=$?\"; "
              f"ls '{disk}'; mount -o remount,size=64m '{disk}' && {quoted} --resume 2>&1; echo \"rc=$?\"; "
              f"ls '{disk}'; }}")
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    first, second = result.stdout.split("rc=", 1)[0], result.stdout.split("rc=", 1)[1]
    assert first.startswith("error: ") and first.count("\n") == 1, result.stdout + result.stderr
    assert "No space left on device" in first and "holds update 1; run the same command with --resume" in first
    assert second.startswith("2\nmodel.npz.ckpt.npz\n"), result.stdout
    assert second.rstrip().endswith("rc=0\nmodel.npz"), result.stdout
