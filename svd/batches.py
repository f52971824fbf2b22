"""Mini-batches of excerpts for training (paper Sec. 3.3).

A training position is a (song, frame) pair: every frame of every training
song is the centre of one excerpt (hop 1 frame). Songs are padded at both
ends with silence, so edge frames get excerpts too, exactly as at prediction.
Positions are visited in a random order without replacement; when all are
used, a new random order starts.

Every random draw of update k comes from generators seeded with (seed, k) or
(seed, epoch): batch k is a pure function of the seed and k. This makes a run
reproducible, lets a background thread prepare batch k+1 while the network
trains on batch k, and makes resuming from a checkpoint exact without saving
any generator state.
"""
import numpy as np

from svd import augment, normalise, spectrum
from svd.network import EXCERPT_FRAMES

# Streams of random numbers drawn for update k; each gets its own generator.
STREAM_AUGMENT, STREAM_DROPOUT = 1, 2


def update_rng(seed, update, stream):
    """The generator for one purpose (`stream`) of one update: numpy Generator."""
    return np.random.default_rng([seed, update, stream])


class PositionSampler:
    """Global position indices for each update: without replacement, reshuffled every epoch."""

    def __init__(self, n_positions, batch_size, seed):
        self.n_positions, self.batch_size, self.seed = n_positions, batch_size, seed
        self._epoch, self._order = None, None

    def _permutation(self, epoch):
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch, 0]).permutation(self.n_positions)
        return self._order

    def positions(self, update):
        """(batch_size,) int64 indices into all training positions for update `update`."""
        out = np.empty(self.batch_size, np.int64)
        first = update * self.batch_size
        filled = 0
        while filled < self.batch_size:
            epoch, offset = divmod(first + filled, self.n_positions)
            chunk = self._permutation(epoch)[offset:offset + self.batch_size - filled]
            out[filled:filled + len(chunk)] = chunk
            filled += len(chunk)
        return out


class TrainingExcerpts:
    """Builds the inputs and targets of each update from the training songs.

    songs: list of svd.dataset.Song; mean, std: (80,) normalisation;
    aug: svd.augment.Augmentation (all off for plain training).
    """

    def __init__(self, songs, mean, std, aug, batch_size, seed, targets=(0.02, 0.98)):
        self.aug, self.mean, self.std, self.seed = aug, mean, std, seed
        self.target_values = np.asarray(targets, np.float32)  # paper Sec. 3.3: 0.02 / 0.98
        lengths = np.array([len(song.targets) for song in songs])
        self.song_starts = np.concatenate([[0], np.cumsum(lengths)])
        self.targets = np.concatenate([song.targets for song in songs])
        self.sampler = PositionSampler(int(self.song_starts[-1]), batch_size, seed)
        if self.uses_linear:
            self.width = augment.source_frames(aug, EXCERPT_FRAMES)
            self.padded = [_pad(song.linear, self.width // 2, 0.0) for song in songs]
            self.negatives = np.flatnonzero(self.targets == 0)
        else:
            self.width = EXCERPT_FRAMES
            silence = normalise.silence_value(mean, std)
            self.padded = [_pad(normalise.normalise(spectrum.log_mel(song.linear), mean, std),
                                EXCERPT_FRAMES // 2, silence) for song in songs]

    @property
    def uses_linear(self):
        """True when the augmentation needs linear spectrogram excerpts (any method is on)."""
        return self.aug != augment.Augmentation()

    def _gather(self, positions):
        """(len(positions), width, bins) excerpts centred on the given global positions."""
        songs = np.searchsorted(self.song_starts, positions, side="right") - 1
        frames = positions - self.song_starts[songs]
        return np.stack([self.padded[s][f:f + self.width] for s, f in zip(songs, frames)])

    def batch(self, update):
        """Inputs (batch, 115, 80) float32 and targets (batch,) float32 of update `update`."""
        positions = self.sampler.positions(update)
        targets = self.target_values[self.targets[positions]]
        excerpts = self._gather(positions)
        if not self.uses_linear:
            return excerpts, targets
        rng = update_rng(self.seed, update, STREAM_AUGMENT)

        def draw_negatives(n):
            return self._gather(rng.choice(self.negatives, size=n))
        return augment.augment_batch(excerpts, self.aug, rng, self.mean, self.std, draw_negatives), targets


def _pad(array, frames, value):
    """Pad `frames` rows of `value` ((bins,) or scalar) before and after a (n, bins) array."""
    rows = np.broadcast_to(np.asarray(value, np.float32), (frames, array.shape[1]))
    return np.concatenate([rows, array.astype(np.float32, copy=False), rows])
