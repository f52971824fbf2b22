#!/bin/bash
# reference_fold.sh SEED FOLD OUT: train ../shared/tools/torch_reference.py on fold FOLD's
# training songs (OUT/ref_f<FOLD>, from make_folds.py) and evaluate it as ablate evaluates svd.
set -eu
s=$1; f=$2; out=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/ref_out"
python "$here/../../../shared/tools/torch_reference.py" --data "$out/ref_f$f" --updates 3000 --seed "$s" \
    --save "$out/ref_out/s${s}_f$f.pt" --out "$out/ref_out/s${s}_f$f.json" > "$out/ref_out/s${s}_f$f.log" 2>&1
python "$here/reference_eval.py" "$out/ref_out/s${s}_f$f.pt" "$s" "fold$f" "$out" >> "$out/ref_out/s${s}_f$f.log" 2>&1
