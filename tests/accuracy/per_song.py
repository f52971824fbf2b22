"""OUT: per test song of each fold and seed, the mean smoothed p(voice) on no-voice and on voice
frames and the error at 0.5, for svd's model (OUT/svd_out) and the reference's (OUT/ref_out),
both predicted by svd's code. Shows whether an over- or under-calling of voice is svd's own
or shared by the independent implementation (BENCHMARKS.md, "Song-level folds")."""
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from reference_eval import FOLDS, fold_settings, reference_model  # noqa: E402

from svd import ablate, predict  # noqa: E402
from svd import model_file  # noqa: E402


def main(out):
    out = pathlib.Path(out)
    _, corpus = fold_settings(out)
    for seed in range(3):
        for fold in FOLDS:
            models = {}
            svd_path = out / "svd_out" / (ablate.run_name("none", seed, fold) + ".npz")
            ref_path = out / "ref_out" / f"s{seed}_f{fold[-1]}.pt"
            if svd_path.exists():
                models["svd"] = model_file.load(svd_path)
            if ref_path.exists():
                models["reference"] = reference_model(ref_path, fold, corpus)
            songs = corpus.songs(fold)
            for side, model in models.items():
                cells = []
                for song, p in zip(songs, predict.smoothed_probabilities(model, songs)):
                    voice = song.targets.astype(bool)
                    cells.append(f"{song.name[:12]}: p|no voice {p[~voice].mean():.2f}, p|voice "
                                 f"{p[voice].mean():.2f}, error {np.mean((p >= 0.5) != voice):.3f}")
                print(f"seed {seed} {fold} {side:<9} " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
