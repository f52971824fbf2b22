"""OUT [SVD_SIDE]: a threshold chosen on one song, applied to another, for every fold model.

The issue's held-out protocol picks the threshold on a validation song and tests on
other songs; svd picks it exactly (midpoints between the sorted probabilities), the
reference on the grid 0.001 ... 0.999. Here each fold model's two test songs take
both roles in turn: threshold on one, error on the other, by both searches and at
0.5. It answers whether the exact search transfers worse than the grid (the issue:
keep it only where it is shown not to hurt) and gives a threshold-transfer error of
svd and the reference on the same (seed, fold) pairs. Both models are predicted by
svd's code; SVD_SIDE is the folder of svd's runs under OUT (default svd_out).
"""
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from reference_eval import FOLDS, fold_settings, reference_model  # noqa: E402

from svd import ablate, evaluate, predict  # noqa: E402
from svd import model_file  # noqa: E402

GRID = np.arange(1, 1000) / 1000  # the reference's candidate thresholds


def grid_threshold(probabilities, truth):
    """The reference's choice: the lowest grid threshold with the fewest errors (voice if p >= t)."""
    errors = [np.sum((probabilities >= t) != truth) for t in GRID]
    return float(GRID[int(np.argmin(errors))])


def transfers(model, songs):
    """Errors (exact, grid, 0.5) and frame counts of the threshold moved from each song to the other."""
    smoothed = [np.asarray(p, np.float64) for p in predict.smoothed_probabilities(model, songs)]
    truths = [song.targets.astype(bool) for song in songs]
    rows = []
    for a, b in ((0, 1), (1, 0)):
        exact, _ = evaluate.best_threshold([smoothed[a]], [truths[a]])
        thresholds = (exact, grid_threshold(smoothed[a], truths[a]), 0.5)
        measured = [evaluate.evaluate_at([smoothed[b]], [truths[b]], t) for t in thresholds]
        rows.append([m["fp"] + m["fn"] for m in measured] + [len(truths[b])])
    return rows


def main(out, svd_side="svd_out"):
    out = pathlib.Path(out)
    _, corpus = fold_settings(out)
    totals = {"svd": np.zeros(4, np.int64), "reference": np.zeros(4, np.int64)}
    for seed in range(3):
        for fold in FOLDS:
            svd_path = out / svd_side / (ablate.run_name("none", seed, fold) + ".npz")
            ref_path = out / "ref_out" / f"s{seed}_f{fold[-1]}.pt"
            if not (svd_path.exists() and ref_path.exists()):
                continue  # only (seed, fold) pairs both sides have, so the totals compare like with like
            songs = corpus.songs(fold)
            models = {"svd": model_file.load(svd_path), "reference": reference_model(ref_path, fold, corpus)}
            for side, model in models.items():
                rows = transfers(model, songs)
                totals[side] += np.sum(rows, axis=0)
                cells = ", ".join(f"{100 * e / n:.1f} / {100 * g / n:.1f} / {100 * h / n:.1f}%" for e, g, h, n in rows)
                print(f"seed {seed} {fold} {side:<9} error (exact / grid / 0.5), each way: {cells}", flush=True)
    for side, (exact, grid, half, frames) in totals.items():
        if frames:
            print(f"{side}: pooled error with the threshold from the other song: exact {100 * exact / frames:.2f}%, "
                  f"grid {100 * grid / frames:.2f}%, at 0.5 {100 * half / frames:.2f}%")


if __name__ == "__main__":
    main(*sys.argv[1:3])
