"""Per-frame voice probabilities for whole songs (paper Sec. 5.2), excerpt-wise or fully convolutional.

Every frame is the centre of one 115-frame excerpt; the song's normalised
log-mel is padded with 57 frames of silence at both ends so that the number
of predictions equals the number of frames.

Feeding the excerpts one by one (`excerpt_probabilities`) repeats almost all
convolution work ~100 times: neighbouring excerpts overlap in 114 of 115
frames. `song_probabilities` runs the same network once over the whole song
instead (a "dilated" fully-convolutional network, giving identical outputs):

- convolutions and poolings slide along time with stride 1, so every frame
  keeps its own column of activations;
- where the excerpt network pools 3 frames into 1, the next layers of the
  whole-song network see every 3rd frame: their time taps are dilated by the
  product of the earlier pool strides (3 after the first pool, 9 after the
  second), and the second pool itself takes the max of frames t, t+3, t+6;
- the first dense layer looks at the whole 11 x 7 x 64 pooled excerpt, so it
  becomes an 11-tap convolution in time dilated by 9, over 7 x 64 = 448
  channels (frequency and channels flattened, the dense matrix reshaped);
- the other dense layers act on each time step.

The ISMIR-2016 network (svd/network2016.py) becomes a whole-song network the
same way, after its batch normalisation is folded into the weights: it pools in
time only once, so conv3 to conv5 and its dense1 (a 31-tap convolution over
128 channels) are dilated by 3; its second pool acts on frequency alone.

The song is processed in chunks of output frames (each chunk reads 114 extra
input frames of context), so memory stays bounded for hour-long recordings.
Cost: about 10 MFLOP per frame instead of 485 MFLOP.
"""
import numpy as np

from svd import backend, evaluate, network, network2016, normalise, spectrum
from svd.util import arrays
from svd.device import CPU
from svd.excerpt import CONTEXT_FRAMES, EXCERPT_FRAMES
from svd.loss import sigmoid

CHUNK_FRAMES = 4096  # output frames per chunk: ~0.5 GB of activations at most


def padded_input(linear, mean, std, per_recording=False, pcen=False):
    """Normalised features of a song with 57 silent frames on each side: (frames + 114, 80) float32.

    linear: (frames, 513) float32 linear spectrogram; mean, std: (80,) on the
    same device (NumPy or CuPy arrays); the result is there too. per_recording:
    the song is first standardised by its own statistics, its silence with it
    (svd/normalise.py, `train --per-recording`); pcen: the features are the
    PCEN of the mel magnitudes instead of their log (`train --pcen`).
    """
    xp = arrays.array_module(linear)
    features = normalise.recording_features(linear, pcen_input=pcen)
    if per_recording:
        own_mean, own_std = normalise.recording_statistics(features)
        features = normalise.normalise(features, own_mean, own_std)
        silence = normalise.normalise(normalise.silence_value(own_mean, own_std, pcen), mean, std)
    else:
        silence = normalise.silence_value(mean, std, pcen)
    features = normalise.normalise(features, mean, std)
    silence = xp.broadcast_to(silence, (CONTEXT_FRAMES, spectrum.MEL_BANDS))
    return xp.concatenate([silence, features, silence]).astype(np.float32)


def probabilities(model, linear, pitch_factors=(1.0,), device=CPU):
    """Voice probability per frame of a song, averaged over pitch-shifted copies (1.0 = unchanged; Sec. 5.4)
    and over the networks of a bagged model.

    model: svd.model_file.Model; linear: (frames, 513) float32; returns (frames,)
    float32 on the host. device: svd.device.Device everything runs on: the
    song and the weights are copied there once, and the pitch shifts, log-mel,
    normalisation and network run there.
    """
    networks = [device.put_all(inference_params(model.arch, params)) for params in model.networks]  # or a bag's
    song, mean, std = device.put(linear), device.put(model.mean), device.put(model.std)
    total = np.zeros(len(linear), np.float64)
    with device.active():
        ops = backend.ops(song)
        for factor in pitch_factors:
            shifted = song if factor == 1.0 else ops.pitch_shift_song(song, factor)
            padded = padded_input(shifted, mean, std, model.per_recording, model.pcen)
            for params in networks:
                total += song_probabilities(params, padded)
    return (total / (len(pitch_factors) * len(networks))).astype(np.float32)


def inference_params(arch, params):
    """The parameters `song_probabilities` runs for a network `arch` (Model.arch): the ISMIR-2016
    network's with their batch normalisation folded in (network2016.folded), the paper's as they are."""
    return network2016.folded(params) if arch == "ismir2016" else params


def smoothed_probabilities(model, songs, pitch_factors=(1.0,), progress=None, device=CPU):
    """800 ms median-smoothed voice probabilities of each song (Sec. 5.2): list of (frames,) float32.

    songs: list of svd.dataset.Song; progress: optional callable(done) after
    each song; device: where the network runs (see `probabilities`).
    """
    smoothed = []
    for song in songs:
        smoothed.append(evaluate.median_smooth(probabilities(model, song.linear, pitch_factors, device)))
        if progress:
            progress(len(smoothed))
    return smoothed


def excerpt_probabilities(params, padded, batch_size=64):
    """Voice probability of every frame by feeding one 115-frame excerpt per frame (slow reference).

    padded: (frames + 114, 80) from `padded_input`; returns (frames,) float32.
    """
    windows = np.lib.stride_tricks.sliding_window_view(padded, EXCERPT_FRAMES, axis=0)  # (frames, 80, 115)
    out = np.empty(len(windows), np.float32)
    for start in range(0, len(windows), batch_size):
        batch = np.ascontiguousarray(windows[start:start + batch_size].transpose(0, 2, 1))
        out[start:start + len(batch)] = network.predict_proba(params, batch, batch_size)
    return out


def song_probabilities(params, padded, chunk_frames=CHUNK_FRAMES):
    """Voice probability of every frame with the whole-song (dilated) network.

    params: the paper's network's, or the ISMIR-2016 network's folded ones (`inference_params`),
    on any device; padded: (frames + 114, 80) from `padded_input`, on
    the params' device or the host (then each chunk is copied there). Returns (frames,)
    float32 on the host, equal to `excerpt_probabilities` up to float32 rounding.
    """
    n_frames = len(padded) - 2 * CONTEXT_FRAMES
    out = np.empty(n_frames, np.float32)
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        logits = _dilated_logits(params, padded[start:stop + 2 * CONTEXT_FRAMES])
        out[start:stop] = CPU.get(sigmoid(logits))
    return out


def _dilated_logits(params, x):
    """Logits of the whole-song network for (frames + 114, 80) input: (frames,)."""
    nn = backend.ops(params["conv1.w"])
    xp = arrays.array_module(params["conv1.w"])
    h = xp.asarray(x, params["conv1.w"].dtype)[None, :, :, None]  # (1, T, 80, 1)
    trunk = _trunk_2016 if "conv5.w" in params else _trunk  # conv5: the ISMIR-2016 network's
    h, time_stride = trunk(nn, h, params)
    # dense1 as a time convolution over freq * channels: its taps are the pooled excerpt's time steps
    # (11, or 31 for the ISMIR-2016 network), dilated by the pools' time stride (9, or 3).
    time, freq, channels = h.shape[1:]
    w1 = params["dense1.w"].reshape(-1, 1, freq * channels, params["dense1.w"].shape[1])  # (11, 1, 448, 256)
    h, _ = nn.conv2d_forward(h.reshape(1, time, 1, freq * channels), w1, params["dense1.b"],
                             dilation=(time_stride, 1), leaky=True)  # (1, T-114, 1, 256)
    h = h.reshape(-1, h.shape[-1])                                # (T-114, 256)
    h, _ = nn.dense_forward(h, params["dense2.w"], params["dense2.b"])  # (T-114, 64)
    h, _ = nn.leaky_relu_forward(h)
    h, _ = nn.dense_forward(h, params["dense3.w"], params["dense3.b"])  # (T-114, 1)
    return h[:, 0]


def _trunk(nn, h, params):
    """The paper's convolutions and pools, stride 1 in time: (1, T, 80, 1) -> (1, T-24, 7, 64), and
    the time stride (9) of the excerpt network's last feature map."""
    pool_time = network.POOL[0]
    h = _conv(nn, h, params, "conv1", 1)                          # (1, T-2, 78, 64)
    h = _conv(nn, h, params, "conv2", 1)                          # (1, T-4, 76, 32)
    h = _pool(nn, h, time_dilation=1)                             # (1, T-6, 25, 32)
    h = _conv(nn, h, params, "conv3", pool_time)                  # (1, T-12, 23, 128)
    h = _conv(nn, h, params, "conv4", pool_time)                  # (1, T-18, 21, 64)
    h = _pool(nn, h, time_dilation=pool_time)                     # (1, T-24, 7, 64)
    return h, pool_time ** 2


def _trunk_2016(nn, h, params):
    """The ISMIR-2016 network's convolutions and pools (folded parameters), stride 1 in time:
    (1, T, 80, 1) -> (1, T-24, 1, 128), and the time stride (3) of its last feature map."""
    pool_time = network2016.POOLS["conv2"][0]
    h = _conv(nn, h, params, "conv1", 1)                          # (1, T-2, 78, 64)
    h = _conv(nn, h, params, "conv2", 1)                          # (1, T-4, 76, 32)
    h = _pool(nn, h, time_dilation=1)                             # (1, T-6, 25, 32)
    h = _conv(nn, h, params, "conv3", pool_time)                  # (1, T-12, 23, 128)
    h = _conv(nn, h, params, "conv4", pool_time)                  # (1, T-18, 21, 64)
    h = _conv(nn, h, params, "conv5", pool_time)                  # (1, T-24, 4, 128)
    h, _ = nn.maxpool2d_forward(h, network2016.POOLS["conv5"])   # (1, T-24, 1, 128): frequency only
    return h, pool_time


def _conv(nn, h, params, name, time_dilation):
    y, _ = nn.conv2d_forward(h, params[name + ".w"], params[name + ".b"], dilation=(time_dilation, 1), leaky=True)
    return y


def _pool(nn, h, time_dilation):
    """The excerpt network's max-pool with stride 1 in time: max over frames t, t+d, t+2d
    (d = time_dilation) and non-overlapping in frequency."""
    xp = arrays.array_module(h)
    pool_time, pool_freq = network.POOL
    h, _ = nn.maxpool2d_forward(h, pool=(1, pool_freq), stride=(1, pool_freq))
    time_out = h.shape[1] - (pool_time - 1) * time_dilation
    out = xp.maximum(h[:, :time_out], h[:, time_dilation:time_dilation + time_out])
    for i in range(2, pool_time):
        xp.maximum(out, h[:, i * time_dilation:i * time_dilation + time_out], out=out)
    return out
