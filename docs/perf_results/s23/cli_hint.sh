#!/usr/bin/env bash
# A long default (`auto`) run of `ebmlab sample` on a cheap energy at 128 chains, then the same with
# `--capture compile` from an empty inductor cache (cold) and again (warm): does the hint `auto` prints hold?
#   bash docs/perf_results/s23/cli_hint.sh > docs/perf_results/s23/cli_hint_1.txt
set -euo pipefail
EBMLAB=${EBMLAB:-$(pwd)/.venv/bin/ebmlab}
STEPS=${STEPS:-800000}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export TORCHINDUCTOR_CACHE_DIR="$work/inductor"
run() {  # capture label
    local start end
    start=$(date +%s.%N)
    "$EBMLAB" sample mog8 --sampler mala --chains 128 --steps "$STEPS" --capture "$1" --out "$work/o" > "$work/out" 2>&1
    end=$(date +%s.%N)
    printf '%-8s %-6s wall %7.2f s\n' "$1" "$2" "$(echo "$end - $start" | bc)"
    grep -E "^mala on|^capture:" "$work/out" | sed 's/^/    /'
}
lscpu | grep -m1 "Model name"; echo "load: $(cut -d' ' -f1-3 /proc/loadavg); steps $STEPS"
run auto -
run compile cold
run compile warm
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
