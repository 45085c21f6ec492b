#!/usr/bin/env bash
# scale-env.sh run CMD…: run CMD with a throwaway Postgres cluster and a real
# S3-compatible server (versitygw over a temporary folder) started for it,
# and stop both at the end. CMD sees
#   GANSTUDIO_TEST_POSTGRES  postgres://… of a database it may use whole
#   GANSTUDIO_TEST_S3        s3://ganstudio-test?endpoint=http://… (the bucket exists)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY  the server's keys
#   GANSTUDIO_SCALE_ENV      this script, for the drills below
# scale-env.sh pg-stop|pg-start|s3-stop|s3-start: the failure drills (stop
# or start the servers of the running environment; tests call them).
#
# Postgres: Debian's postgresql (15), run as the postgres user when this runs
# as root (initdb refuses root), fsync off. versitygw v1.8.0 is installed once
# into a cache folder (not into go.mod: it would pull in ~80 modules).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${GANSTUDIO_SCALE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ganstudio-scale}"
vgw="$cache/bin/versitygw"
pgport="${GANSTUDIO_PG_PORT:-54329}"
s3port="${GANSTUDIO_S3_PORT:-7070}"
export AWS_ACCESS_KEY_ID=ganstudio-test AWS_SECRET_ACCESS_KEY=ganstudio-test-secret

pgbin() {
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  echo "scale-env: no Postgres server (Debian: apt-get install postgresql)" >&2
  exit 1
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_start() {
  as_pg "$PGBIN/pg_ctl" -D "$state/pg" -l "$state/pg.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $state/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
}
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$state/pg" -m fast -w stop >/dev/null; }

s3_start() {
  ROOT_ACCESS_KEY="$AWS_ACCESS_KEY_ID" ROOT_SECRET_KEY="$AWS_SECRET_ACCESS_KEY" \
    "$vgw" --port "127.0.0.1:$s3port" --quiet posix "$state/s3" >>"$state/s3.log" 2>&1 &
  echo $! >"$state/s3.pid"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "scale-env: versitygw did not start:" >&2; cat "$state/s3.log" >&2; return 1
}
s3_stop() {
  [ -f "$state/s3.pid" ] || return 0
  kill "$(cat "$state/s3.pid")" 2>/dev/null || true
  while kill -0 "$(cat "$state/s3.pid")" 2>/dev/null; do sleep 0.05; done
  rm -f "$state/s3.pid"
}

case "${1:-}" in
pg-stop|pg-start|s3-stop|s3-start)
  state="${GANSTUDIO_SCALE_DIR:?not inside scale-env.sh run}"
  PGBIN="$(pgbin)"
  case "$1" in pg-stop) pg_stop ;; pg-start) pg_start ;; s3-stop) s3_stop ;; s3-start) s3_start ;; esac
  exit 0 ;;
run) shift ;;
*) echo "usage: $0 run CMD… | pg-stop | pg-start | s3-stop | s3-start" >&2; exit 2 ;;
esac

PGBIN="$(pgbin)"
if [ ! -x "$vgw" ]; then
  echo "scale-env: installing versitygw v1.8.0 into $cache (once)"
  # Outside the project's module, so its go.mod is untouched.
  (cd /tmp && GOBIN="$cache/bin" GOFLAGS=-mod=mod go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)
fi
state="$(mktemp -d /tmp/ganstudio-scale.XXXXXX)"
chmod 755 "$state"
mkdir -p "$state/sock" "$state/s3/ganstudio-test"
[ "$(id -u)" = 0 ] && chown postgres: "$state/sock"
[ "$(id -u)" = 0 ] && { mkdir "$state/pg"; touch "$state/pg.log"; chown postgres: "$state/pg" "$state/pg.log"; }
cleanup() {
  s3_stop || true
  pg_stop 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$state/pg" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
pg_start
s3_start
export GANSTUDIO_SCALE_DIR="$state" GANSTUDIO_SCALE_ENV="$here/scale-env.sh"
export GANSTUDIO_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
export GANSTUDIO_TEST_S3="s3://ganstudio-test?endpoint=http://127.0.0.1:$s3port"
echo "scale-env: Postgres on 127.0.0.1:$pgport, versitygw on 127.0.0.1:$s3port"
"$@"
