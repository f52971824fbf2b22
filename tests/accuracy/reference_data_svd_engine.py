"""Crossover instrument 2: the reference's data pipeline drives svd's engine.

    python tests/accuracy/reference_data_svd_engine.py --data DIR --updates 3000 --seed 1 --out m.npz [--textbook]

Everything before the network comes from ../shared/tools/torch_reference.py,
run as that program runs it with the same --seed: its librosa features and
normalisation, its training positions and batch order (its shuffled excerpt
index, drawn from numpy's default_rng(seed)), its targets and, with `--init
reference` (the default), its initial weights (PyTorch's orthogonal init under
torch.manual_seed(seed)). The engine is svd's: network.forward/backward through
the dispatch (the fast CPU path, or the plain layers of svd/layers.py with
`--textbook`), svd's loss, svd's Nesterov step, svd's dropout masks (svd's
per-update stream; the reference draws its masks inside PyTorch).

The model file gets svd's normalisation statistics of the same training songs,
so that svd's evaluation, which computes svd's features, feeds it what it was
trained on (the two pipelines agree after standardisation: mean |difference|
0.004-0.009 standard deviations per song, BENCHMARKS.md). If this model
generalises like the reference, the fault is in svd's pipeline; if like svd, in
svd's engine (compare with svd_data_torch_engine.py, the other half).
"""
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from reference_eval import import_torch_reference, svd_params  # noqa: E402
from training_setup import training_parser  # noqa: E402

from svd import backend, dataset, hyperparameters, network, normalise, optim, spectrum, train  # noqa: E402
from svd import model_file  # noqa: E402
from svd.batches import STREAM_DROPOUT, STREAM_INIT, stream_rng  # noqa: E402


def main(argv=None):
    parser = training_parser(__doc__.splitlines()[0])
    parser.add_argument("--init", choices=("reference", "svd"), default="reference",
                        help="initial weights (default: the reference's)")
    parser.add_argument("--textbook", action="store_true", help="svd's plain layers instead of the fast CPU path")
    parser.add_argument("--reference", metavar="PATH", help="torch_reference.py (default: ../shared/tools/)")
    args = parser.parse_args(argv)
    reference = import_torch_reference(args.reference)
    import torch

    # The reference's own order of set-up (its main()), so that its seeds give its draws.
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    bank = reference.mel_filterbank()
    songs = reference.load_split(args.data, args.train_split)
    log_mels = [reference.to_logmel(song["spect"], bank) for song in songs]
    stacked = np.concatenate(log_mels)
    mean, std = stacked.mean(0).astype(np.float32), stacked.std(0).astype(np.float32)
    del stacked
    if args.init == "reference":
        params = svd_params({name: value.detach() for name, value in reference.Net().state_dict().items()})
    else:
        params = network.init_params(stream_rng(args.seed, STREAM_INIT))
    inputs = [((m - mean) / std).astype(np.float32) for m in log_mels]
    labels = [song["labels"] for song in songs]
    index = reference.excerpt_index([len(x) for x in inputs], reference.BLOCKLEN)
    batches = reference.batches(index, rng)

    config = hyperparameters.TrainConfig(updates=args.updates, seed=args.seed)
    if args.textbook:
        backend.use("reference")
    velocity, workspace = optim.init_velocity(params), {}
    started, losses = time.time(), []
    for update in range(args.updates):
        chosen = next(batches)
        x = np.stack([inputs[s][p:p + reference.BLOCKLEN] for s, p in chosen])
        voice = np.array([labels[s][p + reference.CENTRE] for s, p in chosen], np.float32)
        targets = (config.target_low + (config.target_high - config.target_low) * voice).astype(np.float32)
        rate = optim.learning_rate(update, config.lr, config.lr_decay, config.lr_every)
        loss = train.update_step(params, velocity, x, targets, stream_rng(args.seed, STREAM_DROPOUT, update),
                                 rate, config.momentum, workspace)
        losses.append(float(loss))
        if (update + 1) % 200 == 0 or update + 1 == args.updates:
            print(f"update {update + 1}/{args.updates} loss {np.mean(losses[-200:]):.4f} "
                  f"{(update + 1) / (time.time() - started):.2f} updates/s", flush=True)

    svd_songs = dataset.load_split(args.data, args.train_split, quiet=True)
    svd_mean, svd_std = normalise.band_statistics(spectrum.log_mel(song.linear) for song in svd_songs)
    run_config = {"train": {**vars(args), "reference": None}, "data": str(pathlib.Path(args.data).resolve()),
                  "engine": "svd " + ("textbook" if args.textbook else "fast") +
                            " (tests/accuracy/reference_data_svd_engine.py)", "losses": losses[::10]}
    model_file.save(args.out, model_file.Model(params, svd_mean, svd_std, run_config))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
