#!/usr/bin/env bash
# Runs the four Boltzmann-machine / VI experiments in parallel (one process each) and copies their results to
# $OUT (default: docs/); used once on a 16-core GPU box. Each script is also runnable on its own (see its doc).
set -u
export PYTHONPATH=src OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
OUT=${OUT:-docs}
mkdir -p docs/figures
job() { local name=$1; shift; python3 "$@" 2>&1 | sed "s/^/[$name] /" >> "$OUT/log.txt"; }
(job cd experiments/bm_cd.py; cp docs/results_bm_cd.json docs/figures/bm_cd.png "$OUT/") &
(job logz experiments/bm_logz.py; cp docs/results_bm_logz.json "$OUT/") &
(job digits experiments/bm_digits.py; cp docs/results_bm_digits.json docs/figures/bm_digits_samples.png "$OUT/") &
(job vi experiments/bm_vi.py; cp docs/results_bm_vi.json docs/figures/bm_vi_iwae.png "$OUT/") &
wait
