/* augment.cu -- building augmented training excerpts on the device (Sec. 3.3, 4).
 *
 *   kernel           launched by (svd/cuda/augment.py)  replaces (its NumPy twin)
 *   gather_excerpts  cuda.augment.gather_excerpts       excerpt.gather_excerpts
 *   warp             cuda.augment.warp                  augment.warp
 *                    cuda.augment.pitch_shift_song      augment.pitch_shift_song
 *   filter_gains     cuda.augment.amplitude_gains       augment.amplitude_gains
 *   apply_gains      cuda.augment.apply_gains           augment.apply_gains
 *   mix_negatives    cuda.augment.mix_negatives         augment.mix_negatives (with augment.mix)
 *
 * Spectrograms are float32 and C-contiguous, (batch, frames, bins) for
 * excerpts; the small per-example parameters (factors, filter draws) are
 * float64, as in svd/augment.py, so that interpolation positions and filter
 * responses are computed in the same precision as the NumPy twins.
 */
#include "emulate.h"

/* ------------------------------------------------------------------ gather */

/* gather_excerpts: cut (batch, width, bins) excerpts out of all songs at once.
 *
 * songs: (total_frames, bins), every song's spectrogram one after the other;
 * song s is rows song_starts[s] .. song_starts[s+1]-1 (song_starts:
 * (n_songs + 1,) int64, the cumulative lengths with a leading 0).
 * Example e is centred on frame centre[e] of song song_index[e] (both (batch,)
 * int64):
 *
 *   out[e, w, k] = songs[song_starts[s] + fr, k]  if 0 <= fr < length of s
 *                = pad[k]                         otherwise (beyond the song)
 *   with s = song_index[e], fr = centre[e] - width/2 + w.
 *
 * Reading `pad` beyond the ends is what padding each song with width/2 rows
 * of pad before and after would do. pad: (bins,); training centres lie far
 * enough inside their songs that it is never read.
 * One index per element of out (it owns it).
 */
SVD_KERNEL gather_excerpts(const float *__restrict__ songs,
                           const long long *__restrict__ song_starts,
                           const long long *__restrict__ song_index,
                           const long long *__restrict__ centre,
                           const float *__restrict__ pad, float *__restrict__ out,
                           int batch, int width, int bins)
{
    const long long n_out = (long long)batch * width * bins;
    SVD_FOR_EACH(idx, n_out) {
        /* idx = (e*width + w)*bins + k */
        const int k = (int)(idx % bins);
        const int w = (int)((idx / bins) % width);
        const long long e = idx / ((long long)bins * width);
        const long long s = song_index[e];
        const long long start = song_starts[s], length = song_starts[s + 1] - start;
        const long long frame = centre[e] - width / 2 + w;
        out[idx] = (frame >= 0 && frame < length) ? songs[(start + frame) * bins + k] : pad[k];
    }
}

/* -------------------------------------------------------------------- warp */

/* Two-tap linear interpolation of an axis of `size` samples at `position`
 * (augment._linear_taps): value = weight0 * src[index0] + weight1 * src[index1].
 * A tap outside the axis gets weight 0 (it reads a zero) and a clipped index. */
struct LinearTap {
    int index0, index1;
    float weight0, weight1;
};

SVD_DEVICE int clip_index(long long i, int size)
{
    return i < 0 ? 0 : (i >= size ? size - 1 : (int)i);
}

SVD_DEVICE LinearTap linear_tap(double position, int size)
{
    const double lower = floor(position);
    const double frac = position - lower;  /* weight of the upper tap, in float64 */
    const long long i0 = (long long)lower, i1 = i0 + 1;
    LinearTap tap;
    tap.weight0 = (i0 >= 0 && i0 < size) ? (float)(1.0 - frac) : 0.0f;
    tap.weight1 = (i1 >= 0 && i1 < size) ? (float)frac : 0.0f;
    tap.index0 = clip_index(i0, size);
    tap.index1 = clip_index(i1, size);
    return tap;
}

/* warp: pitch shift and time stretch of linear excerpts (Sec. 4.2), the
 * bottom-centre crop of the scaled excerpt:
 *
 *   out[b, t, j] = linear[b, c + (t - out_frames/2) / stretch[b], j / pitch[b]]
 *   with c = frames/2 (integer divisions), read by bilinear interpolation,
 *   zeros outside the source.
 *
 * Like augment.warp, the interpolation is separable, time first, then
 * frequency, with the same float32 operations in the same order:
 *
 *   s0 = L[i0t, i0f] * w0t + L[i1t, i0f] * w1t    (the time-stretched rows at
 *   s1 = L[i0t, i1f] * w0t + L[i1t, i1f] * w1t     the two frequency taps)
 *   out = s0 * w0f + s1 * w1f
 *
 * linear: (batch, frames, bins); pitch, stretch: (batch,) float64 > 0;
 * out: (batch, out_frames, out_bins). One index per element of out (it owns it).
 */
SVD_KERNEL warp(const float *__restrict__ linear, const double *__restrict__ pitch,
                const double *__restrict__ stretch, float *__restrict__ out,
                int batch, int frames, int bins, int out_frames, int out_bins)
{
    const long long n_out = (long long)batch * out_frames * out_bins;
    SVD_FOR_EACH(idx, n_out) {
        /* idx = (b*out_frames + t)*out_bins + j */
        const int j = (int)(idx % out_bins);
        const int t = (int)((idx / out_bins) % out_frames);
        const long long b = idx / ((long long)out_bins * out_frames);
        const LinearTap tt = linear_tap((double)(frames / 2)
                                        + (double)(t - out_frames / 2) / stretch[b], frames);
        const LinearTap tf = linear_tap((double)j / pitch[b], bins);
        const float *row0 = linear + (b * frames + tt.index0) * bins;  /* linear[b, i0t, :] */
        const float *row1 = linear + (b * frames + tt.index1) * bins;  /* linear[b, i1t, :] */
        const float s0 = row0[tf.index0] * tt.weight0 + row1[tf.index0] * tt.weight1;
        const float s1 = row0[tf.index1] * tt.weight0 + row1[tf.index1] * tt.weight1;
        out[idx] = s0 * tf.weight0 + s1 * tf.weight1;
    }
}

/* ------------------------------------------------------- filter and gains */

/* filter_gains: per-example, per-bin amplitude factors of the random filter
 * and the random loudness (augment.filter_response_db, augment.amplitude_gains):
 *
 *   x, mu  = 12 log2(f / 440 Hz), 12 log2(mu_hz / 440 Hz)   (semitones)
 *   filter = gain_db * exp(-0.5 (x - mu)^2 / sigma^2)        (0 dB at f = 0 Hz)
 *   gains[b, k] = 10^((filter + loudness_db) / 20)            (amplitude dB)
 *
 * with f = k * bin_hz. mu_hz, sigma_semitones, gain_db, loudness_db: (batch,)
 * float64; gains: (batch, bins) float32, computed in float64 and rounded once,
 * like the twin. One index per element of gains (it owns it).
 */
SVD_KERNEL filter_gains(const double *__restrict__ mu_hz,
                        const double *__restrict__ sigma_semitones,
                        const double *__restrict__ gain_db,
                        const double *__restrict__ loudness_db,
                        float *__restrict__ gains, int batch, int bins, double bin_hz)
{
    const double reference_hz = 440.0;  /* augment._SEMITONE_REFERENCE_HZ */
    const long long n_gains = (long long)batch * bins;
    SVD_FOR_EACH(idx, n_gains) {
        /* idx = b*bins + k */
        const int k = (int)(idx % bins);
        const long long b = idx / bins;
        const double f = k * bin_hz;
        double filter_db = 0.0;
        if (f > 0.0) {
            const double x = 12.0 * log2(f / reference_hz);
            const double mu = 12.0 * log2(mu_hz[b] / reference_hz);
            const double d = x - mu, s = sigma_semitones[b];
            filter_db = gain_db[b] * exp(-0.5 * (d * d) / (s * s));
        }
        gains[idx] = (float)pow(10.0, (filter_db + loudness_db[b]) / 20.0);
    }
}

/* apply_gains: x[b, t, k] *= gains[b, k], in place.
 * x: (batch, frames, bins); gains: (batch, bins). One index per element of x. */
SVD_KERNEL apply_gains(float *__restrict__ x, const float *__restrict__ gains,
                       int batch, int frames, int bins)
{
    const long long n_x = (long long)batch * frames * bins;
    SVD_FOR_EACH(idx, n_x) {
        /* idx = (b*frames + t)*bins + k */
        const int k = (int)(idx % bins);
        const long long b = idx / ((long long)bins * frames);
        x[idx] *= gains[b * bins + k];
    }
}

/* ------------------------------------------------------------------ mixing */

/* mix_negatives: blend voice-free excerpts into chosen examples (Sec. 4.3),
 * in place:
 *
 *   excerpts[e, t, k] = (1 - f) * excerpts[e, t, k] + f * negatives[m, first + t, k]
 *   for e = chosen[m], f = fractions[m], first = src_frames/2 - frames/2,
 *
 * i.e. augment.mix(A, B, f) with B the centre crop (frames, bins) of the raw
 * negative excerpt (augment._centre_crop), read in place without a copy.
 * excerpts: (batch, frames, bins); chosen: (n_mixed,) int64, distinct indices
 * into the batch; negatives: (n_mixed, src_frames, src_bins) with
 * src_frames >= frames, src_bins >= bins; fractions: (n_mixed,) float32.
 * One index per element of excerpts[chosen] (distinct chosen: it owns it).
 */
SVD_KERNEL mix_negatives(float *__restrict__ excerpts, const long long *__restrict__ chosen,
                         const float *__restrict__ negatives,
                         const float *__restrict__ fractions,
                         int n_mixed, int frames, int bins, int src_frames, int src_bins)
{
    const int first = src_frames / 2 - frames / 2;
    const long long n_mix = (long long)n_mixed * frames * bins;
    SVD_FOR_EACH(idx, n_mix) {
        /* idx = (m*frames + t)*bins + k */
        const int k = (int)(idx % bins);
        const int t = (int)((idx / bins) % frames);
        const long long m = idx / ((long long)bins * frames);
        const float f = fractions[m];
        float *a = excerpts + (chosen[m] * frames + t) * bins + k;
        const float b = negatives[(m * src_frames + first + t) * src_bins + k];
        *a = (1.0f - f) * *a + f * b;
    }
}
