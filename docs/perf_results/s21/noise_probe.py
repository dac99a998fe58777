"""ns per number of torch's CPU draws (MT19937), float32, 8 × 128 × 64 numbers, one thread (minimum of 5 × 200):
the uniforms are most of a normal draw's cost.

    OMP_NUM_THREADS=1 python docs/perf_results/s21/noise_probe.py
"""

import time

import torch

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
n = 8 * 128 * 64
out = torch.empty(n)


def t(f, reps=200):
    best = 1e9
    for _ in range(5):
        s = time.perf_counter()
        for _ in range(reps):
            f()
        best = min(best, (time.perf_counter() - s) / reps)
    return best / n * 1e9


print("randn f32", t(lambda: torch.randn(n, generator=g)))
print("normal_ f32", t(lambda: out.normal_(generator=g)))
print("rand f32", t(lambda: torch.rand(n, generator=g)))
print("uniform_ f32", t(lambda: out.uniform_(generator=g)))
print("random_ i32", t(lambda: torch.empty(n, dtype=torch.int32).random_(generator=g)))
print("randn f64", t(lambda: torch.randn(n, generator=g, dtype=torch.float64)))
u = torch.rand(n)
print("log f32", t(lambda: torch.log(u)))
print("sin f32", t(lambda: torch.sin(u)))
