#!/usr/bin/env bash
# Create .venv with matdyn_nb installed (editable). Usage: bash scripts/setup.sh [EXTRAS]
#   EXTRAS: comma-separated pip extras, e.g. "test" or "test,viewer" (default: none)
# torch: installed first, CPU build. Here `pip install torch==2.13.0` takes the CPU wheel on
# disk. Elsewhere set MATDYN_TORCH_INDEX=https://download.pytorch.org/whl/cpu (or install torch
# into .venv yourself first: an importable torch is kept as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "matdyn_nb needs Python >= 3.11; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  "${pip[@]}" install "${MATDYN_TORCH:-torch==2.13.0}" ${MATDYN_TORCH_INDEX:+--index-url "$MATDYN_TORCH_INDEX"}
fi
"${pip[@]}" install -e ".${extras:+[$extras]}"
echo "matdyn_nb $(.venv/bin/python -c 'import matdyn_nb; print(matdyn_nb.__version__)') ready in .venv"
