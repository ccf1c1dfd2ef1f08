#!/usr/bin/env bash
# Replay what repo2docker (the Binder image builder) does with binder/, in a fresh virtual
# environment, then run a notebook in it headless: a missing dependency, a package file left out
# of the wheel or a broken postBuild fails here rather than for the first user of the Binder link.
#   1. binder/runtime.txt (python-X.Y): the venv is made with Python X.Y (tests/test_package.py
#      checks X.Y against pyproject's requires-python)
#   2. pip install -r binder/requirements.txt, as repo2docker does (an --extra-index-url that this
#      machine cannot reach is left out, said so; unlike repo2docker, with pip's cache and no .pyc)
#   3. ./binder/postBuild in a copy of the repository as git would hand it to repo2docker (tracked
#      and untracked files, less the ignored ones), the venv's python first on PATH: it installs the
#      package itself, not editable, so the run below uses the wheel's files, not the source tree
#   4. binder/start wraps the command, as Binder's entrypoint: the run takes its mode from start's
#      MATDYN_NB_MODE, from a folder outside the repository
# Not replayed: the Docker image, the JupyterLab the Binder base image brings, its memory limit.
# Usage: bash scripts/binder_replay.sh [NOTEBOOK]   (default: notebooks/00_getting_started.ipynb)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
notebook=$(realpath --relative-to=. "${1:-notebooks/00_getting_started.ipynb}")
t0=$SECONDS
say() { echo "binder_replay: $*"; }
fail() { echo "binder_replay: $*" >&2; exit 1; }
quiet() {  # run "$@"; show its output (less pip's notes on absent local mirrors) only when it fails
  "$@" > "$work/log" 2>&1 || { grep -v "is neither a file nor a directory" "$work/log" >&2; fail "$* failed"; }
}

runtime=$(tr -d '[:space:]' < binder/runtime.txt)
[[ $runtime =~ ^python-([0-9]+)\.([0-9]+)$ ]] || fail "binder/runtime.txt must read python-X.Y, not '$runtime'"
version="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
python=""
for candidate in "python$version" python3 python; do
  if command -v "$candidate" >/dev/null &&
    "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" 2>/dev/null; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || fail "binder/runtime.txt asks for Python $version; there is no python$version here"

work=$(mktemp -d "${TMPDIR:-/tmp}/binder_replay.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/repo"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/repo"
else
  tar --exclude=.venv -cf - . | tar -xf - -C "$work/repo"
fi
cd "$work/repo"
[ -x binder/postBuild ] || fail "binder/postBuild is not executable (git update-index --chmod=+x binder/postBuild)"
[ -x binder/start ] || fail "binder/start is not executable (git update-index --chmod=+x binder/start)"
"$python" -m venv "$work/venv"
export VIRTUAL_ENV="$work/venv" PATH="$work/venv/bin:$PATH"
requirements=binder/requirements.txt
for url in $(sed -n 's/^--extra-index-url[ =]*//p' binder/requirements.txt); do
  if ! python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" "$url" 2>/dev/null; then
    say "$url cannot be reached from here: installing without it"
    grep -v -F -- "$url" "$requirements" > "$work/requirements.txt"
    requirements="$work/requirements.txt"
  fi
done
say "Python $version venv; pip install -r binder/requirements.txt"
quiet python -m pip install --disable-pip-version-check --no-compile -q -r "$requirements"  # no .pyc: faster, same files
t1=$SECONDS
say "./binder/postBuild"
quiet ./binder/postBuild
t2=$SECONDS
cd "$work"  # outside the repository: python -m matdyn_nb must import the installed package
installed=$(python -c "import matdyn_nb; print(matdyn_nb.__file__)") || fail "matdyn_nb is not importable after postBuild"
case "$installed" in "$repo"/* | "$work/repo"/*) fail "matdyn_nb imports from the source tree ($installed), not from the venv";; esac
say "binder/start python -m matdyn_nb run $(basename "$notebook") (matdyn_nb from $(dirname "$installed"))"
env -u MATDYN_NB_MODE "$work/repo/binder/start" bash -c \
  'echo "binder_replay: start set MATDYN_NB_MODE=$MATDYN_NB_MODE"; exec python -m matdyn_nb run "$1" --mode "$MATDYN_NB_MODE" --out report' \
  _ "$work/repo/$notebook"
[ -s "report/$(basename "${notebook%.ipynb}").html" ] || fail "no report written"
say "ok in $((SECONDS - t0)) s: venv and requirements $((t1 - t0)) s, postBuild $((t2 - t1)) s, notebook $((SECONDS - t2)) s"
