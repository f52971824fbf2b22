"""Data augmentation for training excerpts (paper Sec. 4), as seeded batch functions.

The seven methods of the paper, each with one strength parameter held in the
frozen dataclass `Augmentation` (all off by default):

    input_dropout  p   Sec. 4.1  zero each normalised mel input with probability p
    noise_sigma    σ   Sec. 4.1  add N(0, σ²) to each normalised mel input
    pitch_shift    s   Sec. 4.2  scale the frequency axis by a factor ~ U[1-s, 1+s]
    time_stretch   s   Sec. 4.2  scale the time axis by a factor ~ U[1-s, 1+s]
    loudness_db    d   Sec. 4.2  multiply magnitudes by 10^(g/20), g ~ U[-d, d] dB
    filter_db      d   Sec. 4.2  random Gaussian-bump EQ with peak gain ~ U[-d, d] dB
    mix_prob       q   Sec. 4.3  with probability q, blend in a voice-free excerpt

One call per mini-batch, `augment_batch`, takes linear-magnitude excerpts that
are `source_frames(aug)` frames wide (wider than 115 when time stretching, so a
squeezed excerpt still has source material at its edges) and returns the
normalised log-mel network input. The order is that of Sec. 4:

    1. warp        pitch shift + time stretch as one separable bilinear resampling
                   of the linear excerpt, cropped to (115 frames, 372 bins ≤ 8 kHz)
    2. filter      random frequency filter      } one multiplication of the linear
    3. loudness    random gain (exact, linear)  } magnitudes by per-bin gains
    4. mix         C = (1-f)·A + f·B, f ~ U(0, 0.5), for each example with prob. q
    5. mel + log   `spectrum.log_mel`
    6. normalise   (logmel - mean) / std
    7. noise       + σ·N(0, 1)
    8. dropout     set to zero with probability p (no rescaling, "sets inputs to zero")

Random draws, all from the one `numpy.random.Generator` passed in, in this
fixed order; a method that is off draws nothing, so turning one method on
changes the numbers the later ones see (a seed still reproduces a batch exactly):

    1. pitch factors     (batch,)  uniform [1-s, 1+s)          if pitch_shift > 0
    2. stretch factors   (batch,)  uniform [1-s, 1+s)          if time_stretch > 0
    3. filter centres    (batch,)  log-uniform [150, 8000) Hz  if filter_db > 0
       filter widths     (batch,)  uniform [5, 7) semitones
       filter gains      (batch,)  uniform [-d, d) dB
    4. loudness gains    (batch,)  uniform [-d, d) dB          if loudness_db > 0
    5. mix choices       (batch,)  uniform [0, 1) < q          if mix_prob > 0
       mix fractions     (batch,)  uniform [0, 0.5)
       then draw_negatives(number of chosen examples) is called (it may use its own
       random source or the same generator; either way it comes after the above)
    6. noise             (batch, 115, 80) standard normal      if noise_sigma > 0
    7. dropout           (batch, 115, 80) uniform [0, 1) < p   if input_dropout > 0
       (on a GPU, 6 and 7 draw one 32-bit seed each, and the device's
       counter-based hash makes the numbers: same distributions, other values)

The same code runs on a GPU when `linear` is a CuPy array: the per-example
draws of steps 1-4 are copied to the device in one (6, batch) array, the warp,
gains, mixing, noise and dropout are the CUDA kernels of the dispatch
(svd/backend.py), and the mel product, log and normalisation are CuPy array code.

Decisions the paper leaves open:
- Interpolation is bilinear and separable: first along time (whole spectrum
  rows), then along frequency. Weights are non-negative, so magnitudes stay
  non-negative; reads outside the source (beyond bin 512, before the first or
  after the last frame) see zeros (silence), and factor 1 is an exact copy.
- Mixing uses the *raw* negative excerpt B: its centre 115 frames and the 372
  bins up to 8 kHz, not warped, filtered or scaled. The paper blends "after any
  other augmentations", which we read as: after those applied to A.
- Loudness is applied on the linear scale (exact), not as a log offset after
  the mel: the two agree only where the mel energy stays above the 1e-7 log
  floor before and after the gain.
- Filter and loudness gains are multiplied into one per-(example, bin) gain
  array, applied once to the warped excerpt; both are per-bin multiplications,
  so this equals applying them one after the other.

Small per-example parameter arrays are float64; every spectrogram is float32.
"""
import dataclasses
import math

import numpy as np

from svd import spectrum
from svd.util import arrays
from svd.excerpt import EXCERPT_FRAMES  # paper Sec. 3.3: 115 frames, labelled at the centre

# Paper Sec. 4.2: random filter parameter ranges.
FILTER_MIN_HZ = 150.0
FILTER_MAX_HZ = 8000.0
FILTER_MIN_SIGMA_SEMITONES = 5.0
FILTER_MAX_SIGMA_SEMITONES = 7.0
# Largest strengths accepted: 120 dB is a factor of 10^6 in amplitude (the paper uses up to 10 dB).
MAX_GAIN_DB = 120.0
MAX_NOISE_SIGMA = 100.0
# Paper Sec. 4.3: mixing fraction f ~ U(0, 0.5).
MIX_MAX_FRACTION = 0.5
# Paper Sec. 5.4: test-time augmentation averages these pitch-shift factors.
TEST_TIME_PITCH_FACTORS = (1.0, 0.8, 0.9, 1.1, 1.2)

# Semitones are measured from this arbitrary reference; only differences matter.
_SEMITONE_REFERENCE_HZ = 440.0
_MEL_FILTERBANK = spectrum.mel_filterbank()
_MEL_BIN_HZ = np.arange(spectrum.MEL_INPUT_BINS) * spectrum.BIN_HZ


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Strengths of the seven augmentation methods; 0 switches a method off.

    input_dropout: probability p in [0, 1] of zeroing a mel input (Sec. 4.1).
    noise_sigma: standard deviation σ >= 0 of Gaussian noise on mel inputs (Sec. 4.1).
    pitch_shift: s in [0, 1); frequency factor ~ U[1-s, 1+s] (Sec. 4.2).
    time_stretch: s in [0, 1); time factor ~ U[1-s, 1+s] (Sec. 4.2).
    loudness_db: d >= 0; amplitude gain ~ U[-d, d] dB (Sec. 4.2).
    filter_db: d >= 0; filter peak gain ~ U[-d, d] dB (Sec. 4.2).
    mix_prob: probability q in [0, 1] of mixing in a negative (Sec. 4.3).
    """
    input_dropout: float = 0.0
    noise_sigma: float = 0.0
    pitch_shift: float = 0.0
    time_stretch: float = 0.0
    loudness_db: float = 0.0
    filter_db: float = 0.0
    mix_prob: float = 0.0

    def __post_init__(self):
        _check_range("input_dropout", self.input_dropout, 0.0, 1.0, "a probability in [0, 1]")
        # Upper bounds far beyond any useful strength, so that no gain overflows float32.
        _check_range("noise_sigma", self.noise_sigma, 0.0, MAX_NOISE_SIGMA, f"a standard deviation in [0, {MAX_NOISE_SIGMA:g}]")
        # A factor range [1-s, 1+s] must stay positive; s -> 1 would also need an
        # infinitely wide source excerpt for time stretching.
        _check_range("pitch_shift", self.pitch_shift, 0.0, 1.0, "a fraction in [0, 1)", upper_open=True)
        _check_range("time_stretch", self.time_stretch, 0.0, 1.0, "a fraction in [0, 1)", upper_open=True)
        _check_range("loudness_db", self.loudness_db, 0.0, MAX_GAIN_DB, f"a range in dB in [0, {MAX_GAIN_DB:g}]")
        _check_range("filter_db", self.filter_db, 0.0, MAX_GAIN_DB, f"a range in dB in [0, {MAX_GAIN_DB:g}]")
        _check_range("mix_prob", self.mix_prob, 0.0, 1.0, "a probability in [0, 1]")


def _check_range(name, value, low, high, meaning, upper_open=False):
    """Raise ValueError unless low <= value <= high (or < high), finite, not NaN."""
    ok = low <= value < high if upper_open else low <= value <= high
    if not (ok and math.isfinite(value)):
        raise ValueError(f"svd/augment.py: Augmentation.{name}={value!r} is invalid; it must be {meaning}.")


# Paper Sec. 5.3 (the `--augment` flag): pitch ±30%, stretch ±30%, filter ±10 dB.
PAPER_COMBINATION = Augmentation(pitch_shift=0.3, time_stretch=0.3, filter_db=10.0)


def source_frames(aug, excerpt_frames=EXCERPT_FRAMES):
    """Odd width in frames of the linear source excerpt `augment_batch` needs.

    The smallest stretch factor 1-s reads (excerpt_frames // 2) / (1-s) frames
    either side of the centre; ceil(excerpt_frames / (1-s)), made odd, covers
    that, so time stretching never reads past the source. Without stretching
    this is just `excerpt_frames`.
    """
    if aug.time_stretch == 0:
        return excerpt_frames
    width = math.ceil(excerpt_frames / (1.0 - aug.time_stretch))
    return width if width % 2 == 1 else width + 1


# ---------------------------------------------------------------- warping (Sec. 4.2)

def _linear_taps(positions, size):
    """Two-tap linear interpolation of a length-`size` axis at fractional positions.

    positions: (..., n) float64 source coordinates (may lie outside [0, size-1]).
    Returns (index0, index1, weight0, weight1): intp indices clipped into the
    axis and float32 weights, where a tap outside the axis gets weight 0 (it
    reads a zero). The value at p is weight0 * src[index0] + weight1 * src[index1].
    """
    lower = np.floor(positions)
    weight1 = positions - lower
    weight0 = 1.0 - weight1
    index0 = lower.astype(np.intp)
    index1 = index0 + 1
    weight0 = np.where((index0 >= 0) & (index0 < size), weight0, 0.0).astype(np.float32)
    weight1 = np.where((index1 >= 0) & (index1 < size), weight1, 0.0).astype(np.float32)
    return np.clip(index0, 0, size - 1), np.clip(index1, 0, size - 1), weight0, weight1


def _interpolate_frames(linear, frame_positions):
    """Resample the time axis: (batch, frames, bins) -> (batch, out_frames, bins).

    frame_positions: (batch, out_frames) float64 source frame coordinates.
    Gathers whole spectrum rows (contiguous) from the flattened batch.
    """
    batch, frames, bins = linear.shape
    index0, index1, weight0, weight1 = _linear_taps(frame_positions, frames)
    rows = linear.reshape(batch * frames, bins)
    first_row = (np.arange(batch) * frames)[:, None]
    out = np.take(rows, (first_row + index0).ravel(), axis=0).reshape(batch, -1, bins)
    out *= weight0[..., None]
    upper = np.take(rows, (first_row + index1).ravel(), axis=0).reshape(batch, -1, bins)
    upper *= weight1[..., None]
    out += upper
    return out


def _interpolate_bins(linear, bin_positions):
    """Resample the frequency axis: (batch, frames, bins) -> (batch, frames, out_bins).

    bin_positions: (batch, out_bins) float64 source bin coordinates.
    Transposes to (batch, bins, frames) so the gather copies whole rows again,
    which is about 4x faster than gathering single elements along the last axis.
    """
    batch, frames, bins = linear.shape
    index0, index1, weight0, weight1 = _linear_taps(bin_positions, bins)
    by_bin = np.ascontiguousarray(linear.transpose(0, 2, 1)).reshape(batch * bins, frames)
    first_row = (np.arange(batch) * bins)[:, None]
    out = np.take(by_bin, (first_row + index0).ravel(), axis=0).reshape(batch, -1, frames)
    out *= weight0[..., None]
    upper = np.take(by_bin, (first_row + index1).ravel(), axis=0).reshape(batch, -1, frames)
    upper *= weight1[..., None]
    out += upper
    return np.ascontiguousarray(out.transpose(0, 2, 1))


def warp(linear, pitch_factors, stretch_factors, out_frames=EXCERPT_FRAMES,
         out_bins=spectrum.MEL_INPUT_BINS):
    """Pitch-shift and time-stretch linear excerpts by scaling them (Sec. 4.2).

    linear: (batch, frames, bins) float32 magnitudes, frames odd, the labelled
        frame at row frames // 2.
    pitch_factors: (batch,) > 0; a partial at bin k moves to bin factor * k,
        bin 0 (0 Hz) stays put.
    stretch_factors: (batch,) > 0; a distance of n frames from the centre
        becomes factor * n frames; the centre frame stays on the label.
    Returns (batch, out_frames, out_bins) float32, the bottom-centre crop of
    the scaled excerpt: out[b, t, j] = linear[b, c + (t - out_frames // 2) /
    stretch_b, j / pitch_b] with c = frames // 2, by separable bilinear
    interpolation (time first, then frequency), zeros outside the source.
    """
    pitch_factors = np.asarray(pitch_factors, dtype=np.float64)
    stretch_factors = np.asarray(stretch_factors, dtype=np.float64)
    offsets = np.arange(out_frames) - out_frames // 2
    frame_positions = linear.shape[1] // 2 + offsets[None, :] / stretch_factors[:, None]
    bin_positions = np.arange(out_bins)[None, :] / pitch_factors[:, None]
    stretched = _interpolate_frames(linear, frame_positions)
    return _interpolate_bins(stretched, bin_positions)


def pitch_shift_song(linear_song, factor):
    """Pitch-shift a whole song's linear spectrogram for test-time augmentation (Sec. 5.4).

    linear_song: (frames, LINEAR_BINS) float32 magnitudes; factor > 0 as in `warp`.
    Returns (frames, MEL_INPUT_BINS) float32, the bins up to 8 kHz, resampled
    along frequency only (bilinear; source bins beyond 512 read as zero).
    """
    if not factor > 0:
        raise ValueError(f"svd/augment.py: pitch_shift_song factor={factor!r}; "
                         f"it must be > 0 (1.0 = unchanged).")
    bin_positions = np.arange(spectrum.MEL_INPUT_BINS)[None, :] / float(factor)
    return _interpolate_bins(linear_song[None], bin_positions)[0]


# ------------------------------------------------------ filter and loudness (Sec. 4.2)

def filter_response_db(bin_hz, mu_hz, sigma_semitones, gain_db):
    """Random-filter response in dB (Sec. 4.2, with the minus sign the paper misprints).

    bin_hz: (bins,) frequencies in Hz; mu_hz, sigma_semitones, gain_db: scalars
    or (batch,) arrays. Returns (bins,) or (batch, bins) float64 dB:

        f(x) = gain_db * exp(-0.5 * (x - μ)² / σ²),  x, μ in semitones,

    a Gaussian bump centred on mu_hz. 0 Hz lies at -inf semitones: its
    response is defined as 0 dB (the limit of the formula).
    """
    bin_hz = np.asarray(bin_hz, dtype=np.float64)
    mu = 12.0 * np.log2(np.asarray(mu_hz, dtype=np.float64)[..., None] / _SEMITONE_REFERENCE_HZ)
    sigma = np.asarray(sigma_semitones, dtype=np.float64)[..., None]
    gain = np.asarray(gain_db, dtype=np.float64)[..., None]
    positive = bin_hz > 0
    x = 12.0 * np.log2(np.where(positive, bin_hz, 1.0) / _SEMITONE_REFERENCE_HZ)
    response = gain * np.exp(-0.5 * (x - mu) ** 2 / sigma ** 2)
    return np.where(positive, response, 0.0)


def amplitude_gains(params):
    """Per-example, per-bin linear gains from the filter and loudness draws.

    params: the dict from `draw_parameters`. Returns (batch, MEL_INPUT_BINS)
    float32 factors 10^((filter_db + loudness_db) / 20) for the magnitudes
    (amplitude dB, hence /20).
    """
    total_db = filter_response_db(_MEL_BIN_HZ, params["filter_mu_hz"],
                                  params["filter_sigma_semitones"], params["filter_gain_db"])
    total_db = total_db + params["loudness_db"][:, None]
    return (10.0 ** (total_db / 20.0)).astype(np.float32)


# ------------------------------------------------------------------ mixing (Sec. 4.3)

def mix(a, b, fractions):
    """Blend linear spectrograms: C = (1 - f) * A + f * B (Sec. 4.3).

    a, b: (n, frames, bins) float32 magnitudes; fractions: (n,) in [0, 0.5).
    Returns (n, frames, bins) float32, elementwise between A and B.
    """
    f = np.asarray(fractions, dtype=np.float32)[:, None, None]
    return (1.0 - f) * a + f * b


def apply_gains(excerpts, gains):
    """excerpts[b, t, k] *= gains[b, k], in place: the filter and loudness of Sec. 4.2.

    excerpts: (batch, frames, bins) float32; gains: (batch, bins) from `amplitude_gains`. Returns excerpts.
    """
    excerpts *= gains[:, None, :]
    return excerpts


def mix_negatives(excerpts, chosen, negatives, fractions):
    """Blend voice-free excerpts into the chosen examples, in place (Sec. 4.3).

    excerpts: (batch, frames, bins) float32; chosen: (n,) distinct batch indices;
    negatives: (n, src_frames >= frames, src_bins >= bins) float32, of which the
    centre `frames` rows and the first `bins` columns are used; fractions: (n,) f.
    Returns excerpts, with excerpts[chosen] = (1 - f) * excerpts[chosen] + f * crop(negatives).
    """
    crop = _centre_crop(negatives, excerpts.shape[1])[:, :, :excerpts.shape[2]]
    excerpts[chosen] = mix(excerpts[chosen], crop, fractions)
    return excerpts


def _centre_crop(linear, out_frames):
    """(batch, frames, bins) -> (batch, out_frames, MEL_INPUT_BINS), centred on frames // 2."""
    first = linear.shape[1] // 2 - out_frames // 2
    return linear[:, first:first + out_frames, :spectrum.MEL_INPUT_BINS]


# ------------------------------------------------------------------- the batch entry

def draw_parameters(aug, batch, rng):
    """Draw the per-example random parameters of steps 1-5, in the documented order.

    Returns a dict of (batch,) arrays: pitch_factors, stretch_factors (1 when
    off), filter_mu_hz, filter_sigma_semitones, filter_gain_db (gain 0 when
    off), loudness_db (0 when off), mixed (bool, False when off), mix_fractions.
    """
    ones, zeros = np.ones(batch), np.zeros(batch)
    p = {"pitch_factors": ones, "stretch_factors": ones, "filter_mu_hz": np.full(batch, 1000.0),
         "filter_sigma_semitones": np.full(batch, 6.0), "filter_gain_db": zeros,
         "loudness_db": zeros, "mixed": np.zeros(batch, bool), "mix_fractions": zeros}
    if aug.pitch_shift > 0:
        p["pitch_factors"] = rng.uniform(1 - aug.pitch_shift, 1 + aug.pitch_shift, batch)
    if aug.time_stretch > 0:
        p["stretch_factors"] = rng.uniform(1 - aug.time_stretch, 1 + aug.time_stretch, batch)
    if aug.filter_db > 0:
        # μ log-uniform in [150 Hz, 8 kHz): uniform in log frequency.
        p["filter_mu_hz"] = FILTER_MIN_HZ * (FILTER_MAX_HZ / FILTER_MIN_HZ) ** rng.random(batch)
        p["filter_sigma_semitones"] = rng.uniform(FILTER_MIN_SIGMA_SEMITONES,
                                                  FILTER_MAX_SIGMA_SEMITONES, batch)
        p["filter_gain_db"] = rng.uniform(-aug.filter_db, aug.filter_db, batch)
    if aug.loudness_db > 0:
        p["loudness_db"] = rng.uniform(-aug.loudness_db, aug.loudness_db, batch)
    if aug.mix_prob > 0:
        p["mixed"] = rng.random(batch) < aug.mix_prob
        p["mix_fractions"] = rng.uniform(0.0, MIX_MAX_FRACTION, batch)
    return p


def _check_batch(linear, aug, mean, std, draw_negatives, excerpt_frames):
    """ValueError for a source excerpt or statistics that `augment_batch` cannot use."""
    needed = source_frames(aug, excerpt_frames)
    if linear.ndim != 3 or linear.shape[1] % 2 != 1 or linear.shape[1] < needed \
            or linear.shape[2] < spectrum.MEL_INPUT_BINS:
        raise ValueError(f"svd/augment.py: augment_batch got linear excerpts of shape {linear.shape}; "
                         f"it needs (batch, odd frames >= {needed}, {spectrum.LINEAR_BINS}), "
                         f"use source_frames(aug) for the width.")
    shapes = {(spectrum.MEL_BANDS,), (linear.shape[0], spectrum.MEL_BANDS)}
    if np.shape(mean) not in shapes or np.shape(std) != np.shape(mean):
        raise ValueError(f"svd/augment.py: mean and std must both have shape ({spectrum.MEL_BANDS},) or "
                         f"(batch, {spectrum.MEL_BANDS}), got {np.shape(mean)} and {np.shape(std)}.")
    if aug.mix_prob > 0 and draw_negatives is None:
        raise ValueError("svd/augment.py: mix_prob > 0 needs a draw_negatives function.")


def _mix_negatives(ops, excerpts, params, draw_negatives, source_width):
    """Step 4 in place: blend raw negatives into the chosen examples (Sec. 4.3).

    excerpts: (batch, frames, MEL_INPUT_BINS) float32, modified in place.
    """
    chosen = np.flatnonzero(params["mixed"])
    if len(chosen) == 0:
        return
    negatives = arrays.array_module(excerpts).asarray(draw_negatives(len(chosen)), dtype=np.float32)
    if negatives.shape[:2] != (len(chosen), source_width):
        raise ValueError(f"svd/augment.py: draw_negatives({len(chosen)}) returned shape "
                         f"{negatives.shape}; it must return ({len(chosen)}, {source_width}, bins).")
    ops.mix_negatives(excerpts, chosen, negatives, params["mix_fractions"][chosen])


def add_noise(inputs, sigma, rng):
    """Gaussian noise of Sec. 4.1, in place: inputs += sigma * N(0, 1), drawn from `rng`.

    inputs: float32 array; sigma >= 0; rng: numpy.random.Generator (draws
    inputs.size normals). Returns inputs.
    """
    inputs += np.float32(sigma) * rng.standard_normal(inputs.shape, dtype=np.float32)
    return inputs


def drop_inputs(inputs, p, rng):
    """Input dropout of Sec. 4.1, in place: each element set to zero with probability p.

    No rescaling (the paper "sets inputs to zero"). inputs: float32 array;
    rng: numpy.random.Generator (draws inputs.size uniforms). Returns inputs.
    """
    inputs[rng.random(inputs.shape, dtype=np.float32) < p] = 0.0
    return inputs


# The per-example draws the device kernels read, uploaded as one (6, batch) float64 array.
_DEVICE_DRAWS = ("pitch_factors", "stretch_factors", "filter_mu_hz", "filter_sigma_semitones",
                 "filter_gain_db", "loudness_db")


def _on_device(params, xp):
    """The draws of `_DEVICE_DRAWS` as rows of one array on xp's device (one copy); the rest stays on the host."""
    if xp is np:
        return params
    packed = xp.asarray(np.stack([params[name] for name in _DEVICE_DRAWS]))
    return {**params, **dict(zip(_DEVICE_DRAWS, packed))}


def augment_batch(ops, linear, aug, rng, mean, std, draw_negatives=None, excerpt_frames=EXCERPT_FRAMES):
    """Turn a batch of linear excerpts into augmented, normalised network input (Sec. 4).

    ops: the operations for linear's arrays, `backend.ops(linear)`: the warp, gains,
        mixing, noise and dropout run through it (NumPy here, CUDA kernels on a GPU).
    linear: (batch, source_frames(aug, excerpt_frames), LINEAR_BINS) float32
        magnitudes, the labelled frame at row source_frames // 2 (wider odd
        widths work too); a NumPy array, or a CuPy array (then every step runs
        on its GPU and the result stays there).
    aug: an `Augmentation`; rng: numpy.random.Generator (draw order: module docstring;
        on a GPU, noise and dropout draw one 32-bit seed each instead, see svd/cuda/activation.py).
    mean, std: (MEL_BANDS,) float32 per-band statistics of the log-mel input, or
        (batch, MEL_BANDS): one pair per example (a recording's own statistics
        combined with the training set's, `train --per-recording`).
    draw_negatives: n -> (n, linear.shape[1], bins) float32 voice-free
        excerpts on linear's device; called once, only when aug.mix_prob > 0
        and an example is chosen.
    Returns (batch, excerpt_frames, MEL_BANDS) float32, (log_mel - mean) / std
    plus noise and dropout.
    """
    _check_batch(linear, aug, mean, std, draw_negatives, excerpt_frames)
    xp = arrays.array_module(linear)
    batch = linear.shape[0]
    params = _on_device(draw_parameters(aug, batch, rng), xp)
    if aug.pitch_shift > 0 or aug.time_stretch > 0:
        excerpts = ops.warp(linear, params["pitch_factors"], params["stretch_factors"], excerpt_frames)
    else:
        excerpts = xp.array(_centre_crop(linear, excerpt_frames), dtype=np.float32)
    if aug.filter_db > 0 or aug.loudness_db > 0:
        ops.apply_gains(excerpts, ops.amplitude_gains(params))
    if aug.mix_prob > 0:
        _mix_negatives(ops, excerpts, params, draw_negatives, linear.shape[1])
    # A 2-D matrix product is ~2x faster than the batched 3-D one here.
    logmel = spectrum.log_mel(excerpts.reshape(-1, spectrum.MEL_INPUT_BINS), _mel_filterbank(xp))
    inputs = logmel.reshape(batch, excerpt_frames, spectrum.MEL_BANDS)
    inputs -= xp.asarray(mean, dtype=np.float32).reshape(-1, 1, spectrum.MEL_BANDS)
    inputs /= xp.asarray(std, dtype=np.float32).reshape(-1, 1, spectrum.MEL_BANDS)
    if aug.noise_sigma > 0:
        ops.add_noise(inputs, aug.noise_sigma, rng)
    if aug.input_dropout > 0:
        ops.drop_inputs(inputs, aug.input_dropout, rng)
    return inputs


def _mel_filterbank(xp):
    """The mel filterbank as an array of module xp (copied to a GPU once, then kept)."""
    if xp not in _MEL_FILTERBANKS:
        _MEL_FILTERBANKS[xp] = xp.asarray(_MEL_FILTERBANK)
    return _MEL_FILTERBANKS[xp]


_MEL_FILTERBANKS = {np: _MEL_FILTERBANK}

