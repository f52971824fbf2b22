"""`python -m svd COMMAND ...`: the same command line as `python run.py` and an installed `svd` (svd/cli/options.py)."""
from svd.cli.entry import main

if __name__ == "__main__":
    main()
