#!/usr/bin/env bash
# The main job: set up .venv, train the shipped volcano example on the CPU, infer a coarse
# matrix, compare with least squares on held-out images, print the table and write figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} MPLBACKEND=Agg
# `geoinversion quickstart` fixes TensorFlow's threads and kernels: the same table on any machine for the same seed
out=${1:-quickstart_out}
.venv/bin/geoinversion synth --config volcano_mogi --out "$out/synth" --n 64 --subset test --seed 0 --overwrite
.venv/bin/geoinversion quickstart --out "$out" --seed 0 --overwrite
echo "figures: $out/synth/samples.png  $out/matrix/matrix.png   table: $out/quickstart.json"
