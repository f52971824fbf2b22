"""svd: singing voice detection with a CNN written from scratch (Schlüter & Grill, ISMIR 2015).

Reading order (stated here only; README and docs/ point here). The paper's
concepts are the modules at this level, in the order the data flows through
them; start with layers.py if you came for backprop:

    audio.py, spectrum.py     decoding at 22050 Hz; STFT and 80-band log-mel (Sec. 3.1)
    labels.py, dataset.py     `.lab` segments, frame targets, a corpus in the Jamendo layout
    normalise.py, excerpt.py  per-band standardisation; 115-frame excerpts (Sec. 3.3)
    augment.py                the seven data augmentations (Sec. 4)
    layers.py                 conv, max-pool, dense, leaky rectifier, dropout: forward and backward
    loss.py, optim.py         cross-entropy on 0.02/0.98 targets; Nesterov momentum (Sec. 3.3)
    network.py                the CNN of Sec. 3.2 built from the layers, its backward pass
    hyperparameters.py, batches.py, train.py   the training run (Sec. 3.3)
    predict.py, evaluate.py   whole-song probabilities; median filter, threshold, Table 1 (Sec. 5)
    score.py, report.py       any system's segment files counted alike; what eval and score print and write
    detect.py, ablate.py      singing in any audio file; the Figure 2 experiment
    model_file.py, plot.py    what is saved; the pictures
    api.py                    the Python interface: svd.load_model(path) -> a Detector for notebooks;
                              models/bundled.npz, the model used when none is named (docs/model-card.md)

The machinery is one folder down: backend.py chooses, for every layer call,
between the textbook code above, the fast CPU path (fast/) and the CUDA
kernels (cuda/, with the sources in the top-level kernels/); jobs/ runs
detection over many files, processes and machines; synth/ makes the synthetic
corpus; bench/ measures speed. entry.py, cli.py and commands.py are the command
line (__main__.py: `python -m svd`); arrays.py, device.py, streams.py, atomic.py,
cache.py, cache_folder.py, progress.py, textfiles.py, provenance.py and errors.py are small
utilities.
"""
__version__ = "0.9.0"


def __getattr__(name):
    """`svd.load_model` (and `svd.Detector`): svd/api.py, imported on first use (PEP 562).

    Not imported above: it loads SciPy, soundfile and all the network's code, and every
    `run.py --help` imports this package, which must answer before any of that loads.
    """
    if name in ("load_model", "Detector"):
        from svd import api
        return getattr(api, name)
    raise AttributeError(f"module 'svd' has no attribute {name!r}")
