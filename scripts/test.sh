#!/usr/bin/env bash
# Set up .venv with the test extras and run every check: unit tests, notebooks (small mode,
# under nbval), stripped-notebook check, the Binder replay (binder/ in a fresh venv, notebook 00
# run in it: scripts/binder_replay.sh), then the real-browser tests (tests/e2e: the widgets in
# JupyterLab and the README's run command's HTML report, in headless chromium) and the napari
# viewers under Xvfb (tests/gui). Extra arguments go to the unit-test pytest run.
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
echo "== Binder replay (binder/ as repo2docker uses it, in a fresh venv; notebook 00 run in it)"
bash scripts/binder_replay.sh
echo "== browser (JupyterLab and the HTML report in chromium; screenshots in e2e-artifacts/)"
"$py" -m pytest tests/e2e -m e2e -p no:cacheprovider -p no:napari -o addopts="--strict-markers" -rs
echo "== napari viewers (Xvfb; screenshots in e2e-artifacts/viewers/)"
QT_QPA_PLATFORM=xcb xvfb-run -a "$py" -m pytest tests/gui -m gui -p no:cacheprovider -o addopts="--strict-markers" -rs
