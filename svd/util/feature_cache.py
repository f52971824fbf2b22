"""On-disk cache of linear spectrograms, keyed by the audio file's content and the feature parameters.

A second run over the same corpus reads `.npz` files instead of decoding and
transforming audio again. An entry is trusted only if it loads cleanly (the
zip CRCs check out), carries the expected key and shape, and its data hash
matches; anything else (truncated file, flipped bits, an entry from another
parameter set) is recomputed and overwritten.

The entries live in the folder `features` of the cache folder (svd/util/cache_folder.py:
where it is, its other contents, `run.py cache --clear`).
"""
import hashlib
import pathlib
import zipfile

import numpy as np

from svd import audio, spectrum
from svd.util.atomic import save_npz_atomic

# Bump when the feature computation changes, so old entries stop matching.
FEATURE_VERSION = 1


def feature_key(audio_path):
    """Hex key for the spectrogram of `audio_path`: SHA-256 of its bytes and the feature parameters."""
    digest = hashlib.sha256()
    with open(audio_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(repr((FEATURE_VERSION, spectrum.SAMPLE_RATE_HZ, spectrum.FRAME_SAMPLES,
                        spectrum.HOP_SAMPLES, spectrum.LINEAR_BINS)).encode())
    return digest.hexdigest()


def linear_spectrogram(audio_path, cache_dir):
    """The (frames, 513) float32 linear spectrogram of `audio_path`, from the cache if a valid entry exists.

    Returns (spectrogram, duration_s, hit): the audio's length in seconds, and
    hit True when it came from the cache.
    """
    audio.require_file(audio_path)
    key = feature_key(audio_path)
    entry = pathlib.Path(cache_dir) / "features" / f"{key}.npz"
    cached = _read_entry(entry, key)
    if cached is not None:
        return cached + (True,)
    samples = audio.load(audio_path)
    linear = spectrum.linear_spectrogram(samples)
    duration_s = len(samples) / spectrum.SAMPLE_RATE_HZ
    save_npz_atomic(entry, {"key": np.array(key), "linear": linear, "duration_s": np.array(duration_s),
                            "data_sha256": np.array(_data_hash(linear))})
    return linear, duration_s, False


def _read_entry(entry, key):
    """(linear, duration_s) from the entry, or None if it is missing, corrupt or stale."""
    if not entry.is_file():
        return None
    try:
        with np.load(entry, allow_pickle=False) as stored:
            linear = stored["linear"]
            duration_s = float(stored["duration_s"])
            ok = (str(stored["key"]) == key and linear.dtype == np.float32 and linear.ndim == 2
                  and linear.shape[1] == spectrum.LINEAR_BINS
                  and str(stored["data_sha256"]) == _data_hash(linear))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return (linear, duration_s) if ok else None


def _data_hash(array):
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()
