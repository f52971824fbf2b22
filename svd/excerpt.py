"""The network's input: an excerpt of the log-mel spectrogram labelled at its central frame (paper Sec. 3.3).

    EXCERPT_FRAMES  115 frames, about 1.6 s at 70 frames per second
    CONTEXT_FRAMES   57 frames either side of the labelled frame
    INPUT_SHAPE     (115, 80): frames x mel bands of one excerpt

`gather_excerpts` cuts excerpts out of songs (training batches, svd/batches.py);
it is the textbook twin of the CUDA kernel of the same name.
"""
import numpy as np

from svd.spectrum import MEL_BANDS

EXCERPT_FRAMES = 115
CONTEXT_FRAMES = EXCERPT_FRAMES // 2
INPUT_SHAPE = (EXCERPT_FRAMES, MEL_BANDS)


def gather_excerpts(songs, song_starts, song_index, centre, width, pad):
    """Excerpts cut out of all songs at once: (batch, width, bins) float32.

    songs: (total_frames, bins) float32, every song's rows one after the other;
    song s is rows song_starts[s]:song_starts[s + 1] (song_starts: (n_songs + 1,)
    int, cumulative lengths from 0). Excerpt e is centred on frame centre[e] of
    song song_index[e]:

        out[e, w] = songs[song_starts[s] + f]  if 0 <= f < length of song s
                  = pad                        otherwise (beyond the song's ends)
        with s = song_index[e], f = centre[e] - width // 2 + w.

    pad: (bins,) or a number. Training centres lie far enough inside their
    songs that `pad` is never read; prediction pads songs itself.
    """
    song_starts = np.asarray(song_starts)
    song_index, centre = np.asarray(song_index), np.asarray(centre)
    first, stop = song_starts[song_index][:, None], song_starts[song_index + 1][:, None]
    rows = first + centre[:, None] + np.arange(width) - width // 2         # (batch, width)
    inside = (rows >= first) & (rows < stop)
    excerpts = songs[np.where(inside, rows, 0)]                             # (batch, width, bins)
    return np.where(inside[..., None], excerpts, np.asarray(pad, np.float32)).astype(np.float32, copy=False)
