"""The generalisation benchmark: train on one kind of recording, score on another, with intervals.

A model trained on a handful of songs is judged on recordings it has never seen and
that differ from its training songs in singer, language, style, level and recording
chain. Two real corpora, both in the Jamendo layout:

- SONGS: ../shared/data/jamendolyrics-dev, six CC-licensed pop songs (44.1 kHz mp3);
- MIR1K: the ten MIR-1K singers that ../shared/tools/make_mir1k.py builds (552 karaoke
  clips, 74 minutes, 16 kHz, so the mel bands near 8 kHz are nearly empty).

Directions (each a corpus folder of symbolic links that `corpus` makes):

    songs-to-mir1k   train on the five songs Confession, Fantasma, Séculaire, te amo and
                     Yuanan; threshold chosen on de bonne humeur; test on all 552 clips
    mir1k-to-songs   train on MIR-1K's eight train singers; threshold chosen on fdps;
                     test on the six songs and geniusturtle's clips
    songs-loo        the pop-song protocol: six folds, each training on five of the six
                     songs and testing on the sixth, so every song is a test once; no
                     validation song (five songs are few enough), so its table has AUROC
                     per song and pooled over the six, and the error at 0.5

A row is one recipe: a way to produce an svd model file from a training corpus
(`run.py train` with some options, or one of this folder's crossover instruments).
For every seed, `run` trains it (resumable: a finished model is kept, an interrupted
training continues from its checkpoint), predicts the validation and test files as
`run.py eval` does (800 ms median smoothing), and keeps each file's smoothed
probabilities and targets in ROW/s<SEED>.npz. `table` then prints, per row:

    AUROC pooled over the test frames, and the error at the threshold chosen on the
    validation file(s) and at 0.5: mean over seeds with a 95% t-interval;
    the AUROC within each test recording (frame-weighted mean), and the pooled AUROC
    of the labels themselves median-smoothed like the rows (the ceiling a detector
    that cannot resolve a breath meets);
    a 95% bootstrap interval over test clips (clips drawn with replacement, the
    seeds' probabilities averaged per frame), for the AUROC;
    AUROC per singer (MIR-1K) or per song: mean over seeds;
    the spread of the per-group optimal thresholds (the calibration a user meets);
    the seed mean: AUROC and error of the seeds' smoothed probabilities averaged per
    frame (a bag of the seeds' networks, up to where the median filter is applied);
    the AUROC on the validation file(s), for comparison with the training domain.

    python tests/accuracy/generalisation.py corpus --songs ../shared/data/jamendolyrics-dev --mir1k DIR --out EXP
    python tests/accuracy/generalisation.py run plain --out EXP --seeds 1,2,3     # in the background
    python tests/accuracy/generalisation.py run plain --out EXP --directions songs-loo  # 6 trainings a seed
    python tests/accuracy/generalisation.py table --out EXP [--json FILE]

An instrument, not a test: pytest does not collect it, and the data is never committed.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from svd import ablate, dataset, evaluate, model_file, predict  # noqa: E402
from svd.bench import PYTORCH_MALLOC  # noqa: E402

UPDATES = 3000
VALID_SONG = "de_bonne_humeur_-_Le_Nez_Tordu"
DIRECTIONS = ("songs-to-mir1k", "mir1k-to-songs")
LOO = "songs-loo"  # the leave-one-song-out protocol: LOO/fold<k>, k = 1..6

# Recipes: the options of `run.py train` that define a row.
SVD_ROWS = {
    "plain": [],
    "zero-mean": ["--zero-mean"],
    "per-recording": ["--per-recording"],
    "per-recording+augment": ["--per-recording", "--augment"],
    "per-recording+pitch": ["--per-recording", "--pitch-shift", "0.3"],
    "pcen": ["--pcen"],
    "augment": ["--augment"],
    "zero-mean+augment": ["--zero-mean", "--augment"],
    "loudness": ["--loudness-db", "10"],
    "ismir2016": ["--arch", "ismir2016"],
    "ismir2016+per-recording": ["--arch", "ismir2016", "--per-recording"],
    "ismir2016+augment": ["--arch", "ismir2016", "--augment"],
}
# Crossover rows (tests/accuracy/README.md): they need PyTorch (and librosa for the reference's pipeline).
CROSSOVER_ROWS = ("instrument1", "instrument2", "reference")


def build_corpora(songs_dir, mir1k_dir, out):
    """Write OUT/<direction>/{audio,labels,filelists} for both directions, as links to the two corpora."""
    songs = [line.strip() for split in ("train", "valid", "test")
             for line in (songs_dir / "filelists" / split).read_text(encoding="utf-8").splitlines() if line.strip()]
    mir1k = {split: (mir1k_dir / "filelists" / split).read_text(encoding="utf-8").split()
             for split in ("train", "valid", "test")}
    valid_song = [name for name in songs if pathlib.Path(name).stem == VALID_SONG]
    lists = {"songs-to-mir1k": {"train": [n for n in songs if n not in valid_song], "valid": valid_song,
                                "test": mir1k["train"] + mir1k["valid"] + mir1k["test"]},
             "mir1k-to-songs": {"train": mir1k["train"], "valid": mir1k["valid"], "test": songs + mir1k["test"]}}
    for direction, splits in lists.items():
        root = out / direction
        link_corpus(root, (songs_dir, mir1k_dir), splits)
        print(f"{root}: train {len(splits['train'])}, valid {len(splits['valid'])}, test {len(splits['test'])} files")
    for k, held_out in enumerate(songs, start=1):
        root = out / LOO / f"fold{k}"
        link_corpus(root, (songs_dir,), {"train": [n for n in songs if n != held_out], "test": [held_out]})
        print(f"{root}: train 5 songs, test {held_out}")


def link_corpus(root, sources, splits):
    """A Jamendo-layout corpus at `root` of links to every audio and label file of `sources` (corpus
    folders), with the filelists `splits` ({split: [audio file names]}). Made again, it changes nothing."""
    for folder in ("audio", "labels", "filelists"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for source in sources:
        for folder in ("audio", "labels"):
            for path in (source / folder).iterdir():
                link = root / folder / path.name
                if not link.is_symlink():
                    link.symlink_to(path.resolve())
    for split, names in splits.items():
        (root / "filelists" / split).write_text("".join(n + "\n" for n in names), encoding="utf-8")


def train_command(row, data, seed, model, updates, reference):
    """The command that trains `row` on `data` into `model` (resuming where a checkpoint is); `reference` is
    the path of torch_reference.py, which the crossover instruments import."""
    if row in SVD_ROWS:
        return [sys.executable, str(ROOT / "run.py"), "train", "--data", str(data), "--updates", str(updates),
                "--seed", str(seed), "--out", str(model), "--resume", *SVD_ROWS[row]]
    if row == "instrument1":
        return [sys.executable, str(HERE / "svd_data_torch_engine.py"), "--data", str(data), "--updates",
                str(updates), "--seed", str(seed), "--out", str(model), "--reference", str(reference)]
    if row == "instrument2":
        return [sys.executable, str(HERE / "reference_data_svd_engine.py"), "--data", str(data), "--updates",
                str(updates), "--seed", str(seed), "--out", str(model), "--reference", str(reference)]
    raise ValueError(row)


def train_row(row, data, seed, model, updates, log, reference):
    """Produce the model file of one (row, seed); the reference is trained and then converted.

    PyTorch runs with glibc keeping the memory it frees (PYTORCH_MALLOC): otherwise it spends half its time in
    page faults here, at a third of the speed (0.93 against 3.07 updates/s on 2 cores)."""
    env = {**os.environ, **PYTORCH_MALLOC} if row in ("reference", "instrument1") else None  # the PyTorch engines
    if row == "reference":
        pt = model.with_suffix(".pt")
        if not pt.exists():
            subprocess.run([sys.executable, str(reference),
                            "--data", str(data), "--updates", str(updates), "--seed", str(seed),
                            "--save", str(pt), "--out", str(model.with_suffix(".json"))],
                           stdout=log, stderr=subprocess.STDOUT, check=True, env=env)
        subprocess.run([sys.executable, str(HERE / "reference_to_svd.py"), str(pt), str(data), str(model)],
                       stdout=log, stderr=subprocess.STDOUT, check=True)
        return
    subprocess.run(train_command(row, data, seed, model, updates, reference), stdout=log, stderr=subprocess.STDOUT,
                   check=True, env=env)


def predictions(model_path, data):
    """{split: {"names", "smoothed", "targets"}} for the valid (if listed) and test files of `data`."""
    model = model_file.load(model_path)
    result = {}
    for split in [s for s in ("valid", "test") if (data / "filelists" / s).is_file()]:
        songs = dataset.load_split(data, split, quiet=True)
        result[split] = {"names": [song.name for song in songs],
                         "smoothed": predict.smoothed_probabilities(model, songs),
                         "targets": [np.asarray(song.targets, np.uint8) for song in songs]}
    return result


def save_predictions(path, found):
    """ROW/s<SEED>.npz: per split the names, the frame counts and the concatenated probabilities and targets."""
    arrays = {}
    for split, part in found.items():
        arrays[f"{split}/names"] = np.array(part["names"])
        arrays[f"{split}/frames"] = np.array([len(t) for t in part["targets"]])
        arrays[f"{split}/smoothed"] = np.concatenate(part["smoothed"]).astype(np.float32)
        arrays[f"{split}/targets"] = np.concatenate(part["targets"])
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)


def load_predictions(path):
    """The inverse of save_predictions: {split: {"names", "smoothed" (list), "targets" (list)}}."""
    with np.load(path) as stored:
        found = {}
        for split in [s for s in ("valid", "test") if f"{s}/frames" in stored.files]:
            bounds = np.cumsum(stored[f"{split}/frames"])[:-1]
            found[split] = {"names": [str(n) for n in stored[f"{split}/names"]],
                            "smoothed": np.split(stored[f"{split}/smoothed"], bounds),
                            "targets": np.split(stored[f"{split}/targets"], bounds)}
    return found


def corpora(out, direction):
    """[(corpus folder, its rows folder under out/rows)] of a direction: one, or the six folds of LOO."""
    if direction != LOO:
        return [(out / direction, pathlib.Path(direction))]
    return [(fold, pathlib.Path(LOO) / fold.name) for fold in sorted((out / LOO).glob("fold*"))]


def cmd_run(args):
    for direction in args.directions.split(","):
        for data, rows in corpora(args.out, direction):
            run_seeds(args, data, args.out / "rows" / rows / args.row)


def run_seeds(args, data, folder):
    """Train and score args.row on the corpus `data` for every seed, into `folder`."""
    for seed in (int(s) for s in args.seeds.split(",")):
        folder.mkdir(parents=True, exist_ok=True)
        scored = folder / f"s{seed}.npz"
        if scored.exists():
            print(f"{scored}: done")
            continue
        model = folder / f"s{seed}.model.npz"
        with open(folder / f"s{seed}.log", "a") as log:
            if not model.exists():
                print(f"training {data.name} {args.row} seed {seed} (log: {log.name})", flush=True)
                train_row(args.row, data, seed, model, args.updates, log, args.reference)
        save_predictions(scored, predictions(model, data))
        print(f"{scored}: written", flush=True)


def group_of(name):
    """The singer of a MIR-1K clip (abjones_1_01 -> abjones), or the song itself."""
    stem = pathlib.Path(name).stem
    parts = stem.split("_")
    return parts[0] if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else stem


def seed_measures(found):
    """Pooled and per-group measures of one seed's predictions."""
    valid, test = found["valid"], found["test"]
    threshold, _ = evaluate.best_threshold(valid["smoothed"], valid["targets"])
    groups = {}
    for k, name in enumerate(test["names"]):
        groups.setdefault(group_of(name), []).append(k)
    per_group = {}
    for group, members in groups.items():
        smoothed = [test["smoothed"][k] for k in members]
        targets = [test["targets"][k] for k in members]
        optimum, _ = evaluate.best_threshold(smoothed, targets)
        per_group[group] = {"auroc": evaluate.auroc(smoothed, targets),
                            "error_at_valid": evaluate.evaluate_at(smoothed, targets, threshold)["error"],
                            "optimal_threshold": optimum}
    return {"valid_threshold": threshold,
            "auroc": evaluate.auroc(test["smoothed"], test["targets"]),
            "within_auroc": within_recording_auroc(test["smoothed"], test["targets"]),
            "error_at_valid": evaluate.evaluate_at(test["smoothed"], test["targets"], threshold)["error"],
            "error_at_0.5": evaluate.evaluate_at(test["smoothed"], test["targets"], 0.5)["error"],
            "valid_auroc": evaluate.auroc(valid["smoothed"], valid["targets"]),
            "groups": per_group}


def within_recording_auroc(smoothed, targets):
    """The AUROC inside each recording, averaged with frame weights over those with both classes.

    Beside the pooled AUROC it separates the two ways a model fails on other recordings:
    ranking the frames of one recording wrongly (both fall), or putting recordings at
    different probability levels (only the pooled one falls).
    """
    pairs = [(p, t) for p, t in zip(smoothed, targets) if 0 < np.mean(t) < 1]
    return float(np.average([evaluate.auroc([p], [t]) for p, t in pairs], weights=[len(t) for _, t in pairs]))


def smoothed_truth_auroc(targets):
    """The pooled AUROC of a perfect detector smoothed as the rows are (800 ms median): the labels' own ceiling.

    A detector that sees 1.6 s excerpts and is median-smoothed cannot mark a 100 ms breath;
    where the labels do (MIR-1K's every 20 ms), this is below 1.
    """
    return evaluate.auroc([evaluate.median_smooth(np.asarray(t, np.float32)) for t in targets], targets)


BINS = 2000  # probability histogram resolution of the bootstrap's AUROC (ties within 1/2000 count half)


def bootstrap_auroc(runs, draws=1000, seed=0):
    """95% bootstrap interval of the pooled test AUROC over clips, the seeds' probabilities averaged per frame.

    Each clip becomes two histograms (voice and no-voice frames over BINS probability
    bins); a draw sums the histograms of clips drawn with replacement and reads the
    AUROC off the sums (Mann-Whitney with ties inside a bin counting half).
    """
    test = [run["test"] for run in runs]
    mean_p = [np.mean([t["smoothed"][k] for t in test], axis=0) for k in range(len(test[0]["names"]))]
    voice = np.zeros((len(mean_p), BINS))
    other = np.zeros((len(mean_p), BINS))
    for k, (p, truth) in enumerate(zip(mean_p, test[0]["targets"])):
        bins = np.minimum((p * BINS).astype(int), BINS - 1)
        voice[k] = np.bincount(bins[truth == 1], minlength=BINS)
        other[k] = np.bincount(bins[truth == 0], minlength=BINS)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(mean_p), np.full(len(mean_p), 1 / len(mean_p)), size=draws)  # (draws, clips)
    pos, neg = counts @ voice, counts @ other                                                 # (draws, BINS)
    below = np.cumsum(neg, axis=1) - neg                         # no-voice frames in lower bins
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    values = wins / (pos.sum(axis=1) * neg.sum(axis=1))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def row_summary(runs):
    """The table cells of one row from its seeds' predictions."""
    per_seed = [seed_measures(run) for run in runs]
    cells = {}
    for key in ("auroc", "within_auroc", "error_at_valid", "error_at_0.5", "valid_threshold", "valid_auroc"):
        mean, half = ablate.mean_confidence([m[key] for m in per_seed])
        cells[key] = {"mean": mean, "half": half, "values": [m[key] for m in per_seed]}
    cells["bootstrap_auroc"] = bootstrap_auroc(runs)
    mean_run = {split: {"names": runs[0][split]["names"], "targets": runs[0][split]["targets"],
                        "smoothed": [np.mean([run[split]["smoothed"][k] for run in runs], axis=0)
                                     for k in range(len(runs[0][split]["names"]))]}
                for split in ("valid", "test")}
    seed_mean = seed_measures(mean_run)  # bagging the seeds (of smoothed, not raw, probabilities)
    cells["seed_mean"] = {key: seed_mean[key] for key in ("auroc", "error_at_valid", "error_at_0.5")}
    groups = per_seed[0]["groups"].keys()
    cells["groups"] = {g: {"auroc": float(np.mean([m["groups"][g]["auroc"] for m in per_seed])),
                           "error_at_valid": float(np.mean([m["groups"][g]["error_at_valid"] for m in per_seed]))}
                       for g in groups}
    optima = [[m["groups"][g]["optimal_threshold"] for g in groups] for m in per_seed]
    cells["optimal_threshold_range"] = [float(np.mean([min(o) for o in optima])),
                                        float(np.mean([max(o) for o in optima]))]
    cells["seeds"] = len(runs)
    return cells


def _interval(cell, scale=1.0, digits=3):
    if cell["half"] is None:
        return f"{scale * cell['mean']:.{digits}f}"
    return f"{scale * cell['mean']:.{digits}f} ± {scale * cell['half']:.{digits}f}"


def cmd_table(args):
    report = {}
    for direction in DIRECTIONS:
        folder = args.out / "rows" / direction
        if not folder.is_dir():
            continue
        print(f"\n{direction}: AUROC and errors on the test files, mean ± 95% t-interval over seeds; "
              "bootstrap: 95% interval over clips of the seed-mean AUROC")
        print(f"{'row':<20} {'seeds':>5} {'AUROC':>15} {'bootstrap':>13} {'err @valid thr %':>17} "
              f"{'err @0.5 %':>14} {'valid thr':>15} {'group optima':>13}  seed mean: AUROC, err @valid  "
              "valid AUROC  within-recording AUROC")
        report[direction] = {}
        for row_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            files = sorted(row_dir.glob("s*[0-9].npz"))
            if not files:
                continue
            cells = row_summary([load_predictions(f) for f in files])
            report[direction][row_dir.name] = cells
            low, high = cells["bootstrap_auroc"]
            print(f"{row_dir.name:<20} {cells['seeds']:>5} {_interval(cells['auroc']):>15} "
                  f"{low:.3f}-{high:.3f}  {_interval(cells['error_at_valid'], 100, 1):>17} "
                  f"{_interval(cells['error_at_0.5'], 100, 1):>14} {_interval(cells['valid_threshold'], 1, 2):>15} "
                  f"{cells['optimal_threshold_range'][0]:.2f}-{cells['optimal_threshold_range'][1]:.2f}  "
                  f"{cells['seed_mean']['auroc']:.3f} {100 * cells['seed_mean']['error_at_valid']:.1f}  "
                  f"{_interval(cells['valid_auroc'])}  {_interval(cells['within_auroc'])}")
        if report[direction]:
            first = load_predictions(next(folder.glob("*/s*[0-9].npz")))["test"]["targets"]
            print(f"  a perfect detector smoothed like the rows (the labels' ceiling): AUROC "
                  f"{smoothed_truth_auroc(first):.3f}")
            names = sorted(next(iter(report[direction].values()))["groups"])
            print("  AUROC per group (mean over seeds): " + ", ".join(names))
            for row, cells in report[direction].items():
                values = " ".join(f"{cells['groups'][g]['auroc']:.3f}" if g in cells["groups"] else "  -  "
                                  for g in names)
                print(f"  {row:<20} {values}")
    if (args.out / "rows" / LOO).is_dir():
        report[LOO] = loo_table(args.out / "rows" / LOO)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")


def loo_table(folder):
    """Print and return the pop-song protocol's table: per row, the seeds whose six folds are all scored;
    per seed the six test songs' predictions pooled (each from the model that never saw it)."""
    print(f"\n{LOO}: every song a test once (trained on the other five); mean ± 95% t-interval over seeds")
    report = {}
    for row in sorted({path.name for path in folder.glob("fold*/*") if path.is_dir()}):
        seeds = sorted({path.stem for path in folder.glob(f"fold*/{row}/s*[0-9].npz")})
        folds = sorted(folder.glob("fold*"))
        runs = []
        for seed in seeds:
            parts = [fold / row / f"{seed}.npz" for fold in folds]
            if all(part.exists() for part in parts):
                tests = [load_predictions(part)["test"] for part in parts]
                runs.append({key: [value for t in tests for value in t[key]]
                             for key in ("names", "smoothed", "targets")})
        if not runs:
            continue
        measures = {"auroc": [evaluate.auroc(r["smoothed"], r["targets"]) for r in runs],
                    "error_at_0.5": [evaluate.evaluate_at(r["smoothed"], r["targets"], 0.5)["error"] for r in runs]}
        per_song = {group_of(name): float(np.mean([evaluate.auroc([r["smoothed"][k]], [r["targets"][k]])
                                                   for r in runs]))
                    for k, name in enumerate(runs[0]["names"])}
        cells = {key: dict(zip(("mean", "half"), ablate.mean_confidence(values)), values=values)
                 for key, values in measures.items()}
        cells.update(seeds=len(runs), songs=per_song)
        report[row] = cells
        print(f"{row:<20} {len(runs):>2} seeds  pooled AUROC {_interval(cells['auroc'])}  error at 0.5 "
              f"{_interval(cells['error_at_0.5'], 100, 1)}%  per song: "
              + ", ".join(f"{song[:12]} {value:.3f}" for song, value in per_song.items()))
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("corpus", help="make the direction corpora and the six folds of songs-loo (links) under --out")
    p.add_argument("--songs", type=pathlib.Path, required=True, help="jamendolyrics-dev folder")
    p.add_argument("--mir1k", type=pathlib.Path, required=True, help="folder written by make_mir1k.py")
    p.add_argument("--out", type=pathlib.Path, required=True)
    p = sub.add_parser("run", help="train and predict one row for some seeds (resumable)")
    p.add_argument("row", choices=[*SVD_ROWS, *CROSSOVER_ROWS])
    p.add_argument("--out", type=pathlib.Path, required=True)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--directions", default="songs-to-mir1k", help=f"comma list of {', '.join((*DIRECTIONS, LOO))}")
    p.add_argument("--updates", type=int, default=UPDATES)
    p.add_argument("--reference", type=pathlib.Path, default=ROOT.parent / "shared" / "tools" / "torch_reference.py",
                   help="torch_reference.py, for the crossover rows (default: ../shared/tools/ beside the project)")
    p = sub.add_parser("table", help="print the benchmark table of every row run so far")
    p.add_argument("--out", type=pathlib.Path, required=True)
    p.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.command == "corpus":
        build_corpora(args.songs, args.mir1k, args.out)
    elif args.command == "run":
        cmd_run(args)
    else:
        cmd_table(args)


if __name__ == "__main__":
    main()
