#!/bin/bash
# Row blocks A/B: samplers_user.py on mlp:4096 and conv:4096, "before" (a0f4f9b) and "after" (this checkout) in
# alternating processes (the allocator's history is per process).
#   git worktree add /tmp/before a0f4f9b
#   bash docs/perf_results/s14_scratch/rowblocks_ab.sh system 3     # glibc's malloc defaults, 3 rounds
#   bash docs/perf_results/s14_scratch/rowblocks_ab.sh tuned 2      # ebmlab.allocator.tune_malloc
# Session 14 ran "after" first in round 1 for system, "before" first for tuned; outputs were renamed to
# docs/perf_results/samplers_cpu_s14_rowblocks_{before,after}_{system,tuned}_N.json.
set -e
malloc=${1:-system}; rounds=${2:-2}; here=$(cd "$(dirname "$0")/../../.." && pwd)
for r in $(seq 1 "$rounds"); do
  for v in before after; do
    if [ $v = before ]; then src=/tmp/before/src; else src=$here/src; fi
    OMP_NUM_THREADS=1 PYTHONPATH=$src python "$here/benchmarks/samplers_user.py" --cases mlp:4096,conv:4096 \
      --malloc "$malloc" --jax off --clock cpu --threads 1 --repeats 5 --json "${v}_${malloc}_$r.json"
  done
done
