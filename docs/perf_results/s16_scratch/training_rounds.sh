#!/usr/bin/env bash
# Session 16's training rounds, from the repository root, nothing else running:
#   bash docs/perf_results/s16_scratch/training_rounds.sh N [fit|default]
# The bare loops use fit's own Adam implementation (foreach) unless "default" (PyTorch's CPU default, the
# per-parameter loop, as in every session before 16). Same arguments as session 15's rounds.sh otherwise.
set -euo pipefail
n=${1:?round number}
opt=${2:-fit}
suffix=$([ "$opt" = fit ] && echo "" || echo "_bare_default")
export OMP_NUM_THREADS=1
py=${PYTHON:-.venv/bin/python}
$py benchmarks/training.py --workloads cd-short-user,cd-short,bg --steps 200 --repeats 7 --bare-optimizer "$opt" \
    --json docs/perf_results/training_cpu_s16${suffix}_$n.json
