"""Harmony and melody: a song's tempo, key and chords, the melodic lines sung or played
over them, and how a performer shapes a line's pitch and loudness.

Every part of a clip plays from the same `Song` (svd/synth/band.py, svd/synth/singer.py).
The singer and the leads draw their notes with `melody`, then turn them into a pitch
contour with their `Style` (`pitch_contour`) and a loudness (`articulation`).
"""
from typing import NamedTuple

import numpy as np

from svd.synth.sound import control_times, db_to_gain, smooth, to_audio_rate, unit_noise


# Scales as semitones above the tonic; progressions as 0-based scale degrees, one per bar.
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 0, 5), (0, 5, 2, 6), (5, 3, 0, 4))
BEATS_PER_BAR = 4

MELODY_STEPS = (-3, -2, -1, -1, 0, 1, 1, 2, 3)  # scale steps between consecutive notes
MIN_NOTE_S = 0.1                # no note starts closer than this to the end of its phrase
VIBRATO_FADE_S = 0.2            # vibrato grows to full depth over this time


class Song(NamedTuple):
    """What the instruments of one clip agree on."""
    beat_s: float               # seconds per beat
    tonic_midi: int             # the key
    scale: tuple                # 7 semitone offsets from the tonic
    progression: tuple          # scale degree of each bar's chord, repeated


class Style(NamedTuple):
    """How a performer shapes pitch (see `pitch_contour`)."""
    glide_s: float              # portamento time between notes (twice the smoothing std)
    vibrato_hz: float
    vibrato_cents: float        # vibrato amplitude
    vibrato_delay_s: float      # vibrato starts this long after each note onset
    jitter_cents: float         # std of a slow random pitch wander


def draw_song(rng):
    """A tempo of 70-150 beats per minute, a major or minor key, a chord progression."""
    return Song(beat_s=60.0 / rng.uniform(70, 150),
                tonic_midi=int(rng.integers(48, 60)),
                scale=MAJOR if rng.random() < 0.5 else MINOR,
                progression=PROGRESSIONS[rng.integers(len(PROGRESSIONS))])


def degree_midi(song, degree):
    """MIDI number of a 0-based scale degree (7 = the tonic an octave up)."""
    return song.tonic_midi + 12 * (degree // 7) + song.scale[degree % 7]


def chord_midis(song, time_s):
    """(3,) MIDI numbers of the triad on the progression's chord at time_s."""
    bar = int(time_s // (BEATS_PER_BAR * song.beat_s))
    root = song.progression[bar % len(song.progression)]
    return np.array([degree_midi(song, root + 2 * i) for i in range(3)])


def melody(rng, song, seconds, low_midi, high_midi, note_beats):
    """A random walk over the scale: (onsets_s (n_notes,), midis (n_notes,)), first onset 0.

    Note lengths are drawn from note_beats (in beats); notes lie within [low_midi, high_midi].
    """
    pitches = np.array([m for m in range(int(np.ceil(low_midi)), int(high_midi) + 1)
                        if (m - song.tonic_midi) % 12 in song.scale])
    index = rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1)
    onsets, midis, time_s = [], [], 0.0
    while time_s < seconds - MIN_NOTE_S:
        onsets.append(time_s)
        midis.append(pitches[index])
        time_s += song.beat_s * rng.choice(note_beats)
        index = np.clip(index + rng.choice(MELODY_STEPS), 0, len(pitches) - 1)
    return np.array(onsets), np.array(midis, dtype=float)


def pitch_contour(rng, onsets_s, midis, n_samples, style):
    """Pitch (n_ctrl,) in MIDI on the control grid of n_samples: notes with portamento,
    vibrato that fades in after each onset, and a slow random wander (jitter)."""
    t = control_times(n_samples)
    current = np.searchsorted(onsets_s, t, side="right") - 1     # index of the note sounding at t
    glided = smooth(midis[current], style.glide_s / 2)
    since_onset = t - onsets_s[current]
    depth = np.clip((since_onset - style.vibrato_delay_s) / VIBRATO_FADE_S, 0.0, 1.0)
    vibrato_phase = 2 * np.pi * style.vibrato_hz * t + rng.uniform(0, 2 * np.pi)
    vibrato = depth * style.vibrato_cents / 100 * np.sin(vibrato_phase)
    jitter = style.jitter_cents / 100 * unit_noise(rng, len(t), 0.05)
    return glided + vibrato + jitter


def articulation(rng, onsets_s, consonant_s, n_samples):
    """Loudness (n_samples,) of a legato line of notes: a dip at each onset (deep, and as
    long as the consonant, where one is sung), a random accent per note, and shimmer."""
    t = control_times(n_samples)
    level = np.ones(len(t))
    for onset, consonant in zip(onsets_s, consonant_s):
        # Unvoiced consonants stop the voicing; between vowels the line only dips.
        floor, length = (0.05, consonant) if consonant > 0 else (0.5, 0.03)
        level[(t >= onset - 0.02) & (t < onset + length)] = floor
    current = np.searchsorted(onsets_s, t, side="right") - 1
    accent_db = rng.normal(0.0, 1.5, len(onsets_s))[current]
    shimmer_db = 0.7 * unit_noise(rng, len(t), 0.03)
    return to_audio_rate(smooth(level, 0.008) * db_to_gain(accent_db + shimmer_db), n_samples)
