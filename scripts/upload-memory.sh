#!/usr/bin/env bash
# The studio's peak memory while N worst-case uploads arrive at once: each a
# PNG of 8192×8192 16-bit RGBA pixels (inside the default pixel limits) that
# compresses to about half a megabyte.
#   scripts/upload-memory.sh [N] [BINARY]   (default: 4, bin/ganstudio)
# Prints the server's resident memory before, at its peak (VmHWM) and after,
# and what each upload answered.
set -euo pipefail
n=${1:-4}
bin=${2:-bin/ganstudio}
cd "$(dirname "$0")/.."
[ -x "$bin" ] || { echo "build $bin first (make build)" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
python3 - "$work/big.png" <<'PY'
import struct, sys, zlib
w = h = 8192
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
z = zlib.compressobj(9)
row = b"\0" + bytes(w * 8)  # filter byte, then 16-bit RGBA zeros (transparent black)
idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)))
    f.write(chunk(b"IDAT", idat) + chunk(b"IEND", b""))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$work/data" --addr "127.0.0.1:$port" --no-worker >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/api/datasets" && break; sleep 0.1; done
rss() { awk -v k="$1:" '$1==k {printf "%.0f", $2/1024}' /proc/$pid/status; }
echo "upload: $(du -k "$work/big.png" | cut -f1) KB PNG, 8192x8192 16-bit RGBA; $n at once"
echo "rss before: $(rss VmRSS) MB"
for i in $(seq "$n"); do
  curl -s -o "$work/answer-$i" -w "%{http_code}\n" -F "name=big $i" -F "files=@$work/big.png" "http://127.0.0.1:$port/api/datasets" >"$work/code-$i" &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
sleep 1
echo "rss peak:   $(rss VmHWM) MB"
echo "rss after:  $(rss VmRSS) MB"
for i in $(seq "$n"); do echo "upload $i: $(cat "$work/code-$i") $(head -c 160 "$work/answer-$i")"; done
