"""The MLP energy's last layer (width 1): ``addmm`` against ``addmv`` / ``mv`` / ``matmul``, float32 CPU, one thread;
time (minimum of 7 repeats) and the largest difference from ``addmm``. Measured in session 12 and not kept: a few µs
of a ≈ 650 µs evaluation at 128 rows.

    OMP_NUM_THREADS=1 python docs/perf_results/s12_scratch/last_layer_gemv.py
"""

from __future__ import annotations

import timeit

import torch


def measure(n: int) -> None:
    h, w, b = torch.randn(n, 256), torch.randn(1, 256), torch.randn(1)
    w0 = w[0]
    cases = {
        "addmm": lambda: torch.addmm(b, h, w.t()).squeeze(-1),
        "addmv": lambda: torch.addmv(b, h, w0),
        "mv+add": lambda: torch.mv(h, w0).add_(b),
        "matmul": lambda: (h @ w0).add_(b),
    }
    ref = cases["addmm"]()
    for name, fn in cases.items():
        t = min(timeit.repeat(fn, number=200, repeat=7)) / 200 * 1e6
        print(f"n={n} {name:8s} {t:8.2f} µs  max |Δ| {float((fn() - ref).abs().max()):.2e}")


def main() -> None:
    torch.set_num_threads(1)
    for n in (128, 4096):
        measure(n)


if __name__ == "__main__":
    main()
