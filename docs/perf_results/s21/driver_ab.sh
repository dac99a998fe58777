#!/usr/bin/env bash
# Sessions 17-20 changed the chain loop for the GPU path (deferred finiteness checks, BlockCheck, queued reads).
# Did the CPU path slow down? The same benchmark script against the library at 25defaf (end of session 16) and at
# HEAD, in alternating processes, five rounds each; one thread, tuned allocator, CPU clock.
#   git worktree add /tmp/old16 25defaf --detach
#   bash docs/perf_results/s21/driver_ab.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=docs/perf_results/s21
rounds=${1:-5}
args=(--cases mog8:128,many-well:128,mlp:128,mlp:4096 --only ula,mala,hmc,kinetic --repeats 3 --clock cpu
      --jax off --malloc tuned)
for r in $(seq 1 "$rounds"); do
  PYTHONPATH=/tmp/old16/src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/samplers_user.py "${args[@]}" \
    --json "$out/driver_ab_old_$r.json" > /dev/null
  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/samplers_user.py "${args[@]}" --json "$out/driver_ab_new_$r.json" > /dev/null
  echo "round $r done"
done
