"""The CUDA kernels of kernels/*.cu, compiled by g++ and run on the CPU, against NumPy.

Without a GPU this is what catches indexing bugs: kernels/emulate.h turns every
kernel into serial loops over an emulated grid (every block, every thread, the
same grid-stride loop as on the GPU), tests/kernel_emulation/emulator.py builds
them into a shared library, and every launcher of svd/cuda.py runs unchanged
on NumPy arrays with svd.cuda._run_kernel pointed at that library. Each check
of tests/kernel_emulation/checks.py (tolerances explained there) runs with
three seeds (random shapes) and three grids: the launcher's own, 2 blocks of
32 threads (each thread takes many indices: the grid-stride step is tested)
and a single thread.

Skipped if g++ is not installed. About 10 s on 2 cores (build ~3 s).
"""
import pathlib
import re
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from kernel_emulation import checks, emulator  # noqa: E402

from svd import cuda  # noqa: E402

GRIDS = {"launcher-grid": None, "2x32-threads": (2, 32), "1-thread": (1, 1)}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    if emulator.compiler() is None:
        pytest.skip("g++ is not installed: the CPU emulation of the CUDA kernels cannot be built")
    return emulator.Emulator(emulator.build(tmp_path_factory.mktemp("kernel_emulation")))


@pytest.fixture
def emulated(library, monkeypatch):
    """svd.cuda with its kernels running in the emulation library."""
    monkeypatch.setattr(cuda, "_run_kernel", library.run_kernel)
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
    declared = {(family, name) for family in cuda.FAMILIES for name in cuda.kernel_signatures(family)}
    assert declared - launched == set()


def test_launches_use_launch_config(emulated):
    """The grid actually launched is launch_config's: one thread per index up to MAX_BLOCKS."""
    x = np.zeros(cuda.THREADS_PER_BLOCK * cuda.MAX_BLOCKS * 2 + 5, np.float32)
    cuda.leaky_relu_forward(x)
    cuda.leaky_relu_forward(x[:300])
    assert [launch[2:] for launch in emulated.launches] == [(cuda.MAX_BLOCKS, 256), (2, 256)]


def test_kernel_names_are_unique():
    """One emulation library holds every family, so kernel names must not repeat."""
    names = [name for family in cuda.FAMILIES for name in cuda.kernel_signatures(family)]
    assert len(names) == len(set(names))


def test_every_kernel_is_mapped_and_launched():
    """Each .cu header comment names each of its kernels and their launcher, and
    svd/cuda.py launches each kernel."""
    launcher_source = pathlib.Path(cuda.__file__).read_text(encoding="utf-8")
    for family in cuda.FAMILIES:
        text = (cuda.KERNEL_DIR / f"{family}.cu").read_text(encoding="utf-8")
        header = text[:text.index("*/")]
        for name in cuda.kernel_signatures(family):
            assert re.search(rf"^ \*   {name}\s+cuda\.\w+", header, re.M), \
                f"kernels/{family}.cu: the header comment does not map kernel {name} to a launcher"
            assert f'_launch("{family}", "{name}"' in launcher_source, f"no launcher runs {name}"


def test_kernel_files_are_the_families():
    assert sorted(p.stem for p in cuda.KERNEL_DIR.glob("*.cu")) == sorted(cuda.FAMILIES)


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
    u = cuda.hash_uniform(12345, 1 << 18)
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    counts = np.histogram(u, bins=16, range=(0, 1))[0]
    expected = u.size / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 15 degrees of freedom: P(chi2 > 50) ~ 1e-5


def test_launcher_rejects_wrong_dtype():
    """A float64 array for a float* would be read as garbage: refused before launching."""
    with pytest.raises(TypeError, match="float32"):
        cuda._launch("activation", "leaky_backward", 3, np.zeros(3), np.zeros(3, np.float32),
                     np.zeros(3, np.float32), 3)


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
    x = rng.standard_normal((2,) + network.INPUT_SHAPE).astype(np.float32)
    targets = np.array([0.98, 0.02], np.float32)
    want, want_losses = _float64_updates(start, x, targets, 3)
    params = {name: p.copy() for name, p in start.items()}
    velocity = backend.ops(params["conv1.w"]).init_velocity(params)
    losses = [train.update_step(params, velocity, x, targets, None, 0.01, 0.95) for _ in range(3)]
    assert backend.ops(params["conv1.w"]).name == "cuda"
    kernels = {name for _, name, _, _ in cuda_dispatch.launches}
    assert {"im2col", "col2im", "maxpool_forward", "maxpool_backward", "nesterov_update"} <= kernels
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
    padded = rng.standard_normal((300 + 2 * network.CONTEXT_FRAMES, 80)).astype(np.float32)
    got = predict.song_probabilities(params, padded, chunk_frames=200)
    backend.use("fast")
    want = predict.song_probabilities(params, padded, chunk_frames=200)
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
    got = augment.augment_batch(linear, aug, np.random.default_rng(5), mean, std, lambda n: negatives[:n])
    kernels = {name for _, name, _, _ in cuda_dispatch.launches}
    assert {"warp", "filter_gains", "apply_gains", "mix_negatives"} <= kernels, kernels
    backend.use("fast")
    want = augment.augment_batch(linear, aug, np.random.default_rng(5), mean, std, lambda n: negatives[:n])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.fixture
def emulated_gpu(emulated):
    """A Device whose arrays are NumPy arrays computed by the CUDA implementation (kernels emulated)."""
    from svd import device
    return device.Device("emulated gpu", np, "cuda")


def test_a_training_run_on_the_gpu_device_resumes_exactly(emulated, emulated_gpu, tiny_corpus, tmp_path,
                                                          monkeypatch):
    """train.train on the (emulated) GPU device, 4 updates at batch 2 with dropout: every
    update's arithmetic runs as CUDA kernels; interrupted after its checkpoint at update 2 and
    resumed, it writes exactly the model of an uninterrupted run (weights, momentum and
    update count travel host <-> device through the checkpoint)."""
    from svd import dataset, train
    from svd import model as model_file
    songs = dataset.load_split(tiny_corpus, "train", tmp_path / "cache", quiet=True)
    config = train.TrainConfig(updates=4, batch=2, seed=3)
    whole = train.train(songs, config, tmp_path / "whole.npz", quiet=True, device=emulated_gpu)
    kernels = {name for _, name, _, _ in emulated.launches}
    assert {"dropout_forward_hash", "nesterov_update", "sigmoid_xent_forward"} <= kernels, kernels
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


def test_prediction_with_tta_on_the_gpu_device_equals_the_cpu(emulated_gpu):
    """predict.probabilities on the (emulated) GPU device, with two pitch-shifted copies, equals
    the CPU device's result within float32 rounding (1e-5)."""
    from svd import device, network, predict
    from svd import model as model_file
    rng = np.random.default_rng(403)
    model = model_file.Model(network.init_params(rng), np.zeros(80, np.float32), np.ones(80, np.float32), {})
    linear = rng.random((260, 513), dtype=np.float32)
    got = predict.probabilities(model, linear, (1.0, 1.1), device=emulated_gpu)
    want = predict.probabilities(model, linear, (1.0, 1.1), device=device.CPU)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
