"""CD's negative chain with ``capture="compile"``: training.py's ``cd-short-user`` chain (a user's 2→128→128→1 SiLU
MLP whose parameters require grad and change between chains, 128 chains, 20 ULA steps) with ``auto`` and ``compile``
alternating, an SGD step on the chains' result after each; median CPU time per chain, and dynamo's frame counts
(one graph: no recompilation when the weights change).

    OMP_NUM_THREADS=1 python docs/perf_results/s15_scratch/cd_chain_compile.py      # from the repository root
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch._dynamo.utils import counters

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.allocator import tune_malloc
from ebmlab.samplers import ULA, run_chains
from training import PlainMLP


def main() -> None:
    torch.set_num_threads(1)
    print("tune_malloc:", tune_malloc())
    torch.manual_seed(0)
    net = PlainMLP()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def chain(mode: str) -> torch.Tensor:
        x0 = torch.rand(128, 2, generator=gen) * 10 - 5
        return run_chains(ULA(0.01), net, x0, 20, gen, capture=mode, final_energy=False).state.x

    def train_step(neg: torch.Tensor) -> None:
        loss = net(torch.randn(128, 2, generator=gen)).mean() - net(neg).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    start = time.time()
    chain("compile")
    print(f"first compile call {time.time() - start:.1f} s")
    times: dict[str, list[float]] = {"auto": [], "compile": []}
    for _ in range(60):
        for mode in times:
            start = time.process_time()
            neg = chain(mode)
            times[mode].append(time.process_time() - start)
            train_step(neg)
    for mode, t in times.items():
        print(f"{mode}: median {statistics.median(t) * 1e3:.2f} ms per 20-step chain (min {min(t) * 1e3:.2f})")
    print("dynamo:", dict(counters["stats"]))


if __name__ == "__main__":
    main()
