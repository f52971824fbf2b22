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

The song is processed in chunks of output frames (each chunk reads 114 extra
input frames of context), so memory stays bounded for hour-long recordings.
Cost: about 10 MFLOP per frame instead of 485 MFLOP.
"""
import numpy as np

from svd import layers, network, normalise, spectrum
from svd.backend import array_module
from svd.dataset import EXCERPT_FRAMES
from svd.loss import sigmoid

CONTEXT_FRAMES = EXCERPT_FRAMES // 2  # 57 frames of context on each side
CHUNK_FRAMES = 4096  # output frames per chunk: ~0.5 GB of activations at most


def padded_input(linear, mean, std):
    """Normalised log-mel of a song with 57 silent frames on each side: (frames + 114, 80) float32.

    linear: (frames, 513) float32 linear spectrogram.
    """
    features = normalise.normalise(spectrum.log_mel(linear), mean, std)
    silence = np.broadcast_to(normalise.silence_value(mean, std), (CONTEXT_FRAMES, spectrum.MEL_BANDS))
    return np.concatenate([silence, features, silence]).astype(np.float32)


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

    padded: (frames + 114, 80) from `padded_input`; returns (frames,) float32,
    equal to `excerpt_probabilities` up to float32 rounding.
    """
    n_frames = len(padded) - 2 * CONTEXT_FRAMES
    out = np.empty(n_frames, np.float32)
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        logits = _dilated_logits(params, padded[start:stop + 2 * CONTEXT_FRAMES])
        out[start:stop] = sigmoid(logits)
    return out


def _dilated_logits(params, x):
    """Logits of the whole-song network for (frames + 114, 80) input: (frames,)."""
    xp = array_module(params["conv1.w"])
    h = xp.asarray(x, params["conv1.w"].dtype)[None, :, :, None]  # (1, time, 80, 1)
    h = _conv(h, params, "conv1", 1)                     # (1, T-2, 78, 64)
    h = _conv(h, params, "conv2", 1)                     # (1, T-4, 76, 32)
    h = _pool(h, time_dilation=1)                        # (1, T-6, 25, 32)
    h = _conv(h, params, "conv3", 3)                     # (1, T-12, 23, 128)
    h = _conv(h, params, "conv4", 3)                     # (1, T-18, 21, 64)
    h = _pool(h, time_dilation=3)                        # (1, T-24, 7, 64)
    # dense1 as an 11-tap time convolution dilated by 9 over 7*64 channels.
    time = h.shape[1]
    w1 = params["dense1.w"].reshape(11, 1, 7 * 64, -1)
    h, _ = layers.conv2d_forward(h.reshape(1, time, 1, 7 * 64), w1, params["dense1.b"],
                                 dilation=(9, 1), leaky=True)  # (1, T-114, 1, 256)
    h = h.reshape(-1, h.shape[-1])
    h, _ = layers.dense_forward(h, params["dense2.w"], params["dense2.b"])
    h, _ = layers.leaky_relu_forward(h)
    h, _ = layers.dense_forward(h, params["dense3.w"], params["dense3.b"])
    return h[:, 0]


def _conv(h, params, name, time_dilation):
    y, _ = layers.conv2d_forward(h, params[name + ".w"], params[name + ".b"], dilation=(time_dilation, 1),
                                 leaky=True)
    return y


def _pool(h, time_dilation):
    """3x3 max-pool, stride 3 in frequency and 1 in time, over frames t, t+d, t+2d."""
    xp = array_module(h)
    h, _ = layers.maxpool2d_forward(h, pool=(1, 3), stride=(1, 3))
    time_out = h.shape[1] - 2 * time_dilation
    out = xp.maximum(h[:, :time_out], h[:, time_dilation:time_dilation + time_out])
    return xp.maximum(out, h[:, 2 * time_dilation:2 * time_dilation + time_out], out=out)
