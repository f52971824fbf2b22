"""Training loop (paper Sec. 3.3): SGD with Nesterov momentum on cross-entropy, checkpoints, resume.

Defaults are the paper's: 40,000 updates of 32 excerpts, learning rate 0.01
scaled by 0.85 every 2000 updates, momentum 0.95, targets 0.02/0.98. The
ISMIR-2016 network (`--arch ismir2016`, svd/network2016.py) trains with Adam
instead, on the same schedule from 0.001, and its running batch statistics
are updated after each step.
A checkpoint (a model file plus momentum buffers and the update count) is
written atomically every `checkpoint_every` updates; because batch k depends
only on (seed, k) (svd/batches.py), resuming from it gives exactly the model
an uninterrupted run gives.
"""
import concurrent.futures
import contextlib
import dataclasses
import json
import math
import os
import pathlib
import sys
import time

import numpy as np

from svd import augment, backend, hyperparameters, layers, model_file, network, network2016, normalise, optim
from svd.batches import STREAM_DROPOUT, STREAM_INIT, TrainingExcerpts, stream_rng
from svd.device import CPU
from svd.util import locks, provenance
from svd.util.atomic import WriteFailed, write_failed
from svd.util.errors import InputError
from svd.util.progress import Progress


class TrainingDiverged(InputError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def train(songs, config, out_path, resume=False, checkpoint_every=1000, quiet=False, data_label="",
          device=CPU):
    """Train on `songs` (list of svd.dataset.Song) and write the model to `out_path`.

    Returns the svd.model_file.Model written (host arrays). With resume=True,
    continues from checkpoint_path(out_path) if it exists (its configuration
    must match). device: svd.device.Device holding the weights, momentum,
    the song store and the batches during training (each batch is gathered and
    augmented there: svd/batches.py); checkpoints and the model file are
    written from host copies. The batch losses stay on the device and are read back every
    LOSS_READ_EVERY updates (and before each checkpoint), so a GPU never waits
    for the host in between.
    """
    ckpt = checkpoint_path(out_path)
    check_checkpoint(out_path, resume)
    mean, std = normalise.band_statistics(
        normalise.recording_features(song.linear, config.per_recording, config.pcen) for song in songs)
    if config.zero_mean:
        std = normalise.shared_scale(std)
    state = _fresh_state(config, mean, std, data_label)
    if resume and ckpt.is_file():
        state = _resume_state(ckpt, state)
        if state.update > config.updates:
            raise InputError(f"{ckpt}: the checkpoint is at update {state.update}, past --updates "
                             f"{config.updates}; ask for at least {state.update} updates or delete the checkpoint.")
        if not quiet:
            print(f"resuming at update {state.update}", file=sys.stderr)
    if not quiet and device.xp.__name__ == "numpy" and state.update < config.updates:
        left = config.updates - state.update
        print(f"training {left} updates: {duration_text(left)} on a 2-core CPU (Ctrl-C stops it; --resume "
              "continues)", file=sys.stderr)
    aug = augment.Augmentation(**config.augmentation)
    excerpts = TrainingExcerpts(songs, mean, std, aug, config.batch, config.seed,
                                (config.target_low, config.target_high), device, config.per_recording, config.pcen)
    state.params, state.velocity = device.put_all(state.params), device.put_all(state.velocity)
    if state.moment2 is not None:
        state.moment2 = device.put_all(state.moment2)
    try:
        _train_updates(state, config, excerpts, ckpt, checkpoint_every, quiet, device)
        final = _save_model(out_path, ckpt, state, device)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (run.py): the checkpoints written so far stay
        print(f"training interrupted at update {state.update}; {_kept(ckpt, state)}", file=sys.stderr)
        raise
    ckpt.unlink(missing_ok=True)  # the finished model supersedes it
    return final


def _save_model(out_path, ckpt, state, device):
    """Write the finished run's model file; returns the Model.

    A checkpoint of the finished run comes first: should the model file not fit on
    the disk, `--resume` writes it later without training again.
    """
    with contextlib.suppress(WriteFailed):  # the model file is smaller: it may fit still
        _save_checkpoint(ckpt, state, device)
    final = model_file.Model(device.get_all(state.params), state.mean, state.std, state.config,
                             provenance=provenance.describe(device, state.config["train"]["seed"]))
    try:
        model_file.save(out_path, final)
    except WriteFailed as error:
        raise WriteFailed(f"{error} The training is not lost: {_kept(ckpt, state)}.") from None
    return final


def _kept(ckpt, state):
    """What of an unfinished run is on disk, and how to continue it (for messages)."""
    if state.saved_update is None:
        return "no checkpoint was written yet"
    return (f"the checkpoint {ckpt} holds update {state.saved_update}; run the same command with --resume "
            "to continue from it")


def _train_updates(state, config, excerpts, ckpt, checkpoint_every, quiet, device):
    """The updates from state.update to config.updates, in place on `state`; checkpoints on the way."""
    workspace = {}  # the network's big buffers, reused across updates
    losses = _LossLog(device, ckpt)
    # A background thread prepares batch k+1 (gather, augmentation) while the network trains on batch k.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker, device.active(), \
            Progress("training", config.updates, "updates", quiet=quiet, start=state.update) as bar:
        upcoming = worker.submit(excerpts.batch, state.update)
        for update in range(state.update, config.updates):
            x, targets = upcoming.result()
            if update + 1 < config.updates:
                upcoming = worker.submit(excerpts.batch, update + 1)
            losses.add(update, _step(state, x, targets, update, config, workspace))
            state.update = update + 1
            checkpoint = state.update % checkpoint_every == 0 and state.update < config.updates
            if checkpoint or state.update % LOSS_READ_EVERY == 0 or state.update == config.updates:
                losses.read()
            bar.update(state.update, "" if math.isnan(losses.smoothed) else f"loss {losses.smoothed:.4f}")
            if checkpoint:
                try:
                    _save_checkpoint(ckpt, state, device)
                except WriteFailed as error:
                    raise WriteFailed(f"{error} Training stopped at update {state.update}; "
                                      f"{_kept(ckpt, state)}.") from None


LOSS_READ_EVERY = 20  # updates between reading the batch losses back from the device


class _LossLog:
    """Batch losses kept on the device until `read`: a smoothed value for the progress bar, divergence checks."""

    def __init__(self, device, ckpt):
        self.device, self.ckpt = device, ckpt
        self.pending = []  # (update, 0-d device array)
        self.smoothed = math.nan

    def add(self, update, loss):
        self.pending.append((update, loss))

    def read(self):
        """Copy the pending losses to the host (one transfer); TrainingDiverged at the first non-finite one."""
        if not self.pending:
            return
        values = self.device.get(self.device.xp.stack([loss for _, loss in self.pending]))
        for (update, _), value in zip(self.pending, values.tolist()):
            if not math.isfinite(value):
                kept = "no checkpoint was written yet"
                if self.ckpt.is_file():
                    kept = f"the last good checkpoint is {self.ckpt}"
                raise TrainingDiverged(f"training diverged: the loss became {value} at update {update}; "
                                       f"{kept}; lower --lr and retry.")
            self.smoothed = value if math.isnan(self.smoothed) else 0.98 * self.smoothed + 0.02 * value
        self.pending = []


@dataclasses.dataclass
class _RunState:
    """Everything that changes during training: weights (and running statistics), momentum buffers, updates done."""
    params: dict
    velocity: dict  # Nesterov's velocity, or Adam's first moment: one per trained parameter
    update: int
    mean: np.ndarray
    std: np.ndarray
    config: dict
    saved_update: int = None  # the update the checkpoint on disk holds (None: no checkpoint)
    moment2: dict = None  # Adam's second moment (None with Nesterov momentum)


def _step(state, x, targets, update, config, workspace):
    """One update of a run: its dropout generator and learning rate, then `update_step` (`adam_update_step` for
    the ISMIR-2016 network)."""
    rate = optim.learning_rate(update, config.lr, config.lr_decay, config.lr_every)
    if state.moment2 is not None:
        return adam_update_step(state.params, state.velocity, state.moment2, x, targets,
                                stream_rng(config.seed, STREAM_DROPOUT, update), rate, update + 1, config.momentum,
                                workspace, config.zero_mean)
    return update_step(state.params, state.velocity, x, targets, stream_rng(config.seed, STREAM_DROPOUT, update),
                       rate, config.momentum, workspace, config.zero_mean)


def update_step(params, velocity, x, targets, dropout_rng, learning_rate, momentum, workspace=None,
                zero_mean=False):
    """Forward, loss, backward and Nesterov step, in place on params and velocity.

    x: (batch, 115, 80) excerpts; targets: (batch,) in [0, 1], on the params'
    device; dropout_rng: numpy Generator of the dropout masks (on a GPU it
    seeds the device's mask generator); zero_mean: keep conv1's filters
    zero-mean (their gradient projected, svd/layers.py zero_mean_backward).
    Returns the batch loss as a 0-d array on that device (float() of it waits
    for the update to finish).
    """
    nn = backend.ops(params["conv1.w"])
    logits, cache = network.forward(params, x, rng=dropout_rng, workspace=workspace)
    batch_loss, loss_cache = nn.sigmoid_cross_entropy_forward(logits, targets)
    grads = network.backward(params, cache, nn.sigmoid_cross_entropy_backward(loss_cache))
    if zero_mean:
        grads["conv1.w"] = layers.zero_mean_backward(grads["conv1.w"])
    nn.nesterov_momentum(params, grads, velocity, learning_rate, momentum)
    return batch_loss


def adam_update_step(params, moment1, moment2, x, targets, dropout_rng, learning_rate, step, beta1, workspace=None,
                     zero_mean=False):
    """`update_step` for the ISMIR-2016 network (svd/network2016.py): forward in training mode, loss,
    backward, the running statistics moved towards the batch's, and an Adam step (svd/optim.py).

    moment1, moment2: Adam's buffers of the trained parameters; step: this update's number, 1 for
    the first; beta1: Adam's first-moment decay (`--momentum`). Returns the batch loss (0-d array).
    """
    nn = backend.ops(params["conv1.w"])
    logits, cache = network2016.forward(params, x, rng=dropout_rng, workspace=workspace)
    batch_loss, loss_cache = nn.sigmoid_cross_entropy_forward(logits, targets)
    grads = network2016.backward(params, cache, nn.sigmoid_cross_entropy_backward(loss_cache))
    network2016.update_statistics(params, cache)
    if zero_mean:
        grads["conv1.w"] = layers.zero_mean_backward(grads["conv1.w"])
    nn.adam(params, grads, moment1, moment2, learning_rate, step, beta1)
    return batch_loss


def _fresh_state(config, mean, std, data_label):
    net = hyperparameters.architecture(config.arch)
    params = net.init_params(stream_rng(config.seed, STREAM_INIT))
    if config.zero_mean:
        params["conv1.w"] = layers.zero_mean_forward(params["conv1.w"])
    run_config = {"train": dataclasses.asdict(config), "data": data_label}
    trained = {name: params[name] for name in net.TRAINED}
    init_velocity = backend.ops(params["conv1.w"]).init_velocity
    adam = hyperparameters.OPTIMISERS[config.arch][0] == "adam"
    return _RunState(params, init_velocity(trained), 0, mean, std, run_config,
                     moment2=init_velocity(trained) if adam else None)


def _resume_state(ckpt, fresh):
    stored = model_file.load(ckpt)
    mismatch = _differences(stored.config, fresh.config)
    if mismatch:
        raise InputError(f"{ckpt}: checkpoint was made with other settings ({mismatch}); "
                         "use the same options as the interrupted run, or delete the checkpoint.")
    if not (np.array_equal(stored.mean, fresh.mean) and np.array_equal(stored.std, fresh.std)):
        raise InputError(f"{ckpt}: checkpoint was made on other training data; use the same --data, "
                         "or delete the checkpoint.")
    buffers = {kind: {key[len(kind) + 1:]: value for key, value in stored.extra.items() if key.startswith(kind + "/")}
               for kind in ("velocity", "moment2")}
    try:
        update = json.loads(str(stored.extra["progress"]))["update"]
    except (KeyError, TypeError, ValueError):
        update = None
    wanted = {"velocity": fresh.velocity, "moment2": fresh.moment2 or {}}  # what the run's optimiser keeps
    shapes_match = stored.params.keys() == fresh.params.keys() and all(
        buffers[kind].keys() == wanted[kind].keys() and all(
            buffers[kind][name].shape == value.shape and buffers[kind][name].dtype == value.dtype
            for name, value in wanted[kind].items()) for kind in wanted)
    if not (isinstance(update, int) and not isinstance(update, bool) and update >= 0 and shapes_match):
        raise InputError(f"{ckpt}: the checkpoint is damaged (its progress record or momentum buffers are missing "
                         "or wrong); delete it to start the training over.")
    return _RunState(stored.params, buffers["velocity"], update, fresh.mean, fresh.std, fresh.config,
                     saved_update=update, moment2=buffers["moment2"] if fresh.moment2 is not None else None)


def _differences(stored, fresh):
    """Names of settings that differ between two run configs (the update count may grow)."""
    defaults = dataclasses.asdict(hyperparameters.TrainConfig())  # settings newer than the checkpoint: their default
    old, new = {**defaults, **stored["train"]}, dict(fresh["train"])
    old.pop("updates"), new.pop("updates")
    names = [name for name in new if old.get(name) != new[name]]
    if stored.get("data") != fresh.get("data"):
        names.append("data")
    return ", ".join(names)


def _save_checkpoint(ckpt, state, device):
    extra = {f"velocity/{name}": value for name, value in device.get_all(state.velocity).items()}
    if state.moment2 is not None:
        extra.update({f"moment2/{name}": value for name, value in device.get_all(state.moment2).items()})
    extra["progress"] = np.array(json.dumps({"update": state.update, "saved_at": time.time()}))
    model_file.save(ckpt, model_file.Model(device.get_all(state.params), state.mean, state.std, state.config,
                                           extra=extra))
    state.saved_update = state.update


# ---------------------------------------------------------------- the guards a command checks before training

def checkpoint_path(out_path):
    """Where the checkpoint of a run writing `out_path` lives: <out>.ckpt.npz."""
    out_path = pathlib.Path(out_path)
    return out_path.with_name(out_path.name + ".ckpt.npz")


def check_checkpoint(out_path, resume):
    """InputError if a checkpoint of `out_path` is there and `resume` is not asked for (cheap: before loading)."""
    ckpt = checkpoint_path(out_path)
    if ckpt.is_file() and not resume:
        raise InputError(f"{ckpt}: an interrupted run left this checkpoint; pass --resume to continue it, "
                         "or delete the file to start over.")


# A rough CPU training speed for estimates said before a long run starts: the fast path with
# its C code on a 2-core machine does 2-6.5 updates/s (BENCHMARKS.md); the estimate takes the
# slower end's order, so a run is not longer than said by much.
ESTIMATE_UPDATES_PER_S = 3.0


def duration_text(updates):
    """'about 3.7 hours' for `updates` training updates on a CPU at ESTIMATE_UPDATES_PER_S."""
    hours = updates / ESTIMATE_UPDATES_PER_S / 3600
    if hours < 1:
        return f"about {max(1, round(hours * 60))} minutes"
    return f"about {hours:.1f} hours" if hours < 48 else f"about {hours / 24:.1f} days"


def check_replaceable(out_path, overwrite):
    """InputError if a model file is already at `out_path` and `overwrite` is not asked for.

    A finished (and perhaps evaluated) model is never replaced silently; an unfinished
    run's checkpoint is `check_checkpoint`'s business.
    """
    path = pathlib.Path(out_path)
    if path.exists() and not overwrite:
        raise InputError(f"--out {path}: a model file is already there; pass --overwrite to replace it, "
                         "or pick another --out.")


@contextlib.contextmanager
def output_lock(out_path):
    """Hold `<out>.lock` (svd/util/locks.py: host and process) while a run writes `out_path` and its checkpoint.

    Two runs on one --out would write one checkpoint in turns; the second is refused
    with an InputError naming the first. A lock left by a killed run is taken over.
    """
    path = pathlib.Path(out_path)
    path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as the model's first write would
        lock = locks.try_lock(path)
    except OSError as error:
        raise write_failed(path, error) from None
    if lock is None:
        raise InputError(f"--out {out_path}: another training run is writing it ({locks.describe(path)}); "
                         "wait for it to end, or pick another --out.")
    with lock:
        yield


# Peak memory of a training on the CPU grows by about 9.5 MB per excerpt of the mini-batch
# (measured: 453 MB at --batch 32, 2585 MB at 256); rounded up, with the interpreter's share.
BYTES_PER_EXCERPT = 10 * 2**20
BASE_BYTES = 200 * 2**20


def check_batch_fits(batch):
    """InputError if a CPU training with mini-batches of `batch` excerpts needs more memory than the machine has."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return  # unknown machine: let it try
    needed = BASE_BYTES + batch * BYTES_PER_EXCERPT
    if needed > total:
        raise InputError(f"--batch {batch}: a mini-batch that big needs about {needed / 2**30:.0f} GiB of memory, "
                         f"more than this machine's {total / 2**30:.0f} GiB; lower --batch (the paper uses 32).")
