"""Mini-batches of excerpts for training (paper Sec. 3.3).

A training position is a frame of a training song that is the centre of an
excerpt lying wholly inside the song (hop 1 frame), as in the paper's code:
no training excerpt ever contains padding. (An earlier version padded every
song with 57 frames of "silence", normalised log(1e-7), about -9 standard
deviations, so that edge frames were centres too; measured on real songs that
made the models worse, see BENCHMARKS.md, "Accuracy parity".) Prediction still
pads, so that every frame of a song gets a probability (svd/predict.py).
Positions are visited in a random order without replacement; when all are
used, a new random order starts.

Every random draw comes from its own generator, `stream_rng(seed, stream,
index)`: the initial weights, the order of each epoch, and the augmentation
and dropout of each update. Batch k is a pure function of the seed and k. This
makes a run reproducible, lets a background thread prepare batch k+1 while the
network trains on batch k, and makes resuming from a checkpoint exact without
saving any generator state.
"""
import numpy as np

from svd import augment, backend, loss, normalise, spectrum
from svd.util import streams
from svd.device import CPU
from svd.excerpt import EXCERPT_FRAMES
from svd.util.errors import InputError

# The purposes random numbers are drawn for; each (seed, purpose, index) is its own stream.
STREAM_INIT, STREAM_ORDER, STREAM_AUGMENT, STREAM_DROPOUT = 1, 2, 3, 4


def stream_rng(seed, stream, index=0):
    """The generator of one purpose (`stream`, one of STREAM_*) for one epoch or update (`index`).

    Keys are always three words and differ in the second for different
    purposes. That matters: NumPy's SeedSequence pads keys with zeros, so keys
    of different lengths can coincide ([s, 0, 0] and [s, 0, 0, 0] give the same
    numbers), which once made the initial weights and the first epoch's order
    one stream.
    """
    return np.random.default_rng([seed, stream, index])


class PositionSampler:
    """Indices into the training positions for each update: without replacement, reshuffled every epoch."""

    def __init__(self, n_positions, batch_size, seed):
        self.n_positions, self.batch_size, self.seed = n_positions, batch_size, seed
        self._epoch, self._order = None, None

    def _permutation(self, epoch):
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = stream_rng(self.seed, STREAM_ORDER, epoch).permutation(self.n_positions)
        return self._order

    def positions(self, update):
        """(batch_size,) int64 indices in [0, n_positions) for update `update`."""
        out = np.empty(self.batch_size, np.int64)
        first = update * self.batch_size
        filled = 0
        while filled < self.batch_size:
            epoch, offset = divmod(first + filled, self.n_positions)
            chunk = self._permutation(epoch)[offset:offset + self.batch_size - filled]
            out[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
        return out


def _linear_store(songs):
    """All songs' linear spectrograms one after the other: (total_frames, bins) float32.

    Each song's `linear` is then rebound to its rows of the store (same values),
    so the spectrograms are held once, not twice: each original is released as
    soon as it is copied (if nothing else holds it), and memory peaks at the
    store plus one song.
    """
    store = np.empty((sum(len(song.linear) for song in songs), songs[0].linear.shape[1]), np.float32)
    start = 0
    for song in songs:
        stop = start + len(song.linear)
        store[start:stop] = song.linear
        song.linear = store[start:stop]
        start = stop
    return store


def _song_statistics(songs, mean, std):
    """Per-song (songs, 80) mean and std, on the host, that turn an augmented excerpt's log-mel into network input.

    ((log_mel - own mean) / own std - mean) / std, written as one subtraction
    and one division: mean' = own mean + mean * own std, std' = own std * std.
    mean, std: the training set's (80,) statistics, host arrays.
    """
    own = [normalise.recording_statistics(spectrum.log_mel(song.linear)) for song in songs]
    own_mean, own_std = np.stack([m for m, _ in own]), np.stack([s for _, s in own])
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    return own_mean + mean * own_std, own_std * std


class TrainingExcerpts:
    """Builds the inputs and targets of each update from the training songs.

    songs: list of svd.dataset.Song; mean, std: (80,) normalisation;
    aug: svd.augment.Augmentation (all off for plain training); device: the
    svd.device.Device the batches are made on and returned on; per_recording:
    each song standardised by its own statistics first (svd/normalise.py); when
    augmenting, an excerpt is standardised after its augmentation by the
    statistics of the song it was cut from (unaugmented), so the augmentations
    vary the sound around a standardised recording; pcen: PCEN features instead
    of the log-mel (svd/normalise.py; not with augmentation).
    Excerpts are `width` frames wide: 115, or wider when time stretching needs
    more source (augment.source_frames); their centres are the frames at least
    width // 2 frames away from both ends of their song.

    The song store: every song's spectrogram, one after the other, in one
    (total_frames, bins) float32 array put on the device once: normalised
    log-mel (80 bins, 80.6 MB per audio hour) for plain training, linear
    magnitudes (513 bins, 517 MB per audio hour) when augmenting; then each
    song's `linear` becomes a view of its rows, so the host holds the
    spectrograms once. Each batch is gathered, augmented and normalised where the
    store lives; the host only chooses positions and draws the per-example
    random numbers.
    """

    def __init__(self, songs, mean, std, aug, batch_size, seed, targets=loss.TARGETS, device=CPU, per_recording=False,
                 pcen=False):
        self.aug, self.seed, self.device = aug, seed, device
        self.handoff = streams.Handoff(device.xp)  # batches made on another thread: svd/util/streams.py
        self.mean, self.std = device.put(np.asarray(mean, np.float32)), device.put(np.asarray(std, np.float32))
        self.target_values = np.asarray(targets, np.float32)
        self.width = augment.source_frames(aug, EXCERPT_FRAMES) if self.uses_linear else EXCERPT_FRAMES
        half = self.width // 2
        lengths = np.array([len(song.targets) for song in songs])
        self.song_starts = np.concatenate([[0], np.cumsum(lengths)])
        self.targets = np.concatenate([song.targets for song in songs])
        # Global frame indices (song_starts[s] + frame) of the excerpt centres.
        self.centres = np.concatenate([start + np.arange(half, length - half)
                                       for start, length in zip(self.song_starts, lengths)])
        if len(self.centres) == 0:
            raise InputError(f"every training song is shorter than one {self.width}-frame training excerpt "
                             f"({self.width / spectrum.FRAME_RATE_HZ:.1f} s); use longer songs.")
        self.sampler = PositionSampler(len(self.centres), batch_size, seed)
        if self.uses_linear:
            self.song_statistics = _song_statistics(songs, mean, std) if per_recording else None
            store = _linear_store(songs)
            self.negatives = self.centres[self.targets[self.centres] == 0]
        else:
            store = np.concatenate([normalise.normalise(normalise.recording_features(song.linear, per_recording, pcen),
                                                        mean, std)
                                    for song in songs]).astype(np.float32, copy=False)
        self.store = device.put(store)

    @property
    def uses_linear(self):
        """True when the augmentation needs linear spectrogram excerpts (any method is on)."""
        return self.aug != augment.Augmentation()

    @property
    def store_bytes(self):
        """Size of the song store on the device, in bytes."""
        return self.store.nbytes

    def _songs_of(self, centres):
        """Index of the song each global frame index lies in, (len(centres),) int64."""
        return np.searchsorted(self.song_starts, centres, side="right") - 1

    def _gather(self, centres):
        """(len(centres), width, bins) excerpts around the given global frame indices, on the device."""
        songs = self._songs_of(centres)
        frames = centres - self.song_starts[songs]
        return backend.ops(self.store).gather_excerpts(self.store, self.song_starts, songs, frames,
                                                      self.width, 0.0)

    def batch(self, update):
        """Inputs (batch, 115, 80) float32 and targets (batch,) float32 of update `update`, on the device
        (safe to make on another thread than the one that uses them: see svd/util/streams.py)."""
        with self.handoff.producing():
            return self._make_batch(update)

    def _make_batch(self, update):
        centres = self.centres[self.sampler.positions(update)]
        targets = self.device.put(self.target_values[self.targets[centres]])
        excerpts = self._gather(centres)
        if not self.uses_linear:
            return excerpts, targets
        rng = stream_rng(self.seed, STREAM_AUGMENT, update)

        def draw_negatives(n):
            if len(self.negatives) == 0:
                raise InputError("--mix-prob needs voice-free frames in the training songs, and they have none.")
            return self._gather(rng.choice(self.negatives, size=n))
        mean, std = self.mean, self.std
        if self.song_statistics is not None:
            songs = self._songs_of(centres)
            mean, std = (self.device.put(statistic[songs]) for statistic in self.song_statistics)
        return augment.augment_batch(backend.ops(excerpts), excerpts, self.aug, rng, mean, std, draw_negatives), targets
