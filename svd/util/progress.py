"""Progress on stderr (no dependency): a redrawn bar on a terminal, occasional plain lines in a log.

On a terminal the bar is redrawn in place (carriage return) at most ten times a
second. When stderr is a file, a pipe, a Slurm or CI log, carriage returns would
pile up into one huge line, so complete lines are written instead: one at the
start, one each time another tenth of the work is done or LOG_EVERY_S seconds
have passed since the last line, and one at the end.
"""
import sys
import time

LOG_EVERY_S = 30.0  # longest silence in a log while work goes on
REDRAW_EVERY_S = 0.1  # shortest time between two redraws of the terminal bar


class Progress:
    """Report `label done/total unit, rate, elapsed<remaining, extra` on stderr.

    Use as a context manager; call `update(done, extra="")` as work completes.
    label: what is being done; total: units of work in all; unit: their name.
    quiet=True writes nothing (tests, scripted use).
    start: units already done before this run (a resumed training): the rate and
    the time remaining count only the units done since, so they are not flattered.
    stream: where to write (default: sys.stderr, looked up now); its isatty()
    chooses the redrawn bar or plain lines, once, here.
    clock: seconds as a float, time.perf_counter unless a test controls time.
    """

    def __init__(self, label, total, unit="it", quiet=False, start=0, stream=None, clock=time.perf_counter):
        self.label, self.total, self.unit = label, total, unit
        self.quiet = quiet
        self.start = start
        self.stream = sys.stderr if stream is None else stream
        self.terminal = self.stream.isatty()
        self.clock = clock
        self.started = clock()
        self.written_at = -float("inf")  # so the first update draws the bar at once
        self.written_tenth = self._tenth(start)  # tenths of the total done at the last plain line
        self.written_done = None  # `done` in the last plain line, so the final line is not a repeat
        self.done = start
        self.extra = ""

    def __enter__(self):
        if not self.quiet and not self.terminal:
            self._write_line(f"{self.done}/{self.total} {self.unit} started")
        return self

    def __exit__(self, *exc):
        if self.quiet:
            return
        if self.terminal:
            self.update(self.done, self.extra, force=True)
            self.stream.write("\n")
        elif self.written_done != self.done:
            self._write_line(self._log_status(self.clock()))
        self.stream.flush()

    def update(self, done, extra="", force=False):
        """Record `done` units finished (0 <= done <= total) and write if it is time to."""
        self.done, self.extra = done, extra
        if self.quiet:
            return
        now = self.clock()
        if self.terminal:
            if force or now - self.written_at >= REDRAW_EVERY_S or done >= self.total:
                self.written_at = now
                width = 30
                filled = int(width * done / max(self.total, 1))
                bar = f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self._status(now)}"
                self.stream.write(bar.ljust(100))
                self.stream.flush()
        elif (force or now - self.written_at >= LOG_EVERY_S or self._tenth(done) > self.written_tenth
              or done >= self.total and self.written_done != done):
            self._write_line(self._log_status(now))

    def note(self, text):
        """Write a message line (shown even when quiet); on a terminal it goes below the bar's line."""
        self.stream.write(("\n" if self.terminal and not self.quiet else "") + text + "\n")
        self.stream.flush()

    def _status(self, now):
        """`done/total unit rate unit/s elapsed<remaining extra`; the rate counts from `start`."""
        elapsed = now - self.started
        since_start = self.done - self.start
        rate = since_start / max(elapsed, 1e-9)
        remaining = _clock((self.total - self.done) / rate) if since_start > 0 else "?"
        return (f"{self.done}/{self.total} {self.unit} {rate:.2f} {self.unit}/s "
                f"{_clock(elapsed)}<{remaining} {self.extra}").rstrip()

    def _log_status(self, now):
        """`_status` led by the percentage done (a log line has no bar to show it)."""
        return f"{100 * self.done // max(self.total, 1)}% {self._status(now)}"

    def _write_line(self, text):
        """One complete line, flushed (a log read while the job runs shows it at once)."""
        self.stream.write(f"{self.label} {text}\n")
        self.stream.flush()
        self.written_at = self.clock()
        self.written_tenth = self._tenth(self.done)
        self.written_done = self.done

    def _tenth(self, done):
        """How many whole tenths of the total `done` is."""
        return 10 * done // max(self.total, 1)


def _clock(seconds):
    """Seconds as m:ss (or h:mm:ss)."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
