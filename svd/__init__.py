"""svd: singing voice detection with a CNN written from scratch (Schlüter & Grill, ISMIR 2015).

Reading order (stated here only; README and docs/ point here). The paper's
concepts are the modules at this level, in the order the data flows through
them; start with layers.py if you came for backprop:

    audio.py, spectrum.py     decoding at 22050 Hz; STFT and 80-band log-mel (Sec. 3.1)
    labels.py, dataset.py     `.lab` segments, frame targets, a corpus in the Jamendo layout
    normalise.py, excerpt.py  per-band standardisation; 115-frame excerpts (Sec. 3.3)
    augment.py                the seven data augmentations (Sec. 4)
    layers.py                 conv, max-pool, dense, leaky rectifier, dropout, batch norm: forward and backward
    loss.py, optim.py         cross-entropy on 0.02/0.98 targets; Nesterov momentum (Sec. 3.3), Adam
    network.py                the CNN of Sec. 3.2 built from the layers, its backward pass
    network2016.py            its successor (ISMIR 2016): batch normalisation, a fifth convolution, Adam
    hyperparameters.py, batches.py, train.py   the training run (Sec. 3.3)
    predict.py, evaluate.py   whole-song probabilities; median filter, threshold, Table 1 (Sec. 5)
    detect.py, ablate.py      singing in any audio file; the Figure 2 experiment
    model_file.py             what is saved: weights, normalisation, threshold, provenance
    backend.py, device.py     which implementation computes each layer call; CPU or GPU arrays
    api.py                    the Python interface: svd.load_model(path) -> a Detector for notebooks;
                              models/bundled.npz, the model used when none is named (docs/model-card.md)

Everything else is one folder down, and no module above imports from cli/ or
jobs/ (tests/test_layout.py checks it):

    fast/      the fast CPU path that backend.py chooses (C sources beside their launchers)
    cuda/      the CUDA path: one launcher per kernel family, its .cu source in the
               top-level kernels/ (kernels/<family>.cu for cuda/<family>.py)
    cli/       the program: entry point, options, commands, what eval and score print
               (report.py), scoring other systems' segment files (score.py), the pictures
    jobs/      detection over many files, processes and machines
    util/      small utilities: arrays, errors, atomic writes, text files, progress,
               provenance, lock files, CUDA stream hand-over, the cache folder and its spectrograms
    synth/     the synthetic corpus
    bench/     speed measurements

`python -m svd` (__main__.py), `python run.py` and the installed `svd` all start
at cli/entry.py.
"""
__version__ = "0.9.0"


def __getattr__(name):
    """`svd.load_model` (and `svd.Detector`): svd/api.py, imported on first use (PEP 562);
    `svd.InputError`, what the API raises for a user's mistake: svd/util/errors.py.

    Not imported above: the API loads SciPy, soundfile and all the network's code, and every
    `run.py --help` imports this package, which must answer before any of that loads.
    """
    if name in ("load_model", "Detector"):
        from svd import api
        return getattr(api, name)
    if name == "InputError":
        from svd.util.errors import InputError
        return InputError
    raise AttributeError(f"module 'svd' has no attribute {name!r}")
