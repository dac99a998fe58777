#!/usr/bin/env bash
# fit ÷ bare before (b8cad4f: the per-parameter optimiser loop) and after (foreach optimisers), alternating fresh
# processes, from the repository root:
#   git worktree add /tmp/before b8cad4f && bash docs/perf_results/s15_scratch/foreach_ab.sh 3
set -euo pipefail
R=docs/perf_results
export OMP_NUM_THREADS=1
py=${PYTHON:-.venv/bin/python}
for r in $(seq 1 "${1:-3}"); do
  PYTHONPATH=/tmp/before/src $py /tmp/before/benchmarks/training.py --workloads cd-short-user,cd-short,bg --steps 200 \
      --repeats 7 --json $R/training_cpu_s15_foreach_before_$r.json
  $py benchmarks/training.py --workloads cd-short-user,cd-short,bg --steps 200 --repeats 7 \
      --json $R/training_cpu_s15_foreach_after_$r.json
done
