"""Which starts and how many ascent steps the IS tail check's search needs to find rot-student-6's heavy axes.

For seeds 0–5 (the default Laplace proposal and 20,000 draws, as ``log_z(..., "is")`` builds them), the
searched growth rate g with 4, 6 and 10 steps a stage, started from (a) the 4 largest-weight draws only,
(b) the 4 best fixed rays only, (c) the single largest-weight draw only. g = 7 is the heavy axis (w ∝ r⁷);
the fixed rays alone read g = −13. Seconds on one core.

    python benchmarks/tail_search_ablation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from ebmlab.estimators.laplace import laplace_proposal
from ebmlab.estimators.logz import importance_log_weights
from ebmlab.estimators.tails import tail_growth
from ebmlab.estimators.user import default_starts, wide_base
from heldout_energies import by_name


def main() -> None:
    torch.set_num_threads(1)
    h = by_name("rot-student-6")
    print("seed  steps  g(4 draws)  g(4 rays)  g(1 draw)")
    for seed in range(6):
        gen = torch.Generator().manual_seed(seed)
        q = laplace_proposal(h.energy, (h.dim,), gen, n_starts=default_starts(h.dim))
        wide = wide_base(q)
        cov = wide.chol @ wide.chol.T
        x, log_w = importance_log_weights(h.energy, q, 20000, gen)
        top = x[torch.topk(log_w, 4).indices]
        for steps in (4, 6, 10):
            a = tail_growth(h.energy, q, wide.mean, cov, starts=top, n_best=0, steps=steps)[0]
            b = tail_growth(h.energy, q, wide.mean, cov, n_best=4, steps=steps)[0]
            c = tail_growth(h.energy, q, wide.mean, cov, starts=top[:1], n_best=0, steps=steps)[0]
            print(f"{seed:4d}  {steps:5d}  {a:10.2f}  {b:9.2f}  {c:9.2f}")


if __name__ == "__main__":
    main()
