"""Every launcher of svd/cuda/ against its NumPy twin, for any array module.

Each `check_*(xp, rng)` draws random shapes and inputs from `rng`, runs the
launcher on `xp` arrays and the twin (svd/layers.py, loss.py, optim.py,
augment.py) on NumPy copies of the same inputs, and compares.
tests/test_kernels_emulated.py runs them with xp = NumPy through the g++
emulation of the kernels; tests/test_kernels_gpu.py with xp = CuPy on a GPU.

Outputs: in the emulated tests the launchers' output arrays start poisoned
(tests/test_kernels_emulated.py replaces svd.cuda.launch.empty by `poisoned_empty`),
so a kernel that skips an element cannot pass by finding the right value left
in memory.

Tolerances (max |actual - expected| / max |expected|, all float32):
- EXACT (0): the kernel only moves numbers (im2col, gather, pooling, dropout
  masks), or does the same float32 operations in the same order as the twin
  (leaky rectifier, dropout scaling, Nesterov step, warp, gains, mixing).
  IEEE float32 +, *, / are correctly rounded on CPU and GPU alike, and both
  builds forbid fused multiply-adds, so the results are bit-identical.
- TRANSCENDENTAL (1e-6): exp/log/pow differ between libm, NumPy's SIMD code
  and CUDA by a few units in the last place (float32 ulp ~ 6e-8), and the
  loss subtracts numbers of similar size (a 10x amplification at most here).
- REORDERED_SUM (1e-5): convolutions sum K * c_in <= ~600 products in another
  order than the twin's BLAS calls (and col2im's up to 9 taps in another order
  than the twin's product); float32 rounding then differs by ~sqrt(K*c_in) *
  6e-8 relative to the largest value, ~1e-6, and by at most K*c_in * 6e-8 =
  3.6e-5 in the worst case of all rounding errors adding up, which random
  inputs never approach. An indexing bug gives an error of order 1.
"""
import numpy as np

from svd import augment, backend, cuda, excerpt, layers, loss, optim, spectrum

EXACT = 0.0
TRANSCENDENTAL = 1e-6
REORDERED_SUM = 1e-5


def poisoned_empty(xp, shape, dtype):
    """Stands in for svd.cuda.launch.empty in the tests: the outputs start as NaN
    (floats) or all bits set (integers), so an element that a kernel leaves
    unwritten fails every comparison below (NaN equals nothing)."""
    dtype = np.dtype(dtype)
    return xp.full(shape, np.nan if dtype.kind == "f" else np.iinfo(dtype).max, dtype=dtype)


def to_numpy(a):
    """A NumPy copy of a NumPy or CuPy array."""
    return np.array(a.get() if hasattr(a, "get") else a)


def assert_close(actual, expected, rtol, what):
    """Max abs error relative to the largest |expected| <= rtol (exact if rtol == 0)."""
    actual, expected = to_numpy(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if rtol == 0:
        mismatches = np.count_nonzero(actual != expected)
        assert mismatches == 0, f"{what}: {mismatches} of {actual.size} values differ"
        return
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-30)
    error = float(np.abs(actual.astype(np.float64) - expected).max(initial=0.0)) / scale
    assert error <= rtol, f"{what}: relative error {error:.2e} > {rtol:.0e}"


def randn(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------

def _conv_problem(rng):
    """Random (x, w, b, dilation) with the output at least 1 x 1."""
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    time = (kernel[0] - 1) * dilation[0] + int(rng.integers(1, 9))
    freq = (kernel[1] - 1) * dilation[1] + int(rng.integers(1, 9))
    batch, c_in, c_out = int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
    x = randn(rng, batch, time, freq, c_in)
    w = randn(rng, *kernel, c_in, c_out)
    b = randn(rng, c_out)
    return x, w, b, dilation


def check_im2col(xp, rng):
    x, w, _, dilation = _conv_problem(rng)
    (kernel_time, kernel_freq), (d_time, d_freq) = w.shape[:2], dilation
    batch, time, freq, c_in = x.shape
    time_out, freq_out = time - (kernel_time - 1) * d_time, freq - (kernel_freq - 1) * d_freq
    expected = np.empty((batch, time_out, freq_out, kernel_time, kernel_freq, c_in), np.float32)
    for i in range(kernel_time):  # the obvious loops: tap (i, j) is a shifted slice of x
        for j in range(kernel_freq):
            expected[:, :, :, i, j] = x[:, i * d_time:i * d_time + time_out,
                                        j * d_freq:j * d_freq + freq_out]
    cols = cuda.conv.im2col(xp.asarray(x), w.shape[:2], dilation)
    assert_close(cols, expected.reshape(batch * time_out * freq_out, -1), EXACT, "im2col")


def check_col2im(xp, rng):
    x, w, _, dilation = _conv_problem(rng)
    cols_shape = cuda.conv.im2col(xp.asarray(x), w.shape[:2], dilation).shape
    dcols = randn(rng, *cols_shape)
    # Reference: the adjoint of im2col by scatter-adding every column back, in float64.
    (kernel_time, kernel_freq), (d_time, d_freq) = w.shape[:2], dilation
    batch, time, freq, c_in = x.shape
    time_out, freq_out = time - (kernel_time - 1) * d_time, freq - (kernel_freq - 1) * d_freq
    d6 = dcols.astype(np.float64).reshape(batch, time_out, freq_out, kernel_time, kernel_freq, c_in)
    expected = np.zeros(x.shape)
    for i in range(kernel_time):
        for j in range(kernel_freq):
            t0, f0 = i * d_time, j * d_freq
            expected[:, t0:t0 + time_out, f0:f0 + freq_out] += d6[:, :, :, i, j]
    # float32 sums of at most kernel_time * kernel_freq = 9 terms: ~5e-7 at worst.
    assert_close(cuda.conv.col2im(xp.asarray(dcols), x.shape, w.shape[:2], dilation), expected,
                 TRANSCENDENTAL, "col2im")


def check_conv2d(xp, rng):
    x, w, b, dilation = _conv_problem(rng)
    leaky = bool(rng.integers(2))
    y_ref, cache_ref = layers.conv2d_forward(x, w, b, dilation, leaky)
    y, cache = cuda.conv2d_forward(xp.asarray(x), xp.asarray(w), xp.asarray(b), dilation, leaky)
    assert_close(y, y_ref, REORDERED_SUM, "conv2d_forward y")
    dy = randn(rng, *y_ref.shape)
    need_dx = bool(rng.integers(2))
    dx_ref, dw_ref, db_ref = layers.conv2d_backward(dy, cache_ref, need_dx)
    dx, dw, db = cuda.conv2d_backward(xp.asarray(dy), cache, need_dx)
    assert_close(dw, dw_ref, REORDERED_SUM, "conv2d_backward dw")
    assert_close(db, db_ref, REORDERED_SUM, "conv2d_backward db")
    if need_dx:
        assert_close(dx, dx_ref, REORDERED_SUM, "conv2d_backward dx")
    else:
        assert dx is None


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------

def _pool_check(xp, rng, x, pool, stride):
    y_ref, cache_ref = layers.maxpool2d_forward(x, pool, stride)
    y, cache = cuda.maxpool2d_forward(xp.asarray(x), pool, stride)
    assert_close(y, y_ref, EXACT, f"maxpool2d_forward y, pool {pool} stride {stride}")
    assert_close(cache[0], cache_ref[0], EXACT, "maxpool2d_forward argmax")
    assert cache[1:] == cache_ref[1:]
    dy = randn(rng, *y_ref.shape)
    dx_ref = layers.maxpool2d_backward(dy, cache_ref)
    # Overlapping windows: both add the same dy values in the same order (k increasing).
    assert_close(cuda.maxpool2d_backward(xp.asarray(dy), cache), dx_ref, EXACT,
                 f"maxpool2d_backward, pool {pool} stride {stride}")


def check_maxpool(xp, rng):
    pool = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    kind = int(rng.integers(3))  # non-overlapping, the whole-song (1, pool_freq), any stride
    stride = [None, (1, pool[1]), (int(rng.integers(1, 4)), int(rng.integers(1, 4)))][kind]
    batch, c = int(rng.integers(1, 4)), int(rng.integers(1, 6))
    x = randn(rng, batch, pool[0] + int(rng.integers(0, 9)), pool[1] + int(rng.integers(0, 9)), c)
    x[..., 0] = np.round(x[..., 0])  # many ties in channel 0: the first maximum must win
    _pool_check(xp, rng, x, pool, stride)


# --------------------------------------------------------------------------
# Bias, leaky rectifier, dropout
# --------------------------------------------------------------------------

def _random_shape(rng, max_dims=4, max_size=7):
    return tuple(int(s) for s in rng.integers(1, max_size, size=int(rng.integers(1, max_dims + 1))))


def check_bias_leaky(xp, rng):
    shape = _random_shape(rng)
    z, b = randn(rng, *shape), randn(rng, shape[-1])
    leaky = bool(rng.integers(2))
    expected = layers.leaky_relu_forward(z + b)[0] if leaky else z + b
    assert_close(cuda.activation.bias_leaky_forward(xp.asarray(z), xp.asarray(b), leaky), expected, EXACT,
                 "bias_leaky_forward")
    x = randn(rng, *shape)
    x.flat[::3] = 0  # y = 0 exactly: its slope is 1/100 (y > 0 is strict)
    y, cache = cuda.leaky_relu_forward(xp.asarray(x))
    assert_close(y, layers.leaky_relu_forward(x)[0], EXACT, "leaky_relu_forward")
    dy = randn(rng, *shape)
    assert_close(cuda.leaky_relu_backward(xp.asarray(dy), cache),
                 layers.leaky_relu_backward(dy, layers.leaky_relu_forward(x)[1]), EXACT,
                 "leaky_relu_backward")


def check_dropout_mask(xp, rng):
    shape = _random_shape(rng)
    x, dy = randn(rng, *shape), randn(rng, *shape)
    p = float(rng.choice([0.2, 0.5, 0.8]))
    mask = layers.dropout_mask(rng, shape, p)
    y_ref, cache_ref = layers.dropout_forward(x, p, mask=mask)
    y, cache = cuda.dropout_forward(xp.asarray(x), p, mask=xp.asarray(mask))
    assert_close(y, y_ref, EXACT, "dropout_forward")
    assert_close(cuda.dropout_backward(xp.asarray(dy), cache), layers.dropout_backward(dy, cache_ref),
                 EXACT, "dropout_backward")


def check_dropout_hash(xp, rng):
    shape = _random_shape(rng)
    x = randn(rng, *shape)
    p, seed = float(rng.choice([0.1, 0.5, 0.9])), int(rng.integers(0, 2 ** 32))
    y, (mask, scale) = cuda.dropout_forward(xp.asarray(x), p, seed=seed)
    expected_mask = (cuda.activation.hash_uniform(seed, x.size) >= np.float32(p)).reshape(shape)
    assert_close(mask, expected_mask, EXACT, "dropout_forward_hash mask")
    assert_close(y, layers.dropout_forward(x, p, mask=expected_mask)[0], EXACT, "dropout_forward_hash y")


def hash_normal(seed, n):
    """NumPy twin of the normals of kernels/activation.cu gaussian_noise_hash (Box-Muller, float32)."""
    u = cuda.activation.hash_uniform(seed, 2 * n)
    u1, u2 = np.float32(1) - u[0::2], u[1::2]
    return np.sqrt(np.float32(-2) * np.log(u1)) * np.cos(np.float32(6.2831853) * u2)


def check_input_noise(xp, rng):
    """add_noise: x + sigma * z with the twin's normals (libm vs NumPy log/cos: TRANSCENDENTAL)."""
    shape = _random_shape(rng)
    x, sigma = randn(rng, *shape), float(rng.choice([0.1, 0.5, 2.0]))
    seed = int(np.random.default_rng(9).integers(0, 2 ** 32))  # what add_noise draws from the same rng
    got = cuda.add_noise(xp.array(x), sigma, np.random.default_rng(9))
    assert_close(got, x + np.float32(sigma) * hash_normal(seed, x.size).reshape(shape), TRANSCENDENTAL,
                 "gaussian_noise_hash")


def check_input_dropout(xp, rng):
    """drop_inputs: zero where the hash uniform is < p, the rest unchanged (not rescaled)."""
    shape = _random_shape(rng)
    x, p = randn(rng, *shape), float(rng.choice([0.1, 0.5, 1.0]))
    seed = int(np.random.default_rng(8).integers(0, 2 ** 32))
    got = cuda.drop_inputs(xp.array(x), p, np.random.default_rng(8))
    expected = np.where((cuda.activation.hash_uniform(seed, x.size) >= np.float32(p)).reshape(shape), x, np.float32(0))
    assert_close(got, expected, EXACT, "dropout_forward_hash as input dropout")


# --------------------------------------------------------------------------
# Loss and optimiser
# --------------------------------------------------------------------------

def check_loss(xp, rng):
    batch = int(rng.integers(1, 200))
    logits = (randn(rng, batch) * 10).astype(np.float32)  # saturated and central logits
    targets = rng.choice(np.array([0.02, 0.98, 0.0, 1.0, 0.5], np.float32), batch)
    value_ref, cache_ref = loss.sigmoid_cross_entropy_forward(logits, targets)
    value, cache = cuda.sigmoid_cross_entropy_forward(xp.asarray(logits), xp.asarray(targets))
    assert_close(value, value_ref, TRANSCENDENTAL, "sigmoid_cross_entropy_forward")
    dloss = float(rng.uniform(0.5, 2))
    assert_close(cuda.sigmoid_cross_entropy_backward(cache, dloss),
                 loss.sigmoid_cross_entropy_backward(cache_ref, dloss), TRANSCENDENTAL,
                 "sigmoid_cross_entropy_backward")


def check_nesterov(xp, rng):
    shapes = [_random_shape(rng, 3, 9) for _ in range(int(rng.integers(1, 5)))]
    params = {f"p{i}": randn(rng, *s) for i, s in enumerate(shapes)}
    velocity = {name: randn(rng, *p.shape) for name, p in params.items()}
    flat_p, _ = cuda.optim.pack_flat({n: xp.asarray(a) for n, a in params.items()})
    flat_v, _ = cuda.optim.pack_flat({n: xp.asarray(a) for n, a in velocity.items()})
    dict_p = {n: xp.array(a) for n, a in params.items()}  # the dict interface of optim.nesterov_momentum
    dict_v = {n: xp.array(a) for n, a in velocity.items()}
    for step in range(3):  # a short trajectory: errors would compound
        grads = {name: randn(rng, *p.shape) for name, p in params.items()}
        flat_g, _ = cuda.optim.pack_flat({n: xp.asarray(a) for n, a in grads.items()})
        learning_rate = optim.learning_rate(int(rng.integers(0, 40000)))
        optim.nesterov_momentum(params, grads, velocity, learning_rate)
        cuda.optim.nesterov_momentum_flat(flat_p, flat_g, flat_v, learning_rate, optim.MOMENTUM)
        cuda.nesterov_momentum(dict_p, {n: xp.asarray(g) for n, g in grads.items()}, dict_v, learning_rate,
                               optim.MOMENTUM)
        for name in params:
            assert_close(dict_p[name], params[name], EXACT, f"nesterov dict params[{name}], step {step}")
            assert_close(dict_v[name], velocity[name], EXACT, f"nesterov dict velocity[{name}], step {step}")
        assert_close(flat_p, np.concatenate([p.ravel() for p in params.values()]), EXACT,
                     f"nesterov params, step {step}")
        assert_close(flat_v, np.concatenate([v.ravel() for v in velocity.values()]), EXACT,
                     f"nesterov velocity, step {step}")


def check_adam(xp, rng):
    """A short trajectory of Adam steps on a few tensors; a running statistic without a gradient is
    left alone. The kernel does the twin's float32 operations in its order; sqrt and the division
    are correctly rounded on both, so they agree to the last bit but for a libm's sqrtf: 1e-6."""
    shapes = [_random_shape(rng, 3, 9) for _ in range(int(rng.integers(1, 4)))]
    params = {f"p{i}": randn(rng, *s) for i, s in enumerate(shapes)}
    params["p0.mean"] = randn(rng, 3)
    moment1 = {name: 0.1 * randn(rng, *p.shape) for name, p in params.items() if "." not in name}
    moment2 = {name: np.abs(randn(rng, *p.shape)) for name, p in params.items() if "." not in name}
    on_xp = {what: {n: xp.array(a) for n, a in d.items()} for what, d in
             (("params", params), ("moment1", moment1), ("moment2", moment2))}
    for step in range(1, 4):
        grads = {name: randn(rng, *p.shape) for name, p in moment1.items()}
        optim.adam(params, grads, moment1, moment2, optim.ADAM_LEARNING_RATE, step)
        cuda.adam(on_xp["params"], {n: xp.asarray(g) for n, g in grads.items()}, on_xp["moment1"],
                  on_xp["moment2"], optim.ADAM_LEARNING_RATE, step)
        for what, twin in (("params", params), ("moment1", moment1), ("moment2", moment2)):
            for name in twin:
                assert_close(on_xp[what][name], twin[name], TRANSCENDENTAL, f"adam {what}[{name}], step {step}")


# --------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------

def check_batch_norm(xp, rng):
    """Forward and backward against the twin on activations of 1-4 axes (some channels far from zero
    mean). The statistics are summed in double here, in float32 there: 1e-5 (REORDERED_SUM); dx is
    compared relative to gamma * inv_std * dy, the size of its terms, which cancel."""
    shape = _random_shape(rng, int(rng.integers(2, 5)), 9)
    x = randn(rng, *shape) * rng.uniform(0.5, 3, shape[-1]).astype(np.float32) + \
        rng.choice([0.0, 20.0], shape[-1]).astype(np.float32)
    gamma, beta = randn(rng, shape[-1]), randn(rng, shape[-1])
    y, cache, (mean, inv_std) = cuda.batchnorm_forward(xp.asarray(x), xp.asarray(gamma), xp.asarray(beta))
    y_ref, cache_ref, (mean_ref, inv_std_ref) = layers.batchnorm_forward(x.astype(np.float64), gamma, beta)
    assert_close(y, y_ref, REORDERED_SUM, "batchnorm_forward y")
    assert_close(mean, mean_ref, REORDERED_SUM, "batchnorm_forward mean")
    assert_close(inv_std, inv_std_ref, REORDERED_SUM, "batchnorm_forward inv_std")
    dy = randn(rng, *shape)
    dx, dgamma, dbeta = cuda.batchnorm_backward(xp.asarray(dy), cache)
    dx_ref, dgamma_ref, dbeta_ref = layers.batchnorm_backward(dy.astype(np.float64), cache_ref)
    size = float(np.abs(dy).max() * np.abs(gamma * inv_std_ref).max())
    assert float(np.abs(to_numpy(dx) - dx_ref).max()) <= REORDERED_SUM * size, "batchnorm_backward dx"
    assert_close(dgamma, dgamma_ref, REORDERED_SUM, "batchnorm_backward dgamma")
    assert_close(dbeta, dbeta_ref, REORDERED_SUM, "batchnorm_backward dbeta")


# --------------------------------------------------------------------------
# Excerpts and augmentation
# --------------------------------------------------------------------------

def check_gather_excerpts(xp, rng):
    bins, width = int(rng.integers(1, 20)), int(rng.choice([1, 3, 7, 15]))
    songs = [randn(rng, int(rng.integers(1, 30)), bins) for _ in range(int(rng.integers(1, 5)))]
    pad = randn(rng, bins)
    song_starts = np.concatenate([[0], np.cumsum([len(s) for s in songs])])
    positions = rng.integers(0, song_starts[-1], size=int(rng.integers(1, 20)))
    # The twin: each song padded with width // 2 rows of `pad` at both ends, the excerpt sliced around its centre.
    half = width // 2
    padded = [np.concatenate([np.tile(pad, (half, 1)), s, np.tile(pad, (half, 1))]) for s in songs]
    owner = np.searchsorted(song_starts, positions, side="right") - 1
    expected = np.stack([padded[s][p - song_starts[s]:p - song_starts[s] + width] for s, p in zip(owner, positions)])
    starts = xp.asarray(song_starts.astype(np.int64))
    song_index, centre = cuda.augment.song_positions(starts, xp.asarray(positions))
    out = cuda.gather_excerpts(xp.asarray(np.concatenate(songs)), starts, song_index, centre,
                               width, xp.asarray(pad))
    assert_close(out, expected, EXACT, "gather_excerpts")
    owner_frames = positions - song_starts[owner]
    textbook = excerpt.gather_excerpts(np.concatenate(songs), song_starts, owner, owner_frames, width, pad)
    assert_close(textbook, expected, EXACT, "excerpt.gather_excerpts (the reference)")


def check_warp(xp, rng):
    batch = int(rng.integers(1, 5))
    frames = 2 * int(rng.integers(0, 20)) + 1
    bins = int(rng.integers(2, 40))
    out_frames, out_bins = int(rng.integers(1, 2 * frames + 2)), int(rng.integers(1, bins + 5))
    linear = rng.random((batch, frames, bins), dtype=np.float32)
    pitch = rng.uniform(0.6, 1.4, batch)
    stretch = rng.uniform(0.6, 1.4, batch)
    pitch[0], stretch[-1] = 1.0, 1.0  # factor 1 must be an exact copy
    expected = augment.warp(linear, pitch, stretch, out_frames, out_bins)
    out = cuda.warp(xp.asarray(linear), xp.asarray(pitch), xp.asarray(stretch), out_frames, out_bins)
    assert_close(out, expected, EXACT, "warp")


def check_pitch_shift_song(xp, rng):
    song = rng.random((int(rng.integers(1, 12)), spectrum.LINEAR_BINS), dtype=np.float32)
    factor = float(rng.uniform(0.7, 1.3))
    assert_close(cuda.pitch_shift_song(xp.asarray(song), factor),
                 augment.pitch_shift_song(song, factor), EXACT, "pitch_shift_song")


def check_gains(xp, rng):
    batch = int(rng.integers(1, 9))
    params = augment.draw_parameters(augment.Augmentation(filter_db=10.0, loudness_db=10.0), batch, rng)
    gains = cuda.amplitude_gains({k: xp.asarray(v) for k, v in params.items()})
    assert_close(gains, augment.amplitude_gains(params), TRANSCENDENTAL, "amplitude_gains")
    excerpts = rng.random((batch, int(rng.integers(1, 9)), spectrum.MEL_INPUT_BINS), dtype=np.float32)
    gains_np = to_numpy(gains)
    expected = augment.apply_gains(excerpts.copy(), gains_np)
    assert_close(cuda.apply_gains(xp.asarray(excerpts), xp.asarray(gains_np)), expected, EXACT,
                 "apply_gains")


def check_mix_negatives(xp, rng):
    batch, frames, bins = int(rng.integers(1, 9)), 2 * int(rng.integers(0, 6)) + 1, int(rng.integers(1, 20))
    excerpts = rng.random((batch, frames, bins), dtype=np.float32)
    chosen = np.flatnonzero(rng.random(batch) < 0.6)
    src_frames = frames + 2 * int(rng.integers(0, 4))
    negatives = rng.random((len(chosen), src_frames, bins + int(rng.integers(0, 4))), dtype=np.float32)
    fractions = rng.uniform(0, 0.5, batch)
    expected = augment.mix_negatives(excerpts.copy(), chosen, negatives, fractions[chosen])
    out = cuda.mix_negatives(xp.asarray(excerpts), xp.asarray(chosen), xp.asarray(negatives),
                             xp.asarray(fractions[chosen].astype(np.float32)))
    assert_close(out, expected, EXACT, "mix_negatives")


def check_mix_like_augment_batch(xp, rng):
    """mix_negatives against augment._mix_negatives itself, at the real bin count."""
    batch, frames = int(rng.integers(1, 6)), 2 * int(rng.integers(0, 4)) + 1
    src_frames = frames + 2 * int(rng.integers(0, 3))
    excerpts = rng.random((batch, frames, spectrum.MEL_INPUT_BINS), dtype=np.float32)
    params = {"mixed": rng.random(batch) < 0.6, "mix_fractions": rng.uniform(0, 0.5, batch)}
    chosen = np.flatnonzero(params["mixed"])
    negatives = rng.random((len(chosen), src_frames, spectrum.LINEAR_BINS), dtype=np.float32)
    expected = excerpts.copy()
    augment._mix_negatives(backend.IMPLEMENTATIONS["reference"], expected, params, lambda n: negatives, src_frames)
    out = cuda.mix_negatives(xp.asarray(excerpts), xp.asarray(chosen), xp.asarray(negatives),
                             xp.asarray(params["mix_fractions"][chosen]))
    assert_close(out, expected, EXACT, "mix_negatives vs augment._mix_negatives")


# --------------------------------------------------------------------------
# The paper's layer shapes (batch 1), and the whole-song pooling
# --------------------------------------------------------------------------

def check_network_shapes(xp, rng):
    """conv2 (3x3, 64 -> 32 channels on 113 x 78) and pool1 (3x3 stride 3) of
    the paper, and the whole-song pool (3x3 stride (1, 3)): large indices."""
    x = randn(rng, 1, 113, 78, 64)
    w = (randn(rng, 3, 3, 64, 32) / 24).astype(np.float32)
    b = randn(rng, 32)
    y_ref, cache_ref = layers.conv2d_forward(x, w, b, leaky=True)
    y, cache = cuda.conv2d_forward(xp.asarray(x), xp.asarray(w), xp.asarray(b), leaky=True)
    assert_close(y, y_ref, REORDERED_SUM, "conv2 forward")
    dy = randn(rng, *y_ref.shape)
    for got, want, name in zip(cuda.conv2d_backward(xp.asarray(dy), cache),
                               layers.conv2d_backward(dy, cache_ref), ("dx", "dw", "db")):
        assert_close(got, want, REORDERED_SUM, f"conv2 backward {name}")
    _pool_check(xp, rng, y_ref, (3, 3), None)
    _pool_check(xp, rng, y_ref, (3, 3), (1, 3))


CHECKS = [check_im2col, check_col2im, check_conv2d, check_maxpool, check_bias_leaky,
          check_dropout_mask, check_dropout_hash, check_input_noise, check_input_dropout, check_loss, check_nesterov,
          check_adam, check_batch_norm,
          check_gather_excerpts, check_warp, check_pitch_shift_song, check_gains,
          check_mix_negatives, check_mix_like_augment_batch, check_network_shapes]
