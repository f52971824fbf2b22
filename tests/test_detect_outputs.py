"""`run.py detect --labels/--frames`: every output format, what skipping looks at, and what a kill leaves.

The model is untrained (random weights, the corpus's statistics): these tests
check what is written, not what is detected.
"""
import numpy as np
import pytest

from svd import detect, labels, spectrum
from svd.cli import options
from svd.jobs import detect_summary, detection, input_files
from conftest import write_filelist, write_song
from conftest import untrained_model


@pytest.fixture
def setup(tmp_path):
    """(model, folder of three songs)."""
    write_song(tmp_path / "corpus", "train.wav", 4.0, [(0.0, 1.5, False), (1.5, 4.0, True)])
    write_filelist(tmp_path / "corpus", "train", ["train.wav"])
    untrained_model(tmp_path / "corpus", tmp_path / "model.npz")
    for seed, name in enumerate(["a.wav", "b.wav", "c.wav"]):
        write_song(tmp_path / "music", name, 4.0 + seed, [(0.0, 1.0, False), (1.0, 3.0, True)], seed=seed)
    return tmp_path / "model.npz", tmp_path / "music" / "audio"


def run(model, music, out, *extra):
    return options.main(["detect", str(model), str(music), "--out-dir", str(out), "--threshold", "0.5", "--quiet",
                         *extra])


def statuses(out):
    return {lab: entry["status"] for lab, entry in detect_summary.read_latest(out / "summary.jsonl").items()}


def test_every_format_holds_the_same_detection(setup, tmp_path):
    model, music = setup
    out = tmp_path / "out"
    assert run(model, music, out, "--labels", "csv, audacity,lab", "--frames", "csv,npy") == 0
    for stem in ("a", "b", "c"):
        segments = labels.read_lab(out / f"{stem}.lab")
        assert labels.read_segments(out / f"{stem}.txt") == segments
        assert labels.read_segments(out / f"{stem}.csv") == segments
        table = np.load(out / f"{stem}.frames.npy")
        assert table.dtype == np.float32 and table.shape[1] == 3
        np.testing.assert_allclose(table[:, 0], spectrum.frame_times_s(len(table)), rtol=1e-7)  # float32 times
        text = (out / f"{stem}.frames.csv").read_text(encoding="utf-8").splitlines()
        assert text[0] == "time_s,p_raw,p_smoothed" and len(text) == len(table) + 1
        from_csv = np.loadtxt(out / f"{stem}.frames.csv", delimiter=",", skiprows=1, dtype=np.float64)
        np.testing.assert_array_equal(from_csv[:, 1:].astype(np.float32), table[:, 1:])  # 9 digits: exact
        np.testing.assert_allclose(from_csv[:, 0], spectrum.frame_times_s(len(table)), atol=5e-7)
        # The labels are the smoothed probability against the threshold, frame by frame.
        np.testing.assert_array_equal(labels.frame_targets(segments, len(table)), table[:, 2] >= 0.5)
    assert set(statuses(out)) == {"a.lab", "b.lab", "c.lab"}  # `lab` names the .lab when there is one


def test_json_and_the_sing_only_track_hold_the_same_detection(setup, tmp_path):
    """Segments as JSON and a sing-only Audacity track (issue 31); named alone, the sing track gets a .lab."""
    model, music = setup
    out = tmp_path / "out"
    assert run(model, music, out, "--labels", "sing") == 0
    assert sorted(path.name for path in out.glob("a.*")) == ["a.lab", "a.sing.txt"]
    segments = labels.read_lab(out / "a.lab")
    assert labels.read_segments(out / "a.sing.txt") == [segment for segment in segments if segment[2]]
    out = tmp_path / "json"
    assert run(model, music, out, "--labels", "sing,json") == 0
    assert labels.read_segments(out / "a.json") == segments
    assert set(statuses(out)) == {"a.json", "b.json", "c.json"}  # the JSON file is the main output
    assert run(model, music, out, "--labels", "sing,json") == 0  # read back: skipped
    assert set(statuses(out).values()) == {"skipped"}


def test_audio_on_standard_input_gives_the_label_text_on_standard_output(setup, tmp_path, monkeypatch, capsys):
    """`detect -` said 'no such file' (issue 31): now the audio is read from the pipe, nothing is written."""
    import io
    import sys
    model, music = setup
    assert run(model, music, tmp_path / "out", "--labels", "audacity") == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    for audio, expected in ((music / "b.wav", "b.txt"), (tmp_path / "out" / "b.txt", None), (None, None)):
        data = audio.read_bytes() if audio else b""
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        code = options.main(["detect", str(model), "-", "--threshold", "0.5", "--labels", "audacity"])
        out, err = capsys.readouterr()
        if expected:
            assert code == 0 and out == (tmp_path / "out" / expected).read_text() and err == ""
        else:
            assert code == 2 and out == "" and err.startswith("error: standard input: ") and err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
    assert options.main(["detect", str(model), "-", "--threshold", "0.5", "--plot", "--labels", "lab,csv"]) == 2
    assert "leave out --plot, more than one --labels format" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    monkeypatch.setattr(sys.stdin.buffer, "isatty", lambda: True)
    assert options.main(["detect", str(model), "-", "--threshold", "0.5"]) == 2
    assert "standard input is a terminal; pipe the audio in" in capsys.readouterr().err


def test_a_file_is_skipped_only_when_all_its_outputs_are_there(setup, tmp_path):
    model, music = setup
    out = tmp_path / "out"
    formats = ("--labels", "lab,csv", "--frames", "npy")
    assert run(model, music, out, *formats) == 0
    written = {path.name: path.read_bytes() for path in out.iterdir() if not path.name.startswith("summary")}
    assert len(written) == 9
    assert run(model, music, out, *formats) == 0
    assert set(statuses(out).values()) == {"skipped"}
    (out / "b.frames.npy").unlink()
    assert run(model, music, out, *formats) == 0
    assert statuses(out) == {"a.lab": "skipped", "b.lab": "done", "c.lab": "skipped"}
    assert {path.name: path.read_bytes() for path in out.iterdir() if not path.name.startswith("summary")} == written
    # Asking for one more output redoes every file (each lacks it).
    assert run(model, music, out, *formats, "--labels", "lab,csv,audacity") == 0
    assert set(statuses(out).values()) == {"done"} and (out / "a.txt").is_file()


def test_without_lab_the_first_label_file_identifies_the_file(setup, tmp_path, capsys):
    model, music = setup
    out = tmp_path / "out"
    assert run(model, music, out, "--labels", "csv,audacity") == 0
    assert sorted(path.name for path in out.glob("a.*")) == ["a.csv", "a.txt"]
    done = detect_summary.read_latest(out / "summary.jsonl")
    assert set(done) == {"a.txt", "b.txt", "c.txt"}  # audacity before csv, whatever the order given
    assert run(model, music, out, "--labels", "audacity,csv") == 0
    skipped = detect_summary.read_latest(out / "summary.jsonl")
    for lab, entry in done.items():  # the figures read back from the .txt are those of the detection
        assert entry["status"] == "done" and skipped[lab]["status"] == "skipped"
        assert {k: v for k, v in skipped[lab].items() if k != "status"} == {k: v for k, v in entry.items()
                                                                             if k != "status"}
    capsys.readouterr()
    assert options.main(["detect-merge", str(out)]) == 0
    (out / "b.txt").unlink()
    assert options.main(["detect-merge", str(out)]) == 2
    assert "b.txt" in capsys.readouterr().out


def test_a_kill_between_the_outputs_leaves_no_main_label_and_the_file_is_redone(setup, tmp_path, monkeypatch):
    model, music = setup
    out = tmp_path / "out"
    real = detect.write_frames_csv

    def killed_at_b(path, found):
        if found.path.name == "b.wav":
            raise KeyboardInterrupt
        real(path, found)
    monkeypatch.setattr(detect, "write_frames_csv", killed_at_b)
    # In one process, so that the files finish in order (worker processes hand them back as they finish).
    assert run(model, music, out, "--frames", "csv", "--plot", "--jobs", "0") == 130
    assert (out / "a.lab").is_file() and (out / "a.png").is_file()
    assert not (out / "b.lab").exists()  # the main label file is written last, after its record
    assert statuses(out) == {"a.lab": "done", "b.lab": "pending", "c.lab": "pending"}
    assert not [path for path in out.iterdir() if ".tmp" in path.name]  # no temporary left behind
    monkeypatch.setattr(detect, "write_frames_csv", real)
    assert run(model, music, out, "--frames", "csv", "--plot") == 0
    assert statuses(out) == {"a.lab": "skipped", "b.lab": "done", "c.lab": "done"}


def test_outputs_never_collide_across_suffixes():
    from pathlib import Path
    relative = [Path("x.wav"), Path("x.frames.wav"), Path("y.wav")]
    assert input_files.output_stems(relative) == [Path("x"), Path("x.frames"), Path("y")]
    job = detection.Job(None, "", 0.5, (1.0,), 0.0, False, None, 0, True, ("csv",), ("csv",))
    suffixes = [suffix for _, suffix in detection.output_suffixes(job)]
    stems = input_files.output_stems(relative, suffixes)  # x.frames.csv would be x's frames and x.frames's labels
    outputs = [stem.name + suffix for stem in stems for suffix in suffixes]
    assert len(set(outputs)) == len(outputs) and stems[2] == Path("y")


@pytest.mark.parametrize("extra, message", [
    (["--labels", ""], "--labels '': no format named; give a comma-separated list of lab, audacity, csv, json, sing."),
    (["--labels", "lab,textgrid"], "--labels 'lab,textgrid': unknown format 'textgrid'"),
    (["--frames", "hdf5"], "--frames 'hdf5': unknown format 'hdf5'; give a comma-separated list of npy, csv."),
    (["--frames", " , "], "--frames ' , ': no format named"),
])
def test_unknown_formats_are_refused_before_any_work(setup, tmp_path, capsys, extra, message):
    model, music = setup
    assert run(model, music, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_rerun_with_other_output_options_is_refused_not_skipped(setup, tmp_path, capsys):
    """Another --min-segment or --tta into the same folder kept the old outputs without a word (issue 29)."""
    model, music = setup
    out = tmp_path / "out"
    assert run(model, music, out) == 0
    before = {path.name: path.read_bytes() for path in out.glob("*.lab")}
    for extra, said in ((("--min-segment", "0.5"), "--min-segment 0, no --tta; now --min-segment 0.5, no --tta"),
                          (("--tta",), "now --min-segment 0, --tta 1,0.8,0.9,1.1,1.2")):
        assert run(model, music, out, *extra) == 2
        assert said in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in out.glob("*.lab")} == before
    assert run(model, music, out, "--min-segment", "0.5", "--overwrite") == 0
    assert set(statuses(out).values()) == {"done"}
    assert run(model, music, out, "--min-segment", "0.5") == 0  # the same options again: skipped
    assert set(statuses(out).values()) == {"skipped"}
