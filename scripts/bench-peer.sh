#!/usr/bin/env bash
# Runs one training step in GAN Studio's engine and in PyTorch, in one go
# and alternating, and prints both medians and their ratio.
#   PRESET=ref32 (default): the plain DCGAN step, bench/peer/dcgan_ref32.py.
#   PRESET=studio32 or studio64: the studio's default step (augmentation at
#   a fixed strength of 0.5, mirrored data, the weight average),
#   bench/peer/studio.py.
# THREADS (default 1) is both sides' thread count: OpenBLAS's and PyTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."
py=/usr/bin/python3 # Debian's python3-torch lives in the system Python
"$py" -c 'import torch' 2>/dev/null || { echo "bench-peer needs Debian's python3-torch: apt-get install python3-torch" >&2; exit 1; }
rounds=${ROUNDS:-3}
steps=${STEPS:-10}
preset=${PRESET:-ref32}
threads=${THREADS:-1}
case "$preset" in
  ref32) peer=(bench/peer/dcgan_ref32.py --threads "$threads"); extra=() ;;
  studio32|studio64) peer=(bench/peer/studio.py --res "${preset#studio}" --p 0.5 --threads "$threads"); extra=(--augment 0.5) ;;
  *) echo "bench-peer: PRESET must be ref32, studio32 or studio64" >&2; exit 2 ;;
esac
go_ms=(); py_ms=()
for r in $(seq "$rounds"); do
  g=$(OPENBLAS_NUM_THREADS="$threads" GOMAXPROCS="$threads" ./bin/ganstudio bench --json --steps "$steps" --preset "$preset" "${extra[@]}")
  p=$("$py" "${peer[@]}" --steps "$steps")
  go_ms+=("$(echo "$g" | sed -E 's/.*"step_ms_median":([0-9.]+).*/\1/')")
  py_ms+=("$(echo "$p" | sed -E 's/.*"step_ms_median": ([0-9.]+).*/\1/')")
  echo "round $r: ganstudio ${go_ms[-1]} ms, pytorch ${py_ms[-1]} ms" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
gm=$(median "${go_ms[@]}"); pm=$(median "${py_ms[@]}")
echo "$g" | sed -E 's/.*"blas":"([^"]*)".*/engine: ganstudio (\1)/'
printf '%s step (one D + one G update, batch 64), median of %d rounds × %d steps, %s thread(s) each\n' "$preset" "$rounds" "$steps" "$threads"
printf '  ganstudio  %8.1f ms\n  pytorch    %8.1f ms   (%s)\n' "$gm" "$pm" "$(echo "$p" | sed -E 's/.*"engine": "([^"]*)".*/\1/')"
awk -v g="$gm" -v p="$pm" 'BEGIN { printf "  ratio ganstudio/pytorch: %.2f (below 1 means faster than PyTorch)\n", g/p }'
