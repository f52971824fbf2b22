"""The network's input: an excerpt of the log-mel spectrogram labelled at its central frame (paper Sec. 3.3).

    EXCERPT_FRAMES  115 frames, about 1.6 s at 70 frames per second
    CONTEXT_FRAMES   57 frames either side of the labelled frame
    INPUT_SHAPE     (115, 80): frames x mel bands of one excerpt
"""
from svd.spectrum import MEL_BANDS

EXCERPT_FRAMES = 115
CONTEXT_FRAMES = EXCERPT_FRAMES // 2
INPUT_SHAPE = (EXCERPT_FRAMES, MEL_BANDS)
