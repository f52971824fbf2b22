"""Launchers of kernels/augment.cu: training excerpts cut out and augmented on the device (Sec. 3.3, 4).

Twins: svd/batches.py gather_excerpts and svd/augment.py warp,
pitch_shift_song, amplitude_gains, apply_gains, mix_negatives. Index arrays are
checked where they live (see svd/cuda/checks.py): training passes them from the
host, so making a batch never waits for the GPU.
"""
import numpy

from svd import excerpt, spectrum
from svd.util import arrays
from svd.cuda import checks, launch


def song_positions(song_starts, positions):
    """(song_index, centre): global position indices -> (song, frame) pairs.

    song_starts: (n_songs + 1,) int64 cumulative song lengths with a leading 0
    (batches.TrainingExcerpts.song_starts); positions: (batch,) int in
    [0, song_starts[-1]). Returns two (batch,) int64 arrays.
    """
    xp = arrays.array_module(song_starts)
    checks.check_ndim("song_positions", "song_starts", song_starts, ("n_songs + 1",))
    checks.check_indices("song_positions", "positions", positions, int(song_starts[-1]))
    positions = xp.asarray(positions, dtype=numpy.int64)
    song_index = xp.searchsorted(song_starts, positions, side="right") - 1
    return song_index.astype(numpy.int64), positions - song_starts[song_index]


def gather_excerpts(songs, song_starts, song_index, centre, width, pad):
    """Excerpts centred on (song, frame) positions (kernels/augment.cu gather_excerpts).

    Twin: excerpt.gather_excerpts, same arguments and result (rows beyond a
    song's ends read `pad`).

    Args:
        songs: (total_frames, bins) float32, all songs one after the other.
        song_starts: (n_songs + 1,) int64, song s is rows song_starts[s]:song_starts[s+1]:
            non-decreasing from 0 to total_frames.
        song_index: (batch,) int64 in [0, n_songs), the song of each excerpt.
        centre: (batch,) int64, its centre frame, in [0, length of its song).
        width: excerpt frames (odd).
        pad: (bins,) float32 value of frames beyond a song's ends (or one number).

    Returns:
        (batch, width, bins) float32.

    The index arrays (song_starts, song_index, centre) are checked where they
    live, before they are copied to the device: free for host arrays (NumPy or
    lists), which is what training passes (svd/batches.py), so that making a
    batch never waits for the GPU; if any of them is a device array, all three
    are checked on the device, by reductions and a read-back (`checks.check_indices`).
    """
    xp = arrays.array_module(songs)
    songs = launch.f32(songs)
    checks.check_ndim("gather_excerpts", "songs", songs, ("total_frames", "bins"))
    total_frames, bins = songs.shape
    on_host = all(arrays.array_module(a) is numpy for a in (song_starts, song_index, centre))
    where = numpy if on_host else xp  # the module the checks run in
    song_starts = launch.array_on(where, song_starts, numpy.int64)
    if (song_starts.ndim != 1 or song_starts.size < 2 or int(song_starts[0]) != 0
            or int(song_starts[-1]) != total_frames or not bool(where.all(where.diff(song_starts) >= 0))):
        raise ValueError(f"gather_excerpts: song_starts must be (n_songs + 1,) non-decreasing from 0 "
                         f"to total_frames = {total_frames}")
    checks.check_indices("gather_excerpts", "song_index", launch.array_on(where, song_index, numpy.int64),
                         song_starts.size - 1)
    batch = len(song_index)
    checks.check_shape("gather_excerpts", "centre", centre, (batch,))
    song_index, centre = (launch.array_on(where, a, numpy.int64) for a in (song_index, centre))
    if batch > 0 and not bool(where.all((centre >= 0) & (centre < where.diff(song_starts)[song_index]))):
        raise ValueError("gather_excerpts: centre must lie in [0, length of its song)")
    song_starts, song_index, centre = (launch.array_on(xp, a, numpy.int64)
                                       for a in (song_starts, song_index, centre))
    if not (width >= 1 and width % 2 == 1):
        raise ValueError(f"gather_excerpts: width must be odd and >= 1, got {width!r}")
    pad = xp.asarray(pad, dtype=numpy.float32)
    if pad.shape not in ((), (bins,)):
        raise ValueError(f"gather_excerpts: pad has shape {pad.shape}, expected ({bins},) or ()")
    pad = launch.array_on(xp, xp.broadcast_to(pad, (bins,)), numpy.float32)
    out = launch.empty(xp, (batch, width, bins), numpy.float32)
    launch.kernel("augment", "gather_excerpts", out.size, songs, song_starts, song_index, centre, pad, out,
                  batch, width, bins)
    return out


def warp(linear, pitch_factors, stretch_factors, out_frames=excerpt.EXCERPT_FRAMES,
         out_bins=spectrum.MEL_INPUT_BINS):
    """Pitch shift + time stretch by bilinear resampling (kernels/augment.cu warp).

    Twin: augment.warp, same arguments and result, the same float32 rounding.
    linear: (batch, frames, bins) float32, frames and bins >= 1;
    pitch_factors, stretch_factors: (batch,), finite and > 0 (float64 on the
    device); out_frames, out_bins >= 1. Returns (batch, out_frames, out_bins).

    Factors on the host are checked (free); factors already on the device
    (augment.augment_batch uploads its draws in one copy) are not, since
    checking them would make every batch wait for a read-back. That is safe
    because the kernel clips every tap index into the source excerpt: a bad
    factor gives wrong (zero or NaN) values, never a read outside `linear`.
    """
    xp = arrays.array_module(linear)
    linear = launch.f32(linear)
    checks.check_ndim("warp", "linear", linear, ("batch", "frames", "bins"))
    batch, frames, bins = linear.shape
    if frames < 1 or bins < 1:
        raise ValueError(f"warp: linear of shape {linear.shape} has no frames or no bins to interpolate")
    for name, factors in (("pitch_factors", pitch_factors), ("stretch_factors", stretch_factors)):
        checks.check_shape("warp", name, factors, (batch,))
        if arrays.array_module(factors) is numpy:
            checks.check_positive("warp", name, factors)
    checks.check_sizes("warp", "out_frames, out_bins", (out_frames, out_bins))
    out = launch.empty(xp, (batch, out_frames, out_bins), numpy.float32)
    pitch_factors, stretch_factors = (launch.array_on(xp, factors, numpy.float64)
                                      for factors in (pitch_factors, stretch_factors))
    launch.kernel("augment", "warp", out.size, linear, pitch_factors, stretch_factors, out,
                  batch, frames, bins, out_frames, out_bins)
    return out


def pitch_shift_song(linear_song, factor):
    """Pitch-shift a whole song (kernels/augment.cu warp with stretch 1, all frames).

    Twin: augment.pitch_shift_song. linear_song: (frames, bins) float32;
    factor > 0. Returns (frames, MEL_INPUT_BINS) float32.
    """
    if not factor > 0:
        raise ValueError(f"pitch_shift_song: factor must be > 0, got {factor!r}")
    checks.check_ndim("pitch_shift_song", "linear_song", linear_song, ("frames", "bins"))
    xp = arrays.array_module(linear_song)
    frames = linear_song.shape[0]
    ones = xp.ones(1, dtype=numpy.float64)
    return warp(linear_song[None], ones * factor, ones, out_frames=frames)[0]


def amplitude_gains(params, bins=spectrum.MEL_INPUT_BINS, xp=None):
    """Per-example, per-bin gains of random filter and loudness (kernels/augment.cu filter_gains).

    Twin: augment.amplitude_gains. params: dict with (batch,) float64 arrays
    filter_mu_hz, filter_sigma_semitones, filter_gain_db, loudness_db, as
    augment.draw_parameters returns them. xp: the array module to compute
    with (cupy: the draws are copied to the device); None means that of
    params["filter_mu_hz"]. Returns (batch, bins) float32
    10^((filter_db + loudness_db) / 20), bin k at k * spectrum.BIN_HZ.
    """
    xp = arrays.array_module(params["filter_mu_hz"]) if xp is None else xp
    names = ("filter_mu_hz", "filter_sigma_semitones", "filter_gain_db", "loudness_db")
    mu, sigma, gain, loudness = draws = [launch.array_on(xp, params[name], numpy.float64) for name in names]
    for name, draw in zip(names, draws):
        checks.check_shape("amplitude_gains", f"params[{name!r}]", draw, (mu.size,))
    gains = launch.empty(xp, (len(mu), bins), numpy.float32)
    launch.kernel("augment", "filter_gains", gains.size, mu, sigma, gain, loudness, gains,
                  len(mu), bins, spectrum.BIN_HZ)
    return gains


def apply_gains(excerpts, gains):
    """excerpts[b, t, k] *= gains[b, k], in place (kernels/augment.cu apply_gains).

    Twin: augment.apply_gains (`excerpts *= gains[:, None, :]`), which
    augment.augment_batch calls with the gains of amplitude_gains.
    excerpts: (batch, frames, bins) float32 (C-contiguous); gains: (batch, bins).
    """
    xp = arrays.array_module(excerpts)
    checks.check_ndim("apply_gains", "excerpts", excerpts, ("batch", "frames", "bins"))
    checks.check_writable("apply_gains", "excerpts", excerpts, excerpts.shape)
    batch, frames, bins = excerpts.shape
    gains = launch.array_on(xp, gains, numpy.float32)
    checks.check_shape("apply_gains", "gains", gains, (batch, bins))
    launch.kernel("augment", "apply_gains", excerpts.size, excerpts, gains, batch, frames, bins)
    return excerpts


def mix_negatives(excerpts, chosen, negatives, fractions):
    """Blend raw voice-free excerpts into chosen examples, in place (Sec. 4.3;
    kernels/augment.cu mix_negatives).

    Twin: augment.mix_negatives, same arguments: excerpts[chosen] = augment.mix(
    excerpts[chosen], centre crop of negatives, fractions).

    Args:
        excerpts: (batch, frames, bins) float32, C-contiguous, modified in place.
        chosen: (n_mixed,) integer indices into the batch, distinct (each
            index of the kernel owns its example's elements) and in [0, batch):
            checked by a reduction (see `checks.check_indices`), free when chosen
            is a NumPy array (what augment._mix_negatives passes).
        negatives: (n_mixed, src_frames, src_bins) float32, src_frames >= frames
            (centre crop taken), src_bins >= bins.
        fractions: (n_mixed,) mixing fractions f (rounded to float32, like augment.mix).
    """
    xp = arrays.array_module(excerpts)
    checks.check_ndim("mix_negatives", "excerpts", excerpts, ("batch", "frames", "bins"))
    checks.check_writable("mix_negatives", "excerpts", excerpts, excerpts.shape)
    batch, frames, bins = excerpts.shape
    negatives = launch.array_on(xp, negatives, numpy.float32)
    checks.check_ndim("mix_negatives", "negatives", negatives, ("n_mixed", "src_frames", "src_bins"))
    n_mixed, src_frames, src_bins = negatives.shape
    if src_frames < frames or src_bins < bins:
        raise ValueError(f"mix_negatives: negatives {negatives.shape} are smaller than the "
                         f"excerpts {excerpts.shape}")
    checks.check_shape("mix_negatives", "chosen", chosen, (n_mixed,))
    checks.check_indices("mix_negatives", "chosen", chosen, batch, distinct=True)
    checks.check_shape("mix_negatives", "fractions", fractions, (n_mixed,))
    chosen, fractions = launch.array_on(xp, chosen, numpy.int64), launch.array_on(xp, fractions, numpy.float32)
    launch.kernel("augment", "mix_negatives", n_mixed * frames * bins, excerpts, chosen, negatives, fractions,
                  n_mixed, frames, bins, src_frames, src_bins)
    return excerpts

