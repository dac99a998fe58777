#!/usr/bin/env bash
# One benchmark against two libraries in alternating processes: the old one from OLD_SRC (a git worktree's src), the
# new one from the working tree. Writes <prefix>_{old,new}_<round>.json here; summarize_ab.py reads them.
#   bash docs/perf_results/s21/alternate.sh PREFIX OLD_SRC ROUNDS -- <samplers_user.py arguments>
set -euo pipefail
cd "$(dirname "$0")/../../.."
prefix=$1 old_src=$2 rounds=$3
shift 4
out=docs/perf_results/s21
for r in $(seq 1 "$rounds"); do
  PYTHONPATH=$old_src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/samplers_user.py "$@" \
    --json "$out/${prefix}_old_$r.json" > /dev/null
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/samplers_user.py "$@" --json "$out/${prefix}_new_$r.json" > /dev/null
  echo "round $r done"
done
