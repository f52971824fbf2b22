"""Nesterov-momentum SGD and the learning-rate schedule (Sec. 3.3).

Updates are exactly those of Lasagne's `nesterov_momentum`: for each
parameter p with gradient g, velocity v, learning rate eta and momentum mu,

    v <- mu * v - eta * g
    p <- p + mu * v - eta * g          (uses the new v)

which is the usual reformulation of Nesterov's method in terms of the
"looked-ahead" parameters. The paper uses mu = 0.95 and a learning rate of
0.01 scaled by 0.85 every 2000 updates, for 40,000 updates.
"""

from collections import OrderedDict

from .util.arrays import array_module

MOMENTUM = 0.95  # Sec. 3.3
LEARNING_RATE = 0.01  # Sec. 3.3: the initial rate ...
LR_DECAY = 0.85  # ... scaled by this factor ...
LR_EVERY = 2000  # ... every this many updates


def init_velocity(params):
    """Zero velocities: OrderedDict with the keys, shapes and dtypes of params."""
    velocity = OrderedDict()
    for name, p in params.items():
        velocity[name] = array_module(p).zeros_like(p)
    return velocity


def nesterov_momentum(params, grads, velocity, learning_rate, momentum=MOMENTUM):
    """One Nesterov-momentum step, in place on params and velocity.

    Args:
        params: dict name -> array, updated in place.
        grads: dict name -> gradient array (same shapes).
        velocity: dict name -> array (from init_velocity), updated in place.
        learning_rate: eta.
        momentum: mu.
    """
    learning_rate, momentum = float(learning_rate), float(momentum)  # keep float32 arrays float32
    for name, p in params.items():
        g = grads[name]
        v = velocity[name]
        v *= momentum
        v -= learning_rate * g   # v <- mu v - eta g
        p += momentum * v
        p -= learning_rate * g   # p <- p + mu v - eta g


def learning_rate(update, base=LEARNING_RATE, decay=LR_DECAY, every=LR_EVERY):
    """Learning rate for update number `update` (0-based): base * decay^(update // every)."""
    return base * decay ** (update // every)
