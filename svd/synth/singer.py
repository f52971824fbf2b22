"""The synthetic singer: one voice per clip, singing phrases of syllables on a melody.

The voice is a harmonic glottal source on a note contour (portamento, delayed vibrato,
jitter, shimmer) through a vowel formant filter that changes per syllable, with
consonant noise bursts at syllable onsets. Formants and consonants are what the
instrumental leads (svd/synth/band.py) lack.
"""
from typing import NamedTuple

import numpy as np
import scipy.signal

from svd.spectrum import SAMPLE_RATE_HZ
from svd.synth.harmony import Style, articulation, melody, pitch_contour
from svd.synth.sound import (butter_sos, control_times, db_to_gain, harmonic_gains, midi_to_hz, oscillator, ramps,
                             rms, smooth, to_audio_rate, wavetable)


# Vowel formants /a e i o u/: rows of five (frequency Hz, bandwidth Hz), from the
# singing-voice formant tables of the Csound manual (bass and soprano).
VOWELS = "aeiou"
BASS_FORMANTS = np.array([
    [(600, 60), (1040, 70), (2250, 110), (2450, 120), (2750, 130)],
    [(400, 40), (1620, 80), (2400, 100), (2800, 120), (3100, 120)],
    [(250, 60), (1750, 90), (2600, 100), (3050, 120), (3340, 120)],
    [(400, 40), (750, 80), (2400, 100), (2600, 120), (2900, 120)],
    [(350, 40), (600, 80), (2400, 100), (2675, 120), (2950, 120)],
], dtype=float)
SOPRANO_FORMANTS = np.array([
    [(800, 80), (1150, 90), (2900, 120), (3900, 130), (4950, 140)],
    [(350, 60), (2000, 100), (2800, 120), (3600, 150), (4950, 200)],
    [(270, 60), (2140, 90), (2950, 100), (3900, 120), (4950, 120)],
    [(450, 70), (800, 80), (2830, 100), (3800, 130), (4950, 135)],
    [(325, 50), (700, 60), (2700, 170), (3800, 180), (4950, 200)],
], dtype=float)

# Unvoiced consonants: noise through a Butterworth filter (order, cutoff Hz, kind), with a
# duration range (s) and a level range (dB re the vowel). Fricatives are long and soft,
# plosive bursts short and loud.
CONSONANTS = (
    (4, 4500, "highpass", (0.06, 0.12), (-18, -10)),             # s
    (2, (1800, 4500), "bandpass", (0.06, 0.12), (-18, -10)),     # sh
    (2, 1500, "highpass", (0.04, 0.09), (-24, -16)),             # f
    (2, (2500, 6000), "bandpass", (0.015, 0.03), (-12, -6)),     # t
    (2, (1200, 3000), "bandpass", (0.015, 0.03), (-12, -6)),     # k
)
CONSONANT_CHANCE = 0.6          # share of syllables that start with a consonant
SYLLABLE_BEATS = (0.5, 1.0, 1.0, 1.5, 2.0)      # note lengths of the singer, in beats
VOWEL_GLIDE_S = 0.04            # crossfade between the vowels of consecutive syllables
FORMANT_BOOST = 8.0             # formant peaks stand about 18 dB above the source spectrum


class Singer(NamedTuple):
    """One clip's voice: register, timbre and manner of singing."""
    low_midi: float
    high_midi: float
    tilt: float                 # glottal source: harmonic k at k**-tilt (2 = -12 dB/octave, soft)
    breath: float               # aspiration noise std relative to the harmonic source RMS
    vowel_sos: list             # per vowel of VOWELS: (5, 6) cascade of formant peaks
    style: Style


def sing(rng, song, segments, accompaniment):
    """Voice stem (n_samples,): one phrase per sing segment, exactly zero elsewhere.

    Each phrase is set to the clip's voice-to-accompaniment ratio (-6..+6 dB) plus
    a little per-phrase variation, measured against the accompaniment it is sung over.
    accompaniment: (n_samples,).
    """
    singer = draw_singer(rng)
    level_db = rng.uniform(-6, 6)
    voice = np.zeros_like(accompaniment)
    for start_s, end_s, label in segments:
        if label == "sing":
            # The last end is the clip length rounded to the millisecond: keep it inside the clip.
            start, end = round(start_s * SAMPLE_RATE_HZ), min(round(end_s * SAMPLE_RATE_HZ), len(voice))
            phrase = sing_phrase(rng, song, singer, end - start)
            gain = rms(accompaniment[start:end]) * db_to_gain(level_db + rng.normal(0, 1.5))
            voice[start:end] = phrase / rms(phrase) * gain
    return voice


def draw_singer(rng):
    """A male-like (low ~104-147 Hz) or female-like (low ~196-294 Hz) singer with a range
    of 12-16 semitones (top at most ~700 Hz) and the matching vowel formants."""
    female = rng.random() < 0.5
    low = rng.uniform(55, 62) if female else rng.uniform(44, 50)
    formants = SOPRANO_FORMANTS if female else BASS_FORMANTS
    tract_scale = rng.uniform(0.92, 1.08)      # vocal tracts differ in length between singers
    vowel_sos = [formant_sos(vowel[:, 0] * tract_scale, vowel[:, 1]) for vowel in formants]
    style = Style(glide_s=rng.uniform(0.04, 0.12), vibrato_hz=rng.uniform(5.0, 7.0),
                  vibrato_cents=rng.uniform(20, 80), vibrato_delay_s=rng.uniform(0.1, 0.35),
                  jitter_cents=rng.uniform(4, 10))
    return Singer(low_midi=low, high_midi=min(low + rng.uniform(12, 16), 77.0), tilt=rng.uniform(1.3, 2.0),
                  breath=rng.uniform(0.02, 0.15), vowel_sos=vowel_sos, style=style)


def formant_sos(freqs_hz, bandwidths_hz):
    """Cascade (n_formants, 6) of formant peaks, as scipy.signal.sosfilt takes.

    Each section has poles at radius exp(-pi B / fs) and angle 2 pi F / fs, and zeros
    at the same angle with FORMANT_BOOST times the bandwidth: it raises the band around
    F by about FORMANT_BOOST (in amplitude) and leaves other frequencies nearly as they
    are, so the voice keeps its high partials above the last formant.
    """
    angle = 2 * np.pi * freqs_hz / SAMPLE_RATE_HZ
    poles = np.exp(-np.pi * bandwidths_hz / SAMPLE_RATE_HZ)
    zeros = np.exp(-np.pi * FORMANT_BOOST * bandwidths_hz / SAMPLE_RATE_HZ)
    ones = np.ones_like(angle)
    return np.column_stack([ones, -2 * zeros * np.cos(angle), zeros ** 2,
                            ones, -2 * poles * np.cos(angle), poles ** 2])


def sing_phrase(rng, song, singer, n_samples):
    """One sung phrase (n_samples,): syllables on a melody, each a vowel with an
    optional unvoiced consonant at its onset; attack and release at most 30 ms."""
    onsets_s, midis = melody(rng, song, n_samples / SAMPLE_RATE_HZ, singer.low_midi, singer.high_midi,
                             SYLLABLE_BEATS)
    f0_hz = to_audio_rate(midi_to_hz(pitch_contour(rng, onsets_s, midis, n_samples, singer.style)), n_samples)
    tone = oscillator(wavetable(harmonic_gains(singer.tilt), f0_hz.max()), f0_hz)
    source = tone / rms(tone) + singer.breath * rng.standard_normal(n_samples)
    vowels = rng.integers(len(VOWELS), size=len(onsets_s))
    voiced = formant_filter(source, onsets_s, vowels, singer.vowel_sos)
    bursts, consonant_s = consonants(rng, onsets_s, n_samples)
    phrase = voiced / rms(voiced) * articulation(rng, onsets_s, consonant_s, n_samples) + bursts
    return phrase * ramps(n_samples, rng.uniform(0.01, 0.025), rng.uniform(0.015, 0.03))


def formant_filter(source, onsets_s, vowels, vowel_sos):
    """Filter source (n,) through the vowel of each syllable (vowels: (n_syllables,)
    indices into vowel_sos, starting at onsets_s), crossfading over VOWEL_GLIDE_S."""
    t = control_times(len(source))
    vowel_at_t = vowels[np.searchsorted(onsets_s, t, side="right") - 1]
    out = np.zeros_like(source)
    for vowel in np.unique(vowels):
        weight = smooth((vowel_at_t == vowel).astype(float), VOWEL_GLIDE_S / 2)
        out += to_audio_rate(weight, len(source)) * scipy.signal.sosfilt(vowel_sos[vowel], source)
    return out


def consonants(rng, onsets_s, n_samples):
    """Unvoiced consonant bursts at syllable onsets: (bursts (n_samples,), consonant_s
    (n_syllables,) their lengths in s, 0 for a syllable that starts on its vowel).
    Levels are relative to a unit-RMS vowel."""
    bursts = np.zeros(n_samples)
    consonant_s = np.zeros(len(onsets_s))
    for i, onset_s in enumerate(onsets_s):
        if rng.random() < CONSONANT_CHANCE:
            order, cutoff_hz, kind, length_range_s, level_range_db = CONSONANTS[rng.integers(len(CONSONANTS))]
            start = round(onset_s * SAMPLE_RATE_HZ)
            end = min(n_samples, start + round(rng.uniform(*length_range_s) * SAMPLE_RATE_HZ))
            noise = scipy.signal.sosfilt(butter_sos(order, cutoff_hz, kind), rng.standard_normal(end - start))
            envelope = ramps(end - start, 0.005, 0.5 * (end - start) / SAMPLE_RATE_HZ)
            bursts[start:end] = noise / rms(noise) * envelope * db_to_gain(rng.uniform(*level_range_db))
            consonant_s[i] = (end - start) / SAMPLE_RATE_HZ
    return bursts, consonant_s
