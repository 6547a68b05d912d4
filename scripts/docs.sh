#!/usr/bin/env bash
# Build the documentation site offline, without Quarto: Jupyter Book 1 (Sphinx + myst-nb) renders
# the notebooks in nbs/ with the outputs they keep (figures, tables); nothing is executed.
#   bash scripts/docs.sh            -> _book/html/index.html
# Quarto users can still run `nbdev_docs` (nbs/_quarto.yml). The table of contents is made from the
# notebooks present, in their numbered order, so a new notebook appears without editing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv-docs/bin/python ]; then
  "$PY" -m venv .venv-docs
  .venv-docs/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv-docs/.jupyter-book-1
if [ ! -f "$stamp" ]; then
  echo "installing jupyter-book<2 into .venv-docs ..."
  .venv-docs/bin/python -m pip install -q "jupyter-book>=1,<2"
  touch "$stamp"
fi
src=_book/src
rm -rf "$src" && mkdir -p "$src"
cp nbs/*.ipynb nbs/styles.css "$src"/
title=$(sed -n 's/^title *= *//p' settings.ini); description=$(sed -n 's/^description *= *//p' settings.ini)
git_url=$(sed -n 's/^git_url *= *//p' settings.ini)
cat > "$src/_config.yml" <<YML
title: "$title"
author: "$title developers"
copyright: "$(date +%Y)"
only_build_toc_files: true
execute:
  execute_notebooks: "off"
repository:
  url: "$git_url"
  branch: main
html:
  use_repository_button: false
  extra_footer: "$description"
sphinx:
  config:
    html_show_copyright: false
    suppress_warnings: ["myst.header", "mystnb.unknown_mime_type"]
YML
{
  echo "format: jb-book"
  echo "root: index"
  echo "chapters:"
  for nb in "$src"/[0-9]*.ipynb; do echo "- file: $(basename "${nb%.ipynb}")"; done
} > "$src/_toc.yml"
.venv-docs/bin/jupyter-book build "$src" --path-output _book --builder html -q "$@"
echo "site: _book/_build/html/index.html"
