"""What each `run.py` subcommand does, given its parsed options (run.py only parses).

Each function takes the argparse namespace, prints its results to stdout
(progress goes to stderr) and raises svd.util.errors.InputError for user mistakes.
"""
import collections
import dataclasses
import json
import math
import os
import pathlib
import sys

from svd import bench, dataset, detect, device, evaluate, hyperparameters, model_file, predict, synth, train
from svd.cli import plot, report
from svd.jobs import cores, detect_summary, detection, input_files, shards
from svd.util import cache_folder, errors, provenance
from svd.util.atomic import WriteFailed, check_output, check_writable, write_text_atomic
from svd.util.errors import InputError
from svd.util.progress import Progress

def _data_dir(args, splits=()):
    """The corpus directory (the default synthetic corpus, generated on first use, if no --data).

    Checks first that the cache directory can be written and that no audio file
    is listed in two of `splits` (the filelists this command reads).
    """
    cache_dir, named_by = cache_folder.chosen_dir(args.cache)
    check_writable(cache_dir, named_by, directory=True)
    cache_folder.hold(cache_dir)  # 'run.py cache --clear' is refused while this command runs
    if args.data is not None and not args.data.strip():
        raise InputError("--data '': an empty path (an unset shell variable?); name the corpus folder, or leave "
                         "out --data for the synthetic corpus.")
    data_dir = pathlib.Path(args.data) if args.data is not None else synth.default_corpus(cache_dir, args.quiet)
    dataset.check_disjoint(data_dir, splits)
    return data_dir


def cmd_synth(args):
    out = pathlib.Path(args.out_dir)
    hyperparameters.check_seed(args.seed)
    check_writable(out, "--out-dir", directory=True)
    synth.write_corpus_with_progress(out, args.seed, args.quiet, n_clips=args.clips, clip_seconds=args.seconds,
                                     split_sizes=_split_sizes(args.clips))
    print(f"wrote a synthetic corpus of {args.clips} clips x {args.seconds:g} s to {out}")


def cmd_cache(args):
    folder, named_by = cache_folder.chosen_dir(args.cache)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{named_by} {folder}: is a file, not a folder; name the cache folder.")
    if args.all and not args.clear:
        raise InputError("--all: goes with --clear (--clear --all deletes everything svd keeps in the cache folder).")
    if args.clear:
        freed = cache_folder.clear(folder, everything=args.all)
        print(f"{folder}: deleted " + (", ".join(f"{kind} ({cache_folder.human(size)})" for kind, size in freed.items())
                                      or "nothing (nothing to delete)"))
        return
    print("\n".join(cache_folder.describe(folder, named_by)))
    print("'cache --clear' deletes the features, 'cache --clear --all' everything svd made")


def _split_sizes(clips):
    """Train/valid/test sizes in the proportion 4:1:1 (at least one clip each)."""
    if clips < 3:
        raise InputError(f"--clips {clips}: need at least 3 clips (one per split); raise --clips.")
    held_out = max(1, round(clips / 6))
    return clips - 2 * held_out, held_out, held_out


def comma_list(values, option):
    """Names from an option's comma-separated list ('train,valid'), each once, in order; InputError if none.

    values: the option's text, or a list of them (`check --splits` also takes the older form
    with spaces, 'train valid', as separate arguments).
    """
    texts = [values] if isinstance(values, str) else list(values)
    names = [name.strip() for text in texts for name in text.split(",") if name.strip()]
    if not names:
        raise InputError(f"{option} {' '.join(texts)!r}: give one name or several, comma-separated "
                         "(e.g. train,valid,test).")
    return list(dict.fromkeys(names))


def cmd_check(args):
    splits = comma_list(args.splits, "--splits")
    data_dir = _data_dir(args, splits)
    for split in splits:
        songs = dataset.load_split(data_dir, split, args.cache, quiet=args.quiet)
        frames = sum(len(song.targets) for song in songs)
        voiced = sum(int(song.targets.sum()) for song in songs)
        minutes = sum(song.duration_s for song in songs) / 60
        print(f"{split}: {len(songs)} songs, {minutes:.1f} min, {frames} frames, "
              f"{100 * voiced / frames:.1f}% voice")
    print(f"{data_dir}: OK")


def cmd_train(args):
    config = hyperparameters.TrainConfig(updates=args.updates, batch=args.batch, lr=args.lr, lr_decay=args.lr_decay,
                                         lr_every=args.lr_every, momentum=args.momentum, seed=args.seed,
                                         augmentation=args.augmentation, zero_mean=args.zero_mean,
                                         per_recording=args.per_recording, pcen=args.pcen,
                                         arch=args.arch)  # checks itself
    if args.checkpoint_every < 1:
        raise InputError(f"--checkpoint-every {args.checkpoint_every}: must be at least 1.")
    check_output(args.out, "--out", ".npz")
    if args.textbook and args.device == "gpu":
        raise InputError("--textbook runs the plain NumPy layers on the CPU; leave out --device gpu.")
    where = device.TEXTBOOK if args.textbook else device.select(args.device, args.quiet)
    if where.xp.__name__ == "numpy":
        train.check_batch_fits(args.batch)
    data_dir = _data_dir(args)
    # A song of the held-out filelists (if there are any) must not be trained on.
    held_out = [split for split in ("valid", "test") if (data_dir / "filelists" / split).is_file()]
    if args.train_split in held_out:
        raise InputError(f"--train-split {args.train_split}: that filelist is held out ('eval' chooses the "
                         "threshold or reports the results on it); train on another filelist.")
    dataset.check_disjoint(data_dir, [args.train_split, *held_out])
    with train.output_lock(args.out):  # one run per --out; its checkpoint is checked before the long loading
        train.check_checkpoint(args.out, args.resume)
        train.check_replaceable(args.out, args.overwrite)
        songs = dataset.load_split(data_dir, args.train_split, args.cache, quiet=args.quiet)
        train.train(songs, config, args.out, resume=args.resume, checkpoint_every=args.checkpoint_every,
                    quiet=args.quiet, data_label=str(data_dir.resolve()), device=where)
    print(f"wrote {args.out} ({args.updates} updates); evaluate it with {errors.command('eval ' + str(args.out))}")


def cmd_bag(args):
    paths = [pathlib.Path(path) for path in args.models]
    check_output(args.out, "--out", ".npz", paths)
    train.check_replaceable(args.out, args.overwrite)
    if len(paths) < 2:
        raise InputError("bag: name two or more model files (trained on the same songs with other seeds).")
    bag = model_file.bag(paths, [model_file.load(path) for path in paths])
    model_file.save(args.out, bag)
    print(f"wrote {args.out}: a bag of {len(bag.networks)} networks; choose its threshold with "
          f"{errors.command('eval ' + str(args.out))}")


def cmd_eval(args):
    model = model_file.load(args.model)
    factors = pitch_factors(args)
    check_threshold(args.threshold)
    if args.valid_split == args.test_split:
        raise InputError(f"--valid-split {args.valid_split} --test-split {args.test_split}: the threshold would be "
                         "chosen on the songs it is reported on; name two different filelists.")
    if args.json:
        check_output(args.json, "--json", ".json", [args.model])
    recorded_data = args.data is None
    args.data = _model_corpus(args.model, model, args.data, args.quiet)
    data_dir = _data_dir(args, [args.valid_split, args.test_split])
    store = _store_threshold(args, model, recorded_data)
    if store:
        model_file.check_rewritable(args.model)
    where = device.select(args.device, args.quiet)
    model_identity = dataset.file_identity(args.model)
    model_sha256 = detect_summary.sha256_of(args.model)  # the file as evaluated, before a threshold is stored
    # Every test file is read (and its features cached) before the validation songs are predicted,
    # so that an unreadable one stops the command before the long work, not after it.
    test_names = [song.name for song in dataset.load_split(data_dir, args.test_split, args.cache, quiet=args.quiet)]
    smoothed, targets = {}, {}
    for split in (args.valid_split, args.test_split):
        songs = dataset.load_split(data_dir, split, args.cache, quiet=args.quiet)
        with Progress(f"predicting {split}", len(songs), "songs", quiet=args.quiet) as bar:
            smoothed[split] = predict.smoothed_probabilities(model, songs, factors, bar.update, where)
        targets[split] = [song.targets for song in songs]
    table = evaluate.table(smoothed[args.test_split], targets[args.test_split], smoothed[args.valid_split],
                           targets[args.valid_split], args.threshold, test_names)
    print(report.format_eval(table, args.valid_split, args.test_split))
    stored = store and math.isfinite(table["threshold"])
    if stored:
        model.threshold = table["threshold"]
    if args.json:  # first: a JSON that cannot be written leaves the model as it was
        write_text_atomic(args.json, report.json_text({
            "units": report.UNITS, **table, "data": str(data_dir.resolve()), "valid_split": args.valid_split,
            "test_split": args.test_split, "tta_pitch_factors": list(factors), "model_sha256": model_sha256,
            "stored_model_sha256": model_file.sha256(model) if stored else None,
            "provenance": provenance.describe(where, model.seed), "model_provenance": model.provenance}))
    if store and not stored:
        raise InputError(f"{args.model}: the chosen threshold is {table['threshold']}, not a number (are the "
                         "model's weights finite?); nothing was stored. Retrain the model.")
    if stored:
        _store_if_unchanged(args.model, model, model_identity, model_sha256, table["threshold"])
    return table


def _store_threshold(args, model, recorded_data):
    """Whether eval writes its threshold into the model: when asked, else on the model's own corpus only."""
    if args.threshold is not None or args.tta:  # nothing chosen; detect's default is without TTA
        return False
    if args.store_threshold is not None:
        return args.store_threshold
    recorded = model.config.get("data")
    own = recorded_data or not isinstance(recorded, str) or (  # no record: a model older than the records
        args.data is not None and pathlib.Path(args.data).resolve() == pathlib.Path(recorded).resolve())
    if not own and not args.quiet:
        print(f"eval: the threshold will not be stored in {args.model} (another corpus than its own); "
              "pass --store-threshold to store it", file=sys.stderr)
    return own


def _store_if_unchanged(path, model, identity, sha256, threshold):
    """Write `model` (with its new threshold) to `path` only if the file is still the one eval read.

    Under the lock `train --out` holds (svd/train.py output_lock), the file's identity and
    content are compared with those read at the start: a model trained, copied or moved
    into `path` meanwhile is never replaced by the old weights.
    """
    try:
        with train.output_lock(path):
            unchanged = pathlib.Path(path).is_file() and dataset.file_identity(path) == identity \
                and detect_summary.sha256_of(path) == sha256
            if unchanged:
                model_file.save(path, model)  # a full disk says so (WriteFailed), the file untouched
    except WriteFailed:  # the lock file or the model cannot be written: said as such
        raise
    except InputError:  # the lock is held: a training is writing the model right now
        unchanged = False
    if unchanged:
        print(f"stored threshold {threshold:.4f} in {path} (for {errors.command('detect')})")
    else:
        print(f"eval: {path} changed while it was evaluated (another run wrote it); the threshold "
              f"{threshold:.4f} was not stored and the file was left as it is", file=sys.stderr)


def _model_corpus(model_path, model, data, quiet):
    """The corpus to evaluate on: --data if given, else the one the model was trained on (recorded in it).

    Says in one line which it is, and when --data differs from the model's corpus.
    """
    recorded = model.config.get("data")
    recorded = recorded if isinstance(recorded, str) and recorded else None  # a hand-edited config may say 5
    if data is None and recorded is None:
        return None  # a model from before corpora were recorded: the default corpus, as ever
    if data is None:
        if not pathlib.Path(recorded).is_dir():
            raise InputError(f"{model_path} was trained on {recorded}, which is not there any more; "
                             "name the corpus to evaluate on with --data DIR.")
        if not quiet:
            print(f"eval: on {recorded}, the corpus {model_path} was trained on (--data DIR for another)",
                  file=sys.stderr)
        return recorded
    if recorded is not None and data.strip() and not quiet and \
            pathlib.Path(data).resolve() != pathlib.Path(recorded).resolve():
        print(f"eval: on {data}, not on {recorded}, the corpus {model_path} was trained on", file=sys.stderr)
    return data


def check_threshold(threshold):
    """A decision threshold is a probability: finite and in [0, 1]; None (not given) passes."""
    if threshold is not None and not (math.isfinite(threshold) and 0 <= threshold <= 1):
        raise InputError(f"--threshold {threshold}: a threshold is a probability between 0 and 1.")


def pitch_factors(args):
    """Pitch factors predictions are averaged over: (1.0,) alone, or with --tta 1.0 and 1 + each shift."""
    if not args.tta:
        return (1.0,)
    try:
        shifts = [float(s) for s in args.tta_shifts.split(",") if s.strip()]
    except ValueError:
        shifts = []
    if not shifts or any(not -0.5 < s < 0.5 for s in shifts):
        raise InputError(f"--tta-shifts {args.tta_shifts}: give comma-separated pitch shifts as fractions "
                         "between -0.5 and 0.5, e.g. -0.2,-0.1,0.1,0.2.")
    return tuple(dict.fromkeys([1.0] + [1 + s for s in shifts]))


def cmd_bench(args):
    if args.json:
        check_output(args.json, "--json", ".json")
    if args.layers and args.device == "gpu":
        raise InputError("bench --layers times the layers of the fast CPU path; leave out --device gpu "
                         "('bench --device gpu' measures the GPU).")
    if args.layers:
        _bench_layers(args)
        return
    where = device.select(args.device, args.quiet)
    with Progress("bench", bench.STEPS, "steps", quiet=args.quiet) as bar:
        figures = bench.run_all(quick=args.quick, progress=bar.update, device=where)
    for key, value in figures.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) and math.isfinite(value) else f"{key}: {value}")
    if args.json:
        write_text_atomic(args.json, json.dumps(figures, indent=2) + "\n")


def _bench_layers(args):
    """bench --layers: the per-layer table of a training update (fast CPU path, batch 32)."""
    if not args.quiet:
        print("timing every layer of 11 training updates (the first is a warm-up) ...", file=sys.stderr)
    times = bench.layer_milliseconds(3 if args.quick else 10)
    print(f"{'layer':<16}{'forward ms':>12}{'backward ms':>13}")
    for layer in dict.fromkeys(layer for layer, _ in times):
        forward, backward = times.get((layer, "forward"), 0.0), times.get((layer, "backward"), 0.0)
        print(f"{layer:<16}{forward:>12.1f}{backward:>13.1f}")
    print(f"{'total':<16}{sum(times.values()):>25.1f}")
    print("\n".join(bench.choice_lines()))
    if args.json:
        rows = [{"layer": layer, "direction": direction, "ms": ms} for (layer, direction), ms in times.items()]
        write_text_atomic(args.json, json.dumps(rows, indent=2) + "\n")


def cmd_detect(args):
    args.model, args.inputs = input_files.split_model(args.inputs)
    model = model_file.load(args.model)
    check_threshold(args.threshold)
    threshold = detect.model_threshold(model, args.threshold, args.model)
    if not (math.isfinite(args.min_segment) and 0 <= args.min_segment <= detect.MAX_MIN_SEGMENT_S):
        raise InputError(f"--min-segment {args.min_segment}: give a length in seconds from 0 to "
                         f"{detect.MAX_MIN_SEGMENT_S:g} (0 keeps every segment).")
    index, count = shards.parse(args.shard)
    jobs = cores.parse_jobs(args.jobs)
    label_formats = detection.label_formats(args.labels)
    frame_formats = () if args.frames is None else detection.parse_formats(args.frames, "--frames",
                                                                           detection.FRAME_FORMATS)
    if "-" in args.inputs:
        label_formats = detection.parse_formats(args.labels, "--labels", detection.LABEL_FORMATS)
        _check_standard_input(args, label_formats)
        where = device.select(args.device, True)
        return detection.detect_standard_input(detection.Job(model, "", threshold, pitch_factors(args),
                                                             args.min_segment, False, where, 0, True, label_formats))
    check_writable(args.out_dir, "--out-dir", directory=True)
    if args.plot:
        plot.pyplot()
    factors = pitch_factors(args)
    inputs = list(args.inputs) + (input_files.read_file_list(args.files_from) if args.files_from else [])
    if not inputs:
        raise InputError("no inputs: name audio files or folders, or give --files-from LIST.")
    where = device.select(args.device, args.quiet)
    passed_over, broken_links = [], []
    files = input_files.audio_files(inputs, passed_over, broken_links)
    if broken_links:
        print(f"detect: passed over {len(broken_links)} symbolic links whose target is missing (e.g. "
              f"{detect.shown(broken_links[0])})", file=sys.stderr)
    if passed_over:
        kinds = collections.Counter(path.suffix.lower() for path in passed_over)
        print(f"detect: passed over {len(passed_over)} files in formats this program cannot decode ("
              + ", ".join(f"{count} {suffix}" for suffix, count in sorted(kinds.items()))
              + "); convert them to .flac or .wav first (e.g. ffmpeg -i song.m4a song.flac)", file=sys.stderr)
    if not files:
        raise InputError(f"no audio files found in {' '.join(map(str, inputs))}; "
                         f"expected one of {', '.join(sorted(input_files.AUDIO_SUFFIXES))}.")
    job = detection.Job(model, detect_summary.sha256_of(args.model), threshold, factors, args.min_segment, args.plot,
                        where, jobs, args.quiet, label_formats, frame_formats,
                        provenance.describe(where, model.seed))
    # A file's shard depends only on its place below the inputs' common folder, so all jobs agree on it.
    relative = input_files.relative_paths(files, inputs)
    stems = input_files.output_stems(relative, [suffix for _, suffix in detection.output_suffixes(job)])
    share = [(path, stem) for path, stem, below in zip(files, stems, relative)
             if shards.of_key(below.as_posix(), count) == index]
    out_dir = pathlib.Path(args.out_dir)
    summary = out_dir / detect_summary.file_name(index, count)
    records, todo = detection.plan(share, out_dir, summary, job, args.overwrite)
    on_gpu = where != device.CPU
    job = dataclasses.replace(job, jobs=cores.auto_jobs(len(todo), on_gpu) if jobs is None else jobs)
    if not args.quiet:
        print(f"detect: {len(share)} files" + (f" of {len(files)} in shard {index}/{count}" if count > 1 else "")
              + f", {len(share) - len(todo)} with outputs already (skipped), {len(todo)} to do"
              + cores.said(job.jobs, len(todo), on_gpu), file=sys.stderr)
    failed = detection.detect_files(share, records, todo, out_dir, summary, job)
    if failed:
        raise InputError(f"{failed} of {len(share)} files could not be processed (see the lines above).")


def _check_standard_input(args, label_formats):
    """InputError unless detect's options fit audio on standard input ('-'): one input, one label text out.

    label_formats: the parsed --labels (`detection.parse_formats`)."""
    others = [name for name, given in (("other inputs", len(args.inputs) > 1), ("--files-from", args.files_from),
                                       ("--plot", args.plot), ("--frames", args.frames), ("--shard", args.shard),
                                       ("more than one --labels format", len(label_formats) > 1))
              if given]
    if others:
        raise InputError(f"detect -: audio on standard input gives one label text on standard output; leave out "
                         f"{', '.join(others)}, or name the audio files instead.")


def cmd_detect_merge(args):
    records, problems = detect_summary.merge(args.out_dir)
    out = pathlib.Path(args.out) if args.out else pathlib.Path(args.out_dir) / "summary-all.jsonl"
    if out.suffix != ".jsonl":
        raise InputError(f"--out {out}: the merged summary is JSON lines, one record per file; give a name ending "
                         "in .jsonl.")
    check_writable(out, "--out")
    detect_summary.write(out, records)
    statuses = collections.Counter(entry.get("status") for entry in records)
    hours = sum(entry.get("duration_s") or 0 for entry in records) / 3600
    print(f"{len(records)} files: " + ", ".join(f"{statuses[s]} {s}" for s in detect_summary.STATUSES)
          + f"; {hours:.2f} h of audio with results; wrote {out}")
    for problem in problems:
        print(problem)
    if problems:
        raise InputError(f"{args.out_dir}: the detection is incomplete or inconsistent (see the lines above).")


def cmd_ablate(args):
    from svd import ablate
    configs = ablate.select_configs(args.configs)
    if args.n_seeds < 1:
        raise InputError(f"--n-seeds {args.n_seeds}: need at least one seed; pass --n-seeds 1 or more.")
    if (args.updates is not None and args.updates < 1) or args.batch < 1:
        raise InputError(f"--updates {args.updates} --batch {args.batch}: both must be at least 1.")
    if not 0 <= args.fold_threshold <= 1:
        raise InputError(f"--fold-threshold {args.fold_threshold}: a threshold is a probability in [0, 1].")
    shard = shards.parse(args.shard)
    check_writable(args.out_dir, "--out-dir", directory=True)
    if args.json:
        check_output(args.json, "--json", ".json")
    if args.plot:
        plot.pyplot()
    folds = ablate.parse_folds(args.folds)
    trainings = sum(not config.tta for config in configs) * args.n_seeds * max(1, len(folds))
    args.updates = ablate.check_length(args.updates, trainings, args.summarise_only, args.quiet)
    where = device.select(args.device, args.quiet)
    data_dir = _data_dir(args, folds or [args.train_split, args.valid_split, args.test_split])
    settings = ablate.Settings(str(data_dir.resolve()), args.updates, args.batch, args.train_split,
                               args.valid_split, args.test_split, folds,
                               args.fold_threshold)
    if not args.summarise_only:
        ablate.run_ablation(settings, configs, range(args.n_seeds), args.out_dir, args.cache, args.quiet, where,
                            shard)
    results, missing = ablate.collect(settings, configs, range(args.n_seeds), args.out_dir)
    if not results and args.summarise_only:
        raise InputError(f"--out-dir {args.out_dir}: no finished runs of these settings yet; run "
                         "'ablate' without --summarise-only to make them.")
    finished = {run["config"] for run in results}
    summary = ablate.summarise(results, [config for config in configs if config.name in finished])
    if results:
        print(ablate.format_report(summary, settings) + ("\n" if missing else ""))
    if missing:  # other shards' runs, or runs that failed or are still going
        print(f"missing runs ({len(missing)} of {len(missing) + len(results)}, not in the figures above): "
              + ", ".join(missing))
    if args.json:
        write_text_atomic(args.json, report.json_text({
            "units": report.UNITS, "settings": settings.as_dict(), "n_seeds": args.n_seeds, "configs": summary,
            "missing": missing, "provenance": provenance.describe(where)}))
    if args.plot and summary:
        plot.ablation_png(summary, pathlib.Path(args.out_dir) / "figure2.png",
                          title=f"{data_dir.name}: {args.n_seeds} seed(s), {args.updates} updates")
    return summary


def cmd_show_augment(args):
    from svd import audio, spectrum
    hyperparameters.check_seed(args.seed)
    path = pathlib.Path(args.audio)
    out = pathlib.Path(args.out if args.out is not None else path.stem + "-augment.png")  # in the current folder
    if out.suffix.lower() != ".png":
        raise InputError(f"--out {out}: the picture is a PNG file; give a name ending in .png.")
    if out.exists() and path.exists() and os.path.samefile(out, path):
        raise InputError(f"--out {out}: is the input audio file itself; give the picture another name.")
    check_writable(out, "--out")
    plot.pyplot()
    samples = audio.load(path)
    linear = spectrum.linear_spectrogram(samples)
    dataset.require_excerpt_length(path, len(linear))
    duration_s = len(samples) / spectrum.SAMPLE_RATE_HZ
    at_s = duration_s / 2 if args.at is None else args.at
    if not 0 <= at_s <= duration_s:
        raise InputError(f"--at {args.at:g}: outside {path}, which is {duration_s:.2f} s long; "
                         f"pick a time between 0 and {duration_s:.2f} s.")
    # The frame whose centre time (i * hop + frame / 2) / rate is nearest to at_s.
    centre = (at_s * spectrum.SAMPLE_RATE_HZ - spectrum.FRAME_SAMPLES / 2) / spectrum.HOP_SAMPLES
    centre_frame = int(min(max(round(centre), 0), len(linear) - 1))
    plot.augmentation_png(linear, centre_frame, out, seed=args.seed, title=path.name)
    print(f"wrote {out}: the excerpt at {at_s:.2f} s of {path} under each augmentation")


def cmd_score(args):
    from svd.cli import score
    if args.json:
        check_output(args.json, "--json", ".json", args.predictions)
    files = score.prediction_files(args.predictions)
    if args.reference is not None:  # label files against label files, as mir_eval does: no corpus, no audio
        if args.data is not None or args.split != "test":
            raise InputError("--reference scores against label files alone; leave out --data and --split.")
        songs = score.reference_songs(score.prediction_files([args.reference]))
        names = [song.name for song in songs]
        against, where = "the references", {"reference": str(args.reference)}
        chosen, passed_over = score.match(names, files, names, against)
    else:
        data_dir = _data_dir(args)
        names = dataset.read_filelist(data_dir, args.split)
        against, where = args.split, {"data": str(data_dir.resolve()), "split": args.split}
        chosen, passed_over = score.match(names, files, score.corpus_names(data_dir), args.split)
    if passed_over and not args.quiet:
        print(f"score: passed over {len(passed_over)} prediction files of songs outside {against}",
              file=sys.stderr)
    # Every file is read before the audio, so that a malformed one stops the command at once.
    predictions = {name: (path, score.read_predictions(path)) for name, path in chosen.items()}
    if args.reference is None:
        songs = dataset.load_split(data_dir, args.split, args.cache, quiet=args.quiet)
    scored = score.score(songs, predictions)
    print(report.format_score(scored, against))
    if args.json:
        write_text_atomic(args.json, report.json_text({
            "units": report.UNITS, **where,
            "smoothing": "none: frame decisions come straight from the segments", **scored,
            "provenance": provenance.describe()}))
    return scored
