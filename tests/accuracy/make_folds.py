"""Make the three song-level folds of the accuracy protocol (see README.md): DATA OUT.

OUT/data: the corpus (audio/ and labels/ linked to DATA's) with filelists fold1..fold3,
for `run.py ablate --folds`; OUT/ref_f<k>: the same songs as train/valid/test filelists
for the reference implementation (valid = test: its threshold is not used).
"""
import pathlib
import sys

FOLDS = {
    "fold1": ["Yuanan_-_Miedo_-_Yuanan.mp3", "Fantasma_-_Los_Rombos.mp3"],
    "fold2": ["Confession_-_Quesabe.mp3", "Séculaire_feat._Nÿme_-_saru.mp3"],
    "fold3": ["te_amo_-_fabios_la_nueva_expresion_de_la_cancion.mp3", "de_bonne_humeur_-_Le_Nez_Tordu.mp3"],
}


def corpus(folder, source, filelists):
    (folder / "filelists").mkdir(parents=True, exist_ok=True)
    for part in ("audio", "labels"):
        if not (folder / part).exists():
            (folder / part).symlink_to((source / part).resolve())
    for name, songs in filelists.items():
        (folder / "filelists" / name).write_text("".join(song + "\n" for song in songs), encoding="utf-8")


def main(source, out):
    source, out = pathlib.Path(source), pathlib.Path(out)
    corpus(out / "data", source, FOLDS)
    for k, (fold, songs) in enumerate(FOLDS.items(), start=1):
        others = [song for other, listed in FOLDS.items() if other != fold for song in listed]
        corpus(out / f"ref_f{k}", source, {"train": others, "valid": songs, "test": songs})


if __name__ == "__main__":
    main(*sys.argv[1:3])
