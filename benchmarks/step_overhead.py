"""The per-step cost of ULA / kinetic Langevin chains on a cheap energy (E = ½‖x‖², autograd), where the chain
loop's own Python is a large share of a step: ``run_chains(..., final_energy=False)`` (what the negatives of
maximum-likelihood training run), 1000 steps of 128 × 2-D chains, 15 repeats; CPU time per step, median and min.
Run it once per source tree, alternating, to compare trees:

    OMP_NUM_THREADS=1 PYTHONPATH=<tree>/src python benchmarks/step_overhead.py
"""

import os
import statistics
import time

import torch

from ebmlab.samplers import ULA, KineticLangevin, run_chains


def quad(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x.square().sum(-1)


def main() -> None:
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()}")
    x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(0))
    for name, kernel in [("ula", ULA(0.01)), ("kinetic", KineticLangevin(0.05))]:
        per_step = []
        for r in range(15):
            t = time.process_time()
            run_chains(kernel, quad, x0, 1000, torch.Generator().manual_seed(r), final_energy=False)
            per_step.append((time.process_time() - t) / 1000 * 1e6)
        print(f"{name:8s} {statistics.median(per_step):6.1f} µs per step (min {min(per_step):6.1f})")


if __name__ == "__main__":
    main()
