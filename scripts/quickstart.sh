#!/usr/bin/env bash
# The main job: set up .venv, train the shipped volcano example on the CPU, infer a coarse
# matrix, compare with least squares on held-out images, print the table and write figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} MPLBACKEND=Agg
# The same table on any machine for the same seed: the training already asks TensorFlow for
# deterministic kernels, but a sum is split by thread count (TensorFlow takes one thread per core it
# sees) and oneDNN picks its kernels by the processor's instruction set. So: 2 threads whatever the
# cores, and TensorFlow's own (Eigen) kernels. Measured: 1 core vs 2 cores gave 1.15%/1.58% vs
# 1.30%/1.39% before, identical tables after.
export TF_NUM_INTRAOP_THREADS=${TF_NUM_INTRAOP_THREADS:-2} TF_NUM_INTEROP_THREADS=${TF_NUM_INTEROP_THREADS:-2}
export TF_ENABLE_ONEDNN_OPTS=${TF_ENABLE_ONEDNN_OPTS:-0}
out=${1:-quickstart_out}
.venv/bin/geoinversion synth --config volcano_mogi --out "$out/synth" --n 64 --subset test --seed 0 --overwrite
.venv/bin/geoinversion quickstart --out "$out" --seed 0 --overwrite
echo "figures: $out/synth/samples.png  $out/matrix/matrix.png   table: $out/quickstart.json"
