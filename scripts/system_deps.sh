#!/usr/bin/env bash
# System packages for the browser and GUI tests, installed when missing (Debian/Ubuntu, as root):
#   chromium            the browser of tests/e2e (Playwright drives it through executable_path;
#                       `playwright install` downloads a browser and is never used)
#   xvfb xauth          a virtual display (xvfb-run) for the napari GUI tests
#   the Qt/GL libraries napari's Qt needs under Xvfb
# Without root or apt-get it only says what is missing and carries on: the e2e tests then skip,
# or fail when CI is set. Set MATDYN_NB_SKIP_SYSTEM_DEPS=1 to do nothing.
set -euo pipefail
[ -n "${MATDYN_NB_SKIP_SYSTEM_DEPS:-}" ] && exit 0
packages=(
  chromium xvfb xauth
  libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libdbus-1-3 libfontconfig1
)
missing=()
if command -v dpkg-query >/dev/null; then
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null | grep -q '^ii' || missing+=("$package")
  done
elif ! command -v chromium >/dev/null; then
  missing=("${packages[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system_deps: not installing (needs root and apt-get); missing: ${missing[*]}" >&2
  exit 0
fi
echo "system_deps: apt-get install ${missing[*]}"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "system_deps: apt-get failed; the tests that need these packages will skip (or fail under CI)" >&2
fi
echo "system_deps: $(chromium --version 2>/dev/null || echo 'no chromium')"
