"""Time of a BlockGibbs sweep on the CPU: single-site on a 16-unit fully visible BM (its conditional_logits fast
path) and the RBM joint's two layers (AIS on a 64 × 32 RBM), CPU time, the minimum and median of 15 rounds.

    OMP_NUM_THREADS=1 python docs/perf_results/s19/gibbs_sweep.py

Output gibbs_sweep_1.txt: "new" at the session-19 change (the blocks' finiteness read once per sweep, their indices made
once per device), "old" at the commit before (117b9f5 + its type-ignore fix), alternating; within the noise here.
"""

import statistics
import time

import torch

from ebmlab.energies.binary import RBM, FullyVisibleBM
from ebmlab.estimators.rbm_ais import rbm_ais
from ebmlab.samplers import BlockGibbs, sample

torch.set_num_threads(1)


def timed(fn, rounds: int = 15) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times), statistics.median(times)


fvbm = FullyVisibleBM(16, weight_init=0.3, generator=torch.Generator(device="cpu").manual_seed(0))
x0 = torch.bernoulli(torch.full((256, 16), 0.5), generator=torch.Generator(device="cpu").manual_seed(1))
sweeps = 100
t = timed(lambda: sample(fvbm, BlockGibbs(), x0, sweeps, generator=torch.Generator().manual_seed(2), diagnostics=False))
print(
    f"fvbm single-site, 256 chains: {1e6 * t[0] / sweeps:.1f} / {1e6 * t[1] / sweeps:.1f} us per sweep (min / median)"
)

rbm = RBM(64, 32, weight_init=0.1, generator=torch.Generator(device="cpu").manual_seed(0))
temps = 200
t = timed(lambda: rbm_ais(rbm, 256, temps, torch.Generator().manual_seed(3)))
print(
    f"rbm joint AIS, 256 chains: {1e6 * t[0] / temps:.1f} / {1e6 * t[1] / temps:.1f} us per temperature (min / median)"
)
