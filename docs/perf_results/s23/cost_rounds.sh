#!/usr/bin/env bash
# ours ÷ floor (wall clock) on the rows whose draws are large, with sample(draw_ahead=...) off and on, alternating,
# three rounds; one intra-op thread, tuned allocator, no peers.
#   bash docs/perf_results/s23/cost_rounds.sh   (JSON in docs/perf_results/s23/cost_{off,on}_{1,2,3}.json)
#   MODES="off on auto" PREFIX=cost3 ROUNDS=2 bash docs/perf_results/s23/cost_rounds.sh   (cost3_*: with auto, the default since a9c0c69)
set -euo pipefail
PY=${PY:-$(pwd)/.venv/bin/python}
export OMP_NUM_THREADS=1
for r in $(seq 1 "${ROUNDS:-3}"); do
    for mode in ${MODES:-off on}; do
        "$PY" benchmarks/samplers_user.py --energies mlp,many-well --chains 4096 --only ula,mala --jax off \
            --repeats 5 --threads 1 --malloc tuned --draw-ahead "$mode" --json "docs/perf_results/s23/${PREFIX:-cost}_${mode}_${r}.json" \
            > /dev/null
    done
done
