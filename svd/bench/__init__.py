"""Performance figures for `run.py bench` (printed, never asserted: a slow machine fails no test).

Every timing runs the work once to warm up (allocations, caches, lazy
imports), then reports the median of several repetitions.
"""
import importlib.util
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile

from svd import audio, augment, backend, batches, dataset, excerpt, network, predict, spectrum, train
from svd.device import CPU
from svd.excerpt import EXCERPT_FRAMES


def median_seconds(work, repeats, clock=time.perf_counter, device=CPU):
    """Median duration of `work()` over `repeats` runs after one warm-up run.

    On a GPU device each run is timed by CUDA events recorded before and after it
    on the current stream, waiting for the second (so the GPU's work is counted).
    """
    work()
    if device.xp is not np:
        return statistics.median(_event_seconds(work, device.xp) for _ in range(repeats))
    durations = []
    for _ in range(repeats):
        started = clock()
        work()
        durations.append(clock() - started)
    return statistics.median(durations)


def _event_seconds(work, cupy):
    """Seconds between CUDA events recorded around one run of `work()`."""
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    work()
    stop.record()
    stop.synchronize()
    return cupy.cuda.get_elapsed_time(start, stop) / 1e3


def features_s_per_audio_min(repeats):
    """CPU seconds to decode, downmix, resample and compute log-mel for one minute of 44.1 kHz stereo."""
    rng = np.random.default_rng(0)
    stereo = (0.1 * rng.standard_normal((44100 * 60, 2))).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "minute.flac"
        soundfile.write(path, stereo, 44100)
        return median_seconds(lambda: spectrum.log_mel(spectrum.linear_spectrogram(audio.load(path))),
                              repeats, clock=time.process_time)


def matmul_gflops(repeats, size=None, device=CPU):
    """float32 size x size matrix product speed in GFLOP/s on `device`: the ceiling the network is
    measured against. size: 2048 on the CPU, 8192 on a GPU (big enough to fill it)."""
    size = size or (2048 if device.xp is np else 8192)
    a = device.put(np.random.default_rng(0).standard_normal((size, size), dtype=np.float32))
    out = device.xp.empty_like(a)

    def product():  # reading one number back waits for a GPU to finish
        float(device.xp.matmul(a, a, out=out)[0, 0])
    return 2 * size ** 3 / median_seconds(product, repeats, device=device) / 1e9


def train_updates_per_s(repeats, batch=32, device=CPU):
    """Full training updates per second (forward, loss, backward, Nesterov step) at batch 32.

    On a GPU each timed update ends by reading its loss back, which waits for it to finish.
    """
    rng = np.random.default_rng(0)
    x = device.put(rng.standard_normal((batch, EXCERPT_FRAMES, spectrum.MEL_BANDS), dtype=np.float32))
    targets = device.put(rng.integers(0, 2, batch).astype(np.float32))
    return _updates_per_s(repeats, device, lambda update: (x, targets))


def _updates_per_s(repeats, device, batch_of):
    """Training updates per second on `device`, update k training on batch_of(k) = (x, targets);
    each timed update ends by reading its loss back (on a GPU that waits for it)."""
    rng = np.random.default_rng(0)
    params = device.put_all(network.init_params(rng))
    velocity = backend.ops(params["conv1.w"]).init_velocity(params)
    workspace, done = {}, [0]

    def update():
        x, targets = batch_of(done[0])
        done[0] += 1
        float(train.update_step(params, velocity, x, targets, rng, 1e-4, 0.95, workspace))
    with device.active():
        return 1 / median_seconds(update, repeats, device=device)


def augment_batches_per_s(repeats, batch=32, device=CPU):
    """Batches per second of the paper's augmentation combination on linear excerpts (on `device`)."""
    rng = np.random.default_rng(0)
    aug = augment.PAPER_COMBINATION
    linear = device.put(rng.random((batch, augment.source_frames(aug), spectrum.LINEAR_BINS), dtype=np.float32))
    mean, std = device.put(np.zeros(spectrum.MEL_BANDS, np.float32)), device.put(np.ones(spectrum.MEL_BANDS, np.float32))

    def one_batch():  # reading one number back waits for a GPU to finish the batch
        float(augment.augment_batch(backend.ops(linear), linear, aug, rng, mean, std)[0, 0, 0])
    with device.active():
        return 1 / median_seconds(one_batch, repeats, device=device)


def augmented_updates_per_s(repeats, batch=32, device=CPU, songs=4, song_minutes=2.0):
    """Training updates per second with the paper's augmentation, batches made on `device`.

    A corpus of `songs` random songs is put in a song store on the device
    (svd/batches.py); each timed update gathers and augments its batch there,
    then trains on it (one after the other: `train` overlaps the two).
    Returns (updates per second, song store bytes per hour of audio).
    """
    rng = np.random.default_rng(0)
    frames = int(song_minutes * 60 * spectrum.FRAME_RATE_HZ)
    corpus = [dataset.Song(f"random{i}", rng.random((frames, spectrum.LINEAR_BINS), dtype=np.float32),
                           rng.integers(0, 2, frames).astype(np.uint8), song_minutes * 60) for i in range(songs)]
    mean, std = np.zeros(spectrum.MEL_BANDS, np.float32), np.ones(spectrum.MEL_BANDS, np.float32)
    excerpts = batches.TrainingExcerpts(corpus, mean, std, augment.PAPER_COMBINATION, batch, 0, device=device)
    return _updates_per_s(repeats, device, excerpts.batch), excerpts.store_bytes / (songs * song_minutes / 60)


def predict_s_per_audio_min(repeats, minutes=1.0, device=CPU):
    """Seconds to predict every frame of one minute of audio: whole-song network, and excerpt-wise.

    The excerpt-wise figure is measured on 10 s and scaled (it is ~100x slower).
    Returns (whole_song_s, excerpt_wise_s) per minute of audio.
    """
    rng = np.random.default_rng(0)
    params = network.init_params(rng)
    frames = int(minutes * 60 * spectrum.FRAME_RATE_HZ)
    padded = rng.standard_normal((frames + EXCERPT_FRAMES - 1, spectrum.MEL_BANDS), dtype=np.float32)
    on_device = device.put_all(params)
    with device.active():
        whole_song = median_seconds(lambda: predict.song_probabilities(on_device, padded), repeats,
                                    device=device) / minutes
    short = padded[:int(10 * spectrum.FRAME_RATE_HZ) + EXCERPT_FRAMES - 1]
    excerpt_wise = median_seconds(lambda: predict.excerpt_probabilities(params, short), 1) * 6
    return whole_song, excerpt_wise


def layer_milliseconds(repeats, batch=32):
    """Where a training update's time goes on the fast CPU path: median milliseconds per update of
    each layer's forward and backward calls, and of the loss and the optimiser step.

    Every operation call of svd/backend.py is timed (backend.wrapped) and named by its
    place in the update: network.forward calls conv1, conv2, pool1, conv3, conv4, pool2,
    then the dense layers, and network.backward the same in reverse. Returns
    {(layer, "forward" | "backward"): ms}, layers in network order.
    """
    rng = np.random.default_rng(0)
    params = network.init_params(rng)
    velocity = backend.ops(params["conv1.w"]).init_velocity(params)
    x = rng.standard_normal((batch, EXCERPT_FRAMES, spectrum.MEL_BANDS), dtype=np.float32)
    targets = rng.integers(0, 2, batch).astype(np.float32)
    workspace, calls = {}, []

    def timer(op, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            result = function(*args, **kwargs)
            calls.append((op, time.perf_counter() - started))
            return result
        return timed
    per_update = []
    previous = backend.use(backend.wrapped(backend.FAST, timer))
    try:
        for _ in range(repeats + 1):  # the first is the warm-up
            calls.clear()
            train.update_step(params, velocity, x, targets, rng, 1e-4, 0.95, workspace)
            per_update.append(_name_calls(calls))
    finally:
        backend.use(previous)
    return {key: 1e3 * statistics.median(update[key] for update in per_update[1:]) for key in per_update[0]}


# Which layer the k-th call of an operation belongs to in one training update (network.py's order).
_LAYER_OF_CALL = {
    "conv2d_forward": network.CONVS, "conv2d_backward": network.CONVS[::-1],
    "maxpool2d_forward": ("pool1", "pool2"), "maxpool2d_backward": ("pool2", "pool1"),
    "dense_forward": network.DENSES, "dense_backward": network.DENSES[::-1],
    "dropout_forward": ("dropout1", "dropout2", "dropout3"), "dropout_backward": ("dropout3", "dropout2", "dropout1"),
    "leaky_relu_forward": ("leaky1", "leaky2"), "leaky_relu_backward": ("leaky2", "leaky1"),
}
_ORDER = ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "dropout1", "dense1", "leaky1", "dropout2",
          "dense2", "leaky2", "dropout3", "dense3", "loss", "nesterov step")


def _name_calls(calls):
    """{(layer, direction): seconds} of one update's [(op, seconds)] in call order."""
    seen, named = {}, {}
    for op, seconds in calls:
        k = seen[op] = seen.get(op, -1) + 1
        if op in _LAYER_OF_CALL:
            layer = _LAYER_OF_CALL[op][k]
        else:
            layer = "loss" if op.startswith("sigmoid_cross_entropy") else "nesterov step"
        direction = "backward" if op.endswith("_backward") else "forward"
        named[layer, direction] = named.get((layer, direction), 0.0) + seconds
    return dict(sorted(named.items(), key=lambda item: (_ORDER.index(item[0][0]), item[0][1] == "backward")))


def whole_song_flops_per_frame():
    """FLOPs per frame of the whole-song network (multiply-adds counted as 2), from the parameter shapes.

    Per output frame every conv runs once over its frequency positions, and each
    dense layer (dense1 as its time convolution) once: its whole weight matrix.
    """
    freq, mults = excerpt.INPUT_SHAPE[1], 0
    for name in network.CONVS:
        kernel_time, kernel_freq, c_in, c_out = network.PARAM_SHAPES[name + ".w"]
        freq -= kernel_freq - 1
        mults += freq * kernel_time * kernel_freq * c_in * c_out
        if name in ("conv2", "conv4"):  # each followed by a pool
            freq //= network.POOL[1]
    mults += sum(int(np.prod(network.PARAM_SHAPES[name + ".w"])) for name in network.DENSES)
    return 2 * mults


# glibc malloc for the PyTorch process: every block from the heap (no mmap), never trimmed back to the
# system, so PyTorch's freed activations are not page-faulted in anew each update (svd/bench/pytorch.py).
PYTORCH_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 32), "MALLOC_TRIM_THRESHOLD_": str(1 << 36),
                  "MALLOC_TOP_PAD_": str(1 << 30)}


def pytorch_figures(repeats, device=CPU):
    """The same network's training speed in PyTorch, when PyTorch happens to be installed (never a
    dependency): {"pytorch_train_updates_per_s": ...} (float32; on a GPU also the TF32 figure), or
    {"pytorch": "not installed"}."""
    if importlib.util.find_spec("torch") is None:
        return {"pytorch": "not installed"}
    gpu = device.xp is not np
    try:  # a failure of the PyTorch process is reported, not raised: the other figures stand
        version, speed = _pytorch_updates_per_s(repeats, gpu, tf32=False)
        figures = {"pytorch": version, "pytorch_train_updates_per_s": speed}
        if gpu:
            figures["pytorch_tf32_train_updates_per_s"] = _pytorch_updates_per_s(repeats, True, tf32=True)[1]
    except subprocess.CalledProcessError as error:
        last = (error.stderr or "").strip().splitlines()[-1:] or ["no message"]
        return {"pytorch": f"failed (exit code {error.returncode}): {last[0]}"}
    return figures


def _pytorch_updates_per_s(repeats, gpu, tf32):
    """(PyTorch version, updates per second) from svd/bench/pytorch.py run in its own process, with the
    malloc settings PyTorch needs to be at its best."""
    command = [sys.executable, "-m", "svd.bench.pytorch", "--repeats", str(repeats)]
    command += ["--gpu"] * gpu + ["--tf32"] * tf32
    result = subprocess.run(command, env={**os.environ, **PYTORCH_MALLOC}, capture_output=True, text=True,
                            cwd=pathlib.Path(__file__).resolve().parents[2], check=True)
    version, speed = result.stdout.split()[-2:]
    return version, float(speed)


STEPS = 6  # measurements run_all makes, for a progress bar


def run_all(quick=False, progress=None, device=CPU):
    """All figures as a flat dict (the JSON `run.py bench` writes).

    progress: optional callable(done, extra) told before each measurement how many
    of the STEPS are done and which one starts, and (STEPS, "") at the end.
    device: where the matrix-product ceiling, training, augmentation and whole-song
    prediction are measured (features and excerpt-wise prediction stay on the CPU).
    """
    report = progress or (lambda done, extra: None)
    repeats = 3 if quick else 10
    figures = {"machine": f"{os.cpu_count()} CPU cores", "device": device.name, "date": time.strftime("%Y-%m-%d")}
    if device.name == CPU.name:  # with the compiled C (Winograd convolutions...) or NumPy loops only
        figures["cpu_compiled_code"] = backend.fast_compiled_missing() or "yes"
    report(0, "measuring features")
    figures["features_s_per_audio_min"] = features_s_per_audio_min(repeats)
    report(1, "measuring matrix multiply")
    figures["matmul_gflops"] = matmul_gflops(repeats, device=device)
    report(2, "measuring training")
    figures["train_updates_per_s"] = train_updates_per_s(repeats, device=device)
    # counted as the direct convolution's FLOPs: the Winograd convolutions do fewer
    figures["train_gflops"] = figures["train_updates_per_s"] * 3 * network.forward_flops(32) / 1e9
    figures["train_fraction_of_matmul"] = figures["train_gflops"] / figures["matmul_gflops"]
    report(3, "measuring PyTorch's training, if installed")
    figures.update(pytorch_figures(repeats, device))
    if "pytorch_train_updates_per_s" in figures:
        figures["train_speed_vs_pytorch"] = figures["train_updates_per_s"] / figures["pytorch_train_updates_per_s"]
    report(4, "measuring augmentation")
    figures["augment_batches_per_s"] = augment_batches_per_s(repeats, device=device)
    figures["train_augmented_updates_per_s"], store_per_hour = augmented_updates_per_s(repeats, device=device)
    figures["song_store_mb_per_audio_hour"] = store_per_hour / 1e6
    report(5, "measuring prediction")
    whole_song, excerpt_wise = predict_s_per_audio_min(repeats, device=device)
    report(STEPS, "")
    figures["predict_s_per_audio_min"] = whole_song
    figures["predict_excerptwise_s_per_audio_min"] = excerpt_wise
    figures["predict_speedup_over_excerptwise"] = excerpt_wise / whole_song
    frames_per_min = 60 * spectrum.FRAME_RATE_HZ
    figures["predict_gflops"] = frames_per_min * whole_song_flops_per_frame() / whole_song / 1e9
    figures["predict_fraction_of_matmul"] = figures["predict_gflops"] / figures["matmul_gflops"]
    return figures


def choice_lines():
    """What svd/fast/choice.py chose on this machine and why: a heading, then one line per operation and shape
    with the median milliseconds of each candidate, the chosen one first."""
    path, chosen = backend.fast_choices()
    lines = ["", f"chosen on this machine ({path}; median ms of each candidate, the fastest first):"]
    for key, entry in sorted(chosen.items()):
        ranked = sorted(entry["seconds"].items(), key=lambda item: item[1])
        lines.append(f"  {key}: " + ", ".join(f"{name} {1000 * seconds:.2f}" for name, seconds in ranked))
    return lines if len(lines) > 2 else lines + ["  nothing measured yet (one implementation applies to each layer)"]
