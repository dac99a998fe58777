#!/usr/bin/env bash
# Session 15's later rounds, all with the peers interleaved (the default since d33ea1d), one after another:
#   bash docs/perf_results/s15_scratch/interleaved_rounds.sh      # from the repository root; EBMLAB_JAX_PYTHON set
set -euo pipefail
R=docs/perf_results
export OMP_NUM_THREADS=1
py=${PYTHON:-.venv/bin/python}
common=(--malloc tuned --clock cpu --threads 1 --repeats 5)
for n in 4 5; do
  $py benchmarks/samplers_user.py --energies mlp,mlp-module,mlp-module-onednn --only ula,mala,hmc "${common[@]}" \
      --json $R/samplers_cpu_s15_user_module_$n.json
done
$py benchmarks/samplers_user.py --energies conv --chains 128,4096 --only ula,mala,hmc "${common[@]}" \
    --json $R/samplers_cpu_s15_conv_4.json
$py benchmarks/samplers_user.py --energies mlp-module --chains 128,4096 --only ula,mala,hmc --capture auto,compile \
    "${common[@]}" --json $R/samplers_cpu_s15_module_compile_4.json
