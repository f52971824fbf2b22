"""The one exception type for user mistakes (bad files, bad options).

`run.py` catches it and prints its message as one line, without a traceback;
everything else that goes wrong is a bug and keeps its traceback.
"""


class InputError(Exception):
    """A problem the user can fix: the message names the file, the problem and the fix."""
