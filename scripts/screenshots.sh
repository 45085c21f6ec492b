#!/usr/bin/env bash
# Screenshots of a running studio for the README, with Debian's Chromium:
#   scripts/screenshots.sh http://127.0.0.1:8080 RUN_ID
# (docs/ holds run 2 of a 500-step default emoji run, a few samples rated.)
set -euo pipefail
base=${1:?studio URL}
run=${2:?run id}
cd "$(dirname "$0")/.."
shot() {
  local dir
  dir=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$dir" --hide-scrollbars --window-size=1280,800 \
    --screenshot="$2" "$1" >/dev/null 2>&1
  rm -rf "$dir"
}
shot "$base/runs/$run" docs/screenshot-run.png
shot "$base/runs/$run/samples?step=$(curl -s "$base/api/runs/$run" | sed -n 's/.*"step":\([0-9]*\),"steps".*/\1/p')" docs/screenshot-gallery.png
ls -l docs/screenshot-*.png
