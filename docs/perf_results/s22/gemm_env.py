"""Single-thread fp32 GEMM at the MLP's shape (4096 × 256 @ 256 × 256): PyTorch's default BLAS (`torch.mm`, MKL in
the pip wheel) against oneDNN's linear (what `onednn_linears` uses), under MKL's environment switches.

    for e in "" MKL_ENABLE_INSTRUCTIONS=AVX512 MKL_DEBUG_CPU_TYPE=5 MKL_CBWR=AVX512; do
        echo "== $e"; env $e OMP_NUM_THREADS=1 python docs/perf_results/s22/gemm_env.py; done
"""

import statistics
import time

import torch

torch.set_num_threads(1)
a, w = torch.randn(4096, 256), torch.randn(256, 256)
wt = w.t().contiguous()


def rate(f, n: int = 30) -> float:
    f()
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - start) / n)
    return 2 * 4096 * 256 * 256 / statistics.median(times) / 1e9


print(f"mm (default BLAS) {rate(lambda: torch.mm(a, w)):6.1f} GFLOP/s")
print(f"oneDNN linear     {rate(lambda: torch.ops.mkldnn._linear_pointwise(a, wt, None, 'none', [], '')):6.1f} GFLOP/s")
