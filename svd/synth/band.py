"""The accompaniment: drums, bass, organ-like pads and plucked chords, and vocal-like leads.

`accompany` plays the song's chords on a random choice of instruments. `leads` adds
vocal-like instrumental lines (harmonic, with vibrato, but with no formants and no
consonants) in most instrumental passages, so that "harmonic with vibrato" alone does
not give the answer away.
"""
from typing import NamedTuple

import numpy as np

from svd.spectrum import SAMPLE_RATE_HZ
from svd.synth.harmony import BEATS_PER_BAR, Style, articulation, chord_midis, melody, pitch_contour
from svd.synth.sound import (MAX_HARMONICS, butter_sos, db_to_gain, harmonic_gains, midi_to_hz, noise_burst, note,
                             oscillator, ramps, rms, to_audio_rate, wavetable)


# Drum patterns: eighth-note steps (0..7) of a bar for kick, snare and hi-hat.
DRUM_PATTERNS = (
    ((0, 4, 5), (2, 6), (0, 1, 2, 3, 4, 5, 6, 7)),     # rock
    ((0, 2, 4, 6), (2, 6), (1, 3, 5, 7)),              # four on the floor, off-beat hats
    ((0, 3), (4,), (0, 1, 2, 3, 4, 5, 6, 7)),          # half time
    ((0, 5), (2, 6), (0, 2, 4, 6)),                    # ballad
)
LEAD_BEATS = (1.0, 1.0, 2.0, 3.0, 4.0)          # instrumental leads hold longer notes


class Lead(NamedTuple):
    """One clip's vocal-like instrument: harmonic, with vibrato, but no formants."""
    low_midi: float
    high_midi: float
    gains: np.ndarray           # (MAX_HARMONICS,) amplitude of each harmonic, the same for every note
    breath: float               # noise std relative to the tone RMS (flute-like when large)
    attack_s: float
    style: Style


def accompany(rng, song, n_samples):
    """Backing track (n_samples,): drums, bass, pads and plucks, each present at random
    and mixed at a random level; at least one of pads and plucks plays the chords."""
    parts = []
    if rng.random() < 0.85:
        parts.append(drums(rng, song, n_samples))
    if rng.random() < 0.9:
        parts.append(bass(rng, song, n_samples))
    with_pads = rng.random() < 0.6
    if with_pads:
        parts.append(pads(rng, song, n_samples))
    if not with_pads or rng.random() < 0.6:
        parts.append(plucks(rng, song, n_samples))
    return sum(part / rms(part) * db_to_gain(rng.uniform(-9, 0)) for part in parts)


def drums(rng, song, n_samples):
    """Kick, snare and hi-hat (n_samples,) on an eighth-note pattern repeated every bar."""
    t = np.arange(round(0.4 * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    # Kick: a sine sweeping down from about 150 Hz, as a struck drum head relaxes.
    sweep_hz = rng.uniform(40, 55) + 110 * np.exp(-t / rng.uniform(0.02, 0.05))
    kick = np.sin(2 * np.pi * np.cumsum(sweep_hz) / SAMPLE_RATE_HZ) * np.exp(-t / rng.uniform(0.08, 0.2))
    snare = (noise_burst(rng, butter_sos(2, (1000, 6000), "bandpass"), len(t), rng.uniform(0.05, 0.12))
             + np.sin(2 * np.pi * rng.uniform(160, 220) * t) * np.exp(-t / 0.05))
    hat = noise_burst(rng, butter_sos(4, 7000, "highpass"), len(t), rng.uniform(0.015, 0.06))
    out = np.zeros(n_samples)
    bar_starts_s = np.arange(0, n_samples / SAMPLE_RATE_HZ, BEATS_PER_BAR * song.beat_s)
    pattern = DRUM_PATTERNS[rng.integers(len(DRUM_PATTERNS))]
    for sound, steps, level_db in zip((kick, snare, hat), pattern, (0.0, -2.0, -10.0)):
        for onset_s in (bar_starts_s[:, None] + np.array(steps) * song.beat_s / 2).ravel():
            start = round(onset_s * SAMPLE_RATE_HZ)
            if start < n_samples:
                length = min(len(sound), n_samples - start)
                # A little velocity variation per hit, as a drummer plays.
                out[start:start + length] += sound[:length] * db_to_gain(level_db + rng.normal(0, 1.5))
    return out


def bass(rng, song, n_samples):
    """Bass line (n_samples,): the chord root in MIDI 36..47 on a regular beat subdivision."""
    table = wavetable(harmonic_gains(rng.uniform(1.5, 2.5), 12), midi_to_hz(47))
    step_s = song.beat_s * rng.choice([0.5, 1.0, 2.0])
    decay_s = rng.uniform(0.2, 0.8)
    out = np.zeros(n_samples)
    for onset_s in np.arange(0, n_samples / SAMPLE_RATE_HZ, step_s):
        start = round(onset_s * SAMPLE_RATE_HZ)
        end = min(n_samples, round((onset_s + step_s) * SAMPLE_RATE_HZ))
        root = chord_midis(song, onset_s)[0]
        out[start:end] += note(table, 36 + (root - 36) % 12, end - start, 0.005, decay_s, 0.02)
    return out


def pads(rng, song, n_samples):
    """Organ-like pad (n_samples,): each bar's triad held for the bar, two slightly
    detuned voices per note (a chorus), random drawbar-like harmonic levels."""
    gains = rng.uniform(0.2, 1.0, 8) * harmonic_gains(1.0, 8)
    table = wavetable(gains, midi_to_hz(80))
    attack_s = rng.uniform(0.05, 0.3)
    bar_s = BEATS_PER_BAR * song.beat_s
    out = np.zeros(n_samples)
    for onset_s in np.arange(0, n_samples / SAMPLE_RATE_HZ, bar_s):
        start = round(onset_s * SAMPLE_RATE_HZ)
        end = min(n_samples, round((onset_s + bar_s + 0.1) * SAMPLE_RATE_HZ))   # overlap: legato chords
        for midi in chord_midis(song, onset_s):
            for detune in (-0.04, 0.04):
                out[start:end] += note(table, midi + detune, end - start, attack_s, np.inf, 0.15)
    return out


def plucks(rng, song, n_samples):
    """Plucked chord tones (n_samples,), an octave above the pads: an arpeggio on eighth
    notes or a strum on every beat. A bright tone that decays fast over a dull one that
    rings on makes each note lose its brightness as it fades, as a plucked string does."""
    bright = wavetable(harmonic_gains(1.0, 24), midi_to_hz(90))
    dull = wavetable(harmonic_gains(2.5, 8), midi_to_hz(90))
    fast_s, slow_s = rng.uniform(0.05, 0.15), rng.uniform(0.3, 0.8)
    ring_samples = round(min(3 * slow_s, 1.0) * SAMPLE_RATE_HZ)    # then damped, which also saves time
    events = []     # (onset_s, midi)
    if rng.random() < 0.5:
        for i, onset_s in enumerate(np.arange(0, n_samples / SAMPLE_RATE_HZ, song.beat_s / 2)):
            events.append((onset_s, chord_midis(song, onset_s)[(0, 1, 2, 1)[i % 4]] + 12))
    else:
        for onset_s in np.arange(0, n_samples / SAMPLE_RATE_HZ, song.beat_s):
            events += [(onset_s + 0.015 * j, midi + 12) for j, midi in enumerate(chord_midis(song, onset_s))]
    out = np.zeros(n_samples)
    for onset_s, midi in events:
        start = round(onset_s * SAMPLE_RATE_HZ)
        end = min(n_samples, start + ring_samples)
        if start < end:
            out[start:end] += (note(bright, midi, end - start, 0.002, fast_s, 0.03)
                               + note(dull, midi, end - start, 0.002, slow_s, 0.03))
    return out


def leads(rng, song, segments, backing):
    """Vocal-like instrumental lines (n_samples,): in 70% of the instrumental passages at
    -6..+6 dB re the backing (the level range of the voice), in 20% of the sung phrases
    at -12..-3 dB. backing: (n_samples,) the track they are mixed into."""
    lead = draw_lead(rng)
    out = np.zeros_like(backing)
    for start_s, end_s, label in segments:
        chance, level_db = (0.7, (-6, 6)) if label == "nosing" else (0.2, (-12, -3))
        if rng.random() < chance and end_s - start_s > 1.0:
            start = round((start_s + rng.uniform(0, 0.3)) * SAMPLE_RATE_HZ)
            end = min(round((end_s - rng.uniform(0, 0.3)) * SAMPLE_RATE_HZ), len(out))
            line = lead_line(rng, song, lead, end - start)
            out[start:end] = line / rms(line) * rms(backing[start:end]) * db_to_gain(rng.uniform(*level_db))
    return out


def draw_lead(rng):
    """A lead instrument: from bright (saw-like, k**-0.8) to flute-like (k**-2.5) spectra,
    weak even harmonics for clarinet-like tones, and a fixed irregular ripple over the
    harmonics. The spectrum follows the harmonic number, not fixed formant frequencies."""
    gains = harmonic_gains(rng.uniform(0.8, 2.5))
    gains[1::2] *= rng.uniform(0.1, 1.0)
    gains *= rng.uniform(0.6, 1.4, MAX_HARMONICS)
    low = rng.uniform(55, 70)
    style = Style(glide_s=rng.uniform(0.01, 0.06), vibrato_hz=rng.uniform(4.5, 7.0),
                  vibrato_cents=rng.uniform(15, 60), vibrato_delay_s=rng.uniform(0.05, 0.3),
                  jitter_cents=rng.uniform(1, 4))
    return Lead(low_midi=low, high_midi=low + rng.uniform(12, 19), gains=gains, breath=rng.uniform(0.0, 0.08),
                attack_s=rng.uniform(0.03, 0.15), style=style)


def lead_line(rng, song, lead, n_samples):
    """One melodic line (n_samples,) of the lead instrument."""
    onsets_s, midis = melody(rng, song, n_samples / SAMPLE_RATE_HZ, lead.low_midi, lead.high_midi, LEAD_BEATS)
    f0_hz = to_audio_rate(midi_to_hz(pitch_contour(rng, onsets_s, midis, n_samples, lead.style)), n_samples)
    tone = oscillator(wavetable(lead.gains, f0_hz.max()), f0_hz)
    tone = tone / rms(tone) + lead.breath * rng.standard_normal(n_samples)
    loudness = articulation(rng, onsets_s, np.zeros(len(onsets_s)), n_samples)
    return tone * loudness * ramps(n_samples, lead.attack_s, 0.1)
