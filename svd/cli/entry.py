"""The program's entry point (`svd`, `python run.py`, `python -m svd`): signals first, then the command line.

Importing the command line takes a few tenths of a second (NumPy); a Ctrl-C or
SIGTERM in that time would end in a KeyboardInterrupt traceback or a killed
interpreter. So the handlers are installed when this module is imported, before
anything else: until svd/cli/options.py `run` takes over, either signal ends the program
at once with exit code 130 and one line, as it does later. `_signal` is the C
module under `signal`: importing `signal` itself builds enums, which takes long
enough for a signal to land in it.
"""
import _signal
import os
import sys


def _stopped_while_starting(signum, frame):
    sys.stderr.write("interrupted\n")
    sys.stderr.flush()
    os._exit(130)  # nothing is written yet: no work to keep, no temporary to remove


_signal.signal(_signal.SIGINT, _stopped_while_starting)
_signal.signal(_signal.SIGTERM, _stopped_while_starting)


def main():
    from svd.cli.options import run
    run()
