#!/usr/bin/env bash
# Runs the ref32 training step in GAN Studio's engine and in PyTorch, in one
# go and alternating, and prints both medians and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
py=/usr/bin/python3 # Debian's python3-torch lives in the system Python
"$py" -c 'import torch' 2>/dev/null || { echo "bench-peer needs Debian's python3-torch: apt-get install python3-torch" >&2; exit 1; }
rounds=${ROUNDS:-3}
steps=${STEPS:-10}
go_ms=(); py_ms=()
for r in $(seq "$rounds"); do
  g=$(./bin/ganstudio bench --json --steps "$steps")
  p=$("$py" bench/peer/dcgan_ref32.py --steps "$steps")
  go_ms+=("$(echo "$g" | sed -E 's/.*"step_ms_median":([0-9.]+).*/\1/')")
  py_ms+=("$(echo "$p" | sed -E 's/.*"step_ms_median": ([0-9.]+).*/\1/')")
  echo "round $r: ganstudio $(echo "$g" | sed -E 's/.*"step_ms_median":([0-9.]+).*/\1/') ms, pytorch ${py_ms[-1]} ms" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
gm=$(median "${go_ms[@]}"); pm=$(median "${py_ms[@]}")
echo "$g" | sed -E 's/.*"blas":"([^"]*)".*/engine: ganstudio (\1)/'
printf 'ref32 step (one D + one G update, batch 64), median of %d rounds × %d steps\n' "$rounds" "$steps"
printf '  ganstudio  %8.1f ms\n  pytorch    %8.1f ms   (%s, 2 threads)\n' "$gm" "$pm" "$(echo "$p" | sed -E 's/.*"engine": "([^"]*)".*/\1/')"
awk -v g="$gm" -v p="$pm" 'BEGIN { printf "  ratio ganstudio/pytorch: %.2f (below 1 means faster than PyTorch)\n", g/p }'
