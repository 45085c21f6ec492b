#!/usr/bin/env bash
# Rebuilds datasets/builtin/openmoji{32,64}.png from the npm package openmoji
# (OpenMoji, CC BY-SA 4.0). The package ships SVGs only; rsvg-convert
# (Debian: librsvg2-bin) rasterises them. Run from the repo root.
set -euo pipefail
version=17.0.0
command -v rsvg-convert >/dev/null || { echo "build-openmoji: needs rsvg-convert (Debian: apt-get install librsvg2-bin)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "openmoji@$version" >/dev/null && tar xzf openmoji-$version.tgz)
cp "$tmp/package/LICENSE.txt" datasets/builtin/LICENSE-openmoji-CC-BY-SA-4.0.txt
go run ./datasets/internal/mkopenmoji -pkg "$tmp/package" -out datasets/builtin
