#!/usr/bin/env python3
"""svd command line: synth, check, train, bag, eval, score, detect, detect-merge, ablate, show-augment, bench, cache
(COMMAND --help).

`python run.py COMMAND ...` is the same as the `svd COMMAND ...` of an installed
package: svd/cli/entry.py starts it, the options are parsed in svd/cli/options.py,
the work is done in svd/cli/commands.py.
"""
from svd.cli.entry import main

if __name__ == "__main__":
    main()
