#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install geoinversion into it.
#   bash scripts/env.sh          runtime requirements only
#   bash scripts/env.sh dev      plus the development tools (nbdev, pytest, papermill, JupyterLab, Playwright)
#                                and, as root where it is missing, Debian's chromium for the browser tests
# Reinstalls only when settings.ini (which lists the requirements) has changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:-}
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "geoinversion needs Python >= 3.10 (found: $("$PY" --version 2>&1))" >&2; exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.geoinversion-${extra:-runtime}-$(sha1sum settings.ini setup.py | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  target="."; [ "$extra" = dev ] && target=".[dev]"
  echo "installing geoinversion ($target) into .venv ..."
  .venv/bin/python -m pip install -q -e "$target"
  touch "$stamp"
fi
if [ "$extra" = dev ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium (the browser tests drive it through Playwright) ..."
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else
    echo "note: no chromium on PATH; the browser tests need it (Debian: apt-get install chromium)" >&2
  fi
fi
