"""The CUDA kernels of kernels/*.cu, compiled by g++ and run on the CPU, against NumPy.

Without a GPU this is what catches indexing bugs: kernels/emulate.h turns every
kernel into serial loops over an emulated grid (every block, every thread, the
same grid-stride loop as on the GPU), tests/kernel_emulation/emulator.py builds
them into a shared library, and every launcher of svd/cuda/ runs unchanged
on NumPy arrays with svd.cuda.launch.run_kernel pointed at that library. Each check
of tests/kernel_emulation/checks.py (tolerances explained there) runs with
three seeds (random shapes) and three grids: the launcher's own, 2 blocks of
32 threads (each thread takes many indices: the grid-stride step is tested)
and a single thread. Every output array starts as NaN (checks.poisoned_empty),
so an element a kernel forgets to write fails.

A table of bad calls checks that each launcher refuses wrong shapes, lengths
and out-of-range indices with a ValueError naming itself and the argument,
before launching anything.

Skipped if g++ is not installed. About 10 s on 2 cores (build ~3 s).
"""
import importlib
import inspect
import pathlib
import re
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from kernel_emulation import checks, emulator  # noqa: E402

from svd import cuda, excerpt  # noqa: E402
from svd.util import arrays  # noqa: E402

GRIDS = {"launcher-grid": None, "2x32-threads": (2, 32), "1-thread": (1, 1)}
# The launcher module of each kernel family: svd/cuda/<family>.py for kernels/<family>.cu.
FAMILY_MODULES = {family: importlib.import_module(f"svd.cuda.{family}") for family in cuda.launch.FAMILIES}
PACKAGE_DIR = pathlib.Path(cuda.__file__).resolve().parent


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    if emulator.compiler() is None:
        pytest.skip("g++ is not installed: the CPU emulation of the CUDA kernels cannot be built")
    return emulator.Emulator(emulator.build(tmp_path_factory.mktemp("kernel_emulation")))


@pytest.fixture
def emulated(library, monkeypatch):
    """svd.cuda with its kernels running in the emulation library, and its
    output arrays poisoned (NaN, or 0xFF for uint8) before the kernels write them."""
    monkeypatch.setattr(cuda.launch, "run_kernel", library.run_kernel)
    monkeypatch.setattr(cuda.launch, "empty", checks.poisoned_empty)
    library.grid_override = None
    library.launches.clear()
    yield library
    library.grid_override = None


def _rng(check, seed):
    return np.random.default_rng([zlib.crc32(check.__name__.encode()), seed])


@pytest.mark.parametrize("grid", GRIDS.values(), ids=GRIDS.keys())
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("check", checks.CHECKS, ids=lambda c: c.__name__[len("check_"):])
def test_kernel_matches_numpy_twin(emulated, check, seed, grid):
    emulated.grid_override = grid
    check(np, _rng(check, seed))


def test_every_kernel_is_checked(emulated):
    """Each kernel of every kernels/*.cu is launched by some check."""
    for check in checks.CHECKS:
        check(np, _rng(check, 0))
    launched = {(family, name) for family, name, _, _ in emulated.launches}
    declared = {(family, name) for family in cuda.launch.FAMILIES for name in cuda.launch.kernel_signatures(family)}
    assert declared - launched == set()


def test_launches_use_launch_config(emulated):
    """The grid actually launched is launch_config's: one thread per index up to MAX_BLOCKS."""
    x = np.zeros(cuda.launch.THREADS_PER_BLOCK * cuda.launch.MAX_BLOCKS * 2 + 5, np.float32)
    cuda.leaky_relu_forward(x)
    cuda.leaky_relu_forward(x[:300])
    assert [launch[2:] for launch in emulated.launches] == [(cuda.launch.MAX_BLOCKS, 256), (2, 256)]


@pytest.mark.parametrize("n_rows, n_cols", [(282_048, 9), (93_636, 576), (25_760, 288), (22_176, 1152),
                                            (5, 1), (3, 2500), (10 ** 6, 33)])
def test_launch_config_rows_covers_the_matrix(n_rows, n_cols):
    """A 2-D grid of at most 1024 threads per block, whole warps along a row, about
    THREADS_PER_BLOCK threads per block, enough blocks for every column, rows up to
    MAX_BLOCKS block rows (the row loop strides over the rest); the paper's four im2col
    shapes at batch 32 and some odd ones."""
    (blocks_x, blocks_y), (threads_x, threads_y) = cuda.launch.launch_config_rows(n_rows, n_cols)
    assert threads_x % 32 == 0 and threads_x * threads_y <= cuda.launch.MAX_THREADS_PER_BLOCK
    assert blocks_x * threads_x >= n_cols > (blocks_x * threads_x) - 32 * blocks_x  # less than a warp idle per block
    assert threads_y == max(1, cuda.launch.THREADS_PER_BLOCK // threads_x)
    assert blocks_y == min(-(-n_rows // threads_y), cuda.launch.MAX_BLOCKS)


def test_im2col_runs_on_a_2d_grid(emulated):
    """im2col is launched with launch_config_rows's 2-D grid, and writes every element of cols."""
    x = np.random.default_rng(3).standard_normal((2, 7, 6, 5)).astype(np.float32)
    cols = cuda.conv.im2col(x, (3, 2))
    (_, name, blocks, threads), = emulated.launches
    assert name == "im2col" and (blocks, threads) == cuda.launch.launch_config_rows(*cols.shape)
    assert not np.isnan(cols).any()


def test_conv_backward_reuses_the_forwards_columns(emulated):
    """conv2d_backward runs no im2col: dw comes from the columns the forward cached."""
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 6, 6, 3), np.float32), rng.standard_normal((3, 3, 3, 4), np.float32), _f(4)
    y, cache = cuda.conv2d_forward(x, w, b, leaky=True)
    emulated.launches.clear()
    cuda.conv2d_backward(np.ones_like(y), cache)
    assert "im2col" not in {name for _, name, _, _ in emulated.launches}


def test_column_sums_equal_the_sum_over_rows():
    """ones @ a against a float64 sum: float32 sums of 10^4 terms in another order (1e-5, see checks.py)."""
    a = np.random.default_rng(5).standard_normal((10_000, 7)).astype(np.float32)
    checks.assert_close(cuda.conv.column_sums(a), a.astype(np.float64).sum(axis=0), checks.REORDERED_SUM, "column_sums")


def test_the_optimiser_step_is_one_launch(emulated):
    """All 14 parameters of the network take one nesterov_update_tensors launch."""
    from svd import network, optim
    params = network.init_params(np.random.default_rng(6))
    grads = {name: np.ones_like(p) for name, p in params.items()}
    velocity = optim.init_velocity(params)
    cuda.nesterov_momentum(params, grads, velocity, 0.01)
    assert [name for _, name, _, _ in emulated.launches] == ["nesterov_update_tensors"]


def test_kernel_names_are_unique():
    """One emulation library holds every family, so kernel names must not repeat."""
    names = [name for family in cuda.launch.FAMILIES for name in cuda.launch.kernel_signatures(family)]
    assert len(names) == len(set(names))


def _header_table(family):
    """The table of kernels/<family>.cu's header comment: its lines from "kernel  launched by" to the
    first blank comment line."""
    text = (cuda.launch.KERNEL_DIR / f"{family}.cu").read_text(encoding="utf-8")
    header = text[:text.index("*/")].splitlines()
    first = next(i for i, line in enumerate(header) if "launched by" in line)
    last = next(i for i in range(first, len(header)) if header[i].strip() == "*")
    return "\n".join(header[first:last])


@pytest.mark.parametrize("family", cuda.launch.FAMILIES)
def test_every_kernel_is_mapped_and_launched(family):
    """The header comment of kernels/<family>.cu maps each of its kernels to a launcher of
    svd/cuda/<family>.py (cuda.<family>.name), which launches it; every launcher and every
    NumPy twin (layers.x, loss.x, optim.x, augment.x, batches.x) the table names exists."""
    module = FAMILY_MODULES[family]
    table = _header_table(family)
    assert f"launched by (svd/cuda/{family}.py)" in table
    source = pathlib.Path(module.__file__).read_text(encoding="utf-8")
    for name in cuda.launch.kernel_signatures(family):
        assert re.search(rf"^ \*   {name}\s+cuda\.{family}\.\w+", table, re.M), \
            f"kernels/{family}.cu: the header comment does not map kernel {name} to a launcher"
        assert re.search(rf'launch\.kernel(_rows)?\("{family}", "{name}"', source), \
            f"svd/cuda/{family}.py launches no kernel {name}"
    for launcher in re.findall(rf"\bcuda\.{family}\.(\w+)", table):
        assert inspect.isfunction(getattr(module, launcher, None)), f"kernels/{family}.cu: no cuda.{family}.{launcher}"
    twins = re.findall(r"(?<![\w./])(layers|loss|optim|augment|batches)\.(\w+)", table)
    assert twins, f"kernels/{family}.cu names no NumPy twin"
    for twin_module, twin in twins:
        assert inspect.isfunction(getattr(importlib.import_module(f"svd.{twin_module}"), twin, None)), \
            f"kernels/{family}.cu: no {twin_module}.{twin} in svd/{twin_module}.py"


def test_launchers_call_the_helpers_through_their_modules():
    """svd/cuda/<family>.py calls launch.kernel, launch.empty, checks.check_*, arrays.array_module through
    their modules (never `from svd.cuda.launch import kernel`), and only launch.py runs kernels, so that a
    test replacing launch.run_kernel, launch.empty, checks.check_indices or arrays.array_module sees every call."""
    for family in cuda.launch.FAMILIES:
        source = (PACKAGE_DIR / f"{family}.py").read_text(encoding="utf-8")
        assert not re.search(r"^\s*from (svd\.cuda\.|\.)(launch|checks) import|^\s*from (svd)?\.arrays import",
                             source, re.M), f"svd/cuda/{family}.py imports a helper by name"
        assert not re.search(r"run_kernel|raw_kernel|raw_module", source), f"svd/cuda/{family}.py runs a kernel itself"


def test_kernel_files_are_the_families():
    assert sorted(p.stem for p in cuda.launch.KERNEL_DIR.glob("*.cu")) == sorted(cuda.launch.FAMILIES)


def test_hash_dropout_keeps_the_right_fraction(emulated):
    """The counter-based mask keeps 1 - p of the units; seeds give different masks.
    n = 200,000: the kept fraction's standard deviation is <= 0.0012; 5 sigma allowed."""
    x = np.ones(200_000, np.float32)
    masks = []
    for p, seed in [(0.5, 1), (0.5, 2), (0.1, 3), (0.9, 4)]:
        _, (mask, _) = cuda.dropout_forward(x, p, seed=seed)
        assert abs(mask.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / x.size)
        masks.append(mask)
    assert 0.45 < np.mean(masks[0] == masks[1]) < 0.55  # independent streams agree half the time


def test_dropout_seed_from_rng_is_reproducible(emulated):
    x = np.ones((8, 100), np.float32)
    first = cuda.dropout_forward(x, 0.5, rng=np.random.default_rng(7))[1][0]
    second = cuda.dropout_forward(x, 0.5, rng=np.random.default_rng(7))[1][0]
    assert np.array_equal(first, second)


def test_hash_uniform_is_uniform():
    u = cuda.activation.hash_uniform(12345, 1 << 18)
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    counts = np.histogram(u, bins=16, range=(0, 1))[0]
    expected = u.size / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 15 degrees of freedom: P(chi2 > 50) ~ 1e-5


def test_launcher_rejects_wrong_dtype():
    """A float64 array for a float* would be read as garbage: refused before launching.
    (The launchers convert or refuse their callers' arrays first; this TypeError is the
    last guard against a launcher passing its kernel the wrong array.)"""
    with pytest.raises(TypeError, match="float32"):
        cuda.launch.kernel("activation", "leaky_backward", 3, np.zeros(3), np.zeros(3, np.float32),
                     np.zeros(3, np.float32), 3)


def test_outputs_start_poisoned(emulated):
    """Under the emulator a launcher's outputs start as NaN / 0xFF: with an empty grid
    (no thread runs) that is what comes back."""
    emulated.grid_override = (0, 1)
    y, (argmax, *_) = cuda.maxpool2d_forward(np.ones((1, 3, 3, 2), np.float32))
    assert np.isnan(y).all() and (argmax == 0xFF).all()


def test_outputs_are_allocated_through_empty():
    """Every output array of svd/cuda/ comes from launch.empty, which the tests poison."""
    found = {path.name: len(re.findall(r"\bxp\.empty", path.read_text(encoding="utf-8")))
             for path in PACKAGE_DIR.glob("*.py")}
    assert {name: count for name, count in found.items() if count} == {"launch.py": 1}  # the one inside empty


# --------------------------------------------------------------------------
# Arguments are checked before anything is launched
# --------------------------------------------------------------------------

def _f(*shape):
    return np.zeros(shape, np.float32)


# A convolution cache (x, w, dilation, leaky, y, cols) and a pooling cache (argmax, x_shape, pool, stride),
# built by hand so that no kernel runs before the call under test.
_CONV_CACHE = (_f(1, 5, 5, 2), _f(3, 3, 2, 4), (1, 1), True, _f(1, 3, 3, 4), _f(9, 18))
_POOL_CACHE = (np.zeros((1, 2, 2, 1), np.uint8), (1, 6, 6, 1), (3, 3), (3, 3))
_SONG_STARTS = np.array([0, 5, 9])  # two songs: 5 and 4 frames


def _gains_params(loudness_length):
    return {"filter_mu_hz": np.full(3, 1000.0), "filter_sigma_semitones": np.ones(3),
            "filter_gain_db": np.zeros(3), "loudness_db": np.zeros(loudness_length)}


def _twice_in_params():
    w = _f(2, 3)
    return cuda.nesterov_momentum({"w": w, "v": w}, {"w": _f(2, 3), "v": _f(2, 3)},
                                  {"w": _f(2, 3), "v": _f(2, 3)}, 0.1)


def _velocity_inside_params():
    flat = _f(12)
    return cuda.nesterov_momentum({"w": flat[:6].reshape(2, 3)}, {"w": _f(2, 3)}, {"w": flat[4:10].reshape(2, 3)}, 0.1)


# (what is wrong, launcher, the argument its message must name, the bad call)
BAD_CALLS = [
    ("3-d x", "im2col", "x", lambda: cuda.conv.im2col(_f(5, 5, 2), (3, 3))),
    ("negative dilation", "im2col", "dilation", lambda: cuda.conv.im2col(_f(1, 5, 5, 2), (3, 3), (-1, 1))),
    ("x smaller than kernel", "im2col", "x", lambda: cuda.conv.im2col(_f(1, 2, 5, 2), (3, 3))),
    ("dcols width", "col2im", "dcols", lambda: cuda.conv.col2im(_f(9, 17), (1, 5, 5, 2), (3, 3))),
    ("zero kernel", "col2im", "kernel_shape", lambda: cuda.conv.col2im(_f(9, 0), (1, 5, 5, 2), (0, 3))),
    ("input channels", "conv2d_forward", "w", lambda: cuda.conv2d_forward(_f(1, 5, 5, 2), _f(3, 3, 3, 4), _f(4))),
    ("bias length", "conv2d_forward", "b", lambda: cuda.conv2d_forward(_f(1, 5, 5, 2), _f(3, 3, 2, 4), _f(3))),
    ("dy channels", "conv2d_backward", "dy", lambda: cuda.conv2d_backward(_f(1, 3, 3, 3), _CONV_CACHE)),
    ("cols of another layer", "conv2d_backward", "cols", lambda: cuda.conv2d_backward(
        _f(1, 3, 3, 4), _CONV_CACHE[:5] + (_f(9, 9),))),
    ("1-d array", "column_sums", "a", lambda: cuda.conv.column_sums(_f(5))),
    ("x smaller than pool", "maxpool2d_forward", "x", lambda: cuda.maxpool2d_forward(_f(1, 2, 6, 1))),
    ("pool over 256", "maxpool2d_forward", "pool", lambda: cuda.maxpool2d_forward(_f(1, 20, 20, 1), (17, 17))),
    ("zero stride", "maxpool2d_forward", "stride", lambda: cuda.maxpool2d_forward(_f(1, 6, 6, 1), (3, 3), (0, 3))),
    ("dy shape", "maxpool2d_backward", "dy", lambda: cuda.maxpool2d_backward(_f(1, 2, 3, 1), _POOL_CACHE)),
    ("argmax dtype", "maxpool2d_backward", "argmax", lambda: cuda.maxpool2d_backward(
        _f(1, 2, 2, 1), (_f(1, 2, 2, 1),) + _POOL_CACHE[1:])),
    ("bias length", "bias_leaky_forward", "b", lambda: cuda.activation.bias_leaky_forward(_f(4, 5), _f(4))),
    ("float64 out", "bias_leaky_forward", "out", lambda: cuda.activation.bias_leaky_forward(
        _f(4, 5), _f(5), out=np.zeros((4, 5)))),
    ("y shape", "leaky_backward", "y", lambda: cuda.activation.leaky_backward(_f(4, 5), _f(5, 4))),
    ("out shape", "leaky_backward", "out", lambda: cuda.activation.leaky_backward(_f(4, 5), _f(4, 5), out=_f(20))),
    ("cache shape", "leaky_relu_backward", "cache", lambda: cuda.leaky_relu_backward(_f(4, 5), _f(4, 4))),
    ("mask shape", "dropout_forward", "mask", lambda: cuda.dropout_forward(_f(4, 5), mask=np.ones((4, 4), bool))),
    ("float mask", "dropout_forward", "mask", lambda: cuda.dropout_forward(_f(4, 5), mask=_f(4, 5))),
    ("p of 1", "dropout_forward", "p", lambda: cuda.dropout_forward(_f(4, 5), 1.0, seed=1)),
    ("seed of 2^32", "dropout_forward", "seed", lambda: cuda.dropout_forward(_f(4, 5), seed=2 ** 32)),
    ("no seed", "dropout_forward", "seed", lambda: cuda.dropout_forward(_f(4, 5))),
    ("float64 inputs", "add_noise", "inputs", lambda: cuda.add_noise(np.zeros(4), 0.1, np.random.default_rng(0))),
    ("negative sigma", "add_noise", "sigma", lambda: cuda.add_noise(_f(4), -0.1, np.random.default_rng(0))),
    ("no rng", "add_noise", "rng", lambda: cuda.add_noise(_f(4), 0.1, None)),
    ("transposed inputs", "drop_inputs", "inputs", lambda: cuda.drop_inputs(_f(3, 4).T, 0.5, np.random.default_rng(0))),
    ("p above 1", "drop_inputs", "p", lambda: cuda.drop_inputs(_f(4), 1.5, np.random.default_rng(0))),
    ("mask shape", "dropout_backward", "mask", lambda: cuda.dropout_backward(_f(4, 5), (np.ones((5, 4), bool), 2.0))),
    ("targets length", "sigmoid_cross_entropy_forward", "targets",
     lambda: cuda.sigmoid_cross_entropy_forward(_f(4), _f(3))),
    ("2-d logits", "sigmoid_cross_entropy_forward", "logits",
     lambda: cuda.sigmoid_cross_entropy_forward(_f(4, 1), _f(4, 1))),
    ("targets length", "sigmoid_cross_entropy_backward", "targets",
     lambda: cuda.sigmoid_cross_entropy_backward((_f(4), _f(3)))),
    ("grads size", "nesterov_momentum_flat", "grads", lambda: cuda.optim.nesterov_momentum_flat(_f(10), _f(9), _f(10), 0.1)),
    ("velocity size", "nesterov_momentum_flat", "velocity",
     lambda: cuda.optim.nesterov_momentum_flat(_f(10), _f(10), _f(11), 0.1)),
    ("float64 params", "nesterov_momentum_flat", "params",
     lambda: cuda.optim.nesterov_momentum_flat(np.zeros(10), _f(10), _f(10), 0.1)),
    ("second grads shape", "nesterov_momentum", "grads['b']", lambda: cuda.nesterov_momentum(
        {"w": _f(2, 3), "b": _f(3)}, {"w": _f(2, 3), "b": _f(4)}, {"w": _f(2, 3), "b": _f(3)}, 0.1)),
    ("transposed velocity", "nesterov_momentum", "velocity['w']", lambda: cuda.nesterov_momentum(
        {"w": _f(2, 3)}, {"w": _f(2, 3)}, {"w": _f(3, 2).T}, 0.1)),
    ("missing grads", "nesterov_momentum", "grads",
     lambda: cuda.nesterov_momentum({"w": _f(2)}, {}, {"w": _f(2)}, 0.1)),
    ("one array twice", "nesterov_momentum", "params", lambda: _twice_in_params()),
    ("velocity inside params", "nesterov_momentum", "params", lambda: _velocity_inside_params()),
    ("moment1 shape", "adam", "moment1['w']", lambda: cuda.adam({"w": _f(2, 3)}, {"w": _f(2, 3)}, {"w": _f(3, 2)},
                                                                  {"w": _f(2, 3)}, 0.001, 1)),
    ("step 0", "adam", "step", lambda: cuda.adam({"w": _f(2)}, {"w": _f(2)}, {"w": _f(2)}, {"w": _f(2)}, 0.001, 0)),
    ("gamma length", "batchnorm_forward", "gamma", lambda: cuda.batchnorm_forward(_f(4, 5), _f(4), _f(5))),
    ("0-d x", "batchnorm_forward", "x", lambda: cuda.batchnorm_forward(np.float32(1.0), _f(1), _f(1))),
    ("cache of another shape", "batchnorm_backward", "cache",
     lambda: cuda.batchnorm_backward(_f(4, 5), (_f(3, 5), _f(5), _f(5)))),
    ("1-d values", "channel_sums", "a", lambda: cuda.batch_norm.channel_sums(_f(5), _f(5))),
    ("b of another shape", "channel_sums", "b", lambda: cuda.batch_norm.channel_sums(_f(4, 5), _f(5, 4))),
    ("position past the end", "song_positions", "positions", lambda: cuda.augment.song_positions(_SONG_STARTS, [3, 9])),
    ("song index past the end", "gather_excerpts", "song_index", lambda: cuda.gather_excerpts(
        _f(9, 2), _SONG_STARTS, [0, 2], [1, 1], 3, 0.0)),
    ("centre past its song", "gather_excerpts", "centre", lambda: cuda.gather_excerpts(
        _f(9, 2), _SONG_STARTS, [0, 1], [4, 4], 3, 0.0)),
    ("song_starts short of songs", "gather_excerpts", "song_starts", lambda: cuda.gather_excerpts(
        _f(10, 2), _SONG_STARTS, [0, 1], [1, 1], 3, 0.0)),
    ("even width", "gather_excerpts", "width", lambda: cuda.gather_excerpts(
        _f(9, 2), _SONG_STARTS, [0, 1], [1, 1], 4, 0.0)),
    ("factors length", "warp", "pitch_factors", lambda: cuda.warp(_f(3, 5, 10), np.ones(2), np.ones(3), 5, 8)),
    ("zero factor", "warp", "stretch_factors", lambda: cuda.warp(_f(3, 5, 10), np.ones(3), [1.0, 0.0, 1.0], 5, 8)),
    ("no frames", "warp", "linear", lambda: cuda.warp(_f(3, 0, 10), np.ones(3), np.ones(3), 5, 8)),
    ("zero factor", "pitch_shift_song", "factor", lambda: cuda.pitch_shift_song(_f(5, 10), 0.0)),
    ("3-d song", "pitch_shift_song", "linear_song", lambda: cuda.pitch_shift_song(_f(1, 5, 10), 1.1)),
    ("draws of two lengths", "amplitude_gains", "params['loudness_db']",
     lambda: cuda.amplitude_gains(_gains_params(2), bins=8)),
    ("gains rows", "apply_gains", "gains", lambda: cuda.apply_gains(_f(3, 4, 5), _f(2, 5))),
    ("float64 excerpts", "apply_gains", "excerpts", lambda: cuda.apply_gains(np.zeros((3, 4, 5)), _f(3, 5))),
    ("repeated rows", "mix_negatives", "chosen", lambda: cuda.mix_negatives(_f(3, 4, 5), [1, 1], _f(2, 4, 5), _f(2))),
    ("row past the batch", "mix_negatives", "chosen",
     lambda: cuda.mix_negatives(_f(3, 4, 5), [0, 3], _f(2, 4, 5), _f(2))),
    ("negative row", "mix_negatives", "chosen", lambda: cuda.mix_negatives(_f(3, 4, 5), [-1, 0], _f(2, 4, 5), _f(2))),
    ("fractions length", "mix_negatives", "fractions",
     lambda: cuda.mix_negatives(_f(3, 4, 5), [0, 2], _f(2, 4, 5), _f(3))),
    ("negatives too short", "mix_negatives", "negatives",
     lambda: cuda.mix_negatives(_f(3, 4, 5), [0, 2], _f(2, 3, 5), _f(2))),
]

# Public functions of the launcher modules svd/cuda/<family>.py with nothing to refuse: no kernel, or
# (leaky_relu_forward) any shape.
NOTHING_TO_REFUSE = {"hash_uniform", "pack_flat", "leaky_relu_forward"}


@pytest.mark.parametrize("what, launcher, argument, call", BAD_CALLS, ids=[f"{c[1]}-{c[0]}" for c in BAD_CALLS])
def test_launchers_refuse_bad_arguments_before_launching(emulated, what, launcher, argument, call):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value).startswith(f"{launcher}: {argument}"), str(error.value)
    assert emulated.launches == []


def test_every_launcher_has_a_bad_call():
    functions = {name for module in FAMILY_MODULES.values() for name, f in vars(module).items()
                 if inspect.isfunction(f) and f.__module__ == module.__name__ and not name.startswith("_")}
    assert functions - NOTHING_TO_REFUSE == {launcher for _, launcher, _, _ in BAD_CALLS}


def test_asking_for_a_gpu_never_raises():
    from svd import device
    assert device.why_no_gpu() is None or isinstance(device.why_no_gpu(), str)


# --------------------------------------------------------------------------
# The CUDA implementation of the dispatch, whole: training updates and prediction
# --------------------------------------------------------------------------

@pytest.fixture
def cuda_dispatch(emulated):
    """backend.ops answers with the CUDA implementation (its kernels emulated) for NumPy arrays."""
    from svd import backend
    previous = backend.use("cuda")
    yield emulated
    backend.use(previous)


def _float64_updates(params, x, targets, updates):
    """The same training updates (no dropout) with the textbook layers in float64."""
    from svd import backend, train
    previous = backend.use("reference")
    try:
        params = {name: p.astype(np.float64) for name, p in params.items()}
        velocity = backend.ops(params["conv1.w"]).init_velocity(params)
        losses = [train.update_step(params, velocity, x.astype(np.float64), targets, None, 0.01, 0.95)
                  for _ in range(updates)]
    finally:
        backend.use(previous)
    return params, losses


def test_training_updates_through_the_cuda_implementation(cuda_dispatch):
    """Three full-network updates at batch 2 (without dropout: its masks come from another
    generator on the GPU, and are checked kernel by kernel above) through backend.ops =
    CUDA, against the same updates in float64. The fast CPU path is held to the same
    float64 reference; the CUDA path's error must be of the same float32 size: 1e-4
    relative to each parameter's largest change."""
    from svd import backend, network, train
    rng = np.random.default_rng(400)
    start = network.init_params(rng)
    x = rng.standard_normal((2,) + excerpt.INPUT_SHAPE).astype(np.float32)
    targets = np.array([0.98, 0.02], np.float32)
    want, want_losses = _float64_updates(start, x, targets, 3)
    params = {name: p.copy() for name, p in start.items()}
    velocity = backend.ops(params["conv1.w"]).init_velocity(params)
    losses = [train.update_step(params, velocity, x, targets, None, 0.01, 0.95) for _ in range(3)]
    assert backend.ops(params["conv1.w"]).name == "cuda"
    kernels = {name for _, name, _, _ in cuda_dispatch.launches}
    assert {"im2col", "col2im", "maxpool_forward", "maxpool_backward", "nesterov_update_tensors"} <= kernels
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for name in start:
        change = np.abs(want[name] - start[name]).max()
        np.testing.assert_allclose(params[name], want[name], rtol=0, atol=1e-4 * change + 1e-7, err_msg=name)


def test_whole_song_prediction_through_the_cuda_implementation(cuda_dispatch):
    """The dilated whole-song network (300 frames, two chunks) on the CUDA implementation
    equals the fast CPU path within float32 rounding (probabilities to 1e-5)."""
    from svd import backend, network, predict
    rng = np.random.default_rng(401)
    params = network.init_params(rng)
    padded = rng.standard_normal((300 + 2 * excerpt.CONTEXT_FRAMES, 80)).astype(np.float32)
    got = predict.song_probabilities(params, padded, chunk_frames=200)
    backend.use("fast")
    want = predict.song_probabilities(params, padded, chunk_frames=200)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_ismir2016_whole_song_prediction_through_the_cuda_implementation(cuda_dispatch):
    """The ISMIR-2016 network's whole-song form (svd/network2016.py folded, svd/predict.py): conv5's
    3x18 kernel dilated by 3 and the frequency-only 1x4 pool run as emulated CUDA kernels and equal
    the fast CPU path's probabilities to 1e-5."""
    from svd import backend, network2016, predict
    rng = np.random.default_rng(403)
    params = predict.inference_params("ismir2016", network2016.init_params(rng))
    padded = rng.standard_normal((120 + 2 * excerpt.CONTEXT_FRAMES, 80)).astype(np.float32)
    got = predict.song_probabilities(params, padded, chunk_frames=80)
    assert {"im2col", "maxpool_forward"} <= {name for _, name, _, _ in cuda_dispatch.launches}
    backend.use("fast")
    want = predict.song_probabilities(params, padded, chunk_frames=80)
    assert np.ptp(want) > 1e-3
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_augmentation_batch_through_the_cuda_implementation(cuda_dispatch):
    """The paper's combination plus loudness and mixing on a batch of 6: the warp, gains and
    mixing run as emulated CUDA kernels through backend.ops; the result equals the NumPy
    path's (their twins are exact; the log-mel sums round alike: 1e-5)."""
    from svd import augment, backend, spectrum
    aug = augment.Augmentation(pitch_shift=0.3, time_stretch=0.3, filter_db=10.0, loudness_db=6.0, mix_prob=0.5)
    rng = np.random.default_rng(402)
    linear = rng.random((6, augment.source_frames(aug), spectrum.LINEAR_BINS), dtype=np.float32)
    negatives = rng.random((6, augment.source_frames(aug), spectrum.LINEAR_BINS), dtype=np.float32)
    mean, std = np.zeros(80, np.float32), np.ones(80, np.float32)
    got = augment.augment_batch(backend.ops(linear), linear, aug, np.random.default_rng(5), mean, std, lambda n: negatives[:n])
    kernels = {name for _, name, _, _ in cuda_dispatch.launches}
    assert {"warp", "filter_gains", "apply_gains", "mix_negatives"} <= kernels, kernels
    backend.use("fast")
    want = augment.augment_batch(backend.ops(linear), linear, aug, np.random.default_rng(5), mean, std, lambda n: negatives[:n])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.fixture
def emulated_gpu(emulated):
    """A Device whose arrays are NumPy arrays computed by the CUDA implementation (kernels emulated)."""
    from svd import device
    return device.Device("emulated gpu", np, "cuda")


@pytest.mark.parametrize("arch, optimiser_kernel", [("ismir2015", "nesterov_update_tensors"),
                                                    ("ismir2016", "adam_update")])
def test_a_training_run_on_the_gpu_device_resumes_exactly(emulated, emulated_gpu, tiny_corpus, tmp_path,
                                                          monkeypatch, arch, optimiser_kernel):
    """train.train on the (emulated) GPU device, 4 updates at batch 2 with dropout: every
    update's arithmetic runs as CUDA kernels; interrupted after its checkpoint at update 2 and
    resumed, it writes exactly the model of an uninterrupted run (weights, momentum (Adam's two
    moments), running statistics and update count travel host <-> device through the checkpoint)."""
    from svd import dataset, hyperparameters, train
    from svd import model_file
    songs = dataset.load_split(tiny_corpus, "train", tmp_path / "cache", quiet=True)
    config = hyperparameters.TrainConfig(updates=4, batch=2, seed=3, arch=arch)
    whole = train.train(songs, config, tmp_path / "whole.npz", quiet=True, device=emulated_gpu)
    kernels = {name for _, name, _, _ in emulated.launches}
    assert {"dropout_forward_hash", optimiser_kernel, "sigmoid_xent_forward"} <= kernels, kernels
    if arch == "ismir2016":
        assert {"channel_sums", "batch_norm_apply", "batch_norm_gradient"} <= kernels, kernels
    save = train._save_checkpoint

    def save_then_stop(*args):
        save(*args)
        raise KeyboardInterrupt
    monkeypatch.setattr(train, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train.train(songs, config, tmp_path / "cut.npz", checkpoint_every=2, quiet=True, device=emulated_gpu)
    monkeypatch.setattr(train, "_save_checkpoint", save)
    assert model_file.load(train.checkpoint_path(tmp_path / "cut.npz")).extra["progress"] is not None
    resumed = train.train(songs, config, tmp_path / "cut.npz", resume=True, quiet=True, device=emulated_gpu)
    for name, value in whole.params.items():
        assert isinstance(resumed.params[name], np.ndarray)
        np.testing.assert_array_equal(resumed.params[name], value, err_msg=name)


def test_prediction_with_tta_on_the_gpu_device_equals_the_cpu(emulated, emulated_gpu):
    """predict.probabilities on the (emulated) GPU device, with two pitch-shifted copies (the
    shift, log-mel and network all on the device), equals the CPU device's result within
    float32 rounding (1e-5)."""
    from svd import device, network, predict
    from svd import model_file
    rng = np.random.default_rng(403)
    model = model_file.Model(network.init_params(rng), np.zeros(80, np.float32), np.ones(80, np.float32), {})
    linear = rng.random((260, 513), dtype=np.float32)
    got = predict.probabilities(model, linear, (1.0, 1.1), device=emulated_gpu)
    assert "warp" in {name for _, name, _, _ in emulated.launches}  # the pitch shift ran as a kernel
    want = predict.probabilities(model, linear, (1.0, 1.1), device=device.CPU)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------
# Batches made on the device: the song store, gather, augmentation
# --------------------------------------------------------------------------

def _songs(rng, lengths=(400, 300, 260)):
    """Songs of random linear magnitudes with alternating voice/no-voice stretches of 40 frames."""
    from svd import dataset, spectrum
    return [dataset.Song(f"s{i}.wav", rng.random((n, spectrum.LINEAR_BINS), dtype=np.float32) ** 4,
                         ((np.arange(n) // 40) % 2).astype(np.uint8), n / spectrum.FRAME_RATE_HZ)
            for i, n in enumerate(lengths)]


@pytest.mark.parametrize("aug", [
    {},
    {"pitch_shift": 0.3, "time_stretch": 0.3, "filter_db": 10.0},
    {"pitch_shift": 0.2, "loudness_db": 6.0, "mix_prob": 0.5},
], ids=["plain", "paper-combination", "loudness-and-mixing"])
def test_training_batches_on_the_gpu_device_equal_the_cpu(emulated, emulated_gpu, aug):
    """TrainingExcerpts on the (emulated) GPU device: the song store lives on the device, each
    batch is gathered and augmented there by the CUDA kernels (gather, warp, gains, mixing)
    and the mel/log/normalisation array code; three batches of 8 equal the CPU's batches
    within float32 rounding of the mel sums (1e-5), targets exactly."""
    from svd import augment, batches, device
    songs = _songs(np.random.default_rng(500))
    mean, std = np.full(80, -3.0, np.float32), np.full(80, 2.0, np.float32)
    aug = augment.Augmentation(**aug)
    on_gpu = batches.TrainingExcerpts(songs, mean, std, aug, 8, seed=6, device=emulated_gpu)
    on_cpu = batches.TrainingExcerpts(songs, mean, std, aug, 8, seed=6, device=device.CPU)
    assert on_gpu.store_bytes == on_gpu.store.nbytes == sum(len(s.targets) for s in songs) * on_gpu.store.shape[1] * 4
    for update in range(3):
        with emulated_gpu.active():
            x, targets = on_gpu.batch(update)
        want_x, want_targets = on_cpu.batch(update)
        np.testing.assert_array_equal(targets, want_targets)
        np.testing.assert_allclose(x, want_x, rtol=0, atol=1e-5 * np.abs(want_x).max())
    kernels = {name for _, name, _, _ in emulated.launches}
    assert "gather_excerpts" in kernels
    if aug.pitch_shift:
        assert {"warp", "filter_gains", "apply_gains"} <= kernels, kernels


def test_noise_and_input_dropout_on_the_gpu_device(emulated, emulated_gpu):
    """Noise and input dropout come from the device hash on the GPU (one seed each from the
    update's generator): the noise is N(0, sigma^2) (mean and standard deviation within 5
    standard errors), dropout zeroes a fraction p, and the same update gives the same batch."""
    from svd import augment, batches
    songs = _songs(np.random.default_rng(501))
    mean, std = np.zeros(80, np.float32), np.ones(80, np.float32)
    clean = batches.TrainingExcerpts(songs, mean, std, augment.Augmentation(filter_db=1e-9), 16, 2,
                                     device=emulated_gpu)
    noisy = batches.TrainingExcerpts(songs, mean, std, augment.Augmentation(filter_db=1e-9, noise_sigma=0.5),
                                     16, 2, device=emulated_gpu)
    dropped = batches.TrainingExcerpts(songs, mean, std, augment.Augmentation(filter_db=1e-9, input_dropout=0.2),
                                       16, 2, device=emulated_gpu)
    with emulated_gpu.active():
        noise = (noisy.batch(0)[0] - clean.batch(0)[0]).ravel()
        zeros = dropped.batch(0)[0] == 0
        again = noisy.batch(0)[0]
    n = noise.size  # 16 * 115 * 80 = 147,200
    assert abs(noise.mean()) < 5 * 0.5 / np.sqrt(n)
    assert abs(noise.std() - 0.5) < 5 * 0.5 / np.sqrt(2 * n)
    assert abs(zeros.mean() - 0.2) < 5 * np.sqrt(0.2 * 0.8 / zeros.size)
    np.testing.assert_array_equal(again, clean.batch(0)[0] + noise.reshape(again.shape))
    kernels = {name for _, name, _, _ in emulated.launches}
    assert {"gaussian_noise_hash", "dropout_forward_hash"} <= kernels


def test_augmented_training_runs_on_the_gpu_device(emulated, emulated_gpu, tiny_corpus, tmp_path):
    """train.train with the paper's augmentation on the (emulated) GPU device: batches are
    gathered and warped by the CUDA kernels, the network updates too, and the model file
    written is a host model with finite weights."""
    from svd import augment, dataset, hyperparameters, train
    songs = dataset.load_split(tiny_corpus, "train", tmp_path / "cache", quiet=True)
    config = hyperparameters.TrainConfig(updates=2, batch=2, seed=1,
                               augmentation=dict(vars(augment.PAPER_COMBINATION)))
    model = train.train(songs, config, tmp_path / "m.npz", quiet=True, device=emulated_gpu)
    kernels = {name for _, name, _, _ in emulated.launches}
    assert {"gather_excerpts", "warp", "filter_gains", "apply_gains", "nesterov_update_tensors"} <= kernels, kernels
    assert all(np.isfinite(value).all() for value in model.params.values())


# --------------------------------------------------------------------------
# Making a batch never waits for the GPU: no check reads device arrays back
# --------------------------------------------------------------------------

class FakeDevice:
    """Stands in for cupy inside svd.cuda: its arrays are NumPy arrays it made (and remembers);
    every reduction through it (all, diff, unique, isfinite: what a check reads back from a GPU)
    is logged."""
    READ_BACKS = ("all", "any", "diff", "unique", "isfinite")

    def __init__(self):
        self.arrays, self.read_backs = [], []

    def owns(self, a):
        return any(a is b for b in self.arrays)

    def hold(self, a):
        self.arrays.append(a)
        return a

    def __getattr__(self, name):
        function = getattr(np, name)

        def call(*args, **kwargs):
            if name in self.READ_BACKS:
                self.read_backs.append(name)
            result = function(*args, **kwargs)
            return self.hold(result) if isinstance(result, np.ndarray) else result
        return call if callable(function) else function


@pytest.fixture
def fake_device(emulated, monkeypatch):
    """svd.cuda sees the FakeDevice's arrays as device arrays (through svd.util.arrays.array_module, which
    every launcher asks); svd.cuda.checks.check_indices calls on them are logged too."""
    fake = FakeDevice()
    monkeypatch.setattr(arrays, "array_module", lambda a: fake if fake.owns(a) else np)
    check_indices = cuda.checks.check_indices

    def logged(launcher, name, indices, n, distinct=False):
        if fake.owns(indices):
            fake.read_backs.append(f"check_indices {name}")
        return check_indices(launcher, name, indices, n, distinct)
    monkeypatch.setattr(cuda.checks, "check_indices", logged)
    return fake


def test_gathering_with_host_indices_reads_nothing_back(fake_device):
    """What training passes (svd/batches.py: host song_starts, songs and centres): every check runs on
    the host, the result equals the twin; with the indices on the device the same checks do read back."""
    rng = np.random.default_rng(7)
    songs = rng.standard_normal((30, 4)).astype(np.float32)
    starts, index, centre = np.array([0, 12, 30]), np.array([0, 1, 1]), np.array([5, 0, 17])
    got = cuda.gather_excerpts(fake_device.hold(songs), starts, index, centre, 5, 0.0)
    assert fake_device.read_backs == []
    np.testing.assert_array_equal(got, excerpt.gather_excerpts(songs, starts, index, centre, 5, 0.0))
    cuda.gather_excerpts(fake_device.hold(songs), starts, fake_device.hold(index), centre, 5, 0.0)
    assert fake_device.read_backs  # the launcher still checks device indices, where they live


def test_warping_with_device_factors_reads_nothing_back(fake_device):
    """augment.augment_batch uploads its factors: warp does not read them back (its kernel clips every
    index into the source, so no factor can make it read outside); host factors are still checked."""
    from svd import augment
    rng = np.random.default_rng(8)
    linear = rng.random((2, 9, 20), dtype=np.float32)
    pitch, stretch = np.array([0.8, 1.3]), np.array([1.1, 0.9])
    got = cuda.warp(fake_device.hold(linear), fake_device.hold(pitch), fake_device.hold(stretch), 5, 12)
    assert fake_device.read_backs == []
    np.testing.assert_array_equal(got, augment.warp(linear, pitch, stretch, 5, 12))
    with pytest.raises(ValueError, match="warp: pitch_factors"):
        cuda.warp(fake_device.hold(linear), np.array([0.8, -1.0]), stretch, 5, 12)
