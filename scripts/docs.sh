#!/usr/bin/env bash
# Build the documentation site offline, without Quarto:   bash scripts/docs.sh   -> _book/_build/html/index.html
#
# 1. nbdev processes the notebooks into _proc/, the step `nbdev_docs` runs before Quarto (what
#    `nbdev_proc_nbs` does, less its attempt to install Quarto and its rewrite of
#    geoinversion/_modidx.py, which nbdev_export keeps up to date): exported code hidden, `show_doc`
#    signature and docstring added for every exported function and class, directives removed.
#    Only the cells that import or export are run (the notebooks keep their outputs); a notebook
#    changed since the last build is processed again, the others are taken from _proc/.
# 2. scripts/docs_nbs.py turns what is Quarto's in them (front matter, `#| echo: false` and other
#    cell options) into what myst-nb understands (title cell, remove-input/remove-output/... tags).
# 3. Jupyter Book 1 (Sphinx + myst-nb, in .venv-docs) renders them with the outputs they keep
#    (nothing is executed), formulas by MathJax served from the site itself (sphinx-mathjax-offline).
# The table of contents is made from the notebooks present, in their numbered order.
# Quarto users run `nbdev_docs` instead: it uses the same _proc/ and the top-level _quarto.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/nbdev_export ] || bash scripts/env.sh dev
docs_reqs=("jupyter-book>=1,<2" "sphinx-mathjax-offline>=0.0.2,<0.1")
if [ ! -x .venv-docs/bin/python ]; then
  "$PY" -m venv .venv-docs
  .venv-docs/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv-docs/.docs-$(echo "${docs_reqs[*]}" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "installing ${docs_reqs[*]} into .venv-docs ..."
  .venv-docs/bin/python -m pip install -q "${docs_reqs[@]}"
  touch "$stamp"
fi

# 1. nbdev: nbs/ -> _proc/ (nbs/_quarto.yml, nbdev.yml and styles.css are links to the top-level files)
echo "processing the notebooks with nbdev into _proc/ ..."
# (python -c, not a script on stdin: proc_nbs's worker processes re-import the main module)
TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} MPLBACKEND=Agg .venv/bin/python -c '
from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
from nbdev.serve import proc_nbs
refresh_quarto_yml()            # nbdev.yml from settings.ini
nbdev_sidebar.__wrapped__()     # nbs/sidebar.yml (git-ignored), for Quarto
proc_nbs()                      # a failing notebook stops the build with its cell and error
'

# 2. _proc/ -> _book/src/
src=_book/src
rm -rf "$src" && mkdir -p "$src/_static"
.venv-docs/bin/python scripts/docs_nbs.py _proc "$src" nbs
cp styles.css "$src/_static/geoinversion.css"
title=$(sed -n 's/^title *= *//p' settings.ini); description=$(sed -n 's/^description *= *//p' settings.ini)
git_url=$(sed -n 's/^git_url *= *//p' settings.ini)
cat > "$src/_config.yml" <<YML
title: "$title"
author: "$title developers"
copyright: "$(date +%Y)"
only_build_toc_files: true
execute:
  execute_notebooks: "off"
parse:
  myst_enable_extensions: [amsmath, colon_fence, dollarmath, html_image, linkify, substitution, tasklist]
repository:
  url: "$git_url"
  branch: main
html:
  use_repository_button: false
  extra_footer: "$description"
sphinx:
  extra_extensions: [sphinx-mathjax-offline]
  config:
    html_show_copyright: false
    mathjax_path: mathjax/tex-chtml.js
    nb_render_markdown_format: myst
    suppress_warnings: ["myst.header", "mystnb.unknown_mime_type"]
YML
{
  echo "format: jb-book"
  echo "root: index"
  echo "chapters:"
  for nb in "$src"/[0-9]*.ipynb; do echo "- file: $(basename "${nb%.ipynb}")"; done
} > "$src/_toc.yml"

# 3. Jupyter Book -> _book/_build/html
.venv-docs/bin/jupyter-book build "$src" --path-output _book --builder html -q "$@"
echo "site: _book/_build/html/index.html"
