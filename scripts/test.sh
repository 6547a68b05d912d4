#!/usr/bin/env bash
# Set up .venv with the development tools and run the whole test suite:
# every notebook, notebook/library sync and cleanliness, the CLI, papermill, kills and bad inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh dev
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} MPLBACKEND=Agg
exec .venv/bin/python -m pytest tests -q -p no:cacheprovider --durations=30 "$@"
