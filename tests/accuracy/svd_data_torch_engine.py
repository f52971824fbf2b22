"""Crossover instrument 1: svd's data pipeline drives the reference's PyTorch engine.

    python tests/accuracy/svd_data_torch_engine.py --data DIR --updates 3000 --seed 1 --out m.npz

Everything before the network comes from svd: its features and normalisation
(svd/dataset.py, svd/normalise.py), its training positions, batch order and
targets (svd/batches.py TrainingExcerpts, the same batch k as `run.py train
--seed S`), its initial weights (`--init svd`, the default; `--init torch`:
PyTorch's own initialisation under torch.manual_seed(S)) and its dropout masks
(drawn from svd's per-update dropout stream in network.forward's order). The
engine is the reference's: torch_reference.Net's layers, PyTorch's float32
convolutions, its BCEWithLogits loss and torch.optim.SGD with Nesterov momentum
(the reference's schedule). The result is an svd model file, so `run.py eval`,
`run.py detect` and score.py treat it exactly like svd's own.

If this model generalises like the reference, the fault is in svd's engine;
if like svd, in svd's pipeline (compare with reference_data_svd_engine.py, the
other half). Needs PyTorch and ../shared/tools/torch_reference.py.
"""
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from reference_eval import import_torch_reference, svd_params, torch_state  # noqa: E402
from training_setup import svd_plain_training, training_parser  # noqa: E402

from svd import backend, layers, network, optim  # noqa: E402
from svd import model_file  # noqa: E402
from svd.batches import STREAM_DROPOUT, stream_rng  # noqa: E402

POOLED = (11, 7, 64)  # svd's pool2 output (time, freq, channels), flattened channels-last


def dropout_masks(seed, update, batch):
    """svd's three dropout keep-masks of update `update`, as float32 tensors in PyTorch's layout.

    Drawn exactly as network.forward draws them (dense1, dense2, dense3 inputs, one
    generator per update); the first is reordered from svd's channels-last flattening
    (t, f, c) to PyTorch's (c, t, f).
    """
    rng = stream_rng(seed, STREAM_DROPOUT, update)
    first = layers.dropout_mask(rng, (batch, int(np.prod(POOLED))))
    first = first.reshape(batch, *POOLED).transpose(0, 3, 1, 2).reshape(batch, -1)
    rest = [layers.dropout_mask(rng, (batch, n)) for n in (256, 64)]
    return [torch.from_numpy(np.ascontiguousarray(m, np.float32)) for m in [first, *rest]]


def forward(net, x, masks):
    """torch_reference.Net's forward with the given dropout masks: x (B, 115, 80) -> logits (B,)."""
    a = lambda v: F.leaky_relu(v, 0.01)  # noqa: E731
    h = a(net.conv2(a(net.conv1(x[:, None]))))
    h = F.max_pool2d(h, 3)
    h = a(net.conv4(a(net.conv3(h))))
    h = torch.flatten(F.max_pool2d(h, 3), 1)
    scale = 1 / (1 - network.DROPOUT)
    h = a(net.fc1(h * masks[0] * scale))
    h = a(net.fc2(h * masks[1] * scale))
    return net.fc3(h * masks[2] * scale)[:, 0]


def first_batch_check(net, params, excerpts, seed):
    """Loss of batch 0 by the PyTorch engine and by svd's: equal within float32 rounding (layouts, masks)."""
    x, targets = excerpts.batch(0)
    with torch.no_grad():
        ours = F.binary_cross_entropy_with_logits(
            forward(net, torch.from_numpy(x), dropout_masks(seed, 0, len(x))), torch.from_numpy(targets))
    logits, _ = network.forward(params, x, rng=stream_rng(seed, STREAM_DROPOUT, 0))
    svds, _ = backend.ops(logits).sigmoid_cross_entropy_forward(logits, targets)
    print(f"batch 0 loss: PyTorch engine {float(ours):.6f}, svd engine {float(svds):.6f}", flush=True)
    if abs(float(ours) - float(svds)) > 1e-4:
        sys.exit("the two engines disagree on the first batch: the layouts or masks are wrong")


def main(argv=None):
    parser = training_parser(__doc__.splitlines()[0])
    parser.add_argument("--init", choices=("svd", "torch"), default="svd", help="initial weights (default: svd's)")
    parser.add_argument("--reference", metavar="PATH", help="torch_reference.py (default: ../shared/tools/)")
    args = parser.parse_args(argv)
    reference = import_torch_reference(args.reference)
    torch.set_num_threads(2)

    config, mean, std, excerpts, params = svd_plain_training(args.data, args.train_split, args.seed, args.updates)
    torch.manual_seed(args.seed)
    net = reference.Net()
    if args.init == "svd":
        net.load_state_dict(torch_state(params))
    else:
        params = svd_params(net.state_dict())
    first_batch_check(net, params, excerpts, args.seed)

    opt = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True)
    net.train()
    started, losses = time.time(), []
    for update in range(args.updates):
        for group in opt.param_groups:
            group["lr"] = optim.learning_rate(update, config.lr, config.lr_decay, config.lr_every)
        x, targets = excerpts.batch(update)
        logits = forward(net, torch.from_numpy(x), dropout_masks(args.seed, update, len(x)))
        loss = F.binary_cross_entropy_with_logits(logits, torch.from_numpy(targets))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (update + 1) % 200 == 0 or update + 1 == args.updates:
            print(f"update {update + 1}/{args.updates} loss {np.mean(losses[-200:]):.4f} "
                  f"{(update + 1) / (time.time() - started):.2f} updates/s", flush=True)
    state = {name: value.detach() for name, value in net.state_dict().items()}
    run_config = {"train": {**vars(args), "reference": None}, "data": str(pathlib.Path(args.data).resolve()),
                  "engine": "torch (tests/accuracy/svd_data_torch_engine.py)", "losses": losses[::10]}
    model_file.save(args.out, model_file.Model(svd_params(state), mean, std, run_config))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
