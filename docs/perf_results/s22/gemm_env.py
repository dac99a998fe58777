"""Single-thread fp32 GEMM at the MLP's shape (4096 × 256 @ 256 × 256): PyTorch's default BLAS (`torch.mm`, MKL in
the pip wheel) against oneDNN's linear (what `onednn_linears` uses), under MKL's environment switches.

    for e in "" MKL_ENABLE_INSTRUCTIONS=AVX512 MKL_DEBUG_CPU_TYPE=5 MKL_CBWR=AVX512; do
        echo "== $e"; env $e OMP_NUM_THREADS=1 python docs/perf_results/s22/gemm_env.py; done
"""

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "s21"))
from timing import interleaved  # session 21's interleaved CPU-time loop

torch.set_num_threads(1)
a, w = torch.randn(4096, 256), torch.randn(256, 256)
wt = w.t().contiguous()
fns = {
    "mm (default BLAS)": lambda: torch.mm(a, w),
    "oneDNN linear": lambda: torch.ops.mkldnn._linear_pointwise(a, wt, None, "none", [], ""),
}
for fn in fns.values():
    fn()
for name, us in interleaved(fns, rounds=7, calls=30).items():
    print(f"{name:18s} {2 * 4096 * 256 * 256 / statistics.median(us) / 1e3:6.1f} GFLOP/s")
