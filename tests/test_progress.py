"""svd/util/progress.py: a redrawn bar on a terminal, a few complete lines in a log, nothing when quiet."""
import io
import sys

from svd.util import progress
from svd.util.progress import Progress


class FakeStream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, terminal):
        super().__init__()
        self.terminal = terminal

    def isatty(self):
        return self.terminal


class FakeClock:
    """A clock that moves only when the test says so (seconds)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_log_gets_a_few_complete_lines_and_ends_with_completion():
    stream, clock = FakeStream(terminal=False), FakeClock()
    with Progress("training", 10000, "updates", stream=stream, clock=clock) as bar:
        for done in range(1, 10001):
            clock.now = 1000.0 + done / 1000  # 10 s in all: the time rule alone never fires
            bar.update(done, f"loss {1 / done:.4f}")
    text = stream.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    # A start line, one per tenth of the work; the last tenth's line is the final one.
    assert len(lines) == 11
    assert lines[0] == "training 0/10000 updates started"
    assert lines[-1].startswith("training 100% 10000/10000 updates 1000.00 updates/s 0:10<0:00 loss")


def test_a_log_gets_a_line_every_log_every_s_while_work_is_slow():
    stream, clock = FakeStream(terminal=False), FakeClock()
    with Progress("features", 1000, "songs", stream=stream, clock=clock) as bar:
        for done in range(1, 51):  # 5% of the work, one song every 6 s: 300 s in all
            clock.now += 6.0
            bar.update(done)
    lines = stream.getvalue().splitlines()
    # Start, one line per LOG_EVERY_S (10 in 300 s; the last at done=50 is also the final state).
    assert progress.LOG_EVERY_S == 30.0
    assert len(lines) == 11
    assert lines[-1].startswith("features 5% 50/1000 songs ")


def test_an_interrupted_run_ends_its_log_with_the_point_reached():
    stream, clock = FakeStream(terminal=False), FakeClock()
    try:
        with Progress("detecting", 100, "files", stream=stream, clock=clock) as bar:
            for done in range(1, 15):
                bar.update(done)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("detecting 14% 14/100 files ")
    assert len(lines) == 3  # start, 10%, the point reached


def test_a_terminal_gets_the_redrawn_bar():
    stream, clock = FakeStream(terminal=True), FakeClock()
    with Progress("training", 4, "updates", stream=stream, clock=clock) as bar:
        for done in range(1, 5):
            clock.now += 1.0
            bar.update(done, "loss 0.5000")
    text = stream.getvalue()
    assert text.count("\r") == 5  # each update (1 s apart, above REDRAW_EVERY_S) and the final redraw
    assert "\n" not in text[:-1] and text.endswith("\n")
    final = text.split("\r")[-1]
    assert final.startswith("training [##############################] 4/4 updates 1.00 updates/s 0:04<0:00 "
                            "loss 0.5000")
    assert len("\r" + final) == 101  # padded to 100 characters over the previous drawing, then the newline


def test_a_terminal_bar_is_redrawn_at_most_every_redraw_every_s():
    stream, clock = FakeStream(terminal=True), FakeClock()
    with Progress("training", 1000, "updates", stream=stream, clock=clock) as bar:
        for done in range(1, 1001):
            clock.now = 1000.0 + done / 1000  # 1 s in all
            bar.update(done)
    # The first update, about ten redraws in the second, the completed one, the final redraw.
    assert 10 <= stream.getvalue().count("\r") <= 14


def test_the_eta_after_a_resume_counts_only_the_updates_since():
    stream, clock = FakeStream(terminal=False), FakeClock()
    with Progress("training", 1000, "updates", start=500, stream=stream, clock=clock) as bar:
        clock.now += 100.0
        bar.update(600)  # 100 updates in 100 s since the resume: 1/s, 400 left, 6:40
    lines = stream.getvalue().splitlines()
    assert lines[0] == "training 500/1000 updates started"
    # Counting from 0 would claim 6 updates/s and 1:06 left.
    assert lines[1] == "training 60% 600/1000 updates 1.00 updates/s 1:40<6:40"


def test_the_eta_is_unknown_until_something_is_done():
    stream, clock = FakeStream(terminal=False), FakeClock()
    with Progress("training", 1000, "updates", start=500, stream=stream, clock=clock) as bar:
        clock.now += 40.0
        bar.update(500)
    assert stream.getvalue().splitlines()[1] == "training 50% 500/1000 updates 0.00 updates/s 0:40<?"


def test_quiet_writes_nothing_terminal_or_not(capsys):
    for terminal in (False, True):
        stream = FakeStream(terminal)
        with Progress("training", 100, "updates", quiet=True, stream=stream) as bar:
            for done in range(101):
                bar.update(done, "loss 0.5")
        assert stream.getvalue() == ""
    assert capsys.readouterr().err == ""


def test_the_default_stream_is_stderr_at_construction(capsys):
    with Progress("synthesising", 2, "clips") as bar:
        assert bar.stream is sys.stderr and not bar.terminal  # pytest's captured stderr is no terminal
        bar.update(2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "synthesising 0/2 clips started"
    assert lines[1].startswith("synthesising 100% 2/2 clips ")
    assert len(lines) == 2


def test_a_note_lands_on_its_own_line_below_the_bar_and_is_shown_even_when_quiet():
    terminal, log, quiet = FakeStream(terminal=True), FakeStream(terminal=False), FakeStream(terminal=True)
    for stream, is_quiet in ((terminal, False), (log, False), (quiet, True)):
        with Progress("detecting", 2, "files", quiet=is_quiet, stream=stream, clock=FakeClock()) as bar:
            bar.update(1)
            bar.note("skipped: x.mp3: cannot decode audio")
    assert terminal.getvalue().startswith("\rdetecting [")
    assert "\nskipped: x.mp3: cannot decode audio\n" in terminal.getvalue()
    assert "\n\n" not in log.getvalue() and "skipped: x.mp3: cannot decode audio\n" in log.getvalue()
    assert quiet.getvalue() == "skipped: x.mp3: cannot decode audio\n"
