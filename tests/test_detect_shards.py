"""`run.py detect` on many files: --shard, restarts, --files-from, --jobs, the summary and `detect-merge`.

The model is untrained (random weights, the corpus's statistics): these tests
check which files are done where and what is written, not what is detected.
The reference is one unsharded run over the whole tree in one process; shards,
restarts and worker processes (detecting whole files: `--jobs` auto or K) must
give byte-identical `.lab` files and the same records.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

from svd import detect, labels
from svd.cli import options
from svd.jobs import detect_summary, input_files, shards
from conftest import one_song_model

ROOT = pathlib.Path(__file__).resolve().parent.parent
TREE = ["a/01.wav", "b/01.wav", "b/deep/02.wav", "b/deep/03.flac", "c/04.wav", "c/05.wav", "c/06.wav",
        "c/07.wav", "d/08.wav", "d/09.wav", "d/10.wav", "d/11.wav"]  # two 01.wav: outputs must not collide


def write_audio(path, seconds, seed):
    """Noise with a tone in its middle third: any audio the detector can read."""
    rng = np.random.default_rng(seed)
    samples = 0.05 * rng.standard_normal(int(seconds * 22050))
    third = len(samples) // 3
    samples[third:2 * third] += 0.3 * np.sin(2 * np.pi * 440 * np.arange(third) / 22050)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples.astype(np.float32), 22050)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(model, music tree, reference out-dir of one unsharded run); shared, never written to."""
    base = tmp_path_factory.mktemp("detect_shards")
    one_song_model(base, "model.npz")
    for seed, name in enumerate(TREE):
        write_audio(base / "music" / name, 4.0 + seed % 3, seed)
    assert detect_cli(base / "model.npz", base / "music", "--out-dir", base / "reference", "--jobs", "0") == 0
    return base / "model.npz", base / "music", base / "reference"


def detect_cli(model, *arguments):
    return options.main(["detect", str(model), *map(str, arguments), "--threshold", "0.5", "--quiet"])


def command(model, *arguments):
    return [sys.executable, str(ROOT / "run.py"), "detect", str(model), *map(str, arguments), "--threshold", "0.5",
            "--quiet"]


def labs(out_dir):
    """{.lab path relative to out_dir: bytes}."""
    return {path.relative_to(out_dir).as_posix(): path.read_bytes() for path in sorted(out_dir.rglob("*.lab"))}


def summary_lines(path):
    """The records of a summary file, every line checked to be whole JSON."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def children(pid):
    """Ids of the processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_the_reference_run_writes_one_record_per_file(setup):
    model, music, reference = setup
    records = summary_lines(reference / "summary.jsonl")
    assert [r["lab"] for r in records] == [name.rsplit(".", 1)[0] + ".lab" for name in TREE]
    assert set(labs(reference)) == {r["lab"] for r in records}
    for record in records:
        assert record["status"] == "done" and record["error"] is None and record["threshold"] == 0.5
        assert record["model_sha256"] == detect_summary.sha256_of(model)
        segments = labels.read_lab(reference / record["lab"])
        assert record["duration_s"] == segments[-1][1] and record["segments"] == sum(s for *_, s in segments)
        sung = sum(end - start for start, end, sing in segments if sing)
        assert record["voice_fraction"] == pytest.approx(sung / record["duration_s"], abs=1e-6)


def test_concurrent_shards_together_equal_one_unsharded_run(setup, tmp_path):
    model, music, reference = setup
    out = tmp_path / "out"
    jobs = [subprocess.Popen(command(model, music, "--out-dir", out, "--shard", f"{index}/3",
                                     "--jobs", str(index % 2)),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for index in range(3)]
    for job in jobs:
        assert job.wait(timeout=120) == 0, job.stderr.read()
    assert labs(out) == labs(reference)
    shares = [{r["lab"] for r in summary_lines(out / f"summary-{index}-of-3.jsonl")} for index in range(3)]
    assert sum(map(len, shares)) == len(TREE) == len(set().union(*shares))  # disjoint, and every file
    assert all(shares)  # 12 files in 3 shards: each got some (a fixed hash; true for these names)
    assert options.main(["detect-merge", str(out)]) == 0
    assert summary_lines(out / "summary-all.jsonl") == sorted(summary_lines(reference / "summary.jsonl"),
                                                              key=lambda r: r["lab"])


@pytest.mark.parametrize("value", ["3/3", "1/0", "-1/3", "a/b", "1/2/3", "2"])
def test_a_bad_shard_is_one_line_and_exit_code_2(setup, tmp_path, capsys, value):
    model, music, _ = setup
    assert detect_cli(model, music, "--out-dir", tmp_path / "out", f"--shard={value}") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --shard {value}: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_files_shard_does_not_change_when_files_are_added(setup):
    _, music, _ = setup
    files = input_files.audio_files([music])
    before = {path: shards.of_key(relative.as_posix(), 3)
              for path, relative in zip(files, input_files.relative_paths(files, [music]))}
    more = files + [music / "e" / "new.wav", music / "a" / "00.wav"]
    after = {path: shards.of_key(relative.as_posix(), 3)
             for path, relative in zip(more, input_files.relative_paths(more, [music]))}
    assert all(after[path] == shard for path, shard in before.items())
    assert [shards.of_key("a/01.wav", count) for count in (2, 3, 4, 5)] == [1, 0, 3, 2]  # sha256: fixed forever


def test_a_killed_job_restarts_without_redoing_finished_files(setup, tmp_path):
    model, music, reference = setup
    out = tmp_path / "out"
    job = subprocess.Popen(command(model, music, "--out-dir", out, "--jobs", "1"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.lab"))) < 3 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    workers = children(job.pid)
    job.send_signal(signal.SIGKILL)
    assert job.wait() == -signal.SIGKILL, "the job had finished before the kill"
    # What the kill left: whole .lab files equal to the reference's, whole summary lines.
    finished = labs(out)
    assert 3 <= len(finished) < len(TREE)
    assert all(reference_lab == (reference / name).read_bytes() for name, reference_lab in finished.items())
    assert {r["status"] for r in summary_lines(out / "summary.jsonl")} == {"pending"}  # as saved at the start
    latest = detect_summary.read_latest(out / "summary.jsonl")  # with the journal's records laid over it
    recorded = {name for name, r in latest.items() if r["status"] == "done"}
    assert set(finished) <= recorded and len(recorded - set(finished)) <= 1  # one killed before its rename
    # The reading worker (and multiprocessing's resource tracker) notice and go.
    deadline = time.monotonic() + 30
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers and not any(os.path.exists(f"/proc/{pid}") for pid in workers)

    stamps = {name: (out / name).stat() for name in finished}
    assert detect_cli(model, music, "--out-dir", out) == 0
    assert labs(out) == labs(reference)
    for name, stamp in stamps.items():  # not rewritten: a rewrite is a rename, so a new inode
        assert (out / name).stat().st_ino == stamp.st_ino and (out / name).stat().st_mtime_ns == stamp.st_mtime_ns
    records = summary_lines(out / "summary.jsonl")
    assert [r["status"] for r in records] == ["skipped" if r["lab"] in finished else "done" for r in records]
    done_as_reference = [{**r, "status": "done"} for r in records]
    assert done_as_reference == summary_lines(reference / "summary.jsonl")
    assert not [path for path in out.rglob("*") if path.name.endswith((".tmp", ".journal"))]


def test_skipped_overwritten_failed_and_jobs(setup, tmp_path, capsys, monkeypatch):
    model, music, reference = setup
    out = tmp_path / "out"
    (out).mkdir()
    for path in reference.rglob("*"):
        if path.is_file():
            (out / path.relative_to(reference)).parent.mkdir(parents=True, exist_ok=True)
            (out / path.relative_to(reference)).write_bytes(path.read_bytes())
    capsys.readouterr()
    real = detect.detect_spectrogram
    monkeypatch.setattr(detect, "detect_spectrogram", lambda *a, **k: pytest.fail("a finished file was redone"))
    assert detect_cli(model, music, "--out-dir", out) == 0
    assert f"0 done, {len(TREE)} skipped, 0 failed" in capsys.readouterr().err
    monkeypatch.setattr(detect, "detect_spectrogram", real)

    # --overwrite redoes everything, here with 2 detecting worker processes and the summary saved after each file.
    monkeypatch.setattr(detect_summary, "SAVE_EVERY_S", 0.0)
    (out / "a" / "01.lab").write_text("0.000 1.000 sing\n", encoding="utf-8")
    assert detect_cli(model, music, "--out-dir", out, "--overwrite", "--jobs", "2") == 0
    assert f"{len(TREE)} done, 0 skipped, 0 failed" in capsys.readouterr().err
    assert labs(out) == labs(reference)

    # A file that cannot be read fails, in a worker too: recorded with its error, and exit code 2.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "01.wav").write_bytes((music / "a" / "01.wav").read_bytes())
    (mixed / "zz_broken.mp3").write_bytes(b"ID3 not really an mp3")
    assert detect_cli(model, mixed, "--out-dir", tmp_path / "mixed-out", "--jobs", "2") == 2
    err = capsys.readouterr().err
    assert "1 done, 0 skipped, 1 failed" in err and "failed: " in err and "zz_broken.mp3: cannot decode" in err
    records = summary_lines(tmp_path / "mixed-out" / "summary.jsonl")
    assert [r["status"] for r in records] == ["done", "failed"] and "cannot decode audio" in records[1]["error"]
    assert records[1]["duration_s"] is None and records[0]["error"] is None

    # With --plot, a file without its picture is not finished.
    pytest.importorskip("matplotlib")
    only = out / "one"
    assert detect_cli(model, music / "a", "--out-dir", only) == 0
    assert detect_cli(model, music / "a", "--out-dir", only, "--plot") == 0
    assert "1 done, 0 skipped" in capsys.readouterr().err and (only / "01.png").is_file()


def test_files_from_takes_odd_names_from_a_list_or_stdin(setup, tmp_path, capsys):
    model, music, _ = setup
    odd = tmp_path / "odd"
    names = ["with space.wav", "ünï cødé ♪.wav", "dir with space/ä b.flac"]
    for seed, name in enumerate(names):
        write_audio(odd / name, 3.0, seed)
    lists = tmp_path / "lists"
    lists.mkdir()
    # A UTF-8 list with a byte-order mark, Windows line ends, a blank line and one absolute path.
    lines = ["../odd/with space.wav", "", "../odd/ünï cødé ♪.wav", str(odd / "dir with space" / "ä b.flac")]
    (lists / "list.txt").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    out = tmp_path / "out"
    assert detect_cli(model, "--files-from", lists / "list.txt", "--out-dir", out) == 0
    assert sorted(labs(out)) == ["dir with space/ä b.lab", "with space.lab", "ünï cødé ♪.lab"]

    # From stdin, relative to the current folder.
    piped = subprocess.run(command(model, "--files-from", "-", "--out-dir", tmp_path / "piped"), cwd=odd,
                           input="\n".join(names).encode("utf-8"), capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr.decode()
    assert labs(tmp_path / "piped") == labs(out)

    # A listed file that is not there: the list and line are named, nothing is done.
    (lists / "bad.txt").write_text("../odd/with space.wav\n../odd/nope.wav\n", encoding="utf-8")
    assert detect_cli(model, "--files-from", lists / "bad.txt", "--out-dir", tmp_path / "bad") == 2
    err = capsys.readouterr().err
    assert "bad.txt, line 2: " in err and "nope.wav: no such file or directory" in err
    assert not (tmp_path / "bad").exists()


def test_merge_names_a_missing_shard_unfinished_and_duplicated_files(setup, tmp_path, capsys):
    model, music, reference = setup
    out = tmp_path / "out"
    for index in (0, 2):
        assert detect_cli(model, music, "--out-dir", out, "--shard", f"{index}/3") == 0
    capsys.readouterr()
    assert options.main(["detect-merge", str(out)]) == 2
    captured = capsys.readouterr()
    assert "missing: shard 1/3 (no summary-1-of-3.jsonl" in captured.out
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1

    assert detect_cli(model, music, "--out-dir", out, "--shard", "1/3") == 0
    assert options.main(["detect-merge", str(out), "--out", str(tmp_path / "all.jsonl")]) == 0
    merged = summary_lines(tmp_path / "all.jsonl")
    assert [r["lab"] for r in merged] == sorted(labs(reference))
    assert f"{len(TREE)} files: {len(TREE)} done, 0 skipped, 0 failed, 0 pending" in capsys.readouterr().out

    # A file not reached, a .lab that went away, a file in two summaries: each is named.
    first, second = (summary_lines(out / f"summary-{index}-of-3.jsonl") for index in (0, 1))
    detect_summary.append(out / "summary-0-of-3.jsonl", {**first[0], "status": "pending"})
    (out / first[1]["lab"]).unlink()
    detect_summary.append(out / "summary-1-of-3.jsonl", first[2])
    assert options.main(["detect-merge", str(out)]) == 2
    text = capsys.readouterr().out
    assert f"missing: 1 file(s) not reached: its shard stopped early; run it again: {first[0]['lab']}" in text
    assert f"missing: 1 file(s) recorded but its .lab is not there; run its shard again: {first[1]['lab']}" in text
    assert (f"duplicated: 1 file(s) in more than one summary: {first[2]['lab']} (summary-0-of-3.jsonl, "
            "summary-1-of-3.jsonl)") in text
    assert second  # shard 1 had files of its own
