"""OUT [SIDE ...]: per seed, the pooled fold errors of each side (default: the reference, OUT/ref_out,
and svd, OUT/svd_out; e.g. svd_wino_out for another svd version), with 95% intervals."""
import glob
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from svd import ablate, evaluate  # noqa: E402


def main(out, sides=("ref_out", "svd_out")):
    for side in sides:
        runs = [json.loads(pathlib.Path(p).read_text()) for p in sorted(glob.glob(f"{out}/{side}/none-seed*-*.json"))]
        print(side)
        complete = {"chosen": [], "optimal": []}
        for seed in sorted({run["seed"] for run in runs}):
            of_seed = [run for run in runs if run["seed"] == seed]
            per_fold = {run["fold"]: round(100 * evaluate.measures(**run["chosen"])["error"], 1) for run in of_seed}
            measures = {key: evaluate.measures(**ablate.pooled_counts(of_seed, key)) for key in complete}
            print(f"  seed {seed}: error at 0.5 per fold {per_fold}; pooled: error at 0.5 "
                  f"{100 * measures['chosen']['error']:.2f}%, recall {100 * measures['chosen']['recall']:.1f}%, "
                  f"specificity {100 * measures['chosen']['specificity']:.1f}%, error at the folds' optima "
                  f"{100 * measures['optimal']['error']:.2f}%")
            if len(of_seed) == 3:
                for key in complete:
                    complete[key].append(measures[key]["error"])
        for key, errors in complete.items():
            if errors:
                mean, half = ablate.mean_confidence(errors)
                spread = f" ± {100 * half:.2f}" if half is not None else ""
                print(f"  {key}: mean {100 * mean:.2f}%{spread} over {len(errors)} complete seed(s)")


if __name__ == "__main__":
    main(sys.argv[1], *([sys.argv[2:]] if len(sys.argv) > 2 else []))
