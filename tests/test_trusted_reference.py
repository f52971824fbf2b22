"""The paper's network trained for 10 updates at batch 32, against numbers recorded once from PyTorch.

In the spirit of llm.c's test against a trusted reference: the numbers below were
produced on 2026-11-21 with PyTorch 2.13.0 (CPU, float64) by an independent
implementation of the same network (torch.nn.functional conv2d / max_pool2d /
linear / leaky_relu(0.01), binary_cross_entropy_with_logits, torch.optim.SGD with
nesterov=True, lr 0.01, momentum 0.95), fed the inputs this test builds:
excerpts x ~ N(0, 1) from default_rng([2015, 1]), then targets 0.98 with probability
0.6 else 0.02 from the same generator; initial weights network.init_params(
default_rng([2015, 0])), converted to PyTorch's layouts; the dropout keep-masks of
update k drawn from default_rng([2015, 2, k]) as random(float32) >= 0.5 for the
inputs of dense1 (B, 4928), dense2 (B, 256), dense3 (B, 64) in that order (dense1's
permuted to PyTorch's channels-first flattening). PyTorch is not needed to run it.

Tolerances: in float64 the two implementations differ only in the order of their
sums: all 10 updates agree to 1e-9 relative. In float32 (training precision) the
first loss agrees to 1e-7, but the difference grows about tenfold per update once
a max-pool window whose two largest values lie within float32 rounding picks the
other one (measured: 1e-7 up to update 4, 2e-6 at 5, 2e-4 at 7, gradient norms
1-2% apart at update 9). When the first flip comes depends on the order of the
float32 sums, so on the BLAS kernels of the machine: with svd/fast's NumPy loops on an
AMD EPYC (2026-12-06) a window already flips at update 0 (dense1.w's gradient norm 1.5e-5
apart), and its compiled Winograd convolutions (the default where a C compiler exists)
round about ten times more (BENCHMARKS.md; measured: gradient norms 3e-5 apart at update
0, losses 1e-5 at update 2, 2e-4 at 3). So both float32 paths are held to 1e-4 over the
first 3 updates: a real fault (a wrong tap, a missing term) is off by far more from the
first update on, and the float64 row pins the arithmetic to 1e-9.
"""

import numpy as np
import pytest

from svd import backend, excerpt, network, optim
from svd.fast import build

SEED, BATCH = 2015, 32
LOSSES = [0.70413465907, 0.705503198845, 0.677372227808, 0.668484814856, 0.70551104518, 0.676767743902,
          0.697264789074, 0.759136593091, 0.701361531613, 0.673862300885]
GRAD_NORMS = {  # update -> parameter -> Frobenius norm of its gradient
    0: {"conv1.w": 0.140171999535, "conv2.w": 0.43906263463, "conv4.b": 0.107382274576,
        "dense1.w": 2.10090078587, "dense3.w": 0.250604713211},
    9: {"conv1.w": 0.0954923563409, "conv2.w": 0.305807014708, "conv4.b": 0.0843095363364,
        "dense1.w": 1.67932091183, "dense3.w": 0.185182321604},
}


@pytest.mark.parametrize("dtype, rtol, updates, compiled",
                         [(np.float64, 1e-9, 10, False), (np.float32, 1e-4, 3, False),
                          (np.float32, 1e-4, 3, True)],
                         ids=["float64", "float32", "float32-winograd"])
def test_updates_match_the_recorded_pytorch_numbers(dtype, rtol, updates, compiled):
    if compiled and build.library() is None:
        pytest.skip(build.unavailable_reason())
    build.set_enabled(compiled)
    try:
        _check_updates(dtype, rtol, updates)
    finally:
        build.set_enabled(True)


def _check_updates(dtype, rtol, updates):
    rng = np.random.default_rng([SEED, 1])
    x = rng.standard_normal((BATCH,) + excerpt.INPUT_SHAPE).astype(dtype)
    targets = np.where(rng.random(BATCH) < 0.6, 0.98, 0.02).astype(dtype)
    params = network.init_params(np.random.default_rng([SEED, 0]), dtype=dtype)
    nn = backend.ops(params["conv1.w"])
    velocity = nn.init_velocity(params)
    workspace = {}
    for update in range(updates):
        logits, cache = network.forward(params, x, rng=np.random.default_rng([SEED, 2, update]), workspace=workspace)
        loss, loss_cache = nn.sigmoid_cross_entropy_forward(logits, targets)
        grads = network.backward(params, cache, nn.sigmoid_cross_entropy_backward(loss_cache))
        assert float(loss) == pytest.approx(LOSSES[update], rel=rtol), f"loss of update {update}"
        for name, norm in GRAD_NORMS.get(update, {}).items():
            assert float(np.linalg.norm(grads[name])) == pytest.approx(norm, rel=rtol), (update, name)
        nn.nesterov_momentum(params, grads, velocity, optim.learning_rate(update), 0.95)
