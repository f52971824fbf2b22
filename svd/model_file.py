"""Model files: network weights, normalisation statistics, threshold and configuration in one `.npz`.

Layout of the archive (all arrays, no pickles):
    format          'svd-model-1' (a file of any other format is refused)
    param/<name>    float32 network parameters: the names of svd/network.py, or of svd/network2016.py
                    (with its running statistics) where the config's train.arch is "ismir2016"
    bag/<k>/<name>  k = 1, 2, ...: the parameters of further networks of a bagged model
                    (`bag` command), trained on the same songs with other seeds; the
                    model's probability is the mean of its networks' (svd/predict.py)
    mean, std       (80,) float32 per-band normalisation (svd/normalise.py)
    threshold       scalar; NaN until `run.py eval` stores the validation threshold
    config          JSON text: the training configuration
    provenance      JSON text: how the training run was made (svd/util/provenance.py: version,
                    commit, seed, device, date, libraries); absent in checkpoints and in
                    model files written before it was recorded; `run.py eval` keeps it
                    when it stores the threshold
Checkpoints written during training are model files with extra entries
(velocity/<name>, moment2/<name> with Adam, and a `progress` JSON text), see svd/train.py.
"""
import dataclasses
import hashlib
import io
import json
import math
import os
import pathlib
import stat
import zipfile

import numpy as np

from svd.util.atomic import save_npz_atomic
from svd.util import errors
from svd.util.errors import InputError

FORMAT = "svd-model-1"
# The model that ships with the package, used when no model file is named (`detect`,
# `svd.load_model()`); how it was made and how well it does: docs/model-card.md.
BUNDLED = pathlib.Path(__file__).resolve().parent / "models" / "bundled.npz"


@dataclasses.dataclass
class Model:
    """A trained detector. params: name -> float32 array; mean, std: (80,) float32."""
    params: dict
    mean: np.ndarray
    std: np.ndarray
    config: dict
    threshold: float = math.nan
    extra: dict = dataclasses.field(default_factory=dict)  # checkpoint-only arrays
    bag: list = dataclasses.field(default_factory=list)  # further networks' params (a bagged model)
    provenance: dict = dataclasses.field(default_factory=dict)  # the training run's (svd/util/provenance.py)

    @property
    def seed(self):
        """The random seed the model was trained with, or None where its configuration does not say."""
        train = self.config.get("train")
        seed = train.get("seed") if isinstance(train, dict) else None
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def per_recording(self):
        """Whether each recording is standardised by its own statistics first (`train --per-recording`)."""
        train = self.config.get("train")
        return isinstance(train, dict) and train.get("per_recording") is True

    @property
    def pcen(self):
        """Whether the features are the PCEN of the mel magnitudes instead of their log (`train --pcen`)."""
        train = self.config.get("train")
        return isinstance(train, dict) and train.get("pcen") is True

    @property
    def arch(self):
        """The network's name, a key of svd.hyperparameters.ARCHITECTURES (`train --arch`)."""
        return _arch(self.config)

    @property
    def networks(self):
        """The parameter dicts whose probabilities the model averages: params, then the bag's."""
        return [self.params, *self.bag]


def save(path, model):
    """Write `model` to `path` atomically."""
    save_npz_atomic(path, _archive(model))


def sha256(model):
    """The SHA-256 (64 hex digits) of the file `save` writes for `model`, without writing it.

    np.savez stamps every entry with one fixed date, so the same model always gives the same bytes.
    """
    buffer = io.BytesIO()
    np.savez(buffer, **_archive(model))
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _archive(model):
    """The arrays of the model file (see the module docstring), by name."""
    arrays = {"format": np.array(FORMAT), "mean": model.mean, "std": model.std,
              "threshold": np.array(model.threshold, np.float64),
              "config": np.array(json.dumps(model.config, sort_keys=True))}
    if model.provenance:
        arrays["provenance"] = np.array(json.dumps(model.provenance))
    arrays.update({f"param/{name}": value for name, value in model.params.items()})
    for k, params in enumerate(model.bag, start=1):
        arrays.update({f"bag/{k}/{name}": value for name, value in params.items()})
    arrays.update(model.extra)
    return arrays


def bag(paths, models):
    """One Model holding the networks of `models` (loaded from `paths`), which must share their normalisation.

    Its probability is the mean of its networks' (svd/predict.py); its config is the first's with a
    "bag" record of each member; it has no threshold yet. InputError for a member trained on other songs.
    """
    first = models[0]
    for path, model in zip(paths[1:], models[1:]):
        if not (np.array_equal(model.mean, first.mean) and np.array_equal(model.std, first.std)
                and model.per_recording == first.per_recording and model.pcen == first.pcen
                and model.arch == first.arch):
            raise InputError(f"{path}: trained on other songs (or with another normalisation or network) than "
                             f"{paths[0]}; a bag joins networks of one kind that read the same input: train them "
                             "on the same corpus with the same options.")
    networks = [params for model in models for params in model.networks]
    config = {**first.config, "bag": [{"model": str(path), "seed": model.seed, "networks": len(model.networks)}
                                      for path, model in zip(paths, models)]}
    return Model(networks[0], first.mean, first.std, config, provenance=first.provenance, bag=networks[1:])


def check_rewritable(path):
    """InputError unless the model file `path` may be replaced (to store a threshold in it).

    A read-only file (no owner write bit: a model someone protected) is refused even
    where the folder would allow replacing it, and so is a folder that cannot be written.
    """
    path = pathlib.Path(path)
    if not (path.stat().st_mode & stat.S_IWUSR) or not os.access(path, os.W_OK):
        raise InputError(f"{path}: the model file is read-only, so the chosen threshold cannot be stored in it; "
                         f"make it writable (chmod u+w {path}) or pass --no-store-threshold.")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{path}: its folder {folder} cannot be written, so the chosen threshold cannot be stored "
                         "in the model; copy the model to a writable folder or pass --no-store-threshold.")


def load(path):
    """Read a model file; InputError if it is missing, not a model, of another format, or damaged.

    Every parameter and statistic must be there with its shape and dtype
    float32, the weights finite and the standard deviations positive.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found; train one with {errors.command('train --out ' + str(path))}.")
    try:
        stored = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InputError(f"{path}: not a readable model file (corrupt or another file type); "
                         "retrain or pick the right file.") from None
    if not isinstance(stored, np.lib.npyio.NpzFile):  # a .npy file: one array, not an archive
        raise InputError(f"{path}: one NumPy array (a .npy file), not a model file (the .npz that 'train' "
                         "writes); pick the model file.")
    try:
        with stored:
            known = _members_to_read(path)
            arrays = {key: stored[key] for key in stored.files if key in known}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InputError(f"{path}: not a readable model file (corrupt or another file type); "
                         "retrain or pick the right file.") from None
    found = str(arrays.get("format", "none"))
    if found != FORMAT:
        raise InputError(f"{path}: model format {found!r} is not {FORMAT!r} (made by an incompatible "
                         "version); retrain it with this version.")
    params = {key[len("param/"):]: value for key, value in arrays.items() if key.startswith("param/")}
    extra = {key: value for key, value in arrays.items()
             if key.startswith(("velocity/", "moment2/")) or key == "progress"}
    config = _config(path, arrays)
    _check_contents(path, arrays, params, config)
    bag = _bag(path, arrays, config)
    return Model(params, arrays["mean"], arrays["std"], config, float(arrays["threshold"]), extra=extra,
                 provenance=_provenance(arrays), bag=bag)


def _config(path, arrays):
    """The training configuration, a dict; InputError where it is not a JSON object."""
    try:
        config = json.loads(str(arrays["config"])) if "config" in arrays else None
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise InputError(f"{path}: not a usable model file (its training configuration is not a JSON object: "
                         "missing, damaged or edited); retrain the model or pick the right file.")
    return config


def _arch(config):
    """The network a training configuration names: its train.arch, the paper's ("ismir2015") where none."""
    train = config.get("train")
    return train.get("arch", "ismir2015") if isinstance(train, dict) else "ismir2015"


def _param_shapes(path, config):
    """{name: shape} of the parameters of the network `config` names."""
    from svd.hyperparameters import architecture
    try:
        return architecture(_arch(config)).PARAM_SHAPES
    except InputError as error:
        raise InputError(f"{path}: {error} Update svd, or pick another model file.") from None


def _bag(path, arrays, config):
    """The further networks of a bagged model, [params, ...] in order; each checked like the first."""
    bag = []
    while any(key.startswith(f"bag/{len(bag) + 1}/") for key in arrays):
        prefix = f"bag/{len(bag) + 1}/"
        member = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
        renamed = {f"param/{name}": value for name, value in member.items()}
        _check_contents(path, {**arrays, **renamed}, member, config)
        bag.append(member)
    if sum(key.startswith("bag/") for key in arrays) != sum(len(member) for member in bag):
        raise InputError(f"{path}: not a usable model file (its bagged networks are not numbered 1, 2, ...: "
                         "damaged or edited); make the bag again or pick the right file.")
    return bag


TEXT_MEMBERS = ("format", "config", "provenance", "progress")  # 0-d strings
MAX_TEXT_BYTES = 1 << 22  # a training configuration is a few hundred bytes; 4 MiB is no real one


def _members_to_read(path):
    """The archive members load() reads, after checking their .npy headers (shape, dtype) alone.

    A member's header says how big its data is before any of it is read: a header that
    claims another shape or dtype than the member's (10^12 floats, a 2 GiB string, float64
    weights) is refused, and members load() has no use for are left unread, however big.
    The parameters' shapes are those of the network the configuration names, so it is read first.
    """
    from svd.spectrum import MEL_BANDS
    known = set()
    with zipfile.ZipFile(path) as archive:
        param_shapes = _param_shapes(path, _stored_config(archive))
        for info in archive.infolist():
            key = info.filename[:-len(".npy")] if info.filename.endswith(".npy") else info.filename
            parts = key.split("/")
            if key in ("mean", "std"):
                shape_wanted, dtype_wanted = (MEL_BANDS,), "float32"
            elif key == "threshold":
                shape_wanted, dtype_wanted = (), "a float"
            elif key in TEXT_MEMBERS:
                shape_wanted, dtype_wanted = (), "text"
            elif parts[-1] in param_shapes and (parts[0] in ("param", "velocity", "moment2") and len(parts) == 2
                                                or parts[0] == "bag" and len(parts) == 3 and parts[1].isdigit()):
                shape_wanted, dtype_wanted = param_shapes[parts[-1]], "float32"
            else:
                continue  # not ours: never read
            shape, dtype = _header(archive, info)
            dtype_ok = {"float32": dtype == np.float32, "a float": dtype.kind == "f",
                        "text": dtype.kind == "U" and dtype.itemsize <= MAX_TEXT_BYTES}[dtype_wanted]
            if shape != shape_wanted or not dtype_ok:
                what = f"has shape {shape}, not {shape_wanted}" if shape != shape_wanted else \
                    f"is {dtype}, not {dtype_wanted}"
                raise InputError(f"{path}: not a usable model file ({key} {what}); retrain the model or pick the "
                                 "right file.")
            known.add(key)
    return known


def _header(archive, info):
    """(shape, dtype) that the .npy header of the archive member `info` declares (its data is not read)."""
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, _, dtype = header(member)
    return shape, dtype


def _stored_config(archive):
    """The archive's configuration as a dict, or {} where it is missing, too big or not a JSON object
    (load() then refuses the file, after this has served only to pick the parameters' shapes)."""
    try:
        info = archive.getinfo("config.npy")
        shape, dtype = _header(archive, info)
        if shape != () or dtype.kind != "U" or dtype.itemsize > MAX_TEXT_BYTES:
            return {}
        with archive.open(info) as member:
            config = json.loads(str(np.lib.format.read_array(member, allow_pickle=False)))
    except (KeyError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _provenance(arrays):
    """The stored provenance dict; {} where there is none or it is not a JSON object (it is only a record:
    a model whose record was damaged still works)."""
    try:
        found = json.loads(str(arrays["provenance"])) if "provenance" in arrays else {}
    except ValueError:
        found = {}
    return found if isinstance(found, dict) else {}


# Sane ranges of what a model file holds: log-mel values lie within about ±20 (log of 1e-7 is -16)
# and svd/normalise.py floors the deviations at 1e-6 (a denormal one is damage); trained weights stay within about ±10.
# Beyond these, the network's output overflows into NaN.
MIN_STD = 1e-7  # below the floor, so the floor itself (float32 0.99999e-6) passes
MAX_STATISTIC = 1e3
MAX_WEIGHT = 1e4


def _check_contents(path, arrays, params, config):
    """InputError naming the first entry that is missing or whose values are out of range.

    Shapes and dtypes were checked on the members' headers before reading (`_members_to_read`).
    """
    required = [*(f"param/{name}" for name in _param_shapes(path, config)), "mean", "std", "threshold", "config"]
    problems = [f"no {key}" for key in required if key not in arrays]
    if not problems and not (np.all((arrays["std"] >= MIN_STD) & (arrays["std"] <= MAX_STATISTIC))
                             and np.all(np.abs(arrays["mean"]) <= MAX_STATISTIC)):
        problems.append("its normalisation statistics are not finite, positive log-mel values")
    if not problems and not all(np.all(np.isfinite(value)) for value in params.values()):
        problems.append("its weights are not all finite numbers: the training diverged")
    if not problems and not all(np.all(np.abs(value) <= MAX_WEIGHT) for value in params.values()):
        problems.append(f"some weights exceed {MAX_WEIGHT:g} in size, which no training gives")
    if problems:
        raise InputError(f"{path}: not a usable model file ({'; '.join(problems[:3])}); retrain the model or "
                         "pick the right file.")
