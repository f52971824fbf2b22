"""Where a training update's time goes on the GPU: every operation, and the pieces of each convolution.

    python3 tests/gpu/profile_update.py [--json FILE] [--updates N] [--batch B]
    python3 tests/gpu/profile_update.py --emulate --updates 1 --batch 1    # no GPU: the logic only

One training update (svd/train.py update_step: forward, loss, backward, Nesterov
step) is run N times after a warm-up, with every operation of the dispatch
(svd/backend.py) and, inside the convolutions, every piece (im2col, bias +
rectifier, rectifier gradient, bias gradient, col2im) wrapped by a timer that takes

- device time: CUDA events recorded on the current stream before and after
  the call; the milliseconds between them are what the stream spent on the
  call's work (including any time it sat idle waiting for the host to launch
  the next kernel, which is why host time is given too);
- host time: how long the Python call took to return. Kernels run
  asynchronously, so this is the launch cost; where host time per update
  exceeds device time, the update is launch-bound.

A convolution's matrix products are its time minus its timed pieces ("rest:
GEMMs"); then conv2's pieces, the ones that dominate, are timed on their own at
the paper's shapes (batch B): im2col, the forward GEMM, the dw GEMM, the dcols
GEMM, col2im, and three ways to sum dz over rows for the bias gradient (CuPy's
axis-0 sum, ones @ dz, a two-level sum). Medians throughout; about 30 s on a GPU.

--emulate runs the same logic on the CPU through the kernel emulator of
tests/kernel_emulation (host clocks only), for tests/test_profile_update.py.
Prints a table; --json writes every figure.
"""
import argparse
import json
import math
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from svd import backend, bench, device, excerpt, network, train  # noqa: E402
from svd.cuda import activation, conv  # noqa: E402
from smoke import emulated_device  # noqa: E402  (tests/gpu, beside this file)

# The pieces of a convolution: the functions that svd/cuda/conv.py conv2d_forward / conv2d_backward
# call, each with the module it lives in (the convolution calls each through its module, so a timer
# set there with setattr is what runs).
PIECES = {"im2col": conv, "bias_leaky_forward": activation, "leaky_backward": activation,
          "column_sums": conv, "col2im": conv}


class Timer:
    """Device time (CUDA events) and host time of calls, read after the work is done."""

    def __init__(self, xp):
        self.cupy = None if xp is np else xp
        self.pending = []  # (label, start event, stop event, host seconds)

    def time(self, label, function, *args, **kwargs):
        """function(*args, **kwargs), timed under `label`."""
        start = stop = None
        if self.cupy is not None:
            start, stop = self.cupy.cuda.Event(), self.cupy.cuda.Event()
            start.record()
        began = time.perf_counter()
        result = function(*args, **kwargs)
        host = time.perf_counter() - began
        if stop is not None:
            stop.record()
        self.pending.append((label, start, stop, host))
        return result

    def collect(self):
        """{label: (device ms, host ms)} of the calls since the last collect, summed per label
        (waits for the device; without one, device time is host time)."""
        if self.cupy is not None:
            self.cupy.cuda.get_current_stream().synchronize()
        totals = {}
        for label, start, stop, host in self.pending:
            device_ms = 1e3 * host if start is None else self.cupy.cuda.get_elapsed_time(start, stop)
            old = totals.get(label, (0.0, 0.0))
            totals[label] = (old[0] + device_ms, old[1] + 1e3 * host)
        self.pending = []
        return totals


def _layer_namer():
    """label(op) -> "conv2 forward" etc.: the layer of the k-th call of op in one update
    (svd/bench/'s table of network.py's call order); reset() starts a new update."""
    seen = {}

    def label(op):
        k = seen[op] = seen.get(op, -1) + 1
        if op in bench._LAYER_OF_CALL:
            layer = bench._LAYER_OF_CALL[op][k]
        elif op.startswith("sigmoid_cross_entropy"):
            layer = "loss"
        else:
            return "nesterov step"
        return f"{layer} {'backward' if op.endswith('_backward') else 'forward'}"
    label.reset = seen.clear
    return label


def profile_updates(chosen, updates, batch, warmup=1):
    """Median device and host milliseconds per update of every operation and convolution piece.

    Returns {"update": (device ms, host ms), "ops": {label: (device, host)},
    "pieces": {label: (device, host)}}, labels like "conv2 backward" and
    "conv2 backward: col2im"; each convolution also gets "<layer> <dir>: rest (GEMMs)".
    """
    timer = Timer(chosen.xp)
    label, current = _layer_namer(), []

    def wrap_op(op, function):
        def timed(*args, **kwargs):
            name = label(op)
            current.append(name)
            try:
                return timer.time(name, function, *args, **kwargs)
            finally:
                current.pop()
        return timed

    originals = {piece: getattr(module, piece) for piece, module in PIECES.items()}

    def wrap_piece(piece):
        def timed(*args, **kwargs):
            if not current:  # called outside an operation (not during an update)
                return originals[piece](*args, **kwargs)
            return timer.time(f"{current[-1]}: {piece}", originals[piece], *args, **kwargs)
        return timed

    rng = np.random.default_rng(0)
    params = chosen.put_all(network.init_params(rng))
    velocity = chosen.put_all(network.init_params(rng))  # any numbers: the step's cost does not depend on them
    x = chosen.put(rng.standard_normal((batch,) + excerpt.INPUT_SHAPE, dtype=np.float32))
    targets = chosen.put((rng.random(batch) < 0.5).astype(np.float32))
    per_update = []
    try:
        for piece, module in PIECES.items():
            setattr(module, piece, wrap_piece(piece))
        with chosen.active():
            previous = backend.use(backend.wrapped(backend.CUDA, wrap_op))  # every operation timed
            try:
                for k in range(warmup + updates):
                    label.reset()
                    timer.time("update", train.update_step, params, velocity, x, targets,
                               np.random.default_rng(k), 1e-4, 0.95, {})
                    per_update.append(timer.collect())
            finally:
                backend.use(previous)
    finally:
        for piece, function in originals.items():
            setattr(PIECES[piece], piece, function)
    measured = per_update[warmup:]
    medians = {key: tuple(statistics.median(update[key][i] for update in measured) for i in (0, 1))
               for key in measured[0]}
    result = {"update": medians.pop("update"), "ops": {}, "pieces": {}}
    for key, value in medians.items():
        result["pieces" if ": " in key else "ops"][key] = value
    for op, (device_ms, host_ms) in result["ops"].items():
        if op.startswith("conv"):
            inner = [v for k, v in result["pieces"].items() if k.startswith(op + ": ")]
            result["pieces"][f"{op}: rest (GEMMs)"] = (device_ms - sum(v[0] for v in inner),
                                                       host_ms - sum(v[1] for v in inner))
    return result


def median_ms(chosen, work, repeats):
    """Median milliseconds of work() on `chosen` (CUDA events on a GPU: svd/bench/)."""
    return 1e3 * bench.median_seconds(work, repeats, device=chosen)


def conv2_pieces(chosen, batch, repeats):
    """conv2's pieces on their own at the paper's shape, and three bias-gradient sums (conv1's and
    conv2's dz). Returns {name: median ms}."""
    xp, rng = chosen.xp, np.random.default_rng(1)
    time_in, freq_in = excerpt.INPUT_SHAPE[0] - 2, excerpt.INPUT_SHAPE[1] - 2  # conv2's input: conv1's output
    kernel_time, kernel_freq, c_in, c_out = network.PARAM_SHAPES["conv2.w"]
    rows = batch * (time_in - kernel_time + 1) * (freq_in - kernel_freq + 1)
    x = chosen.put(rng.standard_normal((batch, time_in, freq_in, c_in), dtype=np.float32))
    w_col = chosen.put(rng.standard_normal((kernel_time * kernel_freq * c_in, c_out), dtype=np.float32))
    dz = chosen.put(rng.standard_normal((rows, c_out), dtype=np.float32))
    cols = conv.im2col(x, (kernel_time, kernel_freq))
    dcols = dz @ w_col.T
    figures = {
        "conv2 im2col": median_ms(chosen, lambda: conv.im2col(x, (kernel_time, kernel_freq)), repeats),
        "conv2 GEMM forward (cols @ w)": median_ms(chosen, lambda: xp.matmul(cols, w_col), repeats),
        "conv2 GEMM dw (cols^T @ dz)": median_ms(chosen, lambda: cols.T @ dz, repeats),
        "conv2 GEMM dcols (dz @ w^T)": median_ms(chosen, lambda: dz @ w_col.T, repeats),
        "conv2 col2im": median_ms(chosen, lambda: conv.col2im(dcols, x.shape, (kernel_time, kernel_freq)),
                                  repeats),
    }
    conv1_rows = batch * time_in * freq_in
    conv1_dz = chosen.put(rng.standard_normal((conv1_rows, network.PARAM_SHAPES["conv1.w"][3]), dtype=np.float32))
    for layer, a in (("conv1", conv1_dz), ("conv2", dz)):
        blocks = math.gcd(a.shape[0], 256)  # the two-level sum needs equal parts
        figures[f"{layer} bias grad: dz.sum(axis=0)"] = median_ms(chosen, lambda: a.sum(axis=0), repeats)
        figures[f"{layer} bias grad: ones @ dz"] = median_ms(chosen, lambda: conv.column_sums(a), repeats)
        figures[f"{layer} bias grad: two-level sum ({blocks} parts)"] = median_ms(
            chosen, lambda: a.reshape(blocks, -1, a.shape[1]).sum(axis=1).sum(axis=0), repeats)
    return figures


def run(chosen, updates, batch, repeats):
    """Every figure of this script as a JSON-ready dict."""
    profile = profile_updates(chosen, updates, batch)
    as_dict = {key: {"device_ms": round(v[0], 4), "host_ms": round(v[1], 4)} for key, v in
               [("update", profile["update"])] + list(profile["ops"].items()) + list(profile["pieces"].items())}
    return {"device": chosen.name, "batch": batch, "updates": updates, "date": time.strftime("%Y-%m-%d %H:%M"),
            "per_update": as_dict, "conv_pieces_alone_ms": {k: round(v, 4) for k, v in
                                                             conv2_pieces(chosen, batch, repeats).items()}}


def print_table(figures):
    """The figures as a table: device and host ms per update, then conv2's pieces alone."""
    print(f"{figures['device']}, batch {figures['batch']}, median of {figures['updates']} updates")
    print(f"{'per update':48} {'device ms':>10} {'host ms':>10}")
    for key, value in figures["per_update"].items():
        print(f"{key:48} {value['device_ms']:10.3f} {value['host_ms']:10.3f}")
    print(f"{'alone, at the paper shapes':48} {'ms':>10}")
    for key, value in figures["conv_pieces_alone_ms"].items():
        print(f"{key:48} {value:10.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--updates", type=int, default=20, help="timed updates (default 20)")
    parser.add_argument("--batch", type=int, default=32, help="excerpts per update (default 32)")
    parser.add_argument("--repeats", type=int, default=20, help="runs of each piece alone (default 20)")
    parser.add_argument("--emulate", action="store_true", help="no GPU: the kernel emulator, host clocks")
    args = parser.parse_args(argv)
    if args.emulate:
        chosen = emulated_device()
        if chosen is None:
            print("profile_update: g++ is not installed, the kernel emulation cannot be built", file=sys.stderr)
            return 2
    else:
        missing = device.why_no_gpu()
        if missing is not None:
            print(f"profile_update: {missing}", file=sys.stderr)
            return 2
        chosen = device.select("gpu")
    figures = run(chosen, args.updates, args.batch, args.repeats)
    print_table(figures)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
