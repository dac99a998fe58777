#!/usr/bin/env bash
# Session 16's persistent-CD training rounds (the bare loops on fit's Adam), from the repository root, nothing else
# running:   bash docs/perf_results/s16_scratch/persistent_rounds.sh N
set -euo pipefail
n=${1:?round number}
export OMP_NUM_THREADS=1
py=${PYTHON:-.venv/bin/python}
$py benchmarks/training.py --workloads cd-persistent --steps 200 --repeats 7 \
    --json docs/perf_results/training_cpu_s16_persistent_$n.json
