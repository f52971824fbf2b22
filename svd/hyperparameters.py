"""Every training hyperparameter in one record, with the paper's values as defaults (Sec. 3.3, Sec. 4).

Each value is defined once, where the code that uses it lives: the learning-rate
schedule and momentum in svd/optim.py, the targets in svd/loss.py; the
augmentation strengths are svd.augment.Augmentation fields.
"""
import dataclasses
import math

from svd import augment, loss, optim
from svd.util.errors import InputError


def check_seed(seed):
    """A random seed is a whole number of at least 0 (NumPy refuses negative ones): InputError otherwise."""
    if seed < 0:
        raise InputError(f"--seed {seed}: a seed must be 0 or more; pick another.")


@dataclasses.dataclass
class TrainConfig:
    """Every training hyperparameter; defaults from paper Sec. 3.3 (augmentation: Sec. 4)."""
    updates: int = 40000
    batch: int = 32
    lr: float = optim.LEARNING_RATE
    lr_decay: float = optim.LR_DECAY
    lr_every: int = optim.LR_EVERY
    momentum: float = optim.MOMENTUM
    target_low: float = loss.TARGETS[0]
    target_high: float = loss.TARGETS[1]
    seed: int = 0
    augmentation: dict = dataclasses.field(default_factory=dict)  # svd.augment.Augmentation fields
    zero_mean: bool = False  # level-invariant first layer (Schlüter & Lehner 2018, svd/layers.py zero_mean_forward)
    per_recording: bool = False  # each recording standardised by its own band statistics (svd/normalise.py)
    pcen: bool = False  # per-channel energy normalisation of the mel magnitudes instead of their log (svd/normalise.py)

    def __post_init__(self):
        """InputError for a value no training can use; messages name `run.py train`'s options (--lr-decay for lr_decay)."""
        for name in ("updates", "batch", "lr_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be at least 1.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"--lr {self.lr}: the learning rate must be a positive number.")
        if not (math.isfinite(self.lr_decay) and self.lr_decay > 0) or not 0 <= self.momentum < 1:
            raise InputError(f"--lr-decay {self.lr_decay} --momentum {self.momentum}: the decay must be a positive "
                             "number and the momentum in [0, 1).")
        check_seed(self.seed)
        if self.pcen and self.augmentation:
            raise InputError("--pcen with augmentation is not built: PCEN smooths over the whole recording, and "
                             "an augmented excerpt is cut out of it first; leave out one of them.")
        try:
            augment.Augmentation(**self.augmentation)
        except ValueError as error:
            raise InputError(f"bad augmentation strength: {error}") from None
