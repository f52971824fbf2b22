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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.update(self.done, force=True)
        if not self.quiet:
            sys.stderr.write("\n")

    def update(self, done, extra="", force=False):
        self.done = done
        now = time.perf_counter()
        if self.quiet or not force and now - self.drawn_at < 0.1 and done < self.total:
            return
        self.drawn_at = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        rate = done / max(now - self.started, 1e-9)
        line = (f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{done}/{self.total} {rate:.2f} {self.unit}/s {extra}")
        sys.stderr.write(line.ljust(100))
        sys.stderr.flush()
