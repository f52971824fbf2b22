"""The one exception type for user mistakes (bad files, bad options).

svd/cli/options.py catches it and prints its message as one line, without a traceback;
everything else that goes wrong is a bug and keeps its traceback.
"""


class InputError(Exception):
    """A problem the user can fix: the message names the file, the problem and the fix."""


# How messages name the program: `svd` when installed, `python run.py` in a clone,
# `python -m svd`; svd/cli/options.py sets it to the way this process was started.
PROGRAM = "svd"


def command(arguments):
    """A command line to suggest in a message, quoted: command("eval m.npz") -> "'svd eval m.npz'"."""
    return f"'{PROGRAM} {arguments}'"
