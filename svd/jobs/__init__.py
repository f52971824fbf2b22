"""Many files, many processes, many machines: the job machinery around detection and the ablation.

    detection.py       detect over many files: which to do, the loop, what survives a kill
    detect_summary.py  the per-job JSON-line record of every file, and the merge of shards
    readahead.py       worker processes that decode audio ahead of the predicting process
    shards.py          `--shard I/N`: which share of the work one job does
    locks.py           lock files naming host and process, for runs shared by several jobs

None of it is in the paper; svd/detect.py and svd/ablate.py hold what is.
"""
