"""Are two model files the same network, bit for bit? (tests/gpu/run.sh's reproducibility step)

    python3 tests/gpu/same_model.py A.npz B.npz

Compares every parameter array and the normalisation statistics exactly
(array_equal: same shapes, same float32 bits up to NaN == NaN never arising
here). The README promises that a seed reproduces a run; on a GPU that holds
only if every kernel and cuBLAS call is deterministic, which this checks on two
runs of the same command. Prints the arrays that differ and by how much;
exit code 0 when none does, 1 otherwise.
"""
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from svd import model_file  # noqa: E402


def differences(first, second):
    """[(name, max |a - b|)] of the arrays of two Models that are not bit-identical."""
    pairs = [(f"param/{name}", value, second.params.get(name)) for name, value in first.params.items()]
    pairs += [("mean", first.mean, second.mean), ("std", first.std, second.std)]
    found = []
    for name, a, b in pairs:
        if b is None or a.shape != b.shape:
            found.append((name, float("inf")))
        elif not np.array_equal(a, b):
            found.append((name, float(np.abs(a.astype(np.float64) - b).max())))
    return found


def main(argv):
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1])
        return 2
    first, second = (model_file.load(path) for path in argv)
    found = differences(first, second)
    for name, gap in found:
        print(f"{name}: differs, largest difference {gap:.3g}")
    print(f"{len(first.params) + 2 - len(found)} of {len(first.params) + 2} arrays bit-identical")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
