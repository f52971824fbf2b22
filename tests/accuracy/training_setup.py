"""What the training instruments of this folder share: their command line and svd's plain-training set-up."""
import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from svd import augment, dataset, hyperparameters, network, normalise, spectrum  # noqa: E402
from svd.batches import STREAM_INIT, TrainingExcerpts, stream_rng  # noqa: E402


def training_parser(description):
    """An argument parser with `run.py train`'s shape: --data --updates --seed --out --train-split."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", required=True, metavar="DIR", help="corpus in the Jamendo layout")
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, metavar="MODEL", help="svd model file to write")
    parser.add_argument("--train-split", default="train")
    return parser


def svd_plain_training(data, split, seed, updates):
    """svd's set-up of `run.py train --seed SEED` without augmentation.

    Returns (config, mean, std, excerpts, params): the TrainConfig, the (80,)
    normalisation, the TrainingExcerpts giving batch k exactly as `run.py train`
    does, and the initial weights.
    """
    config = hyperparameters.TrainConfig(updates=updates, seed=seed)
    songs = dataset.load_split(data, split, quiet=True)
    mean, std = normalise.band_statistics(spectrum.log_mel(song.linear) for song in songs)
    excerpts = TrainingExcerpts(songs, mean, std, augment.Augmentation(), config.batch, seed,
                                (config.target_low, config.target_high))
    return config, mean, std, excerpts, network.init_params(stream_rng(seed, STREAM_INIT))
