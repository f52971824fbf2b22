"""One clip of the synthetic corpus: a little song, its layout and its mix.

A clip draws a song (tempo, key, chord progression: svd/synth/harmony.py), lays out
sung phrases of a few seconds between instrumental passages (`vocal_layout`), plays the
accompaniment and leads (svd/synth/band.py), sings the phrases (svd/synth/singer.py),
and mixes and peak-normalises them.

The labels are exact by construction: the voice stem is zero outside its `sing`
segments and sounding inside them, with attack and release of at most 30 ms.
"""
import numpy as np

from svd.spectrum import SAMPLE_RATE_HZ
from svd.synth.band import accompany, leads
from svd.synth.harmony import draw_song
from svd.synth.singer import sing
from svd.synth.sound import db_to_gain


PEAK_DBFS = -1.0                # every clip is peak-normalised to this level

# Song layout: sung phrases alternate with instrumental passages (lengths in seconds).
PHRASE_S = (2.0, 8.0)
PASSAGE_S = (1.0, 6.0)
MIN_SEGMENT_S = 0.5             # a shorter last segment is merged into the one before it
VOICE_FRACTION = (0.3, 0.7)     # share of each clip that is sung
MIN_CLIP_S = 4.0                # room for one passage and one phrase within VOICE_FRACTION (checked in corpus.py)


def synth_clip(rng, seconds):
    """One clip of `seconds` seconds: (mix, voice, segments).

    mix: (n,) float64, n = round(seconds * SAMPLE_RATE_HZ): accompaniment + voice,
        peak-normalised to PEAK_DBFS.
    voice: (n,) float64, the voice stem at the same scale (mix - voice is the
        accompaniment); exactly zero outside the sing segments.
    segments: [(start_s, end_s, 'sing' | 'nosing')], alternating and contiguous from
        0 to the clip's length, times rounded to the millisecond.
    """
    n_samples = round(seconds * SAMPLE_RATE_HZ)
    song = draw_song(rng)
    segments = vocal_layout(rng, round(n_samples / SAMPLE_RATE_HZ, 3))
    backing = accompany(rng, song, n_samples)
    accompaniment = backing + leads(rng, song, segments, backing)
    voice = sing(rng, song, segments, accompaniment)
    mix = accompaniment + voice
    scale = db_to_gain(PEAK_DBFS) / np.abs(mix).max()
    return mix * scale, voice * scale, segments


def vocal_layout(rng, seconds):
    """Alternating nosing/sing segments [(start_s, end_s, label)] covering 0 to `seconds`.

    Phrases last PHRASE_S, passages PASSAGE_S; boundaries are rounded to the
    millisecond the .lab files store, so audio and labels use the same times. Draws
    again until the clip has both labels and a voice fraction within VOICE_FRACTION.
    """
    while True:
        singing = rng.random() < 0.3        # most songs open with an instrumental intro
        bounds, kinds = [0.0], []
        while bounds[-1] < seconds:
            low, high = PHRASE_S if singing else PASSAGE_S
            bounds.append(round(bounds[-1] + rng.uniform(low, high), 3))
            kinds.append("sing" if singing else "nosing")
            singing = not singing
        bounds[-1] = seconds
        if len(kinds) > 1 and seconds - bounds[-2] < MIN_SEGMENT_S:
            del bounds[-2], kinds[-1]
        segments = list(zip(bounds[:-1], bounds[1:], kinds))
        sung_s = sum(end - start for start, end, label in segments if label == "sing")
        if len(set(kinds)) == 2 and VOICE_FRACTION[0] <= sung_s / seconds <= VOICE_FRACTION[1]:
            return segments
