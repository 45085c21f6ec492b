#!/usr/bin/env bash
# scale-demo.sh: the README's "Scale out" example on one Linux machine, as
# root: three network namespaces (each with its own pid namespace for the
# workers) stand in for three machines; this machine is the database and
# storage host. It starts Postgres (password auth over the network) and
# versitygw on 10.77.0.1, `ganstudio serve --no-worker` in "web"
# (10.77.0.10:8080) and `ganstudio worker` in "gpu1" and "gpu2", each with a
# local folder of its own, prints the commands it ran, and leaves it all
# running until Enter is pressed (open http://10.77.0.10:8080 meanwhile).
#
#   scripts/scale-demo.sh [--migrate DATA]   (DATA: an embedded studio to move in first)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "scale-demo: run as root (network namespaces)"; exit 1; }
migrate=""
[ "${1:-}" = --migrate ] && migrate="$2"
make -s build
bin="$PWD/bin/ganstudio"
demo="$(mktemp -d /tmp/ganstudio-demo.XXXXXX)"
chmod 755 "$demo"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | tail -1)"
vgw="${XDG_CACHE_HOME:-$HOME/.cache}/ganstudio-scale/bin/versitygw"
[ -x "$vgw" ] || (cd /tmp && GOBIN="$(dirname "$vgw")" GOFLAGS=-mod=mod go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -TERM -f -- "--data $demo/" 2>/dev/null || true # the studio processes behind unshare
  wait 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$demo/pg" -m fast -w stop >/dev/null 2>&1 || true
  for ns in web gpu1 gpu2; do ip netns del "gs-$ns" 2>/dev/null || true; done
  ip link del gs-br 2>/dev/null || true
  rm -rf "$demo"
}
trap cleanup EXIT
say() { printf '\n$ %s\n' "$*"; }

# The network: a bridge on this host, one veth into each "machine".
ip link add gs-br type bridge && ip addr add 10.77.0.1/24 dev gs-br && ip link set gs-br up
n=10
for ns in web gpu1 gpu2; do
  ip netns add "gs-$ns"
  ip link add "gs-$ns-h" type veth peer name eth0 netns "gs-$ns"
  ip link set "gs-$ns-h" master gs-br up
  ip -n "gs-$ns" addr add "10.77.0.$n/24" dev eth0
  ip -n "gs-$ns" link set eth0 up
  ip -n "gs-$ns" link set lo up
  n=$((n + 1))
done

# The database host: Postgres with a password for the studio's role.
mkdir "$demo/pg" && chown postgres: "$demo/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$demo/pg" -U postgres -A peer --no-sync >/dev/null
echo "host ganstudio ganstudio 10.77.0.0/24 scram-sha-256" >>"$demo/pg/pg_hba.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$demo/pg" -l "$demo/pg/log" -w \
  -o "-c listen_addresses=10.77.0.1 -p 5432 -k $demo/pg -c fsync=off" start >/dev/null
say "createuser --pwprompt ganstudio; createdb --owner ganstudio ganstudio"
runuser -u postgres -- psql -q -h "$demo/pg" -c "CREATE ROLE ganstudio LOGIN PASSWORD 'demo-password'" -c "CREATE DATABASE ganstudio OWNER ganstudio"
# The storage host: an S3-compatible server with one bucket.
mkdir -p "$demo/s3/studio"
say "versitygw --port 10.77.0.1:7070 posix /srv/s3   # any S3-compatible storage will do; bucket: studio"
ROOT_ACCESS_KEY=studio-key ROOT_SECRET_KEY=studio-secret-key "$vgw" --port 10.77.0.1:7070 --quiet posix "$demo/s3" &
pids+=($!)
sleep 0.5

# What every studio process is given (a systemd EnvironmentFile).
cat >"$demo/ganstudio.env" <<EOF
GANSTUDIO_DATABASE=postgres://ganstudio:demo-password@10.77.0.1:5432/ganstudio
GANSTUDIO_BLOBS=s3://studio/main?endpoint=http://10.77.0.1:7070
AWS_ACCESS_KEY_ID=studio-key
AWS_SECRET_ACCESS_KEY=studio-secret-key
EOF
say "cat /etc/ganstudio.env"; cat "$demo/ganstudio.env"
set -a; . "$demo/ganstudio.env"; set +a
if [ -n "$migrate" ]; then
  say "ganstudio migrate --from $migrate --to \$GANSTUDIO_DATABASE --to \$GANSTUDIO_BLOBS"
  ip netns exec gs-web "$bin" migrate --from "$migrate" --to "$GANSTUDIO_DATABASE" --to "$GANSTUDIO_BLOBS"
fi
# Reachable from other machines, the studio asks everyone to sign in: the
# first admin is made on the command line, and a token for scripts.
mkdir -p "$demo/web"
say "ganstudio user add --admin ann    # asks for the password (or reads it from standard input)"
printf 'demo-password-1\n' | "$bin" user add --admin --data "$demo/web" ann
say "ganstudio token add --user ann"
token="$("$bin" token add --user ann --name demo --data "$demo/web")"
echo "$token"
on() { local ns=$1; shift; ip netns exec "gs-$ns" unshare --pid --fork --kill-child=SIGTERM --mount-proc "$@"; }
mkdir -p "$demo/web" "$demo/gpu1" "$demo/gpu2"
say "web:  ganstudio serve --addr 10.77.0.10:8080 --no-worker --data /var/lib/ganstudio"
on web "$bin" serve --addr 10.77.0.10:8080 --no-worker --data "$demo/web" 2>"$demo/web.log" &
pids+=($!)
for w in gpu1 gpu2; do
  say "$w: ganstudio worker --data /var/lib/ganstudio"
  on "$w" "$bin" worker --data "$demo/$w" 2>"$demo/$w.log" &
  pids+=($!)
done
for _ in $(seq 100); do curl -sf -H "Authorization: Bearer $token" http://10.77.0.10:8080/api/datasets >/dev/null && break; sleep 0.2; done
echo
echo "studio: http://10.77.0.10:8080 (sign in as ann, password demo-password-1)   logs: $demo/{web,gpu1,gpu2}.log"
echo "API: curl -H 'Authorization: Bearer $token' http://10.77.0.10:8080/api/runs"
echo "workers' pids (kill -9 one to see its run move): $(pgrep -f "$bin worker" | tr '\n' ' ')"
if [ -t 0 ]; then read -rp "Enter stops it all. "; else sleep "${DEMO_SECONDS:-600}"; fi
