#!/usr/bin/env bash
# `ebmlab sample FILE.py:Net --linears default|onednn`: a user's 64→256→256→1 SiLU module (the benchmarks'
# `mlp-module`), ULA, 4096 chains, 200 + 200 steps; the sampling seconds the command reports, three alternating rounds.
#   bash docs/perf_results/s22/cli_linears.sh > docs/perf_results/s22/cli_linears_1.txt
set -euo pipefail
EBMLAB=${EBMLAB:-$(pwd)/.venv/bin/ebmlab}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/net.py" <<'PY'
import torch


class Net(torch.nn.Module):
    dim = 64

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 256), torch.nn.SiLU(), torch.nn.Linear(256, 256), torch.nn.SiLU(), torch.nn.Linear(256, 1)
        )

    def forward(self, x):
        return self.net(x).squeeze(-1) + 0.5 * (x**2).sum(1)
PY
lscpu | grep -m1 "Model name"; echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2 3; do
    for linears in default onednn; do
        "$EBMLAB" sample "$work/net.py:Net" --sampler ula --step-size 0.01 --chains 4096 --steps 200 --warmup 200 \
            --linears "$linears" --out "$work/o" --json 2>/dev/null |
            python3 -c 'import json, sys; s = json.load(sys.stdin); print("round '"$round"'", s["linears"], "%.2f s" % s["seconds"])'
    done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
