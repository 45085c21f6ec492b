#!/usr/bin/env bash
# Fails if web/*_templ.go are not what `templ generate` makes of the
# web/*.templ beside them (someone edited a .templ and did not regenerate,
# or edited generated code by hand). Works on a copy: the tree is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/web"
cp web/*.templ web/*_templ.go "$tmp/web/"
# Generated code names its source relative to where templ runs: run it the
# same way from the copy's root, with the tool go.mod pins.
templ=$(go tool -n templ)
(cd "$tmp" && "$templ" generate >/dev/null 2>&1)
status=0
for f in "$tmp"/web/*_templ.go; do
  if ! cmp -s "$f" "web/$(basename "$f")"; then
    echo "web/$(basename "$f") is stale: run 'make generate' and commit it" >&2
    status=1
  fi
done
for f in web/*_templ.go; do
  [ -e "$tmp/web/$(basename "$f")" ] || { echo "$f has no .templ source" >&2; status=1; }
done
exit $status
