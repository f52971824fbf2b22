"""Every training hyperparameter in one record, with the paper's values as defaults (Sec. 3.3, Sec. 4).

Each value is defined once, where the code that uses it lives: the learning-rate
schedule and momentum in svd/optim.py, the targets in svd/loss.py; the
augmentation strengths are svd.augment.Augmentation fields.

`arch` names the network: the paper's (svd/network.py, Nesterov momentum) or its
ISMIR-2016 successor (svd/network2016.py, Adam); the learning rate and momentum
left out (None) take the chosen network's own defaults.
"""
import dataclasses
import importlib
import math

from svd import augment, loss, optim
from svd.util.errors import InputError


def check_seed(seed):
    """A random seed is a whole number of at least 0 (NumPy refuses negative ones): InputError otherwise."""
    if seed < 0:
        raise InputError(f"--seed {seed}: a seed must be 0 or more; pick another.")


# --arch: the module defining each network (imported on first use: `run.py --help` must not load the layers)
ARCHITECTURES = {"ismir2015": "svd.network", "ismir2016": "svd.network2016"}
# Each network's optimiser and its defaults: (learning rate, momentum; Adam's beta1 for "adam").
OPTIMISERS = {"ismir2015": ("nesterov", optim.LEARNING_RATE, optim.MOMENTUM),
              "ismir2016": ("adam", optim.ADAM_LEARNING_RATE, optim.ADAM_BETA1)}


def architecture(arch):
    """The module defining network `arch` (a key of ARCHITECTURES); InputError for an unknown name."""
    if arch not in ARCHITECTURES:
        raise InputError(f"network {arch!r} is not one this version knows ({', '.join(ARCHITECTURES)}); "
                         "a newer version made it, or the name is mistyped.")
    return importlib.import_module(ARCHITECTURES[arch])


@dataclasses.dataclass
class TrainConfig:
    """Every training hyperparameter; defaults from paper Sec. 3.3 (augmentation: Sec. 4)."""
    updates: int = 40000
    batch: int = 32
    lr: float = None  # None: the network's default (OPTIMISERS)
    lr_decay: float = optim.LR_DECAY
    lr_every: int = optim.LR_EVERY
    momentum: float = None  # None: the network's default (OPTIMISERS)
    target_low: float = loss.TARGETS[0]
    target_high: float = loss.TARGETS[1]
    seed: int = 0
    augmentation: dict = dataclasses.field(default_factory=dict)  # svd.augment.Augmentation fields
    zero_mean: bool = False  # level-invariant first layer (Schlüter & Lehner 2018, svd/layers.py zero_mean_forward)
    per_recording: bool = False  # each recording standardised by its own band statistics (svd/normalise.py)
    pcen: bool = False  # per-channel energy normalisation of the mel magnitudes instead of their log (svd/normalise.py)
    arch: str = "ismir2015"  # the network: a key of ARCHITECTURES

    def __post_init__(self):
        """Fill in the network's default learning rate and momentum; InputError for a value no training can use.
        Messages name `run.py train`'s options (--lr-decay for lr_decay)."""
        if self.arch not in ARCHITECTURES:
            raise InputError(f"--arch {self.arch}: choose one of {', '.join(ARCHITECTURES)}.")
        _, lr, momentum = OPTIMISERS[self.arch]
        self.lr = lr if self.lr is None else self.lr
        self.momentum = momentum if self.momentum is None else self.momentum
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
