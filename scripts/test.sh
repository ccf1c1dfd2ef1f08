#!/usr/bin/env bash
# Set up .venv with the test extras and run every check: unit tests, notebooks (small mode,
# under nbval), stripped-notebook check. Extra arguments go to the unit-test pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
py=.venv/bin/python
export MATDYN_NB_MODE=small TQDM_DISABLE=1
shopt -s nullglob
notebooks=(notebooks/*.ipynb)

"$py" -m pytest tests -p no:cacheprovider "$@"
if [ ${#notebooks[@]} -gt 0 ]; then
  "$py" -m nbstripout --verify "${notebooks[@]}"
  "$py" -m pytest "${notebooks[@]}" -p no:cacheprovider -p no:napari -o addopts="" \
    --nbval-lax --nbval-current-env --nbval-cell-timeout=900 --nbval-kernel-startup-timeout=120 \
    --nbval-sanitize-with notebooks/nbval_sanitize.cfg
fi
