"""The synthetic singing-voice corpus: the project's embedded default dataset (svd/synth/corpus.py).

The names below are copies of svd.synth.corpus's: a test that changes one (monkeypatch)
patches svd.synth.corpus, where the code reads it.
"""
from svd.synth.corpus import (DEFAULT_CLIP_S, DEFAULT_CLIPS, DEFAULT_SEED, DEFAULT_SPLITS, MAX_CLIP_S,
                              MAX_TOTAL_HOURS, MIN_CLIP_S, PEAK_DBFS, VERSION, check_request, default_corpus,
                              fill_corpus, readme, synth_clip, vocal_layout, write_corpus,
                              write_corpus_with_progress)

__all__ = ["DEFAULT_CLIP_S", "DEFAULT_CLIPS", "DEFAULT_SEED", "DEFAULT_SPLITS", "MAX_CLIP_S", "MAX_TOTAL_HOURS",
           "MIN_CLIP_S", "PEAK_DBFS", "VERSION", "check_request", "default_corpus", "fill_corpus", "readme",
           "synth_clip", "vocal_layout", "write_corpus", "write_corpus_with_progress"]
