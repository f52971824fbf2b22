"""Evaluate a torch_reference model on one fold exactly as `run.py ablate --folds` evaluates svd's.

MODEL.pt SEED FOLD OUT: the reference's weights become an svd model file (the layouts
differ only in axis order), with svd's normalisation statistics of the fold's training
songs (the two feature pipelines agree after standardisation); the result is written
in ablate's result format and file name (OUT/ref_out/none-seed<SEED>-fold<FOLD>.json).
"""
import json
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from svd import ablate, network, normalise, spectrum  # noqa: E402
from svd import model_file  # noqa: E402


def svd_params(state):
    """torch_reference's state dict (conv OIHW, linear (out, in)) as svd parameters."""
    params = {}
    for i in range(1, 5):
        params[f"conv{i}.w"] = state[f"conv{i}.weight"].numpy().transpose(2, 3, 1, 0).copy()
        params[f"conv{i}.b"] = state[f"conv{i}.bias"].numpy()
    # PyTorch flattens pool2 as (channel, time, freq), svd as (time, freq, channel).
    params["dense1.w"] = state["fc1.weight"].numpy().reshape(256, 64, 11, 7).transpose(2, 3, 1, 0).reshape(4928, 256)
    params["dense1.b"] = state["fc1.bias"].numpy()
    for i in (2, 3):
        params[f"dense{i}.w"] = state[f"fc{i}.weight"].numpy().T.copy()
        params[f"dense{i}.b"] = state[f"fc{i}.bias"].numpy()
    return {name: params[name].copy() for name in network.PARAM_SHAPES}


def torch_state(params):
    """svd parameters as torch_reference's state dict (the inverse of svd_params)."""
    import numpy as np
    state = {}
    for i in range(1, 5):
        state[f"conv{i}.weight"] = torch.from_numpy(np.ascontiguousarray(params[f"conv{i}.w"].transpose(3, 2, 0, 1)))
        state[f"conv{i}.bias"] = torch.from_numpy(np.array(params[f"conv{i}.b"]))
    state["fc1.weight"] = torch.from_numpy(np.ascontiguousarray(
        params["dense1.w"].reshape(11, 7, 64, 256).transpose(3, 2, 0, 1).reshape(256, 4928)))
    state["fc1.bias"] = torch.from_numpy(np.array(params["dense1.b"]))
    for i in (2, 3):
        state[f"fc{i}.weight"] = torch.from_numpy(np.ascontiguousarray(params[f"dense{i}.w"].T))
        state[f"fc{i}.bias"] = torch.from_numpy(np.array(params[f"dense{i}.b"]))
    return state


def import_torch_reference(path=None):
    """The module ../shared/tools/torch_reference.py (or `path`), imported to be run, never copied."""
    import importlib.util
    path = pathlib.Path(path or pathlib.Path(__file__).resolve().parents[3] / "shared" / "tools" / "torch_reference.py")
    if not path.is_file():
        sys.exit(f"{path}: the PyTorch reference is not there; pass --reference PATH.")
    spec = importlib.util.spec_from_file_location("torch_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FOLDS = ["fold1", "fold2", "fold3"]


def fold_settings(out):
    """ablate's settings and corpus of the fold grid in folder `out` (its data/ holds the folds)."""
    settings = ablate.Settings(data=str(pathlib.Path(out) / "data"), updates=3000, batch=32, folds=FOLDS)
    return settings, ablate._Corpus(settings.data, None, True)


def reference_model(pt, fold, corpus):
    """The reference's model file `pt`, trained without `fold`, as an svd Model."""
    training = corpus.songs(*[f for f in FOLDS if f != fold])
    mean, std = normalise.band_statistics(spectrum.log_mel(song.linear) for song in training)
    state = torch.load(pt, weights_only=False)
    return model_file.Model(svd_params(state.get("state_dict", state)), mean, std, {"engine": "torch_reference"})


def main(pt, seed, fold, out):
    settings, corpus = fold_settings(out)
    model = reference_model(pt, fold, corpus)
    result = ablate._evaluate_run(model, ablate.CONFIGS["none"], int(seed), fold, settings, corpus)
    path = pathlib.Path(out) / "ref_out" / (ablate.run_name("none", int(seed), fold) + ".json")
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(path, result["chosen"], result["optimal"])


if __name__ == "__main__":
    main(*sys.argv[1:5])
