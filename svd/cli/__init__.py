"""The program around the paper: the command line, what it prints and writes, and its pictures.

    entry.py     the entry point of `svd`, `python run.py` and `python -m svd`: signals first
    options.py   the options of every command, and `main`, which runs one
    commands.py  what each command does with its options, built from the concepts of svd/
    report.py    what `eval` and `score` print and write: Table 1, the per-song table, JSON
    score.py     `score`: any system's segment files counted as `eval` counts
    plot.py      the pictures: `detect --plot`, Figure 1 (`show-augment`), Figure 2 (`ablate --plot`)

None of it is imported by the concepts at the top of svd/ (tests/test_layout.py
checks it); this file imports nothing, so that the entry point installs its
signal handlers before anything slow loads.
"""
