#!/usr/bin/env bash
# Does drawing ahead on a helper thread hurt when two runs share the 2 cores? `draw_ahead_one.py` alone and as two
# simultaneous processes, draw_ahead off and on (or MODES), three rotations; wall seconds of the sampling (imports excluded).
#   bash docs/perf_results/s23/draw_ahead_pairs.sh > docs/perf_results/s23/draw_ahead_pairs_1.txt
#   MODES="off on auto" bash docs/perf_results/s23/draw_ahead_pairs.sh > docs/perf_results/s23/draw_ahead_pairs_2.txt
set -euo pipefail
PY=${PY:-$(pwd)/.venv/bin/python}
one="docs/perf_results/s23/draw_ahead_one.py"
export OMP_NUM_THREADS=1
nproc; echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3; do
    for mode in ${MODES:-off on}; do
        alone=$("$PY" "$one" "$mode")
        "$PY" "$one" "$mode" > /tmp/pair_a.$$ & "$PY" "$one" "$mode" > /tmp/pair_b.$$; wait
        echo "round $r  draw_ahead $mode  alone $alone s  pair $(cat /tmp/pair_a.$$) s / $(cat /tmp/pair_b.$$) s"
    done
done
rm -f /tmp/pair_a.$$ /tmp/pair_b.$$
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
