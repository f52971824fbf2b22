"""Score svd model files on one split of a corpus, per song and pooled, with AUROC beside the errors.

    python tests/accuracy/score.py --data DIR --split valid [--json FILE] MODEL.npz [MODEL.npz ...]

Every model (svd's own, or one written by a crossover instrument of this folder)
is predicted by svd's code exactly as `run.py eval` predicts (800 ms median
smoothing). For each song and for the split pooled over songs it prints:
AUROC of the smoothed probabilities (threshold-free separation of voice from
no-voice frames), the error at 0.5, at the model's stored threshold (if `eval`
stored one), and at the split's own optimal threshold, and the mean smoothed
p(voice) on voice and on no-voice frames. `--json` writes one record per model.
The last line summarises the models: mean and 95% t-interval of the pooled
AUROC and errors, one float32 run being one random draw.
"""
import argparse
import json
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from svd import ablate, dataset, evaluate, predict  # noqa: E402
from svd import model_file  # noqa: E402


def song_row(smoothed, targets, stored_threshold):
    """Measures of one song or of a pooled split (lists of per-song arrays)."""
    voice = np.concatenate(targets).astype(bool)
    p = np.concatenate(smoothed)
    optimal, _ = evaluate.best_threshold(smoothed, targets)
    row = {"auroc": evaluate.auroc(smoothed, targets),
           "error_at_0.5": evaluate.evaluate_at(smoothed, targets, 0.5)["error"],
           "error_at_optimum": evaluate.evaluate_at(smoothed, targets, optimal)["error"],
           "optimal_threshold": optimal,
           "p_voice_on_voice": float(p[voice].mean()) if voice.any() else math.nan,
           "p_voice_on_no_voice": float(p[~voice].mean()) if (~voice).any() else math.nan}
    if math.isfinite(stored_threshold):
        row["error_at_stored"] = evaluate.evaluate_at(smoothed, targets, stored_threshold)["error"]
    return row


def score(path, songs):
    """{"model", "stored_threshold", "songs": {name: row}, "pooled": row} for one model file."""
    model = model_file.load(path)
    smoothed = predict.smoothed_probabilities(model, songs)
    targets = [song.targets for song in songs]
    return {"model": str(path), "stored_threshold": model.threshold,
            "engine": model.config.get("engine", "svd"),
            "songs": {song.name: song_row([p], [t], model.threshold) for song, p, t in zip(songs, smoothed, targets)},
            "pooled": song_row(smoothed, targets, model.threshold)}


def _format(name, row):
    stored = f"{100 * row['error_at_stored']:6.2f}%" if "error_at_stored" in row else "     - "
    return (f"  {name[:28]:<28} AUROC {row['auroc']:.3f}  error @0.5 {100 * row['error_at_0.5']:6.2f}%  "
            f"@stored {stored}  @opt {100 * row['error_at_optimum']:6.2f}% (thr {row['optimal_threshold']:.3f})  "
            f"p|voice {row['p_voice_on_voice']:.2f}  p|no voice {row['p_voice_on_no_voice']:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="MODEL")
    parser.add_argument("--data", required=True, metavar="DIR", help="corpus in the Jamendo layout")
    parser.add_argument("--split", default="test", help="filelist to score on (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="write one JSON record per model here")
    args = parser.parse_args(argv)
    songs = dataset.load_split(args.data, args.split, quiet=True)
    records = []
    for path in args.models:
        record = score(path, songs)
        records.append(record)
        print(f"{path} ({record['engine']})")
        for name, row in record["songs"].items():
            print(_format(name, row))
        print(_format("pooled", record["pooled"]), flush=True)
    if len(records) > 1:
        cells = []
        for key, scale in (("auroc", 1), ("error_at_0.5", 100), ("error_at_stored", 100), ("error_at_optimum", 100)):
            values = [r["pooled"][key] for r in records if key in r["pooled"]]
            if len(values) == len(records):
                mean, half = ablate.mean_confidence(values)
                cells.append(f"{key} {scale * mean:.3f} ± {scale * half:.3f}")
        print(f"{len(records)} models, mean ± 95% half-interval: " + ", ".join(cells))
    if args.json:
        pathlib.Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


if __name__ == "__main__":
    main()
