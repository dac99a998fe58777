"""MLPEnergy(64, (256, 256)): ``energy_and_grad`` against the same written-out gradient without the output layer's
forward (E not computed), in a tight loop, interleaved; µs per call, medians of 15 rounds (each the minimum of 3
timings), glibc tuned as the CLI. The two gradients are the same bits (asserted).

    OMP_NUM_THREADS=1 python docs/perf_results/s13_scratch/mlp_without_output_layer.py
"""

import statistics
import timeit

import torch
from torch import nn

from ebmlab.allocator import tune_malloc
from ebmlab.energies import MLPEnergy
from ebmlab.energies.neural import linear


def grad_alone(m: MLPEnergy, x: torch.Tensor) -> torch.Tensor:
    linears = list(m.net)[0::2]
    with torch.no_grad():
        h, pre = x, []
        for layer in linears[:-1]:
            z = linear(h, layer.weight, layer.bias)
            pre.append((z, layer.weight))
            h = nn.functional.silu(z)
        g = linears[-1].weight.expand(x.shape[0], -1)
        for z, w in reversed(pre):
            g = linear(torch.ops.aten.silu_backward(g, z), w.t(), None)
    return g


def main() -> None:
    tune_malloc()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for n in (128, 4096):
        m, x = MLPEnergy(64, (256, 256)), torch.randn(n, 64)
        assert torch.equal(grad_alone(m, x), m.energy_and_grad(x)[1])
        k = 300 if n == 128 else 10
        both = lambda: m.energy_and_grad(x)  # noqa: E731, B023
        alone = lambda: grad_alone(m, x)  # noqa: E731, B023
        a, b = [], []
        for _ in range(15):
            a.append(min(timeit.repeat(both, number=k, repeat=3)) / k * 1e6)
            b.append(min(timeit.repeat(alone, number=k, repeat=3)) / k * 1e6)
        paired = statistics.median(q / p for p, q in zip(a, b, strict=True))
        print(f"{n} rows: E+∇E {statistics.median(a):.1f} µs, ∇E alone {statistics.median(b):.1f} µs; "
              f"alone ÷ both (paired) {paired:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
