"""The synthetic singing-voice corpus: the project's embedded default dataset.

A corpus of little songs, generated from a seed, in the layout of the Jamendo corpus
(paper Sec. 5.1): audio/, labels/*.lab, filelists/. Each song has drums, bass, pads,
plucked chords and vocal-like instrumental leads, and a synthetic singer in phrases
separated by instrumental passages; the labels are exact by construction. With it the
project trains and evaluates end to end without downloading anything.

Reading order, from the files on disk down to the samples:
    corpus.py   writing the corpus (atomically), the default corpus, request limits
    clip.py     one clip: where the singing goes, the mix
    harmony.py  tempo, key, chords, melodies, and how a performer shapes them
    band.py     the accompaniment: drums, bass, pads, plucks, vocal-like leads
    singer.py   the voice: glottal source, vowel formants, consonants
    sound.py    building blocks: control signals, wavetables, envelopes, noise

The names below are copies of the modules' own. A test that changes one (monkeypatch:
DEFAULT_CLIPS, fill_corpus…) patches the module that defines it, svd.synth.corpus,
where the code reads it at call time.
"""
from svd.synth.clip import MIN_CLIP_S, PEAK_DBFS, synth_clip, vocal_layout
from svd.synth.corpus import (DEFAULT_CLIP_S, DEFAULT_CLIPS, DEFAULT_SEED, DEFAULT_SPLITS, MAX_CLIP_S,
                              MAX_TOTAL_HOURS, VERSION, check_request, default_corpus, fill_corpus, readme,
                              write_corpus, write_corpus_with_progress)

__all__ = ["DEFAULT_CLIP_S", "DEFAULT_CLIPS", "DEFAULT_SEED", "DEFAULT_SPLITS", "MAX_CLIP_S", "MAX_TOTAL_HOURS",
           "MIN_CLIP_S", "PEAK_DBFS", "VERSION", "check_request", "default_corpus", "fill_corpus", "readme",
           "synth_clip", "vocal_layout", "write_corpus", "write_corpus_with_progress"]
