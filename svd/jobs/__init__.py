"""Many files, many processes, many machines: the job machinery around detection and the ablation.

    input_files.py     the files a detect job reads (folders, list files) and where their results go
    detection.py       detect over many files: which to do, the loop, what survives a kill
    detect_summary.py  the per-job JSON-line record of every file, and the merge of shards
    readahead.py       worker processes that detect (on the GPU: decode) the next files meanwhile
    cores.py           how the CPU cores are shared between those processes and their threads
    shards.py          `--shard I/N`: which share of the work one job does

None of it is in the paper; svd/detect.py and svd/ablate.py hold what is, and
import nothing from here (tests/test_layout.py checks it). The lock files that
keep two jobs off one ablation run are svd/util/locks.py, since a training's
`--out` uses them too.
"""
