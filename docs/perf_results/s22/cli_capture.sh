#!/usr/bin/env bash
# `ebmlab sample mog8 --sampler mala --chains 128` with --capture auto and compile: wall seconds of the whole command
# (a new process each time: compile pays its compile or cache load on every call) and the sampling seconds it reports.
# The first compile run uses an empty inductor cache (cold); the rest share one (warm).
#   bash docs/perf_results/s22/cli_capture.sh > docs/perf_results/s22/cli_capture_1.txt
set -euo pipefail
EBMLAB=${EBMLAB:-$(pwd)/.venv/bin/ebmlab}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export TORCHINDUCTOR_CACHE_DIR="$work/inductor"
run() {  # steps capture
    local start end
    start=$(date +%s.%N)
    "$EBMLAB" sample mog8 --sampler mala --chains 128 --steps "$1" --capture "$2" --out "$work/o" --json 2>/dev/null \
        | python3 -c 'import json, sys; s = json.load(sys.stdin); print("%.2f %.1f" % (s["seconds"], s["ess_bulk_min"]))' \
        > "$work/line"
    end=$(date +%s.%N)
    printf '%-8s %-8s %8.2f %10s %10s\n' "$1" "$2" "$(echo "$end - $start" | bc)" $(cat "$work/line")
}
lscpu | grep -m1 "Model name"; echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-8s %8s %10s %10s\n' steps capture wall_s sample_s ess_min
run 40000 compile; echo "  (cold cache above)"
for steps in 4000 40000 200000; do
    for capture in auto compile; do run "$steps" "$capture"; done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
