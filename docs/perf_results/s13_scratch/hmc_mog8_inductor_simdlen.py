"""HMC (L = 5) on mog8, 128 chains, ``capture="compile"`` under inductor's default vector width, 8 lanes
(``cpp.simdlen = 8``) and scalar code (``cpp.simdlen = 1``): cold start and three runs of 1000 steps, thousand
chain-steps per second (CPU time). Each setting in a fresh process with its own inductor cache:

    for w in default simd8 scalar; do OMP_NUM_THREADS=1 TORCHINDUCTOR_CACHE_DIR=/tmp/ind_$w \
        python docs/perf_results/s13_scratch/hmc_mog8_inductor_simdlen.py $w; done
"""

import sys
import time
from pathlib import Path

import torch
import torch._inductor.config as inductor_config

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.samplers import HMC, sample
from user_energies import mog8

SIMDLEN = {"default": None, "simd8": 8, "scalar": 1}


def main(setting: str) -> None:
    torch.set_num_threads(1)
    if SIMDLEN[setting] is not None:
        inductor_config.cpp.simdlen = SIMDLEN[setting]
    x0 = torch.randn(128, 2, generator=torch.Generator().manual_seed(0)) * 3
    kernel, args = HMC(0.1, 5), dict(seed=1, diagnostics=False, capture="compile")
    start = time.perf_counter()
    sample(mog8, kernel, x0, 40, thin=40, **args)
    cold = time.perf_counter() - start
    rates = []
    for _ in range(3):
        start = time.process_time()
        sample(mog8, kernel, x0, 1000, thin=1000, **args)
        rates.append(128 * 1000 / (time.process_time() - start) / 1e3)
    print(f"{setting}: cold {cold:.1f} s, k chain-steps/s {[round(r) for r in rates]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default")
