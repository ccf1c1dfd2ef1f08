#!/usr/bin/env bash
# Set up .venv with the test extras and run every check: unit tests, notebooks (small mode,
# under nbval), stripped-notebook check, then the real-browser test of the widgets (JupyterLab +
# headless chromium, tests/e2e) and the napari viewers under Xvfb (tests/gui). Extra arguments go
# to the unit-test pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system_deps.sh  # chromium, xvfb, Qt/GL libraries: apt-get install when missing (as root)
bash scripts/setup.sh test,viewer
py=.venv/bin/python
export MATDYN_NB_MODE=small TQDM_DISABLE=1
shopt -s nullglob
notebooks=(notebooks/*.ipynb)

echo "== unit tests"
"$py" -m pytest tests -p no:cacheprovider "$@"  # addopts leave out the slow and e2e marks
if [ ${#notebooks[@]} -gt 0 ]; then
  echo "== notebooks"
  "$py" -m nbstripout --verify "${notebooks[@]}"
  "$py" -m pytest "${notebooks[@]}" -p no:cacheprovider -p no:napari -o addopts="" \
    --nbval-lax --nbval-current-env --nbval-cell-timeout=900 --nbval-kernel-startup-timeout=120 \
    --nbval-sanitize-with notebooks/nbval_sanitize.cfg
fi
echo "== browser (JupyterLab + chromium; screenshots in e2e-artifacts/)"
"$py" -m pytest tests/e2e -m e2e -p no:cacheprovider -p no:napari -o addopts="--strict-markers" -rs
echo "== napari viewers (Xvfb; screenshots in e2e-artifacts/viewers/)"
QT_QPA_PLATFORM=xcb xvfb-run -a "$py" -m pytest tests/gui -m gui -p no:cacheprovider -o addopts="--strict-markers" -rs
