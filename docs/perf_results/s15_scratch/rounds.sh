#!/usr/bin/env bash
# Session 15's benchmark rounds on one machine, one after another (nothing else running), from the repository root:
#   bash docs/perf_results/s15_scratch/rounds.sh N [T]    # round N of each part (training: round T, default N)
# Needs EBMLAB_JAX_PYTHON (a venv with jax, blackjax) for the peers. Round 1 ran its parts as separate commands (the
# same arguments) and three training rounds; round 2 (--peers after, as before this session: the peers ran after all
# rows) was stopped after its first part; rounds 3 on ran at the commit that made --peers interleaved the default.
set -euo pipefail
n=${1:?round number}
t=${2:-$n}
R=docs/perf_results
export OMP_NUM_THREADS=1
py=${PYTHON:-.venv/bin/python}
common=(--malloc tuned --clock cpu --threads 1 --repeats 5)
$py benchmarks/samplers_user.py --energies mlp,mlp-module,mlp-module-onednn --only ula,mala,hmc "${common[@]}" \
    --json $R/samplers_cpu_s15_user_module_$n.json
$py benchmarks/samplers_user.py --cases mog8:128,many-well:128 --only ula,mala,hmc --capture auto,compile "${common[@]}" \
    --json $R/samplers_cpu_s15_cheap_compile_$n.json
$py benchmarks/samplers_user.py --energies mlp-module --chains 128,4096 --only ula,mala,hmc --capture auto,compile \
    "${common[@]}" --json $R/samplers_cpu_s15_module_compile_$n.json
$py benchmarks/training.py --workloads cd-short-user,cd-short,bg --steps 200 --repeats 7 --json $R/training_cpu_s15_$t.json
