"""The paper's network in PyTorch, timed by `run.py bench` for comparison only.

PyTorch is never a dependency of svd: this module is imported by svd/bench/
only when `torch` is installed, and only to put a yardstick next to svd's own
training speed in the same run (same machine, same moment, same batch). The
network is the one of svd/network.py (Sec. 3.2) in PyTorch's channels-first
layout, trained with PyTorch's own SGD with Nesterov momentum 0.95 on
cross-entropy with 50% dropout before each dense layer.

On a GPU, cuDNN's convolutions may use TF32 (10-bit mantissa products) by
default; `updates_per_s(..., tf32=False)` switches that off for the float32
comparison, and tf32=True measures the TF32 speed separately.

PyTorch frees its activation buffers after every update; with glibc's default
malloc settings big blocks go back to the system and are page-faulted in anew
on the next update, which halves PyTorch's CPU speed on the 2-core machine
(BENCHMARKS.md). svd/bench/ therefore runs this module in its own process
(`python -m svd.bench.pytorch`) with bench.PYTORCH_MALLOC in the environment, which
keeps freed memory in the process: PyTorch at its best, and svd's own figures
untouched by the setting.
"""
import argparse
import statistics
import time

import numpy as np
import torch

from svd.layers import LEAKINESS
from svd.excerpt import INPUT_SHAPE


def network():
    """torch.nn.Module: conv 64-32, pool, conv 128-64, pool, dense 256-64-1 with leaky ReLUs and dropout."""
    nn = torch.nn

    def leaky():
        return nn.LeakyReLU(LEAKINESS)
    return nn.Sequential(
        nn.Conv2d(1, 64, 3), leaky(), nn.Conv2d(64, 32, 3), leaky(), nn.MaxPool2d(3),
        nn.Conv2d(32, 128, 3), leaky(), nn.Conv2d(128, 64, 3), leaky(), nn.MaxPool2d(3),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(64 * 11 * 7, 256), leaky(),
        nn.Dropout(0.5), nn.Linear(256, 64), leaky(), nn.Dropout(0.5), nn.Linear(64, 1))


def updates_per_s(repeats, batch=32, gpu=False, tf32=False):
    """PyTorch training updates per second at `batch` (median of `repeats` after 3 warm-up updates).

    gpu: run on CUDA device 0 (cuDNN autotuning on); tf32: allow TF32 in
    cuDNN convolutions and cuBLAS products (only meaningful on a GPU).
    Each timed update ends by reading its loss, which waits for the device.
    """
    device = torch.device("cuda" if gpu else "cpu")
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    net = network().to(device).train()
    optimiser = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.95, nesterov=True)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((batch, 1) + INPUT_SHAPE, dtype=np.float32)).to(device)
    targets = torch.from_numpy(rng.integers(0, 2, batch).astype(np.float32)).to(device)

    def update():
        optimiser.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], targets)
        loss.backward()
        optimiser.step()
        loss.item()
    for _ in range(3):
        update()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        update()
        durations.append(time.perf_counter() - started)
    return 1 / statistics.median(durations)


def main(argv=None):
    """python -m svd.bench.pytorch [--repeats N] [--gpu] [--tf32]: print PyTorch's version and updates per second."""
    parser = argparse.ArgumentParser(description="PyTorch training updates per second of the paper's network.")
    parser.add_argument("--repeats", type=int, default=10, help="timed updates (median reported)")
    parser.add_argument("--gpu", action="store_true", help="on CUDA device 0")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in cuDNN and cuBLAS (GPU only)")
    args = parser.parse_args(argv)
    print(torch.__version__, updates_per_s(args.repeats, gpu=args.gpu, tf32=args.tf32))


if __name__ == "__main__":
    main()
