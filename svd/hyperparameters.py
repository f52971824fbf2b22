"""Every training hyperparameter in one record, with the paper's values as defaults (Sec. 3.3, Sec. 4).

Each value is defined once, where the code that uses it lives: the learning-rate
schedule and momentum in svd/optim.py, the targets in svd/loss.py; the
augmentation strengths are svd.augment.Augmentation fields.
"""
import dataclasses

from svd import loss, optim


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
