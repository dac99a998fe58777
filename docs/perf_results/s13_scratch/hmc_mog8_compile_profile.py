"""HMC (L = 5) on the mog8 plain-function energy, 128 chains × 2-D, ``capture="compile"``: cold start, chain-steps per
second (two runs of 1000 steps, CPU time) and a torch.profiler table of a third (the compiled graph's own time per
call; each call runs a block of 16 // 5 = 3 steps).

    OMP_NUM_THREADS=1 python docs/perf_results/s13_scratch/hmc_mog8_compile_profile.py
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.samplers import HMC, sample
from user_energies import mog8


def main() -> None:
    torch.set_num_threads(1)
    x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(0)) * 3
    kernel, args = HMC(0.1, 5), dict(seed=1, diagnostics=False, capture="compile")
    start = time.perf_counter()
    sample(mog8, kernel, x0, 40, thin=40, **args)
    print(f"cold start (compile) {time.perf_counter() - start:.1f} s")
    for _ in range(2):
        start = time.process_time()
        sample(mog8, kernel, x0, 1000, thin=1000, **args)
        dt = time.process_time() - start
        print(f"{dt / 1000 * 1e6:.1f} µs per step, {128 * 1000 / dt / 1e3:.0f}k chain-steps/s")
    with torch.profiler.profile() as prof:
        sample(mog8, kernel, x0, 1000, thin=1000, **args)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))


if __name__ == "__main__":
    main()
