"""Synthetic singing-voice corpus: the project's embedded default dataset.

`write_corpus` writes a small singing-voice detection dataset, generated from a seed,
in the layout of the Jamendo corpus (paper Sec. 5.1): `audio/<name>.wav`,
`labels/<name>.lab` and `filelists/{train,valid,test}`. With it the project trains
and evaluates end to end without downloading anything.

Each clip is a little song: a random tempo, key and chord progression played by drums,
bass, organ-like pads and plucked chords, and a synthetic singer in phrases of a few
seconds separated by instrumental passages. The singer is a harmonic glottal source on
a note contour (portamento, delayed vibrato, jitter, shimmer) through a vowel formant
filter that changes per syllable, with consonant noise bursts at syllable onsets.
Vocal-like instrumental leads (harmonic, with vibrato, but with no formants and no
consonants) play in most instrumental passages, so that "harmonic with vibrato" alone
does not give the answer away.

The labels are exact by construction: the voice stem is zero outside its `sing`
segments and sounding inside them, with attack and release of at most 30 ms.

Units: time in seconds (`_s`) or in samples at SAMPLE_RATE_HZ; pitch in MIDI note
numbers (69 = A4 = 440 Hz, 12 per octave) until converted to Hz; levels in dB.
Slowly varying controls (pitch, loudness, vowel weights) are computed on a coarser
CONTROL_RATE_HZ grid and interpolated to audio rate, which keeps smoothing them cheap.
"""
import errno
import os
import pathlib
import shutil
import sys
from typing import NamedTuple

import numpy as np
import scipy.ndimage
import scipy.signal
import soundfile

from svd import labels
from svd.spectrum import SAMPLE_RATE_HZ
from svd.atomic import existing_ancestor, temporary
from svd.errors import InputError
from svd.progress import Progress


CONTROL_RATE_HZ = 1000          # grid of pitch and loudness contours
PEAK_DBFS = -1.0                # every clip is peak-normalised to this level
MAX_PARTIAL_HZ = 10000.0        # harmonics above are dropped: below Nyquist, so nothing aliases
MAX_HARMONICS = 100              # reaches MAX_PARTIAL_HZ from a 100 Hz voice
TABLE_SIZE = 4096               # samples per tabulated period in `wavetable`

# Song layout: sung phrases alternate with instrumental passages (lengths in seconds).
PHRASE_S = (2.0, 8.0)
PASSAGE_S = (1.0, 6.0)
MIN_SEGMENT_S = 0.5             # a shorter last segment is merged into the one before it
VOICE_FRACTION = (0.3, 0.7)     # share of each clip that is sung
MIN_CLIP_S = 4.0                # room for one passage and one phrase within VOICE_FRACTION
MIN_NOTE_S = 0.1                # no note starts closer than this to the end of its phrase

# Scales as semitones above the tonic; progressions as 0-based scale degrees, one per bar.
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 0, 5), (0, 5, 2, 6), (5, 3, 0, 4))
BEATS_PER_BAR = 4

# Drum patterns: eighth-note steps (0..7) of a bar for kick, snare and hi-hat.
DRUM_PATTERNS = (
    ((0, 4, 5), (2, 6), (0, 1, 2, 3, 4, 5, 6, 7)),     # rock
    ((0, 2, 4, 6), (2, 6), (1, 3, 5, 7)),              # four on the floor, off-beat hats
    ((0, 3), (4,), (0, 1, 2, 3, 4, 5, 6, 7)),          # half time
    ((0, 5), (2, 6), (0, 2, 4, 6)),                    # ballad
)

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
LEAD_BEATS = (1.0, 1.0, 2.0, 3.0, 4.0)          # instrumental leads hold longer notes
MELODY_STEPS = (-3, -2, -1, -1, 0, 1, 1, 2, 3)  # scale steps between consecutive notes
VIBRATO_FADE_S = 0.2            # vibrato grows to full depth over this time
VOWEL_GLIDE_S = 0.04            # crossfade between the vowels of consecutive syllables
FORMANT_BOOST = 8.0             # formant peaks stand about 18 dB above the source spectrum


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


class Singer(NamedTuple):
    """One clip's voice: register, timbre and manner of singing."""
    low_midi: float
    high_midi: float
    tilt: float                 # glottal source: harmonic k at k**-tilt (2 = -12 dB/octave, soft)
    breath: float               # aspiration noise std relative to the harmonic source RMS
    vowel_sos: list             # per vowel of VOWELS: (5, 6) cascade of formant peaks
    style: Style


class Lead(NamedTuple):
    """One clip's vocal-like instrument: harmonic, with vibrato, but no formants."""
    low_midi: float
    high_midi: float
    gains: np.ndarray           # (MAX_HARMONICS,) amplitude of each harmonic, the same for every note
    breath: float               # noise std relative to the tone RMS (flute-like when large)
    attack_s: float
    style: Style


# Bump when this module changes what a seed generates: the default corpus then gets a new directory.
VERSION = 1
DEFAULT_SEED = 0
# Size of the default corpus; read when it is generated, so a test may make it smaller.
DEFAULT_CLIPS = 30
DEFAULT_CLIP_S = 30.0
DEFAULT_SPLITS = (20, 5, 5)

# Limits on what one request may ask for, checked before any work. A clip is synthesised
# in memory at about 1 MB per second of audio (float64 stems and controls), so 10 minutes
# stays under a gigabyte; 100 hours of 16-bit audio is 16 GB on disk and about an hour
# of synthesis on one core, far beyond the paper's corpora (Jamendo and RWC: ~6 hours each).
MAX_CLIP_S = 600.0
MAX_TOTAL_HOURS = 100.0
WAV_BYTES_PER_S = 2 * SAMPLE_RATE_HZ   # mono 16-bit


def default_corpus(cache_dir, quiet=False):
    """The embedded default corpus (synthetic, seed 0) in `cache_dir`, generated there on first use.

    Safe when several processes need it at once: each builds its own private copy,
    the first to finish renames it into place, the others see the name taken and use
    that corpus (the same seed gives the same bytes). Returns its directory (pathlib.Path).
    """
    corpus = pathlib.Path(cache_dir) / f"synthetic-v{VERSION}-seed{DEFAULT_SEED}"
    if not _complete(corpus):
        print(f"generating the default synthetic corpus in {corpus} (first use)", file=sys.stderr)
        try:
            write_corpus_with_progress(corpus, DEFAULT_SEED, quiet, n_clips=DEFAULT_CLIPS,
                                       clip_seconds=DEFAULT_CLIP_S, split_sizes=DEFAULT_SPLITS)
        except InputError:
            if not _complete(corpus):
                raise
            # Another process generated it at the same time and renamed its copy into place first.
    return corpus


def _complete(corpus):
    """Whether a corpus written by `write_corpus` is there (it appears complete or not at all)."""
    return (corpus / "filelists" / "test").is_file()


def write_corpus_with_progress(out_dir, seed, quiet, n_clips, clip_seconds, split_sizes):
    """`write_corpus` with a progress bar on stderr (unless quiet); the request is checked before the bar starts."""
    check_request(pathlib.Path(out_dir), n_clips, clip_seconds, split_sizes)
    with Progress("synthesising", n_clips, "clips", quiet=quiet) as bar:
        return write_corpus(out_dir, seed, n_clips, clip_seconds, split_sizes,
                            progress=lambda done, total: bar.update(done))


def write_corpus(out_dir, seed=0, n_clips=DEFAULT_CLIPS, clip_seconds=DEFAULT_CLIP_S, split_sizes=DEFAULT_SPLITS,
                 progress=None):
    """Write the synthetic corpus into `out_dir` (which must not exist, or be empty).

    Writes audio/clipNNN.wav (mono, SAMPLE_RATE_HZ, 16-bit, peak PEAK_DBFS),
    labels/clipNNN.lab (`start end sing|nosing` per line, seconds with 3 decimals,
    covering the clip), filelists/{train,valid,test} (the first split_sizes[0] clips
    train, the next valid, the rest test) and README.txt. The corpus is built in a
    temporary sibling directory `.<name>.<host>-<pid>.<random>.partial` and renamed
    into place, so `out_dir` is either complete or absent; such a directory left by a
    killed run is deleted by the next run writing the same `out_dir` (svd/atomic.py).
    If another process fills `out_dir` while this one works, InputError, as if it had
    been there from the start. Clip i depends only on (seed, i, clip_seconds): the
    same seed gives byte-identical files.

    progress: optional callable progress(done, total), called after each clip.
    Returns out_dir as a pathlib.Path.
    """
    out_dir = pathlib.Path(out_dir)
    check_request(out_dir, n_clips, clip_seconds, split_sizes)
    temp = temporary(out_dir, suffix=".partial", directory=True)
    try:
        fill_corpus(temp, seed, n_clips, clip_seconds, split_sizes, progress)
        temp.chmod(0o755)       # mkdtemp makes it private; a corpus is an ordinary output
        try:
            os.replace(temp, out_dir)   # over nothing or an empty directory; fails over a full one
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise InputError(f"{out_dir} already exists and is not empty (another process wrote it meanwhile); "
                             "remove it or choose another directory.") from None
    except BaseException:
        shutil.rmtree(temp)
        raise
    return out_dir


def check_request(out_dir, n_clips, clip_seconds, split_sizes):
    """Raise InputError for an occupied out_dir, impossible or too large sizes, or too little disk space."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(f"{out_dir} already exists and is not empty; remove it or choose another directory.")
    if len(split_sizes) != 3 or min(split_sizes) < 1 or sum(split_sizes) != n_clips:
        raise InputError(f"split sizes {tuple(split_sizes)} must be three positive counts adding up to "
                         f"the {n_clips} clips; change the split sizes or the number of clips.")
    if not MIN_CLIP_S <= clip_seconds <= MAX_CLIP_S:     # also refuses NaN
        raise InputError(f"--seconds {clip_seconds:g}: a clip needs at least {MIN_CLIP_S:g} s (a phrase and a "
                         f"pause) and at most {MAX_CLIP_S:g} s (memory); pick a length in that range.")
    hours = n_clips * clip_seconds / 3600
    if hours > MAX_TOTAL_HOURS:
        raise InputError(f"--clips {n_clips} x --seconds {clip_seconds:g} is {hours:.0f} hours of audio, more than "
                         f"the {MAX_TOTAL_HOURS:g} hours synth makes at once; lower --clips or --seconds.")
    needed_bytes = n_clips * clip_seconds * WAV_BYTES_PER_S
    disk = existing_ancestor(out_dir)
    free_bytes = shutil.disk_usage(disk).free
    if needed_bytes > free_bytes:
        raise InputError(f"--clips {n_clips} x --seconds {clip_seconds:g} needs {needed_bytes / 1e6:,.0f} MB but "
                         f"{disk} has {free_bytes / 1e6:,.0f} MB free; free some space or lower --clips or --seconds.")


def fill_corpus(corpus_dir, seed, n_clips, clip_seconds, split_sizes, progress):
    """Write every file of the corpus into the existing, empty corpus_dir."""
    for folder in ("audio", "labels", "filelists"):
        (corpus_dir / folder).mkdir()
    names, sung_s, total_s = [], 0.0, 0.0
    for index in range(n_clips):
        # One generator per clip, spawned from the seed: clips do not depend on each other.
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
        mix, _, segments = synth_clip(rng, clip_seconds)
        name = f"clip{index:03d}"
        soundfile.write(corpus_dir / "audio" / f"{name}.wav", mix, SAMPLE_RATE_HZ, subtype="PCM_16")
        labels.write_lab(corpus_dir / "labels" / f"{name}.lab",
                         [(start, end, label == "sing") for start, end, label in segments])
        names.append(f"{name}.wav")
        sung_s += sum(end - start for start, end, label in segments if label == "sing")
        total_s += segments[-1][1]
        if progress is not None:
            progress(index + 1, n_clips)
    bounds = np.cumsum([0, *split_sizes])
    for split, start, end in zip(("train", "valid", "test"), bounds[:-1], bounds[1:]):
        (corpus_dir / "filelists" / split).write_text("".join(f"{name}\n" for name in names[start:end]),
                                                      encoding="ascii")
    (corpus_dir / "README.txt").write_text(readme(seed, n_clips, clip_seconds, split_sizes, sung_s / total_s),
                                           encoding="ascii")


def readme(seed, n_clips, clip_seconds, split_sizes, voice_fraction):
    """Text of the corpus's README.txt."""
    return (
        "Synthetic singing-voice detection corpus, written by svd.synth.write_corpus.\n"
        "Every sound in it is synthesized (no recordings): songs with drums, bass, pads,\n"
        "plucked chords and vocal-like instrumental leads, and a synthetic singer.\n\n"
        f"seed: {seed}\n"
        f"clips: {n_clips} x {clip_seconds:g} s, mono {SAMPLE_RATE_HZ} Hz 16-bit WAV, "
        f"peak {PEAK_DBFS:g} dBFS\n"
        f"splits: train {split_sizes[0]}, valid {split_sizes[1]}, test {split_sizes[2]}\n"
        f"sung: {100 * voice_fraction:.1f}% of the time\n\n"
        "Layout (as the Jamendo corpus): audio/<name>.wav, labels/<name>.lab with one\n"
        "'start end sing|nosing' line per segment (seconds, covering the clip), and\n"
        "filelists/{train,valid,test} naming one audio file per line.\n"
        "The labels are exact: the voice sounds exactly during the 'sing' segments.\n"
    )


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


# ---------------------------------------------------------------- shared building blocks

def db_to_gain(level_db):
    return 10.0 ** (level_db / 20.0)


def rms(x):
    return np.sqrt(np.mean(x ** 2))


def midi_to_hz(midi):
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def control_times(n_samples):
    """Times (n_ctrl,) in s of the control grid covering n_samples audio samples."""
    return np.arange(int(np.ceil(n_samples * CONTROL_RATE_HZ / SAMPLE_RATE_HZ)) + 1) / CONTROL_RATE_HZ


def to_audio_rate(control, n_samples):
    """Linearly interpolate a control-grid signal (n_ctrl,) to (n_samples,) at SAMPLE_RATE_HZ."""
    control_s = np.arange(len(control)) / CONTROL_RATE_HZ
    return np.interp(np.arange(n_samples) / SAMPLE_RATE_HZ, control_s, control)


def smooth(control, smooth_s):
    """Gaussian smoothing (std smooth_s seconds) of a control-grid signal."""
    return scipy.ndimage.gaussian_filter1d(control, smooth_s * CONTROL_RATE_HZ, mode="nearest")


def unit_noise(rng, n_ctrl, smooth_s):
    """Gaussian noise (n_ctrl,) on the control grid, smoothed over smooth_s, with unit std."""
    sigma = smooth_s * CONTROL_RATE_HZ
    # A unit-sum Gaussian kernel of std sigma leaves white noise a std of (2 sqrt(pi) sigma)**-0.5.
    return smooth(rng.standard_normal(n_ctrl), smooth_s) * np.sqrt(2 * np.sqrt(np.pi) * sigma)


def ramps(n_samples, attack_s, release_s):
    """Gain (n_samples,): linear rise over attack_s, 1, linear fall over release_s.

    Starts and ends one step above zero, so a note sounds from its first sample to its last.
    """
    i = np.arange(n_samples)
    rise = (i + 1) / max(attack_s * SAMPLE_RATE_HZ, 1.0)
    fall = (n_samples - i) / max(release_s * SAMPLE_RATE_HZ, 1.0)
    return np.minimum(1.0, np.minimum(rise, fall))


def harmonic_gains(tilt, n_harmonics=MAX_HARMONICS):
    """(n_harmonics,) amplitudes k**-tilt of harmonics k = 1.. (tilt 1 = -6 dB/octave)."""
    return np.arange(1, n_harmonics + 1) ** -float(tilt)


def wavetable(gains, max_f0_hz):
    """One period (TABLE_SIZE + 1,) of sum_k gains[k-1] sin(2 pi k x), x in [0, 1].

    Harmonics that would exceed MAX_PARTIAL_HZ at max_f0_hz are left out. The last
    entry repeats the first, for interpolation across the period boundary.
    """
    n_harmonics = max(1, min(len(gains), int(MAX_PARTIAL_HZ / max_f0_hz)))
    x = np.arange(TABLE_SIZE + 1) / TABLE_SIZE
    k = np.arange(1, n_harmonics + 1)
    return np.sin(2 * np.pi * np.outer(x, k)) @ gains[:n_harmonics]


def read_table(table, phase):
    """Wavetable read at phase (n,) in cycles, linearly interpolated: a tone (n,).

    Wavetable synthesis costs a few operations per sample whatever the number of
    harmonics, where summing sinusoids would cost one sine per harmonic and sample.
    """
    position = (phase % 1.0) * TABLE_SIZE
    index = position.astype(np.intp)
    fraction = position - index
    return table[index] + fraction * (table[index + 1] - table[index])


def oscillator(table, f0_hz):
    """A tone (n,) following f0_hz (n,) Hz, starting at phase 0."""
    return read_table(table, np.concatenate(([0.0], np.cumsum(f0_hz[:-1]) / SAMPLE_RATE_HZ)))


def note(table, midi, n_samples, attack_s, decay_s, release_s):
    """A fixed-pitch note (n_samples,): attack ramp, exponential decay (np.inf: none), release ramp."""
    t = np.arange(n_samples) / SAMPLE_RATE_HZ
    tone = read_table(table, midi_to_hz(midi) * t)
    return tone * np.exp(-t / decay_s) * ramps(n_samples, attack_s, release_s)


def butter_sos(order, cutoff_hz, kind):
    """Butterworth filter ('highpass' at cutoff_hz, or 'bandpass' between a pair) as sos."""
    return scipy.signal.butter(order, cutoff_hz, kind, fs=SAMPLE_RATE_HZ, output="sos")


def noise_burst(rng, sos, n_samples, decay_s):
    """Filtered white noise (n_samples,) of unit RMS, then decaying exponentially."""
    noise = scipy.signal.sosfilt(sos, rng.standard_normal(n_samples))
    return noise / rms(noise) * np.exp(-np.arange(n_samples) / (decay_s * SAMPLE_RATE_HZ))


# ---------------------------------------------------------------- harmony and melody

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


# ---------------------------------------------------------------- accompaniment

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


# ---------------------------------------------------------------- the singer

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
