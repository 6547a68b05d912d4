#!/usr/bin/env bash
# The main job: set up .venv, generate samples of the shipped volcano dataset and draw them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
out=${1:-quickstart_out}
.venv/bin/geoinversion synth --dataset volcano_mogi --out "$out/synth" --n 256 --subset test --seed 0 --overwrite
echo "figure: $out/synth/samples.png   samples: $out/synth/samples.nc"
