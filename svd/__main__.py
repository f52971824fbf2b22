"""`python -m svd COMMAND ...`: the same command line as `python run.py` and an installed `svd` (svd/cli.py)."""
from svd.cli import run

if __name__ == "__main__":
    run()
