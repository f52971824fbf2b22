"""Launchers of kernels/optim.cu: one Nesterov-momentum step over all parameters in one launch (Sec. 3.3).

Twin: svd/optim.py nesterov_momentum. Training (svd/train.py update_step, through
svd/backend.py) calls `nesterov_momentum`: one nesterov_update_tensors launch per
update for all 14 parameter arrays of the network, read where they are through a
table of their addresses. `pack_flat` and `nesterov_momentum_flat` are the other
layout (one flat buffer, kernel nesterov_update); nothing in svd/ uses them, the
tests hold them to the twin too.
"""
from collections import OrderedDict

import numpy

from svd.util import arrays
from svd.cuda import checks, launch


def pack_flat(tensors):
    """One flat buffer holding all arrays one after the other, and views of it.

    tensors: dict name -> array (one dtype, one array module). Returns
    (flat, OrderedDict name -> view of flat in the array's shape), with the
    values copied in. Parameters, gradients and velocities packed this way
    (in the same order) are updated by one `nesterov_momentum_flat` launch.
    """
    first = next(iter(tensors.values()))
    xp = arrays.array_module(first)
    flat = launch.empty(xp, sum(int(a.size) for a in tensors.values()), first.dtype)
    views, start = OrderedDict(), 0
    for name, a in tensors.items():
        views[name] = flat[start:start + a.size].reshape(a.shape)
        views[name][...] = a
        start += a.size
    return flat, views


def nesterov_momentum_flat(params, grads, velocity, learning_rate, momentum=0.95):
    """One Nesterov-momentum step over flat buffers, in place (kernels/optim.cu nesterov_update).

    Twin: optim.nesterov_momentum on the arrays packed into the buffers.
    params, grads, velocity: (n,) float32, packed in the same order (see
    pack_flat), so that all parameters take one launch; params and velocity
    C-contiguous (updated in place).
    v <- mu v - eta g; p <- p + mu v - eta g.
    """
    n = (params.size,)
    checks.check_writable("nesterov_momentum_flat", "params", params, n)
    checks.check_writable("nesterov_momentum_flat", "velocity", velocity, n)
    grads = launch.f32(grads)
    checks.check_shape("nesterov_momentum_flat", "grads", grads, n)
    launch.kernel("optim", "nesterov_update", params.size, params, grads, velocity, params.size,
                  learning_rate, momentum)


def nesterov_momentum(params, grads, velocity, learning_rate, momentum=0.95):
    """One Nesterov-momentum step over every parameter in one launch, in place on
    params and velocity (kernels/optim.cu nesterov_update_tensors).

    Twin: optim.nesterov_momentum, same arguments (dicts name -> float32
    array, grads and velocity with every name of params and its shape).
    params and velocity: C-contiguous float32 arrays, none overlapping another
    (each kernel index owns its element); grads: converted to C-contiguous
    float32 if need be. The kernel reads the arrays where they are, through a
    table of their addresses (`_address`) copied to the device with each call
    (one small host-to-device copy, no read back): nothing is packed or copied.
    """
    written = []  # (address, bytes, name) of every array the kernel writes
    for name, p in params.items():
        if name not in grads or name not in velocity:
            raise ValueError(f"nesterov_momentum: grads and velocity need the parameter {name!r}")
        checks.check_writable("nesterov_momentum", f"params[{name!r}]", p, p.shape)
        checks.check_writable("nesterov_momentum", f"velocity[{name!r}]", velocity[name], p.shape)
        checks.check_shape("nesterov_momentum", f"grads[{name!r}]", grads[name], p.shape)
        written += [(_address(p), p.nbytes, f"params[{name!r}]"),
                    (_address(velocity[name]), p.nbytes, f"velocity[{name!r}]")]
    written.sort()
    for (start, size, first), (next_start, _, second) in zip(written, written[1:]):
        if size > 0 and next_start < start + size:
            raise ValueError(f"nesterov_momentum: params and velocity must not overlap, but {first} and "
                             f"{second} share memory")
    if not params:
        return
    xp = arrays.array_module(next(iter(params.values())))
    grads = {name: launch.f32(grads[name]) for name in params}  # held until the launch is queued
    sizes = [p.size for p in params.values()]
    table = numpy.concatenate([[_address(a) for a in params.values()], [_address(g) for g in grads.values()],
                               [_address(velocity[name]) for name in params], numpy.cumsum([0] + sizes)])
    table = launch.array_on(xp, table.astype(numpy.int64), numpy.int64)  # copied to the device
    launch.kernel("optim", "nesterov_update_tensors", sum(sizes), table, len(params), sum(sizes),
                  learning_rate, momentum)


def adam(params, grads, moment1, moment2, learning_rate, step, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step, one launch per parameter in `grads` (kernels/optim.cu adam_update), in place on
    params and the moments.

    Twin: optim.adam, same arguments: dicts name -> float32 array; only the names of grads are
    updated (the running statistics in params have none); moment1, moment2 and those params are
    C-contiguous float32 arrays of the gradient's shape. step: this update's number, 1 for the first.
    """
    if int(step) != step or step < 1:
        raise ValueError(f"adam: step must be a whole number >= 1 (the first update is 1), got {step!r}")
    for name, g in grads.items():
        if name not in params or name not in moment1 or name not in moment2:
            raise ValueError(f"adam: params, moment1 and moment2 need the parameter {name!r}")
        for what, a in (("params", params), ("moment1", moment1), ("moment2", moment2)):
            checks.check_writable("adam", f"{what}[{name!r}]", a[name], numpy.shape(g))
    rate = float(learning_rate) * (1 - beta2 ** step) ** 0.5 / (1 - beta1 ** step)  # as the twin computes it
    for name, g in grads.items():
        g = launch.f32(g)
        launch.kernel("optim", "adam_update", g.size, params[name], g, moment1[name], moment2[name], g.size, rate,
                      beta1, beta2, 1 - float(beta1), 1 - float(beta2), eps)


def _address(a):
    """The address of array a's first element: a device pointer for a CuPy array,
    a host pointer for a NumPy array (the kernel emulation runs on the host)."""
    return a.data.ptr if arrays.array_module(a) is not numpy else a.ctypes.data

