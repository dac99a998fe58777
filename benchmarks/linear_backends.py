"""oneDNN's linear against the default BLAS, float32 on the CPU: time ratio (oneDNN ÷ BLAS; < 1: oneDNN faster) of
``h @ wᵀ`` over a grid of (rows, in, out), the grid behind ``ebmlab.energies.neural.ONEDNN_MIN_WIDTH`` and
``ONEDNN_MIN_MACS`` (which matmuls ``MLPEnergy.energy_and_grad`` sends to oneDNN); ``*`` marks the shapes the
rule sends there. Minimum of 5 repeats each, wall clock, one thread.

    OMP_NUM_THREADS=1 python benchmarks/linear_backends.py [--rows 16,128,1024,4096] [--widths 2,32,64,128,256,512]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, onednn_matmul
from ebmlab.energies import neural


def ratio(rows: int, n_in: int, n_out: int, gen: torch.Generator) -> float:
    h, w = torch.randn(rows, n_in, generator=gen), torch.randn(n_out, n_in, generator=gen)
    number = max(3, int(2e6 / (rows * n_in * n_out + 2e4)))
    blas = min(timeit.repeat(lambda: h @ w.t(), number=number, repeat=5))
    wt = w.t()
    onednn = min(timeit.repeat(lambda: onednn_matmul(h, wt), number=number, repeat=5))
    return onednn / blas


chosen = neural.onednn_applies  # the rule MLPEnergy.energy_and_grad applies


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="16,128,1024,4096")
    p.add_argument("--widths", default="2,32,64,128,256,512")
    args = p.parse_args(argv)
    if neural._ONEDNN is None:
        print("this PyTorch has no oneDNN linear (torch.ops.mkldnn._linear_pointwise)")
        return 0
    torch.set_num_threads(1)
    info = machine_info()
    print(
        f"# {info['cpu']} (family/model/stepping {info['cpu_family_model']}, {info['cpu_capability']}), torch {info['torch']}"
    )
    gen = torch.Generator().manual_seed(0)
    widths = [int(w) for w in args.widths.split(",")]
    for rows in (int(r) for r in args.rows.split(",")):
        print(f"\n{rows} rows: oneDNN ÷ BLAS time, in (down) × out (across); * = oneDNN by the rule")
        print("in \\ out " + "".join(f"{w:>8d}" for w in widths))
        for n_in in widths:
            cells = [f"{ratio(rows, n_in, n_out, gen):7.2f}{'*' if chosen(rows, n_in, n_out) else ' '}" for n_in, n_out in
                     ((n_in, n_out) for n_out in widths)]  # fmt: skip
            print(f"{n_in:>9d} " + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
