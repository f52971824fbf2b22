"""The CUDA implementation on a real GPU against the CPU at the paper's full shapes.

What the kernel checks (tests/test_kernels_gpu.py) cannot show: that the whole
network, composed of those kernels and CuPy's matrix products, computes the
CPU's gradients at batch 32 and 115 x 80 inputs, and that a few hundred
training updates on the GPU learn like the CPU's. Skipped without a GPU
(tests/gpu/run.sh runs it on a GPU machine).
"""
import numpy as np
import pytest

from svd import backend, device, excerpt, network, network2016, train

pytestmark = pytest.mark.skipif(device.why_no_gpu() is not None, reason="needs CuPy and a CUDA device")


def _loss_and_gradients(params, x, targets):
    """Loss and host copies of all parameter gradients, without dropout, on the arrays' device."""
    nn = backend.ops(params["conv1.w"])
    logits, cache = network.forward(params, x)
    loss, loss_cache = nn.sigmoid_cross_entropy_forward(logits, targets)
    grads = network.backward(params, cache, nn.sigmoid_cross_entropy_backward(loss_cache))
    return float(loss), device.CPU.get_all(grads)


def test_full_shape_gradients_on_the_gpu_are_as_close_to_float64_as_the_cpus():
    """Batch 32 at the paper's shapes: each GPU gradient's largest error against the float64
    textbook path is at most 10x the fast CPU path's (or 1e-5 of the gradient's scale)."""
    gpu = device.select("gpu")
    rng = np.random.default_rng(500)
    params = network.init_params(rng)
    x = rng.standard_normal((32,) + excerpt.INPUT_SHAPE).astype(np.float32)
    targets = np.where(rng.random(32) < 0.5, 0.02, 0.98).astype(np.float32)
    cpu_loss, cpu = _loss_and_gradients(params, x, targets)
    gpu_loss, on_gpu = _loss_and_gradients(gpu.put_all(params), gpu.put(x), gpu.put(targets))
    previous = backend.use("reference")
    try:
        exact_loss, exact = _loss_and_gradients({k: v.astype(np.float64) for k, v in params.items()},
                                                x.astype(np.float64), targets.astype(np.float64))
    finally:
        backend.use(previous)
    assert abs(gpu_loss - exact_loss) <= 1e-5 * abs(exact_loss)
    assert abs(cpu_loss - exact_loss) <= 1e-5 * abs(exact_loss)
    for name in params:
        scale = np.abs(exact[name]).max()
        cpu_error = np.abs(cpu[name] - exact[name]).max()
        gpu_error = np.abs(on_gpu[name] - exact[name]).max()
        assert gpu_error <= max(10 * cpu_error, 1e-5 * scale), (name, gpu_error, cpu_error, scale)


def _learnable_batch(update, size=32):
    """A batch of a problem the network can learn: voice = a bright patch at the centre frames."""
    rng = np.random.default_rng([7, update])
    x = rng.standard_normal((size,) + excerpt.INPUT_SHAPE).astype(np.float32)
    voice = rng.random(size) < 0.5
    x[voice, 50:65, 20:40] += 1.0
    return x, np.where(voice, 0.98, 0.02).astype(np.float32)


def _loss_curve(chosen, updates, arch="ismir2015"):
    """Batch losses of `updates` training updates on device `chosen`: the paper's network with Nesterov
    momentum, or the ISMIR-2016 network (batch norm, running statistics, Adam)."""
    net = network2016 if arch == "ismir2016" else network
    params = chosen.put_all(net.init_params(np.random.default_rng(501)))
    velocity = backend.ops(params["conv1.w"]).init_velocity({name: params[name] for name in net.TRAINED})
    moment2 = backend.ops(params["conv1.w"]).init_velocity({name: params[name] for name in net.TRAINED})
    workspace, losses = {}, []
    with chosen.active():
        for update in range(updates):
            x, targets = _learnable_batch(update)
            dropout = np.random.default_rng([501, update])
            if arch == "ismir2016":
                losses.append(train.adam_update_step(params, velocity, moment2, chosen.put(x), chosen.put(targets),
                                                     dropout, 0.001, update + 1, 0.9, workspace))
            else:
                losses.append(train.update_step(params, velocity, chosen.put(x), chosen.put(targets), dropout,
                                                0.01, 0.95, workspace))
    return np.array([float(loss) for loss in losses])


@pytest.mark.parametrize("arch", ["ismir2015", "ismir2016"])
def test_three_hundred_gpu_updates_track_the_cpu_loss_curve(arch):
    """The same 300 batches on both devices (dropout masks differ: each device draws its own):
    both learn (last 50 updates' mean loss below half the first 20's) and their last-50 means
    agree within 0.05. The ISMIR-2016 network's batch norm and Adam run as the textbook code on CuPy."""
    gpu_curve = _loss_curve(device.select("gpu"), 300, arch)
    cpu_curve = _loss_curve(device.CPU, 300, arch)
    for curve in (gpu_curve, cpu_curve):
        assert curve[-50:].mean() < 0.5 * curve[:20].mean(), curve
    assert abs(gpu_curve[-50:].mean() - cpu_curve[-50:].mean()) < 0.05


def test_paper_augmented_batches_made_on_the_gpu_equal_the_cpus():
    """The song store on the GPU (CuPy), batch 32 with the paper's augmentation plus loudness and
    mixing: gathered and augmented on the device, equal to the CPU's batches within float32
    rounding of the mel sums (1e-5 of the largest input), targets exactly."""
    from svd import augment, batches, dataset, spectrum
    gpu = device.select("gpu")
    rng = np.random.default_rng(502)
    songs = [dataset.Song(f"s{i}", rng.random((3000, spectrum.LINEAR_BINS), dtype=np.float32) ** 4,
                          ((np.arange(3000) // 200) % 2).astype(np.uint8), 3000 / 70) for i in range(3)]
    mean, std = np.full(80, -3.0, np.float32), np.full(80, 2.0, np.float32)
    aug = augment.Augmentation(pitch_shift=0.3, time_stretch=0.3, filter_db=10.0, loudness_db=6.0, mix_prob=0.3)
    on_gpu = batches.TrainingExcerpts(songs, mean, std, aug, 32, seed=1, device=gpu)
    on_cpu = batches.TrainingExcerpts(songs, mean, std, aug, 32, seed=1)
    for update in range(5):
        with gpu.active():
            x, targets = on_gpu.batch(update)
        want_x, want_targets = on_cpu.batch(update)
        np.testing.assert_array_equal(gpu.get(targets), want_targets)
        np.testing.assert_allclose(gpu.get(x), want_x, rtol=0, atol=1e-5 * np.abs(want_x).max())


def test_batches_made_on_a_worker_stream_are_complete_on_the_trainers_stream():
    """svd/util/streams.py on a real GPU: the trainer works on a stream of its own, the worker thread
    makes augmented batches on another (both non-blocking: nothing orders them but the handoff's
    events); what the trainer reads right after each handoff equals the CPU's batch."""
    import threading

    import cupy

    from svd import augment, batches, dataset, spectrum
    gpu = device.select("gpu")
    rng = np.random.default_rng(503)
    songs = [dataset.Song(f"s{i}", rng.random((2000, spectrum.LINEAR_BINS), dtype=np.float32) ** 4,
                          ((np.arange(2000) // 200) % 2).astype(np.uint8), 2000 / 70) for i in range(3)]
    mean, std = np.full(80, -3.0, np.float32), np.full(80, 2.0, np.float32)
    trainer = cupy.cuda.Stream(non_blocking=True)
    with trainer:
        on_gpu = batches.TrainingExcerpts(songs, mean, std, augment.PAPER_COMBINATION, 32, seed=2, device=gpu)
    on_cpu = batches.TrainingExcerpts(songs, mean, std, augment.PAPER_COMBINATION, 32, seed=2)
    made = {}

    def worker(update):
        with cupy.cuda.Stream(non_blocking=True), gpu.active():
            made[update] = on_gpu.batch(update)
    for update in range(4):
        thread = threading.Thread(target=worker, args=(update,))
        thread.start()
        thread.join()
        with trainer:
            x = made.pop(update)[0] * 1  # read on the trainer's stream, right after the handoff
            trainer.synchronize()
        want = on_cpu.batch(update)[0]
        np.testing.assert_allclose(gpu.get(x), want, rtol=0, atol=1e-5 * np.abs(want).max())
