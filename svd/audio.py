"""Reading audio files: any format libsndfile decodes (wav, flac, ogg, mp3), as mono float32 at 22050 Hz.

Stereo (or more) is downmixed by averaging the channels; other sample rates are
resampled with scipy's polyphase resampler, whose Kaiser-windowed low-pass
filter removes what would alias above the new Nyquist frequency (11025 Hz).
"""
import contextlib
import io
import math
import os
import pathlib

import numpy as np
import scipy.signal
import soundfile

from svd.util.errors import InputError
from svd.spectrum import SAMPLE_RATE_HZ


BLOCK_FRAMES = 1 << 20  # frames decoded at a time (about 48 s at 22050 Hz)
# Sample rates accepted: telephone speech is 8000 Hz, studio masters reach 384000 Hz. Outside
# them a header is damaged: resampling 1 Hz to 22050 Hz needs 22050 times the memory.
MIN_RATE_HZ = 4000
MAX_RATE_HZ = 768000


def load(path):
    """Read `path` as mono float32 samples at 22050 Hz: (n,) array.

    Raises InputError (one sentence: file, problem, fix) for a missing,
    unreadable, empty or non-finite file.
    """
    require_file(path)
    return _checked(path, *_decode_mono(path))


def load_bytes(data, name="standard input"):
    """Read an audio file held in memory (bytes, e.g. piped to standard input) as `load` reads a file.

    name: what messages call it.
    """
    if not data:
        raise InputError(f"{name}: no audio arrived; pipe an audio file in (e.g. svd detect - < song.mp3).")
    return _checked(name, *_decode_mono(name, io.BytesIO(data)))


def _checked(path, mono, rate_hz):
    """`mono` at 22050 Hz, after the checks `load` promises (rate, emptiness, finite samples)."""
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:  # a header's nonsense would cost hours or all memory
        raise InputError(f"{path}: its header says the sample rate is {rate_hz} Hz, outside the "
                         f"{MIN_RATE_HZ}-{MAX_RATE_HZ} Hz of real recordings (a damaged header?); re-export the "
                         "file.")
    if mono.size == 0:
        raise InputError(f"{path}: the audio file contains no samples; replace it with a valid recording.")
    if not np.isfinite(mono).all():  # a NaN or infinity in any channel reaches the mix
        raise InputError(f"{path}: the audio contains NaN or infinite samples; re-export the file.")
    return resample(mono, rate_hz)


def _decode_mono(path, stream=None):
    """(samples averaged over channels: (n,) float32, sample rate in Hz) of an audio file.

    stream: a binary file object to decode instead of opening `path` (then only named in messages).

    Decoded and mixed down block by block, so that all channels never exist at
    once: an hour of 44.1 kHz stereo would be 1.3 GB as one (n, 2) float32 array.
    """
    try:
        # The name as bytes: one that is not UTF-8 (PEP 383 surrogates in Python) opens too.
        with _decoder_notes_hidden(path, stream is not None), \
                soundfile.SoundFile(os.fsencode(path) if stream is None else stream) as source:
            blocks = [_mixed_down(block) for block in source.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True)]
            rate_hz = source.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        # libsndfile says "File does not exist or is not a regular file" for any file it cannot
        # open; ours exists (require_file), so say what is really wrong.
        suffix = pathlib.Path(path).suffix.lower()
        fix = ("the file is damaged or not really audio: replace it with an intact copy" if suffix in _READABLE
               else "convert it to wav, flac, ogg or mp3" if stream is None
               else "give wav, flac, ogg or mp3 audio")
        raise InputError(f"{path}: cannot decode audio ({_reason(error)}); {fix}.") from None
    return (np.concatenate(blocks) if blocks else np.zeros(0, np.float32)), rate_hz


def _mixed_down(block):
    """The mean over the channels of a (frames, channels) float32 block: (frames,) float32.

    Added channel by channel: block.mean(axis=1) reduces over the short, strided
    channel axis about 30x slower (0.08 s per million stereo frames), a third of the
    time `detect` spent on a song. For one or two channels the result is the same to the bit.
    """
    mixed = block[:, 0].copy()
    for channel in range(1, block.shape[1]):
        mixed += block[:, channel]
    return mixed / np.float32(block.shape[1])


_READABLE = {".wav", ".flac", ".ogg", ".oga", ".mp3"}  # formats libsndfile reads (when it can)


def _reason(error):
    """libsndfile's own words for a failed decode, without its misleading 'does not exist' guess."""
    text = getattr(error, "error_string", None) or str(error)
    if "does not exist or is not a regular file" in text:
        return "its contents are not a format libsndfile recognises"
    return text


@contextlib.contextmanager
def _decoder_notes_hidden(path, unknown_format=False):
    """While an MP3 (or audio of an `unknown_format`, which may be one) is decoded, send file descriptor 2 to /dev/null.

    libmpg123 (inside libsndfile) prints notes such as 'Note: Hit end of (available) data
    during resync.' straight to stderr, past Python; our own message says what matters. Only
    the decoding thread writes to stderr meanwhile, so nothing of ours is lost.
    """
    if pathlib.Path(path).suffix.lower() != ".mp3" and not unknown_format:
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def require_file(path):
    """Raise InputError unless `path` is an existing file."""
    if not pathlib.Path(path).is_file():
        raise InputError(f"{path}: audio file not found; check the path or the filelist entry.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: this audio file cannot be read (permission denied); give your user read "
                         f"access (chmod a+r {path}).")


def resample(samples, rate_hz):
    """Resample (n,) float32 `samples` from `rate_hz` to 22050 Hz (anti-aliased polyphase filter)."""
    if rate_hz == SAMPLE_RATE_HZ:
        return np.ascontiguousarray(samples, dtype=np.float32)
    common = math.gcd(int(rate_hz), SAMPLE_RATE_HZ)
    up, down = SAMPLE_RATE_HZ // common, int(rate_hz) // common
    return scipy.signal.resample_poly(samples, up, down).astype(np.float32)
