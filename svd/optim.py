"""Nesterov-momentum SGD and the learning-rate schedule (Sec. 3.3); Adam for the ISMIR-2016 network.

Updates are exactly those of Lasagne's `nesterov_momentum`: for each
parameter p with gradient g, velocity v, learning rate eta and momentum mu,

    v <- mu * v - eta * g
    p <- p + mu * v - eta * g          (uses the new v)

which is the usual reformulation of Nesterov's method in terms of the
"looked-ahead" parameters. The paper uses mu = 0.95 and a learning rate of
0.01 scaled by 0.85 every 2000 updates, for 40,000 updates.

The ISMIR-2016 network (svd/network2016.py) trains with Adam instead (Kingma &
Ba 2015, as Lasagne's `adam`), at 0.001 on the same schedule, beta1 0.9.
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


ADAM_LEARNING_RATE = 0.001  # the ISMIR-2016 network's initial rate (thesis branch phd_extra) ...
ADAM_BETA1 = 0.9  # ... and first-moment decay; the rest are Kingma & Ba's
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8


def adam(params, grads, moment1, moment2, learning_rate, step, beta1=ADAM_BETA1, beta2=ADAM_BETA2,
         eps=ADAM_EPSILON):
    """One Adam step, in place on params and the two moment buffers.

    Args:
        params: dict name -> array; only the names in `grads` are updated (a network's
            running statistics live in params too, and have no gradient).
        grads: dict name -> gradient array.
        moment1, moment2: dicts name -> array like the gradient (init_velocity of the trained
            parameters): decaying means of g and g^2.
        learning_rate: eta; step: the number of this update, 1 for the first.

    Notes:
        m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
        p <- p - eta_t m / (sqrt(v) + eps),  eta_t = eta sqrt(1 - beta2^step) / (1 - beta1^step)
        (the bias correction of both moments folded into one rate, as Lasagne does).
    """
    rate = float(learning_rate) * (1 - beta2 ** step) ** 0.5 / (1 - beta1 ** step)
    beta1, beta2 = float(beta1), float(beta2)
    for name, g in grads.items():
        xp = array_module(g)
        m, v = moment1[name], moment2[name]
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        params[name] -= rate * m / (xp.sqrt(v) + eps)
