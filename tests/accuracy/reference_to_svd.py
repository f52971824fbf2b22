"""Convert a model of ../shared/tools/torch_reference.py into an svd model file.

    python tests/accuracy/reference_to_svd.py MODEL.pt DATA OUT.npz [--train-split train]

MODEL.pt: what torch_reference.py writes beside its --out JSON (or with --save).
The weights change only their axis order (reference_eval.svd_params); the
normalisation statistics are svd's, of DATA's training songs, so that svd's
evaluation (`run.py eval`, score.py) feeds the network what it was trained on
(the two feature pipelines agree after standardisation).
"""
import argparse
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from reference_eval import svd_params  # noqa: E402

from svd import dataset, normalise, spectrum  # noqa: E402
from svd import model_file  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pt", metavar="MODEL.pt")
    parser.add_argument("data", metavar="DATA")
    parser.add_argument("out", metavar="OUT.npz")
    parser.add_argument("--train-split", default="train")
    args = parser.parse_args(argv)
    songs = dataset.load_split(args.data, args.train_split, quiet=True)
    mean, std = normalise.band_statistics(spectrum.log_mel(song.linear) for song in songs)
    state = torch.load(args.pt, weights_only=False)
    model_file.save(args.out, model_file.Model(svd_params(state.get("state_dict", state)), mean, std,
                                               {"engine": "torch_reference", "source": str(args.pt)}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
