#!/usr/bin/env bash
# Sessions 17-20 changed the chain loop for the GPU path (deferred finiteness checks, BlockCheck, queued reads).
# Did the CPU path slow down? The same benchmark script against the library at 25defaf (end of session 16) and at
# b344f5c, in alternating processes, five rounds; one thread, tuned allocator, CPU clock.
#   git worktree add /tmp/old16 25defaf --detach
#   bash docs/perf_results/s21/driver_ab.sh [rounds]
exec bash "$(dirname "$0")/alternate.sh" driver_ab /tmp/old16/src "${1:-5}" -- \
  --cases mog8:128,many-well:128,mlp:128,mlp:4096 --only ula,mala,hmc,kinetic --repeats 3 --clock cpu --jax off \
  --malloc tuned
