"""A plain text progress bar on stderr (no dependency), redrawn at most ten times a second."""
import sys
import time


class Progress:
    """Draw `label [#####.....] done/total rate extra` on one line of stderr.

    Use as a context manager; call `update(done, extra="")` as work completes.
    quiet=True draws nothing (tests, scripted use).
    """

    def __init__(self, label, total, unit="it", quiet=False):
        self.label, self.total, self.unit = label, total, unit
        self.quiet = quiet
        self.started = time.perf_counter()
        self.drawn_at = 0.0
        self.done = 0
        self.extra = ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.update(self.done, self.extra, force=True)
        if not self.quiet:
            sys.stderr.write("\n")

    def update(self, done, extra="", force=False):
        self.done, self.extra = done, extra
        now = time.perf_counter()
        if self.quiet or not force and now - self.drawn_at < 0.1 and done < self.total:
            return
        self.drawn_at = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        elapsed = now - self.started
        rate = done / max(elapsed, 1e-9)
        remaining = (self.total - done) / rate if done else 0.0
        line = (f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{done}/{self.total} {rate:.2f} {self.unit}/s {_clock(elapsed)}<{_clock(remaining)} {extra}")
        sys.stderr.write(line.ljust(100))
        sys.stderr.flush()


def _clock(seconds):
    """Seconds as m:ss (or h:mm:ss)."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
