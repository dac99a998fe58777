"""Host reads (Tensor → Python conversions: a device sync each on a GPU) per AIS temperature or per Gibbs sweep,
on the CPU path and on the GPU path (finite_watch.DEFER_ON_CPU), for the Gibbs users of the library.

Run: OMP_NUM_THREADS=1 python docs/perf_results/s20/gibbs_reads.py  (with PYTHONPATH=<checkout>/src for another commit)
Each figure is (reads at 60 − reads at 20) / 40: the per-temperature (per-sweep) part, set-up excluded.
"""

import torch

from ebmlab.densities import Bernoulli
from ebmlab.energies.binary import RBM, FullyVisibleBM
from ebmlab.estimators.rbm_ais import fvbm_ais, rbm_ais
from ebmlab.samplers import BlockGibbs, ReplicaExchange, finite_watch, sample

NAMES = ("__bool__", "item", "__float__", "__int__", "tolist", "cpu")


class Counter:
    """Counts Tensor → Python conversions until ``stop()``."""

    def __init__(self) -> None:
        self.count, self.saved = 0, {name: getattr(torch.Tensor, name) for name in NAMES}
        for name, original in self.saved.items():

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)

            setattr(torch.Tensor, name, counted)

    def stop(self) -> None:
        for name, original in self.saved.items():
            setattr(torch.Tensor, name, original)


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


torch.manual_seed(0)
rbm, fvbm = RBM(8, 4), FullyVisibleBM(10)
CASES = {
    "rbm_ais joint (BlockGibbs on v, h)": lambda n: rbm_ais(rbm, 32, n, gen()),
    "rbm_ais marginal (RBMGibbs)": lambda n: rbm_ais(rbm, 32, n, gen(), marginal=True),
    "fvbm_ais (single-site BlockGibbs)": lambda n: fvbm_ais(fvbm, 32, n, gen()),
    "sample(BlockGibbs) on the RBM joint, per sweep": lambda n: sample(
        rbm.joint(), BlockGibbs(), torch.zeros(32, 12), n_steps=n, seed=0, diagnostics=False
    ),
    "ReplicaExchange(BlockGibbs), 4 rungs, per round": lambda n: ReplicaExchange(
        BlockGibbs(), n_rungs=4, base=Bernoulli(torch.zeros(10))
    ).sample(fvbm, 32, 10, n, gen()),
}
for gpu_path in (False, True):
    finite_watch.DEFER_ON_CPU = gpu_path
    for label, run in CASES.items():
        counts = []
        for n in (20, 60):
            counter = Counter()
            run(n)
            counter.stop()
            counts.append(counter.count)
        path = "GPU path" if gpu_path else "CPU path"
        print(
            f"{path:8s} | {label:48s} | reads {counts[0]:3d} / {counts[1]:3d} | {(counts[1] - counts[0]) / 40:.3f} each"
        )
