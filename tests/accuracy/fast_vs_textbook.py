"""Instrument 4: is svd's fast CPU path a faithful float32 engine over a whole training?

    python tests/accuracy/fast_vs_textbook.py --data DIR --seed 1 [--updates 3000 --every 500 --follow 30] [--json F]

Equal gradients on one fresh batch do not prove an equal training: a fault could
show only in states reached after thousands of updates (large weights, many
max-pool ties, saturated units). This instrument trains with the fast path as
`run.py train --seed S` does (same batches, dropout masks and steps) and, at
every `--every` updates of that trajectory, checks the fast path where it stands:

1. Gradient check at the visited states. The float64 textbook gradient
   (svd/layers.py, float64) of the state's next batch is the truth; the relative
   error ||g - truth|| / ||truth|| of the fast float32 gradient (compiled
   Winograd, the one training uses) is set beside that of the textbook float32
   gradient (plain im2col), and the fast path in float64 (its NumPy loops) beside
   the truth. A fault shows as a fast float32 error far above the textbook's.
2. Chaos against fault. From the first and the last state, `--follow` updates are
   run three ways: fast float32, textbook float32, and fast float32 from weights
   moved by one float32 ulp (rounding-sized noise). The relative weight distance
   fast-vs-textbook is set beside fast-vs-perturbed: if the two grow alike, the
   implementations differ by rounding and chaos amplifies it; a fault makes the
   first jump ahead.

The textbook path is slow (the float32 im2col of conv2 alone is 620 MB per
update): about 10-20x the fast path on two cores, which is why it is run for
`--follow` updates from chosen states rather than for a whole training
(`run.py train --textbook` does that, in hours).
"""
import argparse
import contextlib
import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from training_setup import svd_plain_training  # noqa: E402

from svd import backend, network, optim, train  # noqa: E402
from svd.batches import STREAM_DROPOUT, stream_rng  # noqa: E402


@contextlib.contextmanager
def implementation(name):
    """Run every operation with backend implementation `name` ('fast' or 'reference') inside the block."""
    previous = backend.use(name)
    try:
        yield
    finally:
        backend.use(previous)


def cast(arrays, dtype):
    return {name: np.array(value, dtype) for name, value in arrays.items()}


def gradients(params, x, targets, seed, update, name):
    """Loss gradients of one batch with update `update`'s dropout masks, by implementation `name`."""
    with implementation(name):
        nn = backend.ops(params["conv1.w"])
        logits, cache = network.forward(params, x.astype(params["conv1.w"].dtype),
                                        rng=stream_rng(seed, STREAM_DROPOUT, update))
        _, loss_cache = nn.sigmoid_cross_entropy_forward(logits, targets.astype(logits.dtype))
        return network.backward(params, cache, nn.sigmoid_cross_entropy_backward(loss_cache))


def relative_error(grads, truth):
    """||g - truth|| / ||truth|| over all parameters together."""
    num = sum(float(np.sum((np.asarray(grads[k], np.float64) - truth[k]) ** 2)) for k in truth)
    return (num / sum(float(np.sum(truth[k] ** 2)) for k in truth)) ** 0.5


def distance(a, b):
    """Relative weight distance ||a - b|| / ||a|| over all parameters."""
    num = sum(float(np.sum((a[k].astype(np.float64) - b[k]) ** 2)) for k in a)
    return (num / sum(float(np.sum(a[k].astype(np.float64) ** 2)) for k in a)) ** 0.5


def step(state, excerpts, config, update, name):
    """One training update of `state` = (params, velocity, workspace) with implementation `name`; its loss."""
    params, velocity, workspace = state
    x, targets = excerpts.batch(update)
    rate = optim.learning_rate(update, config.lr, config.lr_decay, config.lr_every)
    with implementation(name):
        loss = train.update_step(params, velocity, x, targets, stream_rng(config.seed, STREAM_DROPOUT, update),
                                 rate, config.momentum, workspace)
    return float(loss)


def follow(snapshot, excerpts, config, start, updates):
    """Fast, textbook and 1-ulp-perturbed fast runs from one state: distances and losses per update."""
    params, velocity = snapshot
    runs = {"fast": (cast(params, np.float32), cast(velocity, np.float32), {}),
            "textbook": (cast(params, np.float32), cast(velocity, np.float32), {}),
            "perturbed": ({k: np.nextafter(v, np.inf).astype(np.float32) for k, v in params.items()},
                          cast(velocity, np.float32), {})}
    impl = {"fast": "fast", "textbook": "reference", "perturbed": "fast"}
    rows = []
    for update in range(start, start + updates):
        losses, seconds = {}, {}
        for run, state in runs.items():
            began = time.perf_counter()
            losses[run] = step(state, excerpts, config, update, impl[run])
            seconds[run] = time.perf_counter() - began
        rows.append({"update": update + 1, "loss": losses, "seconds": seconds,
                     "fast_vs_textbook": distance(runs["fast"][0], runs["textbook"][0]),
                     "fast_vs_perturbed": distance(runs["fast"][0], runs["perturbed"][0])})
        print(f"  follow {update + 1}: distance fast-textbook {rows[-1]['fast_vs_textbook']:.2e}, "
              f"fast-perturbed {rows[-1]['fast_vs_perturbed']:.2e}; seconds per update: fast "
              f"{seconds['fast']:.2f}, textbook {seconds['textbook']:.2f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, metavar="DIR", help="corpus in the Jamendo layout")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--updates", type=int, default=3000, help="length of the fast trajectory")
    parser.add_argument("--every", type=int, default=500, help="updates between gradient checks")
    parser.add_argument("--follow", type=int, default=30, help="updates run three ways from the first and last state")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--json", metavar="FILE", help="write all figures here")
    args = parser.parse_args(argv)

    config, _, _, excerpts, params = svd_plain_training(args.data, args.train_split, args.seed, args.updates)
    state = (params, optim.init_velocity(params), {})
    snapshots, losses, started = {0: (cast(params, np.float32), cast(state[1], np.float32))}, [], time.time()
    for update in range(args.updates):
        losses.append(step(state, excerpts, config, update, "fast"))
        if (update + 1) % args.every == 0 or update + 1 == args.updates:
            snapshots[update + 1] = (cast(state[0], np.float32), cast(state[1], np.float32))
            print(f"update {update + 1}: loss {np.mean(losses[-args.every:]):.4f}, "
                  f"{(update + 1) / (time.time() - started):.2f} updates/s", flush=True)

    checks = []
    for at, (snap_params, _) in snapshots.items():
        x, targets = excerpts.batch(at)
        truth = cast(gradients(cast(snap_params, np.float64), x, targets, args.seed, at, "reference"), np.float64)
        row = {"update": at,
               "fast_float32": relative_error(gradients(snap_params, x, targets, args.seed, at, "fast"), truth),
               "textbook_float32": relative_error(gradients(snap_params, x, targets, args.seed, at, "reference"),
                                                  truth),
               "fast_float64": relative_error(gradients(cast(snap_params, np.float64), x, targets, args.seed, at,
                                                        "fast"), truth),
               "weight_norm": float(np.sqrt(sum(np.sum(v.astype(np.float64) ** 2) for v in snap_params.values())))}
        checks.append(row)
        print(f"gradient at update {at}: relative error fast float32 {row['fast_float32']:.2e}, textbook float32 "
              f"{row['textbook_float32']:.2e}, fast float64 {row['fast_float64']:.2e} (weight norm "
              f"{row['weight_norm']:.2f})", flush=True)

    followed = {}
    for at in (0, args.updates):
        print(f"following {args.follow} updates from update {at}", flush=True)
        followed[at] = follow(snapshots[at], excerpts, config, at, args.follow)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"args": vars(args), "losses": losses, "checks": checks,
                                                       "followed": followed}) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
