"""The optimiser step alone: PyTorch's Adam over the parameters of training.py's bg (27 tensors) and cd-short (6) with
the per-parameter loop (its CPU default), ``foreach=True`` (what ``ebmlab.training.build_optimizer`` now picks) and
``fused=True``, fed the same gradients; median CPU time per step over 350 steps after 50, and whether the parameters
after 400 steps are the loop's bits.

    OMP_NUM_THREADS=1 python docs/perf_results/s15_scratch/adam_variants.py      # from the repository root
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from ebmlab.allocator import tune_malloc
from training import make_method

VARIANTS = {
    "per-parameter loop (CPU default)": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def main() -> None:
    torch.set_num_threads(1)
    print("tune_malloc:", tune_malloc())
    for name in ("bg", "cd-short"):
        params = [p for p in make_method(name, torch.device("cpu")).parameters() if p.requires_grad]
        print(f"{name}: {len(params)} tensors, {sum(p.numel() for p in params)} numbers")
        runs = {}
        for variant, kw in VARIANTS.items():
            copies = [p.detach().clone().requires_grad_(True) for p in params]
            runs[variant] = (copies, torch.optim.Adam(copies, lr=1e-3, **kw))
        gen = torch.Generator().manual_seed(0)
        grads = [[torch.randn(p.shape, generator=gen) for p in params] for _ in range(20)]
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for step in range(400):
            for variant, (copies, opt) in runs.items():
                for copy, grad in zip(copies, grads[step % 20], strict=True):
                    copy.grad = grad.clone()
                start = time.process_time()
                opt.step()
                times[variant].append(time.process_time() - start)
        loop = runs["per-parameter loop (CPU default)"][0]
        for variant, (copies, _) in runs.items():
            same = all(torch.equal(a, b) for a, b in zip(loop, copies, strict=True))
            diff = max((a - b).abs().max().item() for a, b in zip(loop, copies, strict=True))
            print(f"  {variant}: median {statistics.median(times[variant][50:]) * 1e6:.0f} µs per step; "
                  f"the loop's bits after 400 steps: {same} (max |Δ| {diff:.1e})")  # fmt: skip


if __name__ == "__main__":
    main()
