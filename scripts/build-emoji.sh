#!/usr/bin/env bash
# Rebuilds datasets/builtin/emoji{32,64}.png from the npm package
# emoji-datasource-google (Noto Emoji images, Apache-2.0). Run from the repo root.
set -euo pipefail
version=16.0.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "emoji-datasource-google@$version" >/dev/null && tar xzf emoji-datasource-google-$version.tgz)
go run ./datasets/internal/mkemoji -pkg "$tmp/package" -out datasets/builtin
