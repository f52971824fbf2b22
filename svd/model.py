"""Model files: network weights, normalisation statistics, threshold and configuration in one `.npz`.

Layout of the archive (all arrays, no pickles):
    format          'svd-model-1' (a file of any other format is refused)
    param/<name>    float32 network parameters (svd/network.py names)
    mean, std       (80,) float32 per-band normalisation (svd/normalise.py)
    threshold       scalar; NaN until `run.py eval` stores the validation threshold
    config          JSON text: the training configuration
Checkpoints written during training are model files with extra entries
(velocity/<name> and a `progress` JSON text), see svd/train.py.
"""
import dataclasses
import json
import math
import pathlib
import zipfile

import numpy as np

from svd.atomic import save_npz_atomic
from svd.errors import InputError

FORMAT = "svd-model-1"


@dataclasses.dataclass
class Model:
    """A trained detector. params: name -> float32 array; mean, std: (80,) float32."""
    params: dict
    mean: np.ndarray
    std: np.ndarray
    config: dict
    threshold: float = math.nan
    extra: dict = dataclasses.field(default_factory=dict)  # checkpoint-only arrays


def save(path, model):
    """Write `model` to `path` atomically."""
    arrays = {"format": np.array(FORMAT), "mean": model.mean, "std": model.std,
              "threshold": np.array(model.threshold, np.float64),
              "config": np.array(json.dumps(model.config, sort_keys=True))}
    arrays.update({f"param/{name}": value for name, value in model.params.items()})
    arrays.update(model.extra)
    save_npz_atomic(path, arrays)


def load(path):
    """Read a model file; InputError if it is missing, not a model, or of another format."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found; train one with 'python run.py train --out {path}'.")
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InputError(f"{path}: not a readable model file (corrupt or another file type); "
                         "retrain or pick the right file.") from None
    found = str(arrays.get("format", "none"))
    if found != FORMAT:
        raise InputError(f"{path}: model format {found!r} is not {FORMAT!r} (made by an incompatible "
                         "version); retrain it with this version.")
    params = {key[len("param/"):]: value for key, value in arrays.items() if key.startswith("param/")}
    extra = {key: value for key, value in arrays.items()
             if key.startswith("velocity/") or key == "progress"}
    return Model(params, arrays["mean"], arrays["std"], json.loads(str(arrays["config"])),
                 float(arrays["threshold"]), extra)
