#!/usr/bin/env python3
"""svd command line: synth, check, train, eval, detect, detect-merge, ablate, show-augment, bench (COMMAND --help).

`python run.py COMMAND ...` is the same as the `svd COMMAND ...` of an installed
package: the options are parsed in svd/cli.py, the work is done in svd/commands.py.
"""
from svd.cli import run

if __name__ == "__main__":
    run()
