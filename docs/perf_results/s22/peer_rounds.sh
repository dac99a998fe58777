#!/usr/bin/env bash
# Session 22's CPU rows with the JAX / BlackJAX peers interleaved (an AMD EPYC whose oneDNN GEMM is about twice MKL's):
# the MLP rows (MLPEnergy, a user's module as written, the module through onednn_linears) at 128 and 4096 chains,
# then the cheap rows at 128 chains with auto and compile. JAX 0.10.2 and BlackJAX 1.7.1 in their own venv:
#   EBMLAB_JAX_PYTHON=/path/to/jax-venv/bin/python bash docs/perf_results/s22/peer_rounds.sh 1 2 3   # the rounds
set -euo pipefail
R=docs/perf_results/s22
export OMP_NUM_THREADS=1
py=${PYTHON:-.venv/bin/python}
common=(--malloc tuned --clock cpu --threads 1 --repeats 5)
for n in "$@"; do
  $py benchmarks/samplers_user.py --energies mlp,mlp-module,mlp-module-onednn --only ula,mala,hmc "${common[@]}" \
      --json $R/samplers_cpu_s22_user_module_$n.json
  $py benchmarks/samplers_user.py --cases mog8:128,many-well:128 --only ula,mala,hmc --capture auto,compile \
      "${common[@]}" --json $R/samplers_cpu_s22_cheap_compile_$n.json
done
