#!/usr/bin/env bash
# Session 21: fit ÷ bare again after sessions 17-20 (session 16's arguments; the bare loops on fit's Adam), from the
# repository root, nothing else running:
#   bash docs/perf_results/s21/training_rounds.sh N
set -euo pipefail
n=${1:?round number}
OMP_NUM_THREADS=1 ${PYTHON:-.venv/bin/python} benchmarks/training.py --workloads cd-short-user,cd-short,bg \
  --steps 200 --repeats 7 --bare-optimizer fit --json docs/perf_results/s21/training_cpu_s21_$n.json
