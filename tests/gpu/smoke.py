"""Does the CUDA path work at all? The first step of tests/gpu/run.sh, which stops everything if it fails.

    python3 tests/gpu/smoke.py [--batch 32]          # on a GPU machine
    python3 tests/gpu/smoke.py --emulate --batch 2   # no GPU: the kernel emulator (run.sh --dry-run)

Compiles every kernel family of kernels/*.cu (NVRTC through CuPy), then runs
3 training updates (svd/train.py update_step, no dropout: its masks come from
another generator on the GPU) from the same weights on the same batches, on
the GPU and on the CPU. Passes when every loss is finite, the GPU's losses
equal the CPU's within 1e-4 relative (float32 sums in another order differ by
~1e-6), and every weight's change over the 3 updates agrees within 1e-3 of
its largest change. Exit code 0: pass; 1: a failure, said in one line; 2: no GPU.
"""
import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from svd import backend, device, excerpt, network, train  # noqa: E402
from svd.cuda import launch  # noqa: E402

UPDATES = 3


def updates(chosen, params, batches):
    """Losses (floats) and the final weights (host arrays) of UPDATES updates on `chosen`."""
    params = chosen.put_all({name: p.copy() for name, p in params.items()})  # a copy: NumPy "devices" share arrays
    velocity = chosen.put_all({name: np.zeros_like(p) for name, p in params.items()})
    losses = []
    with chosen.active():
        for x, targets in batches:
            started = time.perf_counter()
            losses.append(float(train.update_step(params, velocity, chosen.put(x), chosen.put(targets), None,
                                                  0.01, 0.95)))
            print(f"{chosen.name}: update {len(losses)} loss {losses[-1]:.6f} "
                  f"({time.perf_counter() - started:.3f} s with the read-back)")
    return losses, chosen.get_all(params)


def compare(gpu, cpu, start):
    """None if the two runs agree (module docstring), else what differs."""
    (gpu_losses, gpu_params), (cpu_losses, cpu_params) = gpu, cpu
    if not all(np.isfinite(gpu_losses)):
        return f"a GPU loss is not finite: {gpu_losses}"
    if not np.allclose(gpu_losses, cpu_losses, rtol=1e-4, atol=0):
        return f"GPU losses {gpu_losses} differ from the CPU's {cpu_losses} by more than 1e-4"
    for name, value in cpu_params.items():
        change = float(np.abs(value - start[name]).max())
        error = float(np.abs(gpu_params[name] - value).max())
        if not error <= 1e-3 * change + 1e-7:
            return f"{name} after {UPDATES} updates differs from the CPU's by {error:.3g} (its change: {change:.3g})"
    return None


def emulated_device():
    """A Device of NumPy arrays computed by the CUDA kernels compiled by g++ (tests/kernel_emulation)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from kernel_emulation import emulator
    if emulator.compiler() is None:
        return None
    library = emulator.Emulator(emulator.build(tempfile.mkdtemp(prefix="svd-emulation-")))
    launch.run_kernel = library.run_kernel  # every launcher runs its kernels through it
    return device.Device("emulated gpu", np, "cuda")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32, help="excerpts per update (default 32)")
    parser.add_argument("--emulate", action="store_true", help="no GPU: the kernel emulator on the CPU")
    args = parser.parse_args(argv)
    if args.emulate:
        chosen = emulated_device()
        if chosen is None:
            print("smoke: g++ is not installed: no kernel emulation")
            return 2
    else:
        missing = device.why_no_gpu()
        if missing is not None:
            print(f"smoke: {missing}")
            return 2
        chosen = device.select("gpu")
        for family in launch.FAMILIES:
            started = time.perf_counter()
            for name in launch.kernel_signatures(family):
                launch.raw_kernel(family, name)  # NVRTC compiles the family on first use
            print(f"compiled kernels/{family}.cu in {time.perf_counter() - started:.2f} s")
    rng = np.random.default_rng(24)
    start = network.init_params(rng)
    batches = [(rng.standard_normal((args.batch,) + excerpt.INPUT_SHAPE, dtype=np.float32),
                np.where(rng.random(args.batch) < 0.5, 0.02, 0.98).astype(np.float32)) for _ in range(UPDATES)]
    on_device = updates(chosen, start, batches)
    previous = backend.use(None)
    try:
        on_cpu = updates(device.CPU, start, batches)
    finally:
        backend.use(previous)
    problem = compare(on_device, on_cpu, start)
    if problem is not None:
        print(f"smoke: FAILED: {problem}")
        return 1
    print(f"smoke: passed on {chosen.name}: {UPDATES} updates at batch {args.batch} equal the CPU's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
