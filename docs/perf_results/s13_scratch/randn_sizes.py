"""``torch.randn`` (float32, CPU, one thread) in ns per number at sizes 2¹⁰ … 2²², minimum of 5 timings each.

OMP_NUM_THREADS=1 python docs/perf_results/s13_scratch/randn_sizes.py
"""

import timeit

import torch


def main() -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    for e in range(10, 23, 2):
        n = 1 << e
        k = max(2, (1 << 24) // n)
        t = min(timeit.repeat(lambda n=n: torch.randn(n, generator=gen), number=k, repeat=5)) / k
        print(f"2^{e}: {t / n * 1e9:.2f} ns per number")


if __name__ == "__main__":
    main()
