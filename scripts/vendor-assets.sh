#!/usr/bin/env bash
# Vendor the browser libraries the studio serves into assets/vendor/, from
# the npm registry, with their licences. Run it to update; the results are
# committed, so builds and browsers never fetch them.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX_VERSION=2.0.8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "htmx.org@$HTMX_VERSION")
mkdir -p assets/vendor
cp "$tmp/node_modules/htmx.org/dist/htmx.min.js" assets/vendor/htmx.min.js
cp "$tmp/node_modules/htmx.org/LICENSE" assets/vendor/htmx.LICENSE
echo "htmx.org $HTMX_VERSION (npm), BSD Zero Clause License: see htmx.LICENSE" > assets/vendor/README
ls -l assets/vendor
