"""The paper's ablation (Sec. 5.3-5.4, Figure 2, Tables 1-2): each augmentation setting, several seeds.

A *configuration* is one row of Figure 2: how the network is trained (an
augmentation, or none) and whether it predicts with test-time augmentation
(TTA: raw probabilities averaged over pitch factors 1.0, 0.8, 0.9, 1.1, 1.2,
Sec. 5.4). A `+tta` configuration reuses the model of its base configuration;
it is evaluated, never trained.

Every (configuration, seed[, fold]) is a *run*. A finished run is written to
`<out_dir>/<config>-seed<k>[-fold<f>].json` (atomically) with its confusion
counts, so an interrupted ablation resumes where it stopped:

- a run whose result file exists is read back, not redone (its stored
  settings must equal the current ones, else InputError: no silent mixing);
- a model file `<base>-seed<k>[-fold<f>].npz` whose result file is missing is
  re-evaluated if it was trained with the current settings, else retrained;
- an interrupted training continues from its checkpoint (svd/train.py).

Many jobs, one folder (`--shard I/N`, svd/jobs/shards.py): the unit of work is a
*model* (a trained configuration, seed[, fold]) with the runs that use it (the
configuration and its `+tta`). Units are dealt out in turn, unit k (seeds
outermost) to shard k mod N. While a job works on a unit it holds the lock file
`<unit>.lock` (svd/util/locks.py, naming host and process); a job finding a live lock
leaves that unit to its holder, and a stale one (its job died) is taken over.
Result files are checked again once the lock is held, so a finished run is
never redone. Every job then reports all the runs finished in the folder, from
any shard, and names the missing ones (`collect`).

Two protocols:

- train/valid/test (Jamendo, Sec. 5.5): train on `train`, pick the threshold
  with the lowest error on `valid`, count on `test`.
- k-fold (RWC, Sec. 5.5): for each fold, train on the other folds' songs and
  count on the fold at the fixed threshold `fold_threshold` (the paper uses a
  threshold fixed in advance for RWC; we default to 0.5, the midpoint of the
  0.02/0.98 targets). Counts are pooled over the folds of a seed before any
  measure is computed.

In both, the Figure 2 measure is the test error at the optimal threshold
(Sec. 5.3). In k-fold mode that is each fold's own optimal threshold, counts
pooled: slightly optimistic compared with one threshold for all folds, which
would need every fold's predictions at once.

Across seeds, Figure 2 gives the mean and its 95% confidence interval
(Student's t, n - 1 degrees of freedom); Tables 1-2 give error, recall and
specificity at the chosen (or fixed) threshold, averaged over seeds.
"""
import dataclasses
import json
import math
import pathlib
import re
import sys

import numpy as np
import scipy.stats

from svd import augment, dataset, evaluate, hyperparameters, model_file, predict, train
from svd.device import CPU
from svd.util import locks, provenance
from svd.util.atomic import write_text_atomic
from svd.util.errors import InputError

# Each method alone at one strength (Sec. 4). Figure 1's examples for dropout (20%) and
# noise (σ 0.2); the strengths Sec. 5.3 keeps for pitch, stretch (±30%) and filter (±10 dB);
# ±10 dB for loudness, like the filter. Mixing: our choice of q = 0.5, the middle of its range.
SINGLE_METHODS = (  # (configuration name, svd.augment.Augmentation field, strength)
    ("dropout", "input_dropout", 0.2),
    ("noise", "noise_sigma", 0.2),
    ("pitch", "pitch_shift", 0.3),
    ("stretch", "time_stretch", 0.3),
    ("loudness", "loudness_db", 10.0),
    ("filter", "filter_db", 10.0),
    ("mix", "mix_prob", 0.5),
)
TTA_SUFFIX = "+tta"
# Table 1 rows: configuration -> the paper's row label.
TABLE_ROWS = (("none", "w/o augmentation"), ("combined", "train augmentation"),
              ("none+tta", "test augmentation"), ("combined+tta", "train/test augmentation"))
COUNT_KEYS = ("tp", "fp", "tn", "fn")


@dataclasses.dataclass
class Config:
    """One row of Figure 2. augmentation: svd.augment.Augmentation fields; tta: predict with TTA."""
    name: str
    augmentation: dict
    tta: bool = False

    @property
    def trained_as(self):
        """The configuration whose model this one uses (itself, or its base for +tta)."""
        return self.name[:-len(TTA_SUFFIX)] if self.tta else self.name

    @property
    def pitch_factors(self):
        return augment.TEST_TIME_PITCH_FACTORS if self.tta else (1.0,)


def _config_table():
    """All configurations in the order of the paper's Figure 2 (base, single methods, combined, TTA)."""
    combined = {field: value for field, value in dataclasses.asdict(augment.PAPER_COMBINATION).items() if value}
    table = [Config("none", {})]
    table += [Config(name, {field: strength}) for name, field, strength in SINGLE_METHODS]
    table += [Config("combined", combined), Config("none" + TTA_SUFFIX, {}, tta=True),
              Config("combined" + TTA_SUFFIX, combined, tta=True)]
    return {config.name: config for config in table}


CONFIGS = _config_table()


def check_length(updates, trainings, summarise_only, quiet):
    """The updates per training (the paper's when None); says how long the ablation takes, and refuses a
    run of more than a day that --updates did not ask for (InputError)."""
    asked = updates is not None
    updates = updates if asked else hyperparameters.TrainConfig().updates
    total = trainings * updates
    if not asked and not summarise_only and total / train.ESTIMATE_UPDATES_PER_S > 24 * 3600:
        raise InputError(f"ablate: {trainings} trainings of the paper's {updates} updates take "
                         f"{train.duration_text(total)} on a 2-core CPU; pass --updates {updates} to run them "
                         f"anyway, or fewer (--updates 3000: {train.duration_text(trainings * 3000)}), or fewer "
                         "--configs, --n-seeds or --folds.")
    if not quiet and not summarise_only:
        print(f"ablate: {trainings} trainings of {updates} updates, {train.duration_text(total)} on a 2-core CPU "
              "(finished runs are kept: a stopped ablation continues where it was)", file=sys.stderr)
    return updates


def select_configs(text):
    """Configurations named in a comma-separated list (None or empty: all), in Figure 2 order."""
    if not text or not text.strip():
        return list(CONFIGS.values())
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in CONFIGS:
            raise InputError(f"--configs: unknown configuration {name!r}; choose from {', '.join(CONFIGS)}.")
    return [config for name, config in CONFIGS.items() if name in names]


def parse_folds(text):
    """Fold filelist names from 'fold1,fold2,...' (None: no k-fold); at least two, no repeats."""
    if text is None:
        return []
    folds = [name.strip() for name in text.split(",") if name.strip()]
    if len(folds) < 2 or len(set(folds)) != len(folds):
        raise InputError(f"--folds {text}: need at least two different filelist names, comma-separated "
                         "(e.g. fold1,fold2,fold3,fold4,fold5).")
    return folds


@dataclasses.dataclass
class Settings:
    """What every run of one ablation shares; stored in each result file so a resume never mixes settings.

    folds: filelist names for k-fold mode, [] for the train/valid/test protocol.
    """
    data: str
    updates: int
    batch: int
    train_split: str = "train"
    valid_split: str = "valid"
    test_split: str = "test"
    folds: list = dataclasses.field(default_factory=list)
    fold_threshold: float = 0.5

    def as_dict(self):
        """The settings as a plain dict; only those that matter for the chosen protocol."""
        shared = {"data": self.data, "updates": self.updates, "batch": self.batch}
        if self.folds:
            return {**shared, "folds": list(self.folds), "fold_threshold": self.fold_threshold}
        return {**shared, "train_split": self.train_split, "valid_split": self.valid_split,
                "test_split": self.test_split}


# ------------------------------------------------------------------ statistics

def mean_confidence(values, level=0.95):
    """Mean and half-width of its confidence interval (Student's t), or (mean, None) for one value.

    values: (n,) numbers. half = t_{(1+level)/2, n-1} · s / sqrt(n), s the sample
    standard deviation (ddof = 1): the interval of Figure 2's whiskers.
    """
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None
    spread = float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, float(scipy.stats.t.ppf((1 + level) / 2, len(values) - 1)) * spread


def pooled_counts(runs, key):
    """Sum the confusion counts runs[i][key] ({tp, fp, tn, fn}) over runs (the folds of one seed)."""
    return {name: sum(int(run[key][name]) for run in runs) for name in COUNT_KEYS}


def summarise(results, configs):
    """Per configuration, the Figure 2 interval and the Table 1 measures.

    results: run dicts (see `_evaluate_run`); configs: the Config list, in order.
    Returns a list of dicts: name, augmentation, tta, seeds, optimal_errors
    (per seed), error_mean, error_half_width (None with one seed), chosen
    (error, recall, specificity, precision, f1 averaged over seeds), runs.
    """
    summary = []
    for config in configs:
        runs = [run for run in results if run["config"] == config.name]
        seeds = sorted({run["seed"] for run in runs})
        optimal, chosen = [], []
        for seed in seeds:
            of_seed = [run for run in runs if run["seed"] == seed]  # one per fold
            optimal.append(evaluate.measures(**pooled_counts(of_seed, "optimal"))["error"])
            chosen.append(evaluate.measures(**pooled_counts(of_seed, "chosen")))
        mean, half = mean_confidence(optimal) if seeds else (math.nan, None)
        averaged = {m: float(np.mean([c[m] for c in chosen])) if chosen else math.nan
                    for m in ("error", "recall", "specificity", "precision", "f1")}
        summary.append({"name": config.name, "augmentation": config.augmentation, "tta": config.tta,
                        "seeds": seeds, "optimal_errors": optimal, "error_mean": mean,
                        "error_half_width": half, "chosen": averaged, "runs": runs})
    return summary


def describe(augmentation, tta):
    """A short human description of a configuration, e.g. 'pitch ±30%, filter ±10 dB, TTA'."""
    words = {"input_dropout": "dropout {:.0%}", "noise_sigma": "noise σ {:g}", "pitch_shift": "pitch ±{:.0%}",
             "time_stretch": "stretch ±{:.0%}", "loudness_db": "loudness ±{:g} dB",
             "filter_db": "filter ±{:g} dB", "mix_prob": "mix q {:g}"}
    parts = [words[field].format(value) for field, value in augmentation.items()] + (["TTA"] if tta else [])
    return ", ".join(parts) or "-"


def format_report(summary, settings):
    """Figure 2 as a table (optimal-threshold error with 95% interval), then Table 1 (chosen threshold)."""
    seeds = max((len(row["seeds"]) for row in summary), default=0)
    lines = [f"Figure 2: test error at the optimal threshold, mean over {seeds} seed(s)"
             + (" with 95% confidence interval" if seeds > 1 else ""),
             f"{'configuration':<15}{'augmentation':<46}{'error':>8}  interval"]
    for row in summary:
        described = describe(row["augmentation"], row["tta"])
        interval = ""
        if row["error_half_width"] is not None:
            low, high = row["error_mean"] - row["error_half_width"], row["error_mean"] + row["error_half_width"]
            interval = f"±{100 * row['error_half_width']:.2f}  [{100 * low:.2f}%, {100 * high:.2f}%]"
        lines.append(f"{row['name']:<15}{described:<46}{100 * row['error_mean']:>7.2f}%  {interval}")
    chosen_by = (f"fixed threshold {settings.fold_threshold:g}, counts pooled over {len(settings.folds)} folds"
                 if settings.folds else f"threshold chosen on {settings.valid_split}")
    by_name = {row["name"]: row for row in summary}
    table = [(label, by_name[name]) for name, label in TABLE_ROWS if name in by_name]
    if table:
        lines += ["", f"Table 1: {chosen_by}, test measures averaged over seeds",
                  f"{'method':<40}{'error':>8}{'recall':>8}{'spec.':>8}"]
        for label, row in table:
            lines.append(f"{label + ' (' + row['name'] + ')':<40}" + "".join(
                f"{100 * row['chosen'][m]:>7.1f}%" for m in ("error", "recall", "specificity")))
    return "\n".join(lines)


# ------------------------------------------------------------------ runs

def run_name(config_name, seed, fold=None):
    """File stem of one run: <config>-seed<k>[-fold<f>] (odd characters of a fold name become '_')."""
    stem = f"{config_name}-seed{seed}"
    return stem if fold is None else stem + "-fold" + re.sub(r"[^A-Za-z0-9_.-]", "_", fold)


class _Corpus:
    """The songs of each filelist, loaded once (features come from the cache)."""

    def __init__(self, data_dir, cache_dir, quiet):
        self.data_dir, self.cache_dir, self.quiet = data_dir, cache_dir, quiet
        self.splits = {}

    def songs(self, *splits):
        for split in splits:
            if split not in self.splits:
                self.splits[split] = dataset.load_split(self.data_dir, split, self.cache_dir, quiet=self.quiet)
        return [song for split in splits for song in self.splits[split]]


def units(configs, seeds, folds):
    """The (trained configuration, seed, fold) of every model the runs need, seeds outermost: a list.

    folds: [] for the train/valid/test protocol (fold None).
    """
    bases = list(dict.fromkeys(config.trained_as for config in configs))
    return [(base, seed, fold) for seed in seeds for fold in folds or [None] for base in bases]


def run_ablation(settings, configs, seeds, out_dir, cache_dir=None, quiet=False, device=CPU, shard=(0, 1)):
    """Train and evaluate the runs of this shard not finished yet; return the run dicts finished in `out_dir`.

    settings: Settings; configs: list of Config; seeds: iterable of ints;
    out_dir: where models and per-run results go; device: the svd.device.Device
    that trains and predicts; shard: (index, count), this job's share of
    `units` (see the module docstring). Seeds run outermost, so an interrupted
    ablation already has a complete picture for the first seeds. Returns the
    first element of `collect`: runs finished by any job, this one or others.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(settings.data, cache_dir, quiet)
    # Load every filelist first: a missing or broken one stops the ablation before any training.
    corpus.songs(*(settings.folds or [settings.train_split, settings.valid_split, settings.test_split]))
    index, count = shard
    for number, (base, seed, fold) in enumerate(units(configs, seeds, settings.folds)):
        if number % count == index:
            variants = [config for config in configs if config.trained_as == base]
            _run_base(base, variants, seed, fold, settings, corpus, out_dir, quiet, device)
    return collect(settings, configs, seeds, out_dir)[0]


def collect(settings, configs, seeds, out_dir):
    """(run dicts of the finished runs, names of the missing ones) in `out_dir`, in `units` order."""
    results, missing = [], []
    for base, seed, fold in units(configs, seeds, settings.folds):
        for config in configs:
            if config.trained_as == base:
                name = run_name(config.name, seed, fold)
                stored = _read_result(pathlib.Path(out_dir) / (name + ".json"), settings, config.augmentation)
                if stored is None:
                    missing.append(name)
                else:
                    results.append(stored)
    return results, missing


def _run_base(base, variants, seed, fold, settings, corpus, out_dir, quiet, device):
    """Finish the runs of the configurations sharing one model, under its lock; leave them to a live holder."""
    if not _unfinished(variants, seed, fold, settings, out_dir):
        return
    path = out_dir / (run_name(base, seed, fold) + ".lock")
    lock = locks.try_lock(path)
    if lock is None:
        _say(quiet, f"ablate: {run_name(base, seed, fold)} is being run by {locks.describe(path)}; left to it")
        return
    with lock:
        pending = _unfinished(variants, seed, fold, settings, out_dir)  # another job may have finished them
        model = _trained_model(base, seed, fold, settings, corpus, out_dir, quiet, device) if pending else None
        for config in pending:
            _say(quiet, f"ablate: evaluating {run_name(config.name, seed, fold)}")
            result = _evaluate_run(model, config, seed, fold, settings, corpus, device)
            write_text_atomic(out_dir / (run_name(config.name, seed, fold) + ".json"),
                              json.dumps(result, indent=2) + "\n")


def _unfinished(variants, seed, fold, settings, out_dir):
    """The configurations of `variants` whose run (seed, fold) has no result file in `out_dir` yet."""
    return [config for config in variants
            if _read_result(out_dir / (run_name(config.name, seed, fold) + ".json"), settings,
                            config.augmentation) is None]


def _read_result(path, settings, augmentation):
    """A finished run's result dict, or None if there is none yet; InputError if made with other settings."""
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None  # a damaged file (not written by us: our writes are atomic) is redone
    if not _well_formed(result):
        return None  # edited by hand into something else: redone too
    stored = {**result["settings"], "augmentation": result.get("augmentation")}
    current = {**settings.as_dict(), "augmentation": augmentation}
    differing = [f"{key} {stored.get(key)!r} (now {current.get(key)!r})"
                 for key in dict.fromkeys([*stored, *current]) if stored.get(key) != current.get(key)]
    if differing:
        raise InputError(f"{path}: this result was made with other settings: {', '.join(differing)}; "
                         "use another --out-dir, or delete the old results to redo them.")
    return result


def _well_formed(result):
    """Whether a result file's JSON has every field `summarise` reads, each of its type."""
    def counts(value):
        return isinstance(value, dict) and all(type(value.get(key)) is int for key in COUNT_KEYS)
    return (isinstance(result, dict) and isinstance(result.get("settings"), dict)
            and isinstance(result.get("config"), str) and type(result.get("seed")) is int
            and counts(result.get("chosen")) and counts(result.get("optimal")))


def _training_setup(base, seed, fold, settings):
    """(TrainConfig, training filelists, data label) of one model."""
    config = hyperparameters.TrainConfig(updates=settings.updates, batch=settings.batch, seed=seed,
                               augmentation=dict(CONFIGS[base].augmentation))
    splits = [f for f in settings.folds if f != fold] if fold is not None else [settings.train_split]
    return config, splits, f"{settings.data} ({'+'.join(splits)})"


def _trained_model(base, seed, fold, settings, corpus, out_dir, quiet, device):
    """The model of `base` for this seed and fold: the stored one if it matches the settings, else trained."""
    config, splits, data_label = _training_setup(base, seed, fold, settings)
    path = out_dir / (run_name(base, seed, fold) + ".npz")
    expected = json.loads(json.dumps({"train": dataclasses.asdict(config), "data": data_label}))
    if path.is_file():
        try:
            model = model_file.load(path)
        except InputError:
            model = None  # unreadable: retrain over it
        if model is not None and model.config == expected:
            return model
    _say(quiet, f"ablate: training {run_name(base, seed, fold)} ({config.updates} updates)")
    return train.train(corpus.songs(*splits), config, path, resume=True, quiet=quiet, data_label=data_label,
                       device=device)


def _evaluate_run(model, config, seed, fold, settings, corpus, device=CPU):
    """One run's result: counts at the chosen (or fixed) threshold and at the test's own optimal threshold."""
    if fold is None:
        valid, test = corpus.songs(settings.valid_split), corpus.songs(settings.test_split)
        measured = evaluate.table(predict.smoothed_probabilities(model, test, config.pitch_factors, device=device),
                                  [song.targets for song in test],
                                  predict.smoothed_probabilities(model, valid, config.pitch_factors, device=device),
                                  [song.targets for song in valid])
    else:
        test = corpus.songs(fold)
        measured = evaluate.table(predict.smoothed_probabilities(model, test, config.pitch_factors, device=device),
                                  [song.targets for song in test], threshold=settings.fold_threshold)
    threshold, chosen = measured["threshold"], measured["test"]
    optimal_threshold, optimal = measured["optimal_threshold"], measured["test_optimal"]
    return {"config": config.name, "seed": seed, "fold": fold, "settings": settings.as_dict(),
            "augmentation": config.augmentation, "tta_pitch_factors": list(config.pitch_factors),
            "threshold": float(threshold), "chosen": {k: chosen[k] for k in COUNT_KEYS},
            "optimal_threshold": float(optimal_threshold), "optimal": {k: optimal[k] for k in COUNT_KEYS},
            "provenance": provenance.describe(device, seed)}


def _say(quiet, text):
    if not quiet:
        print(text, file=sys.stderr)
