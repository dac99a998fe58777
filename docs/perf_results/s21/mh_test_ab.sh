#!/usr/bin/env bash
# MALA and HMC test log α alone for non-finite proposals (base.clamp_log_alpha_) instead of a pass over E and ∇E
# (finite_rows): 22.4 -> 19.4 ops per MALA step beside E+∇E. The library before (b344f5c, checked out at
# /tmp/head21) against the working tree at 7cc4f43, alternating processes; one thread, tuned allocator, CPU clock.
#   git worktree add /tmp/head21 b344f5c --detach
#   bash docs/perf_results/s21/mh_test_ab.sh [rounds]
exec bash "$(dirname "$0")/alternate.sh" mh_test_ab /tmp/head21/src "${1:-6}" -- \
  --cases mog8:128,many-well:128,mlp:128,mlp:4096 --only mala,hmc --repeats 3 --clock cpu --jax off --malloc tuned
