"""Compiled ULA and HMC (L = 5) on the benchmark's mog8 and many-well at 128 chains, one thread: microseconds per
energy evaluation (median of 5 runs of 2000 steps) with inductor's vector width automatic, 256 bits or 0 (scalar).

Does inductor's C++ for a mixture's 8-wide reductions (one fused kernel per block, vectorised along the component
axis with masked 16-lane vectors on AVX-512) get faster with 8-lane vectors? Two rounds, each width in its own process:

    for r in 1 2; do for s in auto 256 0; do TORCHINDUCTOR_FORCE_DISABLE_CACHES=1 OMP_NUM_THREADS=1 \\
        python docs/perf_results/s23/compile_simd.py $s; done; done > docs/perf_results/s23/compile_simd_1.txt
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch._inductor.config as inductor

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.samplers import HMC, ULA
from ebmlab.samplers.chains import run_chains
from user_energies import many_well, mog8


def main(width: str) -> None:
    torch.set_num_threads(1)
    inductor.cpp.simdlen = None if width == "auto" else int(width)
    for name, energy, dim in [("mog8", mog8, 2), ("many-well", many_well, 32)]:
        x0 = torch.randn(128, dim, generator=torch.Generator().manual_seed(0))
        for kernel, evals in [(ULA(0.01), 1), (HMC(0.02, n_leapfrog=5), 5)]:
            g = torch.Generator().manual_seed(0)
            run_chains(kernel, energy, x0, 64, g, block=1 << 16, capture="compile")  # compile
            times = []
            for _ in range(5):
                start = time.perf_counter()
                res = run_chains(kernel, energy, x0, 2000, g, block=1 << 16, capture="compile")
                times.append(time.perf_counter() - start)
            per_eval = sorted(times)[2] / (2000 * evals) * 1e6
            print(
                f"simd={width:5s} {name:9s} {kernel.name:4s} ran {res.capture:8s} {per_eval:7.1f} us/eval", flush=True
            )


if __name__ == "__main__":
    main(sys.argv[1])
