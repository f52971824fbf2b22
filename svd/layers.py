"""The network's layers as plain array code: the textbook path (paper Sec. 3.2).

Every layer is a pair: `<name>_forward(...) -> (y, cache)` and right below it
`<name>_backward(dy, cache) -> dx (and the parameter gradients)`. The cache
holds exactly what the backward needs. Layout is channels-last: activations
are `(batch, time, freq, channels)`, conv weights `(kernel_time, kernel_freq,
c_in, c_out)`, dense weights `(n_in, n_out)`. Arithmetic stays in the inputs'
dtype (float32 in training, float64 in the gradient tests).

Nothing here is tuned: the convolution is im2col plus one matrix product, the
max-pool stacks its windows and takes an argmax. The code runs unchanged on
NumPy and CuPy arrays (`xp`). svd/fast/ computes the same functions
faster on the CPU and svd/cuda/ with the project's CUDA kernels; the tests
hold both equal to this file, and svd/backend.py picks which one runs.

The `workspace` arguments exist only so that all implementations share one
interface (the fast ones keep big buffers in it between calls); here they
are ignored.
"""

from .util.arrays import array_module

LEAKINESS = 0.01  # y = max(x/100, x), Sec. 3.2 (citing Maas et al.)


# --------------------------------------------------------------------------
# Convolution: im2col + one matrix product
# --------------------------------------------------------------------------

def conv2d_forward(x, w, b, dilation=(1, 1), leaky=False, workspace=None):
    """Valid 2-D convolution over (time, freq), optionally dilated, with bias and leaky ReLU.

    Args:
        x: (batch, time, freq, c_in); w: (kernel_time, kernel_freq, c_in, c_out); b: (c_out,).
        dilation: (d_time, d_freq) spacing of the kernel taps.
        leaky: apply max(z/100, z) to the output.

    Returns:
        y: (batch, time_out, freq_out, c_out) with time_out = time - (kernel_time-1)*d_time
            (freq_out likewise); cache: (cols, x.shape, w, dilation, leaky, y).

    Notes:
        z[n, t, f, o] = b[o] + sum_{i,j,c} x[n, t + i*d_time, f + j*d_freq, c] w[i, j, c, o]
        As matrices: z = cols @ W + b, with cols[(n,t,f), (i,j,c)] = x[n, t+i*d_time, f+j*d_freq, c]
        (`_im2col`) and W = w reshaped to (kernel_time*kernel_freq*c_in, c_out).
    """
    c_out = w.shape[3]
    cols = _im2col(x, w.shape[:2], dilation)            # (batch, time_out, freq_out, taps*c_in)
    z = cols @ w.reshape(-1, c_out) + b                 # (batch, time_out, freq_out, c_out)
    y = leaky_relu_forward(z)[0] if leaky else z
    return y, (cols, x.shape, w, dilation, leaky, y)


def conv2d_backward(dy, cache, need_dx=True, workspace=None):
    """Gradients of conv2d_forward.

    Args:
        dy: (batch, time_out, freq_out, c_out), gradient w.r.t. y.
        cache: from conv2d_forward.
        need_dx: also compute dx (the first layer of a network does not need it).

    Returns:
        dx: (batch, time, freq, c_in) or None; dw: like w; db: (c_out,).

    Notes:
        dz = dy * (1 if y > 0 else 1/100) if leaky, else dy
        dW = cols^T dz,  db = sum of dz over (n, t, f),  dcols = dz W^T,
        and dx adds each tap's slice of dcols back where im2col read it (`_col2im`).
    """
    cols, x_shape, w, dilation, leaky, y = cache
    c_out = w.shape[3]
    dz = leaky_relu_backward(dy, y) if leaky else dy
    dz_rows = dz.reshape(-1, c_out)
    dw = (cols.reshape(-1, cols.shape[-1]).T @ dz_rows).reshape(w.shape)
    db = dz_rows.sum(axis=0)
    dx = _col2im(dz @ w.reshape(-1, c_out).T, x_shape, w.shape[:2], dilation) if need_dx else None
    return dx, dw, db


def _tap_slices(kernel_shape, dilation, out_shape):
    """[(time slice, freq slice)] of the input each kernel tap (i, j) reads, tap-major."""
    (kernel_time, kernel_freq), (d_time, d_freq), (time_out, freq_out) = kernel_shape, dilation, out_shape
    return [(slice(i * d_time, i * d_time + time_out), slice(j * d_freq, j * d_freq + freq_out))
            for i in range(kernel_time) for j in range(kernel_freq)]


def conv_out_shape(x_shape, kernel_shape, dilation):
    """(time_out, freq_out) of a valid convolution; ValueError if the input is too small."""
    time_out = x_shape[1] - (kernel_shape[0] - 1) * dilation[0]
    freq_out = x_shape[2] - (kernel_shape[1] - 1) * dilation[1]
    if time_out < 1 or freq_out < 1:
        raise ValueError(f"input {tuple(x_shape)} is smaller than the kernel {tuple(kernel_shape)} "
                         f"with dilation {tuple(dilation)}")
    return time_out, freq_out


def _im2col(x, kernel_shape, dilation):
    """cols[n, t, f, k*c_in + c] = x[n, t + i*d_time, f + j*d_freq, c] for tap k = (i, j).

    x: (batch, time, freq, c_in) -> (batch, time_out, freq_out, taps * c_in).
    """
    xp = array_module(x)
    out_shape = conv_out_shape(x.shape, kernel_shape, dilation)
    return xp.concatenate([x[:, ts, fs] for ts, fs in _tap_slices(kernel_shape, dilation, out_shape)],
                          axis=-1)


def _col2im(dcols, x_shape, kernel_shape, dilation):
    """The adjoint of _im2col: add every tap's slice of dcols back into a (batch, time, freq, c_in) array."""
    xp = array_module(dcols)
    c_in = x_shape[3]
    dx = xp.zeros(x_shape, dtype=dcols.dtype)
    for k, (ts, fs) in enumerate(_tap_slices(kernel_shape, dilation, dcols.shape[1:3])):
        dx[:, ts, fs] += dcols[..., k * c_in:(k + 1) * c_in]
    return dx


# --------------------------------------------------------------------------
# Max-pooling with a stored argmax
# --------------------------------------------------------------------------

def maxpool2d_forward(x, pool=(3, 3), stride=None):
    """Max over (time, freq) windows; partial windows at the end are dropped.

    Args:
        x: (batch, time, freq, c); pool: (pool_time, pool_freq);
        stride: (stride_time, stride_freq), None for stride = pool (non-overlapping, as in the paper).

    Returns:
        y: (batch, time_out, freq_out, c), time_out = (time - pool_time) // stride_time + 1;
        cache: (argmax, x.shape, pool, stride), argmax a uint8 array like y holding the
            window position k = i * pool_freq + j of each maximum (the first one on ties).

    Notes:
        y[n, t, f, c] = max_{i,j} x[n, t*stride_time + i, f*stride_freq + j, c]
    """
    xp = array_module(x)
    stride = tuple(pool if stride is None else stride)
    windows = xp.stack(_pool_windows(x, pool, stride))  # (pool_time*pool_freq, batch, time_out, freq_out, c)
    argmax = windows.argmax(axis=0).astype(xp.uint8)
    return windows.max(axis=0), (argmax, x.shape, tuple(pool), stride)


def maxpool2d_backward(dy, cache, workspace=None):
    """Gradient of maxpool2d_forward: each dy goes to the position of its window's maximum.

    dy: (batch, time_out, freq_out, c). Returns dx: (batch, time, freq, c).
    """
    xp = array_module(dy)
    argmax, x_shape, pool, stride = cache
    dx = xp.zeros(x_shape, dtype=dy.dtype)
    for k, dx_window in enumerate(_pool_windows(dx, pool, stride)):
        dx_window += dy * (argmax == k)  # a view: writes into dx (windows may overlap)
    return dx


def _pool_windows(x, pool, stride):
    """Views (batch, time_out, freq_out, c) of x: view k = i*pool_freq + j holds position (i, j) of every window."""
    time_out = (x.shape[1] - pool[0]) // stride[0] + 1
    freq_out = (x.shape[2] - pool[1]) // stride[1] + 1
    return [x[:, i:i + stride[0] * (time_out - 1) + 1:stride[0], j:j + stride[1] * (freq_out - 1) + 1:stride[1]]
            for i in range(pool[0]) for j in range(pool[1])]


# --------------------------------------------------------------------------
# Dense (fully connected)
# --------------------------------------------------------------------------

def dense_forward(x, w, b):
    """y = x @ w + b.  x: (batch, n_in), w: (n_in, n_out), b: (n_out,). Returns y: (batch, n_out), cache (x, w)."""
    return x @ w + b, (x, w)


def dense_backward(dy, cache):
    """Gradients of dense_forward.  dy: (batch, n_out). Returns dx (batch, n_in), dw (n_in, n_out), db (n_out,).

    Notes: dx = dy @ w^T,  dw = x^T @ dy,  db = sum over the batch of dy.
    """
    x, w = cache
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


# --------------------------------------------------------------------------
# Leaky rectifier
# --------------------------------------------------------------------------

def leaky_relu_forward(x):
    """y = max(x/100, x) (Sec. 3.2). x: any shape. Returns y and the cache y (its sign is the sign of x)."""
    xp = array_module(x)
    y = xp.maximum(x, x * LEAKINESS)
    return y, y


def leaky_relu_backward(dy, cache):
    """dx = dy where x > 0, dy/100 elsewhere. cache: y from the forward."""
    xp = array_module(dy)
    return xp.where(cache > 0, dy, dy * LEAKINESS)


# --------------------------------------------------------------------------
# Dropout (Sec. 3.3: 50% on the inputs of the dense layers)
# --------------------------------------------------------------------------

def dropout_mask(rng, shape, p=0.5):
    """Random keep-mask: True with probability 1 - p. rng: numpy.random.Generator."""
    return rng.random(shape, dtype="float32") >= p


def dropout_forward(x, p=0.5, mask=None, rng=None):
    """Inverted dropout: y = x * mask / (1 - p), so nothing needs rescaling at test time.

    Args:
        x: any shape; p: probability of dropping a unit.
        mask: bool array like x, True = keep; if None, drawn from `rng` (numpy.random.Generator).

    Returns:
        y: like x; cache: (mask, scale).
    """
    xp = array_module(x)
    if mask is None:
        mask = xp.asarray(dropout_mask(rng, x.shape, p))
    scale = 1.0 / (1.0 - p)
    return xp.where(mask, x * scale, 0), (mask, scale)


def dropout_backward(dy, cache):
    """dx = dy * mask / (1 - p)."""
    xp = array_module(dy)
    mask, scale = cache
    return xp.where(mask, dy * scale, 0)


# --------------------------------------------------------------------------
# Zero-mean filters (level invariance; Schlüter & Lehner, ISMIR 2018)
# --------------------------------------------------------------------------

def zero_mean_forward(w):
    """Each filter minus its own mean: w0[..., o] = w[..., o] - mean over (i, j, c) of w[i, j, c, o].

    w: (kernel_time, kernel_freq, c_in, c_out). Returns w0 of the same shape.

    Notes:
        A filter whose taps sum to zero ignores a constant added to its whole input
        window. On log-magnitude input a gain g on the audio adds log(g) to every
        value, so a first layer of zero-mean filters (over input scaled by one shared
        number, svd/normalise.py `shared_scale`) makes the network's output
        independent of the recording's level.
        The map is linear, symmetric and idempotent (an orthogonal projection), so
        its backward is the same projection: dw = dw0 - mean(dw0), `zero_mean_backward`.
        Training keeps w itself zero-mean (projected at the start, every gradient
        projected), so w0 == w and the trained filters are used as they are.
    """
    return w - w.mean(axis=(0, 1, 2), keepdims=True)


def zero_mean_backward(dw0):
    """Gradient w.r.t. w of zero_mean_forward, given dw0: (kernel_time, kernel_freq, c_in, c_out)."""
    return zero_mean_forward(dw0)


# --------------------------------------------------------------------------
# Batch normalisation (Ioffe & Szegedy 2015; the ISMIR-2016 network, svd/network2016.py)
# --------------------------------------------------------------------------

BN_EPSILON = 1e-4  # added to the variance, as Lasagne's BatchNormLayer does


def batchnorm_forward(x, gamma, beta, eps=BN_EPSILON):
    """Batch normalisation in training mode: each channel standardised by the batch's own statistics.

    Args:
        x: (..., c): a conv output (batch, time, freq, c) or a dense one (batch, c); every
            leading axis is pooled, so one channel's mean is over all its batch positions.
        gamma, beta: (c,) learned scale and shift.

    Returns:
        y: like x; cache: (x_hat, gamma, inv_std) for the backward;
        statistics: (mean, inv_std), each (c,), for the running averages prediction uses.

    Notes:
        mean = sum(x) / m,  var = sum((x - mean)^2) / m  over the m = x.size / c positions
        inv_std = 1 / sqrt(var + eps),  x_hat = (x - mean) * inv_std,  y = gamma * x_hat + beta
    """
    rows = x.reshape(-1, x.shape[-1])                     # (m, c)
    mean = rows.mean(axis=0)
    centred = rows - mean
    inv_std = 1 / (array_module(x).sqrt((centred * centred).mean(axis=0) + eps))
    x_hat = centred * inv_std
    y = (x_hat * gamma + beta).reshape(x.shape)
    return y, (x_hat, gamma, inv_std), (mean, inv_std)


def batchnorm_backward(dy, cache):
    """Gradients of batchnorm_forward.  dy: like x. Returns dx (like x), dgamma (c,), dbeta (c,).

    Notes (the batch statistics depend on x, hence the two subtracted terms):
        dbeta = sum(dy),  dgamma = sum(dy * x_hat)
        dx = gamma * inv_std * (dy - dbeta / m - x_hat * dgamma / m)
    """
    x_hat, gamma, inv_std = cache
    rows = dy.reshape(-1, dy.shape[-1])
    m = rows.shape[0]
    dbeta = rows.sum(axis=0)
    dgamma = (rows * x_hat).sum(axis=0)
    dx = (gamma * inv_std) * (rows - dbeta / m - x_hat * (dgamma / m))
    return dx.reshape(dy.shape), dgamma, dbeta
