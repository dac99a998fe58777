"""Row choice for a per-chain mask, float32 CPU, one thread: ``torch.where`` against copying rows by index, in place
into the proposal (its clone, needed only to time it repeatedly, is timed alone and subtracted) or into a copy of the
old tensor. Minimum of 7 repeats. The numbers behind ``ebmlab.samplers.base.SELECT_BY_INDEX_MIN``.

    OMP_NUM_THREADS=1 python docs/perf_results/s12_scratch/select_rows.py
"""

from __future__ import annotations

import timeit

import torch


def measure(n: int, d: int) -> None:
    x, y = torch.randn(n, d), torch.randn(n, d)
    acc = torch.rand(n) < 0.57
    rows = acc.reshape(n, 1)
    ref = torch.where(rows, y, x)

    def where() -> torch.Tensor:
        return torch.where(rows, y, x)

    def clone() -> torch.Tensor:
        return y.clone()

    def own() -> torch.Tensor:  # the rejected rows of (a fresh copy of) the proposal overwritten
        fresh = y.clone()
        keep = (~acc).nonzero().squeeze(1)
        return fresh.index_copy_(0, keep, x.index_select(0, keep))

    def other() -> torch.Tensor:  # the accepted rows copied into a copy of the old tensor
        take = acc.nonzero().squeeze(1)
        return x.index_copy(0, take, y.index_select(0, take))

    res = {}
    for name, fn in {"where": where, "own": own, "clone": clone, "other": other}.items():
        if name != "clone":
            assert torch.equal(fn(), ref)
        res[name] = min(timeit.repeat(fn, number=300, repeat=7)) / 300 * 1e6
    print(f"{n:5d}x{d:3d} where {res['where']:7.2f}  own (in place) {res['own'] - res['clone']:7.2f}  "
          f"other {res['other']:7.2f} µs")  # fmt: skip


def main() -> None:
    torch.set_num_threads(1)
    for n, d in ((128, 2), (128, 64), (1024, 32), (4096, 2), (4096, 32), (4096, 64)):
        measure(n, d)


if __name__ == "__main__":
    main()
