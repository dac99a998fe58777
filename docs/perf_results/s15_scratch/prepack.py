"""oneDNN's linear with the weight reordered once (``torch.ops.mkldnn._reorder_linear_weight``, what inductor's
freezing does) against the plain weight and the default BLAS, float32, one thread; minimum of 7 repeats.
Whether ``MLPEnergy`` / ``onednn_linears`` could gain by caching a packed weight per weight version.

    OMP_NUM_THREADS=1 python docs/perf_results/s15_scratch/prepack.py
"""

from __future__ import annotations

import timeit

import torch


def main() -> None:
    torch.set_num_threads(1)
    op = torch.ops.mkldnn._linear_pointwise
    for rows, n_in, n_out in [(128, 64, 256), (128, 256, 256), (128, 256, 64), (1024, 256, 256), (4096, 256, 256)]:
        h, w, b = torch.randn(rows, n_in), torch.randn(n_out, n_in), torch.randn(n_out)
        packed = torch.ops.mkldnn._reorder_linear_weight(w, rows)
        number = max(20, int(1e8 / (rows * n_in * n_out)))

        def best(fn, number: int = number) -> float:
            return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6

        blas = best(lambda: torch.addmm(b, h, w.t()))  # noqa: B023
        plain = best(lambda: op(h, w, b, "none", [], ""))  # noqa: B023
        pre = best(lambda: op(h, packed, b, "none", [], ""))  # noqa: B023
        reorder = best(lambda: torch.ops.mkldnn._reorder_linear_weight(w, rows))  # noqa: B023
        diff = (op(h, packed, b, "none", [], "") - op(h, w, b, "none", [], "")).abs().max().item()
        print(
            f"{rows} x {n_in} -> {n_out}: BLAS {blas:.1f} µs, oneDNN {plain:.1f}, oneDNN prepacked {pre:.1f}, "
            f"the reorder itself {reorder:.1f}; max |prepacked − plain| {diff:.1e}"
        )


if __name__ == "__main__":
    main()
