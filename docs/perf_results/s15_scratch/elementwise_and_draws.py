"""Nanoseconds per element of the MLP step's elementwise kernels (SiLU, its backward, sigmoid, exp, mul, add) and of
drawing its noise (``randn``, ``rand``, MT19937), float32, one thread, best of 5: is anything besides the GEMMs slow?

    OMP_NUM_THREADS=1 python docs/perf_results/s15_scratch/elementwise_and_draws.py
"""

from __future__ import annotations

import timeit

import torch


def main() -> None:
    torch.set_num_threads(1)
    print("CPU capability:", torch.backends.cpu.get_cpu_capability())
    gen = torch.Generator().manual_seed(0)
    for shape in [(128, 128), (128, 256), (4096, 256), (4096, 64)]:
        z, g = torch.randn(*shape, generator=gen), torch.randn(*shape, generator=gen)
        number = max(20, int(2e7 / z.numel()))
        kernels = {
            "silu": lambda: torch.nn.functional.silu(z),  # noqa: B023
            "silu_backward": lambda: torch.ops.aten.silu_backward(g, z),  # noqa: B023
            "sigmoid": lambda: torch.sigmoid(z),  # noqa: B023
            "exp": lambda: torch.exp(z),  # noqa: B023
            "mul": lambda: z * g,  # noqa: B023
            "add": lambda: z + g,  # noqa: B023
            "randn": lambda: torch.randn(shape, generator=gen),  # noqa: B023
            "rand": lambda: torch.rand(shape, generator=gen),  # noqa: B023
        }
        per = {k: min(timeit.repeat(f, number=number, repeat=5)) / number / z.numel() * 1e9 for k, f in kernels.items()}
        print(f"{shape}: " + ", ".join(f"{k} {v:.2f}" for k, v in per.items()) + " ns per element")


if __name__ == "__main__":
    main()
