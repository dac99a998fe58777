"""ns per standard normal number, float32, one thread: torch's CPU generator (MT19937, Box–Muller) against NumPy's
Generator (PCG64 / Philox bit generators, ziggurat) filling a preallocated array; the shapes of the sampler rows'
noise blocks (K = 8 steps × chains × 64). Minimum of 7 repeats of 20 calls each.

    OMP_NUM_THREADS=1 python docs/perf_results/s16_scratch/noise_sources.py
"""

import timeit

import numpy as np
import torch

torch.set_num_threads(1)


def variants(shape: tuple[int, ...]) -> dict:
    """The draws of one block of ``shape`` normals, by name."""
    g = torch.Generator().manual_seed(0)
    out_t, out_n = torch.empty(shape), np.empty(shape, dtype=np.float32)
    pcg, philox, pcg2 = (np.random.Generator(b) for b in (np.random.PCG64(0), np.random.Philox(0), np.random.PCG64(0)))
    return {
        "torch randn (MT19937)": lambda: torch.randn(shape, generator=g),
        "torch normal_ in place": lambda: out_t.normal_(generator=g),
        "numpy PCG64 ziggurat": lambda: pcg.standard_normal(shape, dtype=np.float32, out=out_n),
        "numpy Philox ziggurat": lambda: philox.standard_normal(shape, dtype=np.float32, out=out_n),
        "numpy PCG64 + from_numpy": lambda: torch.from_numpy(pcg2.standard_normal(shape, dtype=np.float32)),
    }


for chains in (128, 4096):
    shape = (8, chains, 64)
    n = int(np.prod(shape))
    for name, fn in variants(shape).items():
        t = min(timeit.repeat(fn, number=20, repeat=7)) / 20
        print(f"{chains:5d} chains, {n:8d} numbers  {name:26s} {t / n * 1e9:5.2f} ns per number")
