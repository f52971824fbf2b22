"""svd command line: synth, check, train, bag, eval, score, detect, detect-merge, ablate, show-augment, bench, cache
(COMMAND --help).

The options of every command, and `main`, which runs one. This file only parses
options; the work is done in svd/cli/commands.py. `python run.py`, `python -m svd`
(svd/__main__.py) and the `svd` command of an installed package (pyproject.toml)
all call `run`.
"""
import argparse
import dataclasses
import os
import signal
import sys

from svd import __version__, augment, device
from svd.util import errors
from svd.util.errors import InputError
from svd.hyperparameters import ARCHITECTURES, TrainConfig

PAPER = TrainConfig()  # every training default is the paper's value, see svd/hyperparameters.py
TTA_SHIFTS = ",".join(f"{factor - 1:g}" for factor in augment.TEST_TIME_PITCH_FACTORS if factor != 1.0)

AUGMENT_OPTIONS = (  # (option, Augmentation field, help) -- paper Sec. 4
    ("--input-dropout", "input_dropout", "probability of zeroing each normalised mel input value (Sec. 4.1)"),
    ("--noise-sigma", "noise_sigma", "std. dev. of Gaussian noise added to the normalised mel input (Sec. 4.1)"),
    ("--pitch-shift", "pitch_shift", "pitch shift range s: frequency scaled by a factor in [1-s, 1+s] (Sec. 4.2)"),
    ("--time-stretch", "time_stretch", "time stretch range s: time scaled by a factor in [1-s, 1+s] (Sec. 4.2)"),
    ("--loudness-db", "loudness_db", "random gain range in dB, uniform in [-d, d] (Sec. 4.2)"),
    ("--filter-db", "filter_db", "random Gaussian filter peak gain range in dB, [-d, d] (Sec. 4.2)"),
    ("--mix-prob", "mix_prob", "probability of mixing each example with a voice-free one (Sec. 4.3)"),
)
PAPER_AUGMENTATION = {name: value for name, value in dataclasses.asdict(augment.PAPER_COMBINATION).items() if value}


def _commands():
    """svd/cli/commands.py, imported once a command runs, so that --help and option errors answer
    before SciPy and the network's implementations load (about 2 s)."""
    from svd.cli import commands
    return commands


def version_text():
    """'svd 0.9.0', and the commit ' (git 2f41cdd)' when the package is the svd/ folder of a git clone.

    Asked of git only when --version is given (svd/util/provenance.py's `git_commit`, which
    every output's provenance records too); a missing git, a slow one or a folder that
    is not a clone leave the commit out without a word.
    """
    from svd.util import provenance  # here: only --version needs it
    commit = provenance.git_commit()
    return f"svd {__version__}" + (f" (git {commit})" if commit else "")


class PrintVersion(argparse.Action):
    """--version: print `version_text()` and exit (argparse's own version action would ask git for the
    commit on every start, --help included)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version (and the git commit, in a clone) and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def program_name():
    """How the program was started, for its usage lines: 'svd', 'run.py' or 'python -m svd'."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "svd"
    return "python -m svd" if name == "__main__.py" else name


SYNTHETIC_DEFAULT = "the synthetic corpus, generated into the cache directory on first use"


def common_options(parser, data=True, cache=True, data_default=SYNTHETIC_DEFAULT):
    if data:
        parser.add_argument("--data", metavar="DIR",
                            help=f"corpus in the Jamendo layout (audio/, labels/, filelists/); default: {data_default}")
    if cache:
        parser.add_argument("--cache", metavar="DIR",
                            help="cache directory for features and the default corpus "
                                 "(default: $SVD_CACHE_DIR or ~/.cache/svd)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def device_option(parser):
    parser.add_argument("--device", choices=device.CHOICES, default="auto",
                        help="where the network runs: gpu (CuPy and the project's CUDA kernels), cpu, or auto: "
                             "the GPU when CuPy is installed and sees one, else the CPU, said in one line "
                             "(default: %(default)s)")


def tta_options(parser):
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average the raw probabilities over the original and "
                             "pitch-shifted copies of each song (paper Sec. 5.4)")
    parser.add_argument("--tta-shifts", default=TTA_SHIFTS, metavar="LIST",
                        help="pitch shifts used by --tta, as fractions like every pitch shift option; "
                             "write --tta-shifts=LIST when it starts with a minus "
                             "(default: %(default)s, paper Sec. 5.4)")


def build_parser(prog="run.py"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=PrintVersion)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="generate a synthetic corpus in the Jamendo layout",
                       description="Generate a deterministic synthetic singing-voice corpus (audio/, labels/, "
                                   "filelists/train|valid|test).")
    p.set_defaults(func=lambda args: _commands().cmd_synth(args))
    p.add_argument("--out-dir", default="synthetic", metavar="DIR", help="output directory, must not exist "
                   "or be empty (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same corpus (default: 0)")
    p.add_argument("--clips", type=int, default=30, help="number of clips, split 4:1:1 into "
                   "train/valid/test (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each clip in seconds "
                   "(default: %(default)s)")
    common_options(p, data=False, cache=False)

    p = sub.add_parser("check", help="validate a corpus and cache its features",
                       description="Read every filelist, label file and audio file of a corpus, report the "
                                   "first problem found, and cache the spectrograms for training.")
    p.set_defaults(func=lambda args: _commands().cmd_check(args))
    p.add_argument("--splits", nargs="+", default="train,valid,test", metavar="LIST",
                   help="filelists to check, comma-separated like every list option (the older form with "
                        "spaces, --splits train valid, is read too) (default: %(default)s)")
    common_options(p)

    p = sub.add_parser("train", help="train the CNN (paper Sec. 3.3)",
                       description="Train the network on the training split; writes a model file. Defaults are "
                                   "the paper's hyperparameters.")
    p.set_defaults(func=lambda args: _commands().cmd_train(args))
    p.add_argument("--out", default="model.npz", metavar="MODEL", help="model file to write (default: %(default)s)")
    p.add_argument("--updates", type=int, default=PAPER.updates, help="number of weight updates (default: %(default)s)")
    p.add_argument("--batch", type=int, default=PAPER.batch, help="excerpts per mini-batch (default: %(default)s)")
    p.add_argument("--lr", type=float, help=f"initial learning rate (default: {PAPER.lr}, or "
                   f"{TrainConfig(arch='ismir2016').lr} with --arch ismir2016)")
    p.add_argument("--lr-decay", type=float, default=PAPER.lr_decay,
                   help="factor applied to the learning rate every --lr-every updates (default: %(default)s)")
    p.add_argument("--lr-every", type=int, default=PAPER.lr_every, help="updates between decays (default: %(default)s)")
    p.add_argument("--momentum", type=float, help=f"Nesterov momentum (default: {PAPER.momentum}), or with "
                   f"--arch ismir2016 Adam's first-moment decay beta1 (default: {TrainConfig(arch='ismir2016').momentum})")
    p.add_argument("--seed", type=int, default=PAPER.seed, help="random seed: initial weights, batches, dropout, "
                   "augmentation (default: %(default)s)")
    p.add_argument("--train-split", default="train", metavar="SPLIT",
                   help="filelist to train on (default: %(default)s)")
    p.add_argument("--checkpoint-every", type=int, default=1000, metavar="N",
                   help="write <MODEL>.ckpt.npz every N updates (default: %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="continue from <MODEL>.ckpt.npz if it exists (same options required); the result "
                        "equals an uninterrupted run")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the model file --out names if one is there (by default that is refused)")
    p.add_argument("--augment", action="store_true",
                   help="the paper's augmentation: "
                        + ", ".join(f"{name.replace('_', ' ')} {value:g}" for name, value in PAPER_AUGMENTATION.items())
                        + " (Sec. 5.3); options below override single strengths")
    for option, _, text in AUGMENT_OPTIONS:
        p.add_argument(option, type=float, metavar="X", help=text + " (default: off)")
    p.add_argument("--zero-mean", action="store_true",
                   help="level-invariant input (Schlueter & Lehner, ISMIR 2018): the first layer's filters are "
                        "kept zero-mean and every mel band is scaled by one shared standard deviation, so the "
                        "recording's level (a gain on the audio) does not change the output")
    p.add_argument("--per-recording", action="store_true",
                   help="standardise every recording by its own mean and deviation per mel band before the "
                        "training set's, in training and detection alike, so that a recording chain's level, "
                        "equalisation and dynamics do not reach the network (with augmentation: each excerpt "
                        "by its song's statistics, after its augmentation)")
    p.add_argument("--pcen", action="store_true",
                   help="per-channel energy normalisation (Wang et al. 2017) instead of the log of the mel "
                        "magnitudes: every band divided by its own level over the last 0.4 s and compressed, so "
                        "that a recording's level and slowly changing equalisation are nearly divided out, in "
                        "training and detection alike (not with augmentation)")
    p.add_argument("--arch", choices=list(ARCHITECTURES), default=PAPER.arch,
                   help="the network: ismir2015 is the paper's (Sec. 3.2, Nesterov momentum); ismir2016 is its "
                        "successor (Schlueter, ISMIR 2016): batch normalisation after every layer, a fifth "
                        "convolution over all but 3 mel bands, trained with Adam (default: %(default)s)")
    p.add_argument("--textbook", action="store_true",
                   help="compute every layer with the plain textbook code (svd/layers.py) instead of the fast "
                        "CPU path: same results within float32 rounding, about 4x slower; for checking the "
                        "fast path over a whole training (CPU only)")
    device_option(p)
    common_options(p)

    p = sub.add_parser("eval", help="evaluate a model: the paper's Table 1",
                       description="Predict every frame of the validation and test songs, smooth with an 800 ms "
                                   "median filter, pick the threshold with the lowest validation error, and "
                                   "report error, recall, specificity, precision, F1 and AUROC, counts pooled "
                                   "over the songs (paper Sec. 5.2); then the base rate (the error of always "
                                   "answering voice, and of never) and each test song alone. The corpus is the "
                                   "one the model was trained on, unless --data names another. The screen shows "
                                   "percent; the JSON fractions (0.049 for 4.9%).")
    p.set_defaults(func=lambda args: _commands().cmd_eval(args))
    p.add_argument("model", metavar="MODEL", help="model file written by 'train'")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE: the table, base rates, "
                   "per-song rows, model SHA-256 and provenance; measures as fractions, not percent")
    p.add_argument("--valid-split", default="valid", metavar="SPLIT",
                   help="filelist the threshold is chosen on (default: %(default)s)")
    p.add_argument("--test-split", default="test", metavar="SPLIT",
                   help="filelist the results are reported on (default: %(default)s)")
    p.add_argument("--threshold", type=float, help="use this threshold instead of choosing one on validation")
    p.add_argument("--store-threshold", dest="store_threshold", action="store_const", const=True,
                   help="write the chosen threshold into the model file for 'detect' (the default when "
                        "evaluating on the corpus the model was trained on, without --tta)")
    p.add_argument("--no-store-threshold", dest="store_threshold", action="store_const", const=False,
                   help="never change the model file")
    tta_options(p)
    device_option(p)
    common_options(p, data_default="the corpus the model was trained on (recorded in it), else " + SYNTHETIC_DEFAULT)

    p = sub.add_parser("score", help="score any system's segment files against a corpus's labels",
                       description="Count the frame decisions of segment files (any system's output: .lab "
                                   "'start end sing|nosing', Audacity label tracks .txt 'start<TAB>end<TAB>label', "
                                   ".csv with the header start_s,end_s,label) against the labels of one split, on "
                                   "eval's frames, pooled over the songs and per song. Each file is matched to the "
                                   "song whose audio has its stem (or its whole name: song.mp3.lab). In .txt and "
                                   ".csv, the label is sing or nosing, any other is "
                                   "refused. No median filter: segments are decisions already. The screen shows "
                                   "percent; the JSON fractions.")
    p.set_defaults(func=lambda args: _commands().cmd_score(args))
    p.add_argument("predictions", nargs="+", metavar="PREDICTIONS",
                   help="segment files (.lab, .txt, .csv) and/or folders of them (walked); files of songs in "
                        "other filelists of the corpus are passed over")
    p.add_argument("--split", default="test", metavar="SPLIT",
                   help="filelist whose songs are scored; each needs a file (default: %(default)s)")
    p.add_argument("--reference", metavar="LABELS",
                   help="score against these reference segment files (a file, or a folder of them matched by "
                        "name) instead of a corpus, as mir_eval does: each recording's length is its reference's "
                        "end; no audio is read (not with --data or --split)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE: pooled and per-song "
                   "measures as fractions, not percent, and provenance")
    common_options(p)

    p = sub.add_parser("detect", help="find the singing in audio files: .lab segments and pictures",
                       description="Run a trained model on audio files (or directories, walked recursively) and "
                                   "write <name>.lab with contiguous 'start end sing|nosing' segments for each "
                                   "(other label formats with --labels, frame-wise probabilities with --frames), "
                                   "and one JSON line per file to <out-dir>/summary[-I-of-N].jsonl. Files whose "
                                   "outputs exist are skipped, so a stopped job is simply started again. "
                                   "Unreadable files are reported and skipped; the exit code is 2 if any failed.")
    p.set_defaults(func=lambda args: _commands().cmd_detect(args))
    p.add_argument("inputs", nargs="*", metavar="[MODEL] AUDIO_OR_DIR",
                   help="audio files and/or directories, after an optional model file (a name ending in .npz, "
                        "evaluated once with 'eval', which stores the threshold); without one, the model that "
                        "comes with svd (trained on real songs, see docs/model-card.md); - reads one audio file "
                        "from standard input and writes its labels (one --labels format) to standard output")
    p.add_argument("--files-from", metavar="LIST",
                   help="also read the inputs from LIST: UTF-8 text, one path per line, relative to LIST's "
                        "folder; - reads the list from stdin (paths relative to the current folder)")
    p.add_argument("--out-dir", default="detections", metavar="DIR",
                   help="where to write the label files (and pictures, frame tables) and the summary "
                        "(default: %(default)s)")
    p.add_argument("--shard", metavar="I/N",
                   help="do only shard I of N (I from 0 to N-1): N jobs with the same inputs and --out-dir, "
                        "one per I, together do every file exactly once (default: all files)")
    p.add_argument("--jobs", default="auto", metavar="K",
                   help="K worker processes, each pinned to its share of the CPU cores, decode files and run the "
                        "network on them while this one writes the outputs (on the GPU they only decode, and "
                        "this process runs the network); 0 does everything in this process, with all cores; "
                        "auto: one per core, up to one per file and as memory allows, 0 for one file or on "
                        "the GPU (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="redo files whose outputs exist (by default they are skipped)")
    p.add_argument("--threshold", type=float, help="decision threshold on the smoothed probability "
                   "(default: the one stored in the model)")
    p.add_argument("--min-segment", type=float, default=0.0, metavar="S",
                   help="absorb sing/nosing segments shorter than S seconds into their neighbours "
                        "(default: 0, keep all)")
    p.add_argument("--plot", action="store_true", help="also write <name>.png: spectrogram (Hz), probabilities, "
                   "threshold and segments over time in m:ss (needs matplotlib)")
    p.add_argument("--labels", default="lab", metavar="LIST",
                   help="label files to write, comma-separated: lab (<name>.lab, 'start end sing|nosing' separated "
                        "by spaces, the Jamendo format), audacity (<name>.txt, an Audacity label track: tab-separated "
                        "'start end label'), csv (<name>.csv, header start_s,end_s,label), json (<name>.json, "
                        "{\"duration_s\": .., \"segments\": [{\"start_s\", \"end_s\", \"label\"}, ..]}), sing "
                        "(<name>.sing.txt, an Audacity track of the sung segments only; written beside the .lab when "
                        "named alone); times in seconds (default: %(default)s)")
    p.add_argument("--frames", metavar="FORMAT",
                   help="also write the probability of every frame (70 per second): npy (<name>.frames.npy, "
                        "float32 array (frames, 3) with the columns time_s, p_raw, p_smoothed), csv "
                        "(<name>.frames.csv, header time_s,p_raw,p_smoothed), or npy,csv for both; time_s is the "
                        "frame's centre, p_smoothed the 800 ms median the threshold applies to (default: none)")
    tta_options(p)
    device_option(p)
    common_options(p, data=False, cache=False)

    p = sub.add_parser("detect-merge", help="join the summaries of detect shards; name missing files",
                       description="Join the summary-I-of-N.jsonl (or summary.jsonl) files of one --out-dir into "
                                   "one table, sorted by .lab name, and report shards that did not run, files not "
                                   "finished or whose .lab is missing, and files in two summaries; exit code 2 "
                                   "if there are any.")
    p.set_defaults(func=lambda args: _commands().cmd_detect_merge(args))
    p.add_argument("out_dir", metavar="OUT_DIR", help="the --out-dir of the detect jobs")
    p.add_argument("--out", metavar="FILE", help="where to write the joined table, one JSON line per file "
                   "(default: OUT_DIR/summary-all.jsonl)")

    p = sub.add_parser("bag", help="join models trained with other seeds into one bagged model",
                       description="Write one model file holding several networks trained on the same songs "
                                   "(the same normalisation), e.g. with --seed 1, 2, 3; 'detect', 'eval' and the "
                                   "Python API then use the mean of their probabilities (bagging). The bag has "
                                   "no threshold yet: evaluate it once with 'eval', which stores one.")
    p.set_defaults(func=lambda args: _commands().cmd_bag(args))
    p.add_argument("models", nargs="+", metavar="MODEL", help="two or more model files written by 'train' "
                   "(or bags: their networks are joined)")
    p.add_argument("--out", required=True, metavar="MODEL", help="the bagged model file to write (.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if a file is there")
    p.add_argument("--quiet", action="store_true", help="no progress lines")

    p = sub.add_parser("ablate", help="the paper's Figure 2 and Table 1: each augmentation, several seeds",
                       description="Train and evaluate each configuration (no augmentation, each method alone, "
                                   "the paper's combination, and test-time augmentation) with several seeds; "
                                   "print the mean test error at the optimal threshold with its 95% confidence "
                                   "interval (Fig. 2) and error/recall/specificity at the chosen threshold "
                                   "(Table 1). Finished runs are kept in --out-dir and not redone.")
    p.set_defaults(func=lambda args: _commands().cmd_ablate(args))
    p.add_argument("--n-seeds", type=int, default=5, metavar="N",
                   help="how many seeds per configuration: seeds 0..N-1, each run stored as <config>-seed<k> "
                        "(a count; --seed elsewhere is one seed's value) (default: %(default)s)")
    p.add_argument("--updates", type=int, help=f"weight updates per training run (default: the paper's "
                   f"{PAPER.updates}; when the whole ablation would then take more than a day, name it to confirm)")
    p.add_argument("--batch", type=int, default=PAPER.batch, help="excerpts per mini-batch (default: %(default)s)")
    p.add_argument("--configs", metavar="LIST",
                   help="comma-separated configurations to run (default: all): none, dropout, noise, pitch, "
                        "stretch, loudness, filter, mix, combined, none+tta, combined+tta")
    p.add_argument("--out-dir", default="ablation", metavar="DIR",
                   help="where models and per-run results are kept, for resuming (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write all results and summaries as JSON to FILE")
    p.add_argument("--plot", action="store_true", help="also draw the Figure 2 bar chart to "
                   "<out-dir>/figure2.png (needs matplotlib)")
    p.add_argument("--train-split", default="train", metavar="SPLIT",
                   help="filelist to train on (default: %(default)s)")
    p.add_argument("--valid-split", default="valid", metavar="SPLIT",
                   help="filelist the threshold is chosen on (default: %(default)s)")
    p.add_argument("--test-split", default="test", metavar="SPLIT",
                   help="filelist the results are reported on (default: %(default)s)")
    p.add_argument("--folds", metavar="LIST",
                   help="k-fold mode (the paper's RWC protocol): comma-separated filelists; each is tested "
                        "with a model trained on the others, counts pooled over folds (replaces the splits)")
    p.add_argument("--fold-threshold", type=float, default=0.5, metavar="T",
                   help="fixed decision threshold in k-fold mode, where no validation split exists "
                        "(default: %(default)s)")
    p.add_argument("--shard", metavar="I/N",
                   help="do only shard I of N (I from 0 to N-1) of the training runs; N jobs sharing --out-dir "
                        "do all, each run once (lock files keep them apart); the report covers every run "
                        "finished so far (default: all runs)")
    p.add_argument("--summarise-only", action="store_true",
                   help="train nothing: report the runs finished in --out-dir and name the missing ones")
    device_option(p)
    common_options(p)

    p = sub.add_parser("show-augment", help="picture one excerpt under each augmentation (paper Fig. 1)",
                       description="Draw one 115-frame excerpt of an audio file unchanged and under each "
                                   "augmentation method at the paper's example strengths (Fig. 1): dropout, "
                                   "noise, pitch shift and time stretch x0.8 and x1.2, loudness -/+10 dB, random "
                                   "filters, mixing. Needs matplotlib.")
    p.set_defaults(func=lambda args: _commands().cmd_show_augment(args))
    p.add_argument("audio", metavar="AUDIO", help="audio file (wav, flac, ogg, mp3, ...)")
    p.add_argument("--at", type=float, metavar="SECONDS",
                   help="centre of the excerpt in seconds (default: the middle of the file)")
    p.add_argument("--out", metavar="FILE.png", help="PNG file to write (default: <audio stem>-augment.png in the "
                   "current folder)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the dropout mask, noise, filters and "
                   "mixing partner (default: %(default)s)")

    p = sub.add_parser("bench", help="measure performance figures",
                       description="Measure feature extraction, matrix multiply, training and prediction speed "
                                   "on this machine and print them (JSON with --json).")
    p.set_defaults(func=lambda args: _commands().cmd_bench(args))
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (rougher figures, for smoke tests)")
    p.add_argument("--layers", action="store_true",
                   help="instead: where a training update's time goes on the fast CPU path, per layer "
                        "(median milliseconds per update, forward and backward)")
    device_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("cache", help="show the cache folder's size by kind; --clear it",
                       description="Show the cache folder (features, the default corpus, the compiled C code) and "
                                   "the size of each kind. Spectrograms take about 0.5 GB per hour of audio and are "
                                   "never deleted by the other commands; --clear deletes them (they are computed "
                                   "again when needed), and is refused while another svd command (check, train, "
                                   "eval, ablate) uses the folder.")
    p.set_defaults(func=lambda args: _commands().cmd_cache(args))
    p.add_argument("--clear", action="store_true", help="delete the cached spectrograms (features/)")
    p.add_argument("--all", action="store_true", help="with --clear: also delete the default synthetic corpus and "
                   "the compiled C code; files svd did not make are left alone")
    p.add_argument("--cache", metavar="DIR", help="the cache folder to show or clear (default: $SVD_CACHE_DIR or "
                   "~/.cache/svd; the compiled code is always there)")
    return parser


def augmentation_from(args):
    """The Augmentation fields chosen on the command line, as a dict."""
    chosen = dict(PAPER_AUGMENTATION) if args.augment else {}
    for _, field, _ in AUGMENT_OPTIONS:
        value = getattr(args, field)
        if value is not None:
            chosen[field] = value
    return chosen


def main(argv=None, prog="run.py"):
    """Parse `argv` (default: sys.argv[1:]) and run the command; returns the exit code.
    prog: the program's name in usage lines."""
    parser = build_parser(prog)
    errors.PROGRAM = "python run.py" if prog == "run.py" else prog
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # the program alone: what it can do, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.command == "train":
        args.augmentation = augmentation_from(args)
    if hasattr(args, "quiet"):
        from svd import backend  # loaded by every command anyway (svd/cli/commands.py)
        backend.fast_build_notices(not args.quiet)  # --quiet also silences the C build's one-line notices
    try:
        args.func(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def run():
    """The program: main() on sys.argv, then exit with its code; SIGTERM stops it like Ctrl-C."""
    # SIGTERM (a batch scheduler's pre-emption, `kill`) ends the run like Ctrl-C: the workers
    # are waited for, atomic writes leave no temporary, `train` keeps its last checkpoint.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # svd/cli/entry.py's start-up handler ends here
    try:
        code = main(prog=program_name())
    except KeyboardInterrupt:  # before main's own handler: while the options are parsed
        print("interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        # Whoever read the output has stopped (`svd cache | head -1`): end without a traceback, as
        # other tools do, with stdout sent to /dev/null so that the final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    # Done: a signal now would kill the interpreter while it shuts down (it restores the
    # default actions), giving exit code -2 or -15 to a run that has finished.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
